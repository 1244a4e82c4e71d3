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


class ToolSpec(Struct, kw_only=True, frozen=True):
    """A tool the model may call. Frozen: encodings are kept per spec object (``EncodedTools``)."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = msgspec.field(default_factory=lambda: {"type": "object", "properties": {}})


class Fragments:
    """Messages as one wire format encodes them, kept by whoever keeps the messages between requests
    (a session's kept context), so that a request encodes only the messages it has not sent before
    and a run costs about the same at 1,000 messages of history as at 10 (issue 9).

    It remembers the last request's messages and their encodings, position by position. A request
    whose messages after the first (the system prompt, new each run) start with the same messages
    as the last one's reuses their encodings after one comparison of the two lists (in C, the
    objects themselves: equal by identity); otherwise each position is reused only when it holds
    the very same message. Nothing accumulates beyond one request.
    """

    __slots__ = ("_messages", "_parts", "_wire")

    def __init__(self) -> None:
        self._wire = ""
        self._messages: list[ChatMessage] = []
        self._parts: list[bytes] = []

    def encode(self, wire: str, messages: list[ChatMessage], one: Callable[[ChatMessage], bytes]) -> bytes:
        """``messages`` as the JSON array ``wire`` sends, each message encoded by ``one`` unless
        the last request sent an equal message at the same position in the same wire format."""
        return b"[" + b",".join(self.parts(wire, messages, one)) + b"]"

    def parts(
        self, wire: str, messages: list[ChatMessage], one: Callable[[ChatMessage], bytes]
    ) -> list[bytes]:
        """Each of ``messages`` encoded by ``one`` (for a wire format that does not send one JSON
        value per message), kept the way ``encode`` keeps them."""
        prev, kept = (self._messages, self._parts) if wire == self._wire else ([], [])
        n = min(len(messages), len(prev))
        if n > 1 and messages[1:n] == prev[1:n]:
            parts = [kept[0] if messages[0] == prev[0] else one(messages[0]), *kept[1:n]]
        else:
            parts = [kept[i] if messages[i] is prev[i] else one(messages[i]) for i in range(n)]
        parts += [one(m) for m in messages[n:]]
        self._wire, self._messages, self._parts = wire, list(messages), parts
        return parts

    def sent(self, message: ChatMessage) -> bytes | None:
        """What the last request sent for ``message``, if it sent that very message."""
        for i, mine in enumerate(self._messages):
            if mine is message:
                return self._parts[i]
        return None

    def __len__(self) -> int:
        return len(self._messages)


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
