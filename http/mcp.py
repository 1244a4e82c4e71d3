"""MCP servers over REST (GoClaw's ``/v1/mcp/*``): records, test-before-save, reconnect, tool
discovery, grants to agents and users, and per-user credentials (the caller's own). Every other route
needs admin and stays in the caller's tenant."""

from __future__ import annotations

import email.parser
import email.policy
from typing import Annotated, Literal

from msgspec import Meta, Struct
from starlette.responses import Response

from clawgate.errors import UnsupportedMediaType, invalid_field
from clawgate.principal import Role
from clawgate.services.mcp import (
    AccessRequestBody,
    AgentGrantBody,
    CredentialsBody,
    CredentialsInfo,
    GrantList,
    McpServer,
    McpServerBody,
    McpToolInfo,
    ReviewBody,
    TestResult,
    UserGrantBody,
)
from clawgate.services.mcp_archive import ExportPreview, ImportResult
from clawgate.store.mcp import AccessRequest, AgentGrant

from .routing import archive_response, event_stream
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class ServerList(Struct):
    servers: list[McpServer]


class ToolList(Struct):
    tools: list[McpToolInfo]


class CredentialsQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: Annotated[str, Meta(min_length=1, max_length=255)] | None = None


class RequestQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    status: Literal["pending", "approved", "rejected", "all"] = "pending"


class RequestList(Struct):
    requests: list[AccessRequest]


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


async def get_credentials(ctx: HttpContext, q: CredentialsQuery) -> CredentialsInfo:
    return await ctx.gateway.mcp.credentials(ctx.who, ctx.path["id"], q.user_id)


async def set_credentials(ctx: HttpContext, body: CredentialsBody) -> CredentialsInfo:
    return await ctx.gateway.mcp.set_credentials(ctx.who, ctx.path["id"], body)


async def delete_credentials(ctx: HttpContext, q: CredentialsQuery) -> Ok:
    await ctx.gateway.mcp.delete_credentials(ctx.who, ctx.path["id"], q.user_id)
    return Ok()


async def request_access(ctx: HttpContext, body: AccessRequestBody) -> AccessRequest:
    return await ctx.gateway.mcp.request_access(ctx.who, body)


async def list_requests(ctx: HttpContext, q: RequestQuery) -> RequestList:
    status = None if q.status == "all" else q.status
    return RequestList(requests=await ctx.gateway.mcp.list_requests(ctx.who, status))


async def review_request(ctx: HttpContext, body: ReviewBody) -> AccessRequest:
    return await ctx.gateway.mcp.review(ctx.who, ctx.path["id"], body)


class ExportQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    stream: bool = False


class ImportForm(Struct, kw_only=True):
    """The import form: only the ``file`` part (the archive)."""


async def export_preview(ctx: HttpContext, _: None) -> ExportPreview:
    return await ctx.gateway.mcp.export_preview(ctx.who)


async def export_archive(ctx: HttpContext, q: ExportQuery) -> Response:
    if q.stream:
        return event_stream(ctx.gateway.mcp.export_events(ctx.who))
    return archive_response(*await ctx.gateway.mcp.export_archive(ctx.who))


def _file_part(content_type: str | None, raw: bytes) -> bytes:
    """The ``file`` part of a ``multipart/form-data`` body, as bytes. Raises: UnsupportedMediaType,
    InvalidRequest."""
    if (content_type or "").partition(";")[0].strip().lower() != "multipart/form-data":
        raise UnsupportedMediaType(content_type=content_type or "")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    for part in message.iter_parts() if message.is_multipart() else ():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
    raise invalid_field("file", "send the archive as the multipart field file")


async def import_archive(ctx: HttpContext, _: None) -> ImportResult:
    data = _file_part(ctx.request.headers.get("content-type"), await ctx.request.body())
    return await ctx.gateway.mcp.import_archive(ctx.who, data)


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
    Api("PUT", f"{_S}/{{id}}/user-credentials", set_credentials, Role.VIEWER,
        "Set the caller's own credentials for a server (encrypted; used in that user's runs)",
        body=CredentialsBody, response=CredentialsInfo, tag=_TAG),
    Api("GET", f"{_S}/{{id}}/user-credentials", get_credentials, Role.VIEWER,
        "What credentials the caller (or, for an admin, user_id) has stored for a server; never the values",
        query=CredentialsQuery, response=CredentialsInfo, tag=_TAG),
    Api("DELETE", f"{_S}/{{id}}/user-credentials", delete_credentials, Role.VIEWER,
        "Delete the caller's (or, for an admin, user_id's) credentials for a server",
        query=CredentialsQuery, response=Ok, tag=_TAG),
    Api("POST", "/v1/mcp/requests", request_access, Role.VIEWER,
        "Ask for an MCP server for an agent or a user (an admin reviews it)", body=AccessRequestBody,
        response=AccessRequest, status=201, tag=_TAG),
    Api("GET", "/v1/mcp/requests", list_requests, Role.ADMIN, "Access requests (pending unless status says)",
        query=RequestQuery, response=RequestList, tag=_TAG),
    Api("POST", "/v1/mcp/requests/{id}/review", review_request, Role.ADMIN,
        "Approve (and grant) or reject a pending access request", body=ReviewBody, response=AccessRequest,
        tag=_TAG),
    Api("GET", "/v1/mcp/export/preview", export_preview, Role.ADMIN,
        "How many servers and agent grants an export holds", response=ExportPreview, tag=_TAG),
    Api("GET", "/v1/mcp/export", export_archive, Role.ADMIN,
        "The tenant's MCP servers (never their api_key) and agent grants as tar.gz (servers.jsonl, grants.jsonl); "
        "stream=true: SSE progress, then complete with download_url", query=ExportQuery,
        media_type="application/gzip", streams=True, tag=_TAG),
    Api("POST", "/v1/mcp/import", import_archive, Role.ADMIN,
        "Import an MCP archive (multipart field file): new servers are created, known names skipped",
        form=ImportForm, response=ImportResult, status=201, tag=_TAG),
    Api("GET", "/v1/mcp/grants/agent/{agentID}", agent_grants, Role.ADMIN,
        "The MCP grants of an agent", response=AgentGrants, tag=_TAG),
]  # fmt: skip
