"""Episodic summaries: what compacted conversations were about, per agent and user, searchable by
words (an 'english' tsvector) and by meaning (a vector stored with its embedder's name)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import affected, many
from clawgate.store._vectors import Scored, nearest, scored

__all__ = ["Episode", "IdleSession", "NewEpisode", "by_ids", "expire", "idle_sessions", "insert", "list_episodes", "pending", "pending_tenants", "recalled",
           "search_text", "search_vector", "set_embedding"]  # fmt: skip


class Episode(Struct, kw_only=True):
    """A summary of a conversation; ``user_id`` ``""``: a session without a user."""

    id: UUID
    agent_id: UUID
    user_id: str
    session_key: str
    summary: str
    l0_abstract: str
    key_topics: list[str]
    source_type: str
    source_id: str
    turn_count: int
    token_count: int
    started_at: datetime | None
    ended_at: datetime | None
    expires_at: datetime | None
    recall_count: int
    last_recalled_at: datetime | None
    embedder: str
    created_at: datetime


class IdleSession(Struct, kw_only=True):
    tenant_id: UUID
    id: UUID
    session_key: str
    agent_id: UUID
    user_id: str
    summary: str
    context_start: int
    message_count: int


class NewEpisode(Struct, kw_only=True):
    agent_id: UUID
    user_id: str
    session_key: str
    summary: str
    source_id: str
    l0_abstract: str = ""
    source_type: str = "compaction"
    turn_count: int = 0
    token_count: int = 0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    expires_at: datetime | None = None


async def insert(conn: asyncpg.Connection, tenant_id: UUID, new: NewEpisode) -> UUID | None:
    """Store a summary once per (agent, ``source_id``). Returns: its id, None when it was there."""
    found: UUID | None = await conn.fetchval(
        query("episodic.insert"), tenant_id, new.agent_id, new.user_id, new.session_key, new.summary,
        new.l0_abstract, new.source_type, new.source_id, new.turn_count, new.token_count, new.started_at,
        new.ended_at, new.expires_at,
    )  # fmt: skip
    return found


async def expire(conn: asyncpg.Connection, limit: int) -> int:
    """Delete up to ``limit`` summaries past their ``expires_at`` (every tenant's). Returns: how many."""
    return affected(await conn.execute(query("episodic.expire"), limit))


async def set_embedding(
    conn: asyncpg.Connection, tenant_id: UUID, episode_id: UUID, embedder: str, vector: np.ndarray[Any, Any]
) -> None:
    await conn.execute(query("episodic.set_embedding"), tenant_id, episode_id, embedder, len(vector), vector)


async def list_episodes(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, reader: str | None, limit: int, offset: int
) -> list[Episode]:
    """The newest first; ``reader`` None: every user's, else ``reader``'s and those without a user."""
    rows = await conn.fetch(query("episodic.list"), tenant_id, agent_id, reader, limit, offset)
    return many(rows, Episode)


async def by_ids(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, ids: Sequence[UUID]
) -> dict[UUID, Episode]:
    rows = await conn.fetch(query("episodic.by_ids"), tenant_id, agent_id, list(ids))
    return {e.id: e for e in many(rows, Episode)}


async def search_text(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, reader: str | None, text: str, limit: int
) -> list[Scored]:
    return await scored(conn, "episodic.search_text", tenant_id, agent_id, reader, text, limit)


async def search_vector(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    reader: str | None,
    vector: np.ndarray[Any, Any],
    embedder: str,
    limit: int,
) -> list[Scored]:
    """The summaries nearest ``vector`` among those ``embedder`` made. Call it in a transaction."""
    return await nearest(conn, "episodic", vector, tenant_id, agent_id, reader, embedder, limit)


async def recalled(conn: asyncpg.Connection, tenant_id: UUID, ids: Sequence[UUID]) -> None:
    """Count a recall of each summary (GoClaw's recall tracking)."""
    await conn.execute(query("episodic.recalled"), tenant_id, list(ids))


async def pending_tenants(conn: asyncpg.Connection, embedder: str) -> list[UUID]:
    """The tenants with summaries to embed for ``embedder`` (for the background indexer)."""
    return [r["tenant_id"] for r in await conn.fetch(query("episodic.pending_tenants"), embedder)]


async def pending(
    conn: asyncpg.Connection, tenant_id: UUID, embedder: str, limit: int
) -> list[tuple[UUID, str]]:
    """(id, summary) of summaries never embedded, or by another embedder than ``embedder``."""
    rows = await conn.fetch(query("episodic.pending"), tenant_id, embedder, limit)
    return [(r["id"], r["summary"]) for r in rows]


async def idle_sessions(
    conn: asyncpg.Connection, default_minutes: float, min_messages: int, limit: int
) -> list[IdleSession]:
    """Sessions (of every tenant) quiet for their agent's idle time with ``min_messages`` in
    context and no idle episode of their present state: the idle sweep's work list."""
    rows = await conn.fetch(query("episodic.idle_sessions"), default_minutes, min_messages, limit)
    return many(rows, IdleSession)
