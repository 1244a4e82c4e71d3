"""ClawGate as an MCP server (issue 13, item 4): streamable HTTP at ``/mcp``.

Authenticated like ``/v1`` (the gateway token or an API key, with the ``X-GoClaw-*`` identity
headers), operator role at least, scoped to the credential's tenant: each live agent of the tenant
is a tool ``ask_<agent_key>`` taking ``message``, which runs the agent through the same service as
``/v1/chat/completions`` (not streamed) and answers with its reply.

Stateless (a fresh MCP transport per HTTP request, JSON answers): any worker can serve any request,
so nothing has to be shared between processes.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from clawgate.errors import Forbidden, GatewayError
from clawgate.logging import bind_caller
from clawgate.principal import Principal, Role
from clawgate.providers.types import ChatMessage
from clawgate.services.openai_compat import ExchangeRequest, OpenAIService
from clawgate.state import Gateway

from .errors import render_exception
from .routing import authenticate

__all__ = ["McpEndpoint", "tool_name"]

_PRINCIPAL = "clawgate.mcp.principal"
_GATEWAY = "clawgate.mcp.gateway"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"message": {"type": "string", "description": "What to ask the agent"}},
    "required": ["message"],
}


def tool_name(agent_key: str) -> str:
    """The tool of an agent: ``ask_`` + its key (characters MCP names refuse become ``_``)."""
    return ("ask_" + _UNSAFE.sub("_", agent_key))[:128]


def _caller(ctx: ServerRequestContext[Any]) -> tuple[Gateway, Principal]:
    request = ctx.request
    assert isinstance(request, Request), "the /mcp endpoint serves streamable HTTP only"
    return request.scope[_GATEWAY], request.scope[_PRINCIPAL]


async def _list_tools(
    ctx: ServerRequestContext[Any], _: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    gateway, who = _caller(ctx)
    agents = await gateway.agents.list_agents(who)
    return types.ListToolsResult(
        tools=[
            types.Tool(
                name=tool_name(a.agent_key),
                description=f"Ask the agent {a.display_name or a.agent_key}. {a.agent_description}".strip(),
                input_schema=_SCHEMA,
            )
            for a in agents
        ]
    )


async def _call_tool(
    ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
) -> types.CallToolResult:
    gateway, who = _caller(ctx)
    message = (params.arguments or {}).get("message")
    if not isinstance(message, str) or not message.strip():
        return _error("message must be a non-empty string")
    agent = next(
        (a for a in await gateway.agents.list_agents(who) if tool_name(a.agent_key) == params.name), None
    )
    if agent is None:
        return _error(f"unknown tool {params.name!r}")
    try:
        exchange = await gateway.openai.start(
            who,
            ExchangeRequest(
                model=agent.agent_key, messages=[ChatMessage(role="user", content=message)], prefix="mcp-"
            ),
        )
        result = await OpenAIService.outcome(exchange)
    except GatewayError as exc:
        return _error(str(exc))
    return types.CallToolResult(content=[types.TextContent(text=result.content)])


def _error(text: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=text)], is_error=True)


class McpEndpoint:
    """The ASGI app at ``/mcp``; ``running()`` must wrap the app's lifespan."""

    def __init__(self) -> None:
        server: Server[Any] = Server("clawgate", on_list_tools=_list_tools, on_call_tool=_call_tool)
        self._manager = StreamableHTTPSessionManager(server, json_response=True, stateless=True)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self._manager.run():
            yield

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        gateway: Gateway = request.state.gateway
        try:
            who = await authenticate(request, gateway, Role.OPERATOR)
            bind_caller(who)
            if who.role < Role.OPERATOR:
                raise Forbidden(action="/mcp", role=Role.OPERATOR.label)
        except Exception as exc:  # the GoClaw envelope, as on /v1
            await render_exception(request, exc)(scope, receive, send)
            return
        scope[_GATEWAY], scope[_PRINCIPAL] = gateway, who
        await self._manager.handle_request(scope, receive, send)
