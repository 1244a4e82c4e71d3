"""Anthropic Messages adapter: ``GET {base}/v1/models``, ``POST {base}/v1/messages`` (plain and SSE),
with the system prompt as a separate field, ``tool_use``/``tool_result`` blocks and thinking."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from clawgate.providers.base import (
    TRANSPORT_ERRORS,
    EncodedTools,
    HttpAdapter,
    open_stream,
    raise_for_status,
    request_json,
    sse_data,
    upstream_error,
)
from clawgate.providers.retry import ProviderError
from clawgate.providers.types import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    FinishReason,
    StreamChunk,
    ToolCall,
    ToolCallDelta,
    Usage,
)

__all__ = ["ANTHROPIC_VERSION", "AnthropicClient", "to_anthropic"]

ANTHROPIC_VERSION = "2023-06-01"
_WIRE = "anthropic"
_THINKING_BUDGET = {"low": 4096, "medium": 10240, "high": 32768}
_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


def _arguments(text: str) -> Any:
    try:
        value = orjson.loads(text or "{}")
    except orjson.JSONDecodeError:
        return {"_raw": text}
    return value if isinstance(value, dict) else {"value": value}


def to_anthropic(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """(system text, Messages-API messages). Consecutive tool results merge into one user turn."""
    out: list[dict[str, Any]] = []
    for m in messages:
        item = _item(m)
        if item is None:
            continue
        if m.role == "tool":
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(item)
            else:
                out.append({"role": "user", "content": [item]})
            continue
        out.append(item)
    return _system(messages), out


def _system(messages: list[ChatMessage]) -> str:
    return "\n\n".join(m.content for m in messages if m.role == "system" and m.content)


def _item(m: ChatMessage) -> dict[str, Any] | None:
    """What one message is on the wire: a message, a ``tool_result`` block (of a user turn), or
    nothing (a system message: the ``system`` field carries it)."""
    if m.role == "system":
        return None
    if m.role == "tool":
        return {"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}
    if m.role == "assistant" and m.tool_calls:
        blocks: list[dict[str, Any]] = []
        if m.thinking and m.thinking_signature:
            # With thinking on, the API wants the signed block back ahead of the tool_use.
            blocks.append({"type": "thinking", "thinking": m.thinking, "signature": m.thinking_signature})
        if m.content:
            blocks.append({"type": "text", "text": m.content})
        blocks += [
            {"type": "tool_use", "id": c.id, "name": c.name, "input": _arguments(c.arguments)}
            for c in m.tool_calls
        ]
        return {"role": "assistant", "content": blocks}
    return {"role": m.role, "content": m.content}


def _encoded_item(m: ChatMessage) -> bytes:
    item = _item(m)
    return b"" if item is None else orjson.dumps(item)


def _messages(request: ChatRequest) -> Any:
    """The request's messages as the body carries them: from the kept fragments when the request
    has them (only new messages are encoded; consecutive tool results joined into one user turn
    as ``to_anthropic`` does), else as plain JSON values."""
    if request.fragments is None:
        return to_anthropic(request.messages)[1]
    parts = request.fragments.parts(_WIRE, request.messages, _encoded_item)
    out: list[bytes] = []
    results: list[bytes] = []
    for m, part in zip(request.messages, parts, strict=True):
        if m.role == "system":
            continue
        if m.role == "tool":
            results.append(part)
            continue
        if results:
            out.append(b'{"role":"user","content":[' + b",".join(results) + b"]}")
            results = []
        out.append(part)
    if results:
        out.append(b'{"role":"user","content":[' + b",".join(results) + b"]}")
    return orjson.Fragment(b"[" + b",".join(out) + b"]")


_tools = EncodedTools(lambda t: {"name": t.name, "description": t.description, "input_schema": t.parameters})


def _body(request: ChatRequest, stream: bool) -> dict[str, Any]:
    system = _system(request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "messages": _messages(request),
        "max_tokens": request.max_tokens or 8192,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = _tools(request.tools)
    if request.temperature is not None and not request.thinking:
        body["temperature"] = request.temperature
    if request.stop:
        body["stop_sequences"] = request.stop
    if request.thinking in _THINKING_BUDGET:
        budget = _THINKING_BUDGET[request.thinking]
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        body["max_tokens"] = max(body["max_tokens"], budget + 1024)
    if stream:
        body["stream"] = True
    return body


def _usage(data: Any) -> Usage:
    if not isinstance(data, dict):
        return Usage()
    prompt = int(data.get("input_tokens") or 0)
    completion = int(data.get("output_tokens") or 0)
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=prompt + completion,
        cache_creation_tokens=int(data.get("cache_creation_input_tokens") or 0),
        cache_read_tokens=int(data.get("cache_read_input_tokens") or 0),
    )


class AnthropicClient(HttpAdapter):
    models_path = "/v1/models"

    def __init__(
        self, api_base: str, api_key: str, http: aiohttp.ClientSession, name: str = "anthropic"
    ) -> None:
        base = api_base.rstrip("/")
        headers = {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}
        super().__init__(base[:-3] if base.endswith("/v1") else base, headers, http, name)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        data = await request_json(
            self._http, "POST", self.base + "/v1/messages", self._json_headers, _body(request, False)
        )
        if not isinstance(data, dict) or data.get("type") != "message":
            raise ProviderError(f"malformed messages response from {self.base}")
        text, thinking, signature, calls = [], [], [], []
        for block in data.get("content") or []:
            kind = block.get("type")
            if kind == "text":
                text.append(str(block.get("text") or ""))
            elif kind == "thinking":
                thinking.append(str(block.get("thinking") or ""))
                signature.append(str(block.get("signature") or ""))
            elif kind == "tool_use":
                calls.append(
                    ToolCall(id=str(block.get("id")), name=str(block.get("name")),
                             arguments=orjson.dumps(block.get("input") or {}).decode())
                )  # fmt: skip
        return ChatResponse(
            content="".join(text),
            thinking="".join(thinking),
            thinking_signature="".join(signature),
            tool_calls=calls,
            finish_reason=_STOP.get(str(data.get("stop_reason")), "stop"),
            usage=_usage(data.get("usage")),
            model=str(data.get("model") or request.model),
        )

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        url = self.base + "/v1/messages"
        try:
            async with open_stream(
                self._http, "POST", url, self._json_headers, orjson.dumps(_body(request, True))
            ) as response:
                await raise_for_status(response)
                state = _StreamState()
                async with contextlib.aclosing(sse_data(response, self.base)) as events:
                    async for data in events:
                        chunk = state.feed(data, self.base)
                        if chunk is not None:
                            yield chunk
                        if state.stopped:
                            break
                if not state.stopped:
                    raise ProviderError(f"stream from {self.base} ended before message_stop (cut off)")
        except TRANSPORT_ERRORS as exc:
            raise upstream_error(exc, url) from exc


class _StreamState:
    """Turns Anthropic SSE events into ``StreamChunk``s."""

    def __init__(self) -> None:
        self.usage = Usage()
        self.blocks: dict[int, int] = {}  # content block index -> tool call index
        self.stopped = False

    def feed(self, data: str, base: str) -> StreamChunk | None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"garbled stream event from {base}: {data[:100]!r}") from exc
        kind = event.get("type") if isinstance(event, dict) else None
        if kind == "message_start":
            self.usage = _usage((event.get("message") or {}).get("usage"))
        elif kind == "content_block_start":
            block = event.get("content_block") or {}
            if block.get("type") == "tool_use":
                index = self.blocks[int(event.get("index") or 0)] = len(self.blocks)
                return StreamChunk(
                    tool_calls=[
                        ToolCallDelta(index=index, id=str(block.get("id")), name=str(block.get("name")))
                    ]
                )
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            dtype = delta.get("type")
            if dtype == "text_delta":
                return StreamChunk(content=str(delta.get("text") or ""))
            if dtype == "thinking_delta":
                return StreamChunk(thinking=str(delta.get("thinking") or ""))
            if dtype == "signature_delta":
                return StreamChunk(thinking_signature=str(delta.get("signature") or ""))
            if dtype == "input_json_delta":
                index = self.blocks.get(int(event.get("index") or 0), 0)
                return StreamChunk(
                    tool_calls=[ToolCallDelta(index=index, arguments=str(delta.get("partial_json") or ""))]
                )
        elif kind == "message_delta":
            out = _usage(event.get("usage"))
            self.usage = Usage(
                prompt_tokens=self.usage.prompt_tokens or out.prompt_tokens,
                completion_tokens=out.completion_tokens,
                total_tokens=(self.usage.prompt_tokens or out.prompt_tokens) + out.completion_tokens,
                cache_creation_tokens=self.usage.cache_creation_tokens,
                cache_read_tokens=self.usage.cache_read_tokens,
            )
            stop = (event.get("delta") or {}).get("stop_reason")
            return StreamChunk(finish_reason=_STOP.get(str(stop), "stop"), usage=self.usage)
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            error = event.get("error") or {}
            raise ProviderError(f"upstream stream error: {error.get('message') or error}")
        return None
