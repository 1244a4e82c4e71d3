"""Mission Control's dashboard metrics (``/api/v1/metrics/dashboard``) and activity feeds
(``/api/v1/activity``, ``/api/v1/activity/task-comments``), computed in SQL per tenant over the
boards the caller reads (an admin: every board, and the events of no board too).

Series (MC's shape): throughput is tasks done per bucket, cycle time their mean hours from in
progress to done, error rate the share of the log's events that are failures (kinds ending in
``failed``), WIP the tasks last changed in the bucket by MC status; each for the range asked and
for the range just before it (``comparison``).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final, Literal
from uuid import UUID

import msgspec
from msgspec import Struct

from clawgate.principal import Principal
from clawgate.services.boards import BoardService
from clawgate.store import Database
from clawgate.store import mc_dashboard as store
from clawgate.store.mc_dashboard import ActivityRead, PendingApproval, SeriesRow

__all__ = ["ActivityRead", "CommentFeedItem", "DashboardMetrics", "DashboardService", "RangeKey"]

RangeKey = Literal["24h", "3d", "7d", "14d", "1m", "3m", "6m", "1y"]
RANGES: Final[dict[str, tuple[timedelta, str]]] = {
    "24h": (timedelta(hours=24), "hour"), "3d": (timedelta(days=3), "day"), "7d": (timedelta(days=7), "day"),
    "14d": (timedelta(days=14), "day"), "1m": (timedelta(days=30), "day"), "3m": (timedelta(days=91), "week"),
    "6m": (timedelta(days=182), "week"), "1y": (timedelta(days=365), "month"),
}  # fmt: skip
PENDING_LISTED: Final = 10


class SeriesPoint(Struct, kw_only=True):
    period: datetime
    value: float


class WipPoint(Struct, kw_only=True):
    period: datetime
    inbox: int
    todo: int
    in_progress: int
    in_review: int
    sprint_done: int
    done: int


class RangeSeries(Struct, kw_only=True):
    range: str
    bucket: str
    points: list[SeriesPoint]


class WipRangeSeries(Struct, kw_only=True):
    range: str
    bucket: str
    points: list[WipPoint]


class SeriesSet(Struct, kw_only=True):
    primary: RangeSeries
    comparison: RangeSeries


class WipSeriesSet(Struct, kw_only=True):
    primary: WipRangeSeries
    comparison: WipRangeSeries


class Kpis(Struct, kw_only=True):
    active_agents: int
    tasks_in_progress: int
    inbox_tasks: int
    in_progress_tasks: int
    in_review_tasks: int
    done_tasks: int
    error_rate_pct: float
    median_cycle_time_hours_7d: float | None


class PendingApprovals(Struct, kw_only=True):
    total: int
    items: list[PendingApproval]


class DashboardMetrics(Struct, kw_only=True):
    """MC's ``DashboardMetrics``."""

    range: str
    generated_at: datetime
    kpis: Kpis
    throughput: SeriesSet
    cycle_time: SeriesSet
    error_rate: SeriesSet
    wip: WipSeriesSet
    pending_approvals: PendingApprovals


class CommentFeedItem(Struct, kw_only=True):
    """MC's ``ActivityTaskCommentFeedItemRead``; ``agent_role`` is the agent's role on the board."""

    id: UUID
    created_at: datetime
    message: str | None
    agent_id: UUID | None
    agent_name: str | None
    agent_role: str | None
    task_id: UUID
    task_title: str
    board_id: UUID
    board_name: str


def _rate(failed: int, events: int) -> float:
    return round(100.0 * failed / events, 2) if events else 0.0


def _sets(key: str, bucket: str, primary: list[SeriesRow], before: list[SeriesRow]) -> dict[str, SeriesSet]:
    def one(rows: list[SeriesRow], value: str) -> RangeSeries:
        points = []
        for r in rows:
            if value == "throughput":
                v = float(r.throughput)
            elif value == "cycle_time":
                v = round(r.cycle_hours or 0.0, 2)
            else:
                v = _rate(r.failed, r.events)
            points.append(SeriesPoint(period=r.period, value=v))
        return RangeSeries(range=key, bucket=bucket, points=points)

    return {name: SeriesSet(primary=one(primary, name), comparison=one(before, name))
            for name in ("throughput", "cycle_time", "error_rate")}  # fmt: skip


def _wip(key: str, bucket: str, rows: list[SeriesRow]) -> WipRangeSeries:
    points = [WipPoint(period=r.period, inbox=r.inbox, todo=0, in_progress=r.in_progress, in_review=r.in_review,
                       sprint_done=0, done=r.done) for r in rows]  # fmt: skip
    return WipRangeSeries(range=key, bucket=bucket, points=points)


class DashboardService:
    """Dashboard metrics and activity feeds over the boards the caller reads."""

    def __init__(self, db: Database, boards: BoardService) -> None:
        self._db = db
        self._boards = boards

    async def _scope(self, who: Principal, board_id: UUID | None) -> list[UUID] | None:
        """The boards read: one (``board_id``, which must be readable), else every readable one."""
        if board_id is not None:
            await self._boards.board(who, board_id)
            return [board_id]
        return await self._boards.readable(who)

    async def metrics(self, who: Principal, key: RangeKey, board_id: UUID | None) -> DashboardMetrics:
        """Raises: NotFound (a board the caller cannot read)."""
        boards = await self._scope(who, board_id)
        span, bucket = RANGES[key]
        end = datetime.now(UTC)
        start = end - span
        async with self._db.connection() as conn:
            primary = await store.series(conn, who.tenant_id, boards, start, end, bucket)
            before = await store.series(conn, who.tenant_id, boards, start - span, start, bucket)
            k = await store.kpis(conn, who.tenant_id, boards)
            pending = await store.pending_approvals(conn, who.tenant_id, boards, PENDING_LISTED)
        kpis = Kpis(
            active_agents=k.active_agents, tasks_in_progress=k.in_progress_tasks, inbox_tasks=k.inbox_tasks,
            in_progress_tasks=k.in_progress_tasks, in_review_tasks=k.in_review_tasks, done_tasks=k.done_tasks,
            error_rate_pct=_rate(sum(r.failed for r in primary), sum(r.events for r in primary)),
            median_cycle_time_hours_7d=None if k.median_cycle_hours_7d is None else round(k.median_cycle_hours_7d, 2),
        )  # fmt: skip
        sets = _sets(key, bucket, primary, before)
        items = [msgspec.convert(p, PendingApproval, from_attributes=True) for p in pending]
        return DashboardMetrics(
            range=key, generated_at=end, kpis=kpis, throughput=sets["throughput"], cycle_time=sets["cycle_time"],
            error_rate=sets["error_rate"],
            wip=WipSeriesSet(primary=_wip(key, bucket, primary), comparison=_wip(key, bucket, before)),
            pending_approvals=PendingApprovals(total=pending[0].total if pending else 0, items=items),
        )  # fmt: skip

    async def activity(
        self, who: Principal, board_id: UUID | None, limit: int, offset: int
    ) -> tuple[list[ActivityRead], int]:
        """The log newest first, over the boards read. Raises: NotFound (``board_id``)."""
        boards = await self._scope(who, board_id)
        async with self._db.connection() as conn:
            rows = await store.activity(conn, who.tenant_id, boards, limit, offset)
        items = [msgspec.convert(r, ActivityRead, from_attributes=True) for r in rows]
        return items, rows[0].total if rows else 0

    async def task_comments(
        self, who: Principal, board_id: UUID | None, limit: int, offset: int, event_id: UUID | None = None
    ) -> tuple[list[CommentFeedItem], int]:
        """Task comments newest first, with their agent, task and board (only the comment event
        ``event_id`` when given: the feed's stream)."""
        boards = await self._scope(who, board_id)
        async with self._db.connection() as conn:
            rows = await store.task_comments(conn, who.tenant_id, boards, limit, offset, event_id)
        items = [
            CommentFeedItem(
                id=r.id, created_at=r.created_at, message=r.message, agent_id=r.agent_id,
                agent_name=r.agent_name or r.agent_key, agent_role=r.agent_role, task_id=r.task_id,
                task_title=r.task_title, board_id=r.board_id, board_name=r.board_name,
            )
            for r in rows
        ]  # fmt: skip
        return items, rows[0].total if rows else 0
