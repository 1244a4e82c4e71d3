"""Agent heartbeats and their run records (issue 12): one row per agent, claimed by the scheduler like
cron jobs (``FOR UPDATE SKIP LOCKED``, one record per due time under a unique index). Every query of a
tenant's data takes the tenant id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many, maybe, one
from clawgate.store.cron import RecordEnd, RecordRow, finish_record

__all__ = [
    "ClaimedHeartbeat",
    "HeartbeatFields",
    "HeartbeatRow",
    "HeartbeatRunRow",
    "NewHeartbeatRecord",
    "Target",
    "advance",
    "claim",
    "finish_run",
    "get",
    "get_for_update",
    "interrupt_process",
    "logs",
    "logs_count",
    "mark_skipped",
    "record",
    "running_processes",
    "targets",
    "upsert",
    "wake",
]


class HeartbeatFields(Struct, kw_only=True):
    """The writable settings of an agent's heartbeat."""

    enabled: bool = False
    interval_sec: int = 1800
    prompt: str = ""
    provider_name: str = ""
    model: str = ""
    isolated_session: bool = True
    light_context: bool = False
    ack_max_chars: int = 300
    max_retries: int = 2
    active_hours_start: str = ""
    active_hours_end: str = ""
    timezone: str = ""
    channel: str = ""
    chat_id: str = ""
    next_run_at: datetime | None = None


class HeartbeatRow(HeartbeatFields, kw_only=True):
    id: UUID
    tenant_id: UUID
    agent_id: UUID
    last_run_at: datetime | None
    last_status: str
    last_error: str
    run_count: int
    suppress_count: int
    metadata: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class ClaimedHeartbeat(HeartbeatRow, kw_only=True):
    """A due heartbeat locked by ``claim``: its agent's key, whether the agent has a run going, its
    HEARTBEAT.md, and the database's clock."""

    agent_key: str
    busy: bool
    checklist: str
    db_now: datetime


class HeartbeatRunRow(RecordRow, kw_only=True):
    heartbeat_id: UUID
    skip_reason: str
    metadata: dict[str, Any]


class NewHeartbeatRecord(Struct, kw_only=True):
    tenant_id: UUID
    heartbeat_id: UUID
    agent_id: UUID
    scheduled_at: datetime
    status: str  # running | skipped
    skip_reason: str = ""
    error: str = ""


class HeartbeatRecorded(Struct, kw_only=True):
    id: UUID
    heartbeat_id: UUID
    scheduled_at: datetime
    status: str


class Target(Struct, kw_only=True):
    session_key: str
    channel: str
    label: str
    user_id: str


async def get(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> HeartbeatRow | None:
    return maybe(await conn.fetchrow(query("heartbeat.get"), tenant_id, agent_id), HeartbeatRow)


async def get_for_update(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> HeartbeatRow | None:
    return maybe(await conn.fetchrow(query("heartbeat.get_for_update"), tenant_id, agent_id), HeartbeatRow)


async def upsert(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, f: HeartbeatFields
) -> HeartbeatRow:
    row = await conn.fetchrow(
        query("heartbeat.upsert"), tenant_id, agent_id, f.enabled, f.interval_sec, f.prompt, f.provider_name,
        f.model, f.isolated_session, f.light_context, f.ack_max_chars, f.max_retries, f.active_hours_start,
        f.active_hours_end, f.timezone, f.channel, f.chat_id, f.next_run_at,
    )  # fmt: skip
    return one(row, HeartbeatRow)


async def wake(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> bool:
    """Make the agent's heartbeat due now; False when it has none enabled."""
    return await conn.fetchval(query("heartbeat.wake"), tenant_id, agent_id) is not None


async def logs(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, limit: int, offset: int
) -> list[HeartbeatRunRow]:
    return many(
        await conn.fetch(query("heartbeat.logs"), tenant_id, agent_id, limit, offset), HeartbeatRunRow
    )


async def logs_count(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> int:
    return int(await conn.fetchval(query("heartbeat.logs_count"), tenant_id, agent_id))


async def targets(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, user_id: str | None
) -> list[Target]:
    return many(await conn.fetch(query("heartbeat.targets"), tenant_id, agent_id, user_id), Target)


# -- the scheduler ----------------------------------------------------------------------------------


async def claim(conn: asyncpg.Connection, limit: int) -> list[ClaimedHeartbeat]:
    return many(await conn.fetch(query("heartbeat.claim"), limit), ClaimedHeartbeat)


async def advance(conn: asyncpg.Connection, moves: Sequence[tuple[UUID, datetime | None]]) -> None:
    if moves:
        ids, nexts = zip(*moves, strict=True)
        await conn.execute(query("heartbeat.advance"), list(ids), list(nexts))


async def record(
    conn: asyncpg.Connection, records: Sequence[NewHeartbeatRecord], process_id: str
) -> list[HeartbeatRecorded]:
    if not records:
        return []
    columns = zip(
        *[
            (r.tenant_id, r.heartbeat_id, r.agent_id, r.scheduled_at, r.status, r.skip_reason, r.error)
            for r in records
        ],
        strict=True,
    )
    rows = await conn.fetch(query("heartbeat.record"), *[list(c) for c in columns], process_id)
    return many(rows, HeartbeatRecorded)


async def mark_skipped(conn: asyncpg.Connection, marks: Sequence[tuple[UUID, str]]) -> None:
    if marks:
        ids, reasons = zip(*marks, strict=True)
        await conn.execute(query("heartbeat.mark_skipped"), list(ids), list(reasons))


async def finish_run(conn: asyncpg.Connection, tenant_id: UUID, record_id: UUID, end: RecordEnd) -> None:
    """End a running record; the heartbeat's last outcome and counts follow."""
    await finish_record(conn, "heartbeat.finish_run", tenant_id, record_id, end)


async def running_processes(conn: asyncpg.Connection, process_id: str) -> list[str]:
    return [r["process_id"] for r in await conn.fetch(query("heartbeat.running_processes"), process_id)]


async def interrupt_process(conn: asyncpg.Connection, process_id: str, reason: str) -> int:
    return len(await conn.fetch(query("heartbeat.interrupt_process"), process_id, reason))
