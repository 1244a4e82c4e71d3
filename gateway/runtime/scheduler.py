"""The scheduler: claims due cron jobs in PostgreSQL and runs them as ordinary agent runs (issue 12).

Exactly once, across processes. Each process claims due jobs with ``FOR UPDATE SKIP LOCKED``
(``store.cron.claim``) and, in the same transaction, writes one record per due time it handles and
moves ``next_run_at`` past them; a unique index on ``(job_id, scheduled_at)`` makes a second record
of a due time impossible. So N processes on one database fire each due time once, whatever their
clocks and timing; reading a job never moves its schedule.

No polling. The loop sleeps until the earliest ``next_run_at`` of any enabled job (one indexed
``min``), at most ``_IDLE_SECONDS``, and is woken early by ``CHANGED`` on the bus (a job created,
changed or enabled, in any process) or when a run slot frees up.

Due times. Interval jobs are anchored on their schedule (``anchor + k * every``), not on their runs:
no drift. When a claim finds several due times of a job passed (the gateway was down, or the clock
jumped), each gets a record: the earlier ones ``missed``; the latest runs when it is on time (within
``scheduler.late_after_seconds``), else the job's catch-up policy decides: ``skip`` records it
``missed``, ``run_once`` runs it if it is within ``catchUpGraceMs``. A due time that finds the
previous run of its job still going is recorded ``skipped``.

A run is ``ChatService.start_run`` (the run manager, its traces and usage) in the job's session
(``agent:{key}:cron:{jobId}``, plus the due time when the job is stateless: a fresh context per run),
tried again on retryable errors with backoff and jitter, bounded by the job's timeout. Its record
ends ``ok`` or ``error`` with the summary, tokens and duration. Records left ``running`` by a
process that died (its liveness lock is free) are marked ``interrupted`` at start and every
``_SWEEP_SECONDS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

import msgspec
import structlog

from clawgate.bus import BusEvent, EventBus
from clawgate.config import Settings
from clawgate.errors import GatewayError
from clawgate.principal import Principal, Role
from clawgate.runtime import heartbeat
from clawgate.runtime.handle import Joined, RunHandle
from clawgate.runtime.schedule import next_due, spec_of
from clawgate.store import Database, runs
from clawgate.store import cron as store
from clawgate.store import heartbeat as hb_store
from clawgate.store.cron import Claimed, CronJobRow, NewRecord
from clawgate.store.heartbeat import ClaimedHeartbeat

__all__ = ["CHANGED", "INTERRUPTED", "Due", "Launcher", "Outcome", "Scheduler", "plan_claim"]

log = structlog.get_logger("clawgate.scheduler")

CHANGED = "internal.cron.changed"
"""Bus event of a job or heartbeat change: every process's scheduler wakes and looks again."""
INTERRUPTED = "the gateway process running it stopped"
_IDLE_SECONDS = 60.0  # the longest sleep: a lost wake-up costs at most this
_SWEEP_SECONDS = 30.0
_BATCH = 200  # jobs locked per claim transaction
_MAX_RECORDS = 1000  # due times recorded per job per claim (a long downtime goes on at the next claim)
_BUSY_RETRY_SECONDS = 0.05  # due jobs locked by another process's claim: look again shortly


class Launcher(Protocol):
    """Starts agent runs and posts into sessions (the chat service)."""

    async def start_run(
        self, who: Principal, agent_ref: str, message: str, *, session_rest: str, channel: str,
        provider: str = "", model: str = "", light: bool = False,
    ) -> RunHandle | Joined | None: ...  # fmt: skip

    async def deliver(self, who: Principal, session_key: str, content: str, label: str) -> None: ...


class Aborter(Protocol):
    async def abort(self, tenant_id: UUID, run_id: UUID) -> bool: ...


@dataclass(slots=True)
class Due:
    """One due time of a claimed job and what becomes of it."""

    at: datetime
    status: str  # running | missed | skipped
    error: str = ""


def plan_claim(job: Claimed, late_after: timedelta) -> tuple[list[Due], datetime | None]:
    """The due times of ``job`` up to the database's ``now`` (at most ``_MAX_RECORDS``), what
    becomes of each, and the job's next due time after them."""
    now = job.db_now
    spec = spec_of(job)
    times: list[datetime] = []
    t = job.next_run_at
    while t is not None and t <= now and len(times) < _MAX_RECORDS:
        times.append(t)
        t = next_due(spec, t)
    reached_now = t is None or t > now
    out: list[Due] = []
    for i, due in enumerate(times):
        if not (reached_now and i == len(times) - 1):
            out.append(
                Due(
                    due,
                    "missed",
                    f"missed: a later due time came before this one ran (catch-up: {job.catch_up})",
                )
            )
            continue
        late = now - due
        grace = timedelta(milliseconds=job.catch_up_grace_ms)
        if late > late_after and (job.catch_up == "skip" or late > grace):
            why = (
                "catch-up: skip"
                if job.catch_up == "skip"
                else f"catch-up: run_once, beyond its grace of {grace}"
            )
            out.append(Due(due, "missed", f"missed: {late.total_seconds():.0f} s late ({why})"))
        elif job.busy:
            out.append(Due(due, "skipped", "skipped: the previous run of this job is still going"))
        else:
            out.append(Due(due, "running"))
    return out, t


def _backoff(attempt: int, base_ms: int, max_ms: int) -> float:
    """Seconds before try ``attempt + 1``: doubling from ``base_ms``, capped, +/-25 % jitter."""
    delay: float = min(base_ms << (attempt - 1), max_ms) / 1000
    return delay * random.uniform(0.75, 1.25)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class Scheduler:
    """Claims and runs due cron jobs in this process (``scheduler.enabled``)."""

    def __init__(
        self,
        settings: Settings,
        db: Database,
        bus: EventBus,
        launcher: Launcher,
        runner: Aborter,
        process_id: str,
    ) -> None:
        self._settings = settings.scheduler
        self._db = db
        self._bus = bus
        self._launcher = launcher
        self._runner = runner
        self.process_id = process_id
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._runs: set[asyncio.Task[None]] = set()
        self._sweep_at = 0.0
        self.running = False
        bus.subscribe(self._on_event, names=[CHANGED])

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Mark the records of dead processes interrupted, then claim and sleep in the background."""
        if not self._settings.enabled:
            return
        self.running = True
        self._loop_task = asyncio.get_running_loop().create_task(self._loop(), name="scheduler")

    async def stop(self) -> None:
        """Stop claiming; runs still going are cancelled and recorded ``interrupted``."""
        self.running = False
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        for task in list(self._runs):
            task.cancel()
        if self._runs:
            await asyncio.wait(list(self._runs), timeout=5)

    def _on_event(self, event: BusEvent) -> None:
        if event.name == CHANGED:
            self._wake.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._runs.add(task)
        task.add_done_callback(self._ran)

    def _ran(self, task: asyncio.Task[None]) -> None:
        self._runs.discard(task)
        if len(self._runs) == self._settings.max_concurrent_runs - 1:
            self._wake.set()  # a slot is free again

    # -- the loop -------------------------------------------------------------------------------

    async def _loop(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                delay = await self._tick()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down, or a bug: logged, and tried again
                failures += 1
                delay = min(0.5 * 2**failures, 10.0)
                log.warning("scheduler.tick_failed", error=str(exc) or repr(exc), retry_in=delay)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    async def _tick(self) -> float:
        """Sweep if it is time, claim what is due while there are free slots; returns how long to
        sleep (until the next due time)."""
        if time.monotonic() >= self._sweep_at:
            self._sweep_at = time.monotonic() + _SWEEP_SECONDS
            await self.sweep()
        for claim in (self._claim, self._claim_heartbeats):
            while (free := self._settings.max_concurrent_runs - len(self._runs)) > 0:
                limit = min(free, _BATCH)
                if await claim(limit) < limit:
                    break
        if self._settings.max_concurrent_runs - len(self._runs) <= 0:
            return _IDLE_SECONDS  # woken when a slot frees up
        async with self._db.connection() as conn:
            next_at, db_now = await store.next_due(conn)
        if next_at is None:
            return _IDLE_SECONDS
        wait = (next_at - db_now).total_seconds()
        if wait <= 0:
            return _BUSY_RETRY_SECONDS  # due, but locked by another process's claim right now
        return min(wait, _IDLE_SECONDS)

    async def _claim(self, limit: int) -> int:
        """Claim up to ``limit`` due jobs in one transaction; start the runs they call for.
        Returns how many jobs were claimed."""
        late_after = timedelta(seconds=self._settings.late_after_seconds)
        starts: list[tuple[Claimed, datetime]] = []
        events: list[tuple[Claimed, store.Recorded]] = []
        async with self._db.transaction() as conn:
            jobs = await store.claim(conn, limit)
            if not jobs:
                return 0
            records: list[NewRecord] = []
            moves: list[tuple[UUID, datetime | None, bool]] = []
            marks: list[tuple[UUID, datetime, str, str]] = []
            deletes: list[UUID] = []
            by_id = {job.id: job for job in jobs}
            for job in jobs:
                try:
                    dues, after = plan_claim(job, late_after)
                except Exception as exc:  # a schedule that no longer computes: the job stops, and says so
                    log.warning("scheduler.bad_schedule", job_id=str(job.id), error=str(exc))
                    moves.append((job.id, None, False))
                    marks.append((job.id, job.db_now, "error", f"schedule cannot be computed: {exc}"))
                    continue
                runs_one = any(d.status == "running" for d in dues)
                moves.append((job.id, after, job.enabled and after is not None))
                for due in dues:
                    records.append(
                        NewRecord(
                            tenant_id=job.tenant_id,
                            job_id=job.id,
                            job_name=job.name,
                            agent_id=job.agent_id,
                            user_id=job.user_id,
                            trigger="schedule",
                            scheduled_at=due.at,
                            status=due.status,
                            error=due.error,
                        )
                    )
                if dues and not runs_one:
                    marks.append((job.id, job.db_now, dues[-1].status, dues[-1].error))
                if after is None and not runs_one and job.delete_after_run:
                    deletes.append(job.id)
            recorded = await store.record(conn, records, self.process_id)
            await store.advance(conn, moves)
            await store.mark_last(conn, marks)
            await store.delete_many(conn, deletes)
        for rec in recorded:
            job = by_id[rec.job_id]
            if rec.status == "running":
                starts.append((job, rec.scheduled_at))
                self._spawn(self._execute(job, rec.id, rec.scheduled_at, scheduled=True))
            else:
                events.append((job, rec))
        why = {(r.job_id, r.scheduled_at): r.error for r in records}
        for job, rec in events:  # a due time that did not run: missed or skipped, with why
            self._event(job, "error", rec.status, why.get((rec.job_id, rec.scheduled_at), ""))
        if len(recorded) < len(records):
            log.info("scheduler.already_recorded", count=len(records) - len(recorded))
        return len(jobs)

    async def sweep(self) -> int:
        """Mark ``interrupted`` the running records of processes that died; returns how many."""
        count = 0
        try:
            async with self._db.connection() as conn:
                for process in await store.running_processes(conn, self.process_id):
                    async with conn.transaction():
                        if not await runs.liveness_free(conn, process):
                            continue
                        cut = await store.interrupt_process(conn, process, INTERRUPTED)
                    count += len(cut)
                    for rec in cut:  # the job's owner learns it
                        self._bus.publish_batched(
                            BusEvent(
                                name="cron",
                                payload={"action": "error", "jobId": str(rec.job_id), "jobName": rec.job_name,
                                         "userId": rec.user_id, "status": "interrupted", "error": INTERRUPTED},
                                tenant_id=rec.tenant_id, user_id=rec.user_id or None,
                            )
                        )  # fmt: skip
                for process in await hb_store.running_processes(conn, self.process_id):
                    async with conn.transaction():
                        if await runs.liveness_free(conn, process):
                            count += await hb_store.interrupt_process(conn, process, INTERRUPTED)
        except GatewayError as exc:
            log.debug("scheduler.sweep_failed", error=str(exc))
        if count:
            log.warning("scheduler.interrupted", count=count)
        return count

    # -- runs -----------------------------------------------------------------------------------

    async def run_now(self, job: CronJobRow) -> None:
        """Record a manual run of ``job`` (``cron.run``) and start it."""
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            recorded = await store.record(
                conn,
                [NewRecord(tenant_id=job.tenant_id, job_id=job.id, job_name=job.name, agent_id=job.agent_id,
                           user_id=job.user_id, trigger="manual", scheduled_at=now, status="running")],
                self.process_id,
            )  # fmt: skip
        for rec in recorded:
            self._spawn(self._execute(job, rec.id, rec.scheduled_at))

    def _event(self, job: CronJobRow, action: str, status: str, error: str) -> None:
        payload: dict[str, Any] = {"action": action, "jobId": str(job.id), "jobName": job.name,
                                   "userId": job.user_id, "status": status}  # fmt: skip
        if error:
            payload["error"] = error
        self._bus.publish_batched(
            BusEvent(name="cron", payload=payload, tenant_id=job.tenant_id, user_id=job.user_id or None)
        )

    async def _tries(
        self, who: Principal, agent_ref: str, message: str, *, rest: str, channel: str, timeout: float,
        max_retries: int, label: str, provider: str = "", model: str = "", light: bool = False,
    ) -> Outcome:  # fmt: skip
        """Run the agent on ``message`` in session ``agent:{key}:{rest}``: tried again on retryable
        errors (``1 + max_retries`` tries, backoff with jitter), each try bounded by ``timeout``
        seconds (a try that times out is aborted, and not tried again)."""
        out = Outcome()
        for attempt in range(1, max_retries + 2):
            out.attempts = attempt
            try:
                started = await self._launcher.start_run(
                    who, agent_ref, message, session_rest=rest, channel=channel, provider=provider, model=model,
                    light=light,
                )  # fmt: skip
                if not isinstance(started, RunHandle):
                    out.error = "its session had a run going: the message joined it"
                    return out
                out.handle = started
                async with asyncio.timeout(timeout):
                    answer = await out.handle.outcome()
            except TimeoutError:
                out.error = f"timed out after {timeout:g} s"
                if out.handle is not None:
                    await self._runner.abort(who.tenant_id, out.handle.run_id)
                return out
            except GatewayError as exc:
                out.error = exc.message("en")
                if exc.retryable and attempt <= max_retries:
                    delay = _backoff(
                        attempt, self._settings.retry_base_delay_ms, self._settings.retry_max_delay_ms
                    )
                    log.info("scheduler.retrying", run=label, attempt=attempt, error=out.error, delay=delay)
                    await asyncio.sleep(delay)
                    continue
                return out
            usage = answer.usage or {}
            out.ok, out.error, out.content = True, "", answer.content or ""
            out.tokens = (int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
            return out
        return out

    async def _execute(
        self, job: CronJobRow, record_id: UUID, scheduled_at: datetime, *, scheduled: bool = False
    ) -> None:
        """Run ``job`` for one record: tries, timeout, delivery, its heartbeat woken; the record's
        end. An ``at`` job asked to (``deleteAfterRun``) is deleted after the run of its due time."""
        started = time.perf_counter()
        who = Principal(
            role=Role.OPERATOR, user_id=job.user_id or "cron", tenant_id=job.tenant_id, via="cron"
        )
        rest = f"cron:{job.id}" + (f":{_ms(scheduled_at)}" if job.stateless else "")
        self._event(job, "running", "running", "")
        out = Outcome()
        try:
            out = await self._tries(
                who, str(job.agent_id), job.message, rest=rest, channel="cron", timeout=job.timeout_ms / 1000,
                max_retries=job.max_retries, label=f"cron {job.id}",
            )  # fmt: skip
            if out.ok and job.deliver and job.deliver_to:
                try:
                    await self._launcher.deliver(who, job.deliver_to, out.content, f"cron {job.name}")
                except GatewayError as exc:
                    out.error = f"delivery to {job.deliver_to} failed: {exc.message('en')}"
            if out.ok and job.wake_heartbeat:
                await self.wake_heartbeat(job.tenant_id, job.agent_id)
        except asyncio.CancelledError:
            out.ok, out.error = False, "the gateway stopped during the run"
            await asyncio.shield(self._finish(job, record_id, out, started, "interrupted", delete=False))
            raise
        except Exception as exc:
            log.exception("cron.run_crashed", job_id=str(job.id))
            out.ok, out.error = False, f"internal error: {exc.__class__.__name__}"
        delete = scheduled and job.delete_after_run and job.schedule_kind == "at"
        await self._finish(job, record_id, out, started, "ok" if out.ok else "error", delete=delete)

    async def _finish(
        self, job: CronJobRow, record_id: UUID, out: Outcome, started: float, status: str, *, delete: bool
    ) -> None:
        try:
            async with self._db.transaction() as conn:
                await store.finish_run(conn, job.tenant_id, record_id, out.end(status, started))
                if delete:
                    await store.delete_many(conn, [job.id])
        except GatewayError as exc:
            log.warning("cron.record_failed", job_id=str(job.id), error=str(exc))
        self._event(job, "completed" if status == "ok" else "error", status, out.error)

    # -- heartbeats -----------------------------------------------------------------------------

    async def wake_heartbeat(self, tenant_id: UUID, agent_id: UUID) -> bool:
        """Make the agent's heartbeat due now (``heartbeat.test``, a job's ``wakeHeartbeat``); False
        when it has none enabled."""
        async with self._db.transaction() as conn:
            woken = await hb_store.wake(conn, tenant_id, agent_id)
        if woken:
            await self._bus.publish(BusEvent(name=CHANGED, payload={}))
        return woken

    async def _claim_heartbeats(self, limit: int) -> int:
        """Claim up to ``limit`` due heartbeats: skipped ones recorded with why, the others run."""
        async with self._db.transaction() as conn:
            due = await hb_store.claim(conn, limit)
            if not due:
                return 0
            records, moves, skips = [], [], []
            for hb in due:
                status, reason, following = heartbeat.plan(hb)
                moves.append((hb.id, following))
                records.append(
                    hb_store.NewHeartbeatRecord(
                        tenant_id=hb.tenant_id, heartbeat_id=hb.id, agent_id=hb.agent_id,
                        scheduled_at=hb.next_run_at or hb.db_now, status=status, skip_reason=reason,
                    )
                )  # fmt: skip
                if status == "skipped":
                    skips.append((hb.id, reason))
            recorded = await hb_store.record(conn, records, self.process_id)
            await hb_store.advance(conn, moves)
            await hb_store.mark_skipped(conn, skips)
        by_id = {hb.id: hb for hb in due}
        reasons = {r.heartbeat_id: r.skip_reason for r in records}
        for rec in recorded:
            hb = by_id[rec.heartbeat_id]
            if rec.status == "running":
                self._spawn(self._beat(hb, rec.id, rec.scheduled_at))
            else:
                self._hb_event(hb, "skipped", "skipped", reason=reasons[hb.id])
        return len(due)

    def _hb_event(
        self, hb: ClaimedHeartbeat, action: str, status: str, *, error: str = "", reason: str = ""
    ) -> None:
        payload = {"action": action, "agentId": str(hb.agent_id), "agentKey": hb.agent_key, "status": status,
                   "error": error, "reason": reason}  # fmt: skip
        self._bus.publish_batched(BusEvent(name="heartbeat", payload=payload, tenant_id=hb.tenant_id))

    async def _beat(self, hb: ClaimedHeartbeat, record_id: UUID, scheduled_at: datetime) -> None:
        """One heartbeat run: the checklist sent to the agent; a quiet answer is ``suppressed``,
        another is delivered to ``chatId`` (a session key) when set."""
        started = time.perf_counter()
        who = Principal(role=Role.OPERATOR, user_id="heartbeat", tenant_id=hb.tenant_id, via="cron")
        rest = "heartbeat" + (f":{_ms(scheduled_at)}" if hb.isolated_session else "")
        message = f"{hb.prompt or heartbeat.DEFAULT_PROMPT}\n\n{hb.checklist}"
        self._hb_event(hb, "running", "running")
        out, status = Outcome(), "error"
        try:
            out = await self._tries(
                who, str(hb.agent_id), message, rest=rest, channel="heartbeat",
                timeout=self._settings.job_timeout_seconds, max_retries=hb.max_retries, label=f"heartbeat {hb.id}",
                provider=hb.provider_name, model=hb.model, light=hb.light_context,
            )  # fmt: skip
            if out.ok and heartbeat.quiet(out.content, hb.ack_max_chars):
                status = "suppressed"
            elif out.ok:
                status = "ok"
                if hb.chat_id.startswith("agent:"):
                    try:
                        # The target was chosen by an admin (heartbeat.set): any session of the tenant.
                        admin = msgspec.structs.replace(who, role=Role.ADMIN)
                        await self._launcher.deliver(admin, hb.chat_id, out.content, "heartbeat")
                    except GatewayError as exc:
                        out.error = f"delivery to {hb.chat_id} failed: {exc.message('en')}"
        except asyncio.CancelledError:
            out.error = "the gateway stopped during the run"
            await asyncio.shield(self._end_beat(hb, record_id, out, started, "interrupted"))
            raise
        except Exception as exc:
            log.exception("heartbeat.run_crashed", heartbeat_id=str(hb.id))
            out.error = f"internal error: {exc.__class__.__name__}"
        await self._end_beat(hb, record_id, out, started, status)

    async def _end_beat(
        self, hb: ClaimedHeartbeat, record_id: UUID, out: Outcome, started: float, status: str
    ) -> None:
        try:
            async with self._db.transaction() as conn:
                await hb_store.finish_run(conn, hb.tenant_id, record_id, out.end(status, started))
        except GatewayError as exc:
            log.warning("heartbeat.record_failed", heartbeat_id=str(hb.id), error=str(exc))
        self._hb_event(hb, status if status in {"ok", "suppressed"} else "error", status, error=out.error)


@dataclass(slots=True)
class Outcome:
    """How the tries of one scheduled run went."""

    ok: bool = False
    error: str = ""
    content: str = ""
    attempts: int = 0
    tokens: tuple[int, int] = (0, 0)
    handle: RunHandle | None = None

    def end(self, status: str, started: float) -> store.RecordEnd:
        """The record's end (``store.cron.finish_run``, ``store.heartbeat.finish_run``)."""
        return store.RecordEnd(
            status=status, attempts=self.attempts, summary=self.content[:500], error=self.error,
            duration_ms=round((time.perf_counter() - started) * 1000), input_tokens=self.tokens[0],
            output_tokens=self.tokens[1], run_id=self.handle.run_id if self.handle is not None else None,
            session_key=self.handle.session_key if self.handle is not None else "",
        )  # fmt: skip
