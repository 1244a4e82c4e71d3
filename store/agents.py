"""Agents and their context files. Deleted agents are soft-deleted (``deleted_at``)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from clawgate.errors import AlreadyExists
from clawgate.sql import query
from clawgate.store._rows import affected, as_uuid, many, maybe, one
from clawgate.store.types import AgentFields, AgentFile, AgentFileInfo, AgentRow

__all__ = [
    "all_files",
    "clear_default",
    "fields_of",
    "get",
    "get_by_key",
    "get_by_ref",
    "get_default",
    "get_file",
    "get_for_update",
    "insert",
    "list_agents",
    "list_files",
    "put_file",
    "soft_delete",
    "update",
]

_FIELDS = AgentFields.__struct_fields__


def _values(fields: AgentFields) -> list[object]:
    return [getattr(fields, name) for name in _FIELDS]


async def list_agents(conn: asyncpg.Connection, tenant_id: UUID) -> list[AgentRow]:
    return many(await conn.fetch(query("agents.list"), tenant_id), AgentRow)


async def get(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> AgentRow | None:
    return maybe(await conn.fetchrow(query("agents.get_by_id"), tenant_id, agent_id), AgentRow)


async def get_for_update(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> AgentRow | None:
    return maybe(await conn.fetchrow(query("agents.get_for_update"), tenant_id, agent_id), AgentRow)


async def get_by_key(conn: asyncpg.Connection, tenant_id: UUID, agent_key: str) -> AgentRow | None:
    return maybe(await conn.fetchrow(query("agents.get_by_key"), tenant_id, agent_key), AgentRow)


async def get_by_ref(conn: asyncpg.Connection, tenant_id: UUID, ref: str) -> AgentRow | None:
    """The tenant's agent whose id (a UUID) or key is ``ref`` (``as_uuid``)."""
    agent_id = as_uuid(ref)
    if agent_id is None:
        return await get_by_key(conn, tenant_id, ref)
    return await get(conn, tenant_id, agent_id)


async def get_default(conn: asyncpg.Connection, tenant_id: UUID) -> AgentRow | None:
    return maybe(await conn.fetchrow(query("agents.get_default"), tenant_id), AgentRow)


async def insert(conn: asyncpg.Connection, tenant_id: UUID, fields: AgentFields) -> AgentRow:
    """Raises: AlreadyExists when the tenant already has a live agent with this key."""
    try:
        row = await conn.fetchrow(query("agents.insert"), tenant_id, *_values(fields))
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="agent", id=fields.agent_key) from None
    return one(row, AgentRow)


async def update(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, fields: AgentFields) -> AgentRow:
    """Write every writable column. Raises: AlreadyExists when the new key is taken."""
    try:
        row = await conn.fetchrow(query("agents.update"), tenant_id, agent_id, *_values(fields))
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="agent", id=fields.agent_key) from None
    assert row is not None, "update of a row locked by get_for_update must succeed"
    return one(row, AgentRow)


async def clear_default(conn: asyncpg.Connection, tenant_id: UUID, keep_id: UUID) -> None:
    await conn.execute(query("agents.clear_default"), tenant_id, keep_id)


async def soft_delete(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> bool:
    status: str = await conn.execute(query("agents.soft_delete"), tenant_id, agent_id)
    return affected(status) == 1


async def list_files(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> list[AgentFileInfo]:
    return many(await conn.fetch(query("agents.list_files"), tenant_id, agent_id), AgentFileInfo)


async def get_file(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, file_name: str
) -> AgentFile | None:
    row = await conn.fetchrow(query("agents.get_file"), tenant_id, agent_id, file_name)
    return maybe(row, AgentFile)


async def put_file(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, file_name: str, content: str
) -> AgentFile:
    row = await conn.fetchrow(query("agents.put_file"), tenant_id, agent_id, file_name, content)
    return one(row, AgentFile)


def fields_of(row: AgentRow) -> AgentFields:
    """The writable part of a row, to be patched and written back."""
    return AgentFields(**{name: getattr(row, name) for name in _FIELDS})


async def all_files(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> list[AgentFile]:
    """Every context file of an agent with its content (one query, for the system prompt)."""
    return many(await conn.fetch(query("agents.all_files"), tenant_id, agent_id), AgentFile)
