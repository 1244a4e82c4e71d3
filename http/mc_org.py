"""Mission Control's organisation surface under ``/api/v1`` (seeds 000/001, reference 1.1, 1.7,
1.8): the caller's user profile, the organisation (the tenant), members with their board access,
invites, gateway records, dashboard metrics and the activity feeds. Errors are MC's ``{detail,
request_id}``; an action that needs an org admin refuses anyone else with 403
(``clawgate.services.org``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from uuid import UUID

from msgspec import Meta, Struct
from starlette.responses import StreamingResponse

from clawgate.principal import Role
from clawgate.services.mc_dashboard import ActivityRead, CommentFeedItem, DashboardMetrics, RangeKey
from clawgate.services.mc_gateways import GatewayCreate, GatewayRead, GatewayStatus, GatewayUpdate
from clawgate.services.org import (
    AccessUpdate,
    InviteAccept,
    InviteCreate,
    InviteRead,
    MemberRead,
    MemberUpdate,
    OrganizationActive,
    OrganizationCreate,
    OrganizationListItem,
    OrganizationRead,
    UserRead,
    UserUpdate,
)
from clawgate.store.coord_events import EventRow, Where

from .mission_control import (
    Page,
    PageQuery,
    StreamQuery,
    follow_events,
    paged,
    path_uuid,
    sse_frame,
    stream_cursor,
)
from .routing import SSE_HEADERS
from .types import Api, Handler, HttpContext, Ok

__all__ = ["ROUTES"]


class BoardStreamQuery(StreamQuery, kw_only=True, forbid_unknown_fields=True):
    """``board_id``: only that board's (one the caller reads); ``since`` as the board streams'."""

    board_id: UUID | None = None


class BoardPageQuery(PageQuery, kw_only=True, forbid_unknown_fields=True):
    """``board_id``: only that board's (it must be one the caller reads)."""

    board_id: UUID | None = None


class StatusQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's gateway resolution: a board's gateway, else the one at ``gateway_url`` (its token and
    TLS options are accepted and not used: other gateways are records only)."""

    board_id: UUID | None = None
    gateway_url: Annotated[str, Meta(max_length=2_000)] | None = None
    gateway_token: Annotated[str, Meta(max_length=4_000)] | None = None
    gateway_disable_device_pairing: bool | None = None
    gateway_allow_insecure_tls: bool | None = None


class MetricsQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    range: RangeKey = "24h"
    board_id: UUID | None = None


# -- the user and the organisation -------------------------------------------------------------------


async def get_me(ctx: HttpContext, _: None) -> UserRead:
    return await ctx.gateway.org.me(ctx.who)


async def update_me(ctx: HttpContext, body: UserUpdate) -> UserRead:
    return await ctx.gateway.org.update_me(ctx.who, body)


async def delete_me(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.org.delete_me(ctx.who)
    return Ok()


async def create_org(ctx: HttpContext, body: OrganizationCreate) -> OrganizationRead:
    return await ctx.gateway.org.create_organization(ctx.who, body)


async def delete_org(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.org.delete_organization(ctx.who)
    return Ok()


async def get_org(ctx: HttpContext, _: None) -> OrganizationRead:
    return await ctx.gateway.org.organization(ctx.who)


async def list_orgs(ctx: HttpContext, _: None) -> list[OrganizationListItem]:
    return await ctx.gateway.org.organizations(ctx.who)


async def set_active(ctx: HttpContext, body: OrganizationActive) -> OrganizationRead:
    return await ctx.gateway.org.set_active(ctx.who, body.organization_id)


# -- members and invites -----------------------------------------------------------------------------


async def my_member(ctx: HttpContext, _: None) -> MemberRead:
    return await ctx.gateway.org.my_member(ctx.who)


async def list_members(ctx: HttpContext, query: PageQuery) -> Page[MemberRead]:
    return paged(await ctx.gateway.org.members(ctx.who, query.limit, query.offset), query)


async def get_member(ctx: HttpContext, _: None) -> MemberRead:
    return await ctx.gateway.org.member(ctx.who, path_uuid(ctx, "member_id"))


async def update_member(ctx: HttpContext, body: MemberUpdate) -> MemberRead:
    return await ctx.gateway.org.update_member(ctx.who, path_uuid(ctx, "member_id"), body)


async def set_access(ctx: HttpContext, body: AccessUpdate) -> MemberRead:
    return await ctx.gateway.org.set_access(ctx.who, path_uuid(ctx, "member_id"), body)


async def remove_member(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.org.remove_member(ctx.who, path_uuid(ctx, "member_id"))
    return Ok()


async def list_invites(ctx: HttpContext, query: PageQuery) -> Page[InviteRead]:
    return paged(await ctx.gateway.org.invites(ctx.who, query.limit, query.offset), query)


async def create_invite(ctx: HttpContext, body: InviteCreate) -> InviteRead:
    return await ctx.gateway.org.create_invite(ctx.who, body)


async def revoke_invite(ctx: HttpContext, _: None) -> InviteRead:
    return await ctx.gateway.org.revoke_invite(ctx.who, path_uuid(ctx, "invite_id"))


async def accept_invite(ctx: HttpContext, body: InviteAccept) -> MemberRead:
    return await ctx.gateway.org.accept_invite(ctx.who, body.token)


# -- gateways ----------------------------------------------------------------------------------------


def _self_url(ctx: HttpContext) -> str:
    """This ClawGate's WebSocket URL as the request reached it."""
    base = ctx.request.base_url
    return f"{'wss' if base.scheme == 'https' else 'ws'}://{base.netloc}/ws"


async def list_gateways(ctx: HttpContext, query: PageQuery) -> Page[GatewayRead]:
    return paged(
        await ctx.gateway.mc_gateways.list(ctx.who, query.limit, query.offset, _self_url(ctx)), query
    )


async def gateway_status(ctx: HttpContext, query: StatusQuery) -> GatewayStatus:
    return await ctx.gateway.mc_gateways.status(ctx.who, query.board_id, query.gateway_url, _self_url(ctx))


async def create_gateway(ctx: HttpContext, body: GatewayCreate) -> GatewayRead:
    return await ctx.gateway.mc_gateways.create(ctx.who, body, _self_url(ctx))


async def get_gateway(ctx: HttpContext, _: None) -> GatewayRead:
    return await ctx.gateway.mc_gateways.get(ctx.who, path_uuid(ctx, "gateway_id"), _self_url(ctx))


async def update_gateway(ctx: HttpContext, body: GatewayUpdate) -> GatewayRead:
    return await ctx.gateway.mc_gateways.update(ctx.who, path_uuid(ctx, "gateway_id"), body, _self_url(ctx))


async def delete_gateway(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.mc_gateways.delete(ctx.who, path_uuid(ctx, "gateway_id"))
    return Ok()


# -- metrics and activity ----------------------------------------------------------------------------


async def dashboard(ctx: HttpContext, query: MetricsQuery) -> DashboardMetrics:
    return await ctx.gateway.dashboard.metrics(ctx.who, query.range, query.board_id)


async def activity(ctx: HttpContext, query: BoardPageQuery) -> Page[ActivityRead]:
    return paged(
        await ctx.gateway.dashboard.activity(ctx.who, query.board_id, query.limit, query.offset), query
    )


async def task_comment_stream(ctx: HttpContext, query: BoardStreamQuery) -> StreamingResponse:
    """The feed's new comments as ``event: comment`` frames ``{comment}``, each read through the
    caller's board access (a comment on a board it may not read is not sent), resumed like the
    board streams (``Last-Event-ID`` or ``since``)."""
    if query.board_id is not None:
        await ctx.gateway.boards.board(ctx.who, query.board_id)  # readable, else 404
    cursor = await stream_cursor(ctx, query)

    async def render(row: EventRow) -> AsyncIterator[bytes]:
        found, _ = await ctx.gateway.dashboard.task_comments(ctx.who, query.board_id, 1, 0, row.id)
        if found:
            yield sse_frame(row.seq, "comment", {"comment": found[0]})

    where = Where(team_id=query.board_id, kinds=("task.comment",))
    return StreamingResponse(
        follow_events(ctx, cursor, where, render), media_type="text/event-stream", headers=SSE_HEADERS
    )


async def task_comments(ctx: HttpContext, query: BoardPageQuery) -> Page[CommentFeedItem]:
    return paged(
        await ctx.gateway.dashboard.task_comments(ctx.who, query.board_id, query.limit, query.offset), query
    )


_O = "/api/v1/organizations"
_M = _O + "/me/members/{member_id}"
_G = "/api/v1/gateways"
_TAG = "mission-control"
_V = Role.VIEWER  # any caller of the tenant; the MC role (member / admin / owner) is checked by the service


def _mc(method: str, path: str, handler: Handler, summary: str, **kw: Any) -> Api:
    return Api(method, path, handler, _V, f"MC: {summary}", family="mc", tag=_TAG, **kw)


ROUTES = [
    _mc("GET", "/api/v1/users/me", get_me, "the caller's user profile (made on first use)", response=UserRead),
    _mc("PATCH", "/api/v1/users/me", update_me, "change the caller's profile fields", body=UserUpdate,
        response=UserRead),
    _mc("DELETE", "/api/v1/users/me", delete_me,
        "leave the organisation (its MC data goes when the caller was its only member)", response=Ok),
    # MC's Clerk bootstrap is ``get_me``: the user, its member row made (or raised) on the way.
    _mc("POST", "/api/v1/auth/bootstrap", get_me, "the caller's user, its membership made on first use",
        response=UserRead),
    _mc("POST", _O, create_org, "create an organisation: a new tenant (gateway-wide admins; the caller owns it)",
        body=OrganizationCreate, response=OrganizationRead),
    _mc("DELETE", _O + "/me", delete_org, "delete the organisation's Mission Control data (owners)", response=Ok),
    _mc("GET", _O + "/me", get_org, "the organisation (the tenant the request acts in)", response=OrganizationRead),
    _mc("GET", _O + "/me/list", list_orgs, "the caller's organisations (the one it acts in)",
        response=list[OrganizationListItem]),
    _mc("PATCH", _O + "/me/active", set_active, "set the active organisation (only the one acted in)",
        body=OrganizationActive, response=OrganizationRead),
    _mc("GET", _O + "/me/member", my_member, "the caller's membership with its board access", response=MemberRead),
    _mc("GET", _O + "/me/members", list_members, "the organisation's members", query=PageQuery,
        response=Page[MemberRead]),
    _mc("GET", _M, get_member, "a member (admins any, members themselves)", response=MemberRead),
    _mc("PATCH", _M, update_member, "change a member's role (admins; owners by owners)", body=MemberUpdate,
        response=MemberRead),
    _mc("PUT", _M + "/access", set_access, "replace a member's board access (admins)", body=AccessUpdate,
        response=MemberRead),
    _mc("DELETE", _M, remove_member, "remove a member (admins; never the last owner)", response=Ok),
    _mc("GET", _O + "/me/invites", list_invites, "pending invites (admins)", query=PageQuery,
        response=Page[InviteRead]),
    _mc("POST", _O + "/me/invites", create_invite, "invite an email address (admins; the token shown once)",
        body=InviteCreate, response=InviteRead),
    _mc("DELETE", _O + "/me/invites/{invite_id}", revoke_invite, "revoke a pending invite (admins)",
        response=InviteRead),
    _mc("POST", _O + "/invites/accept", accept_invite, "accept an invite of this organisation (once)",
        body=InviteAccept, response=MemberRead),
    _mc("GET", _G, list_gateways, "gateway records, this ClawGate's own first (admins)", query=PageQuery,
        response=Page[GatewayRead]),
    _mc("POST", _G, create_gateway, "record a gateway (admins; the token encrypted at rest)", body=GatewayCreate,
        response=GatewayRead),
    _mc("GET", _G + "/status", gateway_status, "a gateway's status: this ClawGate connected, others never (admins)",
        query=StatusQuery, response=GatewayStatus),
    _mc("GET", _G + "/{gateway_id}", get_gateway, "a gateway record (admins)", response=GatewayRead),
    _mc("PATCH", _G + "/{gateway_id}", update_gateway, "change a gateway record (admins)", body=GatewayUpdate,
        response=GatewayRead),
    _mc("DELETE", _G + "/{gateway_id}", delete_gateway, "delete a gateway record (admins; not this ClawGate's)",
        response=Ok),
    _mc("GET", "/api/v1/metrics/dashboard", dashboard, "dashboard KPIs and series of the boards read",
        query=MetricsQuery, response=DashboardMetrics),
    _mc("GET", "/api/v1/activity", activity, "the activity log of the boards read, newest first",
        query=BoardPageQuery, response=Page[ActivityRead]),
    _mc("GET", "/api/v1/activity/task-comments", task_comments, "task comments of the boards read, newest first",
        query=BoardPageQuery, response=Page[CommentFeedItem]),
    _mc("GET", "/api/v1/activity/task-comments/stream", task_comment_stream,
        "task comments of the boards read as SSE (`event: comment`, `{comment}`)", query=BoardStreamQuery,
        media_type="text/event-stream"),
]  # fmt: skip
