"""Sessions and their messages. Messages are rows with a stable per-session index ``idx`` so that
clients can catch up with ``afterIndex``; compaction moves ``context_start`` instead of deleting."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from clawgate.sql import query
from clawgate.store._rows import many, maybe, one
from clawgate.store.types import MessageRow, SessionListRow, SessionRow

__all__ = [
    "append_message",
    "copy_messages",
    "count",
    "delete",
    "get",
    "get_for_update",
    "info",
    "insert",
    "list_sessions",
    "messages",
    "patch",
    "reset",
    "set_context",
    "set_label_if_empty",
    "set_message_count",
]


async def get(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> SessionRow | None:
    return maybe(await conn.fetchrow(query("sessions.get_by_key"), tenant_id, key), SessionRow)


async def info(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> SessionListRow | None:
    """The session ``key`` with its agent's key, name and context window (as ``list_sessions``)."""
    return maybe(await conn.fetchrow(query("sessions.info"), tenant_id, key), SessionListRow)


async def get_for_update(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> SessionRow | None:
    """The session row, locked until the transaction ends (serialises sends and run finishes)."""
    return maybe(await conn.fetchrow(query("sessions.get_by_key_for_update"), tenant_id, key), SessionRow)


async def insert(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    key: str,
    *,
    agent_id: UUID,
    user_id: str,
    channel: str,
    label: str = "",
    model: str = "",
    provider: str = "",
    metadata: dict[str, Any] | None = None,
) -> SessionRow | None:
    """Insert a session; None when the key already exists (the caller re-reads it)."""
    row = await conn.fetchrow(
        query("sessions.insert"),
        tenant_id, key, agent_id, user_id, channel, label, model, provider, metadata or {},
    )  # fmt: skip
    return maybe(row, SessionRow)


async def list_sessions(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    user_id: str | None,
    agent_id: UUID | None,
    channel: str | None,
    limit: int,
    offset: int,
) -> list[SessionListRow]:
    rows = await conn.fetch(query("sessions.list"), tenant_id, user_id, agent_id, channel, limit, offset)
    return many(rows, SessionListRow)


async def count(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    user_id: str | None,
    agent_id: UUID | None,
    channel: str | None,
) -> int:
    return int(await conn.fetchval(query("sessions.count"), tenant_id, user_id, agent_id, channel))


async def patch(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    session_id: UUID,
    *,
    label: str | None,
    model: str | None,
    metadata: dict[str, Any] | None,
) -> SessionRow | None:
    row = await conn.fetchrow(query("sessions.patch"), tenant_id, session_id, label, model, metadata)
    return maybe(row, SessionRow)


async def delete(conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID) -> None:
    await conn.execute(query("sessions.delete"), tenant_id, session_id)


async def reset(conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID) -> None:
    await conn.execute(query("sessions.delete_messages"), tenant_id, session_id)
    await conn.execute(query("sessions.reset"), tenant_id, session_id)


async def set_context(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, summary: str, context_start: int
) -> None:
    await conn.execute(query("sessions.set_context"), tenant_id, session_id, summary, context_start)


async def set_label_if_empty(conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, label: str) -> bool:
    return await conn.fetchval(query("sessions.set_label_if_empty"), tenant_id, session_id, label) is not None


async def append_message(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    session_id: UUID,
    *,
    role: str,
    content: str,
    thinking: str = "",
    tool_calls: list[dict[str, Any]] | None = None,
    tool_call_id: str = "",
    is_error: bool = False,
    run_id: UUID | None = None,
    metadata: dict[str, Any] | None = None,
) -> MessageRow:
    """Append one message at the session's next index (atomic with the counter)."""
    row = await conn.fetchrow(
        query("sessions.append_message"),
        tenant_id, session_id, role, content, thinking, tool_calls or [], tool_call_id, is_error, run_id,
        metadata or {},
    )  # fmt: skip
    return one(row, MessageRow)


async def messages(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, *, start: int = 0, limit: int = 100_000
) -> list[MessageRow]:
    rows = await conn.fetch(query("sessions.messages"), tenant_id, session_id, start, limit)
    return many(rows, MessageRow)


async def copy_messages(
    conn: asyncpg.Connection, tenant_id: UUID, source_id: UUID, target_id: UUID, up_to: int
) -> None:
    await conn.execute(query("sessions.copy_messages"), tenant_id, source_id, target_id, up_to)


async def set_message_count(
    conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID, count_: int, summary: str, context_start: int
) -> None:
    await conn.execute(
        query("sessions.set_message_count"), tenant_id, session_id, count_, summary, context_start
    )
