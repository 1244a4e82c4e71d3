"""GoClaw's team REST routes (``/v1/teams/{id}/...``) on the shared coordination model; the team
methods themselves are WebSocket methods (``clawgate.rpc.teams``).

``POST /v1/teams/import`` takes the archive as GoClaw sends it (``multipart/form-data``, one
``file`` part) or as the raw body (``application/gzip``, ``application/x-gzip``,
``application/octet-stream``), up to 20 MB (``EdgeMiddleware`` lets ``UPLOAD_PATHS`` carry
``clawgate.http.skills.UPLOAD_BODY_LIMIT``)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta, Struct
from starlette.requests import Request
from starlette.responses import Response

from clawgate.errors import UnsupportedMediaType
from clawgate.principal import Role
from clawgate.services.team_archive import ImportResult
from clawgate.services.team_workspace import Uploaded
from clawgate.services.teams import ExportPreview, TeamEvent, team_id_of
from clawgate.wire import NonNegative

from .routing import archive_response, download_response, file_part, json_response
from .types import Api, HttpContext

__all__ = ["ROUTES", "UPLOAD_PATHS"]

UPLOAD_PATHS = ("/v1/teams/import",)
_RAW_ARCHIVE = frozenset({"application/gzip", "application/x-gzip", "application/octet-stream"})


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


class UploadQuery(ScopeQuery, kw_only=True, forbid_unknown_fields=True):
    """``task_id``: link the uploaded file to this task of the team as an attachment."""

    task_id: Annotated[str, Meta(max_length=64)] = ""


class MoveQuery(ScopeQuery, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's ``?from=<path>&to=<path>&chat_id=``."""

    from_: Annotated[str, Meta(min_length=1, max_length=1024)] = msgspec.field(name="from")
    to: Annotated[str, Meta(min_length=1, max_length=1024)]


class UploadForm(Struct, kw_only=True, forbid_unknown_fields=True):
    """The form carries its ``file`` part only."""


class Moved(Struct, kw_only=True):
    from_: str = msgspec.field(name="from")
    to: str


async def upload(ctx: HttpContext, query: UploadQuery) -> Uploaded:
    """A file into the team's workspace. Raises: NotFound, Forbidden, InvalidRequest, UnsupportedMediaType."""
    team_id = team_id_of(ctx.path["teamId"], "teamId")
    task_id = team_id_of(query.task_id, "task_id") if query.task_id else None
    name, data = await file_part(ctx.request)
    return await ctx.gateway.team_workspace.upload(ctx.who, team_id, query.chat_id, name, data, task_id)


async def move(ctx: HttpContext, query: MoveQuery) -> Moved:
    """Rename a file of the team's workspace. Raises: NotFound, Forbidden, InvalidRequest, AlreadyExists."""
    team_id = team_id_of(ctx.path["teamId"], "teamId")
    await ctx.gateway.team_workspace.move(ctx.who, team_id, query.chat_id, query.from_, query.to)
    return Moved(from_=query.from_, to=query.to)


async def export_preview(ctx: HttpContext, _: None) -> ExportPreview:
    return await ctx.gateway.team_archive.preview(ctx.who, team_id_of(ctx.path["id"], "id"))


async def export(ctx: HttpContext, _: None) -> Response:
    """The team's archive. Raises: NotFound, InvalidRequest (a bad id), PayloadTooLarge."""
    return archive_response(*await ctx.gateway.team_archive.export(ctx.who, team_id_of(ctx.path["id"], "id")))


async def archive_body(request: Request) -> bytes:
    """The archive of an import: the ``file`` part of a multipart form, or the raw body.
    Raises: UnsupportedMediaType (another type), InvalidRequest (a malformed form)."""
    content_type = request.headers.get("content-type") or ""
    media = content_type.partition(";")[0].strip().lower()
    if media == "multipart/form-data":
        return (await file_part(request))[1]
    if media in _RAW_ARCHIVE:
        return await request.body()
    raise UnsupportedMediaType(content_type=content_type)


async def import_archive(ctx: HttpContext, _: None) -> Response:
    """A new team from an archive. Raises: Forbidden, InvalidRequest, PayloadTooLarge, UnsupportedMediaType."""
    result = await ctx.gateway.team_archive.import_archive(ctx.who, await archive_body(ctx.request))
    return json_response(result, 201)


async def download(ctx: HttpContext, _: None) -> Response:
    """A task attachment's file. Raises: NotFound, InvalidRequest (a bad id)."""
    team_id = team_id_of(ctx.path["teamId"], "teamId")
    attachment_id = team_id_of(ctx.path["attachmentId"], "attachmentId")
    found = await ctx.gateway.team_workspace.download(ctx.who, team_id, attachment_id)
    return download_response(found.file_name, found.data, found.mime_type)


ROUTES = [
    Api("POST", "/v1/teams/import", import_archive, Role.ADMIN,
        "A new team, with new agents, from a team archive (multipart field file, or the raw tar.gz body; "
        "20 MB at most); agent keys already taken get -2, -3 ...", form=UploadForm, response=ImportResult,
        status=201, tag="teams"),
    Api("GET", "/v1/teams/{id}/events", list_events, Role.VIEWER, "A team's events, newest first (paginated)",
        query=EventsQuery, response=EventPage, tag="teams"),
    Api("GET", "/v1/teams/{id}/export/preview", export_preview, Role.VIEWER,
        "Counts an export of the team would hold (members, tasks, agent links, comments, events, "
        "attachments, workspace files); no archive built", response=ExportPreview, tag="teams"),
    Api("GET", "/v1/teams/{id}/export", export, Role.VIEWER,
        "The team as team-<name>-YYYYMMDD.tar.gz: manifest.json, team/ (team, members, tasks, comments, "
        "events, attachments, workspace files) and agents/<key>/agent.json", media_type="application/gzip",
        tag="teams"),
    Api("GET", "/v1/teams/{teamId}/attachments/{attachmentId}/download", download, Role.VIEWER,
        "A task attachment's file (a file of the team's workspace linked to a task), as a download",
        media_type="application/octet-stream", tag="teams"),
    Api("POST", "/v1/teams/{teamId}/workspace/upload", upload, Role.OPERATOR,
        "A file (multipart field file) into the team's workspace, in the chat's folder unless the team's "
        "workspace is shared (task_id: linked to that task as an attachment, whose id the answer "
        "carries)", query=UploadQuery, form=UploadForm, response=Uploaded, tag="teams"),
    Api("PUT", "/v1/teams/{teamId}/workspace/move", move, Role.OPERATOR,
        "Move or rename a file of the team's workspace (?from=&to=&chat_id=)", query=MoveQuery, response=Moved,
        tag="teams"),
]  # fmt: skip
