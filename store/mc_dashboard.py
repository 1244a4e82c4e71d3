"""Mission Control's dashboard metrics and activity feeds, computed in SQL from the shared tasks,
approvals and event log. Every query takes the tenant id and the boards the caller reads (None:
all of the tenant's)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many, one

__all__ = ["ActivityRead", "ActivityRow", "CommentFeedRow", "Kpis", "PendingApproval", "PendingRow", "SeriesRow", "activity", "kpis",
           "pending_approvals", "series", "task_comments"]  # fmt: skip


class SeriesRow(Struct, kw_only=True):
    period: datetime
    throughput: int
    cycle_hours: float | None
    events: int
    failed: int
    inbox: int
    in_progress: int
    in_review: int
    done: int


class Kpis(Struct, kw_only=True):
    inbox_tasks: int
    in_progress_tasks: int
    in_review_tasks: int
    done_tasks: int
    active_agents: int
    median_cycle_hours_7d: float | None


class PendingApproval(Struct, kw_only=True):
    """MC's ``DashboardPendingApproval``."""

    approval_id: UUID
    board_id: UUID
    board_name: str
    action_type: str
    confidence: float
    created_at: datetime
    task_title: str | None


class PendingRow(PendingApproval, kw_only=True):
    total: int


class ActivityRead(Struct, kw_only=True):
    """MC's ``ActivityEventRead`` (the log's kind is ``event_type``)."""

    id: UUID
    event_type: str
    message: str | None
    agent_id: UUID | None
    task_id: UUID | None
    board_id: UUID | None
    created_at: datetime


class ActivityRow(ActivityRead, kw_only=True):
    total: int


class CommentFeedRow(Struct, kw_only=True):
    id: UUID
    created_at: datetime
    message: str | None
    agent_id: UUID | None
    agent_name: str | None
    agent_key: str | None
    agent_role: str | None
    task_id: UUID
    task_title: str
    board_id: UUID
    board_name: str
    total: int


async def series(
    conn: asyncpg.Connection, tenant_id: UUID, boards: list[UUID] | None, start: datetime, end: datetime,
    bucket: str,
) -> list[SeriesRow]:  # fmt: skip
    """One row per ``bucket`` ('hour' | 'day' | 'week' | 'month') from ``start`` to ``end``."""
    return many(
        await conn.fetch(query("mc_dashboard.series"), tenant_id, boards, start, end, bucket), SeriesRow
    )


async def kpis(conn: asyncpg.Connection, tenant_id: UUID, boards: list[UUID] | None) -> Kpis:
    return one(await conn.fetchrow(query("mc_dashboard.kpis"), tenant_id, boards), Kpis)


async def pending_approvals(
    conn: asyncpg.Connection, tenant_id: UUID, boards: list[UUID] | None, limit: int
) -> list[PendingRow]:
    return many(
        await conn.fetch(query("mc_dashboard.pending_approvals"), tenant_id, boards, limit), PendingRow
    )


async def activity(
    conn: asyncpg.Connection, tenant_id: UUID, boards: list[UUID] | None, limit: int, offset: int
) -> list[ActivityRow]:
    """The log newest first (only events of ``boards`` when given)."""
    rows = await conn.fetch(query("mc_dashboard.activity"), tenant_id, boards, limit, offset)
    return many(rows, ActivityRow)


async def task_comments(
    conn: asyncpg.Connection, tenant_id: UUID, boards: list[UUID] | None, limit: int, offset: int,
    event_id: UUID | None = None,
) -> list[CommentFeedRow]:  # fmt: skip
    rows = await conn.fetch(query("mc_dashboard.task_comments"), tenant_id, boards, limit, offset, event_id)
    return many(rows, CommentFeedRow)
