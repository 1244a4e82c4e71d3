"""Cron jobs over REST, for automations: the mirror of the ``cron.*`` WebSocket methods, same rules
and shapes (``/v1/cron/jobs``; reads need viewer, writes operator; non-admins see their own jobs)."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.cron import CronCreateParams, CronJob, CronJobList, CronPatch, CronRunList, CronStatus

from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class ListQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    include_disabled: bool = True
    agent_id: Annotated[str, Meta(min_length=1, max_length=100)] | None = None


class RunsQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=500)] = 20
    offset: Annotated[int, Meta(ge=0, le=2**31 - 1)] = 0


class ToggleBody(Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class RunBody(Struct, kw_only=True, forbid_unknown_fields=True):
    mode: Literal["force", "due"] | None = None


class Ran(Struct, kw_only=True):
    ok: bool = True
    ran: bool


async def list_jobs(ctx: HttpContext, q: ListQuery) -> CronJobList:
    return await ctx.gateway.cron.list_jobs(
        ctx.who, include_disabled=q.include_disabled, agent_ref=q.agent_id
    )


async def status(ctx: HttpContext, _: None) -> CronStatus:
    return await ctx.gateway.cron.status(ctx.who)


async def create(ctx: HttpContext, body: CronCreateParams) -> CronJob:
    return await ctx.gateway.cron.create(ctx.who, body)


async def get(ctx: HttpContext, _: None) -> CronJob:
    return await ctx.gateway.cron.get(ctx.who, ctx.path["id"])


async def update(ctx: HttpContext, body: CronPatch) -> CronJob:
    return await ctx.gateway.cron.update(ctx.who, ctx.path["id"], body)


async def delete(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.cron.delete(ctx.who, ctx.path["id"])
    return Ok()


async def toggle(ctx: HttpContext, body: ToggleBody) -> CronJob:
    return await ctx.gateway.cron.toggle(ctx.who, ctx.path["id"], body.enabled)


async def run(ctx: HttpContext, body: RunBody) -> Ran:
    return Ran(ran=await ctx.gateway.cron.run(ctx.who, ctx.path["id"], body.mode or "force"))


async def runs(ctx: HttpContext, q: RunsQuery) -> CronRunList:
    return await ctx.gateway.cron.runs(ctx.who, ctx.path["id"], q.limit, q.offset)


async def all_runs(ctx: HttpContext, q: RunsQuery) -> CronRunList:
    return await ctx.gateway.cron.runs(ctx.who, None, q.limit, q.offset)


_JOB = "/v1/cron/jobs/{id}"

ROUTES = [
    Api("GET", "/v1/cron/jobs", list_jobs, Role.VIEWER, "Cron jobs (non-admins: their own)", query=ListQuery,
        response=CronJobList, tag="cron"),
    Api("POST", "/v1/cron/jobs", create, Role.OPERATOR,
        "Create a cron job: schedule {kind: at|every|cron, atMs, everyMs, expr, tz}", body=CronCreateParams,
        status=201, response=CronJob, tag="cron"),
    Api("GET", "/v1/cron/status", status, Role.VIEWER, "Whether this gateway runs cron jobs, and how many",
        response=CronStatus, tag="cron"),
    Api("GET", "/v1/cron/runs", all_runs, Role.VIEWER, "Run records of every job of the caller, latest first",
        query=RunsQuery, response=CronRunList, tag="cron"),
    Api("GET", _JOB, get, Role.VIEWER, "One cron job", response=CronJob, tag="cron"),
    Api("PATCH", _JOB, update, Role.OPERATOR, "Change a cron job (absent or null fields keep their value)",
        body=CronPatch, response=CronJob, tag="cron"),
    Api("DELETE", _JOB, delete, Role.OPERATOR, "Delete a cron job (its run records stay)", response=Ok, tag="cron"),
    Api("POST", _JOB + "/toggle", toggle, Role.OPERATOR, "Enable or disable a cron job", body=ToggleBody,
        response=CronJob, tag="cron"),
    Api("POST", _JOB + "/run", run, Role.OPERATOR, "Run a cron job now (mode force) or if it is due (mode due)",
        body=RunBody, response=Ran, tag="cron"),
    Api("GET", _JOB + "/runs", runs, Role.VIEWER, "Run records of a cron job: one per due time, latest first",
        query=RunsQuery, response=CronRunList, tag="cron"),
]  # fmt: skip
