"""Mission Control's tags and task custom field definitions (reference 1.3), per tenant (an MC
organisation): tags with a slug unique per tenant (made from the name when absent; a taken one is
409), and custom field definitions (``field_key`` unique per tenant) bound to boards. A task's
``custom_field_values`` are checked against the definitions bound to its board (``check_values``):
an unknown key, a value of the wrong type, one that fails the definition's ``validation_regex``,
or a required field left without a value is 422."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.errors import NotFound, invalid_field
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.store import Database
from clawgate.store import tags as store
from clawgate.store.tags import FieldDef, FieldRow, TagFields, TagRow

__all__ = [
    "FieldCreate",
    "FieldPatch",
    "FieldRead",
    "TagCreate",
    "TagPatch",
    "TagRead",
    "TagService",
    "check_values",
    "slugify",
]

FieldType = Literal["text", "text_long", "integer", "decimal", "boolean", "date", "date_time", "url", "json"]
Visibility = Literal["always", "if_set", "hidden"]
Color = Annotated[str, Meta(pattern=r"^#?[0-9A-Fa-f]{6}$")]
FieldKey = Annotated[str, Meta(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,63}$")]
Label = Annotated[str, Meta(min_length=1, max_length=255)]
Text = Annotated[str, Meta(max_length=20_000)]
Regex = Annotated[str, Meta(max_length=500)]
_URL: Final = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class TagRead(Struct, kw_only=True):
    """MC's ``TagRead``."""

    id: UUID
    organization_id: UUID
    name: str
    slug: str
    color: str
    description: str | None
    task_count: int
    created_at: datetime
    updated_at: datetime


class TagCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    slug: Annotated[str, Meta(max_length=100)] | None = None
    color: Color = "9e9e9e"
    description: Text | None = None


class TagPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """Absent keeps a field; a blank ``slug`` is made again from the name."""

    name: Annotated[str, Meta(min_length=1, max_length=100)] | UnsetType = UNSET
    slug: Annotated[str, Meta(max_length=100)] | UnsetType | None = UNSET
    color: Color | UnsetType = UNSET
    description: Text | UnsetType | None = UNSET


class FieldRead(FieldDef, kw_only=True):
    """MC's ``TaskCustomFieldDefinitionRead``, with the boards it is bound to."""

    id: UUID
    organization_id: UUID
    field_key: str
    board_ids: list[UUID]
    created_at: datetime
    updated_at: datetime


class FieldCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    field_key: FieldKey
    label: Label | None = None
    field_type: FieldType = "text"
    ui_visibility: Visibility = "always"
    validation_regex: Regex | None = None
    description: Text | None = None
    required: bool = False
    default_value: Any = None
    board_ids: Annotated[list[UUID], Meta(max_length=1000)] = msgspec.field(default_factory=list)


class FieldPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """Absent keeps a field; ``field_key`` never changes; ``board_ids`` replaces the bindings."""

    label: Label | UnsetType = UNSET
    field_type: FieldType | UnsetType = UNSET
    ui_visibility: Visibility | UnsetType = UNSET
    validation_regex: Regex | UnsetType | None = UNSET
    description: Text | UnsetType | None = UNSET
    required: bool | UnsetType = UNSET
    default_value: Any | UnsetType = UNSET
    board_ids: Annotated[list[UUID], Meta(max_length=1000)] | UnsetType = UNSET


def slugify(name: str, default: str = "board") -> str:
    """MC's slug: lowercase words joined by ``-`` (``default`` when nothing is left)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100] or default


def tag_out(row: TagRow) -> TagRead:
    return TagRead(id=row.id, organization_id=row.tenant_id, name=row.name, slug=row.slug, color=row.color,
                   description=row.description, task_count=row.task_count, created_at=row.created_at,
                   updated_at=row.updated_at)  # fmt: skip


def field_out(row: FieldRow) -> FieldRead:
    fields = {f: getattr(row, f) for f in FieldRead.__struct_fields__ if f != "organization_id"}
    return FieldRead(**fields, organization_id=row.tenant_id)


def _color(value: str) -> str:
    return value.lstrip("#").lower()


def _fits(kind: str, value: Any) -> bool:
    """Whether ``value`` (decoded JSON) is a value of field type ``kind``."""
    if kind in ("text", "text_long"):
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "decimal":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind in ("date", "date_time"):
        if not isinstance(value, str):
            return False
        try:
            (date if kind == "date" else datetime).fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    if kind == "url":
        return isinstance(value, str) and _URL.match(value) is not None
    return True  # json: anything


def _check_one(d: FieldDef, key: str, value: Any, path: str = "") -> None:
    path = path or f"$.custom_field_values.{key}"
    if value is None:
        if d.required:
            raise invalid_field(path, f"custom field {key!r} is required")
        return
    if not _fits(d.field_type, value):
        raise invalid_field(path, f"custom field {key!r} must be a {d.field_type} value")
    if d.validation_regex and isinstance(value, str) and re.fullmatch(d.validation_regex, value) is None:
        raise invalid_field(path, f"custom field {key!r} does not match its pattern")


def check_values(
    defs: Sequence[FieldRow], values: Mapping[str, Any], current: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The task's custom field values after ``values`` (``current`` None: a new task, which gets
    the defaults). Raises: InvalidRequest (an unknown key, a wrong type or pattern, a required
    field without a value)."""
    known = {d.field_key: d for d in defs}
    for key, value in values.items():
        if key not in known:
            raise invalid_field(
                f"$.custom_field_values.{key}", f"unknown custom field {key!r} for this board"
            )
        _check_one(known[key], key, value)
    merged = dict(current or {})
    if current is None:
        merged.update({k: d.default_value for k, d in known.items() if d.default_value is not None})
    merged.update(values)
    for key, d in known.items():
        if d.required and merged.get(key) is None:
            raise invalid_field(f"$.custom_field_values.{key}", f"custom field {key!r} is required")
    return merged


def _check_definition(d: FieldDef) -> None:
    if d.validation_regex is not None:
        try:
            re.compile(d.validation_regex)
        except re.error:
            raise invalid_field("$.validation_regex", "not a valid regular expression") from None
        if d.field_type not in ("text", "text_long", "url"):
            raise invalid_field("$.validation_regex", "a pattern applies to text fields only")
    if d.default_value is not None:
        _check_one(d, "default_value", d.default_value, "$.default_value")


class TagService:
    """Tags and custom field definitions of the caller's tenant; changes need an admin."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- tags -------------------------------------------------------------------------------------

    async def list_tags(self, who: Principal, limit: int, offset: int) -> tuple[list[TagRead], int]:
        async with self._db.connection() as conn:
            rows = await store.list_tags(conn, who.tenant_id, None, limit, offset)
        return [tag_out(r) for r in rows], rows[0].total if rows else 0

    async def tag(self, who: Principal, tag_id: UUID) -> TagRead:
        async with self._db.connection() as conn:
            rows = await store.list_tags(conn, who.tenant_id, tag_id, 1, 0)
        if not rows:
            raise NotFound(kind="tag", id=str(tag_id))
        return tag_out(rows[0])

    async def create_tag(self, who: Principal, body: TagCreate) -> TagRead:
        """Raises: AlreadyExists (the slug is taken)."""
        require(who, Role.ADMIN, "create a tag")
        slug = slugify((body.slug or "").strip() or body.name, "tag")
        fields = TagFields(name=body.name.strip() or body.name, slug=slug, color=_color(body.color),
                           description=body.description)  # fmt: skip
        async with self._db.transaction() as conn:
            tag_id = await store.insert_tag(conn, who.tenant_id, fields)
        return await self.tag(who, tag_id)

    async def update_tag(self, who: Principal, tag_id: UUID, body: TagPatch) -> TagRead:
        require(who, Role.ADMIN, "change a tag")
        now = await self.tag(who, tag_id)
        name = now.name if body.name is UNSET else body.name
        slug = now.slug if body.slug is UNSET else slugify((body.slug or "").strip() or name, "tag")
        fields = TagFields(name=name, slug=slug, color=now.color if body.color is UNSET else _color(body.color),
                           description=now.description if body.description is UNSET else body.description)  # fmt: skip
        async with self._db.transaction() as conn:
            if not await store.update_tag(conn, who.tenant_id, tag_id, fields):
                raise NotFound(kind="tag", id=str(tag_id))
        return await self.tag(who, tag_id)

    async def delete_tag(self, who: Principal, tag_id: UUID) -> None:
        require(who, Role.ADMIN, "delete a tag")
        async with self._db.transaction() as conn:
            if not await store.delete_tag(conn, who.tenant_id, tag_id):
                raise NotFound(kind="tag", id=str(tag_id))

    # -- custom fields ----------------------------------------------------------------------------

    async def list_fields(self, who: Principal) -> list[FieldRead]:
        async with self._db.connection() as conn:
            return [field_out(r) for r in await store.list_fields(conn, who.tenant_id)]

    async def _field(self, who: Principal, field_id: UUID) -> FieldRow:
        async with self._db.connection() as conn:
            rows = await store.list_fields(conn, who.tenant_id, field_id)
        if not rows:
            raise NotFound(kind="custom field", id=str(field_id))
        return rows[0]

    async def create_field(self, who: Principal, body: FieldCreate) -> FieldRead:
        """Raises: AlreadyExists (the key is taken), NotFound (a board), InvalidRequest."""
        require(who, Role.ADMIN, "create a custom field")
        d = FieldDef(label=body.label or body.field_key, field_type=body.field_type, ui_visibility=body.ui_visibility,
                     validation_regex=body.validation_regex, description=body.description, required=body.required,
                     default_value=body.default_value)  # fmt: skip
        _check_definition(d)
        async with self._db.transaction() as conn:
            field_id = await store.insert_field(conn, who.tenant_id, body.field_key, d)
            await store.set_field_boards(conn, who.tenant_id, field_id, list(dict.fromkeys(body.board_ids)))
        return field_out(await self._field(who, field_id))

    async def update_field(self, who: Principal, field_id: UUID, body: FieldPatch) -> FieldRead:
        require(who, Role.ADMIN, "change a custom field")
        row = await self._field(who, field_id)
        sent = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET and k != "board_ids"}
        d = msgspec.structs.replace(msgspec.convert(msgspec.structs.asdict(row), FieldDef, from_attributes=False),
                                    **sent)  # fmt: skip
        _check_definition(d)
        async with self._db.transaction() as conn:
            await store.update_field(conn, who.tenant_id, field_id, d)
            if body.board_ids is not UNSET:
                await store.set_field_boards(
                    conn, who.tenant_id, field_id, list(dict.fromkeys(body.board_ids))
                )
        return field_out(await self._field(who, field_id))

    async def delete_field(self, who: Principal, field_id: UUID) -> None:
        """The definition and its bindings go; values kept on tasks stay as they were."""
        require(who, Role.ADMIN, "delete a custom field")
        async with self._db.transaction() as conn:
            if not await store.delete_field(conn, who.tenant_id, field_id):
                raise NotFound(kind="custom field", id=str(field_id))
