"""Mission Control's user routes for agents and board onboarding (seeds 000/001, reference 1.6,
1.9): ``/api/v1/agents`` (the organisation admin's agents: ClawGate agents with their MC side) and
``/api/v1/boards/{board_id}/onboarding`` (the conversation with the gateway main that drafts a
board's goal and lead). Errors are MC's ``{detail, request_id}``."""

from __future__ import annotations

from uuid import UUID

from clawgate.principal import Role
from clawgate.services.agent_api import AgentRead
from clawgate.services.board_agents import McAgentCreate, McAgentPatch
from clawgate.services.boards import BoardRead
from clawgate.services.onboarding import OnboardingAnswer, OnboardingConfirm, OnboardingRead

from .mission_control import Page, PageQuery, path_uuid
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class AgentsQuery(PageQuery, kw_only=True, forbid_unknown_fields=True):
    board_id: UUID | None = None


async def list_agents(ctx: HttpContext, query: AgentsQuery) -> Page[AgentRead]:
    items, total = await ctx.gateway.board_agents.list_agents(
        ctx.who, query.board_id, query.limit, query.offset
    )
    return Page(items=items, total=total, limit=query.limit, offset=query.offset)


async def create_agent(ctx: HttpContext, body: McAgentCreate) -> AgentRead:
    return await ctx.gateway.board_agents.create(ctx.who, body)


async def get_agent(ctx: HttpContext, _: None) -> AgentRead:
    return await ctx.gateway.board_agents.get(ctx.who, path_uuid(ctx, "agent_id"))


async def update_agent(ctx: HttpContext, body: McAgentPatch) -> AgentRead:
    return await ctx.gateway.board_agents.update(ctx.who, path_uuid(ctx, "agent_id"), body)


async def delete_agent(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.board_agents.delete(ctx.who, path_uuid(ctx, "agent_id"))
    return Ok()


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
