"""Mission Control's task rules (reference section 2.3), as one pure function: who may change what
on a board task, where a status change leaves the assignee and the in-progress times, and the
board's gates. No I/O: the caller gathers the facts (dependencies, approvals, the lead, comments)
under the task's row lock and writes the decision; the tables are parametrised tests.

Statuses here are Mission Control's (``inbox | in_progress | review | done``); the caller maps them
to the canonical ones (``inbox`` -> ``ready`` with an assignee, else ``backlog``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal
from uuid import UUID

from clawgate.errors import FailedPrecondition, Forbidden, InvalidRequest

__all__ = [
    "Actor",
    "Change",
    "Current",
    "Decision",
    "Facts",
    "Rules",
    "blocked_error",
    "check_comment",
    "decide",
    "forbidden",
]

WORKER_FIELDS: Final = frozenset({"status", "comment", "custom_field_values"})
LEAD_FIELDS: Final = frozenset(
    {"assigned_agent_id", "status", "depends_on_task_ids", "tag_ids", "custom_field_values"}
)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who changes the task: a user with write access, the board's lead agent, or a worker agent."""

    kind: Literal["user", "lead", "worker"]
    agent_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Rules:
    """The board's rule flags (MC defaults)."""

    require_approval_for_done: bool = True
    require_review_before_done: bool = False
    comment_required_for_review: bool = False
    block_status_changes_with_pending_approval: bool = False
    only_lead_can_change_status: bool = False


@dataclass(frozen=True, slots=True)
class Current:
    status: str
    assignee: UUID | None = None
    in_progress_at: datetime | None = None
    previous_in_progress_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """The PATCH: ``sent`` names the fields present (``status: null`` is refused before this)."""

    sent: frozenset[str]
    status: str | None = None
    assignee: UUID | None = None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the rules read besides the task: the dependencies not done after this change, the
    board's lead, the task's approvals, whether the assignee commented since it last left
    in_progress, the last worker who moved it to review, whether the new assignee is a lead."""

    blocked_by: tuple[UUID, ...] = ()
    lead: UUID | None = None
    pending_approval: bool = False
    approved: bool = False
    assignee_commented: bool = False
    last_submitter: UUID | None = None
    assignee_is_lead: bool = False
    deps_changed: bool = False


@dataclass(slots=True)
class Decision:
    status: str
    assignee: UUID | None
    in_progress_at: datetime | None
    previous_in_progress_at: datetime | None
    notes: list[str] = field(default_factory=list)  # what happened besides (events to record)


def blocked_error(blocked_by: tuple[UUID, ...]) -> FailedPrecondition:
    """409 ``{message, code: task_blocked_cannot_transition, blocked_by_task_ids}``."""
    message = "Task is blocked by incomplete dependencies."
    return FailedPrecondition(
        detail=message,
        details={"message": message, "code": "task_blocked_cannot_transition",
                 "blocked_by_task_ids": [str(b) for b in blocked_by]},
    )  # fmt: skip


def forbidden(message: str, code: str | None = None, **extra: object) -> Forbidden:
    """403 with MC's structured detail ``{message, code?, ...}``."""
    details: dict[str, object] = {"message": message, **extra}
    if code:
        details["code"] = code
    return Forbidden("failed_precondition", detail=message, details=details)


def _conflict(message: str) -> FailedPrecondition:
    return FailedPrecondition(detail=message, details={"message": message})


def decide(
    actor: Actor, current: Current, change: Change, rules: Rules, facts: Facts, now: datetime
) -> Decision:
    """The task's state after ``change`` by ``actor``. Raises: Forbidden (403), FailedPrecondition
    (409: blocked, a gate), InvalidRequest (422 on MC: a comment required for review)."""
    out = Decision(current.status, current.assignee, current.in_progress_at, current.previous_in_progress_at)
    target = change.status if "status" in change.sent and change.status is not None else current.status
    if actor.kind == "worker":
        _worker(actor, current, change, rules, facts, out, target, now)
    elif actor.kind == "lead":
        _lead(current, change, facts, out, target, now)
    else:
        _user(current, change, facts, out, target, now)
    _gates(actor, current, change, rules, facts, out)
    return out


def _leave_progress(out: Decision) -> None:
    """Back to inbox or into review: unassigned, the in-progress time kept as the previous one."""
    out.assignee = None
    if out.in_progress_at is not None:
        out.previous_in_progress_at = out.in_progress_at
    out.in_progress_at = None


def _user(current: Current, change: Change, facts: Facts, out: Decision, target: str, now: datetime) -> None:
    if facts.deps_changed and current.status == "done":
        raise _conflict("Cannot change dependencies of a done task.")
    if "assigned_agent_id" in change.sent:
        out.assignee = change.assignee
    if facts.blocked_by and target != "done":
        # Unresolved dependencies: back to the inbox, unassigned (no error for a user).
        out.status = "inbox"
        if out.assignee is not None or current.status != "inbox":
            out.notes.append("returned_to_inbox_blocked")
        _leave_progress(out)
        return
    out.status = target
    if target != current.status or "status" in change.sent:
        if target in ("inbox", "review"):
            _leave_progress(out)
            if target == "review" and facts.lead is not None:
                out.assignee = facts.lead
        elif target == "in_progress" and current.status != "in_progress":
            out.in_progress_at = now


def _worker(
    actor: Actor, current: Current, change: Change, rules: Rules, facts: Facts, out: Decision, target: str,
    now: datetime,
) -> None:  # fmt: skip
    if extra := sorted(change.sent - WORKER_FIELDS):
        raise forbidden(
            f"Board agents may only update status, comment and custom fields (not: {', '.join(extra)}).",
            "task_update_field_forbidden", fields=extra,
        )  # fmt: skip
    if "status" not in change.sent:
        return
    if current.assignee is not None and current.assignee != actor.agent_id:
        raise forbidden("Task is assigned to another agent.", "task_assignee_mismatch")
    if rules.only_lead_can_change_status:
        raise forbidden("Only the board lead can change task status.", "only_lead_can_change_status")
    if target != "inbox" and facts.blocked_by:
        raise blocked_error(facts.blocked_by)
    out.status = target
    if target in ("inbox", "review"):
        _leave_progress(out)
        if target == "review" and facts.lead is not None:
            out.assignee = facts.lead
    else:
        out.assignee = actor.agent_id
        if target == "in_progress" and current.status != "in_progress":
            out.in_progress_at = now


def _lead(current: Current, change: Change, facts: Facts, out: Decision, target: str, now: datetime) -> None:
    if "comment" in change.sent:
        raise forbidden("Lead comments must go through the task comments endpoint.", "lead_comment_forbidden")
    if extra := sorted(change.sent - LEAD_FIELDS):
        raise forbidden(
            f"Board leads may only update assignment, status, dependencies, tags and custom fields "
            f"(not: {', '.join(extra)}).", "task_update_field_forbidden", fields=extra,
        )  # fmt: skip
    touches = bool({"assigned_agent_id", "status"} & change.sent)
    if touches and facts.blocked_by:
        raise blocked_error(facts.blocked_by)
    if "assigned_agent_id" in change.sent:
        if change.assignee is not None and facts.assignee_is_lead:
            raise forbidden(
                "Board leads cannot assign tasks to themselves or another lead.", "lead_assign_forbidden"
            )
        out.assignee = change.assignee
    if "status" not in change.sent or target == current.status:
        return
    assign_and_start = (
        current.status == "inbox" and target == "in_progress" and change.assignee is not None
        and "assigned_agent_id" in change.sent
    )  # fmt: skip
    if assign_and_start:
        out.status, out.in_progress_at = "in_progress", now
        return
    if current.status != "review" or target not in ("done", "inbox"):
        raise forbidden(
            "Board leads can only move tasks out of review (to done or inbox), or assign-and-start an inbox task.",
            "lead_status_gate",
        )  # fmt: skip
    out.status = target
    if target == "inbox":
        out.assignee = facts.last_submitter
        if out.in_progress_at is not None:
            out.previous_in_progress_at = out.in_progress_at
        out.in_progress_at = None
        out.notes.append("changes_requested")


def _gates(actor: Actor, current: Current, change: Change, rules: Rules, facts: Facts, out: Decision) -> None:
    if out.status == current.status:
        return
    if rules.block_status_changes_with_pending_approval and facts.pending_approval:
        raise _conflict("Task status cannot change while an approval is pending.")
    if out.status == "done":
        if rules.require_review_before_done and current.status != "review":
            raise _conflict("Task can only be marked done from review.")
        if rules.require_approval_for_done and not facts.approved:
            raise _conflict("Task can only be marked done when a linked approval has been approved.")
    commented = bool((change.comment or "").strip()) or facts.assignee_commented
    if (
        out.status == "review"
        and actor.kind != "lead"
        and rules.comment_required_for_review
        and not commented
    ):
        raise InvalidRequest("failed_precondition", detail="Comment is required.")


def check_comment(actor: Actor, status: str, lead_mentioned_before: bool, lead_created: bool) -> None:
    """Who may comment on a task (reference 2.5): users with write access and any agent of the board;
    a lead only when the task is in review, it was @mentioned in an earlier comment, or it created
    the task. Raises: Forbidden (403)."""
    if actor.kind == "lead" and status != "review" and not lead_mentioned_before and not lead_created:
        raise forbidden(
            "Board leads may only comment on tasks in review, tasks they created, or when mentioned.",
            "lead_comment_forbidden",
        )  # fmt: skip
