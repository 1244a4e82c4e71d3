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
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
import structlog
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.bus import INVALIDATE, BusEvent, EventBus, invalidates, invalidation
from clawgate.crypto import SecretBox
from clawgate.errors import Forbidden, NotFound, invalid_field
from clawgate.mcp_pool import Connection, McpFailure, RemoteTool, ServerSpec, render_result
from clawgate.principal import Principal, Role
from clawgate.providers.types import ToolSpec
from clawgate.services import parse_id, require
from clawgate.services.agents import AgentService
from clawgate.services.exports import Event, progress_events
from clawgate.services.mcp_archive import (
    ArchiveGrant,
    ExportPreview,
    GrantOverrides,
    ImportResult,
    ServerName,
    Text,
    ToolNames,
    ToolPrefix,
    Transport,
    read_archive,
    write_archive,
)
from clawgate.store import Database
from clawgate.store import mcp as store
from clawgate.store.mcp import AccessRequest, AgentGrant, McpFields, McpServerRow, UserCredentials, UserGrant
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

_Ref = Annotated[str, Meta(min_length=1, max_length=255)]
_TOOL_NAME = re.compile(r"[^A-Za-z0-9_-]")


class McpServerBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's server fields; on update, what is left out (or null) keeps its value. ``api_key``
    "" clears the key."""

    name: ServerName | UnsetType | None = UNSET
    display_name: Text | UnsetType | None = UNSET
    transport: Transport | UnsetType | None = UNSET
    command: Text | UnsetType | None = UNSET
    args: list[Text] | UnsetType | None = UNSET
    url: Text | UnsetType | None = UNSET
    api_key: Text | UnsetType | None = UNSET
    env: dict[str, Text] | UnsetType | None = UNSET
    headers: dict[str, Text] | UnsetType | None = UNSET
    enabled: bool | UnsetType | None = UNSET
    tool_prefix: ToolPrefix | UnsetType | None = UNSET
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
    """Grant (or re-grant, replacing the lists and overrides) a server to an agent. An empty or
    absent ``tool_allow`` allows every tool; ``tool_deny`` wins over it."""

    agent_id: _Ref
    tool_allow: ToolNames | None = None
    tool_deny: ToolNames | None = None
    config_overrides: GrantOverrides | None = None


class UserGrantBody(Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: _Ref
    tool_allow: ToolNames | None = None
    tool_deny: ToolNames | None = None


class CredentialsBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """The caller's own credentials for a server, used instead of (api_key) or over (headers, env)
    the record's in that user's runs. ``user_id``: an admin setting another user's."""

    api_key: Text | None = None
    headers: dict[str, Text] | None = None
    env: dict[str, Text] | None = None
    user_id: _Ref | None = None


class CredentialsInfo(Struct, kw_only=True):
    """What is stored for a user, never the values."""

    server_id: UUID
    user_id: str
    has_api_key: bool
    header_names: list[str]
    env_names: list[str]
    updated_at: datetime | None


class AccessRequestBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """Ask for a server for an agent (``agent_id``) or a user (``user_id``; the caller by default)."""

    server_id: _Ref
    agent_id: _Ref | None = None
    user_id: _Ref | None = None
    reason: Text | None = None
    tool_allow: ToolNames | None = None  # put on the grant when approved


class ReviewBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """``action`` approve / reject (or GoClaw's ``approved`` flag); an approval makes the grant."""

    action: Literal["approve", "reject"] | None = None
    approved: bool | None = None
    note: Text | None = None


_RUN_WAIT = 10.0  # how long a run waits for a server's tool list


class GrantList(Struct, kw_only=True):
    agents: list[AgentGrant]
    users: list[UserGrant]


class _Snapshot(Struct, kw_only=True):
    """One tenant's records and grants, as cached between changes."""

    servers: list[McpServerRow]
    agent_grants: list[AgentGrant]
    user_grants: list[UserGrant]
    credentials: dict[tuple[UUID, str], UserCredentials]


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


def _check_stdio(who: Principal, fields: McpFields) -> None:
    """A stdio server is a program run on the gateway's host: only who manages the gateway (an
    owner, a system key) may name one; a tenant admin registers network servers (sse,
    streamable-http). Raises: Forbidden."""
    if fields.transport == "stdio" and not who.manages_gateway:
        raise Forbidden(
            action="mcp.servers with transport stdio (a program on the gateway host)", role="owner"
        )


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
        # By server and user ("" unless the user has credentials of their own for the server).
        self._connections: dict[tuple[UUID, str], Connection] = {}
        # Per connection: its listed tools, and the tools made of them per (prefix, timeout) with
        # the names the server gives them (a run filters these by its grants).
        self._tools: dict[
            tuple[UUID, str], tuple[list[RemoteTool], dict[tuple[str, float], list[tuple[str, Tool]]]]
        ] = {}
        self._closing: set[asyncio.Task[None]] = set()
        bus.subscribe(self._on_event, names=[INVALIDATE])

    def _on_event(self, event: BusEvent) -> None:
        if invalidates(event, "mcp"):
            self._generation += 1
            self._snapshots.clear()
            # A server changed or deleted in any process: this process's connections to it close
            # (a deleted or disabled server keeps no process or socket; a changed one reopens on use).
            server = event.payload.get("server") if isinstance(event.payload, dict) else None
            if isinstance(server, str) and any(k[0] == UUID(server) for k in self._connections):
                task = asyncio.get_running_loop().create_task(self._drop_server(UUID(server)))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Close every connection (stdio servers' processes end)."""
        await asyncio.gather(*self._closing, return_exceptions=True)
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
                credentials={
                    (c.server_id, c.user_id): c for c in await store.list_credentials(conn, tenant_id)
                },
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

    async def _changed(self, who: Principal, action: str, server: UUID | None = None) -> None:
        detail = {"server": str(server)} if server is not None else {}
        await self._bus.publish(invalidation("mcp", who.tenant_id, action=action, **detail))

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
        _check_stdio(who, fields)
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
        await self._changed(who, "update", row.id)
        return _view(updated)

    async def delete(self, who: Principal, ref: str) -> None:
        require(who, Role.ADMIN, "mcp.servers.delete")
        row = await self._row(who, ref)
        async with self._db.transaction() as conn:
            if not await store.delete_server(conn, who.tenant_id, row.id):
                raise NotFound(kind="MCP server", id=ref)
        await self._drop_server(row.id)
        await self._changed(who, "delete", row.id)

    # -- connections ------------------------------------------------------------------------------

    def _spec(self, row: McpServerRow, creds: UserCredentials | None = None) -> ServerSpec:
        api_key = self._box.decrypt(row.api_key) if row.api_key else ""
        headers, env = dict(row.headers), dict(row.env)
        if creds is not None:
            api_key = self._box.decrypt(creds.api_key) if creds.api_key else api_key
            headers.update(self._secret_map(creds.headers))
            env.update(self._secret_map(creds.env))
        return ServerSpec(
            name=row.name, transport=row.transport, command=row.command, args=tuple(row.args), url=row.url,
            headers=tuple(sorted(headers.items())), env=tuple(sorted(env.items())), api_key=api_key,
            timeout=float(row.timeout_sec),
        )  # fmt: skip

    def _secret_map(self, stored: str) -> dict[str, str]:
        return msgspec.json.decode(self._box.decrypt(stored), type=dict[str, str]) if stored else {}

    async def _connection(self, row: McpServerRow, creds: UserCredentials | None = None) -> Connection:
        """The process's connection to ``row`` (for the user of ``creds`` when given), replaced when
        the record or the credentials changed since it opened."""
        key = (row.id, creds.user_id if creds is not None else "")
        spec = self._spec(row, creds)
        current = self._connections.get(key)
        if current is not None and current.spec == spec:
            return current
        if current is not None:
            await self._drop(key)
        connection = self._connections[key] = Connection(spec)
        return connection

    async def _drop(self, key: tuple[UUID, str]) -> None:
        self._tools.pop(key, None)
        connection = self._connections.pop(key, None)
        if connection is not None:
            await connection.close()

    async def _drop_server(self, server_id: UUID) -> None:
        for key in [k for k in self._connections if k[0] == server_id]:
            await self._drop(key)

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
        await self._drop_server(row.id)
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
        overrides = body.config_overrides
        async with self._db.transaction() as conn:
            await store.grant_agent(
                conn, who.tenant_id, row.id, agent.id, who.user_id, tool_allow=body.tool_allow,
                tool_deny=body.tool_deny, config_overrides=msgspec.to_builtins(overrides) if overrides else None,
            )  # fmt: skip
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
            await store.grant_user(conn, who.tenant_id, row.id, body.user_id, who.user_id,
                                   tool_allow=body.tool_allow, tool_deny=body.tool_deny)  # fmt: skip
        await self._changed(who, "grant")

    async def revoke_user(self, who: Principal, ref: str, user_id: str) -> None:
        require(who, Role.ADMIN, "mcp.grants.delete")
        row = await self._row(who, ref)
        async with self._db.transaction() as conn:
            if not await store.revoke_user(conn, who.tenant_id, row.id, user_id):
                raise NotFound(kind="MCP grant", id=user_id)
        await self._changed(who, "revoke")

    # -- export / import -----------------------------------------------------------------------------

    async def export_preview(self, who: Principal) -> ExportPreview:
        require(who, Role.ADMIN, "mcp.export")
        snap = await self._snapshot(who.tenant_id)
        return ExportPreview(servers=len(snap.servers), grants=len(snap.agent_grants))

    async def export_archive(self, who: Principal) -> tuple[str, bytes]:
        """The tenant's servers (never their api_key) and agent grants as GoClaw's archive
        (``clawgate.services.mcp_archive``): the file name and its bytes."""
        require(who, Role.ADMIN, "mcp.export")
        return await _archive(await self._export_items(who))

    def export_events(self, who: Principal) -> AsyncIterator[Event]:
        """The export as progress events ending with ``complete`` (``clawgate.services.exports``).
        Raises: Forbidden below admin."""
        require(who, Role.ADMIN, "mcp.export")

        async def collect() -> tuple[_ExportItems, dict[str, int]]:
            items = await self._export_items(who)
            return items, {"servers": len(items[0]), "grants": len(items[1])}

        return progress_events(collect, _archive, "/v1/mcp/export")

    async def _export_items(self, who: Principal) -> _ExportItems:
        """The tenant's servers and its agent grants by server name and agent key."""
        snap = await self._snapshot(who.tenant_id)
        keys = {a.id: a.agent_key for a in await self._agents.list_agents(who)}
        names = {r.id: r.name for r in snap.servers}
        grants = [
            ArchiveGrant(server_name=names[g.server_id], agent_key=keys[g.agent_id], tool_allow=g.tool_allow,
                         tool_deny=g.tool_deny,
                         config_overrides=msgspec.convert(g.config_overrides, GrantOverrides) if g.config_overrides else None)
            for g in snap.agent_grants if g.agent_id in keys and g.server_id in names
        ]  # fmt: skip
        return snap.servers, grants

    async def import_archive(self, who: Principal, data: bytes) -> ImportResult:
        """Create the archive's servers (a name the tenant has is skipped) and its grants to agents
        of this tenant (by agent key; an unknown agent or server is skipped).
        Raises: InvalidRequest for an archive that is not ours (or a member over 10 MB)."""
        require(who, Role.ADMIN, "mcp.import")
        servers, grants = read_archive(data)
        for server in servers:
            fields = msgspec.convert(msgspec.structs.asdict(server), McpFields)
            _check_reachable(fields)
            _check_stdio(who, fields)
        agents = {a.agent_key: a.id for a in await self._agents.list_agents(who)}
        imported = skipped = applied = 0
        async with self._db.transaction() as conn:
            ids = {r.name: r.id for r in await store.list_servers(conn, who.tenant_id)}
            for server in servers:
                if server.name in ids:
                    skipped += 1
                    continue
                fields = msgspec.convert(msgspec.structs.asdict(server), McpFields)
                ids[server.name] = (await store.insert_server(conn, who.tenant_id, fields, who.user_id)).id
                imported += 1
            for grant in grants:
                server_id, agent_id = ids.get(grant.server_name), agents.get(grant.agent_key)
                if server_id is not None and agent_id is not None:
                    overrides = (
                        msgspec.to_builtins(grant.config_overrides) if grant.config_overrides else None
                    )
                    await store.grant_agent(conn, who.tenant_id, server_id, agent_id, who.user_id,
                                            tool_allow=grant.tool_allow, tool_deny=grant.tool_deny,
                                            config_overrides=overrides)  # fmt: skip
                    applied += 1
        await self._changed(who, "import")
        return ImportResult(servers_imported=imported, servers_skipped=skipped, grants_applied=applied)

    # -- access requests ---------------------------------------------------------------------------

    async def request_access(self, who: Principal, body: AccessRequestBody) -> AccessRequest:
        """File a pending request. Raises: NotFound (server, agent), InvalidRequest (both targets)."""
        require(who, Role.VIEWER, "mcp.requests.create")
        row = await self._row(who, body.server_id)
        if body.agent_id and body.user_id:
            raise invalid_field("agent_id", "ask for an agent or a user, not both")
        agent_id = (await self._agents.get(who, body.agent_id)).id if body.agent_id else None
        user_id = None if agent_id else (body.user_id or who.user_id)
        if agent_id is None and not user_id:
            raise invalid_field("user_id", "name an agent_id or a user_id (or send X-GoClaw-User-Id)")
        async with self._db.transaction() as conn:
            return await store.insert_request(
                conn,
                who.tenant_id,
                row.id,
                agent_id,
                user_id,
                who.user_id,
                body.reason or "",
                body.tool_allow,
            )

    async def list_requests(self, who: Principal, status: str | None) -> list[AccessRequest]:
        require(who, Role.ADMIN, "mcp.requests.list")
        async with self._db.connection() as conn:
            return await store.list_requests(conn, who.tenant_id, status)

    async def review(self, who: Principal, ref: str, body: ReviewBody) -> AccessRequest:
        """Approve (grant in the same transaction) or reject a pending request.
        Raises: InvalidRequest (no decision), NotFound (no pending request of that id)."""
        require(who, Role.ADMIN, "mcp.requests.review")
        if body.action is None and body.approved is None:
            raise invalid_field("action", "action is approve or reject")
        approve = body.action == "approve" if body.action is not None else bool(body.approved)
        request_id = parse_id(ref, "MCP access request")
        async with self._db.transaction() as conn:
            done = await store.review_request(conn, who.tenant_id, request_id, "approved" if approve else "rejected",
                                              who.user_id, body.note or "")  # fmt: skip
            if done is None:
                raise NotFound(kind="pending MCP access request", id=ref)
            if approve and done.agent_id is not None:
                await store.grant_agent(conn, who.tenant_id, done.server_id, done.agent_id, who.user_id,
                                        tool_allow=done.tool_allow)  # fmt: skip
            elif approve and done.user_id is not None:
                await store.grant_user(conn, who.tenant_id, done.server_id, done.user_id, who.user_id,
                                       tool_allow=done.tool_allow)  # fmt: skip
        await self._changed(who, "review")
        return done

    # -- per-user credentials ---------------------------------------------------------------------

    def _credential_user(self, who: Principal, user_id: str | None) -> str:
        """Whose credentials: the caller's own, or (an admin) ``user_id``'s. Raises: InvalidRequest."""
        if user_id and user_id != who.user_id:
            require(who, Role.ADMIN, "mcp.credentials of another user")
            return user_id
        if not who.user_id:
            raise invalid_field("user_id", "credentials belong to a user: send X-GoClaw-User-Id or user_id")
        return who.user_id

    async def credentials(self, who: Principal, ref: str, user_id: str | None) -> CredentialsInfo:
        """What is stored for the user (names only). Raises: NotFound (server)."""
        require(who, Role.VIEWER, "mcp.credentials.get")
        row = await self._row(who, ref)
        user = self._credential_user(who, user_id)
        creds = (await self._snapshot(who.tenant_id)).credentials.get((row.id, user))
        if creds is None:
            return CredentialsInfo(server_id=row.id, user_id=user, has_api_key=False, header_names=[],
                                   env_names=[], updated_at=None)  # fmt: skip
        return CredentialsInfo(
            server_id=row.id, user_id=user, has_api_key=bool(creds.api_key),
            header_names=sorted(self._secret_map(creds.headers)), env_names=sorted(self._secret_map(creds.env)),
            updated_at=creds.updated_at,
        )  # fmt: skip

    async def set_credentials(self, who: Principal, ref: str, body: CredentialsBody) -> CredentialsInfo:
        """Store the user's credentials, encrypted; they replace what was stored."""
        require(who, Role.VIEWER, "mcp.credentials.set")
        row = await self._row(who, ref)
        user = self._credential_user(who, body.user_id)
        box = self._box
        headers = box.encrypt(msgspec.json.encode(body.headers).decode()) if body.headers else ""
        env = box.encrypt(msgspec.json.encode(body.env).decode()) if body.env else ""
        async with self._db.transaction() as conn:
            await store.put_credentials(
                conn, who.tenant_id, row.id, user, box.encrypt(body.api_key or ""), headers, env
            )
        await self._changed(who, "credentials")
        return await self.credentials(who, ref, user)

    async def delete_credentials(self, who: Principal, ref: str, user_id: str | None) -> None:
        require(who, Role.VIEWER, "mcp.credentials.delete")
        row = await self._row(who, ref)
        user = self._credential_user(who, user_id)
        async with self._db.transaction() as conn:
            if not await store.delete_credentials(conn, who.tenant_id, row.id, user):
                raise NotFound(kind="MCP credentials", id=user)
        await self._changed(who, "credentials")

    # -- the runs' tool source -----------------------------------------------------------------------

    async def run_tools(self, agent: AgentRow, ctx: ToolContext) -> Sequence[Tool]:
        """The tools of the enabled servers granted to ``agent`` (or bound to it) or to the run's
        user, under their prefix. From memory once each server has listed its tools; a server that
        cannot be reached is left out of this run (and logged)."""
        snap = await self._snapshot(agent.tenant_id)
        if not snap.servers:
            return ()
        by_agent = {g.server_id: g for g in snap.agent_grants if g.agent_id == agent.id}
        by_user = (
            {g.server_id: g for g in snap.user_grants if g.user_id == ctx.user_id} if ctx.user_id else {}
        )
        access = [
            _access(row, agent, by_agent.get(row.id), by_user.get(row.id))
            for row in snap.servers if row.enabled
        ]  # fmt: skip
        granted = [a for a in access if a.filters]
        if not granted:
            return ()
        creds = snap.credentials
        lists = await asyncio.gather(
            *(self._server_tools(a, creds.get((a.row.id, ctx.user_id))) for a in granted)
        )
        return [tool for tools in lists for tool in tools]

    async def _server_tools(self, access: _Access, creds: UserCredentials | None) -> list[Tool]:
        """The server's tools as the run's grants give them (named with the grant's prefix, its
        calls timed by the grant's timeout), from memory once the server has listed them."""
        row = access.row
        connection = await self._connection(row, creds)
        key = (row.id, creds.user_id if creds is not None else "")
        remote = connection.listed  # the common case: from memory, no task
        if remote is None:
            listing = asyncio.ensure_future(connection.tools())
            listing.add_done_callback(_consume)
            try:
                # A run waits a little for a server that is starting (npx may download for a
                # minute); the start goes on in the background and a later run finds its tools.
                remote = await asyncio.wait_for(asyncio.shield(listing), _RUN_WAIT)
            except (McpFailure, TimeoutError) as exc:
                log.warning("mcp.tools_unavailable", server=row.name, error=str(exc) or "still starting")
                return []
        variant = (access.prefix, access.timeout)
        cached = self._tools.get(key)
        if cached is None or cached[0] is not remote:
            cached = self._tools[key] = (remote, {})
        tools = cached[1].get(variant)
        if tools is None:
            tools = cached[1][variant] = []
            for item in remote:
                name = _tool_name(access.prefix, item.name)
                if name in REGISTRY:
                    log.warning("mcp.tool_name_taken", server=row.name, tool=name)
                    continue
                tools.append((item.name, Tool(ToolSpec(name=name, description=item.description or item.name,
                                                       parameters=item.input_schema or {"type": "object"}),
                                              _caller(connection, item.name, access.timeout))))  # fmt: skip
        return [tool for remote_name, tool in tools if access.allows(remote_name, tool.spec.name)]


_ExportItems = tuple[list[McpServerRow], list[ArchiveGrant]]


async def _archive(items: _ExportItems) -> tuple[str, bytes]:
    return await asyncio.to_thread(write_archive, *items)


def _consume(task: asyncio.Future[Any]) -> None:
    """Retrieve a background listing's failure (it is logged by the run that waited for it)."""
    if not task.cancelled():
        task.exception()


class _Filter(Struct, frozen=True):
    """What one grant gives of a server's tools: all but ``deny``, and only ``allow`` when it
    names any (a tool named by the server or as agents see it)."""

    allow: frozenset[str]
    deny: frozenset[str]

    def passes(self, names: tuple[str, str]) -> bool:
        return not self.deny.intersection(names) and (not self.allow or bool(self.allow.intersection(names)))


_ALL = _Filter(allow=frozenset(), deny=frozenset())


class _Access(Struct, frozen=True):
    """A run's access to one server: the filters of the grants that give it (a tool any of them
    passes is offered; none: the server is not granted), the prefix and the timeout."""

    row: McpServerRow
    filters: tuple[_Filter, ...]
    prefix: str
    timeout: float

    def allows(self, remote_name: str, name: str) -> bool:
        return any(f.passes((remote_name, name)) for f in self.filters)


def _access(
    row: McpServerRow, agent: AgentRow, by_agent: AgentGrant | None, by_user: UserGrant | None
) -> _Access:
    """``row`` as a run of ``agent`` reaches it: bound to the agent (every tool), granted to it or
    to the run's user (each grant's lists), with the agent grant's ``config_overrides``."""
    filters = [_ALL] if row.agent_id == agent.id else []
    filters += [_Filter(allow=frozenset(g.tool_allow), deny=frozenset(g.tool_deny))
                for g in (by_agent, by_user) if g is not None]  # fmt: skip
    overrides = by_agent.config_overrides if by_agent is not None else {}
    prefix = overrides.get("tool_prefix") or prefix_of(row)
    return _Access(row=row, filters=tuple(filters), prefix=prefix,
                   timeout=float(overrides.get("timeout_sec") or row.timeout_sec))  # fmt: skip


def _tool_name(prefix: str, name: str) -> str:
    return _TOOL_NAME.sub("_", prefix + name)[:64]


def _caller(connection: Connection, remote_name: str, timeout: float) -> Any:
    async def call(ctx: ToolContext, args: dict[str, Any]) -> str:
        try:
            result = await connection.call(remote_name, args, timeout)
        except McpFailure as exc:
            raise ToolError(str(exc)) from None
        text = render_result(result)
        if result.is_error:
            raise ToolError(text or f"{remote_name} failed")
        return text

    return call
