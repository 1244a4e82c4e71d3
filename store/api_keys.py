"""API keys. Only SHA-256 hashes are stored; lookups go by the indexed display prefix and the
caller compares hashes in constant time."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from clawgate.sql import query
from clawgate.store._rows import many, one
from clawgate.store.types import ApiKeyRow, ApiKeySecretRow

__all__ = ["candidates", "insert", "list_keys", "revoke", "touch"]


async def insert(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    is_system: bool,
    name: str,
    prefix: str,
    key_hash: str,
    scopes: list[str],
    owner_id: str | None,
    created_by: str,
    expires_at: datetime | None,
    rate_limit_rpm: int | None = None,
) -> ApiKeyRow:
    row = await conn.fetchrow(
        query("api_keys.insert"),
        tenant_id, is_system, name, prefix, key_hash, scopes, owner_id, created_by, expires_at, rate_limit_rpm,
    )  # fmt: skip
    return one(row, ApiKeyRow)


async def list_keys(conn: asyncpg.Connection, tenant_id: UUID) -> list[ApiKeyRow]:
    return many(await conn.fetch(query("api_keys.list"), tenant_id), ApiKeyRow)


async def candidates(conn: asyncpg.Connection, prefix: str) -> list[ApiKeySecretRow]:
    """Every key (revoked ones too, so that callers can say *revoked*) with this prefix."""
    return many(await conn.fetch(query("api_keys.candidates_by_prefix"), prefix), ApiKeySecretRow)


async def revoke(conn: asyncpg.Connection, tenant_id: UUID, key_id: UUID) -> bool:
    return await conn.fetchval(query("api_keys.revoke"), tenant_id, key_id) is not None


async def touch(conn: asyncpg.Connection, key_id: UUID) -> None:
    await conn.execute(query("api_keys.touch"), key_id)
