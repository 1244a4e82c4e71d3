"""``clawgate cron list`` and ``clawgate cron runs JOB``: cron jobs for operators, read straight from the
database (embedded or ``CLAWGATE_POSTGRES_DSN``) as the owner of a tenant, without a running server.

``list`` shows each job with its schedule, next due time and last outcome; ``runs`` one job's records,
one per due time (ok, error, missed, skipped, interrupted), the latest first.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from clawgate.config import Settings
from clawgate.services.cron import CronJob, CronRunList, CronService

__all__ = ["add_parser", "jobs_table", "list_jobs", "list_runs", "runs_table"]


class _ReadOnly:
    """The provider check of agent writes, which these commands never make."""

    async def has_provider(self, tenant_id: UUID, name: str) -> bool:
        raise RuntimeError("the cron commands do not change agents")


@asynccontextmanager
async def _service(settings: Settings, tenant: str | None) -> AsyncIterator[tuple[CronService, Any]]:
    """The cron service on the configured database and the owner of ``tenant`` (default master)."""
    from clawgate.app import open_database
    from clawgate.bus import EventBus
    from clawgate.principal import Principal, Role
    from clawgate.services.agents import AgentService
    from clawgate.store import create_database
    from clawgate.store import tenants as tenant_store
    from clawgate.store.tenants import MASTER_TENANT_ID

    dsn, embedded = await open_database(settings, attach=True)
    try:
        db = await create_database(dsn, min_size=1, max_size=2, command_timeout=30.0)
        try:
            tenant_id, slug = MASTER_TENANT_ID, "master"
            if tenant:
                async with db.connection() as conn:
                    row = await tenant_store.get_by_ref(conn, tenant)
                if row is None:
                    from clawgate.errors import NotFound

                    raise NotFound(kind="tenant", id=tenant)
                tenant_id, slug = row.id, row.slug
            owner = (settings.gateway.owner_ids or ["system"])[0]
            who = Principal(role=Role.OWNER, user_id=owner, tenant_id=tenant_id, tenant_slug=slug, is_owner=True,
                            cross_tenant=True, via="cli")  # fmt: skip
            bus = EventBus(db)  # not started: nothing is listened to
            yield CronService(settings, db, bus, AgentService(db, bus, _ReadOnly())), who
        finally:
            await db.close()
    finally:
        if embedded is not None:
            await embedded.stop()


async def list_jobs(settings: Settings, tenant: str | None) -> list[CronJob]:
    async with _service(settings, tenant) as (cron, who):
        return (await cron.list_jobs(who)).jobs


async def list_runs(settings: Settings, job: str, tenant: str | None, limit: int) -> CronRunList:
    async with _service(settings, tenant) as (cron, who):
        return await cron.runs(who, job, limit, 0)


def _when(ms: int | None) -> str:
    return "-" if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _schedule(job: CronJob) -> str:
    s = job.schedule
    if s.kind == "at":
        return f"at {_when(s.atMs)}"
    if s.kind == "every":
        return f"every {(s.everyMs or 0) / 1000:g}s"
    return f"cron {s.expr} {s.tz or 'UTC'}"


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows)


def jobs_table(jobs: list[CronJob]) -> str:
    rows = [("ID", "NAME", "AGENT", "OWNER", "SCHEDULE", "ENABLED", "NEXT RUN", "LAST RUN", "LAST STATUS")]
    for j in jobs:
        rows.append(
            (j.id, j.name, j.agentKey, j.userId or "-", _schedule(j), "yes" if j.enabled else "no",
             _when(j.state.nextRunAtMs), _when(j.state.lastRunAtMs), j.state.lastStatus or "-")
        )  # fmt: skip
    return _table(rows)


def runs_table(runs: CronRunList) -> str:
    rows = [("DUE", "STARTED", "STATUS", "TRIGGER", "TRIES", "DURATION", "TOKENS IN/OUT", "ERROR OR SUMMARY")]
    for r in runs.entries:
        duration = "-" if r.durationMs is None else f"{r.durationMs / 1000:.1f}s"
        text = (r.error or r.summary or "").replace("\n", " ")[:80]
        rows.append(
            (_when(r.scheduledAtMs), _when(r.startedAtMs), r.status, r.trigger, str(r.attempts), duration,
             f"{r.inputTokens}/{r.outputTokens}", text)
        )  # fmt: skip
    return _table(rows)


def add_parser(
    sub: Any, data: argparse.ArgumentParser
) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """``cron list`` and ``cron runs JOB`` on ``sub``; returns their parsers (``clawgate.cli`` sets
    the functions that run them)."""
    cron = sub.add_parser("cron", help="list cron jobs and their run records (no server needed)")
    cron_sub = cron.add_subparsers(dest="cron_command", required=True, metavar="ACTION")
    listing = cron_sub.add_parser(
        "list", parents=[data], help="jobs with their schedule, next run and last status",
        description="List the tenant's cron jobs: schedule, next due time, last run and its status.",
    )  # fmt: skip
    listing.add_argument("--tenant", help="tenant id or slug (default master)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    runs = cron_sub.add_parser(
        "runs", parents=[data], help="one job's run records, the latest due time first",
        description="The records of a job: one per due time (ok, error, missed, skipped, interrupted).",
    )  # fmt: skip
    runs.add_argument("job", metavar="JOB", help="the job's id, as cron list prints it")
    runs.add_argument("--tenant", help="tenant id or slug (default master)")
    runs.add_argument("--limit", type=int, default=20, help="how many records (default 20)")
    runs.add_argument("--json", action="store_true", help="print JSON")
    return listing, runs
