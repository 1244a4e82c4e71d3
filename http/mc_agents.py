"""Mission Control's user routes for agents and board onboarding (seeds 000/001, reference 1.6,
1.9): ``/api/v1/agents`` (the organisation admin's agents: ClawGate agents with their MC side) and
``/api/v1/boards/{board_id}/onboarding`` (the conversation with the gateway main that drafts a
board's goal and lead). Errors are MC's ``{detail, request_id}``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct
from starlette.responses import StreamingResponse

from clawgate.errors import NotFound
from clawgate.principal import Role
from clawgate.services.agent_api import AgentRead, HeartbeatIn
from clawgate.services.board_agents import McAgentCreate, McAgentPatch
from clawgate.services.boards import BoardRead
from clawgate.services.onboarding import OnboardingAnswer, OnboardingConfirm, OnboardingRead
from clawgate.store.coord_events import EventRow, Where

from .mission_control import (
    Page,
    PageQuery,
    StreamQuery,
    follow_events,
    paged,
    path_uuid,
    rendered_once,
    sse_frame,
    stream_cursor,
)
from .routing import SSE_HEADERS
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class AgentsQuery(PageQuery, kw_only=True, forbid_unknown_fields=True):
    board_id: UUID | None = None


async def list_agents(ctx: HttpContext, query: AgentsQuery) -> Page[AgentRead]:
    return paged(
        await ctx.gateway.board_agents.list_agents(ctx.who, query.board_id, query.limit, query.offset), query
    )


async def create_agent(ctx: HttpContext, body: McAgentCreate) -> AgentRead:
    return await ctx.gateway.board_agents.create(ctx.who, body)


async def get_agent(ctx: HttpContext, _: None) -> AgentRead:
    return await ctx.gateway.board_agents.get(ctx.who, path_uuid(ctx, "agent_id"))


async def update_agent(ctx: HttpContext, body: McAgentPatch) -> AgentRead:
    return await ctx.gateway.board_agents.update(ctx.who, path_uuid(ctx, "agent_id"), body)


async def delete_agent(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.board_agents.delete(ctx.who, path_uuid(ctx, "agent_id"))
    return Ok()


class AgentStreamQuery(StreamQuery, kw_only=True, forbid_unknown_fields=True):
    board_id: UUID | None = None


async def agent_stream(ctx: HttpContext, query: AgentStreamQuery) -> StreamingResponse:
    """``event: agent`` frames ``{agent}`` (its MC read, status computed then) for every agent event
    of the tenant (``board_id``: of that board): heartbeats, changes, lifecycle. An agent deleted
    since its event is not sent. Resumed like the board streams."""
    if query.board_id is not None:
        await ctx.gateway.boards.board(ctx.who, query.board_id)
    cursor = await stream_cursor(ctx, query)
    tenant = ctx.who.tenant_id

    async def make(row: EventRow) -> bytes:
        assert row.agent_id is not None
        try:
            agent: AgentRead | None = await ctx.gateway.board_agents.read(
                tenant, row.agent_id, query.board_id
            )
        except NotFound:
            agent = None
        return sse_frame(row.seq, "agent", {"agent": agent}) if agent is not None else b""

    # One change of an agent on several boards (a heartbeat: an event per board) is written in one
    # transaction, so its events share ``created_at`` (the transaction's time): the tenant-wide
    # stream sends it once, not once per board.
    told: dict[tuple[UUID, str], datetime] = {}

    async def render(row: EventRow) -> AsyncIterator[bytes]:
        if row.kind.startswith("agent.") and row.agent_id is not None:
            if query.board_id is None:
                if told.get((row.agent_id, row.kind)) == row.created_at:
                    return
                told[(row.agent_id, row.kind)] = row.created_at
            frame = await rendered_once(("agent", query.board_id or tenant, row.seq), lambda: make(row))
            if frame:
                yield frame

    return StreamingResponse(
        follow_events(ctx, cursor, Where(team_id=query.board_id), render), media_type="text/event-stream",
        headers=SSE_HEADERS,
    )  # fmt: skip


class AgentHeartbeatIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``AgentHeartbeatCreate``: the agent by name (made on the board when there is none)."""

    name: Annotated[str, Meta(min_length=1, max_length=120)]
    board_id: UUID | None = None
    status: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


async def heartbeat_agent(ctx: HttpContext, body: HeartbeatIn) -> AgentRead:
    """A heartbeat for one of the tenant's agents, as its own (``POST /agent/heartbeat``)."""
    agent_id = path_uuid(ctx, "agent_id")
    await ctx.gateway.board_agents.get(ctx.who, agent_id)  # the tenant's, and the caller an admin
    await ctx.gateway.agent_api.heartbeat_of(ctx.who, agent_id, body.status)
    return await ctx.gateway.board_agents.get(ctx.who, agent_id)


async def heartbeat_or_create(ctx: HttpContext, body: AgentHeartbeatIn) -> AgentRead:
    """A heartbeat for the tenant's agent named ``name`` (its name or key, case-insensitive), made
    first (on ``board_id`` when given) when there is none."""
    agent_id = await ctx.gateway.board_agents.find_or_create(ctx.who, body.name, body.board_id)
    await ctx.gateway.agent_api.heartbeat_of(ctx.who, agent_id, body.status)
    return await ctx.gateway.board_agents.get(ctx.who, agent_id)


async def get_onboarding(ctx: HttpContext, _: None) -> OnboardingRead:
    return await ctx.gateway.onboarding.get(ctx.who, path_uuid(ctx, "board_id"))


async def start_onboarding(ctx: HttpContext, _: None) -> OnboardingRead:
    return await ctx.gateway.onboarding.start(ctx.who, path_uuid(ctx, "board_id"))


async def answer_onboarding(ctx: HttpContext, body: OnboardingAnswer) -> OnboardingRead:
    return await ctx.gateway.onboarding.answer(ctx.who, path_uuid(ctx, "board_id"), body)


async def confirm_onboarding(ctx: HttpContext, body: OnboardingConfirm) -> BoardRead:
    return await ctx.gateway.onboarding.confirm(ctx.who, path_uuid(ctx, "board_id"), body)


_AG = "/api/v1/agents"
_ON = "/api/v1/boards/{board_id}/onboarding"
_TAG = "mission-control"


ROUTES = [
    Api("GET", _AG, list_agents, Role.ADMIN, "MC: the organisation's agents (board_id filter)", query=AgentsQuery,
        response=Page[AgentRead], family="mc", tag=_TAG),
    Api("POST", _AG, create_agent, Role.ADMIN, "MC: create an agent (a ClawGate agent; on a board when named)",
        body=McAgentCreate, response=AgentRead, family="mc", tag=_TAG),
    Api("GET", _AG + "/stream", agent_stream, Role.ADMIN,
        "MC: agent updates as SSE (`event: agent`, `{agent}`; board_id filter)", query=AgentStreamQuery,
        media_type="text/event-stream", family="mc", tag=_TAG),
    Api("POST", _AG + "/heartbeat", heartbeat_or_create, Role.ADMIN,
        "MC: heartbeat an agent by name, made first when there is none", body=AgentHeartbeatIn,
        response=AgentRead, family="mc", tag=_TAG),
    Api("POST", _AG + "/{agent_id}/heartbeat", heartbeat_agent, Role.ADMIN,
        "MC: record a heartbeat for an agent (as its own)", body=HeartbeatIn, response=AgentRead, family="mc",
        tag=_TAG),
    Api("GET", _AG + "/{agent_id}", get_agent, Role.ADMIN, "MC: an agent", response=AgentRead, family="mc",
        tag=_TAG),
    Api("PATCH", _AG + "/{agent_id}", update_agent, Role.ADMIN,
        "MC: change an agent (name, board, profile, templates, gateway main; not status)", body=McAgentPatch,
        response=AgentRead, family="mc", tag=_TAG),
    Api("DELETE", _AG + "/{agent_id}", delete_agent, Role.ADMIN,
        "MC: delete an agent (its open tasks unassigned)", response=Ok, family="mc", tag=_TAG),
    Api("GET", _ON, get_onboarding, Role.VIEWER, "MC: the board's latest onboarding session",
        response=OnboardingRead, family="mc", tag=_TAG),
    Api("POST", _ON + "/start", start_onboarding, Role.OPERATOR,
        "MC: start onboarding (the instructions go to the gateway main as a run)", response=OnboardingRead,
        family="mc", tag=_TAG),
    Api("POST", _ON + "/answer", answer_onboarding, Role.OPERATOR,
        "MC: answer the gateway main's question (a run of it)", body=OnboardingAnswer, response=OnboardingRead,
        family="mc", tag=_TAG),
    Api("POST", _ON + "/confirm", confirm_onboarding, Role.OPERATOR,
        "MC: confirm the drafted goal onto the board and make its lead", body=OnboardingConfirm,
        response=BoardRead, family="mc", tag=_TAG),
]  # fmt: skip
