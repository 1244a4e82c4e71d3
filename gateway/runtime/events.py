"""A run's events as subscribers receive them: the payload of an ``agent`` bus event (GoClaw's
``agent`` event, spec section 3). Field order is the wire order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType

from clawgate.bus import BusEvent
from clawgate.providers.types import ToolCallDelta

__all__ = [
    "TERMINAL",
    "Activity",
    "BlockReply",
    "Cancelled",
    "Chunk",
    "Completed",
    "Failed",
    "LoopEvent",
    "NoAnswer",
    "Retrying",
    "RunAnswer",
    "RunEvent",
    "Started",
    "Thinking",
    "ToolCallDeltas",
    "ToolCalled",
    "ToolResult",
    "run_event",
]

TERMINAL = frozenset({"run.completed", "run.failed", "run.cancelled"})


class RunEvent(msgspec.Struct, kw_only=True):
    """One event of a run; ``seq`` counts a run's events from 1 (0: sent by the sweeper for a run
    whose process died)."""

    type: str
    runId: str
    sessionKey: str
    agentId: str
    userId: str
    seq: int
    payload: Any


class RunAnswer(msgspec.Struct, kw_only=True):
    """A run's answer to ``chat.send``, also kept as the run's ``result`` (a repeated idempotency key
    replays it). GoClaw's answer varies by case: a completed run has ``runId``, ``sessionKey``,
    ``message_id``, ``role``, ``content``, ``usage`` and ``thinking`` when the model gave some; a
    cancelled one ``cancelled``, a failed one ``error``, one started without waiting or still going
    ``status``; a run that ended without an answer (tool calls and no tools) none of them. Field order
    is the wire order."""

    runId: str | UnsetType = UNSET
    sessionKey: str | UnsetType = UNSET
    message_id: int | UnsetType = UNSET
    role: str | UnsetType = UNSET
    content: str | UnsetType = UNSET
    usage: dict[str, int] | UnsetType = UNSET
    thinking: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    cancelled: bool | UnsetType = UNSET
    error: str | UnsetType = UNSET


class Started(msgspec.Struct, kw_only=True):
    """``run.started``: the user message the run answers."""

    message: str


class Completed(msgspec.Struct, kw_only=True):
    """``run.completed``: the answer, its token usage, and its reasoning when the model gave one."""

    content: str
    usage: dict[str, int]
    thinking: str | UnsetType = UNSET


class NoAnswer(msgspec.Struct, kw_only=True):
    """``run.completed`` of a run that ended without an answer (tool calls and no tools to run them)."""


class Failed(msgspec.Struct, kw_only=True):
    """``run.failed``: why, in words for the user."""

    error: str


class Cancelled(msgspec.Struct, kw_only=True):
    """``run.cancelled``: aborted (``chat.abort``, a cancel word, shutdown)."""


# -- the agent loop's events (``AgentLoop.emit``); field order is the wire order -------------------


class Activity(msgspec.Struct, kw_only=True):
    """``activity``: what the loop is doing (``thinking``, ``tool_exec`` with the iteration;
    ``injected_message`` with the start of a message that joined the run)."""

    phase: str
    iteration: int | UnsetType = UNSET
    content: str | UnsetType = UNSET


class BlockReply(msgspec.Struct, kw_only=True):
    """``block.reply``: text the model wrote before asking for tools."""

    content: str
    source: str = "llm_progress"


class Retrying(msgspec.Struct, kw_only=True):
    """``run.retrying``: a provider call failed and is tried again."""

    attempt: int
    maxAttempts: int
    error: str


class Chunk(msgspec.Struct, kw_only=True):
    """``chunk``: streamed answer text."""

    content: str


class Thinking(msgspec.Struct, kw_only=True):
    """``thinking``: streamed reasoning text."""

    content: str


class ToolCallDeltas(msgspec.Struct, kw_only=True):
    """``tool_call_delta``: pieces of the model's tool calls, streamed to an OpenAI-compatible caller
    whose own tools they are (passthrough)."""

    tool_calls: list[ToolCallDelta]


class ToolCalled(msgspec.Struct, kw_only=True):
    """``tool.call``: a tool the loop runs; ``arguments`` parsed, or the raw text when not JSON."""

    name: str
    id: str
    arguments: Any


class ToolResult(msgspec.Struct, kw_only=True):
    """``tool.result``: its (truncated) result; an error repeats the text as ``content``."""

    name: str
    id: str
    is_error: bool
    arguments: Any
    result: str
    content: str | UnsetType = UNSET


LoopEvent = Activity | BlockReply | Retrying | Chunk | Thinking | ToolCallDeltas | ToolCalled | ToolResult
"""The payload of one event the agent loop emits."""


def run_event(
    kind: str,
    *,
    tenant_id: UUID,
    run_id: UUID | str,
    session_key: str,
    agent_key: str,
    user_id: str,
    seq: int,
    payload: Any,
) -> BusEvent:
    """The ``agent`` bus event of one run event, addressed to the run's user (and the tenant's admins)."""
    event = RunEvent(type=kind, runId=run_id if isinstance(run_id, str) else str(run_id), sessionKey=session_key, agentId=agent_key,
                     userId=user_id, seq=seq, payload=payload)  # fmt: skip
    return BusEvent(name="agent", payload=event, tenant_id=tenant_id, user_id=user_id or None)
