"""Provider-neutral chat types: what the run loop sends and what adapters return.

Messages follow the OpenAI chat shape (the lingua franca); the Anthropic adapter converts.
Tool-call ``arguments`` stay a JSON *string*, exactly as the model produced them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import msgspec
from msgspec import Struct

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "Fragments",
    "StreamChunk",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "Usage",
]

Role = Literal["system", "user", "assistant", "tool"]
FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]


class ToolCall(Struct, kw_only=True):
    id: str
    name: str
    arguments: str = "{}"


class ToolCallDelta(Struct, kw_only=True, omit_defaults=True):
    """A piece of a streamed tool call; ``index`` says which call it extends."""

    index: int
    id: str = ""
    name: str = ""
    arguments: str = ""


class ChatMessage(Struct, kw_only=True, omit_defaults=True):
    role: Role
    content: str = ""
    name: str = ""
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    tool_call_id: str = ""
    thinking: str = ""
    thinking_signature: str = ""  # Anthropic: sent back with the thinking block on tool turns


class ToolSpec(Struct, kw_only=True):
    name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "object", "properties": {}})


class Fragments:
    """Messages as one wire format encodes them, kept by whoever keeps the messages between requests
    (a session's kept context), so that a request encodes only the messages it has not sent before
    and a run costs the same at 1,000 messages of history as at 10 (issue 9).

    Entries are found by the message object itself (its identity, checked, never a stale id), and a
    request keeps only the messages it sent (``fresh``): nothing accumulates beyond one request.
    """

    __slots__ = ("_kept",)

    def __init__(self) -> None:
        self._kept: dict[int, tuple[ChatMessage, str, bytes]] = {}

    def encode(self, wire: str, messages: list[ChatMessage], one: Callable[[ChatMessage], bytes]) -> bytes:
        """``messages`` as the JSON array ``wire`` sends, each message encoded by ``one`` unless
        this request's predecessor sent that very message in the same wire format."""
        kept, fresh = self._kept, {}
        parts: list[bytes] = []
        for message in messages:
            entry = kept.get(id(message))
            if entry is None or entry[0] is not message or entry[1] != wire:
                entry = (message, wire, one(message))
            fresh[id(message)] = entry
            parts.append(entry[2])
        self._kept = fresh
        return b"[" + b",".join(parts) + b"]"

    def sent(self, message: ChatMessage) -> bytes | None:
        """What the last request sent for ``message``, if it sent that very message."""
        entry = self._kept.get(id(message))
        return entry[2] if entry is not None and entry[0] is message else None

    def __len__(self) -> int:
        return len(self._kept)


class ChatRequest(Struct, kw_only=True):
    model: str
    messages: list[ChatMessage]
    tools: list[ToolSpec] = msgspec.field(default_factory=list)
    tool_choice: Any = None
    temperature: float | None = None
    max_tokens: int | None = None
    stop: list[str] | None = None
    thinking: str = ""  # "", "low", "medium", "high"
    fragments: Fragments | None = None  # the encoded messages of the previous request, when kept


class Usage(Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cache_creation_tokens: int = 0
    cache_read_tokens: int = 0

    def add(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            total_tokens=self.total_tokens + other.total_tokens,
            cache_creation_tokens=self.cache_creation_tokens + other.cache_creation_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
        )


class ChatResponse(Struct, kw_only=True):
    content: str = ""
    thinking: str = ""
    thinking_signature: str = ""
    tool_calls: list[ToolCall] = msgspec.field(default_factory=list)
    finish_reason: FinishReason = "stop"
    usage: Usage = msgspec.field(default_factory=Usage)
    model: str = ""


class StreamChunk(Struct, kw_only=True, omit_defaults=True):
    content: str = ""
    thinking: str = ""
    thinking_signature: str = ""
    tool_calls: list[ToolCallDelta] = msgspec.field(default_factory=list)
    finish_reason: FinishReason | None = None
    usage: Usage | None = None


class Accumulator:
    """Folds stream chunks into the final ``ChatResponse``."""

    def __init__(self, model: str = "") -> None:
        self.content: list[str] = []
        self.thinking: list[str] = []
        self.signature: list[str] = []
        self.calls: dict[int, ToolCall] = {}
        self.finish: FinishReason = "stop"
        self.usage = Usage()
        self.model = model

    def add(self, chunk: StreamChunk) -> None:
        if chunk.content:
            self.content.append(chunk.content)
        if chunk.thinking:
            self.thinking.append(chunk.thinking)
        if chunk.thinking_signature:
            self.signature.append(chunk.thinking_signature)
        for delta in chunk.tool_calls:
            call = self.calls.get(delta.index)
            if call is None:
                call = self.calls[delta.index] = ToolCall(id=delta.id, name=delta.name, arguments="")
            if delta.id and not call.id:
                call.id = delta.id
            if delta.name and not call.name:
                call.name = delta.name
            call.arguments += delta.arguments
        if chunk.finish_reason:
            self.finish = chunk.finish_reason
        if chunk.usage is not None:
            self.usage = chunk.usage

    def result(self) -> ChatResponse:
        calls = [self.calls[i] for i in sorted(self.calls)]
        for call in calls:
            call.arguments = call.arguments or "{}"
        finish: FinishReason = "tool_calls" if calls and self.finish == "stop" else self.finish
        return ChatResponse(
            content="".join(self.content),
            thinking="".join(self.thinking),
            thinking_signature="".join(self.signature),
            tool_calls=calls,
            finish_reason=finish,
            usage=self.usage,
            model=self.model,
        )
