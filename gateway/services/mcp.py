"""MCP servers (GoClaw's ``/v1/mcp/*``): records, grants, test-before-save, tool discovery, and
the tool source that puts granted servers' tools into runs (issue 13).

Every call is scoped by the caller's tenant; writes need admin. ``api_key`` is encrypted with the
gateway's SecretBox and never returned (``has_api_key`` says whether one is set).

Per process: the tenant's records and grants are cached in memory (one query per tenant, then
none per run) and dropped on an ``mcp`` invalidation over the bus, which every write publishes; the
connections (``clawgate.mcp_pool``) are per process and per server, opened on first use.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
import structlog
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.bus import BusEvent, EventBus, invalidates, invalidation
from clawgate.crypto import SecretBox
from clawgate.errors import NotFound, invalid_field
from clawgate.mcp_pool import Connection, McpFailure, RemoteTool, ServerSpec, render_result
from clawgate.principal import Principal, Role
from clawgate.providers.types import ToolSpec
from clawgate.services import parse_id, require
from clawgate.services.agents import AgentService
from clawgate.store import Database
from clawgate.store import mcp as store
from clawgate.store.mcp import AgentGrant, McpFields, McpServerRow, UserGrant
from clawgate.store.types import AgentRow
from clawgate.tools import REGISTRY, Tool, ToolContext, ToolError

__all__ = [
    "AgentGrantBody",
    "GrantList",
    "McpServer",
    "McpServerBody",
    "McpService",
    "McpToolInfo",
    "TestResult",
    "UserGrantBody",
]

log = structlog.get_logger("clawgate.mcp")

Transport = Literal["stdio", "sse", "streamable-http"]
_Name = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
_Prefix = Annotated[str, Meta(max_length=40, pattern=r"^[A-Za-z0-9_-]*$")]
_Text = Annotated[str, Meta(max_length=4096)]
_Ref = Annotated[str, Meta(min_length=1, max_length=255)]
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


class McpServerBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's server fields; on update, what is left out (or null) keeps its value. ``api_key``
    "" clears the key."""

    name: _Name | UnsetType | None = UNSET
    display_name: _Text | UnsetType | None = UNSET
    transport: Transport | UnsetType | None = UNSET
    command: _Text | UnsetType | None = UNSET
    args: list[_Text] | UnsetType | None = UNSET
    url: _Text | UnsetType | None = UNSET
    api_key: _Text | UnsetType | None = UNSET
    env: dict[str, _Text] | UnsetType | None = UNSET
    headers: dict[str, _Text] | UnsetType | None = UNSET
    enabled: bool | UnsetType | None = UNSET
    tool_prefix: _Prefix | UnsetType | None = UNSET
    timeout_sec: Annotated[int, Meta(ge=1, le=600)] | UnsetType | None = UNSET
    agent_id: _Ref | UnsetType | None = UNSET
    config: dict[str, Any] | UnsetType | None = UNSET
    settings: dict[str, Any] | UnsetType | None = UNSET


class McpServer(Struct, kw_only=True):
    """A server record as the API shows it: never the api_key."""

    id: UUID
    name: str
    transport: str
    command: str
    args: list[str]
    url: str
    headers: dict[str, str]
    env: dict[str, str]
    has_api_key: bool
    tool_prefix: str
    timeout_sec: int
    agent_id: UUID | None
    enabled: bool
    config: dict[str, Any]
    settings: dict[str, Any]
    created_by: str
    created_at: datetime
    updated_at: datetime


class McpToolInfo(Struct, kw_only=True):
    name: str  # as the server names it
    registered_name: str  # as agents see it (with the prefix)
    description: str
    inputSchema: dict[str, Any]


class TestResult(Struct, kw_only=True):
    success: bool
    tool_count: int = 0
    tools: list[str] = []
    error: str = ""


class AgentGrantBody(Struct, kw_only=True, forbid_unknown_fields=True):
    agent_id: _Ref
    tool_allow: list[str] | None = None  # GoClaw's field, accepted; every tool is granted
    tool_deny: list[str] | None = None
    config_overrides: dict[str, Any] | None = None


class UserGrantBody(Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: _Ref
    tool_allow: list[str] | None = None
    tool_deny: list[str] | None = None


class GrantList(Struct, kw_only=True):
    agents: list[AgentGrant]
    users: list[UserGrant]


class _Snapshot(Struct, kw_only=True):
    """One tenant's records and grants, as cached between changes."""

    servers: list[McpServerRow]
    agent_grants: list[AgentGrant]
    user_grants: list[UserGrant]


def _view(row: McpServerRow) -> McpServer:
    return McpServer(
        id=row.id, name=row.name, transport=row.transport, command=row.command, args=row.args, url=row.url,
        headers=row.headers, env=row.env, has_api_key=bool(row.api_key), tool_prefix=row.tool_prefix,
        timeout_sec=row.timeout_sec, agent_id=row.agent_id, enabled=row.enabled, config=row.config,
        settings=row.settings, created_by=row.created_by, created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def _given(value: Any) -> bool:
    return value is not UNSET and value is not None


def _check_reachable(fields: McpFields) -> None:
    """Raises: InvalidRequest when the transport lacks what it needs."""
    if fields.transport == "stdio" and not fields.command.strip():
        raise invalid_field("command", "a stdio server needs a command")
    if fields.transport != "stdio" and not fields.url.startswith(("http://", "https://")):
        raise invalid_field("url", f"a {fields.transport} server needs an http(s) url")


def prefix_of(row: McpServerRow) -> str:
    """The prefix of the server's tool names: its ``tool_prefix``, else ``mcp_<name>_``."""
    return row.tool_prefix or "mcp_" + _TOOL_NAME.sub("_", row.name) + "_"


class McpService:
    """MCP server records and grants, their connections, and the runs' MCP tools (``run_tools``)."""

    def __init__(self, db: Database, box: SecretBox, bus: EventBus, agents: AgentService) -> None:
        self._db = db
        self._box = box
        self._bus = bus
        self._agents = agents
        self._snapshots: dict[UUID, _Snapshot] = {}
        self._generation = 0
        self._connections: dict[UUID, Connection] = {}
        self._tools: dict[UUID, tuple[list[RemoteTool], list[Tool]]] = {}
        bus.subscribe(self._on_event)

    def _on_event(self, event: BusEvent) -> None:
        if invalidates(event, "mcp"):
            self._generation += 1
            self._snapshots.clear()

    async def close(self) -> None:
        """Close every connection (stdio servers' processes end)."""
        connections = list(self._connections.values())
        self._connections.clear()
        self._tools.clear()
        await asyncio.gather(*(c.close() for c in connections), return_exceptions=True)

    # -- records ---------------------------------------------------------------------------------

    async def _snapshot(self, tenant_id: UUID) -> _Snapshot:
        cached = self._snapshots.get(tenant_id)
        if cached is not None:
            return cached
        generation = self._generation
        async with self._db.connection() as conn:
            snap = _Snapshot(
                servers=await store.list_servers(conn, tenant_id),
                agent_grants=await store.list_agent_grants(conn, tenant_id),
                user_grants=await store.list_user_grants(conn, tenant_id),
            )
        if generation == self._generation:
            self._snapshots[tenant_id] = snap
        return snap

    async def _row(self, who: Principal, ref: str) -> McpServerRow:
        server_id = parse_id(ref, "MCP server")
        for row in (await self._snapshot(who.tenant_id)).servers:
            if row.id == server_id:
                return row
        raise NotFound(kind="MCP server", id=ref)

    async def _changed(self, who: Principal, action: str) -> None:
        await self._bus.publish(invalidation("mcp", who.tenant_id, action=action))

    async def list_servers(self, who: Principal) -> list[McpServer]:
        require(who, Role.ADMIN, "mcp.servers.list")
        return [_view(row) for row in (await self._snapshot(who.tenant_id)).servers]

    async def get(self, who: Principal, ref: str) -> McpServer:
        require(who, Role.ADMIN, "mcp.servers.get")
        return _view(await self._row(who, ref))

    async def _fields(self, who: Principal, body: McpServerBody, base: McpFields) -> McpFields:
        """``base`` with the body's given fields applied (api_key encrypted, agent resolved)."""
        changes: dict[str, Any] = {}
        for name in ("name", "transport", "command", "args", "url", "headers", "env", "tool_prefix",
                     "timeout_sec", "enabled", "config", "settings"):  # fmt: skip
            value = getattr(body, name)
            if _given(value):
                changes[name] = value
        if isinstance(body.api_key, str):
            changes["api_key"] = self._box.encrypt(body.api_key)
        if body.agent_id is not UNSET:
            changes["agent_id"] = (
                None if body.agent_id is None else (await self._agents.get(who, body.agent_id)).id
            )
        fields = msgspec.structs.replace(base, **changes)
        _check_reachable(fields)
        return fields

    async def create(self, who: Principal, body: McpServerBody) -> McpServer:
        """Register a server. Raises: InvalidRequest, AlreadyExists (name taken), NotFound (agent)."""
        require(who, Role.ADMIN, "mcp.servers.create")
        if not _given(body.name):
            raise invalid_field("name", "name is required")
        if not _given(body.transport):
            raise invalid_field("transport", "transport is required (stdio, sse or streamable-http)")
        fields = await self._fields(who, body, McpFields(name="", transport="stdio"))
        async with self._db.transaction() as conn:
            row = await store.insert_server(conn, who.tenant_id, fields, who.user_id)
        await self._changed(who, "create")
        return _view(row)

    async def update(self, who: Principal, ref: str, body: McpServerBody) -> McpServer:
        """Change the given fields; the open connection is replaced on its next use."""
        require(who, Role.ADMIN, "mcp.servers.update")
        row = await self._row(who, ref)
        fields = await self._fields(who, body, msgspec.convert(msgspec.structs.asdict(row), McpFields))
        async with self._db.transaction() as conn:
            updated = await store.update_server(conn, who.tenant_id, row.id, fields)
        if updated is None:
            raise NotFound(kind="MCP server", id=ref)
        await self._changed(who, "update")
        return _view(updated)

    async def delete(self, who: Principal, ref: str) -> None:
        require(who, Role.ADMIN, "mcp.servers.delete")
        row = await self._row(who, ref)
        async with self._db.transaction() as conn:
            if not await store.delete_server(conn, who.tenant_id, row.id):
                raise NotFound(kind="MCP server", id=ref)
        await self._drop(row.id)
        await self._changed(who, "delete")

    # -- connections ------------------------------------------------------------------------------

    def _spec(self, row: McpServerRow) -> ServerSpec:
        return ServerSpec(
            name=row.name, transport=row.transport, command=row.command, args=tuple(row.args), url=row.url,
            headers=tuple(sorted(row.headers.items())), env=tuple(sorted(row.env.items())),
            api_key=self._box.decrypt(row.api_key) if row.api_key else "", timeout=float(row.timeout_sec),
        )  # fmt: skip

    async def _connection(self, row: McpServerRow) -> Connection:
        """The process's connection to ``row``, replaced when the record changed since it opened."""
        spec = self._spec(row)
        current = self._connections.get(row.id)
        if current is not None and current.spec == spec:
            return current
        if current is not None:
            await self._drop(row.id)
        connection = self._connections[row.id] = Connection(spec)
        return connection

    async def _drop(self, server_id: UUID) -> None:
        self._tools.pop(server_id, None)
        connection = self._connections.pop(server_id, None)
        if connection is not None:
            await connection.close()

    async def test(self, who: Principal, body: McpServerBody) -> TestResult:
        """Connect to a server that is not saved, list its tools and disconnect."""
        require(who, Role.ADMIN, "mcp.servers.test")
        fields = await self._fields(who, body, McpFields(name="test", transport="stdio"))
        row = McpServerRow(**msgspec.structs.asdict(fields), id=UUID(int=0), tenant_id=who.tenant_id,
                           created_by="", created_at=datetime.now(), updated_at=datetime.now())  # fmt: skip
        connection = Connection(self._spec(row))
        try:
            tools = await connection.tools()
        except McpFailure as exc:
            return TestResult(success=False, error=str(exc))
        finally:
            await connection.close()
        return TestResult(success=True, tool_count=len(tools), tools=[t.name for t in tools])

    async def reconnect(self, who: Principal, ref: str) -> TestResult:
        """Close the server's connection in this process and open it again."""
        require(who, Role.ADMIN, "mcp.servers.reconnect")
        row = await self._row(who, ref)
        await self._drop(row.id)
        try:
            tools = await (await self._connection(row)).tools()
        except McpFailure as exc:
            return TestResult(success=False, error=str(exc))
        return TestResult(success=True, tool_count=len(tools), tools=[t.name for t in tools])

    async def list_tools(self, who: Principal, ref: str) -> list[McpToolInfo]:
        """The tools the server lists. Raises: Unavailable-like InvalidRequest when it is down."""
        require(who, Role.ADMIN, "mcp.servers.tools")
        row = await self._row(who, ref)
        try:
            tools = await (await self._connection(row)).tools()
        except McpFailure as exc:
            raise invalid_field("id", str(exc)) from None
        prefix = prefix_of(row)
        return [McpToolInfo(name=t.name, registered_name=_tool_name(prefix, t.name), description=t.description,
                            inputSchema=t.input_schema) for t in tools]  # fmt: skip

    # -- grants ------------------------------------------------------------------------------------

    async def grants(self, who: Principal, ref: str) -> GrantList:
        require(who, Role.ADMIN, "mcp.grants.list")
        row = await self._row(who, ref)
        snap = await self._snapshot(who.tenant_id)
        return GrantList(
            agents=[g for g in snap.agent_grants if g.server_id == row.id],
            users=[g for g in snap.user_grants if g.server_id == row.id],
        )

    async def agent_grants(self, who: Principal, agent_ref: str) -> list[AgentGrant]:
        require(who, Role.ADMIN, "mcp.grants.agent")
        agent = await self._agents.get(who, agent_ref)
        return [g for g in (await self._snapshot(who.tenant_id)).agent_grants if g.agent_id == agent.id]

    async def grant_agent(self, who: Principal, ref: str, body: AgentGrantBody) -> None:
        require(who, Role.ADMIN, "mcp.grants.create")
        row = await self._row(who, ref)
        agent = await self._agents.get(who, body.agent_id)
        async with self._db.transaction() as conn:
            await store.grant_agent(conn, who.tenant_id, row.id, agent.id, who.user_id)
        await self._changed(who, "grant")

    async def revoke_agent(self, who: Principal, ref: str, agent_ref: str) -> None:
        require(who, Role.ADMIN, "mcp.grants.delete")
        row = await self._row(who, ref)
        agent = await self._agents.get(who, agent_ref)
        async with self._db.transaction() as conn:
            if not await store.revoke_agent(conn, who.tenant_id, row.id, agent.id):
                raise NotFound(kind="MCP grant", id=agent_ref)
        await self._changed(who, "revoke")

    async def grant_user(self, who: Principal, ref: str, body: UserGrantBody) -> None:
        require(who, Role.ADMIN, "mcp.grants.create")
        row = await self._row(who, ref)
        async with self._db.transaction() as conn:
            await store.grant_user(conn, who.tenant_id, row.id, body.user_id, who.user_id)
        await self._changed(who, "grant")

    async def revoke_user(self, who: Principal, ref: str, user_id: str) -> None:
        require(who, Role.ADMIN, "mcp.grants.delete")
        row = await self._row(who, ref)
        async with self._db.transaction() as conn:
            if not await store.revoke_user(conn, who.tenant_id, row.id, user_id):
                raise NotFound(kind="MCP grant", id=user_id)
        await self._changed(who, "revoke")

    # -- the runs' tool source -----------------------------------------------------------------------

    async def run_tools(self, agent: AgentRow, ctx: ToolContext) -> Sequence[Tool]:
        """The tools of the enabled servers granted to ``agent`` (or bound to it) or to the run's
        user, under their prefix. From memory once each server has listed its tools; a server that
        cannot be reached is left out of this run (and logged)."""
        snap = await self._snapshot(agent.tenant_id)
        if not snap.servers:
            return ()
        granted = {g.server_id for g in snap.agent_grants if g.agent_id == agent.id}
        if ctx.user_id:
            granted |= {g.server_id for g in snap.user_grants if g.user_id == ctx.user_id}
        rows = [r for r in snap.servers if r.enabled and (r.id in granted or r.agent_id == agent.id)]
        if not rows:
            return ()
        lists = await asyncio.gather(*(self._server_tools(row) for row in rows))
        return [tool for tools in lists for tool in tools]

    async def _server_tools(self, row: McpServerRow) -> list[Tool]:
        connection = await self._connection(row)
        try:
            remote = await connection.tools()
        except McpFailure as exc:
            log.warning("mcp.tools_unavailable", server=row.name, error=str(exc))
            return []
        cached = self._tools.get(row.id)
        if cached is not None and cached[0] is remote:
            return cached[1]
        tools: list[Tool] = []
        prefix = prefix_of(row)
        for item in remote:
            name = _tool_name(prefix, item.name)
            if name in REGISTRY:
                log.warning("mcp.tool_name_taken", server=row.name, tool=name)
                continue
            tools.append(Tool(ToolSpec(name=name, description=item.description or item.name,
                                       parameters=item.input_schema or {"type": "object"}),
                              _caller(connection, item.name)))  # fmt: skip
        self._tools[row.id] = (remote, tools)
        return tools


def _tool_name(prefix: str, name: str) -> str:
    return _TOOL_NAME.sub("_", prefix + name)[:64]


def _caller(connection: Connection, remote_name: str) -> Any:
    async def call(ctx: ToolContext, args: dict[str, Any]) -> str:
        try:
            result = await connection.call(remote_name, args)
        except McpFailure as exc:
            raise ToolError(str(exc)) from None
        text = render_result(result)
        if result.is_error:
            raise ToolError(text or f"{remote_name} failed")
        return text

    return call
