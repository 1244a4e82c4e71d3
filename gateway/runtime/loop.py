"""The agent loop: call the model (streaming or not, with retries and the fallback chain), run the
tools it asks for (in parallel), repeat until it answers, and report everything as run events.

The loop knows nothing about sockets or storage: ``LoopHooks`` persist what it produces and hand
back messages that arrived meanwhile (injection at turn boundaries); ``emit`` publishes events.
Cancellation (abort) propagates out of ``AgentLoop.run`` at the next await.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import msgspec
import orjson
import structlog
from msgspec import UNSET

from clawgate.errors import UpstreamError
from clawgate.providers.retry import ProviderError, RetryPolicy, with_retries
from clawgate.providers.types import (
    Accumulator,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    Fragments,
    StreamChunk,
    ToolCall,
    ToolSpec,
    Usage,
)
from clawgate.runtime.events import (
    Activity,
    BlockReply,
    Chunk,
    LoopEvent,
    Retrying,
    Thinking,
    ToolCallDeltas,
    ToolCalled,
    ToolResult,
)
from clawgate.runtime.llm import Target
from clawgate.store.traces import NewSpan
from clawgate.tools import Tool, ToolContext, ToolError

__all__ = ["AgentLoop", "LoopHooks", "LoopInput", "LoopResult", "RunFailed"]

log = structlog.get_logger("clawgate.loop")

Emit = Callable[[str, LoopEvent], None]
"""Publishes one event of the loop: its kind (``chunk``, ``tool.call`` ...) and payload."""
_RESULT_PREVIEW = 1000
_TOOL_TIMEOUT = 120.0
_LOOP_WARN, _LOOP_STOP = 3, 5
INJECTED_PREFIX = "[User sent a follow-up message while you were working]\n"


class RunFailed(UpstreamError):
    """The run cannot finish; the message is shown to the user as the run's error.

    An ``UpstreamError`` (UNAVAILABLE, 502), so that every transport maps it through the one error
    table (``clawgate.errors``): 502 over REST, ``UNAVAILABLE`` over WebSocket (issue 10, item 9).
    """

    default_key = "run_failed"  # the detail names the provider and its error

    def __init__(self, detail: str) -> None:
        super().__init__(detail=detail)


class LoopHooks(Protocol):
    async def checkpoint(self, produced: list[ChatMessage]) -> list[ChatMessage]:
        """Persist a finished tool round; return user messages that arrived meanwhile."""
        ...

    async def finalize(self, answer: ChatMessage, usage: Usage) -> list[ChatMessage]:
        """Persist the answer and try to end the run; return user messages that arrived meanwhile
        (then the run goes on), or [] when the run has ended."""
        ...


class NoHooks:
    """Hooks for callers that persist at the end themselves (OpenAI-compatible requests)."""

    async def checkpoint(self, produced: list[ChatMessage]) -> list[ChatMessage]:
        return []

    async def finalize(self, answer: ChatMessage, usage: Usage) -> list[ChatMessage]:
        return []


@dataclass(slots=True)
class LoopInput:
    targets: list[Target]
    system_prompt: str
    messages: list[ChatMessage]
    tool_context: ToolContext
    tools: list[Tool] = field(default_factory=list)
    client_tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: Any = None
    stream: bool = True
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    thinking: str = ""
    max_iterations: int = 20
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    fragments: Fragments | None = None  # kept encoded messages (a session's context), if any


@dataclass(slots=True)
class LoopResult:
    content: str = ""
    thinking: str = ""
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    tool_calls: list[ToolCall] = field(default_factory=list)  # client-tool mode only
    produced: list[ChatMessage] = field(default_factory=list)
    spans: list[NewSpan] = field(default_factory=list)
    llm_calls: int = 0
    tool_call_count: int = 0
    model: str = ""
    provider: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


def _parse_args(text: str) -> tuple[dict[str, Any] | None, str]:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError as exc:
        return None, f"arguments are not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, "arguments must be a JSON object"
    return value, ""


class AgentLoop:
    def __init__(self, inp: LoopInput, emit: Emit, hooks: LoopHooks) -> None:
        self.inp = inp
        self.emit = emit
        self.hooks = hooks
        self.messages = list(inp.messages)
        self.result = LoopResult()
        self._repeats: dict[tuple[str, str], int] = {}
        self._tools = {t.spec.name: t for t in inp.tools}
        self._storing: asyncio.Task[list[ChatMessage]] | None = None  # the last tool round's checkpoint

    async def run(self) -> LoopResult:
        """Run to the final answer. Raises: RunFailed; CancelledError on abort.

        A finished tool round is stored (``hooks.checkpoint``) while the model is called with it:
        the next model call does not wait for the commit, and the loop waits for it before it
        stores anything else (the next round, the answer) and before it ends, however it ends
        (an abort, a failure), so that a run's messages are stored in their order and a tool round
        whose storing began is committed before the run's end is recorded. Messages injected
        meanwhile are taken once the model has answered (for the call after)."""
        try:
            return await self._run()
        finally:
            if self._storing is not None:  # the run failed or was aborted while storing a round
                with contextlib.suppress(Exception):  # its own error is the one to report
                    await asyncio.shield(self._storing)

    async def _run(self) -> LoopResult:
        inp, res = self.inp, self.result
        iteration = 0
        while True:
            if iteration >= inp.max_iterations:
                await self._stored()
                res.content = res.content or f"[Stopped after {inp.max_iterations} tool iterations]"
                res.finish_reason = "length"
                answer = ChatMessage(role="assistant", content=res.content)
                res.produced.append(answer)
                await self.hooks.finalize(answer, res.usage)
                return res
            iteration += 1
            self.emit("activity", Activity(phase="thinking", iteration=iteration))
            response = await self._call_llm()
            injected = await self._stored()
            res.content, res.thinking, res.finish_reason = (
                response.content,
                response.thinking,
                response.finish_reason,
            )
            if response.tool_calls and (inp.client_tools or not self._tools):
                # The caller's tools (OpenAI-compatible passthrough): hand the calls back.
                res.tool_calls = response.tool_calls
                res.finish_reason = "tool_calls"
                return res
            if response.tool_calls:
                if response.content:
                    self.emit("block.reply", BlockReply(content=response.content))
                produced = await self._tool_round(response, iteration)
                self._take(injected)
                self._storing = asyncio.create_task(self.hooks.checkpoint(produced))
                continue
            answer = ChatMessage(role="assistant", content=response.content, thinking=response.thinking)
            res.produced.append(answer)
            self.messages.append(answer)
            if injected:  # came in while the model answered: the answer is stored, the run goes on
                self._take(injected + await self.hooks.checkpoint([answer]))
                continue
            injected = await self.hooks.finalize(answer, res.usage)
            if not injected:
                return res
            self._take(injected)

    async def _stored(self) -> list[ChatMessage]:
        """Wait for the tool round being stored, if any; the user messages injected meanwhile.
        Raises: what storing it raised."""
        if self._storing is None:
            return []
        injected = await asyncio.shield(self._storing)  # an abort meanwhile: ``run`` waits for it
        self._storing = None
        return injected

    def _take(self, injected: list[ChatMessage]) -> None:
        for message in injected:
            self.emit("activity", Activity(phase="injected_message", content=message.content[:200]))
            self.messages.append(ChatMessage(role="user", content=INJECTED_PREFIX + message.content))

    # -- the model ------------------------------------------------------------------------------

    def _request(self) -> ChatRequest:
        inp = self.inp
        system = [ChatMessage(role="system", content=inp.system_prompt)] if inp.system_prompt else []
        specs = inp.client_tools or [t.spec for t in inp.tools]
        return ChatRequest(
            model="",
            messages=system + self.messages,
            tools=specs,
            tool_choice=inp.tool_choice if specs else None,
            temperature=inp.temperature,
            max_tokens=inp.max_tokens,
            stop=inp.stop,
            thinking=inp.thinking,
            fragments=inp.fragments,
        )

    async def _call_llm(self) -> ChatResponse:
        """One model call down the fallback chain. Streaming falls back only before the first chunk."""
        base = self._request()
        errors: list[str] = []
        for target in self.inp.targets:
            request = msgspec.structs.replace(base, model=target.model)
            started = _now()
            try:
                if self.inp.stream:
                    response = await self._stream(target, request)
                else:
                    response = await with_retries(_chat_call(target, request), self.inp.retry, self._retrying)
            except _MidStream as exc:
                self._span_llm(target, started, None, exc.message("en"))
                raise RunFailed(f"{target.provider}/{target.model}: {exc.message('en')}") from exc
            except ProviderError as exc:
                self._span_llm(target, started, None, exc.message("en"))
                errors.append(f"{target.provider}/{target.model}: {exc.message('en')}")
                continue
            self._span_llm(target, started, response, "")
            return response
        raise RunFailed("all providers failed: " + "; ".join(errors))

    async def _retrying(self, attempt: int, exc: ProviderError) -> None:
        self.emit(
            "run.retrying",
            Retrying(attempt=attempt, maxAttempts=self.inp.retry.attempts, error=exc.message("en")),
        )

    async def _stream(self, target: Target, request: ChatRequest) -> ChatResponse:
        async def opening() -> tuple[StreamChunk, Any]:
            iterator = aiter(target.client.stream(request))
            try:
                first = await anext(iterator)
            except StopAsyncIteration:
                raise ProviderError("the stream ended without any data") from None
            return first, iterator

        first, iterator = await with_retries(opening, self.inp.retry, self._retrying)
        acc = Accumulator(target.model)
        self._on_chunk(first, acc)
        try:
            async for chunk in iterator:
                self._on_chunk(chunk, acc)
        except ProviderError as exc:
            raise _MidStream(exc) from exc
        finally:
            await iterator.aclose()
        return acc.result()

    def _on_chunk(self, chunk: StreamChunk, acc: Accumulator) -> None:
        acc.add(chunk)
        if chunk.content:
            self.emit("chunk", Chunk(content=chunk.content))
        if chunk.thinking:
            self.emit("thinking", Thinking(content=chunk.thinking))
        if chunk.tool_calls and self.inp.client_tools:
            # Passthrough mode: the caller streams the model's tool calls to its own client.
            self.emit("tool_call_delta", ToolCallDeltas(tool_calls=chunk.tool_calls))

    def _span_llm(self, target: Target, started: datetime, response: ChatResponse | None, error: str) -> None:
        res = self.result
        if response is not None:
            res.usage = res.usage.add(response.usage)
            res.llm_calls += 1
            res.model, res.provider = target.model, target.provider
        res.spans.append(
            NewSpan(
                span_type="llm_call",
                name=f"{target.provider}/{target.model}",
                start_time=started,
                end_time=_now(),
                status="error" if error else "completed",
                model=target.model,
                provider=target.provider,
                input_tokens=response.usage.prompt_tokens if response else 0,
                output_tokens=response.usage.completion_tokens if response else 0,
                finish_reason=response.finish_reason if response else "",
                output_preview=(response.content if response else "")[:500],
                error=error[:500],
            )
        )

    # -- tools ----------------------------------------------------------------------------------

    async def _tool_round(self, response: ChatResponse, iteration: int) -> list[ChatMessage]:
        assistant = ChatMessage(
            role="assistant", content=response.content, tool_calls=response.tool_calls,
            thinking=response.thinking, thinking_signature=response.thinking_signature,
        )  # fmt: skip
        self.emit("activity", Activity(phase="tool_exec", iteration=iteration))
        results = await asyncio.gather(*(self._run_tool(call) for call in response.tool_calls))
        produced = [assistant, *results]
        self.messages += produced
        self.result.produced += produced
        return produced

    async def _run_tool(self, call: ToolCall) -> ChatMessage:
        args, problem = _parse_args(call.arguments)
        arguments = args if args is not None else call.arguments
        self.emit("tool.call", ToolCalled(name=call.name, id=call.id, arguments=arguments))
        started = _now()
        key = (
            call.name,
            orjson.dumps(args, option=orjson.OPT_SORT_KEYS).decode() if args is not None else call.arguments,
        )
        self._repeats[key] = repeats = self._repeats.get(key, 0) + 1
        if repeats >= _LOOP_STOP:
            raise RunFailed(f"tool loop detected: {call.name} called {repeats} times with the same arguments")
        tool = self._tools.get(call.name)
        is_error = True
        if tool is None:
            text = f"unknown tool {call.name!r}; available: {sorted(self._tools)}"
        elif args is None:
            text = problem
        else:
            try:
                async with asyncio.timeout(_TOOL_TIMEOUT):
                    text = await tool.fn(self.inp.tool_context, args)
                is_error = False
            except ToolError as exc:
                text = str(exc)
            except TimeoutError:
                text = f"tool {call.name} timed out after {_TOOL_TIMEOUT:.0f} s"
            except Exception as exc:
                log.warning("tool.failed", tool=call.name, error=repr(exc))
                text = f"tool {call.name} failed: {exc.__class__.__name__}: {exc}"
        if repeats >= _LOOP_WARN:
            text += (
                f"\n[Warning: you have called {call.name} with the same arguments {repeats} times. "
                "Stop repeating it and answer with what you have.]"
            )
        self.result.tool_call_count += 1
        preview = text[:_RESULT_PREVIEW]
        self.emit("tool.result", ToolResult(name=call.name, id=call.id, is_error=is_error, arguments=arguments,
                                            result=preview, content=preview if is_error else UNSET))  # fmt: skip
        self.result.spans.append(
            NewSpan(
                span_type="tool_call",
                name=call.name,
                start_time=started,
                end_time=_now(),
                status="error" if is_error else "completed",
                tool_name=call.name,
                tool_call_id=call.id,
                input_preview=call.arguments[:500],
                output_preview=text[:500],
                error=text[:500] if is_error else "",
            )
        )
        return ChatMessage(role="tool", content=text, tool_call_id=call.id, name=call.name)


def _chat_call(target: Target, request: ChatRequest) -> Callable[[], Awaitable[ChatResponse]]:
    async def call() -> ChatResponse:
        return await target.client.chat(request)

    return call


class _MidStream(ProviderError):
    """A stream failed after its first chunk: no fallback (the user already saw output)."""

    def __init__(self, cause: ProviderError) -> None:
        super().__init__(cause.message("en"), status_code=cause.status_code)
