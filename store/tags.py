"""Mission Control's tags (slug unique per tenant) and task custom field definitions (``field_key``
unique per tenant) with the boards each is bound to (``team_custom_fields``). Task values live in
``tasks.custom_fields`` by key. Every query takes the tenant id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.errors import AlreadyExists, NotFound
from clawgate.sql import query
from clawgate.store._rows import affected, many

__all__ = [
    "FieldDef",
    "FieldRow",
    "TagFields",
    "TagRow",
    "delete_field",
    "delete_tag",
    "insert_field",
    "insert_tag",
    "list_fields",
    "list_tags",
    "set_field_boards",
    "update_field",
    "update_tag",
]


class TagFields(Struct, kw_only=True):
    name: str
    slug: str
    color: str
    description: str | None


class TagRow(TagFields, kw_only=True):
    id: UUID
    tenant_id: UUID
    task_count: int
    created_at: datetime
    updated_at: datetime
    total: int = 0


class FieldDef(Struct, kw_only=True):
    """A definition's settable fields (``field_key`` is set once, at creation)."""

    label: str
    field_type: str
    ui_visibility: str
    validation_regex: str | None
    description: str | None
    required: bool
    default_value: Any


class FieldRow(FieldDef, kw_only=True):
    id: UUID
    tenant_id: UUID
    field_key: str
    board_ids: list[UUID]
    created_at: datetime
    updated_at: datetime


async def insert_tag(conn: asyncpg.Connection, tenant_id: UUID, tag: TagFields) -> UUID:
    """Raises: AlreadyExists (the slug is taken in the tenant)."""
    try:
        found: UUID = await conn.fetchval(
            query("tags.tag_insert"), tenant_id, tag.name, tag.slug, tag.color, tag.description
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="tag", id=tag.slug) from None
    return found


async def list_tags(
    conn: asyncpg.Connection, tenant_id: UUID, tag_id: UUID | None, limit: int, offset: int
) -> list[TagRow]:
    """The tenant's tags by name (``tag_id``: that one), with their task counts."""
    return many(await conn.fetch(query("tags.tags_select"), tenant_id, tag_id, limit, offset), TagRow)


async def update_tag(conn: asyncpg.Connection, tenant_id: UUID, tag_id: UUID, tag: TagFields) -> bool:
    """Raises: AlreadyExists (the slug is taken). Returns whether the tag exists."""
    try:
        done = await conn.execute(
            query("tags.tag_update"), tenant_id, tag_id, tag.name, tag.slug, tag.color, tag.description
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="tag", id=tag.slug) from None
    return affected(done) > 0


async def delete_tag(conn: asyncpg.Connection, tenant_id: UUID, tag_id: UUID) -> bool:
    """Its tasks lose it. Returns whether it existed."""
    return affected(await conn.execute(query("tags.tag_delete"), tenant_id, tag_id)) > 0


async def insert_field(conn: asyncpg.Connection, tenant_id: UUID, field_key: str, f: FieldDef) -> UUID:
    """Raises: AlreadyExists (the key is taken in the tenant)."""
    try:
        found: UUID = await conn.fetchval(
            query("tags.field_insert"), tenant_id, field_key, f.label, f.field_type, f.ui_visibility,
            f.validation_regex, f.description, f.required, f.default_value,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="custom field", id=field_key) from None
    return found


async def list_fields(
    conn: asyncpg.Connection, tenant_id: UUID, field_id: UUID | None = None, board_id: UUID | None = None
) -> list[FieldRow]:
    """The tenant's definitions by key (``field_id``: that one; ``board_id``: those bound to it)."""
    return many(await conn.fetch(query("tags.fields_select"), tenant_id, field_id, board_id), FieldRow)


async def update_field(conn: asyncpg.Connection, tenant_id: UUID, field_id: UUID, f: FieldDef) -> bool:
    done = await conn.execute(
        query("tags.field_update"), tenant_id, field_id, f.label, f.field_type, f.ui_visibility,
        f.validation_regex, f.description, f.required, f.default_value,
    )  # fmt: skip
    return affected(done) > 0


async def delete_field(conn: asyncpg.Connection, tenant_id: UUID, field_id: UUID) -> bool:
    return affected(await conn.execute(query("tags.field_delete"), tenant_id, field_id)) > 0


async def set_field_boards(
    conn: asyncpg.Connection, tenant_id: UUID, field_id: UUID, boards: Sequence[UUID]
) -> None:
    """Bind the definition to exactly ``boards``. Raises: NotFound (a board not the tenant's)."""
    await conn.execute(query("tags.field_boards_clear"), tenant_id, field_id)
    try:
        await conn.execute(query("tags.field_boards_add"), tenant_id, field_id, list(boards))
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(kind="board", id=", ".join(map(str, boards))) from None
