"""Sessions over REST (discovery, branching, cursor reads), agent wake, traces, and the usage figures
derived from them in GoClaw's shapes (its dashboard's Overview and Usage pages)."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.chat import WakeResult
from clawgate.services.embeddings import EmbeddingStatus
from clawgate.services.sessions import Branched, BranchParams, HistoryPage, SessionList, SessionListParams
from clawgate.services.traces import (
    TraceDetail,
    TraceFollow,
    TraceFollowParams,
    TraceList,
    TraceListParams,
    UsageBreakdown,
    UsagePeriods,
    UsagePoints,
    UsageQuery,
)
from clawgate.wire import ChatText, Index

from .types import Api, HttpContext

__all__ = ["ROUTES"]


class FollowQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    cursor: Index = 0
    limit: Annotated[int, Meta(ge=1, le=200)] = 50


class WakeBody(Struct, kw_only=True, forbid_unknown_fields=True):
    message: Annotated[ChatText, Meta(min_length=1)]
    session_key: str = ""
    user_id: Annotated[str, Meta(max_length=255)] = ""
    metadata: dict[str, Any] = {}


async def list_sessions(ctx: HttpContext, params: SessionListParams) -> SessionList:
    return await ctx.gateway.sessions.list_sessions(ctx.who, params)


async def branch(ctx: HttpContext, body: BranchParams) -> Branched:
    return await ctx.gateway.sessions.branch(ctx.who, ctx.path["key"], body)


async def follow(ctx: HttpContext, query: FollowQuery) -> HistoryPage:
    return await ctx.gateway.sessions.follow(ctx.who, ctx.path["key"], query.cursor, query.limit)


async def wake(ctx: HttpContext, body: WakeBody) -> WakeResult:
    """Run the agent once on a message (orchestrators: n8n, Paperclip) and answer with the result."""
    return await ctx.gateway.chat.wake(
        ctx.who, ctx.path["id"], body.message, session_key=body.session_key, user_id=body.user_id
    )


async def list_traces(ctx: HttpContext, params: TraceListParams) -> TraceList:
    return await ctx.gateway.traces.list_traces(ctx.who, params)


async def follow_traces(ctx: HttpContext, params: TraceFollowParams) -> TraceFollow:
    return await ctx.gateway.traces.follow(ctx.who, params)


async def get_trace(ctx: HttpContext, _: None) -> TraceDetail:
    return await ctx.gateway.traces.get(ctx.who, ctx.path["id"])


async def timeseries(ctx: HttpContext, query: UsageQuery) -> UsagePoints:
    return await ctx.gateway.traces.usage_timeseries(ctx.who, query)


async def breakdown(ctx: HttpContext, query: UsageQuery) -> UsageBreakdown:
    return await ctx.gateway.traces.usage_breakdown(ctx.who, query)


async def summary(ctx: HttpContext, query: UsageQuery) -> UsagePeriods:
    return await ctx.gateway.traces.usage_period(ctx.who, query)


async def embedding_status(ctx: HttpContext, _: None) -> EmbeddingStatus:
    return await ctx.gateway.embeddings.status(ctx.who)


ROUTES = [
    Api("GET", "/v1/sessions", list_sessions, Role.VIEWER, "List sessions (own sessions for non-admins)",
        query=SessionListParams, response=SessionList, tag="sessions"),
    Api("POST", "/v1/chat/sessions/{key}/branch", branch, Role.OPERATOR, "Branch a session up to an index",
        body=BranchParams, status=201, response=Branched, tag="sessions"),
    Api("GET", "/v1/chat/sessions/{key}/history/follow", follow, Role.VIEWER, "Cursor read of a session's messages",
        query=FollowQuery, response=HistoryPage, tag="sessions"),
    Api("POST", "/v1/agents/{id}/wake", wake, Role.OPERATOR, "Run the agent once on a message", body=WakeBody,
        response=WakeResult, tag="agents"),
    Api("GET", "/v1/traces", list_traces, Role.VIEWER, "List traces", query=TraceListParams, response=TraceList, tag="traces"),
    Api("GET", "/v1/traces/follow", follow_traces, Role.VIEWER, "Traces changed since a time (live tail)",
        query=TraceFollowParams, response=TraceFollow, tag="traces"),
    Api("GET", "/v1/traces/{id}", get_trace, Role.VIEWER, "A trace with its spans", response=TraceDetail, tag="traces"),
    Api("GET", "/v1/usage/timeseries", timeseries, Role.VIEWER,
        "Requests, tokens, errors and users per hour or day of [from, to) (non-admins: their own)",
        query=UsageQuery, response=UsagePoints, tag="usage"),
    Api("GET", "/v1/usage/breakdown", breakdown, Role.VIEWER,
        "Requests, LLM calls and tokens of [from, to) by provider, model or channel", query=UsageQuery,
        response=UsageBreakdown, tag="usage"),
    Api("GET", "/v1/usage/summary", summary, Role.VIEWER,
        "Totals of a period up to now and of the period before it", query=UsageQuery, response=UsagePeriods,
        tag="usage"),
    Api("GET", "/v1/embedding/status", embedding_status, Role.VIEWER, "The embedder memory search uses, or why none",
        response=EmbeddingStatus, tag="usage"),
]  # fmt: skip
