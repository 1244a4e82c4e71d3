"""Per-tenant enable and settings of the built-in tools (``builtin_tool_configs``)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import affected, many, one
from clawgate.store.types import JSON

__all__ = ["ToolConfig", "delete", "list_configs", "put"]


class ToolConfig(Struct, kw_only=True):
    """A tenant's own values for one tool; ``enabled`` None keeps the tool's default."""

    name: str
    enabled: bool | None
    settings: JSON
    updated_at: datetime


async def list_configs(conn: asyncpg.Connection, tenant_id: UUID) -> list[ToolConfig]:
    return many(await conn.fetch(query("builtin_tools.list"), tenant_id), ToolConfig)


async def put(
    conn: asyncpg.Connection, tenant_id: UUID, name: str, enabled: bool | None, settings: JSON
) -> ToolConfig:
    return one(
        await conn.fetchrow(query("builtin_tools.put"), tenant_id, name, enabled, settings), ToolConfig
    )


async def delete(conn: asyncpg.Connection, tenant_id: UUID, name: str) -> bool:
    status: str = await conn.execute(query("builtin_tools.delete"), tenant_id, name)
    return affected(status) == 1
