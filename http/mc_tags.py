"""Mission Control's tags (``/api/v1/tags``) and task custom field definitions
(``/api/v1/organizations/me/custom-fields``, with the boards each is bound to), per tenant. Reads
for any member, changes for admins; errors MC's ``{detail, request_id}``."""

from __future__ import annotations

from clawgate.principal import Role
from clawgate.services.tags import FieldCreate, FieldPatch, FieldRead, TagCreate, TagPatch, TagRead

from .mission_control import Page, PageQuery, paged, path_uuid
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


async def list_tags(ctx: HttpContext, query: PageQuery) -> Page[TagRead]:
    return paged(await ctx.gateway.tags.list_tags(ctx.who, query.limit, query.offset), query)


async def create_tag(ctx: HttpContext, body: TagCreate) -> TagRead:
    return await ctx.gateway.tags.create_tag(ctx.who, body)


async def get_tag(ctx: HttpContext, _: None) -> TagRead:
    return await ctx.gateway.tags.tag(ctx.who, path_uuid(ctx, "tag_id"))


async def update_tag(ctx: HttpContext, body: TagPatch) -> TagRead:
    return await ctx.gateway.tags.update_tag(ctx.who, path_uuid(ctx, "tag_id"), body)


async def delete_tag(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.tags.delete_tag(ctx.who, path_uuid(ctx, "tag_id"))
    return Ok()


async def list_fields(ctx: HttpContext, _: None) -> list[FieldRead]:
    return await ctx.gateway.tags.list_fields(ctx.who)


async def create_field(ctx: HttpContext, body: FieldCreate) -> FieldRead:
    return await ctx.gateway.tags.create_field(ctx.who, body)


async def update_field(ctx: HttpContext, body: FieldPatch) -> FieldRead:
    return await ctx.gateway.tags.update_field(ctx.who, path_uuid(ctx, "definition_id"), body)


async def delete_field(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.tags.delete_field(ctx.who, path_uuid(ctx, "definition_id"))
    return Ok()


_T = "/api/v1/tags"
_F = "/api/v1/organizations/me/custom-fields"
_TAG = "mission-control"
ROUTES = [
    Api("GET", _T, list_tags, Role.VIEWER, "MC: the tenant's tags with task counts", query=PageQuery,
        response=Page[TagRead], family="mc", tag=_TAG),
    Api("POST", _T, create_tag, Role.ADMIN, "MC: create a tag (slug unique per tenant)", body=TagCreate,
        response=TagRead, family="mc", tag=_TAG),
    Api("GET", _T + "/{tag_id}", get_tag, Role.VIEWER, "MC: a tag", response=TagRead, family="mc", tag=_TAG),
    Api("PATCH", _T + "/{tag_id}", update_tag, Role.ADMIN, "MC: change a tag", body=TagPatch, response=TagRead,
        family="mc", tag=_TAG),
    Api("DELETE", _T + "/{tag_id}", delete_tag, Role.ADMIN, "MC: delete a tag (its tasks lose it)", response=Ok,
        family="mc", tag=_TAG),
    Api("GET", _F, list_fields, Role.VIEWER, "MC: the task custom field definitions with their boards",
        response=list[FieldRead], family="mc", tag=_TAG),
    Api("POST", _F, create_field, Role.ADMIN, "MC: define a task custom field and bind it to boards",
        body=FieldCreate, response=FieldRead, family="mc", tag=_TAG),
    Api("PATCH", _F + "/{definition_id}", update_field, Role.ADMIN,
        "MC: change a custom field definition (board_ids replaces its boards)", body=FieldPatch,
        response=FieldRead, family="mc", tag=_TAG),
    Api("DELETE", _F + "/{definition_id}", delete_field, Role.ADMIN, "MC: delete a custom field definition",
        response=Ok, family="mc", tag=_TAG),
]  # fmt: skip
