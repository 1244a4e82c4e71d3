"""The run manager: runs belong to the gateway, not to the socket that asked for them.

A run is registered in the ``runs`` table (process id, status, heartbeat) and executed as a task in
the process that started it (``liveness`` fails the runs of a process that died). Abort for a run on
another process travels over the bus (``internal.run.abort``).

Persistence order (docs/architecture.md, "Data flow of a chat run"): the user message is committed before ``chat.send`` answers (the
chat service does it); the assistant message is committed before ``run.completed`` is published
(``persist``). A run's events reach this process's connections at once and the other processes in
batches (``EventBus.publish_batched``).

Services use the public surface: ``targets``, ``loop_input``, ``launch``, ``find``, ``abort``,
``records`` and ``process_id``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

import structlog
from msgspec import UNSET, Struct

from clawgate import metrics
from clawgate.bus import BusEvent, EventBus
from clawgate.config import Settings
from clawgate.errors import GatewayError
from clawgate.logging import bind_run
from clawgate.providers.retry import RetryPolicy
from clawgate.providers.types import ChatMessage, Fragments, ToolSpec
from clawgate.runtime.compaction import Episodes
from clawgate.runtime.context import ContextCache, SessionContext
from clawgate.runtime.events import (
    Activity,
    Cancelled,
    Chunk,
    Completed,
    Failed,
    NoAnswer,
    RunAnswer,
    Started,
    run_event,
)
from clawgate.runtime.handle import RunHandle, RunPlan
from clawgate.runtime.liveness import Liveness
from clawgate.runtime.llm import LLMResolver, Target
from clawgate.runtime.loop import AgentLoop, LoopInput
from clawgate.runtime.persist import Records, SessionHooks, end_unfinished, trace_record, write_record
from clawgate.runtime.prompt import build_system_prompt, to_chat_message
from clawgate.runtime.upkeep import Upkeep
from clawgate.store import Database, sessions, traces
from clawgate.store.types import AgentFile, AgentRow
from clawgate.tools import REGISTRY, Tool, ToolContext
from clawgate.writer import GroupWriter

if TYPE_CHECKING:
    from clawgate.services.builtin_tools import BuiltinToolService
    from clawgate.services.cron import CronService
    from clawgate.services.heartbeat import HeartbeatService
    from clawgate.services.kg import KnowledgeGraphService
    from clawgate.services.memory import MemoryService
    from clawgate.services.vault import VaultService

__all__ = ["AgentFiles", "RunHandle", "RunManager", "RunPlan"]

log = structlog.get_logger("clawgate.runs")


class AgentFiles(Protocol):
    """Where an agent's context files come from (the agent service, which caches them)."""

    async def context_files(self, agent: AgentRow) -> list[AgentFile]: ...


class ToolSource(Protocol):
    """Tools a run gets besides the built-in table (``clawgate.tools.REGISTRY``): an MCP server's,
    a skill reader's. Registered on the run manager by the composition root (``add_tool_source``);
    asked once per run, so an answer comes from memory (cached, invalidated over the bus), not
    from a query per run."""

    async def run_tools(self, agent: AgentRow, ctx: ToolContext) -> Sequence[Tool]: ...


class PromptSource(Protocol):
    """A section of a run's system prompt beyond the agent's context files (granted skills'
    summaries, recalled memories); "" for none. Asked once per run (not for light runs), with the
    messages the model will see."""

    async def prompt_section(
        self, agent: AgentRow, ctx: ToolContext, messages: Sequence[ChatMessage]
    ) -> str: ...


class RunManager:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        bus: EventBus,
        llm: LLMResolver,
        agents: AgentFiles,
        memory: MemoryService | None = None,
        vault: VaultService | None = None,
        kg: KnowledgeGraphService | None = None,
        episodes: Episodes | None = None,
    ) -> None:
        self._settings = settings
        self._agents = agents
        self._memory = memory  # what the memory tools of every run act on
        # What the cron and heartbeat tools act on (set by the composition root, built after this).
        self.cron: CronService | None = None
        self.heartbeat: HeartbeatService | None = None
        # Which built-in tools each tenant has on, and their settings (None: all of REGISTRY).
        self.builtin: BuiltinToolService | None = None
        self._vault = vault  # and the vault tool
        self._kg = kg  # and the knowledge-graph tools
        self._db = db
        self._bus = bus
        self._llm = llm
        self.process_id = bus.origin
        self.records: Records = GroupWriter(db, traces.record_exchanges)
        """The one writer of finished runs' and OpenAI exchanges' traces, spans and usage."""
        self._local: dict[UUID, RunHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.contexts = ContextCache()
        """The sessions' contexts kept between runs (``clawgate.runtime.context``)."""
        self._liveness = Liveness(db, bus, self.process_id, busy=lambda: bool(self._local))
        self._upkeep = Upkeep(db, bus, self.contexts, episodes)
        self._tool_sources: list[ToolSource] = []
        self._prompt_sources: list[PromptSource] = []
        bus.subscribe(self._on_event, names=["internal.run.abort"])

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take this process's liveness lock, fail runs of dead processes, start the background loops."""
        await self._liveness.start()

    async def stop(self) -> None:
        """Cancel local runs (they are marked cancelled), the background work, and write what is left."""
        for handle in list(self._local.values()):
            if handle.task is not None:
                handle.task.cancel()
        pending = [h.task for h in self._local.values() if h.task is not None]
        if pending:
            await asyncio.wait(pending, timeout=5)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._liveness.stop()
        await self.records.close()

    async def sweep(self) -> int:
        """Fail the runs of processes that died (``Liveness.sweep``); returns how many."""
        return await self._liveness.sweep()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_event(self, event: BusEvent) -> None:
        if event.name != "internal.run.abort" or not isinstance(event.payload, dict):
            return
        try:
            run_id = UUID(str(event.payload["runId"]))
        except (ValueError, KeyError):
            log.warning("runs.bad_abort_event", payload=str(event.payload)[:200])
            return
        handle = self._local.get(run_id)
        if handle is not None and handle.task is not None and handle.plan.tenant_id == event.tenant_id:
            handle.task.cancel()

    # -- what services use ----------------------------------------------------------------------

    def add_tool_source(self, source: ToolSource) -> None:
        """Offer ``source``'s tools to every run (after the built-in ones)."""
        self._tool_sources.append(source)

    def add_prompt_source(self, source: PromptSource) -> None:
        """Add ``source``'s section to every run's system prompt (after the context files)."""
        self._prompt_sources.append(source)

    async def _run_tools(self, agent: AgentRow, ctx: ToolContext) -> list[Tool]:
        # The tenant's enabled built-in tools, from memory (``BuiltinToolService``).
        enabled = (
            list(REGISTRY.values()) if self.builtin is None else await self.builtin.run_tools(ctx.tenant_id)
        )
        if not self._tool_sources:
            return enabled
        tools = {t.spec.name: t for t in enabled}
        for source in self._tool_sources:
            for tool in await source.run_tools(agent, ctx):
                tools.setdefault(tool.spec.name, tool)  # a built-in's name is never taken over
        return list(tools.values())

    def tool_context(self, ctx: ToolContext) -> ToolContext:
        """``ctx`` with the service handles the tools act on (those it lacks)."""
        handles: dict[str, Any] = {}  # one copy of the context, not one per handle
        if ctx.memory is None and self._memory is not None:
            handles["memory"] = self._memory
        if ctx.cron is None and self.cron is not None:
            handles.update(cron=self.cron, heartbeat=self.heartbeat)
        if ctx.vault is None and self._vault is not None:
            handles["vault"] = self._vault
        if ctx.kg is None and self._kg is not None:
            handles["kg"] = self._kg
        if ctx.builtin is None and self.builtin is not None:
            handles["builtin"] = self.builtin
        return dataclasses.replace(ctx, **handles) if handles else ctx

    async def _prompt_sections(
        self, agent: AgentRow, ctx: ToolContext, messages: list[ChatMessage]
    ) -> list[str]:
        sections = [await source.prompt_section(agent, ctx, messages) for source in self._prompt_sources]
        return [s for s in sections if s]

    async def targets(self, agent: AgentRow, model: str = "") -> list[Target]:
        """The agent's provider/model (``model`` instead of its own), then its fallbacks.

        Raises: FailedPrecondition naming what to configure when nothing resolves.
        """
        return await self._llm.targets(agent, model)

    async def has_provider(self, tenant_id: UUID, name: str) -> bool:
        """Whether ``name`` resolves to a usable provider in the tenant (or the environment)."""
        return await self._llm.has_provider(tenant_id, name)

    def retry_policy(self) -> RetryPolicy:
        conf = self._settings.llm
        return RetryPolicy(
            attempts=conf.retry_attempts,
            base_delay=conf.retry_base_delay_ms / 1000,
            max_delay=conf.retry_max_delay_ms / 1000,
        )

    async def loop_input(
        self,
        agent: AgentRow,
        messages: list[ChatMessage],
        tool_context: ToolContext,
        *,
        stream: bool,
        targets: list[Target] | None = None,
        client_tools: list[ToolSpec] | None = None,
        tool_choice: Any = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        thinking: bool = True,
        fragments: Fragments | None = None,
        light: bool = False,
    ) -> LoopInput:
        """What the agent loop needs for ``messages``: the agent's targets, system prompt (from its
        context files), tools (none of its own when the caller brings ``client_tools``), sampling
        (the caller's ``temperature`` / ``max_tokens`` over the agent's), and ``thinking`` at the
        agent's level unless turned off; ``light``: no context files in the system prompt. The one
        builder of WebSocket runs and OpenAI exchanges.

        Raises: FailedPrecondition (no working provider).
        """
        if targets is None:
            targets = await self.targets(agent)
        files = [] if light else await self._agents.context_files(agent)
        tool_context = self.tool_context(tool_context)
        extra = [] if light else await self._prompt_sections(agent, tool_context, messages)
        level = agent.thinking_level if thinking and agent.thinking_level not in {"", "off"} else ""
        return LoopInput(
            targets=targets,
            system_prompt=build_system_prompt(agent, files, extra=extra),
            messages=messages,
            tool_context=tool_context,
            tools=[] if client_tools else await self._run_tools(agent, tool_context),
            client_tools=client_tools or [],
            tool_choice=tool_choice,
            stream=stream,
            temperature=temperature if temperature is not None else agent.temperature,
            max_tokens=max_tokens or agent.max_tokens,
            stop=stop,
            thinking=level,
            max_iterations=agent.max_tool_iterations,
            retry=self.retry_policy(),
            fragments=fragments,
        )

    def find(self, run_id: UUID) -> RunHandle | None:
        """The run if this process executes it (its progress and outcome), else None."""
        return self._local.get(run_id)

    def launch(self, run_id: UUID, plan: RunPlan) -> RunHandle:
        """Start executing a run whose row is already inserted (status running)."""
        handle = RunHandle(run_id=run_id, plan=plan, started_at=datetime.now(UTC))
        self._local[run_id] = handle
        # Logged with the ids of the call that starts the run; the run's own lines carry run_id.
        log.info(
            "run.started", run_id=str(run_id), session_key=plan.session.session_key, channel=plan.channel
        )
        handle.task = asyncio.get_running_loop().create_task(self._execute(handle), name=f"run-{run_id}")
        return handle

    async def abort(self, tenant_id: UUID, run_id: UUID) -> bool:
        """Cancel a run here, or ask the process that owns it. True if it was local."""
        handle = self._local.get(run_id)
        if handle is not None and handle.plan.tenant_id == tenant_id and handle.task is not None:
            handle.task.cancel()
            return True
        await self._bus.publish(
            BusEvent(name="internal.run.abort", payload={"runId": str(run_id)}, tenant_id=tenant_id)
        )
        return False

    # -- a run ----------------------------------------------------------------------------------

    def _emit(self, handle: RunHandle, kind: str, payload: Struct) -> None:
        handle.seq += 1
        plan = handle.plan
        if isinstance(payload, Chunk):
            handle.content.append(payload.content)
        elif isinstance(payload, Activity):
            handle.activity = payload
        self._bus.publish_batched(
            run_event(
                kind,
                tenant_id=plan.tenant_id,
                run_id=handle.run_ref,
                session_key=handle.session_key,
                agent_key=plan.agent.agent_key,
                user_id=plan.user_id,
                seq=handle.seq,
                payload=payload,
            )
        )

    async def _execute(self, handle: RunHandle) -> None:
        plan = handle.plan
        bind_run(handle.run_id, plan.tenant_id, plan.user_id)
        started, status = time.perf_counter(), "completed"
        session = plan.session
        self._emit(handle, "run.started", Started(message=plan.message))
        hooks = SessionHooks(self._db, handle, self.contexts)
        loop: AgentLoop | None = None
        try:
            inp = await self._session_input(handle, hooks)
            loop = AgentLoop(inp, lambda kind, payload: self._emit(handle, kind, payload), hooks)
            hooks.result = loop.result
            await loop.run()
            await self._record(handle, loop, hooks)
        except asyncio.CancelledError:
            status = "cancelled"
            await asyncio.shield(self._end(handle, loop, "cancelled", "aborted"))
            self._emit(handle, "run.cancelled", Cancelled())
            handle.resolve(
                RunAnswer(runId=str(handle.run_id), sessionKey=session.session_key, cancelled=True)
            )
            return
        except GatewayError as exc:  # RunFailed too: UNAVAILABLE, as over REST (one error table)
            message = exc.message("en")
            status = "failed"
            await asyncio.shield(self._end(handle, loop, "failed", message))
            self._emit(handle, "run.failed", Failed(error=message))
            handle.resolve(exc)
            return
        except Exception as exc:
            status = "failed"
            log.exception("run.crashed")
            await asyncio.shield(
                self._end(handle, loop, "failed", f"internal error: {exc.__class__.__name__}")
            )
            self._emit(handle, "run.failed", Failed(error="internal error"))
            handle.resolve(_RunError("internal error"))
            return
        finally:
            self._local.pop(handle.run_id, None)
            metrics.RUNS.labels(status).inc()
            log.info(
                "run.finished", status=status, duration_ms=round((time.perf_counter() - started) * 1000, 2)
            )
        final = hooks.final
        self._emit(handle, "run.completed", _completed(final))
        handle.resolve(final or RunAnswer())  # no answer: GoClaw's empty object
        if not session.label:
            self._spawn(self._upkeep.title(plan, inp.targets))
        if self._upkeep.may_compact(plan, inp.targets, hooks.size):
            self._spawn(self._upkeep.compact(plan, inp.targets, hooks.size))

    async def _session_input(self, handle: RunHandle, hooks: SessionHooks) -> LoopInput:
        """The loop input of a session run: its history from the context the last run left (no
        read), else from the database."""
        plan = handle.plan
        agent, session = plan.agent, plan.session
        context = self.contexts.take(session, plan.user_idx)
        if context is not None:
            context.add(ChatMessage(role="user", content=plan.message))
        else:
            async with self._db.connection() as conn:
                rows = await sessions.messages(conn, plan.tenant_id, session.id, start=session.context_start)
            context = SessionContext(
                session_id=session.id, start=session.context_start,
                upto=rows[-1].idx + 1 if rows else session.context_start, summary=session.summary,
                messages=[to_chat_message(r) for r in rows],
            )  # fmt: skip
        hooks.context = context
        tool_context = ToolContext(
            tenant_id=plan.tenant_id, agent_id=agent.id, agent_key=agent.agent_key,
            session_key=session.session_key, user_id=plan.user_id, run_id=handle.run_id,
            message_count=session.message_count + 1, on_board=plan.on_board,
        )  # fmt: skip
        targets = await self.targets(agent, session.model if session.model != agent.model else "")
        return await self.loop_input(
            agent, context.prompt(), tool_context, stream=plan.stream,
            targets=targets, fragments=context.fragments, light=plan.light_context,
        )  # fmt: skip

    async def _record(self, handle: RunHandle, loop: AgentLoop, hooks: SessionHooks) -> None:
        """The completed run's trace, through the group writer, before ``run.completed``. The answer
        is committed already: a failure here is logged (``run.trace_write_failed``), not the run's."""
        output = hooks.final.content if hooks.final and hooks.final.content else ""
        try:
            await write_record(self.records, trace_record(handle, loop.result, "completed", "", str(output)))
        except Exception as exc:
            log.warning("run.trace_write_failed", error=str(exc))

    async def _end(self, handle: RunHandle, loop: AgentLoop | None, status: str, error: str) -> None:
        self.contexts.drop(handle.plan.session.id)
        await end_unfinished(
            self._db, self.records, handle, loop.result if loop is not None else None, status, error
        )


def _completed(final: RunAnswer | None) -> Completed | NoAnswer:
    """``run.completed``'s payload from the run's final answer (none when it ended without one: tool
    calls and no tools to run them)."""
    if final is None or final.content is UNSET or final.usage is UNSET:
        return NoAnswer()
    return Completed(content=final.content, usage=final.usage, thinking=final.thinking)


class _RunError(GatewayError):
    code, status, rpc_code, default_key = "INTERNAL", 500, -32603, "failed_precondition"

    def __init__(self, message: str) -> None:
        super().__init__(detail=message)
