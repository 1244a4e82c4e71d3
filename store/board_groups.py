"""Mission Control's board groups (``team_groups``): the groups, their boards and agents, and MC's
heartbeat ``every`` kept on the agent's presence (group memory is ``store.agent_api``'s memory with
``scope="team_group"``). Every query takes the tenant id."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe, one

__all__ = [
    "GroupAgent",
    "GroupRow",
    "board_ids",
    "delete_group",
    "get_group",
    "group_agents",
    "insert_group",
    "list_groups",
    "set_heartbeat_every",
    "update_group",
]


class GroupRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    name: str
    slug: str
    description: str
    created_at: datetime
    updated_at: datetime
    total: int = 0


class GroupAgent(Struct, kw_only=True):
    """An agent on one of the group's boards (a row per agent and board)."""

    agent_id: UUID
    board_id: UUID
    role: str
    agent_key: str
    display_name: str


async def insert_group(
    conn: asyncpg.Connection, tenant_id: UUID, name: str, slug: str, description: str
) -> GroupRow:
    row = await conn.fetchrow(query("board_groups.group_insert"), tenant_id, name, slug, description)
    return one(row, GroupRow)


async def get_group(
    conn: asyncpg.Connection, tenant_id: UUID, group_id: UUID, reader: str | None = None
) -> GroupRow | None:
    """The group; ``reader`` set: only when that user has an all-boards flag or may read one of its boards."""
    row = await conn.fetchrow(query("board_groups.groups_select"), tenant_id, group_id, reader, 1, 0)
    return maybe(row, GroupRow)


async def list_groups(
    conn: asyncpg.Connection, tenant_id: UUID, reader: str | None, limit: int, offset: int
) -> list[GroupRow]:
    """The tenant's groups by name; ``reader`` set: all with an all-boards flag, else those with a board it may read."""
    rows = await conn.fetch(query("board_groups.groups_select"), tenant_id, None, reader, limit, offset)
    return many(rows, GroupRow)


async def update_group(
    conn: asyncpg.Connection, tenant_id: UUID, group_id: UUID, name: str, slug: str, description: str
) -> GroupRow | None:
    row = await conn.fetchrow(
        query("board_groups.group_update"), tenant_id, group_id, name, slug, description
    )
    return maybe(row, GroupRow)


async def delete_group(conn: asyncpg.Connection, tenant_id: UUID, group_id: UUID) -> bool:
    """Its boards leave the group; its memory goes with it. Returns whether it existed."""
    return affected(await conn.execute(query("board_groups.group_delete"), tenant_id, group_id)) > 0


async def board_ids(conn: asyncpg.Connection, tenant_id: UUID, group_id: UUID) -> list[UUID]:
    """The group's boards, by name."""
    return [r["id"] for r in await conn.fetch(query("board_groups.group_board_ids"), tenant_id, group_id)]


async def group_agents(conn: asyncpg.Connection, tenant_id: UUID, group_id: UUID) -> list[GroupAgent]:
    """The agents of the group's boards (a row per agent and board), leads first."""
    return many(await conn.fetch(query("board_groups.group_agents"), tenant_id, group_id), GroupAgent)


async def set_heartbeat_every(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, every: str) -> None:
    """MC's ``heartbeat_config.every`` on the agent's presence row."""
    await conn.execute(query("board_groups.heartbeat_every"), tenant_id, agent_id, every)
