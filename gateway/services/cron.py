"""Cron jobs: GoClaw's ``cron.*`` rules (issue 12). A job belongs to its creator (``userId``) and
one agent of the tenant; names are unique per agent. Non-admins see and touch only their own jobs
(another user's is ``UNAUTHORIZED``, a missing one ``NOT_FOUND``). Reading never moves a schedule:
``next_run_at`` changes only when the schedule or the enabled state changes, or when the scheduler
claims a due time (``clawgate.runtime.scheduler``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, Protocol
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from clawgate.bus import BusEvent, EventBus
from clawgate.config import Settings
from clawgate.errors import InvalidRequest, NotFound, Unauthorized, invalid_field
from clawgate.principal import Principal, Role
from clawgate.runtime.schedule import MIN_EVERY_MS, check_cron, check_zone, next_due, spec_of
from clawgate.runtime.scheduler import CHANGED
from clawgate.services import parse_id, require
from clawgate.services.agents import AgentService
from clawgate.store import Database
from clawgate.store import cron as store
from clawgate.store.cron import CronJobFields, CronJobRow, CronRunRow
from clawgate.store.types import AgentRow

__all__ = [
    "CronCreateParams",
    "CronJob",
    "CronJobList",
    "CronPatch",
    "CronRunEntry",
    "CronRunList",
    "CronService",
    "CronStatus",
    "ScheduleIn",
    "job_out",
    "run_out",
]

JobName = Annotated[
    str,
    Meta(pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$", max_length=100, description="Slug, unique per agent"),
]
_MAX_MS = 10**15  # year 33658: beyond is surely a unit mistake


class ScheduleIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's schedule object; ``null`` fields are unset."""

    kind: Literal["at", "every", "cron"]
    atMs: Annotated[int, Meta(ge=0, le=_MAX_MS)] | None = None
    everyMs: Annotated[int, Meta(ge=0, le=_MAX_MS)] | None = None
    expr: Annotated[str, Meta(max_length=200)] | None = None
    tz: Annotated[str, Meta(max_length=64)] | None = None


class _JobWritable(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: Annotated[str, Meta(max_length=100)] | None = None
    enabled: bool | None = None
    deliver: bool | None = None
    deliverChannel: Annotated[str, Meta(max_length=100)] | None = None
    deliverTo: Annotated[str, Meta(max_length=512)] | None = None
    wakeHeartbeat: bool | None = None
    stateless: bool | None = None
    deleteAfterRun: bool | None = None
    # ClawGate's: what happens to due times missed while no gateway ran (see the README).
    catchUp: Literal["skip", "run_once"] | None = None
    catchUpGraceMs: Annotated[int, Meta(ge=0, le=30 * 86_400_000)] | None = None
    timeoutMs: Annotated[int, Meta(ge=1000, le=86_400_000)] | None = None
    maxRetries: Annotated[int, Meta(ge=0, le=10)] | None = None


class CronCreateParams(_JobWritable, kw_only=True, forbid_unknown_fields=True):
    """``cron.create`` / ``POST /v1/cron/jobs``."""

    name: JobName
    schedule: ScheduleIn
    message: Annotated[str, Meta(min_length=1, max_length=32000)]


class CronPatch(_JobWritable, kw_only=True, forbid_unknown_fields=True):
    """``cron.update``'s ``patch``: absent or ``null`` fields keep their value."""

    name: JobName | None = None
    schedule: ScheduleIn | None = None
    message: Annotated[str, Meta(min_length=1, max_length=32000)] | None = None


class CronSchedule(Struct, kw_only=True, omit_defaults=True):
    kind: str
    atMs: int | None = None
    everyMs: int | None = None
    expr: str | None = None
    tz: str | None = None


class CronPayload(Struct, kw_only=True):
    kind: str = "agent_turn"
    message: str = ""


class CronState(Struct, kw_only=True, omit_defaults=True):
    nextRunAtMs: int | None = None
    lastRunAtMs: int | None = None
    lastStatus: str | None = None
    lastError: str | None = None


class CronJob(Struct, kw_only=True):
    """GoClaw's CronJob, plus ``agentKey`` and ClawGate's catch-up, timeout and retry fields."""

    id: str
    tenantId: str
    name: str
    agentId: str
    agentKey: str
    userId: str
    enabled: bool
    schedule: CronSchedule
    payload: CronPayload
    state: CronState
    createdAtMs: int
    updatedAtMs: int
    deleteAfterRun: bool
    stateless: bool
    deliver: bool
    deliverChannel: str
    deliverTo: str
    wakeHeartbeat: bool
    catchUp: str
    catchUpGraceMs: int
    timeoutMs: int
    maxRetries: int


class CronJobList(Struct, kw_only=True):
    jobs: list[CronJob]
    status: CronStatus


class CronStatus(Struct, kw_only=True):
    """``enabled``: this gateway runs cron jobs; ``jobs``: the caller's jobs (``enabledJobs`` of them on)."""

    enabled: bool
    jobs: int
    enabledJobs: int


class CronRunEntry(Struct, kw_only=True, omit_defaults=True):
    """GoClaw's run log entry (``ts`` is the end, or the start of a run still going), plus the due
    time it answers and how it went."""

    id: str
    ts: int
    jobId: str
    jobName: str
    status: str
    trigger: str
    scheduledAtMs: int
    startedAtMs: int | None = None
    endedAtMs: int | None = None
    attempts: int = 0
    error: str | None = None
    summary: str | None = None
    durationMs: int | None = None
    inputTokens: int = 0
    outputTokens: int = 0
    runId: str | None = None
    sessionKey: str | None = None


class CronRunList(Struct, kw_only=True):
    entries: list[CronRunEntry]
    total: int


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def job_out(row: CronJobRow, agent_key: str) -> CronJob:
    schedule = CronSchedule(kind=row.schedule_kind)
    if row.schedule_kind == "at":
        schedule.atMs = _ms(row.at_time)
    elif row.schedule_kind == "every":
        schedule.everyMs = row.every_ms
    else:
        schedule.expr, schedule.tz = row.cron_expr, row.timezone or None
    return CronJob(
        id=str(row.id), tenantId=str(row.tenant_id), name=row.name, agentId=str(row.agent_id), agentKey=agent_key,
        userId=row.user_id, enabled=row.enabled, schedule=schedule, payload=CronPayload(message=row.message),
        state=CronState(nextRunAtMs=_ms(row.next_run_at), lastRunAtMs=_ms(row.last_run_at),
                        lastStatus=row.last_status or None, lastError=row.last_error or None),
        createdAtMs=_ms(row.created_at) or 0, updatedAtMs=_ms(row.updated_at) or 0,
        deleteAfterRun=row.delete_after_run, stateless=row.stateless, deliver=row.deliver,
        deliverChannel=row.deliver_channel, deliverTo=row.deliver_to, wakeHeartbeat=row.wake_heartbeat,
        catchUp=row.catch_up, catchUpGraceMs=row.catch_up_grace_ms, timeoutMs=row.timeout_ms,
        maxRetries=row.max_retries,
    )  # fmt: skip


def run_out(row: CronRunRow) -> CronRunEntry:
    ts = row.ended_at or row.started_at or row.scheduled_at
    return CronRunEntry(
        id=str(row.id), ts=_ms(ts) or 0, jobId=str(row.job_id), jobName=row.job_name, status=row.status,
        trigger=row.trigger, scheduledAtMs=_ms(row.scheduled_at) or 0, startedAtMs=_ms(row.started_at),
        endedAtMs=_ms(row.ended_at), attempts=row.attempts, error=row.error or None,
        summary=row.summary or None, durationMs=row.duration_ms, inputTokens=row.input_tokens,
        outputTokens=row.output_tokens, runId=str(row.run_id) if row.run_id else None,
        sessionKey=row.session_key or None,
    )  # fmt: skip


class RunNow(Protocol):
    """Starts a run of a job now, outside its schedule (the scheduler)."""

    async def run_now(self, job: CronJobRow) -> None: ...

    @property
    def running(self) -> bool: ...


class CronService:
    def __init__(self, settings: Settings, db: Database, bus: EventBus, agents: AgentService) -> None:
        self._settings = settings
        self._db = db
        self._bus = bus
        self._agents = agents
        self.scheduler: RunNow | None = None  # set by the composition root

    # -- helpers --------------------------------------------------------------------------------

    async def _agent(self, who: Principal, ref: str | None) -> AgentRow:
        """The agent named (key or UUID), else the tenant's default. Raises: NotFound."""
        return await self._agents.get_or_default(who, ref)

    async def _keys(self, who: Principal) -> dict[UUID, str]:
        return {a.id: a.agent_key for a in await self._agents.list_agents(who)}

    def _own(self, who: Principal, row: CronJobRow | None, ref: str) -> CronJobRow:
        if row is None:
            raise NotFound(kind="cron job", id=ref)
        if not who.sees_all and row.user_id != who.user_id:
            raise Unauthorized("requires_role", action="access to another user's cron job", role="admin")
        return row

    async def job(self, who: Principal, ref: str) -> CronJobRow:
        """A job the caller may see. Raises: NotFound, Unauthorized (another user's)."""
        job_id = parse_id(ref, "cron job")
        async with self._db.connection() as conn:
            return self._own(who, await store.get(conn, who.tenant_id, job_id), ref)

    async def get(self, who: Principal, ref: str) -> CronJob:
        """One job as the API shows it. Raises: NotFound, Unauthorized (another user's)."""
        row = await self.job(who, ref)
        return job_out(row, (await self._keys(who)).get(row.agent_id, ""))

    def _schedule(self, schedule: ScheduleIn, now: datetime) -> dict[str, object]:
        """The columns of ``schedule``. Raises: InvalidRequest naming the field."""
        cols: dict[str, object] = {"schedule_kind": schedule.kind, "at_time": None, "every_ms": None,
                                   "anchor_at": None, "cron_expr": "", "timezone": ""}  # fmt: skip
        if schedule.kind == "at":
            if schedule.atMs is None:
                raise invalid_field("$.schedule.atMs", "an 'at' schedule needs atMs (epoch milliseconds)")
            at = _at(schedule.atMs)
            if at <= now:
                raise invalid_field("$.schedule.atMs", f"atMs {schedule.atMs} is in the past")
            cols["at_time"] = at
        elif schedule.kind == "every":
            if not schedule.everyMs:
                raise invalid_field("$.schedule.everyMs", "an 'every' schedule needs everyMs > 0")
            if schedule.everyMs < MIN_EVERY_MS:
                raise invalid_field("$.schedule.everyMs", f"everyMs must be at least {MIN_EVERY_MS}")
            cols["every_ms"], cols["anchor_at"] = schedule.everyMs, now
        else:
            if not schedule.expr:
                raise invalid_field("$.schedule.expr", "a 'cron' schedule needs expr (5 fields)")
            cols["cron_expr"] = check_cron(schedule.expr)
            tz = schedule.tz or self._settings.scheduler.default_timezone
            check_zone(tz)
            cols["timezone"] = tz
        if schedule.kind != "cron" and schedule.tz:
            check_zone(schedule.tz)  # kept for GoClaw's clients, which send it with every kind
        return cols

    async def _changed(self) -> None:
        await self._bus.publish(BusEvent(name=CHANGED, payload={}))

    # -- the methods ----------------------------------------------------------------------------

    async def list_jobs(
        self, who: Principal, *, include_disabled: bool = True, agent_ref: str | None = None
    ) -> CronJobList:
        """The caller's jobs (an admin's: the tenant's), with their counts."""
        agent_id = (await self._agents.get(who, agent_ref)).id if agent_ref else None
        mine = None if who.sees_all else who.user_id
        async with self._db.connection() as conn:
            rows = await store.list_jobs(
                conn, who.tenant_id, user_id=mine, agent_id=agent_id, include_disabled=include_disabled
            )
            total, enabled = await store.counts(conn, who.tenant_id, mine)
        keys = await self._keys(who)
        return CronJobList(
            jobs=[job_out(r, keys.get(r.agent_id, "")) for r in rows],
            status=CronStatus(enabled=self._settings.scheduler.enabled, jobs=total, enabledJobs=enabled),
        )

    async def status(self, who: Principal) -> CronStatus:
        mine = None if who.sees_all else who.user_id
        async with self._db.connection() as conn:
            total, enabled = await store.counts(conn, who.tenant_id, mine)
        return CronStatus(enabled=self._settings.scheduler.enabled, jobs=total, enabledJobs=enabled)

    async def create(self, who: Principal, params: CronCreateParams) -> CronJob:
        """A new job owned by the caller. Raises: InvalidRequest (schedule, time zone, delivery),
        NotFound (agent), AlreadyExists (name taken for the agent)."""
        require(who, Role.OPERATOR, "cron.create")
        agent = await self._agent(who, params.agentId)
        now = datetime.now(UTC)
        cols = self._schedule(params.schedule, now)
        enabled = params.enabled if params.enabled is not None else True
        deliver = bool(params.deliver)
        deliver_to = params.deliverTo or ""
        _check_delivery(deliver, deliver_to)
        fields = CronJobFields(
            agent_id=agent.id, name=params.name, enabled=enabled, message=params.message,
            deliver=deliver, deliver_channel=params.deliverChannel or "", deliver_to=deliver_to,
            wake_heartbeat=bool(params.wakeHeartbeat),
            stateless=params.stateless if params.stateless is not None else True,
            delete_after_run=params.deleteAfterRun if params.deleteAfterRun is not None else cols["schedule_kind"] == "at",
            catch_up=params.catchUp or "run_once",
            catch_up_grace_ms=params.catchUpGraceMs if params.catchUpGraceMs is not None else 3_600_000,
            timeout_ms=params.timeoutMs or int(self._settings.scheduler.job_timeout_seconds * 1000),
            max_retries=params.maxRetries if params.maxRetries is not None else 3,
            next_run_at=None, **cols,  # type: ignore[arg-type]
        )  # fmt: skip
        if enabled:
            fields.next_run_at = next_due(spec_of(fields), now)
        async with self._db.transaction() as conn:
            row = await store.insert(conn, who.tenant_id, who.user_id, fields)
        await self._changed()
        return job_out(row, agent.agent_key)

    async def update(self, who: Principal, ref: str, patch: CronPatch) -> CronJob:
        """Change the fields ``patch`` sets. A new schedule, or enabling, computes the next due
        time from now. Raises: as ``create``, Unauthorized (another user's job)."""
        require(who, Role.OPERATOR, "cron.update")
        job_id = parse_id(ref, "cron job")
        agent = await self._agent(who, patch.agentId) if patch.agentId else None
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            row = self._own(who, await store.get_for_update(conn, who.tenant_id, job_id), ref)
            fields = msgspec.convert(msgspec.structs.asdict(row), CronJobFields)
            changes: dict[str, object] = {}
            if patch.schedule is not None:
                changes |= self._schedule(patch.schedule, now)
            for name, column in _PLAIN.items():
                value = getattr(patch, name)
                if value is not None:
                    changes[column] = value
            if agent is not None:
                changes["agent_id"] = agent.id
            fields = msgspec.structs.replace(fields, **changes)
            _check_delivery(fields.deliver, fields.deliver_to)
            if not fields.enabled:
                fields.next_run_at = None
            elif patch.schedule is not None or not row.enabled or row.next_run_at is None:
                fields.next_run_at = next_due(spec_of(fields), now)
                if fields.next_run_at is None:
                    raise invalid_field(
                        "$.patch.enabled", "an 'at' job whose time has passed cannot be enabled"
                    )
            updated = await store.update(conn, who.tenant_id, job_id, fields)
        await self._changed()
        keys = await self._keys(who)
        return job_out(updated, keys.get(updated.agent_id, ""))

    async def toggle(self, who: Principal, ref: str, enabled: bool) -> CronJob:
        """Enable (from now on: due times while disabled are not caught up) or disable a job."""
        return await self.update(who, ref, CronPatch(enabled=enabled))

    async def delete(self, who: Principal, ref: str) -> None:
        """Delete a job; its records stay. Raises: NotFound, Unauthorized."""
        require(who, Role.OPERATOR, "cron.delete")
        job_id = parse_id(ref, "cron job")
        async with self._db.transaction() as conn:
            self._own(who, await store.get_for_update(conn, who.tenant_id, job_id), ref)
            await store.delete(conn, who.tenant_id, job_id)
        await self._changed()

    async def run(self, who: Principal, ref: str, mode: str) -> bool:
        """Run a job now (``force``), or only if it is due (``due``); the run goes on in the
        background. Returns whether a run started. Raises: NotFound, Unauthorized,
        FailedPrecondition (this gateway runs no scheduler)."""
        require(who, Role.OPERATOR, "cron.run")
        row = await self.job(who, ref)
        if mode == "due" and (
            row.next_run_at is None or row.next_run_at > datetime.now(UTC) or not row.enabled
        ):
            return False
        if self.scheduler is None or not self.scheduler.running:
            raise InvalidRequest(detail="the scheduler is off in this gateway (scheduler.enabled)")
        await self.scheduler.run_now(row)
        return True

    async def runs(self, who: Principal, ref: str | None, limit: int, offset: int) -> CronRunList:
        """Records of one job (or of all the caller's jobs), the latest due time first. The records
        of a deleted job (an ``at`` job after its run) are still there: a job id that is not found
        lists the caller's records under it. Raises: Unauthorized (another user's job)."""
        job_id = parse_id(ref, "cron job") if ref else None
        mine = None if who.sees_all else who.user_id
        if job_id is not None:
            async with self._db.connection() as conn:
                row = await store.get(conn, who.tenant_id, job_id)
            if row is not None:
                self._own(who, row, str(ref))
        async with self._db.connection() as conn:
            rows = await store.runs(
                conn, who.tenant_id, job_id=job_id, user_id=mine, limit=limit, offset=offset
            )
            total = await store.runs_count(conn, who.tenant_id, job_id=job_id, user_id=mine)
        return CronRunList(entries=[run_out(r) for r in rows], total=total)


_PLAIN = {
    "name": "name", "message": "message", "enabled": "enabled", "deliver": "deliver",
    "deliverChannel": "deliver_channel", "deliverTo": "deliver_to", "wakeHeartbeat": "wake_heartbeat",
    "stateless": "stateless", "deleteAfterRun": "delete_after_run", "catchUp": "catch_up",
    "catchUpGraceMs": "catch_up_grace_ms", "timeoutMs": "timeout_ms", "maxRetries": "max_retries",
}  # fmt: skip
"""``CronPatch`` fields -> columns, for the fields copied as they are."""


def _check_delivery(deliver: bool, deliver_to: str) -> None:
    """``deliver`` posts the answer into the session ``deliverTo`` names (``agent:{key}:...``)."""
    if deliver and not deliver_to.startswith("agent:"):
        raise invalid_field("$.deliverTo", "deliver needs deliverTo: the session key to post the answer to")
