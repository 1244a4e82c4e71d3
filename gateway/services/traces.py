"""Traces (one per run, spans for LLM and tool calls), usage records, and run timelines."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from msgspec import Meta, Struct

from clawgate.errors import InvalidRequest, NotFound
from clawgate.principal import Principal
from clawgate.services import parse_id
from clawgate.services.chat import ChatService
from clawgate.store import Database, sessions, traces
from clawgate.store.types import SpanRow, TraceRow
from clawgate.wire import NonNegative

__all__ = [
    "TimelineParams",
    "TraceDetail",
    "TraceFollow",
    "TraceFollowParams",
    "TraceList",
    "TraceListParams",
    "TraceService",
]


class TraceListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agent_id: str = ""
    session_key: str = ""
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


class TimelineParams(Struct, kw_only=True, forbid_unknown_fields=True):
    runId: str = ""
    sessionKey: str = ""
    limit: Annotated[int, Meta(ge=1, le=500)] = 200
    offset: NonNegative = 0


class TraceList(Struct, kw_only=True):
    """A page of traces, newest first."""

    traces: list[TraceRow]
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
        agent_id = None
        if params.agent_id:
            agent_id = (await self._chat.resolve_agent(who, params.agent_id, "")).id
        async with self._db.connection() as conn:
            rows = await traces.list_traces(
                conn, who.tenant_id, user_id=None if who.sees_all else who.user_id, agent_id=agent_id,
                session_key=params.session_key or None, limit=params.limit, offset=params.offset,
            )  # fmt: skip
        return TraceList(traces=rows, limit=params.limit, offset=params.offset)

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

    async def usage(self, who: Principal, agent: str, limit: int, offset: int) -> dict[str, Any]:
        user = None if who.sees_all else who.user_id
        async with self._db.connection() as conn:
            rows = await traces.usage_list(
                conn, who.tenant_id, agent_key=agent or None, user_id=user, limit=limit, offset=offset
            )
            total = await traces.usage_count(conn, who.tenant_id, agent_key=agent or None, user_id=user)
        records = [
            {"agentId": r.agent_key, "sessionKey": r.session_key, "model": r.model, "provider": r.provider,
             "inputTokens": r.input_tokens, "outputTokens": r.output_tokens,
             "totalTokens": r.input_tokens + r.output_tokens, "timestamp": int(r.created_at.timestamp() * 1000)}
            for r in rows
        ]  # fmt: skip
        return {"records": records, "total": total, "limit": limit, "offset": offset}

    async def usage_summary(self, who: Principal) -> dict[str, Any]:
        async with self._db.connection() as conn:
            rows = await traces.usage_summary(
                conn, who.tenant_id, user_id=None if who.sees_all else who.user_id
            )
        by_agent = {
            r.agent_key: {"inputTokens": r.input_tokens, "outputTokens": r.output_tokens,
                          "totalTokens": r.input_tokens + r.output_tokens, "sessions": r.sessions}
            for r in rows
        }  # fmt: skip
        return {"byAgent": by_agent, "totalRecords": sum(r.records for r in rows)}

    async def timeline(self, who: Principal, params: TimelineParams) -> dict[str, Any]:
        """A run's items in order: messages it wrote and its run status (``run.timeline.get``)."""
        if not params.runId and not params.sessionKey:
            raise InvalidRequest(detail="runId or sessionKey is required")
        run = await self._chat.run(who, params.runId) if params.runId else None
        key = run.session_key if run is not None else params.sessionKey
        session = await self._chat.session(who, key)
        async with self._db.connection() as conn:
            rows = await sessions.messages(conn, who.tenant_id, session.id)
        items: list[dict[str, Any]] = []
        for row in rows:
            if run is not None and row.run_id != run.id:
                continue
            kind = (
                "tool.result"
                if row.role == "tool"
                else ("tool.call" if row.tool_calls else f"{row.role}.message")
            )
            items.append(
                {"id": row.idx, "run_id": str(row.run_id) if row.run_id else None, "session_key": key, "seq": len(items) + 1,
                 "item_type": kind, "status": "error" if row.is_error else "ok", "title": row.role,
                 "preview": row.content[:200], "created_at": row.created_at}
            )  # fmt: skip
        if run is not None:
            items.append(
                {"id": None, "run_id": str(run.id), "session_key": key, "seq": len(items) + 1, "item_type": "run.status",
                 "status": run.status, "title": run.status, "preview": run.error[:200], "created_at": run.ended_at or run.started_at}
            )  # fmt: skip
        page = items[params.offset : params.offset + params.limit]
        return {
            "runId": params.runId or None,
            "sessionKey": key,
            "items": page,
            "limit": params.limit,
            "offset": params.offset,
        }
