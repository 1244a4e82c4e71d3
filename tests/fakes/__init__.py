"""Loopback stand-ins for the external LLM providers, speaking their real wire protocols.

These are the only stand-ins in the test suite: everything of ours runs for real. Each is a tiny
Starlette app on a real uvicorn server on a free loopback port, scripted per test::

    from tests.fakes import openai_stand_in, text, tool_calls, error, ToolCall

    async with openai_stand_in(api_key="sk-test") as up:
        up.script(tool_calls(ToolCall("get_time", {"tz": "UTC"})), text("It is noon."))
        up.script(error(500), route="models")
        ...  # create a provider with api_base=up.url, api_key="sk-test"
        assert up.requests_to("/chat/completions")[0].json["model"] == "gpt-x"

- ``script(*replies, route="chat")`` queues replies in order per route (``chat``, ``models``,
  ``embeddings``); ``always(reply)`` sets what to answer once the queue is empty (default: the
  text ``"ok"``, and the ``models`` list). A reply may also be a function of the ``Recorded``
  request, for answers that depend on what was sent.
- ``requests`` records every request (method, path, headers, raw body, decoded JSON).
- Streaming is chosen by the request's ``stream: true``; ``Reply.chunk_delay`` and
  ``Reply.cut_after`` make slow or broken streams; ``Reply.delay`` a slow answer.
- ``unreachable_url()`` is a loopback URL where nothing listens.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from ._server import Recorded, Responder, StandIn, unreachable_url
from .anthropic import AnthropicStandIn
from .openai import OpenAIStandIn, fake_embedding
from .replies import Reply, ToolCall, Usage, error, garbage, text, tool_calls

__all__ = [
    "AnthropicStandIn",
    "OpenAIStandIn",
    "Recorded",
    "Reply",
    "Responder",
    "StandIn",
    "ToolCall",
    "Usage",
    "anthropic_stand_in",
    "error",
    "fake_embedding",
    "garbage",
    "openai_stand_in",
    "text",
    "tool_calls",
    "unreachable_url",
]


@contextlib.asynccontextmanager
async def openai_stand_in(**options: Any) -> AsyncIterator[OpenAIStandIn]:
    """A running OpenAI-compatible stand-in (``api_key``, ``models``, ``embedding_dims``)."""
    up = OpenAIStandIn(**options)
    await up.start()
    try:
        yield up
    finally:
        await up.stop()


@contextlib.asynccontextmanager
async def anthropic_stand_in(**options: Any) -> AsyncIterator[AnthropicStandIn]:
    """A running Anthropic Messages stand-in (``api_key``, ``models``)."""
    up = AnthropicStandIn(**options)
    await up.start()
    try:
        yield up
    finally:
        await up.stop()
