"""Skill methods (GoClaw shapes): ``skills.list``, ``skills.get`` (with SKILL.md as ``content``) and
``skills.update``. A skill is named by its slug (``name``) or its id; another tenant's is ``NOT_FOUND``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

from clawgate.errors import invalid_field
from clawgate.principal import Role
from clawgate.services.skills import SkillPatch
from clawgate.store.types import SkillRow

from .types import CallContext, Method

__all__ = ["METHODS"]

_Ref = Annotated[str, Meta(min_length=1, max_length=255, description="The skill's slug (or id)")]


class SkillEntry(Struct, kw_only=True):
    id: UUID
    name: str
    slug: str
    description: str
    source: str
    version: int
    is_system: bool
    enabled: bool
    visibility: str
    tags: list[str]
    status: str


class SkillList(Struct, kw_only=True):
    skills: list[SkillEntry]


class GetParams(Struct, kw_only=True, forbid_unknown_fields=True):
    name: _Ref


class SkillDetail(Struct, kw_only=True):
    id: UUID
    name: str
    slug: str
    description: str
    source: str
    content: str
    version: int
    visibility: str
    tags: list[str]


class UpdateParams(Struct, kw_only=True, forbid_unknown_fields=True):
    name: _Ref | None = None
    id: _Ref | None = None
    updates: SkillPatch


class Updated(Struct, kw_only=True):
    ok: str = "true"  # GoClaw answers the string


def _entry(row: SkillRow) -> SkillEntry:
    enabled = row.enabled if row.tenant_enabled is None else row.tenant_enabled
    return SkillEntry(
        id=row.id, name=row.name, slug=row.slug, description=row.description, source="managed",
        version=row.version, is_system=False, enabled=enabled, visibility=row.visibility, tags=row.tags,
        status=row.status,
    )  # fmt: skip


async def list_skills(ctx: CallContext, _: None) -> SkillList:
    """The tenant's skills; ``enabled`` with the tenant's override applied."""
    return SkillList(skills=[_entry(r) for r in await ctx.gateway.skills.list_skills(ctx.who)])


async def get(ctx: CallContext, params: GetParams) -> SkillDetail:
    row = await ctx.gateway.skills.get(ctx.who, params.name)
    content = await ctx.gateway.skills.read_file(ctx.who, str(row.id), "SKILL.md", None)
    return SkillDetail(
        id=row.id, name=row.name, slug=row.slug, description=row.description, source="managed",
        content=content.decode("utf-8"), version=row.version, visibility=row.visibility, tags=row.tags,
    )  # fmt: skip


async def update(ctx: CallContext, params: UpdateParams) -> Updated:
    """Change a skill's name, description, visibility or tags (``updates``)."""
    ref = params.id or params.name
    if ref is None:
        raise invalid_field("$.params.name", "name (the slug) or id is required")
    await ctx.gateway.skills.update(ctx.who, ref, params.updates)
    return Updated()


METHODS = {
    "skills.list": Method(None, list_skills, Role.VIEWER),
    "skills.get": Method(GetParams, get, Role.VIEWER),
    "skills.update": Method(UpdateParams, update, Role.ADMIN),
}
