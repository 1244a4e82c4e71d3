"""OpenAI-compatible adapter: ``GET {base}/models``, ``POST {base}/chat/completions`` (plain and SSE,
with tool calls and ``stream_options.include_usage``) and ``POST {base}/embeddings``."""

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

__all__ = ["OpenAICompatClient", "to_openai_messages"]

_WIRE = "openai"

_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
    "content_filter": "content_filter",
}


def to_openai_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [_openai_message(m) for m in messages]


def _openai_message(m: ChatMessage) -> dict[str, Any]:
    item: dict[str, Any] = {"role": m.role, "content": m.content}
    if m.name:
        item["name"] = m.name
    if m.tool_calls:
        item["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in m.tool_calls
        ]
        if not m.content:
            item["content"] = None
    if m.role == "tool":
        item["tool_call_id"] = m.tool_call_id
    return item


def _encoded_message(m: ChatMessage) -> bytes:
    return orjson.dumps(_openai_message(m))


def _messages(request: ChatRequest) -> Any:
    """The request's messages as the body carries them: encoded from the kept fragments when the
    request has them (only new messages are encoded), else as plain JSON values."""
    if request.fragments is None:
        return to_openai_messages(request.messages)
    return orjson.Fragment(request.fragments.encode(_WIRE, request.messages, _encoded_message))


_tools = EncodedTools(
    lambda t: {
        "type": "function",
        "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
    }
)


def _body(request: ChatRequest, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"model": request.model, "messages": _messages(request)}
    if request.tools:
        body["tools"] = _tools(request.tools)
        if request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.stop:
        body["stop"] = request.stop
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _usage(data: Any) -> Usage | None:
    if not isinstance(data, dict):
        return None
    prompt, completion = int(data.get("prompt_tokens") or 0), int(data.get("completion_tokens") or 0)
    details = data.get("prompt_tokens_details") or {}
    return Usage(
        prompt_tokens=prompt,
        completion_tokens=completion,
        total_tokens=int(data.get("total_tokens") or prompt + completion),
        cache_read_tokens=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )


class OpenAICompatClient(HttpAdapter):
    def __init__(
        self, api_base: str, api_key: str, http: aiohttp.ClientSession, name: str = "openai"
    ) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        super().__init__(api_base.rstrip("/"), headers, http, name)

    async def chat(self, request: ChatRequest) -> ChatResponse:
        data = await request_json(
            self._http, "POST", self.base + "/chat/completions", self._json_headers, _body(request, False)
        )
        try:
            choice = data["choices"][0]
            message = choice.get("message") or {}
            calls = [
                ToolCall(id=str(c.get("id") or ""), name=str(c["function"]["name"]),
                         arguments=str(c["function"].get("arguments") or "{}"))
                for c in message.get("tool_calls") or []
            ]  # fmt: skip
            return ChatResponse(
                content=str(message.get("content") or ""),
                thinking=str(message.get("reasoning_content") or message.get("reasoning") or ""),
                tool_calls=calls,
                finish_reason=_FINISH.get(
                    str(choice.get("finish_reason")), "tool_calls" if calls else "stop"
                ),
                usage=_usage(data.get("usage")) or Usage(),
                model=str(data.get("model") or request.model),
            )
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(f"malformed chat completion from {self.base}: {exc!r}") from exc

    async def embeddings(self, model: str, texts: list[str]) -> tuple[list[list[float]], int]:
        """``POST {base}/embeddings``: one vector per text, in order, and the tokens counted.

        Raises: ProviderError for an error answer, a transport failure or a malformed body.
        """
        data = await request_json(
            self._http, "POST", self.base + "/embeddings", self._json_headers,
            {"model": model, "input": texts, "encoding_format": "float"},
        )  # fmt: skip
        try:
            items = sorted(data["data"], key=lambda item: int(item["index"]))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
            tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ProviderError(f"malformed embeddings answer from {self.base}: {exc!r}") from exc
        if len(vectors) != len(texts):
            raise ProviderError(f"{self.base} answered {len(vectors)} embeddings for {len(texts)} inputs")
        return vectors, tokens

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        url = self.base + "/chat/completions"
        try:
            async with open_stream(
                self._http, "POST", url, self._json_headers, orjson.dumps(_body(request, True))
            ) as response:
                await raise_for_status(response)
                saw_finish = False
                async with contextlib.aclosing(sse_data(response, self.base)) as events:
                    async for data in events:
                        if data == "[DONE]":
                            break
                        chunk = self._chunk(data)
                        if chunk is not None:
                            saw_finish = saw_finish or chunk.finish_reason is not None
                            yield chunk
                if not saw_finish:
                    raise ProviderError(f"stream from {self.base} ended before finish_reason (cut off)")
        except TRANSPORT_ERRORS as exc:
            raise upstream_error(exc, url) from exc

    def _chunk(self, data: str) -> StreamChunk | None:
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ProviderError(f"garbled stream event from {self.base}: {data[:100]!r}") from exc
        if not isinstance(event, dict):
            return None
        if "error" in event:
            raise ProviderError(f"upstream stream error: {str(event['error'])[:300]}")
        usage = _usage(event.get("usage"))
        choices = event.get("choices") or []
        if not choices:
            return StreamChunk(usage=usage) if usage is not None else None
        choice = choices[0]
        delta = choice.get("delta") or {}
        deltas = [
            ToolCallDelta(
                index=int(c.get("index") or 0), id=str(c.get("id") or ""),
                name=str((c.get("function") or {}).get("name") or ""),
                arguments=str((c.get("function") or {}).get("arguments") or ""),
            )
            for c in delta.get("tool_calls") or []
        ]  # fmt: skip
        finish = choice.get("finish_reason")
        return StreamChunk(
            content=str(delta.get("content") or ""),
            thinking=str(delta.get("reasoning_content") or delta.get("reasoning") or ""),
            tool_calls=deltas,
            finish_reason=_FINISH.get(str(finish), "stop") if finish else None,
            usage=usage,
        )
