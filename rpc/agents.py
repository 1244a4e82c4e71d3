"""Agent methods: ``agents.list|create|update|delete``, ``agents.files.list|get|set`` and
``agent.identity.get`` (GoClaw shapes). ``agentId`` accepts the agent key or its UUID; an agent of
another tenant is ``NOT_FOUND``."""

from __future__ import annotations

from typing import Annotated

from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.errors import NotFound
from clawgate.principal import Role
from clawgate.runtime.prompt import CONTEXT_FILES
from clawgate.services.agents import AgentCreate, AgentOut, AgentPatch, to_out
from clawgate.store.types import AgentFile, AgentRow

from .types import CallContext, Method

__all__ = ["METHODS"]

AgentRef = Annotated[str, Meta(min_length=1, max_length=100, description="Agent key or UUID")]


class AgentItem(Struct, kw_only=True):
    """One ``agents.list`` entry: GoClaw's code (``id`` is the key) and contract names together."""

    id: str
    agent_key: str
    uuid: str
    display_name: str
    name: str
    model: str
    provider: str
    agentType: str
    status: str
    isRunning: bool
    is_default: bool
    emoji: str


class AgentRefParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: AgentRef


class AgentUpdateParams(AgentPatch, kw_only=True, forbid_unknown_fields=True):
    """``{agentId, ...fields}``; absent fields keep their value."""

    agentId: AgentRef


class AgentDeleteParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: AgentRef
    # GoClaw's flag; context files live in the database and go with the agent either way.
    deleteFiles: bool = False


class FileParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: AgentRef
    name: Annotated[str, Meta(min_length=1, max_length=128)]


class FileSetParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: AgentRef
    name: Annotated[str, Meta(min_length=1, max_length=128)]
    content: str


class AgentDeleted(Struct, kw_only=True):
    ok: bool = True
    agentId: str


class AgentFileOut(Struct, kw_only=True):
    """A context file (GoClaw's shape): ``content`` only when one file is read, ``size`` and
    ``updatedAtMs`` when it is written, just ``{name, missing: true}`` when it is not. Field order
    is the wire order."""

    name: str
    content: str | UnsetType = UNSET
    size: int | UnsetType = UNSET
    updatedAtMs: int | UnsetType = UNSET
    missing: bool


class AgentFileList(Struct, kw_only=True):
    agentId: str
    files: list[AgentFileOut]


class AgentFileAnswer(Struct, kw_only=True):
    """``agents.files.get``: one file of an agent."""

    agentId: str
    file: AgentFileOut


class AgentFileWritten(Struct, kw_only=True):
    """``agents.files.set``: the file as written."""

    ok: bool = True
    agentId: str
    file: AgentFileOut


def _item(row: AgentRow) -> AgentItem:
    return AgentItem(
        id=row.agent_key, agent_key=row.agent_key, uuid=str(row.id), display_name=row.display_name,
        name=row.display_name or row.agent_key, model=row.model, provider=row.provider,
        agentType=row.agent_type, status=row.status, isRunning=False, is_default=row.is_default,
        emoji=row.emoji,
    )  # fmt: skip


def _file(found: AgentFile) -> AgentFileOut:
    return AgentFileOut(
        name=found.file_name, content=found.content, size=len(found.content.encode()),
        updatedAtMs=int(found.updated_at.timestamp() * 1000), missing=False,
    )  # fmt: skip


async def list_agents(ctx: CallContext, _: None) -> dict[str, list[AgentItem]]:
    """The agents of the caller's tenant, the default first."""
    return {"agents": [_item(r) for r in await ctx.gateway.agents.list_agents(ctx.who)]}


async def create(ctx: CallContext, params: AgentCreate) -> AgentOut:
    """Create an agent; ``name`` alone derives the key. Raises: AlreadyExists, InvalidRequest."""
    return to_out(await ctx.gateway.agents.create(ctx.who, params))


async def update(ctx: CallContext, params: AgentUpdateParams) -> AgentOut:
    """Change the fields sent. Raises: NotFound, AlreadyExists (key taken)."""
    return to_out(await ctx.gateway.agents.update(ctx.who, params.agentId, params))


async def delete(ctx: CallContext, params: AgentDeleteParams) -> AgentDeleted:
    """Soft-delete an agent. Raises: NotFound."""
    await ctx.gateway.agents.delete(ctx.who, params.agentId)
    return AgentDeleted(agentId=params.agentId)


def _missing(name: str) -> AgentFileOut:
    """A context file not written yet (GoClaw's shape: how a new agent's Files tab offers it)."""
    return AgentFileOut(name=name, missing=True)


async def files_list(ctx: CallContext, params: AgentRefParams) -> AgentFileList:
    """Every context file of the system prompt (``CONTEXT_FILES``, ``missing: true`` for those not
    written yet), then the agent's other files (names, sizes, times; no content). Raises: NotFound."""
    row, files = await ctx.gateway.agents.list_files(ctx.who, params.agentId)
    stored = {
        f.file_name: AgentFileOut(name=f.file_name, size=f.size,
                                  updatedAtMs=int(f.updated_at.timestamp() * 1000), missing=False)
        for f in files
    }  # fmt: skip
    known = [stored.pop(name) if name in stored else _missing(name) for name in CONTEXT_FILES]
    return AgentFileList(agentId=row.agent_key, files=known + list(stored.values()))


async def files_get(ctx: CallContext, params: FileParams) -> AgentFileAnswer:
    """One context file with its content; one of ``CONTEXT_FILES`` not written yet answers
    ``missing: true`` as in GoClaw. Raises: NotFound (agent, or another file that does not exist)."""
    found = await ctx.gateway.agents.find_file(ctx.who, params.agentId, params.name)
    if found is None:
        if params.name not in CONTEXT_FILES:
            raise NotFound(kind="file", id=params.name)
        return AgentFileAnswer(agentId=params.agentId, file=_missing(params.name))
    return AgentFileAnswer(agentId=params.agentId, file=_file(found))


async def files_set(ctx: CallContext, params: FileSetParams) -> AgentFileWritten:
    """Write a context file. Raises: NotFound, InvalidRequest (bad file name)."""
    found = await ctx.gateway.agents.set_file(ctx.who, params.agentId, params.name, params.content)
    return AgentFileWritten(agentId=params.agentId, file=_file(found))


async def identity(ctx: CallContext, params: AgentRefParams) -> dict[str, str]:
    """``{agentId, name, emoji, description}``. Raises: NotFound."""
    row = await ctx.gateway.agents.get(ctx.who, params.agentId)
    return {
        "agentId": row.agent_key,
        "name": row.display_name or row.agent_key,
        "emoji": row.emoji,
        "description": row.agent_description,
    }


METHODS = {
    "agents.list": Method(None, list_agents, Role.VIEWER),
    "agents.create": Method(AgentCreate, create, Role.ADMIN),
    "agents.update": Method(AgentUpdateParams, update, Role.ADMIN),
    "agents.delete": Method(AgentDeleteParams, delete, Role.ADMIN),
    "agents.files.list": Method(AgentRefParams, files_list, Role.VIEWER),
    "agents.files.get": Method(FileParams, files_get, Role.VIEWER),
    "agents.files.set": Method(FileSetParams, files_set, Role.OPERATOR),
    "agent.identity.get": Method(AgentRefParams, identity, Role.VIEWER),
}
