"""LLM provider rows. ``api_key`` is stored encrypted; the store never sees plaintext."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from clawgate.errors import AlreadyExists
from clawgate.sql import query
from clawgate.store._rows import affected, as_uuid, many, maybe, one
from clawgate.store.types import ProviderRow

__all__ = ["delete", "get", "get_by_name", "get_by_ref", "insert", "list_providers", "update"]


async def list_providers(conn: asyncpg.Connection, tenant_id: UUID) -> list[ProviderRow]:
    return many(await conn.fetch(query("providers.list"), tenant_id), ProviderRow)


async def get(conn: asyncpg.Connection, tenant_id: UUID, provider_id: UUID) -> ProviderRow | None:
    return maybe(await conn.fetchrow(query("providers.get_by_id"), tenant_id, provider_id), ProviderRow)


async def get_by_name(conn: asyncpg.Connection, tenant_id: UUID, name: str) -> ProviderRow | None:
    return maybe(await conn.fetchrow(query("providers.get_by_name"), tenant_id, name), ProviderRow)


async def get_by_ref(conn: asyncpg.Connection, tenant_id: UUID, ref: str) -> ProviderRow | None:
    """The tenant's provider whose id (a UUID) or name is ``ref`` (``as_uuid``)."""
    provider_id = as_uuid(ref)
    if provider_id is None:
        return await get_by_name(conn, tenant_id, ref)
    return await get(conn, tenant_id, provider_id)


async def insert(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    name: str,
    display_name: str,
    provider_type: str,
    api_base: str,
    api_key: str,
    enabled: bool,
    settings: dict[str, Any],
) -> ProviderRow:
    """Raises: AlreadyExists when the tenant has a provider of that name."""
    try:
        row = await conn.fetchrow(
            query("providers.insert"),
            tenant_id, name, display_name, provider_type, api_base, api_key, enabled, settings,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="provider", id=name) from None
    return one(row, ProviderRow)


async def update(conn: asyncpg.Connection, row: ProviderRow) -> ProviderRow | None:
    """Write back every mutable column of ``row``. Raises: AlreadyExists on a name clash."""
    try:
        new = await conn.fetchrow(
            query("providers.update"),
            row.tenant_id, row.id, row.name, row.display_name, row.provider_type, row.api_base,
            row.api_key, row.enabled, row.settings,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="provider", id=row.name) from None
    return maybe(new, ProviderRow)


async def delete(conn: asyncpg.Connection, tenant_id: UUID, provider_id: UUID) -> bool:
    status: str = await conn.execute(query("providers.delete"), tenant_id, provider_id)
    return affected(status) == 1
