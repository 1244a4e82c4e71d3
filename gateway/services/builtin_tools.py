"""Built-in tools per tenant: the catalog (``clawgate.tools.REGISTRY``), each tenant's enable and
settings (``builtin_tool_configs``), the tools a run is offered, and ``POST /v1/tools/invoke``.

A tenant's view is loaded once per process and kept until a change anywhere drops it over the bus
(``cache.invalidate`` kind ``builtin_tools``), so a run asks memory, never the database.
Reads need viewer; changes admin; turning ``exec`` on, changing its settings, or letting
``web_fetch`` reach private hosts needs the gateway's owner (they open the gateway's own host and
network, which a tenant admin of a shared gateway must not get). Invoking needs operator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID, uuid4

import aiohttp
import msgspec
from msgspec import UNSET, Struct, UnsetType

from clawgate.bus import INVALIDATE, BusEvent, EventBus, invalidates, invalidation
from clawgate.errors import FailedPrecondition, Forbidden, GatewayError, NotFound, invalid_field
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.store import Database
from clawgate.store import builtin_tools as store
from clawgate.store.types import JSON, AgentRow
from clawgate.tools import REGISTRY, Tool, ToolContext, ToolError
from clawgate.tools.exec import ExecSettings, checked_argv
from clawgate.tools.files import FileSettings, workspace_of
from clawgate.tools.web import WebFetchSettings, fetch_session

__all__ = ["BuiltinTool", "BuiltinToolService", "InvokeBody", "InvokeResult", "ToolUpdate"]

S = TypeVar("S", bound=Struct)
_KIND = "builtin_tools"


@dataclass(frozen=True, slots=True)
class _Info:
    category: str
    display_name: str
    default_enabled: bool = True
    settings: type[Struct] | None = None


_FILES = ("read_file", "write_file", "edit", "list_files", "search")
_CATALOG: dict[str, _Info] = {
    "web_fetch": _Info("web", "Web fetch", settings=WebFetchSettings),
    "exec": _Info("runtime", "Run a program", default_enabled=False, settings=ExecSettings),
    **{name: _Info("filesystem", name.replace("_", " ").capitalize(), settings=FileSettings) for name in _FILES},
    "memory_search": _Info("memory", "Memory search"), "memory_get": _Info("memory", "Memory get"),
    "vault_search": _Info("vault", "Vault search"), "cron": _Info("automation", "Cron"),
}  # fmt: skip


def _info(name: str) -> _Info:
    return _CATALOG.get(name) or _Info("general", name.replace("_", " ").capitalize())


class BuiltinTool(Struct, kw_only=True):
    """GoClaw's built-in tool definition, with the tenant's effective values."""

    name: str
    display_name: str
    description: str
    category: str
    enabled: bool
    settings: JSON
    parameters: JSON
    default_enabled: bool
    tenant_enabled: bool | None = None  # the tenant's override (None: the default applies)
    requires: list[str] = msgspec.field(default_factory=list)
    metadata: JSON = msgspec.field(default_factory=dict)
    updated_at: datetime | None = None


class ToolUpdate(Struct, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/tools/builtin/{name}``: ``enabled`` and/or ``settings`` (``null``: unchanged)."""

    enabled: bool | UnsetType | None = UNSET
    settings: JSON | UnsetType | None = UNSET


class TenantConfigBody(Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class TenantConfig(Struct, kw_only=True):
    tool_name: str
    enabled: bool | None  # the override; None: none (the default applies)
    effective: bool


class InvokeBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's ``POST /v1/tools/invoke`` body."""

    tool: str
    action: str | None = None
    args: JSON | None = None
    sessionKey: str | None = None
    agentId: str | None = None
    dryRun: bool | None = None
    channel: str | None = None
    chatId: str | None = None
    peerKind: str | None = None


class InvokeResult(Struct, kw_only=True, omit_defaults=True):
    """What an invocation did: the tool's text (``ok``), or its refusal as the model sees it."""

    tool: str
    ok: bool
    dryRun: bool = False
    result: str | None = None
    error: str | None = None
    parameters: JSON | None = None  # dryRun: the tool's schema
    wouldRun: str | None = None  # dryRun: what would run


@dataclass(frozen=True, slots=True)
class _TenantView:
    configs: dict[str, store.ToolConfig]
    enabled: frozenset[str]
    tools: list[Tool]
    settings: dict[str, Struct]


class BuiltinToolService:
    def __init__(self, db: Database, bus: EventBus, data_path: Path, agents: Any) -> None:
        self._db = db
        self._bus = bus
        self._data_path = data_path
        self._agents = agents
        self._views: dict[UUID, _TenantView] = {}
        self._generation = 0
        self._web: aiohttp.ClientSession | None = None
        bus.subscribe(self._on_event, names=[INVALIDATE])

    @property
    def web(self) -> aiohttp.ClientSession:
        """The guarded client of ``web_fetch`` (made on first use, in the running loop)."""
        if self._web is None:
            self._web = fetch_session()
        return self._web

    async def close(self) -> None:
        if self._web is not None:
            await self._web.close()

    def _on_event(self, event: BusEvent) -> None:
        if invalidates(event, _KIND):
            self._generation += 1
            if event.tenant_id is None:
                self._views.clear()
            else:
                self._views.pop(event.tenant_id, None)

    # -- the run's side (from memory) ----------------------------------------------------------

    async def _view(self, tenant_id: UUID) -> _TenantView:
        view = self._views.get(tenant_id)
        if view is not None:
            return view
        generation = self._generation
        async with self._db.connection() as conn:
            rows = await store.list_configs(conn, tenant_id)
        configs = {r.name: r for r in rows}
        enabled = frozenset(
            name for name in REGISTRY
            if (configs[name].enabled if name in configs and configs[name].enabled is not None
                else _info(name).default_enabled)
        )  # fmt: skip
        settings: dict[str, Struct] = {}
        for name, cfg in configs.items():
            kind = _info(name).settings
            if kind is not None:
                # A value stored before a stricter release falls back to the defaults.
                with contextlib.suppress(msgspec.ValidationError):
                    settings[name] = msgspec.convert(cfg.settings, kind)
        view = _TenantView(configs, enabled, [t for n, t in REGISTRY.items() if n in enabled], settings)
        if generation == self._generation:
            self._views[tenant_id] = view
        return view

    async def run_tools(self, tenant_id: UUID) -> list[Tool]:
        """The built-in tools enabled for the tenant (cached; the same list object until a change)."""
        return (await self._view(tenant_id)).tools

    async def settings_of(self, tenant_id: UUID, name: str, kind: type[S]) -> S:
        """The tenant's settings of ``name`` (from memory once loaded), else its defaults."""
        view = await self._view(tenant_id)
        found = view.settings.get(name)
        return found if isinstance(found, kind) else kind()

    def workspace(self, ctx: ToolContext) -> Path:
        """The run's workspace directory (``clawgate.tools.files.workspace_of``)."""
        return workspace_of(self._data_path, ctx)

    # -- the REST side --------------------------------------------------------------------------

    def _definition(self, name: str, view: _TenantView) -> BuiltinTool:
        tool = REGISTRY[name]
        info = _info(name)
        cfg = view.configs.get(name)
        settings: JSON = cfg.settings if cfg is not None else {}
        if info.settings is not None:
            settings = msgspec.to_builtins(view.settings.get(name) or info.settings())
        return BuiltinTool(
            name=name, display_name=info.display_name, description=tool.spec.description,
            category=info.category, enabled=name in view.enabled, settings=settings,
            parameters=tool.spec.parameters, default_enabled=info.default_enabled,
            tenant_enabled=cfg.enabled if cfg is not None else None,
            updated_at=cfg.updated_at if cfg is not None else None,
        )  # fmt: skip

    def _known(self, name: str) -> str:
        if name not in REGISTRY:
            raise NotFound(kind="tool", id=name)
        return name

    async def list_tools(self, who: Principal) -> list[BuiltinTool]:
        require(who, Role.VIEWER, "tools.builtin.list")
        view = await self._view(who.tenant_id)
        return [self._definition(name, view) for name in sorted(REGISTRY)]

    async def get_tool(self, who: Principal, name: str) -> BuiltinTool:
        require(who, Role.VIEWER, "tools.builtin.get")
        return self._definition(self._known(name), await self._view(who.tenant_id))

    def _guard_host_access(self, who: Principal, name: str, enabled: bool | None, settings: JSON) -> None:
        opens_host = (name == "exec" and (enabled is True or bool(settings))) or (
            name == "web_fetch" and bool(settings.get("allowed_hosts"))
        )
        if opens_host and not who.manages_gateway:
            raise Forbidden(
                action=f"enabling or configuring {name} (it reaches the gateway's host)", role="owner"
            )

    def _checked_settings(self, name: str, settings: JSON) -> JSON:
        kind = _info(name).settings
        if kind is None:
            return settings
        try:
            checked: JSON = msgspec.to_builtins(msgspec.convert(settings, kind))
        except msgspec.ValidationError as exc:
            raise invalid_field("$.settings", str(exc)) from None
        return checked

    async def _put(self, who: Principal, name: str, enabled: bool | None, settings: JSON) -> None:
        async with self._db.transaction() as conn:
            await store.put(conn, who.tenant_id, name, enabled, settings)
        await self._bus.publish(invalidation(_KIND, who.tenant_id, name=name))

    async def update(self, who: Principal, name: str, body: ToolUpdate) -> None:
        """Set the tenant's ``enabled`` and/or ``settings`` of a tool. Raises: Forbidden, NotFound,
        InvalidRequest (settings not of the tool's shape)."""
        require(who, Role.ADMIN, "tools.builtin.update")
        self._known(name)
        if body.enabled is UNSET and body.settings is UNSET:
            raise invalid_field("$", "give enabled and/or settings")
        view = await self._view(who.tenant_id)
        cfg = view.configs.get(name)
        enabled = cfg.enabled if cfg is not None else None
        settings: JSON = cfg.settings if cfg is not None else {}
        if not isinstance(body.enabled, UnsetType) and body.enabled is not None:
            enabled = body.enabled
        new_settings: JSON = {}
        if not isinstance(body.settings, UnsetType) and body.settings is not None:
            new_settings = self._checked_settings(name, body.settings)
            settings = new_settings
        self._guard_host_access(who, name, body.enabled if isinstance(body.enabled, bool) else None,
                                body.settings if isinstance(body.settings, dict) else {})  # fmt: skip
        await self._put(who, name, enabled, settings)

    async def tenant_config(self, who: Principal, name: str) -> TenantConfig:
        """The tenant's override of a tool (reads viewer, as the seed marks only PUT/DELETE admin)."""
        require(who, Role.VIEWER, "tools.builtin.tenant_config")
        view = await self._view(who.tenant_id)
        cfg = view.configs.get(self._known(name))
        return TenantConfig(
            tool_name=name, enabled=cfg.enabled if cfg else None, effective=name in view.enabled
        )

    async def set_tenant_config(self, who: Principal, name: str, body: TenantConfigBody) -> TenantConfig:
        require(who, Role.ADMIN, "tools.builtin.tenant_config")
        self._known(name)
        self._guard_host_access(who, name, body.enabled, {})
        cfg = (await self._view(who.tenant_id)).configs.get(name)
        await self._put(who, name, body.enabled, cfg.settings if cfg is not None else {})
        return await self.tenant_config(who, name)

    async def delete_tenant_config(self, who: Principal, name: str) -> None:
        """Drop the tenant's override and settings (the defaults apply again)."""
        require(who, Role.ADMIN, "tools.builtin.tenant_config")
        self._known(name)
        async with self._db.transaction() as conn:
            await store.delete(conn, who.tenant_id, name)
        await self._bus.publish(invalidation(_KIND, who.tenant_id, name=name))

    async def invoke(
        self, who: Principal, body: InvokeBody, extend: Callable[[ToolContext], ToolContext]
    ) -> InvokeResult:
        """Run a built-in tool as the caller (its tenant, the agent ``agentId`` or the default, its
        user id); ``dryRun`` checks and says what would run. ``extend`` adds the run manager's
        service handles. Raises: NotFound (tool, agent), FailedPrecondition (disabled),
        InvalidRequest (args not an object)."""
        require(who, Role.OPERATOR, "tools.invoke")
        name = self._known(body.tool)
        view = await self._view(who.tenant_id)
        if name not in view.enabled:
            raise FailedPrecondition(detail=f"the tool {name} is disabled for this tenant")
        args = body.args if body.args is not None else {}
        agent: AgentRow = await self._agents.get_or_default(who, body.agentId)
        ctx = extend(ToolContext(
            tenant_id=who.tenant_id, agent_id=agent.id, agent_key=agent.agent_key,
            session_key=body.sessionKey or "", user_id=who.user_id, run_id=uuid4(), builtin=self,
        ))  # fmt: skip
        tool = REGISTRY[name]
        if body.dryRun:
            try:
                would = await self._would_run(name, args, ctx)
            except ToolError as exc:
                return InvokeResult(
                    tool=name, ok=False, dryRun=True, error=str(exc), parameters=tool.spec.parameters
                )
            return InvokeResult(
                tool=name, ok=True, dryRun=True, parameters=tool.spec.parameters, wouldRun=would
            )
        try:
            return InvokeResult(tool=name, ok=True, result=await tool.fn(ctx, args))
        except ToolError as exc:
            return InvokeResult(tool=name, ok=False, error=str(exc))
        except GatewayError:
            raise
        except Exception as exc:
            return InvokeResult(tool=name, ok=False, error=f"{type(exc).__name__}")

    async def _would_run(self, name: str, args: JSON, ctx: ToolContext) -> str:
        if name == "exec":
            argv = checked_argv(args, await self.settings_of(ctx.tenant_id, "exec", ExecSettings))
            return f"exec {argv!r} in {ctx.agent_key}'s workspace"
        return f"{name} {msgspec.json.encode(args).decode()[:500]} as agent {ctx.agent_key}"
