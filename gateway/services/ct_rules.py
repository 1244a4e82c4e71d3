"""ClawTasker's task transition rules (reference section 3.4, CT's ``task_transition_error``), as
one table and one pure function. No I/O: the caller reads the task under its row lock and writes
what ``transition`` returns; the table is a parametrised test (``tests/gateway/test_ct_rules.py``).

Statuses here are CT's (``backlog | ready | in_progress | validation | done``); the canonical model
names ``validation`` ``review`` (``clawgate.services.clawtasker`` maps them on its edge). Unlike
Mission Control, CT has no actor authorisation: any writer may move any task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from clawgate.errors import InvalidRequest

__all__ = ["ALLOWED", "CT_STATUSES", "Moved", "transition"]

CT_STATUSES: Final = ("backlog", "ready", "in_progress", "validation", "done")
ALLOWED: Final[dict[str, frozenset[str]]] = {
    "backlog": frozenset({"ready"}),
    "ready": frozenset({"backlog", "in_progress"}),
    "in_progress": frozenset({"backlog", "ready", "validation"}),
    "validation": frozenset({"in_progress", "done"}),
    "done": frozenset({"validation"}),  # reopen
}
"""CT's code, not its API.md (which omits in_progress -> backlog). Same status is a no-op."""


@dataclass(frozen=True, slots=True)
class Moved:
    """The task after the change: its status, blocked flag and progress."""

    status: str
    blocked: bool
    progress: int


def _refuse(message: str) -> InvalidRequest:
    return InvalidRequest("failed_precondition", detail=message)


def transition(
    status: str,
    target: str | None,
    *,
    blocked: bool,
    set_blocked: bool | None,
    validation_owner: str,
    progress: int,
) -> Moved:
    """Task in ``status`` asked to move to ``target`` (None: stay) and to set its blocked flag to
    ``set_blocked`` (None: keep), with ``validation_owner`` after the change ("" when none).

    Raises: InvalidRequest (CT's 400) naming the rule broken."""
    if status not in ALLOWED:
        raise _refuse(f"unknown status: {status}")
    to = status if target is None else target
    if to not in ALLOWED:
        raise _refuse(f"invalid status: {to} (one of {', '.join(CT_STATUSES)})")
    flag = blocked if set_blocked is None else set_blocked
    if set_blocked and to == "done":
        raise _refuse("a done task cannot be blocked")
    if to != status:
        if to not in ALLOWED[status]:
            raise _refuse(f"invalid transition: {status} -> {to}")
        if to in ("validation", "done"):
            if not validation_owner:
                raise _refuse(f"moving to {to} requires a validation_owner")
            if flag:
                raise _refuse(f"a blocked task cannot move to {to}")
    if to == "done":
        progress = 100
    elif to == "validation":
        progress = max(progress, 80)
    return Moved(status=to, blocked=flag, progress=progress)
