"""The OpenAI-compatible API over agents: chat completions and responses.

Unlike GoClaw (last user message only, faked streaming), the whole ``messages`` array is honoured,
tokens stream as the model produces them, and the caller's ``tools`` pass through to the model with
its tool calls streamed back (``finish_reason: "tool_calls"``). Without caller tools, the agent uses
its own tools server-side. ``user`` or ``X-GoClaw-Session-Key`` maps requests to a stable session
where each exchange is recorded; every request gets a trace with spans and usage records.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import msgspec
import structlog
from msgspec import Struct

from clawgate.errors import InvalidRequest, NotFound, Unavailable
from clawgate.principal import Principal, Role
from clawgate.providers.types import ChatMessage, ToolSpec
from clawgate.ratelimit import RateLimiter
from clawgate.runtime.events import LoopEvent
from clawgate.runtime.loop import AgentLoop, LoopResult, NoHooks
from clawgate.runtime.persist import write_record
from clawgate.runtime.runs import RunManager
from clawgate.services import require
from clawgate.services.agents import AgentService
from clawgate.services.providers import ProviderService
from clawgate.store import Database, traces
from clawgate.store.types import AgentRow
from clawgate.tools import ToolContext

log = structlog.get_logger("clawgate.openai")

__all__ = ["Exchange", "ExchangeRequest", "ModelInfo", "OpenAIService"]

_MODEL_PREFIXES = ("clawgate:", "goclaw:", "agent:")
_SAFE = re.compile(r"[^A-Za-z0-9_.@-]+")
_RETRY_UNRECORDED_MS = 2000
"""``Retry-After`` of an answer that could not be recorded (the database is failing over or back)."""


class ExchangeRequest(Struct, kw_only=True, frozen=True):
    """What the transport decoded from a chat completion or a response request.

    ``session_key`` and ``agent`` come from the ``X-GoClaw-Session-Key`` and ``X-GoClaw-Agent-Id``
    headers; ``prefix`` starts the exchange id (``chatcmpl-``, ``resp_``).
    """

    model: str
    messages: list[ChatMessage]
    prefix: str
    client_tools: list[ToolSpec] = []
    tool_choice: str | dict[str, Any] | None = None
    stream: bool = False
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    user: str | None = None
    session_key: str = ""
    agent: str = ""


class ModelInfo(Struct, kw_only=True, frozen=True):
    """One entry of ``/v1/models``: an agent (owned by ``clawgate``) or a provider's model
    (``provider/model``, owned by the provider)."""

    id: str
    created: int
    owned_by: str


@dataclass(slots=True)
class Exchange:
    """One OpenAI-compatible request in flight."""

    id: str
    created: int
    agent: AgentRow
    session_key: str
    user_id: str
    loop: AgentLoop
    events: asyncio.Queue[LoopEvent | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[LoopResult] | None = None


class OpenAIService:
    """Exchanges: ``start`` one (its loop runs as a task), read its events (``drain``), await its
    ``outcome``, or ``abandon`` it when the client goes away."""

    def __init__(
        self,
        db: Database,
        agents: AgentService,
        runner: RunManager,
        limiter: RateLimiter,
        providers: ProviderService,
        default_agent: str,
    ) -> None:
        self._db = db
        self._agents = agents
        self._runner = runner
        self._providers = providers
        self._default_agent = default_agent  # gateway.default_agent: runs "provider/model"; "" = off
        self._limiter = limiter  # gateway.rate_limit_rpm, shared with chat.send
        self._records = runner.records  # the one trace writer, shared with WebSocket runs

    async def close(self) -> None:
        """Wait until the exchanges already answered are recorded."""
        await self._records.close()

    async def resolve_model(self, who: Principal, model: str, agent_header: str = "") -> AgentRow:
        """``clawgate:<agent>``, ``goclaw:<agent>``, ``agent:<agent>`` or a bare agent key (then the
        ``X-GoClaw-Agent-Id`` header, then the default agent). Raises: NotFound (model_not_found)."""
        ref = model
        for prefix in _MODEL_PREFIXES:
            if model.startswith(prefix):
                ref = model[len(prefix) :]
                break
        try:
            return await self._agents.get(who, ref)
        except NotFound:
            if agent_header:
                return await self._agents.get(who, agent_header)
            raise NotFound(
                kind="model", id=model, details={"param": "model", "code": "model_not_found"}
            ) from None

    async def _routed(self, who: Principal, model: str, agent_header: str) -> AgentRow:
        """``resolve_model``, else ``provider/model`` (a provider of the tenant or the environment) through
        the default agent (``gateway.default_agent``, created on first use) with that provider and model.
        Raises: NotFound (model_not_found)."""
        try:
            return await self.resolve_model(who, model, agent_header)
        except NotFound:
            provider, _, name = model.partition("/")
            if not (self._default_agent and provider and name):
                raise
            if not await self._runner.has_provider(who.tenant_id, provider):
                raise
        agent = await self._agents.ensure(who, self._default_agent, provider=provider, model=name)
        return msgspec.structs.replace(agent, provider=provider, model=name, model_fallback={})

    async def models(self, who: Principal) -> list[ModelInfo]:
        """The agents that can run (a model set, their provider resolves), then for operators, with the
        default agent on, every model the providers list (``provider/model``; asked upstream, cached)."""
        out = [
            ModelInfo(id=row.agent_key, created=int(row.created_at.timestamp()), owned_by="clawgate")
            for row in await self._agents.list_agents(who)
            if row.model and await self._runner.has_provider(who.tenant_id, row.provider)
        ]
        if self._default_agent and who.role >= Role.OPERATOR:
            for provider, model in await self._providers.model_ids(who):
                out.append(ModelInfo(id=f"{provider}/{model}", created=0, owned_by=provider))
        return out

    async def model(self, who: Principal, ref: str) -> ModelInfo:
        """One entry of ``models``: an agent (by any spelling ``resolve_model`` takes) that can run, or,
        for operators with the default agent on, a ``provider/model`` one of the providers lists.
        Raises: NotFound (model_not_found)."""
        try:
            row = await self.resolve_model(who, ref)
        except NotFound:
            provider, _, name = ref.partition("/")
            routable = self._default_agent and who.role >= Role.OPERATOR and provider and name
            if routable and (provider, name) in await self._providers.model_ids(who):
                return ModelInfo(id=ref, created=0, owned_by=provider)
            raise
        return ModelInfo(id=row.agent_key, created=int(row.created_at.timestamp()), owned_by="clawgate")

    async def start(self, who: Principal, req: ExchangeRequest) -> Exchange:
        """Resolve the agent and start the loop as a task; events arrive on ``Exchange.events``.
        The caller must see it to its end: ``outcome``, or ``abandon`` when it gives up.

        Raises: ResourceExhausted (``gateway.rate_limit_rpm`` per credential, or the key's own
        ``rate_limit_rpm``; not for the operator while ``rate_limits.exempt_operator``), NotFound (model),
        FailedPrecondition (no provider), InvalidRequest.
        """
        require(who, Role.OPERATOR, "chat completions")
        messages, user, stream = req.messages, req.user, req.stream
        if not any(m.role in {"user", "tool"} for m in messages):
            raise InvalidRequest(detail="messages must contain a user message", details={"param": "messages"})
        agent = await self._routed(who, req.model, req.agent)  # a failed lookup spends no budget
        self._limiter.check(
            f"oa:{who.key_id or who.user_id or who.via}", operator=who.is_operator, rpm=who.rate_limit_rpm
        )
        targets = await self._runner.targets(agent)
        user_id = who.user_id or user or "openai"
        if req.session_key:
            key = req.session_key
        elif user:
            key = f"agent:{agent.agent_key}:openai:{_SAFE.sub('-', user)[:100]}"
        else:
            key = ""
        run_id = uuid.uuid4()
        exchange_id = f"{req.prefix}{run_id.hex[:24]}"
        tool_context = ToolContext(
            tenant_id=who.tenant_id, agent_id=agent.id, agent_key=agent.agent_key, session_key=key,
            user_id=user_id, run_id=run_id,
        )  # fmt: skip
        inp = await self._runner.loop_input(
            agent, messages, tool_context, stream=stream, targets=targets, client_tools=req.client_tools,
            tool_choice=req.tool_choice, temperature=req.temperature, max_tokens=req.max_tokens, stop=req.stop,
            thinking=False,
        )  # fmt: skip
        queue: asyncio.Queue[LoopEvent | None] = asyncio.Queue()
        # A plain (not streamed) answer reads no events: they are not even queued.
        loop = AgentLoop(
            inp, (lambda _, payload: queue.put_nowait(payload)) if stream else _ignore, NoHooks()
        )
        exchange = Exchange(
            id=exchange_id, created=int(time.time()), agent=agent, session_key=key, user_id=user_id, loop=loop,
            events=queue,
        )  # fmt: skip
        exchange.task = asyncio.get_running_loop().create_task(self._run(who, exchange, messages, run_id))
        if stream:
            exchange.task.add_done_callback(lambda _: queue.put_nowait(None))  # the end of ``drain``
        return exchange

    async def _run(
        self, who: Principal, ex: Exchange, messages: list[ChatMessage], run_id: UUID
    ) -> LoopResult:
        """The loop, then its record. Raises: RunFailed; Unavailable when the answer could not be
        recorded (then it must not be delivered: the client was promised a committed record)."""
        # This task's lines carry the request's ids (it lives and dies with the request) and its own.
        structlog.contextvars.bind_contextvars(run_id=str(run_id))
        started = datetime.now(UTC)
        try:
            result = await ex.loop.run()
        except Exception as exc:  # RunFailed, or a bug: recorded as an error all the same
            await self._record(who, ex, messages, run_id, started, "error", str(exc))
            raise
        except asyncio.CancelledError:
            # Not withdrawn if this task is cancelled (again) meanwhile: ``GroupWriter.write`` shields it.
            await self._record(who, ex, messages, run_id, started, "cancelled", "client went away")
            raise
        if not await self._record(who, ex, messages, run_id, started, "completed", ""):
            raise Unavailable("answer_not_recorded", retry_after_ms=_RETRY_UNRECORDED_MS)
        return result

    async def _record(
        self,
        who: Principal,
        ex: Exchange,
        messages: list[ChatMessage],
        run_id: UUID,
        started: datetime,
        status: str,
        error: str,
    ) -> bool:
        """One transaction: the exchange into its session (when mapped), the trace, spans and usage.

        Returns whether it was committed. When not, the error is logged (``openai.record_failed``)
        with the question and the answer, so that the text is not lost."""
        res = ex.loop.result
        last_user = next((m.content for m in reversed(messages) if m.role == "user"), "")
        record = traces.ExchangeRecord(
            tenant_id=who.tenant_id,
            trace=traces.ExchangeTrace(
                id=uuid.uuid4(), run_id=run_id, agent_id=ex.agent.id, user_id=ex.user_id,
                session_key=ex.session_key, name=f"openai - {ex.agent.agent_key}", channel="openai",
                status=status, error=error, input_preview=last_user[:500], output_preview=res.content[:500],
                input_tokens=res.usage.prompt_tokens, output_tokens=res.usage.completion_tokens,
                span_count=len(res.spans), llm_calls=res.llm_calls, tool_calls=res.tool_call_count,
                start_time=started, end_time=datetime.now(UTC),
            ),
            spans=res.spans,
            usage=traces.usage_of(
                res.spans, agent_id=ex.agent.id, agent_key=ex.agent.agent_key, user_id=ex.user_id,
                session_key=ex.session_key, run_id=run_id,
            ),
            session=_session_record(ex, res, last_user, run_id) if ex.session_key else None,
        )  # fmt: skip
        try:
            # The answer has been produced; this mirrors it into the session and the trace, in a
            # batch with the other exchanges that finish meanwhile. The client hears back after.
            await write_record(self._records, record)
        except Exception as exc:
            log.error(
                "openai.record_failed", error=str(exc), exchange_id=ex.id, status=status,
                agent=ex.agent.agent_key, user_id=ex.user_id,
                session_key=ex.session_key, question=last_user, answer=res.content,
                tool_calls=[msgspec.to_builtins(c) for c in res.tool_calls],
            )  # fmt: skip
            return False
        return True

    @staticmethod
    async def drain(ex: Exchange) -> AsyncIterator[LoopEvent]:
        """The loop's events until it ends (a streamed exchange); then ask for its ``outcome``."""
        while (event := await ex.events.get()) is not None:
            yield event

    @staticmethod
    async def outcome(ex: Exchange) -> LoopResult:
        """The exchange's result, once it is recorded.

        Raises: UpstreamError (502) when the run could not finish, Unavailable when its answer
        could not be recorded. Cancellation (the request ending) cancels the exchange.
        """
        assert ex.task is not None
        return await ex.task  # RunFailed is an UpstreamError: 502, as over WebSocket

    @staticmethod
    async def abandon(ex: Exchange) -> None:
        """The client went away before the end (or the stream is over): stop calling the model and
        wait until the exchange is recorded as it stands. Never raises."""
        if ex.task is not None and not ex.task.done():
            ex.task.cancel()
            with contextlib.suppress(BaseException):  # its outcome is nobody's any more
                await ex.task


def _session_record(ex: Exchange, res: LoopResult, question: str, run_id: UUID) -> traces.ExchangeSession:
    """The exchange's question and the messages it produced, for its session."""
    produced = list(res.produced)
    if res.tool_calls:
        produced.append(ChatMessage(role="assistant", content=res.content, tool_calls=res.tool_calls))
    answers = [
        traces.ExchangeMessage(
            role=m.role, content=m.content, thinking=m.thinking, tool_call_id=m.tool_call_id, run_id=run_id,
            tool_calls=[traces.RecordedToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in m.tool_calls],
        )
        for m in produced
    ]  # fmt: skip
    return traces.ExchangeSession(
        key=ex.session_key, agent_id=ex.agent.id, user_id=ex.user_id, channel="openai", model=res.model,
        provider=res.provider, input_tokens=res.usage.prompt_tokens, output_tokens=res.usage.completion_tokens,
        messages=[traces.ExchangeMessage(role="user", content=question, run_id=run_id), *answers],
    )  # fmt: skip


def _ignore(kind: str, payload: LoopEvent) -> None:
    pass
