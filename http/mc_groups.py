"""Mission Control's board groups for users (``/api/v1/board-groups``, reference 1.2 and 1.5): the
groups, the board and group snapshots, the group heartbeat, and group memory with its SSE stream,
reached by group (``/board-groups/{g}/memory``) or from one of its boards
(``/boards/{b}/group-memory``). Errors are MC's ``{detail, request_id}``; lists MC's pages."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct
from starlette.responses import StreamingResponse

from clawgate.principal import Role
from clawgate.services.agent_api import MemoryCreate
from clawgate.services.board_groups import (
    BoardGroupCreate,
    BoardGroupPatch,
    BoardGroupRead,
    BoardSnapshot,
    GroupMemoryRead,
    GroupSnapshot,
    HeartbeatApplied,
    HeartbeatApply,
)
from clawgate.store.coord_events import Where

from .mission_control import (
    MemoryQuery,
    MemoryStreamQuery,
    Page,
    PageQuery,
    follow_memory,
    paged,
    path_uuid,
)
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES", "stream_group_memory"]


class SnapshotQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    include_done: bool = False
    per_board_task_limit: Annotated[int, Meta(ge=0, le=200)] = 5


class BoardGroupSnapshotQuery(SnapshotQuery, kw_only=True, forbid_unknown_fields=True):
    include_self: bool = False


async def list_groups(ctx: HttpContext, query: PageQuery) -> Page[BoardGroupRead]:
    return paged(await ctx.gateway.board_groups.list_groups(ctx.who, query.limit, query.offset), query)


async def create_group(ctx: HttpContext, body: BoardGroupCreate) -> BoardGroupRead:
    return await ctx.gateway.board_groups.create_group(ctx.who, body)


async def get_group(ctx: HttpContext, _: None) -> BoardGroupRead:
    return await ctx.gateway.board_groups.group(ctx.who, path_uuid(ctx, "group_id"))


async def update_group(ctx: HttpContext, body: BoardGroupPatch) -> BoardGroupRead:
    return await ctx.gateway.board_groups.update_group(ctx.who, path_uuid(ctx, "group_id"), body)


async def delete_group(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.board_groups.delete_group(ctx.who, path_uuid(ctx, "group_id"))
    return Ok()


async def group_snapshot(ctx: HttpContext, query: SnapshotQuery) -> GroupSnapshot:
    return await ctx.gateway.board_groups.group_snapshot(
        ctx.who, path_uuid(ctx, "group_id"), query.include_done, query.per_board_task_limit
    )


async def board_snapshot(ctx: HttpContext, _: None) -> BoardSnapshot:
    return await ctx.gateway.board_groups.board_snapshot(ctx.who, path_uuid(ctx, "board_id"))


async def board_group_snapshot(ctx: HttpContext, query: BoardGroupSnapshotQuery) -> GroupSnapshot:
    return await ctx.gateway.board_groups.board_group_snapshot(
        ctx.who,
        path_uuid(ctx, "board_id"),
        query.include_self,
        query.include_done,
        query.per_board_task_limit,
    )


async def apply_heartbeat(ctx: HttpContext, body: HeartbeatApply) -> HeartbeatApplied:
    return await ctx.gateway.board_groups.apply_heartbeat(ctx.who, path_uuid(ctx, "group_id"), body)


async def _group_of(ctx: HttpContext) -> UUID:
    """The group named by the path: ``group_id``, or the group of ``board_id``."""
    if "group_id" in ctx.path:
        return path_uuid(ctx, "group_id")
    return await ctx.gateway.board_groups.board_group_id(ctx.who, path_uuid(ctx, "board_id"))


async def list_memory(ctx: HttpContext, query: MemoryQuery) -> Page[GroupMemoryRead]:
    return paged(
        await ctx.gateway.board_groups.memory(
            ctx.who, await _group_of(ctx), query.is_chat, query.limit, query.offset
        ),
        query,
    )


async def add_memory(ctx: HttpContext, body: MemoryCreate) -> GroupMemoryRead:
    return await ctx.gateway.board_groups.post_memory(ctx.who, await _group_of(ctx), body)


async def memory_stream(ctx: HttpContext, query: MemoryStreamQuery) -> StreamingResponse:
    """``event: memory`` frames ``{memory}`` for the group's new memory entries."""
    group_id = await _group_of(ctx)
    await ctx.gateway.board_groups.group(ctx.who, group_id)
    return await stream_group_memory(ctx, group_id, query)


async def stream_group_memory(
    ctx: HttpContext, group_id: UUID, query: MemoryStreamQuery
) -> StreamingResponse:
    """The group memory stream of a group the caller (``ctx.who``) was found to reach."""
    groups, tenant_id = ctx.gateway.board_groups, ctx.who.tenant_id
    where = Where(group_id=group_id, kinds=("group.memory",))
    return await follow_memory(
        ctx, query, where, group_id, lambda memory_id: groups.memory_entry(tenant_id, group_id, memory_id)
    )


_G = "/api/v1/board-groups"
_GROUP = _G + "/{group_id}"
_BOARD = "/api/v1/boards/{board_id}"
_TAG = "mission-control"
ROUTES = [
    Api("GET", _G, list_groups, Role.VIEWER, "MC: the board groups the caller may read", query=PageQuery,
        response=Page[BoardGroupRead], family="mc", tag=_TAG),
    Api("POST", _G, create_group, Role.ADMIN, "MC: create a board group", body=BoardGroupCreate,
        response=BoardGroupRead, family="mc", tag=_TAG),
    Api("GET", _GROUP, get_group, Role.VIEWER, "MC: a board group", response=BoardGroupRead, family="mc", tag=_TAG),
    Api("PATCH", _GROUP, update_group, Role.ADMIN, "MC: change a board group", body=BoardGroupPatch,
        response=BoardGroupRead, family="mc", tag=_TAG),
    Api("DELETE", _GROUP, delete_group, Role.ADMIN, "MC: delete a board group (its boards stay, ungrouped)",
        response=Ok, family="mc", tag=_TAG),
    Api("GET", _GROUP + "/snapshot", group_snapshot, Role.VIEWER,
        "MC: the group's boards with task counts and their first tasks", query=SnapshotQuery,
        response=GroupSnapshot, family="mc", tag=_TAG),
    Api("POST", _GROUP + "/heartbeat", apply_heartbeat, Role.ADMIN,
        "MC: set the heartbeat interval of the group's agents (their ClawGate heartbeat too)",
        body=HeartbeatApply, response=HeartbeatApplied, family="mc", tag=_TAG),
    Api("GET", _GROUP + "/memory", list_memory, Role.VIEWER, "MC: group memory, newest first (is_chat filter)",
        query=MemoryQuery, response=Page[GroupMemoryRead], family="mc", tag=_TAG),
    Api("POST", _GROUP + "/memory", add_memory, Role.OPERATOR,
        "MC: post group memory; chat, broadcast and @all notify the group's agents", body=MemoryCreate,
        response=GroupMemoryRead, family="mc", tag=_TAG),
    Api("GET", _GROUP + "/memory/stream", memory_stream, Role.VIEWER, "MC: group memory as SSE",
        query=MemoryStreamQuery, media_type="text/event-stream", family="mc", tag=_TAG),
    Api("GET", _BOARD + "/snapshot", board_snapshot, Role.VIEWER,
        "MC: a board's view model (task cards, agents, approvals, chat)", response=BoardSnapshot, family="mc",
        tag=_TAG),
    Api("GET", _BOARD + "/group-snapshot", board_group_snapshot, Role.VIEWER,
        "MC: the snapshot of the board's group", query=BoardGroupSnapshotQuery, response=GroupSnapshot,
        family="mc", tag=_TAG),
    Api("GET", _BOARD + "/group-memory", list_memory, Role.VIEWER, "MC: the memory of the board's group",
        query=MemoryQuery, response=Page[GroupMemoryRead], family="mc", tag=_TAG),
    Api("POST", _BOARD + "/group-memory", add_memory, Role.OPERATOR, "MC: post to the board's group memory",
        body=MemoryCreate, response=GroupMemoryRead, family="mc", tag=_TAG),
    Api("GET", _BOARD + "/group-memory/stream", memory_stream, Role.VIEWER,
        "MC: the board's group memory as SSE", query=MemoryStreamQuery, media_type="text/event-stream",
        family="mc", tag=_TAG),
]  # fmt: skip
