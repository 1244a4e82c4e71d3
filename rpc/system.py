"""System methods: ``connect``, ``health``, ``status``."""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from msgspec import Struct

from clawgate import __version__
from clawgate.i18n import LOCALES
from clawgate.principal import Role
from clawgate.tools import REGISTRY
from clawgate.wire import Int64

from .types import CallContext, Method

__all__ = [
    "METHODS",
    "PROTOCOL",
    "AgentState",
    "Features",
    "GatewayStatus",
    "Health",
    "Hello",
    "Policy",
    "ServerInfo",
]

log = structlog.get_logger("clawgate.rpc")

PROTOCOL = 3
"""The protocol version this server speaks (GoClaw's v3)."""


class ConnectParams(Struct, kw_only=True):
    """``connect`` params. Unknown fields are ignored here (and only here): OpenClaw and GoClaw
    clients send version and device fields that the gateway does not use."""

    token: str = ""
    user_id: str = ""
    tenant_id: str = ""
    tenant_scope: str = ""  # deprecated alias of tenant_id (GoClaw)
    tenant_hint: str = ""
    locale: str = ""
    client: dict[str, Any] | None = None
    protocol: Int64 | None = None


class ServerInfo(Struct, kw_only=True):
    name: str
    version: str


class Policy(Struct, kw_only=True):
    """The connection's limits: the largest frame, the send buffer, the tick interval."""

    max_payload: int
    max_buffered_bytes: int
    tick_interval_ms: int


class Features(Struct, kw_only=True):
    methods: list[str]
    events: list[str]


class Hello(Struct, kw_only=True):
    """``connect``'s answer (GoClaw's hello): who the connection is, the server, its limits and what
    it speaks. Field order is the wire order."""

    protocol: int
    role: str
    user_id: str
    tenant_id: str
    tenant_slug: str
    tenant_name: str
    is_owner: bool
    is_master_scope: bool
    edition: str
    server: ServerInfo
    conn_id: str
    policy: Policy
    features: Features


class Health(Struct, kw_only=True):
    """``health``: status, version, uptime (ms), the database's state, the number of tools, and the
    connected clients the caller may see (``clients``: a list of ``ClientInfo``, at most
    ``HEALTH_CLIENTS_LISTED``; ``clientCount``: all of them). Field order is the wire order."""

    status: str
    version: str
    protocol: int
    uptime: int
    mode: str
    database: str
    tools: int
    clients: msgspec.Raw  # list[ClientInfo], encoded once per audience by the registry
    clientCount: int
    currentId: str


class AgentState(Struct, kw_only=True):
    id: str
    agent_key: str
    name: str
    status: str
    isRunning: bool


class GatewayStatus(Struct, kw_only=True):
    """``status``: the tenant's agents, the clients connected to this process in the tenant."""

    agents: list[AgentState]
    agentTotal: int
    clients: int
    sessions: int


async def connect(ctx: CallContext, params: ConnectParams) -> Hello:
    """Authenticate the connection (spec section 2). Raises: Unauthorized, TenantAccessRevoked."""
    from .methods import EVENTS
    from .methods import METHODS as ALL

    gateway = ctx.gateway
    locale = params.locale.lower().split("-")[0] if params.locale else "en"
    locale = locale if locale in LOCALES else "en"
    # Set before authenticating so that a refused connect is answered in the client's language.
    ctx.conn.locale = locale
    who = await gateway.auth.authenticate(
        params.token,
        user_id=params.user_id,
        tenant_hint=params.tenant_id or params.tenant_scope or params.tenant_hint,
        dev_role=Role.OPERATOR,
    )
    ctx.conn.open(who, locale)
    if params.protocol is not None and params.protocol != PROTOCOL:
        # Accepted as GoClaw accepts it (it does not check); the answer says what the server speaks.
        log.warning("rpc.protocol_mismatch", client_protocol=params.protocol, server_protocol=PROTOCOL)
    limits = gateway.settings.limits
    return Hello(
        protocol=PROTOCOL,
        role=who.role.label,
        user_id=who.user_id,
        tenant_id=str(who.tenant_id),
        tenant_slug=who.tenant_slug,
        tenant_name=who.tenant_name,
        is_owner=who.is_owner,
        is_master_scope=who.tenant_slug == "master",
        edition=gateway.settings.edition,
        server=ServerInfo(name="clawgate", version=__version__),
        conn_id=ctx.conn.id,
        policy=Policy(
            max_payload=limits.ws_max_payload,
            max_buffered_bytes=limits.ws_max_buffered_bytes,
            tick_interval_ms=limits.tick_interval_ms,
        ),
        features=Features(methods=sorted(ALL), events=sorted(EVENTS)),
    )


async def health(ctx: CallContext, _: None) -> Health:
    """GoClaw's ``health``: status, version, uptime (ms), database state and connected clients:
    ``clientCount`` counts those the caller may see, ``clients`` lists the first
    ``HEALTH_CLIENTS_LISTED`` (all of them below that, as GoClaw does)."""
    gateway = ctx.gateway
    db_ok = await gateway.db.healthy()
    clients, count = gateway.clients.view(ctx.who)
    return Health(
        status="ok" if db_ok else "degraded",
        version=__version__,
        protocol=PROTOCOL,
        uptime=gateway.uptime_ms,
        mode="managed",
        database="ok" if db_ok else "error",
        tools=len(REGISTRY),
        clients=clients,
        clientCount=count,
        currentId=ctx.conn.id,
    )


async def status(ctx: CallContext, _: None) -> GatewayStatus:
    """Agents of the tenant, with counts of clients and sessions."""
    rows = await ctx.gateway.agents.list_agents(ctx.who)
    agents = [
        AgentState(id=r.agent_key, agent_key=r.agent_key, name=r.display_name or r.agent_key, status=r.status,
                   isRunning=False)
        for r in rows
    ]  # fmt: skip
    tenant = str(ctx.who.tenant_id)
    return GatewayStatus(
        agents=agents,
        agentTotal=len(agents),
        clients=ctx.gateway.clients.count_in(tenant),
        sessions=0,
    )


METHODS = {
    "connect": Method(ConnectParams, connect, None, public=True),
    "health": Method(None, health, None, quick=True),
    "status": Method(None, status, Role.VIEWER),
}
