"""Agents: CRUD and context files, scoped to the caller's tenant."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.bus import INVALIDATE, BusEvent, EventBus, invalidates, invalidation
from clawgate.errors import AlreadyExists, InvalidRequest, NotFound, invalid_field
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.store import Database, DbConnection
from clawgate.store import agents as store
from clawgate.store.types import AgentFields, AgentFile, AgentFileInfo, AgentRow
from clawgate.wire import NonNegative

__all__ = ["AgentCreate", "AgentOut", "AgentPatch", "AgentService"]

AgentKey = Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,100}$", description="Human key, e.g. researcher")]
JSON = dict[str, Any]
_CACHE_TTL = 5.0
_SLUG = re.compile(r"[^a-z0-9_-]+")


# GoClaw's dashboard sends its whole agent shape with ``null`` for the fields that are unset: every
# writable field takes ``null``, which means its default (issue 10, dashboard 2).
class _AgentWritable(Struct, kw_only=True, forbid_unknown_fields=True):
    display_name: str | UnsetType | None = UNSET
    agent_description: str | UnsetType | None = UNSET
    owner_id: str | UnsetType | None = UNSET
    provider: str | UnsetType | None = UNSET
    model: str | UnsetType | None = UNSET
    context_window: Annotated[int, Meta(ge=1024, le=10_000_000)] | UnsetType | None = UNSET
    max_tool_iterations: Annotated[int, Meta(ge=1, le=500)] | UnsetType | None = UNSET
    # GoClaw's 0: the default (``AgentFields.max_tokens``), as null.
    max_tokens: Annotated[int, Meta(ge=0, le=1_000_000)] | UnsetType | None = UNSET
    temperature: Annotated[float, Meta(ge=0, le=2)] | UnsetType | None = UNSET
    thinking_level: Literal["", "off", "low", "medium", "high"] | UnsetType | None = UNSET
    workspace: str | UnsetType | None = UNSET
    restrict_to_workspace: bool | UnsetType | None = UNSET
    agent_type: Literal["open", "predefined"] | UnsetType | None = UNSET
    status: Literal["active", "inactive"] | UnsetType | None = UNSET
    is_default: bool | UnsetType | None = UNSET
    emoji: str | UnsetType | None = UNSET
    tools_config: JSON | UnsetType | None = UNSET
    sandbox_config: JSON | UnsetType | None = UNSET
    subagents_config: JSON | UnsetType | None = UNSET
    memory_config: JSON | UnsetType | None = UNSET
    compaction_config: JSON | UnsetType | None = UNSET
    context_pruning: JSON | UnsetType | None = UNSET
    other_config: JSON | UnsetType | None = UNSET
    model_fallback: JSON | UnsetType | None = UNSET
    # GoClaw's agent fields without a behaviour here: stored (``goclaw_fields``) and answered back.
    frontmatter: str | UnsetType | None = UNSET
    budget_monthly_cents: NonNegative | UnsetType | None = UNSET
    self_evolve: bool | UnsetType | None = UNSET
    skill_evolve: bool | UnsetType | None = UNSET
    skill_nudge_interval: NonNegative | UnsetType | None = UNSET
    reasoning_config: JSON | UnsetType | None = UNSET
    workspace_sharing: JSON | UnsetType | None = UNSET
    chatgpt_oauth_routing: JSON | UnsetType | None = UNSET
    shell_deny_groups: JSON | UnsetType | None = UNSET
    kg_dedup_config: JSON | UnsetType | None = UNSET
    connected_agents: list[Any] | UnsetType | None = UNSET
    system_prompt: str | UnsetType | None = UNSET
    visibility: Literal["private", "org"] | UnsetType | None = UNSET
    avatar: str | UnsetType | None = UNSET
    owner_ids: list[str] | UnsetType | None = UNSET
    is_shared: bool | UnsetType | None = UNSET
    # Read-only fields of the agent as answered, which a client saving the whole shape sends back:
    # accepted and ignored.
    id: str | UnsetType | None = UNSET
    tenant_id: str | UnsetType | None = UNSET
    created_at: str | UnsetType | None = UNSET
    updated_at: str | UnsetType | None = UNSET
    deleted_at: str | UnsetType | None = UNSET
    is_locked: bool | UnsetType | None = UNSET
    isRunning: bool | UnsetType | None = UNSET
    agentType: str | UnsetType | None = UNSET


GOCLAW_FIELDS = (
    "frontmatter", "budget_monthly_cents", "self_evolve", "skill_evolve", "skill_nudge_interval",
    "reasoning_config", "workspace_sharing", "chatgpt_oauth_routing", "shell_deny_groups", "kg_dedup_config",
    "connected_agents", "system_prompt", "visibility", "avatar", "owner_ids", "is_shared",
)  # fmt: skip
"""GoClaw's agent fields that ClawGate stores in ``goclaw_fields`` and answers back, without a behaviour."""
_READ_ONLY = frozenset({"id", "tenant_id", "created_at", "updated_at", "deleted_at", "is_locked", "isRunning",
                        "agentType"})  # fmt: skip
_COLUMNS = tuple(
    name for name in _AgentWritable.__struct_fields__ if name not in _READ_ONLY and name not in GOCLAW_FIELDS
)


class AgentCreate(_AgentWritable, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /v1/agents`` and params of ``agents.create``. Either ``agent_key`` or ``name``
    (GoClaw's WS form, slugified into the key) is required."""

    agent_key: AgentKey | UnsetType = UNSET
    name: str | UnsetType | None = UNSET

    def __post_init__(self) -> None:
        # At decode time (msgspec makes it a ValidationError), so that no body at all is refused too.
        if self.agent_key is UNSET and not self.name:
            raise ValueError("agent_key (or a name to derive it from) is required")


class AgentPatch(_AgentWritable, kw_only=True, forbid_unknown_fields=True):
    """Fields to change; absent fields keep their value."""

    agent_key: AgentKey | UnsetType = UNSET
    name: str | UnsetType | None = UNSET


class AgentOut(Struct, kw_only=True):
    """An agent as REST returns it: the table's columns plus GoClaw's alias fields."""

    id: UUID
    tenant_id: UUID
    agent_key: str
    display_name: str
    name: str
    agent_description: str
    owner_id: str
    provider: str
    model: str
    context_window: int
    max_tool_iterations: int
    max_tokens: int
    temperature: float
    thinking_level: str
    workspace: str
    restrict_to_workspace: bool
    agent_type: str
    agentType: str
    status: str
    is_default: bool
    isRunning: bool
    emoji: str
    tools_config: JSON
    sandbox_config: JSON
    subagents_config: JSON
    memory_config: JSON
    compaction_config: JSON
    context_pruning: JSON
    other_config: JSON
    model_fallback: JSON
    frontmatter: str | None = None
    budget_monthly_cents: int | None = None
    self_evolve: bool | None = None
    skill_evolve: bool | None = None
    skill_nudge_interval: int | None = None
    reasoning_config: JSON | None = None
    workspace_sharing: JSON | None = None
    chatgpt_oauth_routing: JSON | None = None
    shell_deny_groups: JSON | None = None
    kg_dedup_config: JSON | None = None
    connected_agents: list[Any] | None = None
    system_prompt: str | None = None
    visibility: str | None = None
    avatar: str | None = None
    owner_ids: list[str] | None = None
    is_shared: bool | None = None
    created_at: datetime
    updated_at: datetime


def to_out(row: AgentRow, *, running: bool = False) -> AgentOut:
    return AgentOut(
        id=row.id, tenant_id=row.tenant_id, agent_key=row.agent_key, display_name=row.display_name,
        name=row.display_name or row.agent_key, agent_description=row.agent_description,
        owner_id=row.owner_id, provider=row.provider, model=row.model,
        context_window=row.context_window, max_tool_iterations=row.max_tool_iterations,
        max_tokens=row.max_tokens, temperature=round(row.temperature, 4),
        thinking_level=row.thinking_level, workspace=row.workspace,
        restrict_to_workspace=row.restrict_to_workspace, agent_type=row.agent_type,
        agentType=row.agent_type, status=row.status, is_default=row.is_default, isRunning=running,
        emoji=row.emoji, tools_config=row.tools_config, sandbox_config=row.sandbox_config,
        subagents_config=row.subagents_config, memory_config=row.memory_config,
        compaction_config=row.compaction_config, context_pruning=row.context_pruning,
        other_config=row.other_config, model_fallback=row.model_fallback,
        created_at=row.created_at, updated_at=row.updated_at,
        **{name: row.goclaw_fields.get(name) for name in GOCLAW_FIELDS},
    )  # fmt: skip


def _slug(name: str) -> str:
    slug = _SLUG.sub("-", name.strip().lower()).strip("-")[:100]
    if not slug:
        raise InvalidRequest(detail="agent_key (or a name to derive it from) is required")
    return slug


def _apply(fields: AgentFields, patch: _AgentWritable) -> AgentFields:
    """``fields`` with the values ``patch`` sets; ``null`` puts a column back to its default and
    removes a GoClaw field."""
    defaults = AgentFields(agent_key=fields.agent_key)
    changes: dict[str, Any] = {}
    for name in _COLUMNS:
        value = getattr(patch, name)
        if value is not UNSET:
            unset = value is None or (name == "max_tokens" and value == 0)
            changes[name] = getattr(defaults, name) if unset else value
    extras = dict(fields.goclaw_fields)
    for name in GOCLAW_FIELDS:
        value = getattr(patch, name)
        if value is None:
            extras.pop(name, None)
        elif value is not UNSET:
            extras[name] = value
    return msgspec.structs.replace(fields, **changes, goclaw_fields=extras)


class ProviderCheck(Protocol):
    """Whether a provider name resolves for a tenant (``LLMResolver.has_provider``)."""

    async def has_provider(self, tenant_id: UUID, name: str) -> bool: ...


class AgentService:
    """Agent CRUD. Reads need viewer, writes admin (GoClaw's method table)."""

    def __init__(self, db: Database, bus: EventBus, providers: ProviderCheck) -> None:
        self._db = db
        self._bus = bus
        self._providers = providers
        self._lists: dict[UUID, tuple[float, list[AgentRow]]] = {}
        self._files: dict[UUID, tuple[float, list[AgentFile]]] = {}
        # Bumped by every invalidation: a read that began before one is not cached after it (it may
        # miss the change that caused it).
        self._generation = 0
        bus.subscribe(self._on_event, names=[INVALIDATE])

    async def list_agents(self, who: Principal) -> list[AgentRow]:
        """Live agents of the caller's tenant, the default first (cached briefly, dropped on any
        change in any process)."""
        now = time.monotonic()
        cached = self._lists.get(who.tenant_id)
        if cached is not None and now - cached[0] < _CACHE_TTL:
            return cached[1]
        generation = self._generation
        async with self._db.connection() as conn:
            rows = await store.list_agents(conn, who.tenant_id)
        if generation == self._generation:
            self._lists[who.tenant_id] = (now, rows)
        return rows

    async def get(self, who: Principal, ref: str) -> AgentRow:
        """An agent by UUID or agent key. Raises: NotFound (also for another tenant's agent)."""
        for row in await self.list_agents(who):
            if row.agent_key == ref or str(row.id) == ref:
                return row
        raise NotFound(kind="agent", id=ref)

    async def get_or_default(self, who: Principal, ref: str | None) -> AgentRow:
        """The agent ``ref`` names, else the tenant's default (listed first). Raises: NotFound."""
        if ref:
            return await self.get(who, ref)
        rows = await self.list_agents(who)
        if not rows:
            raise NotFound(kind="agent", id="default (create one with POST /v1/agents)")
        return rows[0]

    async def context_files(self, agent: AgentRow) -> list[AgentFile]:
        """The agent's context files with content, for its system prompt (cached like agents)."""
        now = time.monotonic()
        cached = self._files.get(agent.id)
        if cached is not None and now - cached[0] < _CACHE_TTL:
            return cached[1]
        generation = self._generation
        async with self._db.connection() as conn:
            files = await store.all_files(conn, agent.tenant_id, agent.id)
        if generation == self._generation:
            self._files[agent.id] = (now, files)
        return files

    def _on_event(self, event: BusEvent) -> None:
        if invalidates(event, "agent"):
            self._generation += 1
            self._lists.clear()
            self._files.clear()

    async def create(self, who: Principal, body: AgentCreate) -> AgentRow:
        """Create an agent. Raises: Forbidden below admin; AlreadyExists for a taken key."""
        fields = await self.prepare(who, body)
        async with self._db.transaction() as conn:
            row = await self.insert(conn, who, fields)
        await self.created(who, row)
        return row

    async def prepare(self, who: Principal, body: AgentCreate) -> AgentFields:
        """The fields of an agent ``body`` makes, checked (its model and provider route). Raises:
        Forbidden below admin; InvalidRequest."""
        require(who, Role.ADMIN, "agents.create")
        key = body.agent_key if body.agent_key is not UNSET else _slug(str(body.name or ""))
        base = AgentFields(agent_key=key, owner_id=who.user_id)
        if isinstance(body.name, str) and body.display_name is UNSET:
            base = msgspec.structs.replace(base, display_name=body.name)
        fields = _apply(base, body)
        await self._check_route(who, fields)
        return fields

    @staticmethod
    async def insert(conn: DbConnection, who: Principal, fields: AgentFields) -> AgentRow:
        """Insert ``prepare``'s fields in the caller's transaction (``created`` after the commit).
        Raises: AlreadyExists for a taken key."""
        row = await store.insert(conn, who.tenant_id, fields)
        if row.is_default:
            await store.clear_default(conn, who.tenant_id, row.id)
        return row

    async def created(self, who: Principal, row: AgentRow) -> None:
        """After the commit of ``insert``: caches dropped, clients told."""
        await self._changed(who, row, "created")

    async def ensure(self, who: Principal, key: str, *, provider: str, model: str) -> AgentRow:
        """The tenant's agent ``key``; when missing, created with ``provider`` and ``model`` (no role
        needed: it is the gateway's default agent, ``gateway.default_agent``)."""
        try:
            return await self.get(who, key)
        except NotFound:
            pass
        fields = AgentFields(agent_key=key, display_name="Default agent", owner_id="system", provider=provider,
                             model=model)  # fmt: skip
        try:
            async with self._db.transaction() as conn:
                row = await store.insert(conn, who.tenant_id, fields)
        except AlreadyExists:  # created meanwhile, by another request or process
            async with self._db.connection() as conn:
                found = await store.get_by_key(conn, who.tenant_id, key)
            if found is None:
                raise
            return found
        await self._changed(who, row, "created")
        return row

    async def update(self, who: Principal, ref: str, patch: AgentPatch) -> AgentRow:
        """Change the fields present in ``patch``. Raises: Forbidden, NotFound, AlreadyExists."""
        require(who, Role.ADMIN, "agents.update")
        if patch.provider is not UNSET or patch.model is not UNSET:
            # Checked before the row is locked: the check may take a connection of its own.
            await self._check_route(who, _apply(store.fields_of(await self.get(who, ref)), patch))
        async with self._db.transaction() as conn:
            current = await store.get_by_ref(conn, who.tenant_id, ref)
            if current is None:
                raise NotFound(kind="agent", id=ref)
            locked = await store.get_for_update(conn, who.tenant_id, current.id)
            assert locked is not None
            fields = _apply(store.fields_of(locked), patch)
            if patch.agent_key is not UNSET:
                fields = msgspec.structs.replace(fields, agent_key=patch.agent_key)
            if isinstance(patch.name, str) and patch.display_name is UNSET:
                fields = msgspec.structs.replace(fields, display_name=patch.name)
            row = await store.update(conn, who.tenant_id, locked.id, fields)
            if row.is_default:
                await store.clear_default(conn, who.tenant_id, row.id)
        await self._changed(who, row, "updated")
        return row

    async def _check_route(self, who: Principal, fields: AgentFields) -> None:
        """An agent must be able to run: a model set, and its provider one of the tenant's or configured
        by environment (none named: there must be one to fall back on). Raises: InvalidRequest naming
        the field (issue 10, item 6)."""
        if not fields.model.strip():
            raise invalid_field("$.model", "a model is required (the provider's model id, e.g. gpt-4o-mini)")
        if await self._providers.has_provider(who.tenant_id, fields.provider):
            return
        if fields.provider:
            detail = (f"provider {fields.provider!r} does not exist or is disabled: create it (POST /v1/providers) "
                      f"or configure it by environment (CLAWGATE_{fields.provider.upper()}_API_KEY)")  # fmt: skip
        else:
            detail = "no provider is configured to fall back on: name one (POST /v1/providers creates it)"
        raise invalid_field("$.provider", detail)

    async def delete(self, who: Principal, ref: str) -> None:
        """Soft-delete an agent. Raises: Forbidden, NotFound."""
        require(who, Role.ADMIN, "agents.delete")
        async with self._db.transaction() as conn:
            row = await store.get_by_ref(conn, who.tenant_id, ref)
            if row is None or not await store.soft_delete(conn, who.tenant_id, row.id):
                raise NotFound(kind="agent", id=ref)
        await self._changed(who, row, "deleted")

    async def list_files(self, who: Principal, ref: str) -> tuple[AgentRow, list[AgentFileInfo]]:
        row = await self.get(who, ref)
        async with self._db.connection() as conn:
            return row, await store.list_files(conn, who.tenant_id, row.id)

    async def find_file(self, who: Principal, ref: str, name: str) -> AgentFile | None:
        """One of the agent's files, or None when it has none of that name. Raises: NotFound (agent)."""
        row = await self.get(who, ref)
        async with self._db.connection() as conn:
            return await store.get_file(conn, who.tenant_id, row.id, name)

    async def set_file(self, who: Principal, ref: str, name: str, content: str) -> AgentFile:
        """Write a context file (SOUL.md, IDENTITY.md, HEARTBEAT.md ...). Needs operator."""
        require(who, Role.OPERATOR, "agents.files.set")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", name) or name.startswith("."):
            raise InvalidRequest(detail=f"invalid file name {name!r}")
        row = await self.get(who, ref)
        async with self._db.transaction() as conn:
            saved = await store.put_file(conn, who.tenant_id, row.id, name, content)
        await self._changed(who, row, "file")
        return saved

    async def _changed(self, who: Principal, row: AgentRow, action: str) -> None:
        await self.changed(who.tenant_id, row.agent_key, action)

    async def changed(self, tenant_id: UUID, key: str, action: str) -> None:
        """Tell every process an agent changed (their cached agent lists and context files go),
        after a change another service committed (Mission Control's agent routes)."""
        await self._bus.publish(invalidation("agent", tenant_id, key=key, action=action))
