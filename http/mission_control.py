"""Mission Control's ``/api/v1`` core for users (seeds 000/001, reference sections 1-2): boards,
board tasks with comments and dependencies, approvals, and the task and approval SSE streams.
Errors are MC's ``{detail, request_id}`` (structured details as MC sends them; 422 for a request
it cannot accept). Lists are MC's pages ``{items, total, limit, offset}`` (limit at most 200).

The streams send ``id: <seq>`` lines (the event log's cursor): a client resumes with
``Last-Event-ID`` (or MC's ``since=<ISO time>``) and loses nothing; ``: ping`` every 15 s."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Generic, TypeVar
from uuid import UUID

import msgspec
from msgspec import Meta, Struct
from starlette.responses import StreamingResponse

from clawgate.errors import invalid_field
from clawgate.principal import Role
from clawgate.services.agent_api import MemoryCreate, MemoryRead
from clawgate.services.boards import (
    ApprovalCreate,
    ApprovalPatch,
    ApprovalRead,
    BoardCreate,
    BoardPatch,
    BoardRead,
    CommentCreate,
    CommentRead,
    TaskCreate,
    TaskRead,
    TaskUpdate,
    board_out,
    comment_out,
)
from clawgate.store.coord_events import EventRow, Where
from clawgate.wire import NonNegative

from .routing import SSE_HEADERS
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]

PING_SECONDS: Final = 15.0
T = TypeVar("T")
_encoder = msgspec.json.Encoder()


class Page(Struct, Generic[T], kw_only=True):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=200)] = 200
    offset: NonNegative = 0


class TaskQuery(PageQuery, kw_only=True, forbid_unknown_fields=True):
    """``status``: comma-separated MC statuses; ``assigned_agent_id`` filters."""

    status: Annotated[str, Meta(max_length=200)] | None = None
    assigned_agent_id: UUID | None = None


class ApprovalQuery(PageQuery, kw_only=True, forbid_unknown_fields=True):
    status: Annotated[str, Meta(pattern="^(pending|approved|rejected)$")] | None = None


class StreamQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    """``since``: an ISO-8601 time (``Z`` or naive = UTC); absent: from now on."""

    since: Annotated[str, Meta(max_length=64)] | None = None


class MemoryQuery(PageQuery, kw_only=True, forbid_unknown_fields=True):
    """A page of board or group memory; ``is_chat`` keeps only chat (true) or only the rest (false)."""

    is_chat: bool | None = None


class MemoryStreamQuery(StreamQuery, kw_only=True, forbid_unknown_fields=True):
    is_chat: bool | None = None


def paged(found: tuple[list[T], int], query: PageQuery) -> Page[T]:
    """A service's ``(items, total)`` as MC's page for ``query``."""
    items, total = found
    return Page(items=items, total=total, limit=query.limit, offset=query.offset)


TASK_STATUSES: Final = frozenset({"inbox", "in_progress", "review", "done"})


def path_uuid(ctx: HttpContext, name: str) -> UUID:
    try:
        return UUID(str(ctx.path[name]))
    except ValueError:
        raise invalid_field(f"$.{name}", f"invalid {name}") from None


async def list_boards(ctx: HttpContext, query: PageQuery) -> Page[BoardRead]:
    return paged(await ctx.gateway.boards.list_boards(ctx.who, query.limit, query.offset), query)


async def create_board(ctx: HttpContext, body: BoardCreate) -> BoardRead:
    return await ctx.gateway.boards.create_board(ctx.who, body)


async def get_board(ctx: HttpContext, _: None) -> BoardRead:
    return board_out(await ctx.gateway.boards.board(ctx.who, path_uuid(ctx, "board_id")))


async def update_board(ctx: HttpContext, body: BoardPatch) -> BoardRead:
    return await ctx.gateway.boards.update_board(ctx.who, path_uuid(ctx, "board_id"), body)


async def delete_board(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.boards.delete_board(ctx.who, path_uuid(ctx, "board_id"))
    return Ok()


async def list_tasks(ctx: HttpContext, query: TaskQuery) -> Page[TaskRead]:
    statuses = [s.strip() for s in query.status.split(",") if s.strip()] if query.status else None
    if statuses and (bad := sorted(set(statuses) - TASK_STATUSES)):
        raise invalid_field("$.status", f"unknown status: {', '.join(bad)}")
    return paged(
        await ctx.gateway.boards.list_tasks(
            ctx.who, path_uuid(ctx, "board_id"), statuses, query.assigned_agent_id, query.limit, query.offset
        ),
        query,
    )


async def create_task(ctx: HttpContext, body: TaskCreate) -> TaskRead:
    return await ctx.gateway.boards.create_task(ctx.who, path_uuid(ctx, "board_id"), body)


async def get_task(ctx: HttpContext, _: None) -> TaskRead:
    return await ctx.gateway.boards.get_task(ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "task_id"))


async def update_task(ctx: HttpContext, body: TaskUpdate) -> TaskRead:
    return await ctx.gateway.boards.update_task(
        ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "task_id"), body
    )


async def delete_task(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.boards.delete_task(ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "task_id"))
    return Ok()


async def list_comments(ctx: HttpContext, query: PageQuery) -> Page[CommentRead]:
    return paged(
        await ctx.gateway.boards.comments(
            ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "task_id"), query.limit, query.offset
        ),
        query,
    )


async def add_comment(ctx: HttpContext, body: CommentCreate) -> CommentRead:
    return await ctx.gateway.boards.add_comment(
        ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "task_id"), body.message
    )


async def list_approvals(ctx: HttpContext, query: ApprovalQuery) -> Page[ApprovalRead]:
    return paged(
        await ctx.gateway.boards.list_approvals(
            ctx.who, path_uuid(ctx, "board_id"), query.status, query.limit, query.offset
        ),
        query,
    )


async def create_approval(ctx: HttpContext, body: ApprovalCreate) -> ApprovalRead:
    return await ctx.gateway.boards.create_approval(ctx.who, path_uuid(ctx, "board_id"), body)


async def resolve_approval(ctx: HttpContext, body: ApprovalPatch) -> ApprovalRead:
    return await ctx.gateway.boards.resolve_approval(
        ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "approval_id"), body.status
    )


# -- streams ----------------------------------------------------------------------------------------


def _since(text: str) -> datetime | None:
    """MC's ``since``: ISO-8601, trailing ``Z`` ok, naive = UTC; unparsable = now (None)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


async def stream_cursor(ctx: HttpContext, query: StreamQuery) -> int:
    last = ctx.request.headers.get("last-event-id", "").strip()
    if last.isdigit() and len(last) < 19:
        return int(last)
    when = _since(query.since) if query.since else None
    return await ctx.gateway.tasks.cursor_at(ctx.who.tenant_id, when)


_FRAMES: OrderedDict[tuple[str, UUID, int], asyncio.Future[bytes]] = OrderedDict()
"""Frames rendered lately, by (stream, board, seq): every follower of a board gets the same bytes,
rendered once per process (a frame depends on the board, never on the follower)."""
_FRAMES_KEPT: Final = 4096


async def rendered_once(key: tuple[str, UUID, int], make: Callable[[], Awaitable[bytes]]) -> bytes:
    frame = _FRAMES.get(key)
    if frame is None:
        frame = _FRAMES[key] = asyncio.ensure_future(make())
        while len(_FRAMES) > _FRAMES_KEPT:
            _FRAMES.popitem(last=False)
    return await asyncio.shield(frame)


def sse_frame(seq: int, event: str, data: Any) -> bytes:
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, event.encode(), _encoder.encode(data))


Render = Callable[[EventRow], AsyncIterator[bytes]]


async def follow_events(ctx: HttpContext, cursor: int, where: Where, render: Render) -> AsyncIterator[bytes]:
    yield b": connected\n\n"
    async for row in ctx.gateway.tasks.follow(ctx.who.tenant_id, cursor, where, PING_SECONDS):
        if row is None:
            yield b": ping\n\n"
            continue
        async for frame in render(row):
            yield frame


def _activity(row: EventRow) -> dict[str, Any]:
    return {"id": str(row.id), "event_type": row.kind, "message": row.message, "agent_id": _s(row.agent_id),
            "task_id": _s(row.task_id), "board_id": _s(row.team_id), "created_at": row.created_at.isoformat()}  # fmt: skip


def _s(value: UUID | None) -> str | None:
    return None if value is None else str(value)


_TASK_KINDS: Final = ("task.created", "task.updated", "task.status_changed", "task.comment")


async def task_stream(ctx: HttpContext, query: StreamQuery) -> StreamingResponse:
    """``event: task`` frames ``{type, activity, task | comment}`` for the board's task events."""
    board_id = path_uuid(ctx, "board_id")
    await ctx.gateway.boards.board(ctx.who, board_id)
    cursor = await stream_cursor(ctx, query)

    async def make(row: EventRow) -> bytes:
        data: dict[str, Any] = {"type": row.kind, "activity": _activity(row)}
        if row.kind == "task.comment":
            data["comment"] = comment_out(row)
        elif row.task_id is not None:
            try:
                data["task"] = await ctx.gateway.boards.get_task(ctx.who, board_id, row.task_id)
            except Exception:  # the task was deleted since: its event still goes out, without it
                data["task"] = None
        return sse_frame(row.seq, "task", data)

    async def render(row: EventRow) -> AsyncIterator[bytes]:
        yield await rendered_once(("task", board_id, row.seq), lambda: make(row))

    where = Where(team_id=board_id, kinds=_TASK_KINDS)
    return StreamingResponse(
        follow_events(ctx, cursor, where, render), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def approval_stream(ctx: HttpContext, query: StreamQuery) -> StreamingResponse:
    """``event: approval`` frames ``{approval, pending_approvals_count}``."""
    board_id = path_uuid(ctx, "board_id")
    await ctx.gateway.boards.board(ctx.who, board_id)
    cursor = await stream_cursor(ctx, query)

    async def make(row: EventRow) -> bytes:
        approval_id = row.data.get("approval_id")
        items, _ = await ctx.gateway.boards.list_approvals(ctx.who, board_id, None, 200, 0)
        found = next((a for a in items if str(a.id) == approval_id), None)
        pending = sum(1 for a in items if a.status == "pending")
        return sse_frame(row.seq, "approval", {"approval": found, "pending_approvals_count": pending})

    async def render(row: EventRow) -> AsyncIterator[bytes]:
        yield await rendered_once(("approval", board_id, row.seq), lambda: make(row))

    where = Where(team_id=board_id, kinds=("approval.created", "approval.updated"))
    return StreamingResponse(
        follow_events(ctx, cursor, where, render), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def follow_memory(
    ctx: HttpContext, query: MemoryStreamQuery, where: Where, owner_id: UUID,
    entry: Callable[[UUID], Awaitable[Any]],
) -> StreamingResponse:  # fmt: skip
    """``event: memory`` frames ``{memory}`` for the new entries of one board's or group's memory
    (``where``: its memory events, whose data names the entry; ``entry`` reads one, None when it is
    gone), filtered by ``is_chat``, for a caller already found to read it."""
    cursor = await stream_cursor(ctx, query)
    stream = where.kinds[0] if where.kinds else "memory"

    async def make(row: EventRow) -> bytes:
        memory = await entry(UUID(str(row.data.get("memory_id"))))
        return sse_frame(row.seq, "memory", {"memory": memory})

    async def render(row: EventRow) -> AsyncIterator[bytes]:
        if query.is_chat is None or bool(row.data.get("is_chat")) == query.is_chat:
            yield await rendered_once((stream, owner_id, row.seq), lambda: make(row))

    return StreamingResponse(
        follow_events(ctx, cursor, where, render), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def list_memory(ctx: HttpContext, query: MemoryQuery) -> Page[MemoryRead]:
    return paged(
        await ctx.gateway.agent_api.user_memory(
            ctx.who, path_uuid(ctx, "board_id"), query.is_chat, query.limit, query.offset
        ),
        query,
    )


async def add_memory(ctx: HttpContext, body: MemoryCreate) -> MemoryRead:
    return await ctx.gateway.agent_api.user_post_memory(ctx.who, path_uuid(ctx, "board_id"), body)


async def board_memory_stream(ctx: HttpContext, query: MemoryStreamQuery) -> StreamingResponse:
    """``event: memory`` frames ``{memory}`` for the board's new memory entries."""
    board_id = path_uuid(ctx, "board_id")
    await ctx.gateway.boards.board(ctx.who, board_id)
    api, tenant_id = ctx.gateway.agent_api, ctx.who.tenant_id
    where = Where(team_id=board_id, kinds=("board.memory",))
    return await follow_memory(
        ctx, query, where, board_id, lambda memory_id: api.memory_entry(tenant_id, board_id, memory_id)
    )


_B = "/api/v1/boards"
_BOARD = _B + "/{board_id}"
_TASK = _BOARD + "/tasks/{task_id}"
_TAG = "mission-control"
ROUTES = [
    Api("GET", _B, list_boards, Role.VIEWER, "MC: the boards the caller may read", query=PageQuery,
        response=Page[BoardRead], family="mc", tag=_TAG),
    Api("POST", _B, create_board, Role.OPERATOR, "MC: create a board", body=BoardCreate, response=BoardRead,
        family="mc", tag=_TAG),
    Api("GET", _BOARD, get_board, Role.VIEWER, "MC: a board", response=BoardRead, family="mc", tag=_TAG),
    Api("PATCH", _BOARD, update_board, Role.OPERATOR, "MC: change a board's fields and rules", body=BoardPatch,
        response=BoardRead, family="mc", tag=_TAG),
    Api("DELETE", _BOARD, delete_board, Role.OPERATOR, "MC: delete a board with its tasks", response=Ok,
        family="mc", tag=_TAG),
    Api("GET", _BOARD + "/tasks", list_tasks, Role.VIEWER, "MC: a board's tasks (status CSV, assignee filters)",
        query=TaskQuery, response=Page[TaskRead], family="mc", tag=_TAG),
    Api("POST", _BOARD + "/tasks", create_task, Role.OPERATOR, "MC: a user creates a task", body=TaskCreate,
        response=TaskRead, family="mc", tag=_TAG),
    Api("GET", _BOARD + "/tasks/stream", task_stream, Role.VIEWER,
        "MC: task events as SSE (id: lines; resume with Last-Event-ID or since)", query=StreamQuery,
        media_type="text/event-stream", family="mc", tag=_TAG),
    Api("GET", _TASK, get_task, Role.VIEWER, "MC: a task", response=TaskRead, family="mc", tag=_TAG),
    Api("PATCH", _TASK, update_task, Role.OPERATOR, "MC: a user changes a task (transition rules and board gates)",
        body=TaskUpdate, response=TaskRead, family="mc", tag=_TAG),
    Api("DELETE", _TASK, delete_task, Role.OPERATOR, "MC: delete a task", response=Ok, family="mc", tag=_TAG),
    Api("GET", _TASK + "/comments", list_comments, Role.VIEWER, "MC: a task's comments, oldest first",
        query=PageQuery, response=Page[CommentRead], family="mc", tag=_TAG),
    Api("POST", _TASK + "/comments", add_comment, Role.OPERATOR, "MC: comment on a task", body=CommentCreate,
        response=CommentRead, family="mc", tag=_TAG),
    Api("GET", _BOARD + "/approvals", list_approvals, Role.VIEWER, "MC: a board's approvals", query=ApprovalQuery,
        response=Page[ApprovalRead], family="mc", tag=_TAG),
    Api("POST", _BOARD + "/approvals", create_approval, Role.OPERATOR,
        "MC: request an approval (one pending per task; a reason is required)", body=ApprovalCreate,
        response=ApprovalRead, family="mc", tag=_TAG),
    Api("GET", _BOARD + "/approvals/stream", approval_stream, Role.VIEWER, "MC: approval events as SSE",
        query=StreamQuery, media_type="text/event-stream", family="mc", tag=_TAG),
    Api("PATCH", _BOARD + "/approvals/{approval_id}", resolve_approval, Role.OPERATOR,
        "MC: resolve an approval (users only)", body=ApprovalPatch, response=ApprovalRead, family="mc", tag=_TAG),
    Api("GET", _BOARD + "/memory", list_memory, Role.VIEWER, "MC: board memory, newest first (is_chat filter)",
        query=MemoryQuery, response=Page[MemoryRead], family="mc", tag=_TAG),
    Api("POST", _BOARD + "/memory", add_memory, Role.OPERATOR,
        "MC: post board memory; a chat message notifies the lead and the mentioned agents", body=MemoryCreate,
        response=MemoryRead, family="mc", tag=_TAG),
    Api("GET", _BOARD + "/memory/stream", board_memory_stream, Role.VIEWER,
        "MC: board memory as SSE (id: lines; resume with Last-Event-ID or since)", query=MemoryStreamQuery,
        media_type="text/event-stream", family="mc", tag=_TAG),
]  # fmt: skip
