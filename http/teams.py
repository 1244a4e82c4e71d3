"""GoClaw's team REST routes (``/v1/teams/{id}/...``) on the shared coordination model; the team
methods themselves are WebSocket methods (``clawgate.rpc.teams``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.teams import ExportPreview, TeamEvent, team_id_of
from clawgate.wire import NonNegative

from .routing import file_part
from .types import Api, HttpContext

__all__ = ["ROUTES"]


class EventsQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=500)] = 50
    offset: NonNegative = 0


class EventPage(Struct, kw_only=True):
    events: list[TeamEvent]
    count: int
    limit: int
    offset: int


async def list_events(ctx: HttpContext, query: EventsQuery) -> EventPage:
    """A team's history, newest first. Raises: NotFound, InvalidRequest (not a UUID)."""
    team_id = team_id_of(ctx.path["id"], "id")
    events = await ctx.gateway.teams.events(ctx.who, team_id, query.limit, query.offset)
    return EventPage(events=events, count=len(events), limit=query.limit, offset=query.offset)


class ScopeQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    """The chat whose folder an upload goes to (ignored when the team's workspace is shared)."""

    chat_id: Annotated[str, Meta(max_length=128)] = ""


class MoveQuery(ScopeQuery, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's ``?from=<path>&to=<path>&chat_id=``."""

    from_: Annotated[str, Meta(min_length=1, max_length=1024)] = msgspec.field(name="from")
    to: Annotated[str, Meta(min_length=1, max_length=1024)]


class UploadForm(Struct, kw_only=True, forbid_unknown_fields=True):
    """The form carries its ``file`` part only."""


class Uploaded(Struct, kw_only=True):
    path: str
    filename: str
    size: int
    mime_type: str


class Moved(Struct, kw_only=True):
    from_: str = msgspec.field(name="from")
    to: str


async def upload(ctx: HttpContext, query: ScopeQuery) -> Uploaded:
    """A file into the team's workspace. Raises: NotFound, Forbidden, InvalidRequest, UnsupportedMediaType."""
    team_id = team_id_of(ctx.path["teamId"], "teamId")
    name, data = await file_part(ctx.request)
    path, name, mime = await ctx.gateway.team_workspace.upload(ctx.who, team_id, query.chat_id, name, data)
    return Uploaded(path=path, filename=name, size=len(data), mime_type=mime)


async def move(ctx: HttpContext, query: MoveQuery) -> Moved:
    """Rename a file of the team's workspace. Raises: NotFound, Forbidden, InvalidRequest, AlreadyExists."""
    team_id = team_id_of(ctx.path["teamId"], "teamId")
    await ctx.gateway.team_workspace.move(ctx.who, team_id, query.chat_id, query.from_, query.to)
    return Moved(from_=query.from_, to=query.to)


async def export_preview(ctx: HttpContext, _: None) -> ExportPreview:
    return await ctx.gateway.teams.export_preview(ctx.who, team_id_of(ctx.path["id"], "id"))


ROUTES = [
    Api("GET", "/v1/teams/{id}/events", list_events, Role.VIEWER, "A team's events, newest first (paginated)",
        query=EventsQuery, response=EventPage, tag="teams"),
    Api("GET", "/v1/teams/{id}/export/preview", export_preview, Role.VIEWER,
        "Counts an export of the team would hold (members, tasks, agent links)", response=ExportPreview,
        tag="teams"),
    Api("POST", "/v1/teams/{teamId}/workspace/upload", upload, Role.OPERATOR,
        "A file (multipart field file) into the team's workspace, in the chat's folder unless the team's "
        "workspace is shared", query=ScopeQuery, form=UploadForm, response=Uploaded, tag="teams"),
    Api("PUT", "/v1/teams/{teamId}/workspace/move", move, Role.OPERATOR,
        "Move or rename a file of the team's workspace (?from=&to=&chat_id=)", query=MoveQuery, response=Moved,
        tag="teams"),
]  # fmt: skip
