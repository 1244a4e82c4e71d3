"""Mission Control's agents as boards see them: a tenant's agents with their board and presence,
the worker count ``max_agents`` limits, the tasks an agent leaves when it goes, and the user
notifications of an agent's ask-user. Every query takes the tenant id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many

__all__ = [
    "TenantAgent",
    "leave_all",
    "release_tasks",
    "set_profile",
    "tenant_agents",
    "user_notification",
    "workers_count",
]


class TenantAgent(Struct, kw_only=True):
    """An agent with its presence and its board (None: on no board) and role there."""

    id: UUID
    board_id: UUID | None
    agent_key: str
    display_name: str
    role: str
    status: str
    last_seen_at: datetime | None
    is_default: bool
    created_at: datetime
    identity_profile: dict[str, Any]
    heartbeat_config: dict[str, Any]


async def tenant_agents(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID | None = None, board_id: UUID | None = None
) -> list[TenantAgent]:
    """The tenant's live agents (or one, or those of one board), oldest first."""
    rows = await conn.fetch(query("board_agents.tenant_agents"), tenant_id, agent_id, board_id)
    return many(rows, TenantAgent)


async def workers_count(conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID) -> int:
    count: int = await conn.fetchval(query("board_agents.workers_count"), tenant_id, board_id)
    return count


async def set_profile(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, identity_profile: dict[str, Any] | None,
    heartbeat_config: dict[str, Any] | None,
) -> None:  # fmt: skip
    """Store the agent's MC identity profile and heartbeat config (None keeps one)."""
    await conn.execute(
        query("board_agents.presence_profile"), tenant_id, agent_id, identity_profile, heartbeat_config
    )


async def release_tasks(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, board_id: UUID | None
) -> list[tuple[UUID, UUID]]:
    """Unassign the agent's open tasks (on one board, or all); in progress ones go back to the
    inbox. Returns their (task id, board id)."""
    rows = await conn.fetch(query("board_agents.release_tasks"), tenant_id, agent_id, board_id)
    return [(r["id"], r["team_id"]) for r in rows]


async def user_notification(
    conn: asyncpg.Connection, tenant_id: UUID, event_seq: int, recipient: str, kind: str, title: str, body: str,
    board_id: UUID,
) -> UUID:  # fmt: skip
    found: UUID = await conn.fetchval(
        query("board_agents.user_notification"), tenant_id, event_seq, recipient, kind, title, body, board_id
    )
    return found


async def leave_all(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> list[UUID]:
    """Take the agent off every board; the boards it was on."""
    return [r["team_id"] for r in await conn.fetch(query("board_agents.leave_all"), tenant_id, agent_id)]
