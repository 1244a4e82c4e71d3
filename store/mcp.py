"""MCP server records, their grants to agents and users, and per-user credentials (issue 13).

Every function filters by tenant. ``api_key`` and the credential texts are stored as the caller
gives them: the service encrypts them (SecretBox) before they get here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.errors import AlreadyExists
from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe, one

__all__ = [
    "AccessRequest",
    "AgentGrant",
    "McpFields",
    "McpServerRow",
    "StoredCredentials",
    "UserCredentials",
    "UserGrant",
    "delete_credentials",
    "delete_server",
    "grant_agent",
    "grant_user",
    "insert_request",
    "insert_server",
    "list_agent_grants",
    "list_credentials",
    "list_requests",
    "list_servers",
    "list_user_grants",
    "put_credentials",
    "review_request",
    "revoke_agent",
    "revoke_user",
    "update_server",
]


class McpFields(Struct, kw_only=True):
    """The writable fields of a server record (``api_key`` already encrypted)."""

    name: str
    transport: str
    command: str = ""
    args: list[str] = []
    url: str = ""
    headers: dict[str, str] = {}
    env: dict[str, str] = {}
    api_key: str = ""
    tool_prefix: str = ""
    timeout_sec: int = 60
    agent_id: UUID | None = None
    enabled: bool = True
    config: dict[str, Any] = {}
    settings: dict[str, Any] = {}


class McpServerRow(McpFields, kw_only=True):
    id: UUID
    tenant_id: UUID
    created_by: str
    created_at: datetime
    updated_at: datetime


class AgentGrant(Struct, kw_only=True):
    server_id: UUID
    agent_id: UUID
    tool_allow: list[str]
    tool_deny: list[str]
    config_overrides: dict[str, Any]
    granted_by: str
    created_at: datetime


class UserGrant(Struct, kw_only=True):
    server_id: UUID
    user_id: str
    tool_allow: list[str]
    tool_deny: list[str]
    granted_by: str
    created_at: datetime


class AccessRequest(Struct, kw_only=True):
    id: UUID
    server_id: UUID
    agent_id: UUID | None
    user_id: str | None
    requested_by: str
    reason: str
    tool_allow: list[str]
    status: str
    reviewed_by: str
    review_note: str
    created_at: datetime
    reviewed_at: datetime | None


class StoredCredentials(Struct, kw_only=True):
    """One user's credentials for one server: SecretBox texts (headers and env as encrypted JSON)."""

    api_key: str
    headers: str
    env: str
    updated_at: datetime


def _values(f: McpFields) -> list[object]:
    return [
        f.name, f.transport, f.command, f.args, f.url, f.headers, f.env, f.api_key, f.tool_prefix,
        f.timeout_sec, f.agent_id, f.enabled, f.config, f.settings,
    ]  # fmt: skip


async def list_servers(conn: asyncpg.Connection, tenant_id: UUID) -> list[McpServerRow]:
    return many(await conn.fetch(query("mcp.list_servers"), tenant_id), McpServerRow)


async def insert_server(
    conn: asyncpg.Connection, tenant_id: UUID, fields: McpFields, created_by: str
) -> McpServerRow:
    """Raises: AlreadyExists when the tenant has a server of that name."""
    try:
        record = await conn.fetchrow(query("mcp.insert_server"), tenant_id, *_values(fields), created_by)
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="MCP server", id=fields.name) from None
    return one(record, McpServerRow)


async def update_server(
    conn: asyncpg.Connection, tenant_id: UUID, server_id: UUID, fields: McpFields
) -> McpServerRow | None:
    """Raises: AlreadyExists when renamed to a taken name."""
    try:
        record = await conn.fetchrow(query("mcp.update_server"), tenant_id, server_id, *_values(fields))
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="MCP server", id=fields.name) from None
    return maybe(record, McpServerRow)


async def delete_server(conn: asyncpg.Connection, tenant_id: UUID, server_id: UUID) -> bool:
    return affected(await conn.execute(query("mcp.delete_server"), tenant_id, server_id)) == 1


async def list_agent_grants(conn: asyncpg.Connection, tenant_id: UUID) -> list[AgentGrant]:
    return many(await conn.fetch(query("mcp.list_agent_grants"), tenant_id), AgentGrant)


async def grant_agent(
    conn: asyncpg.Connection, tenant_id: UUID, server_id: UUID, agent_id: UUID, by: str, *,
    tool_allow: list[str] | None = None, tool_deny: list[str] | None = None,
    config_overrides: dict[str, Any] | None = None,
) -> None:  # fmt: skip
    """Grant the server to the agent, or replace the grant's lists and overrides."""
    await conn.execute(
        query("mcp.grant_agent"), tenant_id, server_id, agent_id, by, tool_allow or [], tool_deny or [],
        config_overrides or {},
    )  # fmt: skip


async def revoke_agent(conn: asyncpg.Connection, tenant_id: UUID, server_id: UUID, agent_id: UUID) -> bool:
    return affected(await conn.execute(query("mcp.revoke_agent"), tenant_id, server_id, agent_id)) == 1


async def list_user_grants(conn: asyncpg.Connection, tenant_id: UUID) -> list[UserGrant]:
    return many(await conn.fetch(query("mcp.list_user_grants"), tenant_id), UserGrant)


async def grant_user(
    conn: asyncpg.Connection, tenant_id: UUID, server_id: UUID, user_id: str, by: str, *,
    tool_allow: list[str] | None = None, tool_deny: list[str] | None = None,
) -> None:  # fmt: skip
    """Grant the server to the user, or replace the grant's lists."""
    await conn.execute(
        query("mcp.grant_user"), tenant_id, server_id, user_id, by, tool_allow or [], tool_deny or []
    )


async def revoke_user(conn: asyncpg.Connection, tenant_id: UUID, server_id: UUID, user_id: str) -> bool:
    return affected(await conn.execute(query("mcp.revoke_user"), tenant_id, server_id, user_id)) == 1


class UserCredentials(StoredCredentials, kw_only=True):
    server_id: UUID
    user_id: str


async def list_credentials(conn: asyncpg.Connection, tenant_id: UUID) -> list[UserCredentials]:
    return many(await conn.fetch(query("mcp.list_credentials"), tenant_id), UserCredentials)


async def put_credentials(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    server_id: UUID,
    user_id: str,
    api_key: str,
    headers: str,
    env: str,
) -> StoredCredentials:
    record = await conn.fetchrow(
        query("mcp.put_credentials"), tenant_id, server_id, user_id, api_key, headers, env
    )
    return one(record, StoredCredentials)


async def delete_credentials(
    conn: asyncpg.Connection, tenant_id: UUID, server_id: UUID, user_id: str
) -> bool:
    return affected(await conn.execute(query("mcp.delete_credentials"), tenant_id, server_id, user_id)) == 1


async def insert_request(
    conn: asyncpg.Connection, tenant_id: UUID, server_id: UUID, agent_id: UUID | None, user_id: str | None,
    requested_by: str, reason: str, tool_allow: list[str] | None = None,
) -> AccessRequest:  # fmt: skip
    record = await conn.fetchrow(
        query("mcp.insert_request"), tenant_id, server_id, agent_id, user_id, requested_by, reason,
        tool_allow or [],
    )  # fmt: skip
    return one(record, AccessRequest)


async def list_requests(conn: asyncpg.Connection, tenant_id: UUID, status: str | None) -> list[AccessRequest]:
    return many(await conn.fetch(query("mcp.list_requests"), tenant_id, status), AccessRequest)


async def review_request(
    conn: asyncpg.Connection, tenant_id: UUID, request_id: UUID, status: str, by: str, note: str
) -> AccessRequest | None:
    """Decide a pending request; None when there is no pending request of that id."""
    record = await conn.fetchrow(query("mcp.review_request"), tenant_id, request_id, status, by, note)
    return maybe(record, AccessRequest)
