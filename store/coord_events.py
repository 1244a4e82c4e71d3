"""The coordination event log: one append-only table whose ``seq`` is the cursor of every stream
(GoClaw team events, Mission Control activity and SSE, ClawTasker events). A reader after a cursor
sees only rows below the oldest open transaction (``after``), so a row whose smaller ``seq``
commits late is never skipped."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many

__all__ = [
    "EventRow",
    "LogVersion",
    "NewEvent",
    "Where",
    "after",
    "append",
    "cursor_at",
    "page",
    "since_version",
    "version",
]


class EventRow(Struct, kw_only=True):
    seq: int
    id: UUID
    tenant_id: UUID
    team_id: UUID | None
    group_id: UUID | None
    task_id: UUID | None
    agent_id: UUID | None
    user_id: str | None
    kind: str
    message: str | None
    data: dict[str, Any]
    created_at: datetime


class LogVersion(Struct, frozen=True, kw_only=True):
    """What a cache of a tenant's coordination state was built from (``version``): it is still
    right while the version read again with the same ``xmin`` is equal."""

    top: int  # the tenant's newest seq
    xmin: str  # the oldest transaction open when the cache was read (xid8 as text)
    recent: int  # the tenant's events from that transaction or later ones


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event as appended. ``kind`` is dotted (``task.status_changed``); ``data`` is structured
    (``{"from": ..., "to": ...}``), never text to match later."""

    kind: str
    team_id: UUID | None = None
    task_id: UUID | None = None
    agent_id: UUID | None = None
    user_id: str | None = None
    group_id: UUID | None = None
    message: str | None = None
    data: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Where:
    """Which events a read returns (None: any)."""

    team_id: UUID | None = None
    task_id: UUID | None = None
    kinds: Sequence[str] | None = None
    group_id: UUID | None = None  # ``after`` only: a board group's events (its memory)


async def append(conn: asyncpg.Connection, tenant_id: UUID, event: NewEvent) -> EventRow:
    """Append ``event`` in the caller's transaction; the row as stored."""
    row = await conn.fetchrow(
        query("coord_events.append"), tenant_id, event.team_id, event.group_id, event.task_id, event.agent_id,
        event.user_id, event.kind, event.message, event.data or {},
    )  # fmt: skip
    return EventRow(
        seq=row["seq"], id=row["id"], tenant_id=tenant_id, team_id=event.team_id, group_id=event.group_id,
        task_id=event.task_id, agent_id=event.agent_id, user_id=event.user_id, kind=event.kind,
        message=event.message, data=event.data or {}, created_at=row["created_at"],
    )  # fmt: skip


async def after(
    conn: asyncpg.Connection, tenant_id: UUID, cursor: int, where: Where, limit: int
) -> list[EventRow]:
    """Committed events after ``cursor``, oldest first, at most ``limit``."""
    kinds = list(where.kinds) if where.kinds is not None else None
    rows = await conn.fetch(
        query("coord_events.after"),
        tenant_id,
        cursor,
        where.team_id,
        where.task_id,
        kinds,
        limit,
        where.group_id,
    )
    return many(rows, EventRow)


async def page(
    conn: asyncpg.Connection, tenant_id: UUID, where: Where, limit: int, offset: int
) -> list[EventRow]:
    """Events matching ``where``, newest first."""
    kinds = list(where.kinds) if where.kinds is not None else None
    rows = await conn.fetch(
        query("coord_events.page"), tenant_id, where.team_id, where.task_id, kinds, limit, offset
    )
    return many(rows, EventRow)


async def cursor_at(conn: asyncpg.Connection, tenant_id: UUID, when: datetime | None) -> int:
    """The cursor just before ``when`` (None: the tenant's latest event, "from now on")."""
    if when is None:
        found: int = await conn.fetchval(query("coord_events.cursor_now"), tenant_id)
    else:
        found = await conn.fetchval(query("coord_events.cursor_at"), tenant_id, when)
    return found


async def version(conn: asyncpg.Connection, tenant_id: UUID, xmin: str | None = None) -> LogVersion:
    """The log's version for a cache: read in the snapshot the cache is built in (``xmin`` None),
    then again with the cache's ``xmin`` to check it (equal: no event since)."""
    row = await conn.fetchrow(query("coord_events.version"), tenant_id, xmin)
    return LogVersion(top=row["top"], xmin=row["xmin"], recent=row["recent"])


async def since_version(
    conn: asyncpg.Connection, tenant_id: UUID, seen: LogVersion, limit: int
) -> list[tuple[UUID | None, str]]:
    """(task id, kind) of the events a cache read at ``seen`` may not have seen, at most ``limit``."""
    rows = await conn.fetch(query("coord_events.since_version"), tenant_id, seen.top, seen.xmin, limit)
    return [(r["task_id"], r["kind"]) for r in rows]
