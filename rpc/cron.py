"""Cron methods (GoClaw shapes): ``cron.list|status|create|update|delete|toggle|run|runs``.

``jobId`` (or GoClaw's alias ``id``) names a job by its UUID. Non-admins see and touch only their own
jobs; another user's is ``UNAUTHORIZED``, a missing one ``NOT_FOUND``."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from clawgate.errors import invalid_field
from clawgate.principal import Role
from clawgate.services.cron import CronCreateParams, CronJob, CronJobList, CronPatch, CronRunList, CronStatus

from .types import CallContext, Method

__all__ = ["METHODS"]

_Id = Annotated[str, Meta(max_length=100)]


class ListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    includeDisabled: bool | None = None
    agentId: _Id | None = None


class _JobRef(Struct, kw_only=True, forbid_unknown_fields=True):
    jobId: _Id | None = None
    id: _Id | None = None

    def ref(self) -> str:
        ref = self.jobId or self.id
        if not ref:
            raise invalid_field("$.jobId", "jobId is required")
        return ref


class UpdateParams(_JobRef, kw_only=True, forbid_unknown_fields=True):
    patch: CronPatch


class ToggleParams(_JobRef, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class RunParams(_JobRef, kw_only=True, forbid_unknown_fields=True):
    mode: Literal["force", "due"] | None = None


class RunsParams(_JobRef, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=500)] | None = None
    offset: Annotated[int, Meta(ge=0, le=2**31 - 1)] | None = None


class JobResult(Struct, kw_only=True):
    job: CronJob


class Deleted(Struct, kw_only=True):
    deleted: bool = True


class Toggled(Struct, kw_only=True):
    jobId: str
    enabled: bool


class Ran(Struct, kw_only=True):
    ok: bool = True
    ran: bool


async def list_jobs(ctx: CallContext, params: ListParams) -> CronJobList:
    """The caller's jobs (an admin's: the tenant's); ``includeDisabled`` defaults to true."""
    include = params.includeDisabled if params.includeDisabled is not None else True
    return await ctx.gateway.cron.list_jobs(ctx.who, include_disabled=include, agent_ref=params.agentId)


async def status(ctx: CallContext, _: None) -> CronStatus:
    return await ctx.gateway.cron.status(ctx.who)


async def create(ctx: CallContext, params: CronCreateParams) -> JobResult:
    """Raises: InvalidRequest (schedule, time zone), NotFound (agent), AlreadyExists (name)."""
    return JobResult(job=await ctx.gateway.cron.create(ctx.who, params))


async def update(ctx: CallContext, params: UpdateParams) -> JobResult:
    return JobResult(job=await ctx.gateway.cron.update(ctx.who, params.ref(), params.patch))


async def delete(ctx: CallContext, params: _JobRef) -> Deleted:
    await ctx.gateway.cron.delete(ctx.who, params.ref())
    return Deleted()


async def toggle(ctx: CallContext, params: ToggleParams) -> Toggled:
    job = await ctx.gateway.cron.toggle(ctx.who, params.ref(), params.enabled)
    return Toggled(jobId=job.id, enabled=job.enabled)


async def run(ctx: CallContext, params: RunParams) -> Ran:
    """Start a run now (``force``, the default) or only if due (``due``); it goes on in the background."""
    ran = await ctx.gateway.cron.run(ctx.who, params.ref(), params.mode or "force")
    return Ran(ran=ran)


async def runs(ctx: CallContext, params: RunsParams) -> CronRunList:
    """Records of one job, or of all the caller's jobs, the latest due time first."""
    ref = params.jobId or params.id or None
    return await ctx.gateway.cron.runs(ctx.who, ref, params.limit or 20, params.offset or 0)


METHODS = {
    "cron.list": Method(ListParams, list_jobs, Role.VIEWER),
    "cron.status": Method(None, status, Role.VIEWER),
    "cron.create": Method(CronCreateParams, create, Role.OPERATOR),
    "cron.update": Method(UpdateParams, update, Role.OPERATOR),
    "cron.delete": Method(_JobRef, delete, Role.OPERATOR),
    "cron.toggle": Method(ToggleParams, toggle, Role.OPERATOR),
    "cron.run": Method(RunParams, run, Role.OPERATOR),
    "cron.runs": Method(RunsParams, runs, Role.VIEWER),
}
