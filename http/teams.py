"""GoClaw's team REST routes (``/v1/teams/{id}/...``) on the shared coordination model; the team
methods themselves are WebSocket methods (``clawgate.rpc.teams``)."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.teams import ExportPreview, TeamEvent, team_id_of
from clawgate.wire import NonNegative

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


async def export_preview(ctx: HttpContext, _: None) -> ExportPreview:
    return await ctx.gateway.teams.export_preview(ctx.who, team_id_of(ctx.path["id"], "id"))


ROUTES = [
    Api("GET", "/v1/teams/{id}/events", list_events, Role.VIEWER, "A team's events, newest first (paginated)",
        query=EventsQuery, response=EventPage, tag="teams"),
    Api("GET", "/v1/teams/{id}/export/preview", export_preview, Role.VIEWER,
        "Counts an export of the team would hold (members, tasks, agent links)", response=ExportPreview,
        tag="teams"),
]  # fmt: skip
