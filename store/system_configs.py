"""Per-tenant key/value settings (GoClaw's ``system_configs``)."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe, one
from clawgate.store.types import ConfigEntry

__all__ = ["delete", "get", "list_entries", "put"]


async def list_entries(conn: asyncpg.Connection, tenant_id: UUID) -> list[ConfigEntry]:
    return many(await conn.fetch(query("system_configs.list"), tenant_id), ConfigEntry)


async def get(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> ConfigEntry | None:
    return maybe(await conn.fetchrow(query("system_configs.get"), tenant_id, key), ConfigEntry)


async def put(conn: asyncpg.Connection, tenant_id: UUID, key: str, value: str) -> ConfigEntry:
    return one(await conn.fetchrow(query("system_configs.put"), tenant_id, key, value), ConfigEntry)


async def delete(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> bool:
    status: str = await conn.execute(query("system_configs.delete"), tenant_id, key)
    return affected(status) == 1
