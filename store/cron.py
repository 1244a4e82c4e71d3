"""Cron jobs and their run records (issue 12).

A job's ``next_run_at`` is its next due time nobody has claimed. ``claim`` locks due jobs of every
tenant with ``FOR UPDATE SKIP LOCKED``; in the same transaction the claimer writes one record per
due time it handles (``record``: a unique index on ``(job_id, scheduled_at)`` makes a second record
of a due time impossible) and moves ``next_run_at`` past them (``advance``). Reading a job never
moves its schedule. Every other query takes the tenant id.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.errors import AlreadyExists
from clawgate.sql import query
from clawgate.store._rows import many, maybe, one

__all__ = [
    "Claimed",
    "CronJobFields",
    "CronJobRow",
    "CronRunRow",
    "Interrupted",
    "NewRecord",
    "RecordEnd",
    "RecordRow",
    "Recorded",
    "advance",
    "claim",
    "counts",
    "delete",
    "delete_many",
    "finish_record",
    "finish_run",
    "get",
    "get_for_update",
    "insert",
    "interrupt_process",
    "list_jobs",
    "mark_last",
    "next_due",
    "record",
    "run_get",
    "running_processes",
    "runs",
    "runs_count",
    "set_enabled",
    "update",
]


class CronJobFields(Struct, kw_only=True):
    """What a job is (every writable column), as ``insert`` and ``update`` take it."""

    agent_id: UUID
    name: str
    enabled: bool
    schedule_kind: str
    at_time: datetime | None
    every_ms: int | None
    anchor_at: datetime | None
    cron_expr: str
    timezone: str
    message: str
    deliver: bool
    deliver_channel: str
    deliver_to: str
    wake_heartbeat: bool
    stateless: bool
    delete_after_run: bool
    catch_up: str
    catch_up_grace_ms: int
    timeout_ms: int
    max_retries: int
    next_run_at: datetime | None


class CronJobRow(CronJobFields, kw_only=True):
    id: UUID
    tenant_id: UUID
    user_id: str
    last_run_at: datetime | None
    last_status: str
    last_error: str
    created_at: datetime
    updated_at: datetime


class Claimed(CronJobRow, kw_only=True):
    """A due job locked by ``claim``: ``busy`` when a run of it is still going; ``db_now`` is the
    database's clock (the one ``next_run_at`` is compared with)."""

    busy: bool
    db_now: datetime


class RecordRow(Struct, kw_only=True):
    """The columns cron and heartbeat records share: one due time (or manual run) and how it went."""

    id: UUID
    tenant_id: UUID
    agent_id: UUID
    trigger: str
    scheduled_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    status: str
    attempts: int
    summary: str
    error: str
    duration_ms: int | None
    input_tokens: int
    output_tokens: int
    run_id: UUID | None
    session_key: str
    process_id: str
    created_at: datetime


class CronRunRow(RecordRow, kw_only=True):
    job_id: UUID
    job_name: str
    user_id: str


class NewRecord(Struct, kw_only=True):
    """A record to write: ``running`` (a run starts now), ``missed`` or ``skipped`` (with why)."""

    tenant_id: UUID
    job_id: UUID
    job_name: str
    agent_id: UUID
    user_id: str
    trigger: str
    scheduled_at: datetime
    status: str
    error: str = ""
    session_key: str = ""


class Recorded(Struct, kw_only=True):
    id: UUID
    job_id: UUID
    scheduled_at: datetime
    status: str
    started_at: datetime | None


class Interrupted(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    job_id: UUID
    job_name: str
    user_id: str


def _values(fields: CronJobFields) -> list[Any]:
    return [
        fields.agent_id, fields.name, fields.enabled, fields.schedule_kind, fields.at_time, fields.every_ms,
        fields.anchor_at, fields.cron_expr, fields.timezone, fields.message, fields.deliver,
        fields.deliver_channel, fields.deliver_to, fields.wake_heartbeat, fields.stateless,
        fields.delete_after_run, fields.catch_up, fields.catch_up_grace_ms, fields.timeout_ms,
        fields.max_retries, fields.next_run_at,
    ]  # fmt: skip


async def insert(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: str, fields: CronJobFields
) -> CronJobRow:
    """Raises: AlreadyExists when the agent has a job of that name."""
    agent_id, *rest = _values(fields)
    try:
        row = await conn.fetchrow(query("cron.insert"), tenant_id, agent_id, user_id, *rest)
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="cron job", id=fields.name) from None
    return one(row, CronJobRow)


async def update(
    conn: asyncpg.Connection, tenant_id: UUID, job_id: UUID, fields: CronJobFields
) -> CronJobRow:
    """Raises: AlreadyExists when the new name is taken for the agent."""
    try:
        row = await conn.fetchrow(query("cron.update"), tenant_id, job_id, *_values(fields))
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="cron job", id=fields.name) from None
    return one(row, CronJobRow)


async def get(conn: asyncpg.Connection, tenant_id: UUID, job_id: UUID) -> CronJobRow | None:
    return maybe(await conn.fetchrow(query("cron.get"), tenant_id, job_id), CronJobRow)


async def get_for_update(conn: asyncpg.Connection, tenant_id: UUID, job_id: UUID) -> CronJobRow | None:
    return maybe(await conn.fetchrow(query("cron.get_for_update"), tenant_id, job_id), CronJobRow)


async def list_jobs(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    user_id: str | None,
    agent_id: UUID | None,
    include_disabled: bool,
) -> list[CronJobRow]:
    """The tenant's jobs (``user_id``: only that user's; ``agent_id``: only that agent's)."""
    rows = await conn.fetch(query("cron.list"), tenant_id, user_id, agent_id, include_disabled)
    return many(rows, CronJobRow)


async def counts(conn: asyncpg.Connection, tenant_id: UUID, user_id: str | None) -> tuple[int, int]:
    """(jobs, enabled jobs) of the tenant (or of one user)."""
    row = await conn.fetchrow(query("cron.counts"), tenant_id, user_id)
    return int(row["jobs"]), int(row["enabled"])


async def delete(conn: asyncpg.Connection, tenant_id: UUID, job_id: UUID) -> bool:
    return await conn.fetchval(query("cron.delete"), tenant_id, job_id) is not None


async def set_enabled(
    conn: asyncpg.Connection, tenant_id: UUID, job_id: UUID, enabled: bool, next_run_at: datetime | None
) -> CronJobRow | None:
    row = await conn.fetchrow(query("cron.set_enabled"), tenant_id, job_id, enabled, next_run_at)
    return maybe(row, CronJobRow)


async def runs(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    job_id: UUID | None,
    user_id: str | None,
    limit: int,
    offset: int,
) -> list[CronRunRow]:
    """Records, the latest due time first."""
    rows = await conn.fetch(query("cron.runs"), tenant_id, job_id, user_id, limit, offset)
    return many(rows, CronRunRow)


async def runs_count(
    conn: asyncpg.Connection, tenant_id: UUID, *, job_id: UUID | None, user_id: str | None
) -> int:
    return int(await conn.fetchval(query("cron.runs_count"), tenant_id, job_id, user_id))


async def run_get(conn: asyncpg.Connection, tenant_id: UUID, run_id: UUID) -> CronRunRow | None:
    return maybe(await conn.fetchrow(query("cron.run_get"), tenant_id, run_id), CronRunRow)


# -- the scheduler ----------------------------------------------------------------------------------


async def next_due(conn: asyncpg.Connection) -> tuple[datetime | None, datetime]:
    """The earliest due time of any enabled job or heartbeat (None: nothing scheduled), and the
    database's clock."""
    row = await conn.fetchrow(query("cron.next_due"))
    return row["next_at"], row["db_now"]


async def claim(conn: asyncpg.Connection, limit: int) -> list[Claimed]:
    """Lock up to ``limit`` due jobs (inside a transaction) that no one else has locked."""
    return many(await conn.fetch(query("cron.claim"), limit), Claimed)


async def advance(conn: asyncpg.Connection, moves: Sequence[tuple[UUID, datetime | None, bool]]) -> None:
    """Set each job's ``(id, next_run_at, enabled)``."""
    if moves:
        ids, nexts, enabled = zip(*moves, strict=True)
        await conn.execute(query("cron.advance"), list(ids), list(nexts), list(enabled))


async def record(conn: asyncpg.Connection, records: Sequence[NewRecord], process_id: str) -> list[Recorded]:
    """Write the records; a due time recorded already is skipped (and not returned)."""
    if not records:
        return []
    columns = zip(
        *[
            (r.tenant_id, r.job_id, r.job_name, r.agent_id, r.user_id, r.trigger, r.scheduled_at, r.status,
             r.error, r.session_key)
            for r in records
        ],
        strict=True,
    )  # fmt: skip
    rows = await conn.fetch(query("cron.record"), *[list(c) for c in columns], process_id)
    return many(rows, Recorded)


async def mark_last(conn: asyncpg.Connection, marks: Sequence[tuple[UUID, datetime, str, str]]) -> None:
    """Set each job's last ``(id, at, status, error)``."""
    if marks:
        ids, ats, statuses, errors = zip(*marks, strict=True)
        await conn.execute(query("cron.mark_last"), list(ids), list(ats), list(statuses), list(errors))


async def delete_many(conn: asyncpg.Connection, job_ids: Sequence[UUID]) -> None:
    if job_ids:
        await conn.execute(query("cron.delete_many"), list(job_ids))


class RecordEnd(Struct, kw_only=True):
    """How a running record ended: the columns ``finish_run`` sets (cron and heartbeat records alike)."""

    status: str
    attempts: int
    summary: str
    error: str
    duration_ms: int
    input_tokens: int
    output_tokens: int
    run_id: UUID | None
    session_key: str


async def finish_record(
    conn: asyncpg.Connection, name: str, tenant_id: UUID, record_id: UUID, end: RecordEnd
) -> None:
    """Run the named query ``name`` that ends a running record and sets its owner's last outcome."""
    await conn.execute(
        query(name), tenant_id, record_id, end.status, end.attempts, end.summary, end.error, end.duration_ms,
        end.input_tokens, end.output_tokens, end.run_id, end.session_key,
    )  # fmt: skip


async def finish_run(conn: asyncpg.Connection, tenant_id: UUID, record_id: UUID, end: RecordEnd) -> None:
    """End a running record and set its job's last outcome (nothing when it ended already, e.g.
    marked interrupted)."""
    await finish_record(conn, "cron.finish_run", tenant_id, record_id, end)


async def running_processes(conn: asyncpg.Connection, process_id: str) -> list[str]:
    """Processes other than ``process_id`` with a running record."""
    return [r["process_id"] for r in await conn.fetch(query("cron.running_processes"), process_id)]


async def interrupt_process(conn: asyncpg.Connection, process_id: str, reason: str) -> list[Interrupted]:
    """Mark the running records of a dead process ``interrupted``."""
    return many(await conn.fetch(query("cron.interrupt_process"), process_id, reason), Interrupted)
