"""Mission Control's agent API: agent tokens (SHA-256 with an indexed prefix, in
``agent_presence``), board memory (the board's thread and
its messages), the facts the agent task rules read from the log, and notifications delivered into
agents' sessions. Every query takes the tenant id, except the token lookup (the token names it)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many, maybe, one

__all__ = [
    "AgentBrief",
    "MemoryFields",
    "MemoryRow",
    "NotificationRow",
    "Pending",
    "TokenRow",
    "board_agents",
    "claim_notification",
    "comment_texts",
    "commented_since",
    "finish_notification",
    "heartbeat",
    "insert_memory",
    "insert_notification",
    "last_submitter",
    "list_memory",
    "memberships",
    "notifications_of",
    "set_token",
    "stale_notifications",
    "token_candidate",
    "touch",
]


class TokenRow(Struct, kw_only=True):
    tenant_id: UUID
    agent_id: UUID
    token_hash: str | None
    last_seen_at: datetime | None
    agent_key: str
    display_name: str


class AgentBrief(Struct, kw_only=True):
    id: UUID
    board_id: UUID
    agent_key: str
    display_name: str
    role: str
    status: str
    last_seen_at: datetime | None
    created_at: datetime


class MemoryFields(Struct, kw_only=True):
    """A board memory entry as MC shows it (``BoardMemoryRead`` without the board)."""

    id: UUID
    content: str
    tags: list[str]
    source: str | None
    is_chat: bool
    author_kind: str
    author_id: str
    created_at: datetime


class MemoryRow(MemoryFields, kw_only=True):
    total: int = 0


class Pending(Struct, kw_only=True):
    """A notification claimed for delivery."""

    id: UUID
    tenant_id: UUID
    recipient_id: str
    kind: str
    title: str
    body: str
    team_id: UUID | None
    session_rest: str | None
    by_agent_id: UUID | None = None  # the agent whose own message made it


class NotificationRow(Struct, kw_only=True):
    id: UUID
    kind: str
    title: str
    body: str
    status: str
    last_error: str | None
    run_id: UUID | None
    session_key: str | None
    team_id: UUID | None
    event_seq: int | None
    created_at: datetime
    sent_at: datetime | None


async def set_token(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, prefix: str | None, digest: str | None
) -> bool:
    """Store (or with ``None``, revoke) the agent's token hash; False when the row is another tenant's."""
    return await conn.fetchval(query("agent_api.token_set"), tenant_id, agent_id, prefix, digest) is not None


async def token_candidate(conn: asyncpg.Connection, prefix: str) -> TokenRow | None:
    return maybe(await conn.fetchrow(query("agent_api.token_candidate"), prefix), TokenRow)


async def memberships(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> dict[UUID, str]:
    """The boards the agent is on, with its role on each, in joining order."""
    rows = await conn.fetch(query("agent_api.memberships"), tenant_id, agent_id)
    return {r["team_id"]: r["role"] for r in rows}


async def heartbeat(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, status: str | None
) -> tuple[str, datetime]:
    row = await conn.fetchrow(query("agent_api.heartbeat"), tenant_id, agent_id, status)
    return row["status"], row["last_seen_at"]


async def touch(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> None:
    await conn.execute(query("agent_api.touch"), tenant_id, agent_id)


async def board_agents(
    conn: asyncpg.Connection, tenant_id: UUID, board_ids: Sequence[UUID]
) -> list[AgentBrief]:
    return many(await conn.fetch(query("agent_api.board_agents"), tenant_id, list(board_ids)), AgentBrief)


async def insert_memory(
    conn: asyncpg.Connection, tenant_id: UUID, owner_id: UUID, *, author_kind: str, author_id: str,
    source: str | None, content: str, tags: Sequence[str], is_chat: bool, scope: str = "team",
) -> MemoryRow:  # fmt: skip
    """A memory entry of a board (or, ``scope="team_group"``, a board group); its thread is made on
    first use."""
    thread_id = await conn.fetchval(query("agent_api.memory_thread"), tenant_id, scope, owner_id)
    row = await conn.fetchrow(
        query("agent_api.memory_insert"), tenant_id, thread_id, author_kind, author_id, source, content,
        list(tags), is_chat,
    )  # fmt: skip
    return one(row, MemoryRow)


async def list_memory(
    conn: asyncpg.Connection, tenant_id: UUID, owner_id: UUID, is_chat: bool | None, limit: int, offset: int,
    scope: str = "team", memory_id: UUID | None = None,
) -> list[MemoryRow]:  # fmt: skip
    """A board's (``scope="team_group"``: a board group's) memory, newest first; ``memory_id``: that
    entry only."""
    rows = await conn.fetch(
        query("agent_api.memory_list"), tenant_id, scope, owner_id, is_chat, limit, offset, memory_id
    )
    return many(rows, MemoryRow)


async def last_submitter(
    conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID, lead: UUID | None
) -> UUID | None:
    found: UUID | None = await conn.fetchval(query("agent_api.last_submitter"), tenant_id, task_id, lead)
    return found


async def commented_since(
    conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID, agent_id: UUID, since: datetime | None
) -> bool:
    return bool(await conn.fetchval(query("agent_api.commented_since"), tenant_id, task_id, agent_id, since))


async def comment_texts(conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID) -> list[str]:
    return [
        r["message"] or "" for r in await conn.fetch(query("agent_api.comment_texts"), tenant_id, task_id)
    ]


async def insert_notification(
    conn: asyncpg.Connection, tenant_id: UUID, event_seq: int, agent_id: UUID, kind: str, title: str,
    body: str, team_id: UUID | None, session_rest: str | None = None, by_agent_id: UUID | None = None,
) -> UUID | None:  # fmt: skip
    """A new pending notification; None when this event already made it for this agent.
    ``session_rest``: where its run goes (None: the team's session); ``by_agent_id``: the agent
    whose own message made it."""
    found: UUID | None = await conn.fetchval(
        query("agent_api.notification_insert"),
        tenant_id,
        event_seq,
        str(agent_id),
        kind,
        title,
        body,
        team_id,
        session_rest,
        by_agent_id,
    )
    return found


async def claim_notification(conn: asyncpg.Connection, notification_id: UUID) -> Pending | None:
    return maybe(await conn.fetchrow(query("agent_api.notification_claim"), notification_id), Pending)


async def stale_notifications(conn: asyncpg.Connection, older_than: float, limit: int) -> list[UUID]:
    """Pending notifications left unclaimed for ``older_than`` seconds, oldest first (every tenant)."""
    return [r["id"] for r in await conn.fetch(query("agent_api.notifications_stale"), older_than, limit)]


async def finish_notification(
    conn: asyncpg.Connection, notification_id: UUID, status: str, error: str | None, run_id: UUID | None,
    session_key: str | None,
) -> None:  # fmt: skip
    await conn.execute(
        query("agent_api.notification_done"), notification_id, status, error, run_id, session_key
    )


async def notifications_of(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, limit: int
) -> list[NotificationRow]:
    return many(
        await conn.fetch(query("agent_api.notifications_of"), tenant_id, str(agent_id), limit),
        NotificationRow,
    )
