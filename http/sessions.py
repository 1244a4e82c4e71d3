"""Sessions over REST (discovery, branching, cursor reads), agent wake, and traces."""

from __future__ import annotations

from typing import Annotated, Any

from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.sessions import BranchParams, SessionListParams
from clawgate.services.traces import TraceFollowParams, TraceListParams
from clawgate.wire import ChatText, Index

from .types import Api, HttpContext, JSONObject

__all__ = ["ROUTES"]


class FollowQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    cursor: Index = 0
    limit: Annotated[int, Meta(ge=1, le=200)] = 50


class WakeBody(Struct, kw_only=True, forbid_unknown_fields=True):
    message: Annotated[ChatText, Meta(min_length=1)]
    session_key: str = ""
    user_id: Annotated[str, Meta(max_length=255)] = ""
    metadata: dict[str, Any] = {}


async def list_sessions(ctx: HttpContext, params: SessionListParams) -> dict[str, Any]:
    return await ctx.gateway.sessions.list_sessions(ctx.who, params)


async def branch(ctx: HttpContext, body: BranchParams) -> dict[str, Any]:
    return await ctx.gateway.sessions.branch(ctx.who, ctx.path["key"], body)


async def follow(ctx: HttpContext, query: FollowQuery) -> dict[str, Any]:
    return await ctx.gateway.sessions.follow(ctx.who, ctx.path["key"], query.cursor, query.limit)


async def wake(ctx: HttpContext, body: WakeBody) -> dict[str, Any]:
    """Run the agent once on a message (orchestrators: n8n, Paperclip) and answer with the result."""
    return await ctx.gateway.chat.wake(
        ctx.who, ctx.path["id"], body.message, session_key=body.session_key, user_id=body.user_id
    )


async def list_traces(ctx: HttpContext, params: TraceListParams) -> dict[str, Any]:
    rows, total = await ctx.gateway.traces.list_traces(ctx.who, params)
    return {"traces": rows, "total": total, "limit": params.limit, "offset": params.offset}


async def follow_traces(ctx: HttpContext, params: TraceFollowParams) -> dict[str, Any]:
    return await ctx.gateway.traces.follow(ctx.who, params)


async def get_trace(ctx: HttpContext, _: None) -> dict[str, Any]:
    return await ctx.gateway.traces.get(ctx.who, ctx.path["id"])


ROUTES = [
    Api("GET", "/v1/sessions", list_sessions, Role.VIEWER, "List sessions (own sessions for non-admins)",
        query=SessionListParams, response=JSONObject, tag="sessions"),
    Api("POST", "/v1/chat/sessions/{key}/branch", branch, Role.OPERATOR, "Branch a session up to an index",
        body=BranchParams, status=201, response=JSONObject, tag="sessions"),
    Api("GET", "/v1/chat/sessions/{key}/history/follow", follow, Role.VIEWER, "Cursor read of a session's messages",
        query=FollowQuery, response=JSONObject, tag="sessions"),
    Api("POST", "/v1/agents/{id}/wake", wake, Role.OPERATOR, "Run the agent once on a message", body=WakeBody,
        response=JSONObject, tag="agents"),
    Api("GET", "/v1/traces", list_traces, Role.VIEWER, "List traces", query=TraceListParams, response=JSONObject, tag="traces"),
    Api("GET", "/v1/traces/follow", follow_traces, Role.VIEWER, "Traces changed since a time (live tail)",
        query=TraceFollowParams, response=JSONObject, tag="traces"),
    Api("GET", "/v1/traces/{id}", get_trace, Role.VIEWER, "A trace with its spans", response=JSONObject, tag="traces"),
]  # fmt: skip
