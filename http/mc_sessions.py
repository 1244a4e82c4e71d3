"""Mission Control's gateway inspection and tools under ``/api/v1`` (seeds 000/001 ``gateway.py``,
``gateways.py``' template sync, ``souls_directory.py``): this ClawGate's WebSocket commands, its
sessions (their history, a message into one), the agents' workspace files rendered again, and the
souls directory. Org admins only; errors MC's ``{detail, request_id}``. Listed before
``mc_org``'s ``/gateways/{gateway_id}`` so that ``/gateways/commands`` and ``/gateways/sessions``
are not taken for a gateway id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from msgspec import Struct

from clawgate.principal import Role
from clawgate.services.mc_sessions import (
    GatewayCommands,
    GatewaySession,
    GatewaySessionHistory,
    GatewaySessionMessage,
    GatewaySessions,
)
from clawgate.services.mc_templates import SyncQuery, SyncResult
from clawgate.services.souls import SoulMarkdown, SoulSearch, SoulsQuery
from clawgate.wire import decode_query

from .middleware import client_ip
from .mission_control import path_uuid
from .routing import agent_credential
from .types import Api, Handler, HttpContext, Ok

__all__ = ["ROUTES"]


class BoardQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    """``board_id``: resolve the gateway through this board (one the caller reads)."""

    board_id: UUID | None = None


async def commands(ctx: HttpContext, _: None) -> GatewayCommands:
    """The methods and events of the WebSocket protocol this ClawGate serves (its method table)."""
    from clawgate.rpc.methods import EVENTS, METHODS  # the transport's own table, read when asked

    return await ctx.gateway.mc_sessions.commands(ctx.who, list(METHODS), list(EVENTS))


async def list_sessions(ctx: HttpContext, query: BoardQuery) -> GatewaySessions:
    return await ctx.gateway.mc_sessions.list(ctx.who, query.board_id)


async def get_session(ctx: HttpContext, query: BoardQuery) -> GatewaySession:
    return await ctx.gateway.mc_sessions.get(ctx.who, query.board_id, str(ctx.path["session_id"]))


async def session_history(ctx: HttpContext, query: BoardQuery) -> GatewaySessionHistory:
    return await ctx.gateway.mc_sessions.history(ctx.who, query.board_id, str(ctx.path["session_id"]))


async def send_message(ctx: HttpContext, body: GatewaySessionMessage) -> Ok:
    query = decode_query(dict(ctx.request.query_params), BoardQuery)  # a body route: the query by hand
    await ctx.gateway.mc_sessions.send(ctx.who, query.board_id, str(ctx.path["session_id"]), body)
    return Ok()


async def sync_templates(ctx: HttpContext, query: SyncQuery) -> SyncResult:
    return await ctx.gateway.templates.sync(ctx.who, path_uuid(ctx, "gateway_id"), query)


async def _admin_or_agent(ctx: HttpContext) -> None:
    """MC's ``require_admin_or_agent``: a user (the route authenticated it) must be an org admin; an
    agent's token (the route let it through) is checked here, under the agent API's per-IP limit.
    Raises: Forbidden, Unauthorized, ResourceExhausted."""
    if ctx.principal is not None:
        await ctx.gateway.souls.allow(ctx.principal)
        return
    await ctx.gateway.agent_api.limit(client_ip(ctx.request.scope))
    await ctx.gateway.agent_api.authenticate(agent_credential(ctx.request.headers))


async def search_souls(ctx: HttpContext, query: SoulsQuery) -> SoulSearch:
    await _admin_or_agent(ctx)
    return await ctx.gateway.souls.search(query)


async def soul_markdown(ctx: HttpContext, _: None) -> SoulMarkdown:
    await _admin_or_agent(ctx)
    return await ctx.gateway.souls.markdown(str(ctx.path["handle"]), str(ctx.path["slug"]))


_G = "/api/v1/gateways"
_S = _G + "/sessions/{session_id}"
_D = "/api/v1/souls-directory"


def _mc(method: str, path: str, handler: Handler, summary: str, **kw: Any) -> Api:
    # Any caller of the tenant reaches the handler; the service requires an org admin (MC's rule).
    return Api(method, path, handler, Role.VIEWER, f"MC: {summary}", family="mc", tag="mission-control", **kw)


ROUTES = [
    _mc("GET", _G + "/commands", commands, "the WebSocket protocol's methods and events (admins)",
        response=GatewayCommands),
    _mc("GET", _G + "/sessions", list_sessions, "this ClawGate's sessions of the tenant, newest first (admins)",
        query=BoardQuery, response=GatewaySessions),
    _mc("GET", _S, get_session, "a session by its key (admins)", query=BoardQuery, response=GatewaySession),
    _mc("GET", _S + "/history", session_history, "a session's messages (admins)", query=BoardQuery,
        response=GatewaySessionHistory),
    _mc("POST", _S + "/message", send_message, "chat.send into a session: a run of its agent (admins)",
        body=GatewaySessionMessage, response=Ok),
    _mc("POST", _G + "/{gateway_id}/templates/sync", sync_templates,
        "render the board agents' workspace files again (admins)", query=SyncQuery, response=SyncResult),
    _mc("GET", _D + "/search", search_souls, "search the souls directory (admins, agents)", query=SoulsQuery,
        response=SoulSearch, agents=True),
    _mc("GET", _D + "/{handle}/{slug}.md", soul_markdown, "a SOUL's markdown (admins, agents)",
        response=SoulMarkdown, agents=True),
    _mc("GET", _D + "/{handle}/{slug}", soul_markdown, "a SOUL's markdown (admins, agents)",
        response=SoulMarkdown, agents=True),
]  # fmt: skip
