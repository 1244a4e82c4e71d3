"""A run's events as subscribers receive them: the payload of an ``agent`` bus event (GoClaw's
``agent`` event, spec section 3). Field order is the wire order."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType

from clawgate.bus import BusEvent

__all__ = ["TERMINAL", "Cancelled", "Completed", "Failed", "RunEvent", "Started", "run_event"]

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


class Started(msgspec.Struct, kw_only=True):
    """``run.started``: the user message the run answers."""

    message: str


class Completed(msgspec.Struct, kw_only=True):
    """``run.completed``: the answer, its token usage, and its reasoning when the model gave one."""

    content: str
    usage: dict[str, int]
    thinking: str | UnsetType = UNSET


class Failed(msgspec.Struct, kw_only=True):
    """``run.failed``: why, in words for the user."""

    error: str


class Cancelled(msgspec.Struct, kw_only=True):
    """``run.cancelled``: aborted (``chat.abort``, a cancel word, shutdown)."""


def run_event(
    kind: str,
    *,
    tenant_id: UUID,
    run_id: UUID,
    session_key: str,
    agent_key: str,
    user_id: str,
    seq: int,
    payload: Any,
) -> BusEvent:
    """The ``agent`` bus event of one run event, addressed to the run's user (and the tenant's admins)."""
    event = RunEvent(type=kind, runId=str(run_id), sessionKey=session_key, agentId=agent_key,
                     userId=user_id, seq=seq, payload=payload)  # fmt: skip
    return BusEvent(name="agent", payload=event, tenant_id=tenant_id, user_id=user_id or None)
