"""MCP servers over REST (GoClaw's ``/v1/mcp/*``): records, test-before-save, reconnect, tool
discovery and grants to agents and users. Every route needs admin and stays in the caller's tenant."""

from __future__ import annotations

from msgspec import Struct

from clawgate.principal import Role
from clawgate.services.mcp import (
    AgentGrantBody,
    GrantList,
    McpServer,
    McpServerBody,
    McpToolInfo,
    TestResult,
    UserGrantBody,
)
from clawgate.store.mcp import AgentGrant

from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class ServerList(Struct):
    servers: list[McpServer]


class ToolList(Struct):
    tools: list[McpToolInfo]


class AgentGrants(Struct):
    grants: list[AgentGrant]


async def list_servers(ctx: HttpContext, _: None) -> ServerList:
    return ServerList(servers=await ctx.gateway.mcp.list_servers(ctx.who))


async def create_server(ctx: HttpContext, body: McpServerBody) -> McpServer:
    return await ctx.gateway.mcp.create(ctx.who, body)


async def get_server(ctx: HttpContext, _: None) -> McpServer:
    return await ctx.gateway.mcp.get(ctx.who, ctx.path["id"])


async def update_server(ctx: HttpContext, body: McpServerBody) -> McpServer:
    return await ctx.gateway.mcp.update(ctx.who, ctx.path["id"], body)


async def delete_server(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.mcp.delete(ctx.who, ctx.path["id"])
    return Ok()


async def test_server(ctx: HttpContext, body: McpServerBody) -> TestResult:
    return await ctx.gateway.mcp.test(ctx.who, body)


async def reconnect(ctx: HttpContext, _: None) -> TestResult:
    return await ctx.gateway.mcp.reconnect(ctx.who, ctx.path["id"])


async def server_tools(ctx: HttpContext, _: None) -> ToolList:
    return ToolList(tools=await ctx.gateway.mcp.list_tools(ctx.who, ctx.path["id"]))


async def grants(ctx: HttpContext, _: None) -> GrantList:
    return await ctx.gateway.mcp.grants(ctx.who, ctx.path["id"])


async def grant_agent(ctx: HttpContext, body: AgentGrantBody) -> Ok:
    await ctx.gateway.mcp.grant_agent(ctx.who, ctx.path["id"], body)
    return Ok()


async def revoke_agent(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.mcp.revoke_agent(ctx.who, ctx.path["id"], ctx.path["agentID"])
    return Ok()


async def agent_grants(ctx: HttpContext, _: None) -> AgentGrants:
    return AgentGrants(grants=await ctx.gateway.mcp.agent_grants(ctx.who, ctx.path["agentID"]))


async def grant_user(ctx: HttpContext, body: UserGrantBody) -> Ok:
    await ctx.gateway.mcp.grant_user(ctx.who, ctx.path["id"], body)
    return Ok()


async def revoke_user(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.mcp.revoke_user(ctx.who, ctx.path["id"], ctx.path["userID"])
    return Ok()


_S = "/v1/mcp/servers"
_TAG = "mcp"

ROUTES = [
    Api("GET", _S, list_servers, Role.ADMIN, "MCP servers of the tenant (api_key never shown)",
        response=ServerList, tag=_TAG),
    Api("POST", _S, create_server, Role.ADMIN, "Register an MCP server (stdio, sse or streamable-http)",
        body=McpServerBody, response=McpServer, status=201, tag=_TAG),
    Api("POST", f"{_S}/test", test_server, Role.ADMIN,
        "Connect to an MCP server without saving it and list its tools", body=McpServerBody,
        response=TestResult, tag=_TAG),
    Api("GET", f"{_S}/{{id}}", get_server, Role.ADMIN, "One MCP server", response=McpServer, tag=_TAG),
    Api("PUT", f"{_S}/{{id}}", update_server, Role.ADMIN, "Update an MCP server (given fields only)",
        body=McpServerBody, response=McpServer, tag=_TAG),
    Api("DELETE", f"{_S}/{{id}}", delete_server, Role.ADMIN, "Delete an MCP server and its grants",
        response=Ok, tag=_TAG),
    Api("POST", f"{_S}/{{id}}/reconnect", reconnect, Role.ADMIN,
        "Close this process's connection to the server and open it again", response=TestResult, tag=_TAG),
    Api("GET", f"{_S}/{{id}}/tools", server_tools, Role.ADMIN, "Tools the server lists",
        response=ToolList, tag=_TAG),
    Api("GET", f"{_S}/{{id}}/grants", grants, Role.ADMIN, "Agents and users the server is granted to",
        response=GrantList, tag=_TAG),
    Api("POST", f"{_S}/{{id}}/grants/agent", grant_agent, Role.ADMIN, "Grant the server to an agent",
        body=AgentGrantBody, response=Ok, status=201, tag=_TAG),
    Api("DELETE", f"{_S}/{{id}}/grants/agent/{{agentID}}", revoke_agent, Role.ADMIN,
        "Revoke an agent's grant", response=Ok, tag=_TAG),
    Api("POST", f"{_S}/{{id}}/grants/user", grant_user, Role.ADMIN, "Grant the server to a user",
        body=UserGrantBody, response=Ok, status=201, tag=_TAG),
    Api("DELETE", f"{_S}/{{id}}/grants/user/{{userID}}", revoke_user, Role.ADMIN,
        "Revoke a user's grant", response=Ok, tag=_TAG),
    Api("GET", "/v1/mcp/grants/agent/{agentID}", agent_grants, Role.ADMIN,
        "The MCP grants of an agent", response=AgentGrants, tag=_TAG),
]  # fmt: skip
