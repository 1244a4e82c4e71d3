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
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
import structlog
from msgspec import Meta, Struct

from clawgate.errors import InvalidRequest, NotFound, Unavailable, UpstreamError
from clawgate.principal import Principal, Role
from clawgate.providers.types import ChatMessage, ToolCall, ToolSpec, Usage
from clawgate.ratelimit import RateLimiter
from clawgate.runtime.loop import AgentLoop, LoopResult, NoHooks, RunFailed
from clawgate.runtime.runs import RunManager
from clawgate.services import require
from clawgate.services.agents import AgentService
from clawgate.store import Database
from clawgate.store.types import AgentRow
from clawgate.tools import ToolContext
from clawgate.wire import ChatText, Positive

log = structlog.get_logger("clawgate.openai")

__all__ = ["ChatCompletionRequest", "Exchange", "OpenAIService", "ResponsesRequest"]

_MODEL_PREFIXES = ("clawgate:", "goclaw:", "agent:")
_SAFE = re.compile(r"[^A-Za-z0-9_.@-]+")
_RETRY_UNRECORDED_MS = 2000
"""``Retry-After`` of an answer that could not be recorded (the database is failing over or back)."""


class _ContentPart(Struct, kw_only=True):
    type: str
    text: ChatText = ""


class _FunctionCall(Struct, kw_only=True):
    name: str
    arguments: str = "{}"


class _ToolCallIn(Struct, kw_only=True):
    id: str
    function: _FunctionCall
    type: str = "function"


class OAMessage(Struct, kw_only=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: ChatText | list[_ContentPart] | None = None
    name: str | None = None
    tool_calls: list[_ToolCallIn] | None = None
    tool_call_id: str | None = None


class _Function(Struct, kw_only=True):
    name: Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    description: str = ""
    parameters: dict[str, Any] = {}
    strict: bool | None = None


class OATool(Struct, kw_only=True):
    type: Literal["function"]
    function: _Function


class _StreamOptions(Struct, kw_only=True):
    include_usage: bool = False


class ChatCompletionRequest(Struct, kw_only=True):
    """``POST /v1/chat/completions``. Fields the gateway does not use are accepted and ignored, as
    OpenAI's SDK sends many; the ones it uses are validated."""

    model: Annotated[str, Meta(min_length=1)]
    messages: Annotated[list[OAMessage], Meta(min_length=1)]
    stream: bool = False
    stream_options: _StreamOptions | None = None
    tools: list[OATool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    max_tokens: Positive | None = None
    max_completion_tokens: Positive | None = None
    stop: str | list[str] | None = None
    user: Annotated[str, Meta(max_length=255)] | None = None
    n: Annotated[int, Meta(ge=1, le=1)] | None = None


class _InputContent(Struct, kw_only=True):
    type: str
    text: ChatText = ""


class _InputItem(Struct, kw_only=True):
    type: str = "message"
    role: Literal["system", "developer", "user", "assistant"] | None = None
    content: ChatText | list[_InputContent] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: ChatText | None = None


class _ResponsesTool(Struct, kw_only=True):
    type: Literal["function"]
    name: str
    description: str = ""
    parameters: dict[str, Any] = {}
    strict: bool | None = None


class ResponsesRequest(Struct, kw_only=True):
    """``POST /v1/responses`` (OpenAI Responses API), also accepting GoClaw's ``messages`` form."""

    model: Annotated[str, Meta(min_length=1)]
    input: ChatText | list[_InputItem] | None = None
    messages: list[OAMessage] | None = None
    instructions: str | None = None
    stream: bool = False
    tools: list[_ResponsesTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    max_output_tokens: Positive | None = None
    max_tokens: Positive | None = None
    user: Annotated[str, Meta(max_length=255)] | None = None


def _text(content: str | list[Any] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.type in {"text", "input_text", "output_text"}:
            parts.append(part.text)
        else:
            raise InvalidRequest(
                detail=f"content part type {part.type!r} is not supported; send text",
                details={"param": "messages"},
            )
    return "\n".join(parts)


def chat_messages(messages: list[OAMessage]) -> list[ChatMessage]:
    out = []
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
            for c in m.tool_calls or []
        ]
        out.append(
            ChatMessage(
                role=role,
                content=_text(m.content),
                name=m.name or "",
                tool_calls=calls,
                tool_call_id=m.tool_call_id or "",
            )
        )
    return out


def response_messages(req: ResponsesRequest) -> list[ChatMessage]:
    if req.messages is not None:
        out = chat_messages(req.messages)
    elif isinstance(req.input, str):
        out = [ChatMessage(role="user", content=req.input)]
    elif req.input:
        out = []
        for item in req.input:
            if item.type == "function_call":
                call = ToolCall(id=item.call_id or "", name=item.name or "", arguments=item.arguments or "{}")
                if out and out[-1].role == "assistant" and not out[-1].content:
                    out[-1].tool_calls.append(call)
                else:
                    out.append(ChatMessage(role="assistant", tool_calls=[call]))
            elif item.type == "function_call_output":
                out.append(
                    ChatMessage(role="tool", content=item.output or "", tool_call_id=item.call_id or "")
                )
            else:
                role = "system" if item.role == "developer" else (item.role or "user")
                out.append(ChatMessage(role=role, content=_text(item.content)))
    else:
        raise InvalidRequest(detail="input (or messages) is required", details={"param": "input"})
    if req.instructions:
        out.insert(0, ChatMessage(role="system", content=req.instructions))
    return out


@dataclass(slots=True)
class Exchange:
    """One OpenAI-compatible request in flight."""

    id: str
    created: int
    agent: AgentRow
    session_key: str
    user_id: str
    loop: AgentLoop
    events: asyncio.Queue[tuple[str, dict[str, Any]]] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[LoopResult] | None = None


class OpenAIService:
    """Exchanges: ``start`` one (its loop runs as a task), read its events (``drain``), await its
    ``outcome``, or ``abandon`` it when the client goes away."""

    def __init__(self, db: Database, agents: AgentService, runner: RunManager, limiter: RateLimiter) -> None:
        self._db = db
        self._agents = agents
        self._runner = runner
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

    async def models(self, who: Principal) -> list[AgentRow]:
        return await self._agents.list_agents(who)

    async def start(
        self,
        who: Principal,
        *,
        model: str,
        messages: list[ChatMessage],
        client_tools: list[ToolSpec],
        tool_choice: Any,
        stream: bool,
        temperature: float | None,
        max_tokens: int | None,
        stop: list[str] | None,
        user: str | None,
        session_header: str,
        agent_header: str,
        prefix: str,
    ) -> Exchange:
        """Resolve the agent and start the loop as a task; events arrive on ``Exchange.events``.
        The caller must see it to its end: ``outcome``, or ``abandon`` when it gives up.

        Raises: ResourceExhausted (``gateway.rate_limit_rpm`` per credential), NotFound (model),
        FailedPrecondition (no provider), InvalidRequest.
        """
        require(who, Role.OPERATOR, "chat completions")
        self._limiter.check(f"oa:{who.key_id or who.user_id or who.via}")
        if not any(m.role in {"user", "tool"} for m in messages):
            raise InvalidRequest(detail="messages must contain a user message", details={"param": "messages"})
        agent = await self.resolve_model(who, model, agent_header)
        targets = await self._runner.targets(agent)
        user_id = who.user_id or user or "openai"
        if session_header:
            key = session_header
        elif user:
            key = f"agent:{agent.agent_key}:openai:{_SAFE.sub('-', user)[:100]}"
        else:
            key = ""
        run_id = uuid.uuid4()
        exchange_id = f"{prefix}{run_id.hex[:24]}"
        tool_context = ToolContext(
            tenant_id=who.tenant_id, agent_id=agent.id, agent_key=agent.agent_key, session_key=key,
            user_id=user_id, run_id=run_id,
        )  # fmt: skip
        inp = await self._runner.loop_input(
            agent, messages, tool_context, stream=stream, targets=targets, client_tools=client_tools,
            tool_choice=tool_choice, temperature=temperature, max_tokens=max_tokens, stop=stop, thinking=False,
        )  # fmt: skip
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue()
        # A plain (not streamed) answer reads no events: they are not even queued.
        loop = AgentLoop(inp, (lambda kind, payload: queue.put_nowait((kind, payload))) if stream else _ignore,
                         NoHooks())  # fmt: skip
        exchange = Exchange(
            id=exchange_id, created=int(time.time()), agent=agent, session_key=key, user_id=user_id, loop=loop,
            events=queue,
        )  # fmt: skip
        exchange.task = asyncio.get_running_loop().create_task(self._run(who, exchange, messages, run_id))
        if stream:
            exchange.task.add_done_callback(lambda _: queue.put_nowait(_END))
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
        produced = list(res.produced)
        if res.tool_calls:
            produced.append(ChatMessage(role="assistant", content=res.content, tool_calls=res.tool_calls))
        session = None
        if ex.session_key:
            session = {
                "key": ex.session_key, "agent_id": ex.agent.id, "user_id": ex.user_id, "channel": "openai",
                "model": res.model, "provider": res.provider, "input_tokens": res.usage.prompt_tokens,
                "output_tokens": res.usage.completion_tokens,
                "messages": [{"role": "user", "content": last_user, "run_id": run_id}]
                + [{"role": m.role, "content": m.content, "thinking": m.thinking, "tool_call_id": m.tool_call_id,
                    "tool_calls": [msgspec.to_builtins(c) for c in m.tool_calls], "run_id": run_id}
                   for m in produced],
            }  # fmt: skip
        payload: dict[str, Any] = {
            "tenant_id": who.tenant_id,
            "trace": {
                "id": uuid.uuid4(), "run_id": run_id, "agent_id": ex.agent.id, "user_id": ex.user_id,
                "session_key": ex.session_key, "name": f"openai - {ex.agent.agent_key}", "channel": "openai",
                "status": status, "error": error, "input_preview": last_user[:500],
                "output_preview": res.content[:500], "input_tokens": res.usage.prompt_tokens,
                "output_tokens": res.usage.completion_tokens, "span_count": len(res.spans),
                "llm_calls": res.llm_calls, "tool_calls": res.tool_call_count, "start_time": started,
                "end_time": datetime.now(UTC),
            },
            "spans": [msgspec.to_builtins(sp) for sp in res.spans],
            "usage": [
                {"agent_id": ex.agent.id, "agent_key": ex.agent.agent_key, "user_id": ex.user_id,
                 "session_key": ex.session_key, "run_id": run_id, "model": sp.model, "provider": sp.provider,
                 "input_tokens": sp.input_tokens, "output_tokens": sp.output_tokens}
                for sp in res.spans if sp.span_type == "llm_call" and sp.status == "completed"
            ],
            "session": session,
        }  # fmt: skip
        try:
            # The answer has been produced; this mirrors it into the session and the trace, in a
            # batch with the other exchanges that finish meanwhile. The client hears back after.
            await self._records.write(payload)
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
    async def drain(ex: Exchange) -> AsyncIterator[tuple[str, dict[str, Any]]]:
        """The loop's events until it ends (a streamed exchange); then ask for its ``outcome``."""
        while True:
            event = await ex.events.get()
            if event is _END:
                return
            yield event

    @staticmethod
    async def outcome(ex: Exchange) -> LoopResult:
        """The exchange's result, once it is recorded.

        Raises: UpstreamError (502) when the run could not finish, Unavailable when its answer
        could not be recorded. Cancellation (the request ending) cancels the exchange.
        """
        assert ex.task is not None
        try:
            return await ex.task
        except RunFailed as exc:
            raise UpstreamError(detail=str(exc)) from None

    @staticmethod
    async def abandon(ex: Exchange) -> None:
        """The client went away before the end (or the stream is over): stop calling the model and
        wait until the exchange is recorded as it stands. Never raises."""
        if ex.task is not None and not ex.task.done():
            ex.task.cancel()
            with contextlib.suppress(BaseException):  # its outcome is nobody's any more
                await ex.task


def _ignore(kind: str, payload: dict[str, Any]) -> None:
    pass


_END: tuple[str, dict[str, Any]] = ("end", {})
"""Queued after the loop's last event when its task finishes (``drain`` stops there)."""


def usage_dict(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    }
