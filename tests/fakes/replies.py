"""What a stand-in answers to one request: a ``Reply``, built with the small constructors below.

The same ``Reply`` is rendered by each stand-in in its own provider's wire format (OpenAI chat
completions or Anthropic Messages), as one JSON body or, when the request asked for
``stream: true``, as that provider's server-sent events.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "ToolCall", "Usage", "error", "garbage", "text", "tool_calls"]

_ids = itertools.count(1)


@dataclass(frozen=True)
class Usage:
    """Token counts reported for one reply."""

    input_tokens: int = 10
    output_tokens: int = 5


@dataclass(frozen=True)
class ToolCall:
    """A tool the model asks to run; ``arguments`` is sent JSON-encoded (OpenAI) or as ``input``."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: f"call_{next(_ids):04d}")


@dataclass(frozen=True)
class Reply:
    """One scripted answer.

    Attributes:
        text: assistant text (split into ``chunk_size`` pieces when streamed).
        reasoning: thinking text (Anthropic ``thinking`` block, OpenAI-compatible ``reasoning_content``).
        tool_calls: tools the model calls; the finish reason becomes ``tool_calls`` / ``tool_use``.
        usage: token counts.
        finish_reason: override (``stop``/``length`` for OpenAI; mapped to Anthropic's names).
        status: HTTP status; non-2xx statuses answer the provider's error envelope with ``message``.
        message: the error message for non-2xx statuses.
        body: raw bytes answered verbatim instead of a rendered reply (garbage, truncated JSON).
        headers: extra response headers (e.g. ``Retry-After``).
        delay: seconds to wait before answering (timeouts, slow upstreams).
        chunk_delay: seconds between streamed events.
        cut_after: when streaming, drop the connection after this many events (a broken stream).
        chunk_size: characters per streamed text delta.
    """

    text: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = ""
    status: int = 200
    message: str = ""
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    chunk_delay: float = 0.0
    cut_after: int | None = None
    chunk_size: int = 4

    @property
    def is_error(self) -> bool:
        return self.status >= 400

    def chunks(self) -> list[str]:
        """``text`` in streaming pieces (none for empty text)."""
        size = max(1, self.chunk_size)
        return [self.text[i : i + size] for i in range(0, len(self.text), size)]


def text(content: str, *, usage: Usage | None = None, **options: Any) -> Reply:
    """The model answers ``content``."""
    return Reply(text=content, usage=usage or Usage(output_tokens=max(1, len(content.split()))), **options)


def tool_calls(*calls: ToolCall, text: str = "", **options: Any) -> Reply:
    """The model calls ``calls`` (optionally with some text first)."""
    return Reply(text=text, tool_calls=tuple(calls), **options)


def error(status: int, message: str = "", **options: Any) -> Reply:
    """The upstream fails with ``status`` and its provider's error envelope."""
    return Reply(status=status, message=message or f"stand-in error {status}", **options)


def garbage(body: bytes = b"<html>not json", *, status: int = 200, **options: Any) -> Reply:
    """The upstream answers ``body`` verbatim (not what the protocol promises)."""
    return Reply(status=status, body=body, **options)
