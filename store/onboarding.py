"""Mission Control's board onboarding sessions (migration 0025): one open session per board, its
messages and the agent's draft. Every query takes the tenant id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import maybe, one

__all__ = ["OnboardingRow", "latest", "lock", "open_session", "save"]


class OnboardingRow(Struct, kw_only=True):
    id: UUID
    board_id: UUID
    session_key: str
    status: str
    messages: list[dict[str, Any]]
    draft_goal: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


async def open_session(
    conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, session_key: str
) -> UUID | None:
    """The board's open session, made when there is none; None when one made by a transaction that
    committed meanwhile is not visible to this statement yet (ask again)."""
    found: UUID | None = await conn.fetchval(query("onboarding.open"), tenant_id, board_id, session_key)
    return found


async def latest(conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID) -> OnboardingRow | None:
    return maybe(await conn.fetchrow(query("onboarding.latest"), tenant_id, board_id), OnboardingRow)


async def lock(conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID) -> OnboardingRow | None:
    """The session, locked for the caller's transaction."""
    return maybe(await conn.fetchrow(query("onboarding.lock"), tenant_id, session_id), OnboardingRow)


async def save(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, status: str, messages: list[dict[str, Any]],
    draft_goal: dict[str, Any] | None,
) -> OnboardingRow:  # fmt: skip
    row = await conn.fetchrow(query("onboarding.save"), tenant_id, session_id, status, messages, draft_goal)
    return one(row, OnboardingRow)
