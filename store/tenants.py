"""Tenants and their users."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from clawgate.errors import AlreadyExists
from clawgate.sql import query
from clawgate.store._rows import affected, as_uuid, many, maybe, one
from clawgate.store.types import TenantRow, TenantUserRow

__all__ = [
    "MASTER_TENANT_ID",
    "delete_user",
    "get",
    "get_by_ref",
    "get_by_slug",
    "get_user",
    "insert",
    "list_all",
    "list_for_user",
    "list_users",
    "update",
    "upsert_user",
]

MASTER_TENANT_ID = UUID("0193a5b0-7000-7000-8000-000000000001")


async def list_all(conn: asyncpg.Connection) -> list[TenantRow]:
    return many(await conn.fetch(query("tenants.list_all")), TenantRow)


async def list_for_user(conn: asyncpg.Connection, user_id: str) -> list[TenantRow]:
    return many(await conn.fetch(query("tenants.list_for_user"), user_id), TenantRow)


async def get(conn: asyncpg.Connection, tenant_id: UUID) -> TenantRow | None:
    return maybe(await conn.fetchrow(query("tenants.get_by_id"), tenant_id), TenantRow)


async def get_by_slug(conn: asyncpg.Connection, slug: str) -> TenantRow | None:
    return maybe(await conn.fetchrow(query("tenants.get_by_slug"), slug), TenantRow)


async def get_by_ref(conn: asyncpg.Connection, ref: str) -> TenantRow | None:
    """The tenant whose id (a UUID) or slug (in any case) is ``ref`` (``as_uuid``)."""
    tenant_id = as_uuid(ref)
    if tenant_id is None:
        return await get_by_slug(conn, ref.lower())
    return await get(conn, tenant_id)


async def insert(conn: asyncpg.Connection, name: str, slug: str, settings: dict[str, Any]) -> TenantRow:
    """Raises: AlreadyExists when the slug is taken."""
    try:
        return one(await conn.fetchrow(query("tenants.insert"), name, slug, settings), TenantRow)
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="tenant", id=slug) from None


async def update(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    name: str | None,
    status: str | None,
    settings: dict[str, Any] | None,
) -> TenantRow | None:
    row = await conn.fetchrow(query("tenants.update"), tenant_id, name, status, settings)
    return maybe(row, TenantRow)


async def list_users(conn: asyncpg.Connection, tenant_id: UUID) -> list[TenantUserRow]:
    return many(await conn.fetch(query("tenants.list_users"), tenant_id), TenantUserRow)


async def get_user(conn: asyncpg.Connection, tenant_id: UUID, user_id: str) -> TenantUserRow | None:
    return maybe(await conn.fetchrow(query("tenants.get_user"), tenant_id, user_id), TenantUserRow)


async def upsert_user(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: str, role: str, display_name: str
) -> TenantUserRow:
    row = await conn.fetchrow(query("tenants.upsert_user"), tenant_id, user_id, role, display_name)
    return one(row, TenantUserRow)


async def delete_user(conn: asyncpg.Connection, tenant_id: UUID, user_id: str) -> bool:
    status: str = await conn.execute(query("tenants.delete_user"), tenant_id, user_id)
    return affected(status) == 1
