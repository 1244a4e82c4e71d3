"""The run manager: runs belong to the gateway, not to the socket that asked for them.

A run is registered in the ``runs`` table (process id, status, heartbeat) and executed as a task in
the process that started it. Abort for a run on another process travels over the bus
(``internal.run.abort``). Each process holds a Postgres advisory lock for its lifetime; a sweeper
fails the runs of processes whose lock is gone (killed), at startup and every few seconds.

Persistence order (docs/architecture.md, "Data flow of a chat run"): the user message is committed
before ``chat.send`` answers (the chat service does it); the assistant message is committed before
``run.completed`` is published.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import structlog

from clawgate import metrics
from clawgate.bus import BusEvent, EventBus
from clawgate.config import Settings
from clawgate.errors import GatewayError
from clawgate.logging import bind_run
from clawgate.providers.retry import RetryPolicy
from clawgate.providers.types import ChatMessage, ChatRequest, Usage
from clawgate.runtime.compaction import keep_last, needs_compaction, summarize
from clawgate.runtime.llm import LLMResolver, Target
from clawgate.runtime.loop import AgentLoop, LoopInput
from clawgate.runtime.prompt import build_system_prompt, history_messages, to_chat_message
from clawgate.services.agents import AgentService
from clawgate.services.memory import MemoryService
from clawgate.store import Database, DbConnection, runs, sessions, traces
from clawgate.store import bus as bus_store
from clawgate.store.db import Unreachable, connect
from clawgate.store.traces import NewSpan
from clawgate.store.types import AgentRow, SessionRow
from clawgate.tools import REGISTRY, ToolContext
from clawgate.tools import memory as _memory_tools  # noqa: F401 - registers memory_search/get/write

__all__ = ["RunHandle", "RunManager", "RunPlan"]

log = structlog.get_logger("clawgate.runs")

_HEARTBEAT_SECONDS = 10.0
_SWEEP_SECONDS = 5.0
_TIDY_SECONDS = 60.0  # how often a sweep also drops expired idempotency keys and old spilled events
_ORPHANED = "the gateway process running it stopped"
TERMINAL = frozenset({"run.completed", "run.failed", "run.cancelled"})


@dataclass(slots=True)
class RunPlan:
    """Everything needed to start a run on a session whose user message is already stored."""

    tenant_id: UUID
    user_id: str
    agent: AgentRow
    session: SessionRow
    message: str
    user_idx: int
    stream: bool = True
    channel: str = "ws"
    idempotency_key: str | None = None


@dataclass(eq=False, slots=True)
class RunHandle:
    """A run executing in this process."""

    run_id: UUID
    plan: RunPlan
    trace_id: UUID
    task: asyncio.Task[None] | None = None
    seq: int = 0
    content: list[str] = field(default_factory=list)
    activity: dict[str, Any] | None = None
    done: asyncio.Future[dict[str, Any]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    listeners: set[asyncio.Queue[dict[str, Any]]] = field(default_factory=set)

    @property
    def session_key(self) -> str:
        return self.plan.session.session_key

    @property
    def content_so_far(self) -> str:
        return "".join(self.content)


def _run_event(
    kind: str,
    *,
    run_id: UUID,
    session_key: str,
    agent_id: str,
    user_id: str,
    seq: int,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """One event of a run as subscribers receive it (the payload of an ``agent`` bus event)."""
    return {
        "type": kind,
        "runId": str(run_id),
        "sessionKey": session_key,
        "agentId": agent_id,
        "userId": user_id,
        "seq": seq,
        "payload": payload,
    }


class RunManager:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        bus: EventBus,
        llm: LLMResolver,
        agents: AgentService,
        memory: MemoryService | None = None,
    ) -> None:
        self.settings = settings
        self.agents = agents
        self.memory = memory  # for the memory tools
        self.db = db
        self.bus = bus
        self.llm = llm
        self.process_id = bus.origin
        self.local: dict[UUID, RunHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lock_conn: DbConnection | None = None
        self._tidy_at = 0.0  # the first sweep (at start) tidies
        bus.subscribe(self._on_event)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take this process's liveness lock, fail runs of dead processes, start the background loops."""
        await self._take_lock()
        await self.sweep()
        self._spawn(self._heartbeat_loop())
        self._spawn(self._sweep_loop())

    async def stop(self) -> None:
        """Cancel local runs (they are marked cancelled) and the background loops."""
        for handle in list(self.local.values()):
            if handle.task is not None:
                handle.task.cancel()
        pending = [h.task for h in self.local.values() if h.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._lock_conn.close(), 2)

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _take_lock(self) -> None:
        try:
            conn = await connect(self.db.dsn)
            await runs.hold_liveness(conn, self.process_id)
            self._lock_conn = conn
        except Unreachable as exc:
            log.warning("runs.lock_failed", error=str(exc))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(_HEARTBEAT_SECONDS)
            try:
                if self._lock_conn is None or self._lock_conn.is_closed():
                    await self._take_lock()
                if self.local:
                    async with self.db.connection() as conn:
                        await runs.heartbeat(conn, self.process_id)
            except Exception as exc:
                log.debug("runs.heartbeat_failed", error=str(exc))

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception:  # a lost database is handled in sweep; this is a bug, and the loop goes on
                log.exception("runs.sweep_crashed")

    async def sweep(self) -> int:
        """Fail runs left ``running`` by processes that no longer hold their liveness lock; once a
        minute also free idempotency keys past 24 hours and spilled events past an hour."""
        failed = 0
        try:
            async with self.db.connection() as conn:
                for process in await runs.running_processes(conn, self.process_id):
                    async with conn.transaction():
                        free = await runs.liveness_free(conn, process)
                    if not free:
                        continue
                    dead = await runs.fail_process(conn, process, _ORPHANED)
                    failed += len(dead)
                    for run in dead:
                        event = _run_event(
                            "run.failed", run_id=run.id, session_key=run.session_key,
                            agent_id=run.agent_key, user_id=run.user_id, seq=0,
                            payload={"error": _ORPHANED},
                        )  # fmt: skip
                        await self.bus.publish(
                            BusEvent(
                                name="agent",
                                payload=event,
                                tenant_id=run.tenant_id,
                                user_id=run.user_id or None,
                            )
                        )
                if time.monotonic() >= self._tidy_at:
                    self._tidy_at = time.monotonic() + _TIDY_SECONDS
                    keys, spilled = await runs.expire_idempotency(conn), await bus_store.prune_spill(conn)
                    if keys or spilled:
                        log.info("runs.tidied", idempotency_keys=keys, spilled_events=spilled)
        except GatewayError as exc:
            log.debug("runs.sweep_failed", error=str(exc))
        if failed:
            log.warning("runs.failed_orphans", count=failed)
        return failed

    def _on_event(self, event: BusEvent) -> None:
        if event.name == "internal.run.abort" and isinstance(event.payload, dict):
            with contextlib.suppress(ValueError, KeyError):
                handle = self.local.get(UUID(str(event.payload["runId"])))
                if (
                    handle is not None
                    and handle.task is not None
                    and handle.plan.tenant_id == event.tenant_id
                ):
                    handle.task.cancel()

    # -- runs -----------------------------------------------------------------------------------

    def retry_policy(self) -> RetryPolicy:
        conf = self.settings.llm
        return RetryPolicy(
            attempts=conf.retry_attempts,
            base_delay=conf.retry_base_delay_ms / 1000,
            max_delay=conf.retry_max_delay_ms / 1000,
        )

    def find_local(self, tenant_id: UUID, session_key: str) -> RunHandle | None:
        for handle in self.local.values():
            if handle.plan.tenant_id == tenant_id and handle.session_key == session_key:
                return handle
        return None

    def launch(self, run_id: UUID, plan: RunPlan) -> RunHandle:
        """Start executing a run whose row is already inserted (status running)."""
        handle = RunHandle(run_id=run_id, plan=plan, trace_id=uuid.uuid4())
        self.local[run_id] = handle
        # Logged with the ids of the call that starts the run; the run's own lines carry run_id.
        log.info(
            "run.started", run_id=str(run_id), session_key=plan.session.session_key, channel=plan.channel
        )
        handle.task = asyncio.get_running_loop().create_task(self._execute(handle), name=f"run-{run_id}")
        return handle

    async def abort(self, tenant_id: UUID, run_id: UUID) -> bool:
        """Cancel a run here, or ask the process that owns it. True if it was local."""
        handle = self.local.get(run_id)
        if handle is not None and handle.plan.tenant_id == tenant_id and handle.task is not None:
            handle.task.cancel()
            return True
        await self.bus.publish(
            BusEvent(name="internal.run.abort", payload={"runId": str(run_id)}, tenant_id=tenant_id)
        )
        return False

    async def events(self, handle: RunHandle) -> AsyncIterator[dict[str, Any]]:
        """This process's view of a run's events, in order, until it ends (for SSE consumers)."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        handle.listeners.add(queue)
        try:
            while True:
                event = await queue.get()
                yield event
                if event["type"] in TERMINAL:
                    return
        finally:
            handle.listeners.discard(queue)

    def emit(self, handle: RunHandle, kind: str, payload: dict[str, Any]) -> None:
        handle.seq += 1
        plan = handle.plan
        if kind == "chunk":
            handle.content.append(str(payload.get("content", "")))
        elif kind == "activity":
            handle.activity = payload
        event = _run_event(
            kind, run_id=handle.run_id, session_key=handle.session_key, agent_id=plan.agent.agent_key,
            user_id=plan.user_id, seq=handle.seq, payload=payload,
        )  # fmt: skip
        for queue in handle.listeners:
            queue.put_nowait(event)
        self._spawn(
            self.bus.publish(
                BusEvent(name="agent", payload=event, tenant_id=plan.tenant_id, user_id=plan.user_id or None)
            )
        )

    async def _execute(self, handle: RunHandle) -> None:
        plan = handle.plan
        bind_run(handle.run_id, plan.tenant_id, plan.user_id)
        started, status = time.perf_counter(), "completed"
        agent, session = plan.agent, plan.session
        self.emit(handle, "run.started", {"message": plan.message})
        hooks = _SessionHooks(self, handle)
        loop: AgentLoop | None = None
        try:
            inp = await self._loop_input(handle)
            async with self.db.transaction() as conn:
                await traces.insert_trace(
                    conn,
                    trace_id=handle.trace_id,
                    tenant_id=plan.tenant_id,
                    run_id=handle.run_id,
                    agent_id=agent.id,
                    user_id=plan.user_id,
                    session_key=session.session_key,
                    name=f"{plan.channel} chat - {agent.agent_key}",
                    channel=plan.channel,
                    input_preview=plan.message[:500],
                    start_time=datetime.now(UTC),
                )
            loop = hooks.loop = AgentLoop(inp, lambda kind, payload: self.emit(handle, kind, payload), hooks)
            await loop.run()
        except asyncio.CancelledError:
            status = "cancelled"
            await asyncio.shield(self._end(handle, loop, "cancelled", "aborted"))
            self.emit(handle, "run.cancelled", {})
            self._resolve(
                handle, {"runId": str(handle.run_id), "sessionKey": session.session_key, "cancelled": True}
            )
            return
        except GatewayError as exc:  # RunFailed too: UNAVAILABLE, as over REST (one error table)
            message = exc.message("en")
            status = "failed"
            await asyncio.shield(self._end(handle, loop, "failed", message))
            self.emit(handle, "run.failed", {"error": message})
            self._resolve(handle, exc)
            return
        except Exception as exc:
            status = "failed"
            log.exception("run.crashed")
            await asyncio.shield(
                self._end(handle, loop, "failed", f"internal error: {exc.__class__.__name__}")
            )
            self.emit(handle, "run.failed", {"error": "internal error"})
            self._resolve(handle, _RunError("internal error"))
            return
        finally:
            self.local.pop(handle.run_id, None)
            metrics.RUNS.labels(status).inc()
            log.info(
                "run.finished", status=status, duration_ms=round((time.perf_counter() - started) * 1000, 2)
            )
        final = hooks.final or {}
        self.emit(
            handle, "run.completed", {k: v for k, v in final.items() if k in {"content", "thinking", "usage"}}
        )
        self._resolve(handle, final)
        if not session.label:
            self._spawn(self._title(plan, inp.targets))
        self._spawn(self._maybe_compact(plan, inp.targets))

    def _resolve(self, handle: RunHandle, outcome: dict[str, Any] | BaseException) -> None:
        if handle.done.done():
            return
        if isinstance(outcome, BaseException):
            handle.done.set_exception(outcome)
            handle.done.exception()  # mark retrieved: nobody may be waiting
        else:
            handle.done.set_result(outcome)

    async def _loop_input(self, handle: RunHandle) -> LoopInput:
        plan = handle.plan
        agent, session = plan.agent, plan.session
        files = await self.agents.context_files(agent)
        async with self.db.connection() as conn:
            rows = await sessions.messages(conn, plan.tenant_id, session.id, start=session.context_start)
        targets = await self.llm.targets(agent, session.model if session.model != agent.model else "")
        return LoopInput(
            targets=targets,
            system_prompt=build_system_prompt(agent, files),
            messages=history_messages(rows, session.summary),
            tool_context=ToolContext(
                tenant_id=plan.tenant_id,
                agent_id=agent.id,
                agent_key=agent.agent_key,
                session_key=session.session_key,
                user_id=plan.user_id,
                run_id=handle.run_id,
                message_count=session.message_count + 1,
                memory=self.memory,
            ),
            tools=list(REGISTRY.values()),
            stream=plan.stream,
            temperature=agent.temperature,
            max_tokens=agent.max_tokens,
            thinking=agent.thinking_level if agent.thinking_level not in {"", "off"} else "",
            max_iterations=agent.max_tool_iterations,
            retry=self.retry_policy(),
        )

    async def _end(self, handle: RunHandle, loop: AgentLoop | None, status: str, error: str) -> None:
        """Record a run that did not complete: partial answer kept, run row, trace, usage."""
        plan = handle.plan
        result = loop.result if loop is not None else None
        usage = result.usage if result is not None else Usage()
        payload: dict[str, Any] = {"runId": str(handle.run_id), "sessionKey": plan.session.session_key}
        payload |= {"cancelled": True} if status == "cancelled" else {"error": error}
        try:
            async with self.db.transaction() as conn:
                partial = handle.content_so_far
                if partial and status == "cancelled":
                    await sessions.append_message(
                        conn,
                        plan.tenant_id,
                        plan.session.id,
                        role="assistant",
                        content=partial,
                        run_id=handle.run_id,
                        metadata={"cancelled": True},
                    )
                await runs.finish(
                    conn,
                    plan.tenant_id,
                    handle.run_id,
                    status=status,
                    result=payload,
                    error=error,
                    input_tokens=usage.prompt_tokens,
                    output_tokens=usage.completion_tokens,
                )
                await _record_trace(conn, handle, result.spans if result else [], usage, status, error, "")
        except Exception as exc:
            log.warning("run.end_write_failed", error=str(exc))

    async def _maybe_compact(self, plan: RunPlan, targets: list[Target]) -> None:
        """After a run: summarise the earlier turns when the history outgrew the context share."""
        try:
            async with self.db.connection() as conn:
                session = await sessions.get(conn, plan.tenant_id, plan.session.session_key)
                if session is None:
                    return
                rows = await sessions.messages(conn, plan.tenant_id, session.id, start=session.context_start)
            if not targets or not needs_compaction(plan.agent, rows, session.summary):
                return
            cut = session.message_count - keep_last(plan.agent)
            summary = await summarize(targets[0], [r for r in rows if r.idx < cut], session.summary)
            async with self.db.transaction() as conn:
                locked = await sessions.get_for_update(conn, plan.tenant_id, session.session_key)
                if locked is None or locked.context_start != session.context_start:
                    return  # compacted meanwhile
                await sessions.set_context(conn, plan.tenant_id, session.id, summary, cut)
            log.info("session.compacted", session_key=session.session_key, cut=cut)
        except Exception as exc:
            log.warning("session.compact_failed", session_key=plan.session.session_key, error=str(exc))

    async def _title(self, plan: RunPlan, targets: list[Target]) -> None:
        """Give an unlabeled session a short title (LLM-written; the first words as a fallback)."""
        title = " ".join(plan.message.split()[:8])[:60]
        if targets:
            target = targets[0]
            prompt = (
                "Write a title of at most 6 words for a conversation that starts with the message below. "
                "Answer with the title only.\n\n" + plan.message[:2000]
            )
            try:
                async with asyncio.timeout(30):
                    reply = await target.client.chat(
                        ChatRequest(
                            model=target.model,
                            messages=[ChatMessage(role="user", content=prompt)],
                            max_tokens=24,
                        )
                    )
                if reply.content.strip():
                    title = reply.content.strip().strip("\"'").splitlines()[0][:80]
            except Exception as exc:
                log.warning("session.title_failed", error=repr(exc))  # the first words stand in
        try:
            async with self.db.transaction() as conn:
                changed = await sessions.set_label_if_empty(conn, plan.tenant_id, plan.session.id, title)
        except GatewayError as exc:
            log.warning("session.title_write_failed", error=str(exc))
            return
        if changed:
            await self.bus.publish(
                BusEvent(
                    name="session.updated",
                    payload={"sessionKey": plan.session.session_key, "label": title, "userId": plan.user_id},
                    tenant_id=plan.tenant_id,
                    user_id=plan.user_id or None,
                )
            )


class _RunError(GatewayError):
    code, status, rpc_code, default_key = "INTERNAL", 500, -32603, "failed_precondition"

    def __init__(self, message: str) -> None:
        super().__init__(detail=message)


class _SessionHooks:
    """Persistence for a session run: tool rounds as they finish, the answer at the end, and
    pick-up of messages injected into the session meanwhile."""

    def __init__(self, manager: RunManager, handle: RunHandle) -> None:
        self.m = manager
        self.h = handle
        self.last_seen = handle.plan.user_idx
        self.final: dict[str, Any] | None = None
        self.loop: AgentLoop | None = None  # set once the loop exists; it owns spans and usage

    async def checkpoint(self, produced: list[ChatMessage]) -> list[ChatMessage]:
        plan = self.h.plan
        async with self.m.db.transaction() as conn:
            for message in produced:
                await _append(conn, plan, self.h.run_id, message)
            return await self._unseen(conn)

    async def _unseen(self, conn: DbConnection) -> list[ChatMessage]:
        plan = self.h.plan
        rows = await sessions.user_messages_after(conn, plan.tenant_id, plan.session.id, self.last_seen)
        if rows:
            self.last_seen = rows[-1].idx
        return [to_chat_message(r) for r in rows]

    async def finalize(self, answer: ChatMessage, usage: Usage) -> list[ChatMessage]:
        plan, handle = self.h.plan, self.h
        async with self.m.db.transaction() as conn:
            await sessions.get_for_update(conn, plan.tenant_id, plan.session.session_key)
            row = await _append(conn, plan, handle.run_id, answer)
            unseen = await self._unseen(conn)
            if unseen:
                return unseen
            usage_out = msgspec.to_builtins(usage)
            usage_out.pop("cache_creation_tokens", None)
            usage_out.pop("cache_read_tokens", None)
            final: dict[str, Any] = {
                "runId": str(handle.run_id), "sessionKey": plan.session.session_key, "message_id": row.idx,
                "role": "assistant", "content": answer.content, "usage": usage_out,
            }  # fmt: skip
            if answer.thinking:
                final["thinking"] = answer.thinking
            await runs.finish(
                conn,
                plan.tenant_id,
                handle.run_id,
                status="completed",
                result=final,
                error="",
                input_tokens=usage.prompt_tokens,
                output_tokens=usage.completion_tokens,
            )
            result = self.loop.result if self.loop is not None else None
            await sessions.add_tokens(
                conn,
                plan.tenant_id,
                plan.session.id,
                usage.prompt_tokens,
                usage.completion_tokens,
                result.model if result else "",
                result.provider if result else "",
            )
            await _record_trace(
                conn, handle, result.spans if result else [], usage, "completed", "", answer.content
            )
        self.final = final
        return []


async def _append(conn: DbConnection, plan: RunPlan, run_id: UUID, message: ChatMessage) -> Any:
    return await sessions.append_message(
        conn,
        plan.tenant_id,
        plan.session.id,
        role=message.role,
        content=message.content,
        thinking=message.thinking,
        tool_calls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls],
        tool_call_id=message.tool_call_id,
        run_id=run_id,
    )


async def _record_trace(
    conn: DbConnection,
    handle: RunHandle,
    spans: list[NewSpan],
    usage: Usage,
    status: str,
    error: str,
    output: str,
) -> None:
    plan = handle.plan
    now = datetime.now(UTC)
    llm = [s for s in spans if s.span_type == "llm_call"]
    await traces.insert_spans(conn, plan.tenant_id, handle.trace_id, spans)
    for span in llm:
        if span.status == "completed":
            metrics.count_tokens(span.provider, span.model, span.input_tokens, span.output_tokens)
            await traces.insert_usage(
                conn,
                tenant_id=plan.tenant_id,
                agent_id=plan.agent.id,
                agent_key=plan.agent.agent_key,
                user_id=plan.user_id,
                session_key=plan.session.session_key,
                run_id=handle.run_id,
                model=span.model,
                provider=span.provider,
                input_tokens=span.input_tokens,
                output_tokens=span.output_tokens,
            )
    await traces.finish_trace(
        conn,
        plan.tenant_id,
        handle.trace_id,
        status="error" if status == "failed" else status,
        error=error,
        output_preview=output[:500],
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        span_count=len(spans),
        llm_calls=len(llm),
        tool_calls=sum(1 for s in spans if s.span_type == "tool_call"),
        end_time=now,
    )
