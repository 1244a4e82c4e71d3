"""Agents: CRUD and context files, scoped to the caller's tenant."""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.bus import BusEvent, EventBus, invalidates, invalidation
from clawgate.errors import InvalidRequest, NotFound
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.store import Database
from clawgate.store import agents as store
from clawgate.store.types import AgentFields, AgentFile, AgentFileInfo, AgentRow

__all__ = ["AgentCreate", "AgentOut", "AgentPatch", "AgentService"]

AgentKey = Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,100}$", description="Human key, e.g. researcher")]
JSON = dict[str, Any]
_CACHE_TTL = 5.0
_SLUG = re.compile(r"[^a-z0-9_-]+")


class _AgentWritable(Struct, kw_only=True, forbid_unknown_fields=True):
    display_name: str | UnsetType = UNSET
    agent_description: str | UnsetType = UNSET
    owner_id: str | UnsetType = UNSET
    provider: str | UnsetType = UNSET
    model: str | UnsetType = UNSET
    context_window: Annotated[int, Meta(ge=1024, le=10_000_000)] | UnsetType = UNSET
    max_tool_iterations: Annotated[int, Meta(ge=1, le=500)] | UnsetType = UNSET
    max_tokens: Annotated[int, Meta(ge=1, le=1_000_000)] | UnsetType = UNSET
    temperature: Annotated[float, Meta(ge=0, le=2)] | UnsetType = UNSET
    thinking_level: Literal["", "off", "low", "medium", "high"] | UnsetType = UNSET
    workspace: str | UnsetType = UNSET
    restrict_to_workspace: bool | UnsetType = UNSET
    agent_type: Literal["open", "predefined"] | UnsetType = UNSET
    status: Literal["active", "inactive"] | UnsetType = UNSET
    is_default: bool | UnsetType = UNSET
    emoji: str | UnsetType = UNSET
    tools_config: JSON | UnsetType = UNSET
    sandbox_config: JSON | UnsetType = UNSET
    subagents_config: JSON | UnsetType = UNSET
    memory_config: JSON | UnsetType = UNSET
    compaction_config: JSON | UnsetType = UNSET
    context_pruning: JSON | UnsetType = UNSET
    other_config: JSON | UnsetType = UNSET
    model_fallback: JSON | UnsetType = UNSET


class AgentCreate(_AgentWritable, kw_only=True, forbid_unknown_fields=True):
    """Body of ``POST /v1/agents`` and params of ``agents.create``. Either ``agent_key`` or ``name``
    (GoClaw's WS form, slugified into the key) is required."""

    agent_key: AgentKey | UnsetType = UNSET
    name: str | UnsetType = UNSET

    def __post_init__(self) -> None:
        # At decode time (msgspec makes it a ValidationError), so that no body at all is refused too.
        if self.agent_key is UNSET and self.name is UNSET:
            raise ValueError("agent_key (or a name to derive it from) is required")


class AgentPatch(_AgentWritable, kw_only=True, forbid_unknown_fields=True):
    """Fields to change; absent fields keep their value."""

    agent_key: AgentKey | UnsetType = UNSET
    name: str | UnsetType = UNSET


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
    )  # fmt: skip


def _slug(name: str) -> str:
    slug = _SLUG.sub("-", name.strip().lower()).strip("-")[:100]
    if not slug:
        raise InvalidRequest(detail="agent_key (or a name to derive it from) is required")
    return slug


def _apply(fields: AgentFields, patch: _AgentWritable) -> AgentFields:
    changes = {
        name: value
        for name in _AgentWritable.__struct_fields__
        if (value := getattr(patch, name)) is not UNSET
    }
    return msgspec.structs.replace(fields, **changes)


class AgentService:
    """Agent CRUD. Reads need viewer, writes admin (GoClaw's method table)."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus
        self._lists: dict[UUID, tuple[float, list[AgentRow]]] = {}
        self._files: dict[UUID, tuple[float, list[AgentFile]]] = {}
        bus.subscribe(self._on_event)

    async def list_agents(self, who: Principal) -> list[AgentRow]:
        """Live agents of the caller's tenant, the default first (cached briefly, dropped on any
        change in any process)."""
        now = time.monotonic()
        cached = self._lists.get(who.tenant_id)
        if cached is not None and now - cached[0] < _CACHE_TTL:
            return cached[1]
        async with self._db.connection() as conn:
            rows = await store.list_agents(conn, who.tenant_id)
        self._lists[who.tenant_id] = (now, rows)
        return rows

    async def get(self, who: Principal, ref: str) -> AgentRow:
        """An agent by UUID or agent key. Raises: NotFound (also for another tenant's agent)."""
        for row in await self.list_agents(who):
            if row.agent_key == ref or str(row.id) == ref:
                return row
        raise NotFound(kind="agent", id=ref)

    async def context_files(self, agent: AgentRow) -> list[AgentFile]:
        """The agent's context files with content, for its system prompt (cached like agents)."""
        now = time.monotonic()
        cached = self._files.get(agent.id)
        if cached is not None and now - cached[0] < _CACHE_TTL:
            return cached[1]
        async with self._db.connection() as conn:
            files = await store.all_files(conn, agent.tenant_id, agent.id)
        self._files[agent.id] = (now, files)
        return files

    def _on_event(self, event: BusEvent) -> None:
        if invalidates(event, "agent"):
            self._lists.clear()
            self._files.clear()

    async def create(self, who: Principal, body: AgentCreate) -> AgentRow:
        """Create an agent. Raises: Forbidden below admin; AlreadyExists for a taken key."""
        require(who, Role.ADMIN, "agents.create")
        key = body.agent_key if body.agent_key is not UNSET else _slug(str(body.name or ""))
        base = AgentFields(agent_key=key, owner_id=who.user_id)
        if body.name is not UNSET and body.display_name is UNSET:
            base = msgspec.structs.replace(base, display_name=body.name)
        fields = _apply(base, body)
        async with self._db.transaction() as conn:
            row = await store.insert(conn, who.tenant_id, fields)
            if row.is_default:
                await store.clear_default(conn, who.tenant_id, row.id)
        await self._changed(who, row, "created")
        return row

    async def update(self, who: Principal, ref: str, patch: AgentPatch) -> AgentRow:
        """Change the fields present in ``patch``. Raises: Forbidden, NotFound, AlreadyExists."""
        require(who, Role.ADMIN, "agents.update")
        async with self._db.transaction() as conn:
            current = await store.get_by_ref(conn, who.tenant_id, ref)
            if current is None:
                raise NotFound(kind="agent", id=ref)
            locked = await store.get_for_update(conn, who.tenant_id, current.id)
            assert locked is not None
            fields = _apply(store.fields_of(locked), patch)
            if patch.agent_key is not UNSET:
                fields = msgspec.structs.replace(fields, agent_key=patch.agent_key)
            if patch.name is not UNSET and patch.display_name is UNSET:
                fields = msgspec.structs.replace(fields, display_name=patch.name)
            row = await store.update(conn, who.tenant_id, locked.id, fields)
            if row.is_default:
                await store.clear_default(conn, who.tenant_id, row.id)
        await self._changed(who, row, "updated")
        return row

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
        await self._bus.publish(invalidation("agent", who.tenant_id, key=row.agent_key, action=action))
