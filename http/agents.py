"""``/v1/agents``: agent CRUD (GoClaw's REST shapes)."""

from __future__ import annotations

from msgspec import Struct

from clawgate.principal import Role
from clawgate.services.agents import AgentCreate, AgentOut, AgentPatch, to_out

from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class AgentList(Struct):
    agents: list[AgentOut]


async def list_agents(ctx: HttpContext, _: None) -> AgentList:
    rows = await ctx.gateway.agents.list_agents(ctx.who)
    return AgentList(agents=[to_out(r) for r in rows])


async def create_agent(ctx: HttpContext, body: AgentCreate) -> AgentOut:
    return to_out(await ctx.gateway.agents.create(ctx.who, body))


async def get_agent(ctx: HttpContext, _: None) -> AgentOut:
    return to_out(await ctx.gateway.agents.get(ctx.who, ctx.path["id"]))


async def update_agent(ctx: HttpContext, body: AgentPatch) -> AgentOut:
    return to_out(await ctx.gateway.agents.update(ctx.who, ctx.path["id"], body))


async def delete_agent(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.agents.delete(ctx.who, ctx.path["id"])
    return Ok()


ROUTES = [
    Api("GET", "/v1/agents", list_agents, Role.VIEWER, "List agents", response=AgentList, tag="agents"),
    Api("POST", "/v1/agents", create_agent, Role.ADMIN, "Create an agent", body=AgentCreate,
        response=AgentOut, status=201, tag="agents"),
    Api("GET", "/v1/agents/{id}", get_agent, Role.VIEWER, "Get an agent by id or key", response=AgentOut,
        tag="agents"),
    Api("PUT", "/v1/agents/{id}", update_agent, Role.ADMIN, "Update an agent (only the fields sent)",
        body=AgentPatch, response=AgentOut, tag="agents"),
    Api("PATCH", "/v1/agents/{id}", update_agent, Role.ADMIN, "Update an agent (alias of PUT)",
        body=AgentPatch, response=AgentOut, tag="agents"),
    Api("DELETE", "/v1/agents/{id}", delete_agent, Role.ADMIN, "Delete an agent", response=Ok, tag="agents"),
]  # fmt: skip
