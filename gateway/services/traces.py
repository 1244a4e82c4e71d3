"""Traces (one per run, spans for LLM and tool calls), usage records, and run timelines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct

from clawgate.errors import InvalidRequest, NotFound
from clawgate.principal import Principal
from clawgate.services import parse_id
from clawgate.services.chat import ChatService
from clawgate.store import Database, sessions, traces
from clawgate.store.traces import TraceFilter, UsageFilter
from clawgate.store.types import SpanRow, TraceRow, UsageBucket, UsageShare
from clawgate.wire import NonNegative

__all__ = [
    "AgentUsage",
    "QuotaUsage",
    "Timeline",
    "TimelineItem",
    "TimelineParams",
    "TraceDetail",
    "TraceFollow",
    "TraceFollowParams",
    "TraceList",
    "TraceListParams",
    "TraceService",
    "UsageBreakdown",
    "UsagePage",
    "UsagePeriods",
    "UsagePoints",
    "UsageQuery",
    "UsageRecord",
    "UsageSummary",
]

Aware = Annotated[datetime, Meta(tz=True, description="RFC 3339 time with its offset")]
_PERIODS: Final[dict[str, timedelta]] = {"24h": timedelta(hours=24), "7d": timedelta(days=7),
                                         "30d": timedelta(days=30)}  # fmt: skip


class TraceListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's trace list query (its dashboard's Traces page filters by ``status``, ``channel``,
    ``user_id`` and the time the run started, ``from``/``to``)."""

    agent_id: str = ""
    session_key: str = ""
    user_id: str = ""
    status: Literal["", "running", "completed", "error", "cancelled"] = ""
    channel: str = ""
    from_: Aware | None = msgspec.field(name="from", default=None)
    to: Aware | None = None
    limit: Annotated[int, Meta(ge=1, le=500)] = 50
    offset: NonNegative = 0


class TraceFollowParams(Struct, kw_only=True, forbid_unknown_fields=True):
    session_key: str = ""
    agent_id: str = ""
    status: str = ""
    channel: str = ""
    since: datetime | None = None
    limit: Annotated[int, Meta(ge=1, le=200)] = 50
    include_spans: bool = False


class UsageQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's usage analytics query (``/v1/usage/timeseries|breakdown|summary``): a time
    range (``from``, ``to``), filters, ``group_by`` (the bucket) and ``period`` (the summary's
    window, ending now; the summary ignores ``from``/``to`` as GoClaw does). ``group_by`` is a time
    bucket for the time series (``hour``, the default, or ``day``) and a dimension for the breakdown
    (``provider``, the default, ``model`` or ``channel``)."""

    from_: Aware | None = msgspec.field(name="from", default=None)
    to: Aware | None = None
    agent_id: str = ""
    provider: str = ""
    model: str = ""
    channel: str = ""
    group_by: Literal["", "hour", "day", "provider", "model", "channel"] = ""
    period: Literal["today", "24h", "7d", "30d"] = "24h"


class UsagePoint(UsageBucket, kw_only=True):
    """One bucket in GoClaw's ``SnapshotTimeSeries`` shape. What ClawGate does not record (cache and
    thinking tokens, memory and knowledge-graph counts, cost: no price list) is 0."""

    cache_read_tokens: int = 0
    thinking_tokens: int = 0
    memory_docs: int = 0
    memory_chunks: int = 0
    kg_entities: int = 0
    kg_relations: int = 0
    total_cost: float = 0.0


class UsagePoints(Struct, kw_only=True):
    points: list[UsagePoint]


class UsageShareOut(UsageShare, kw_only=True):
    """One breakdown row in GoClaw's shape (``total_cost`` 0: no price list)."""

    total_cost: float = 0.0


class UsageBreakdown(Struct, kw_only=True):
    rows: list[UsageShareOut]


class UsageTotals(Struct, kw_only=True):
    """A period's totals in GoClaw's usage summary shape (``cost`` 0: no price list)."""

    requests: int
    input_tokens: int
    output_tokens: int
    unique_users: int
    errors: int
    llm_calls: int
    tool_calls: int
    avg_duration_ms: int
    cost: float = 0.0


class UsagePeriods(Struct, kw_only=True):
    current: UsageTotals
    previous: UsageTotals


class QuotaUsage(Struct, kw_only=True):
    """``quota.usage``: today's figures; no per-user quotas (``enabled`` false, no ``entries``)."""

    requestsToday: int
    inputTokensToday: int
    outputTokensToday: int
    uniqueUsersToday: int
    costToday: float = 0.0
    enabled: bool = False
    entries: list[Any] = msgspec.field(default_factory=list)


class TimelineParams(Struct, kw_only=True, forbid_unknown_fields=True):
    runId: str = ""
    sessionKey: str = ""
    limit: Annotated[int, Meta(ge=1, le=500)] = 200
    offset: NonNegative = 0


class TimelineItem(Struct, kw_only=True):
    """One item of a run's timeline: a message it wrote (``id`` its index) or, last, the run's
    status (``id`` null)."""

    id: int | None
    run_id: str | None
    session_key: str
    seq: int
    item_type: str
    status: str
    title: str
    preview: str
    created_at: datetime


class Timeline(Struct, kw_only=True):
    """``run.timeline.get``: a page of a run's (or a session's) items in order."""

    runId: str | None
    sessionKey: str
    items: list[TimelineItem]
    limit: int
    offset: int


class UsageRecord(Struct, kw_only=True):
    """One run's token usage (``usage.get``); ``timestamp`` in ms."""

    agentId: str
    sessionKey: str
    model: str
    provider: str
    inputTokens: int
    outputTokens: int
    totalTokens: int
    timestamp: int


class UsagePage(Struct, kw_only=True):
    records: list[UsageRecord]
    total: int
    limit: int
    offset: int


class AgentUsage(Struct, kw_only=True):
    inputTokens: int
    outputTokens: int
    totalTokens: int
    sessions: int


class UsageSummary(Struct, kw_only=True):
    """``usage.summary``: tokens and sessions per agent key, and how many usage records in all."""

    byAgent: dict[str, AgentUsage]
    totalRecords: int


class TraceList(Struct, kw_only=True):
    """A page of traces, newest first."""

    traces: list[TraceRow]
    total: int
    limit: int
    offset: int


class TraceDetail(Struct, kw_only=True):
    """A trace with its spans."""

    trace: TraceRow
    spans: list[SpanRow]


class TraceFollow(Struct, kw_only=True):
    """Traces changed since ``since``; ``cursor`` is the next ``since``. Each item of ``traces`` is
    a trace, or with ``include_spans`` a ``{trace, spans}`` object (``TraceDetail``)."""

    traces: list[Any]
    cursor: datetime


class TraceService:
    def __init__(self, db: Database, chat: ChatService) -> None:
        self._db = db
        self._chat = chat

    async def list_traces(self, who: Principal, params: TraceListParams) -> TraceList:
        """A page of traces, the newest first, and how many match. Non-admins see their own only
        (``user_id`` filters for admins). Raises: NotFound (``agent_id``)."""
        agent_id = None
        if params.agent_id:
            agent_id = (await self._chat.resolve_agent(who, params.agent_id, "")).id
        where = TraceFilter(
            user_id=(params.user_id or None) if who.sees_all else who.user_id, agent_id=agent_id,
            session_key=params.session_key or None, status=params.status or None,
            channel=params.channel or None, start=params.from_, end=params.to,
        )  # fmt: skip
        async with self._db.connection() as conn:
            rows, total = await traces.list_traces(
                conn, who.tenant_id, where, limit=params.limit, offset=params.offset
            )
        return TraceList(traces=rows, total=total, limit=params.limit, offset=params.offset)

    async def follow(self, who: Principal, params: TraceFollowParams) -> TraceFollow:
        """Traces changed after ``since`` for one session or agent; ``cursor`` is the next ``since``."""
        if not params.session_key and not params.agent_id:
            raise InvalidRequest(detail="session_key or agent_id is required")
        agent_id = (await self._chat.resolve_agent(who, params.agent_id, "")).id if params.agent_id else None
        since = params.since or datetime.fromtimestamp(0, UTC)
        async with self._db.connection() as conn:
            rows = await traces.follow(
                conn, who.tenant_id, user_id=None if who.sees_all else who.user_id, agent_id=agent_id,
                session_key=params.session_key or None, status=params.status or None,
                channel=params.channel or None, since=since, limit=params.limit,
            )  # fmt: skip
            items: list[Any] = list(rows)
            if params.include_spans:
                items = [
                    TraceDetail(trace=row, spans=await traces.spans(conn, who.tenant_id, row.id))
                    for row in rows
                ]
        cursor = max((r.end_time or r.start_time for r in rows), default=since)
        return TraceFollow(traces=items, cursor=cursor)

    async def get(self, who: Principal, trace_id: str) -> TraceDetail:
        ident = parse_id(trace_id, "trace")
        async with self._db.connection() as conn:
            trace = await traces.get(conn, who.tenant_id, ident)
            if trace is None or (not who.sees_all and trace.user_id != who.user_id):
                raise NotFound(kind="trace", id=trace_id)
            spans = await traces.spans(conn, who.tenant_id, ident)
        return TraceDetail(trace=trace, spans=spans)

    async def usage(self, who: Principal, agent: str, limit: int, offset: int) -> UsagePage:
        user = None if who.sees_all else who.user_id
        async with self._db.connection() as conn:
            rows = await traces.usage_list(
                conn, who.tenant_id, agent_key=agent or None, user_id=user, limit=limit, offset=offset
            )
            total = await traces.usage_count(conn, who.tenant_id, agent_key=agent or None, user_id=user)
        records = [
            UsageRecord(agentId=r.agent_key, sessionKey=r.session_key, model=r.model, provider=r.provider,
                        inputTokens=r.input_tokens, outputTokens=r.output_tokens,
                        totalTokens=r.input_tokens + r.output_tokens,
                        timestamp=int(r.created_at.timestamp() * 1000))
            for r in rows
        ]  # fmt: skip
        return UsagePage(records=records, total=total, limit=limit, offset=offset)

    async def usage_summary(self, who: Principal) -> UsageSummary:
        async with self._db.connection() as conn:
            rows = await traces.usage_summary(
                conn, who.tenant_id, user_id=None if who.sees_all else who.user_id
            )
        by_agent = {
            r.agent_key: AgentUsage(inputTokens=r.input_tokens, outputTokens=r.output_tokens,
                                    totalTokens=r.input_tokens + r.output_tokens, sessions=r.sessions)
            for r in rows
        }  # fmt: skip
        return UsageSummary(byAgent=by_agent, totalRecords=sum(r.records for r in rows))

    # -- usage analytics (GoClaw's dashboard: Overview and Usage) -----------------------------------

    async def _where(self, who: Principal, q: UsageQuery, start: datetime, end: datetime) -> UsageFilter:
        agent_id = (await self._chat.resolve_agent(who, q.agent_id, "")).id if q.agent_id else None
        return UsageFilter(
            start=start, end=end, user_id=None if who.sees_all else who.user_id, agent_id=agent_id,
            channel=q.channel or None, provider=q.provider or None, model=q.model or None,
        )  # fmt: skip

    async def _usage(
        self, who: Principal, q: UsageQuery, start: datetime, end: datetime, unit: str = "hour"
    ) -> tuple[UsageBucket, list[UsageBucket]]:
        where = await self._where(who, q, start, end)
        async with self._db.connection() as conn:
            return await traces.usage_buckets(conn, who.tenant_id, where, unit)

    async def usage_timeseries(self, who: Principal, q: UsageQuery) -> UsagePoints:
        """``{points:[...]}``: the traces started in ``[from, to)`` per ``group_by`` bucket (buckets
        without traces are left out). Raises: InvalidRequest (``from``/``to`` missing or reversed,
        ``group_by`` not a time bucket), NotFound (``agent_id``)."""
        start, end = _range(q)
        unit = _grouping(q, ("hour", "day"))
        _, buckets = await self._usage(who, q, start, end, unit)
        return UsagePoints(points=[_point(b) for b in buckets])

    async def usage_breakdown(self, who: Principal, q: UsageQuery) -> UsageBreakdown:
        """``{rows:[...]}``: the traces of ``[from, to)`` by ``channel``, or their LLM calls by
        ``provider`` or ``model`` (``group_by``); ``avg_duration_ms`` is of the LLM calls.
        Raises: InvalidRequest (as the time series), NotFound (``agent_id``)."""
        start, end = _range(q)
        by = _grouping(q, ("provider", "model", "channel"))
        where = await self._where(who, q, start, end)
        async with self._db.connection() as conn:
            rows = await traces.usage_breakdown(conn, who.tenant_id, where, by)
        return UsageBreakdown(rows=[UsageShareOut(**msgspec.structs.asdict(r)) for r in rows])

    async def usage_period(self, who: Principal, q: UsageQuery) -> UsagePeriods:
        """``{current, previous}``: totals of ``period`` up to now and of the period before it.
        Raises: NotFound (``agent_id``)."""
        now = datetime.now(UTC)
        if q.period == "today":
            start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            before = start - timedelta(days=1)
        else:
            start = now - _PERIODS[q.period]
            before = start - _PERIODS[q.period]
        current, _ = await self._usage(who, q, start, now)
        previous, _ = await self._usage(who, q, before, start)
        return UsagePeriods(current=_summary(current), previous=_summary(previous))

    async def quota_usage(self, who: Principal) -> QuotaUsage:
        """``quota.usage``: today's (UTC) requests, tokens and users. ClawGate has no per-user quota
        (GoClaw's ``gateway.quota``): ``enabled`` is false and ``entries`` empty."""
        today = (await self.usage_period(who, UsageQuery(period="today"))).current
        return QuotaUsage(
            requestsToday=today.requests, inputTokensToday=today.input_tokens,
            outputTokensToday=today.output_tokens, uniqueUsersToday=today.unique_users,
        )  # fmt: skip

    async def timeline(self, who: Principal, params: TimelineParams) -> Timeline:
        """A run's items in order: messages it wrote and its run status (``run.timeline.get``)."""
        if not params.runId and not params.sessionKey:
            raise InvalidRequest(detail="runId or sessionKey is required")
        run = await self._chat.run(who, params.runId) if params.runId else None
        key = run.session_key if run is not None else params.sessionKey
        session = await self._chat.session(who, key)
        async with self._db.connection() as conn:
            rows = await sessions.messages(conn, who.tenant_id, session.id)
        items: list[TimelineItem] = []
        for row in rows:
            if run is not None and row.run_id != run.id:
                continue
            kind = (
                "tool.result"
                if row.role == "tool"
                else ("tool.call" if row.tool_calls else f"{row.role}.message")
            )
            items.append(
                TimelineItem(id=row.idx, run_id=str(row.run_id) if row.run_id else None, session_key=key,
                             seq=len(items) + 1, item_type=kind, status="error" if row.is_error else "ok",
                             title=row.role, preview=row.content[:200], created_at=row.created_at)
            )  # fmt: skip
        if run is not None:
            items.append(
                TimelineItem(id=None, run_id=str(run.id), session_key=key, seq=len(items) + 1,
                             item_type="run.status", status=run.status, title=run.status,
                             preview=run.error[:200], created_at=run.ended_at or run.started_at)
            )  # fmt: skip
        page = items[params.offset : params.offset + params.limit]
        return Timeline(
            runId=params.runId or None, sessionKey=key, items=page, limit=params.limit, offset=params.offset
        )


def _range(q: UsageQuery) -> tuple[datetime, datetime]:
    """``[from, to)``. Raises: InvalidRequest naming the one missing, or ``to`` before ``from``."""
    if q.from_ is None or q.to is None:
        missing = "$.from" if q.from_ is None else "$.to"
        raise InvalidRequest(detail="from and to are required", details={"field": missing})
    if q.to < q.from_:
        raise InvalidRequest(detail="to is before from", details={"field": "$.to"})
    return q.from_, q.to


def _grouping(q: UsageQuery, allowed: tuple[str, ...]) -> str:
    """``group_by``, the first of ``allowed`` when absent. Raises: InvalidRequest naming it."""
    if not q.group_by:
        return allowed[0]
    if q.group_by not in allowed:
        raise InvalidRequest(
            detail=f"group_by must be one of {', '.join(allowed)} here", details={"field": "$.group_by"}
        )
    return q.group_by


def _point(b: UsageBucket) -> UsagePoint:
    return UsagePoint(**msgspec.structs.asdict(b))


def _summary(b: UsageBucket) -> UsageTotals:
    return UsageTotals(
        requests=b.request_count, input_tokens=b.input_tokens, output_tokens=b.output_tokens,
        unique_users=b.unique_users, errors=b.error_count, llm_calls=b.llm_call_count,
        tool_calls=b.tool_call_count, avg_duration_ms=b.avg_duration_ms,
    )  # fmt: skip
