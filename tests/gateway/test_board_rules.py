"""Mission Control's task transition and permission tables (reference section 2.3), one row per
rule: the actor (user, lead, worker), the task, the PATCH, the board's rules and the facts, and
either the state that results or the error (HTTP status and MC code)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from uuid import UUID

import pytest

from clawgate.errors import GatewayError
from clawgate.services.board_rules import (
    Actor,
    Change,
    Current,
    Decision,
    Facts,
    Rules,
    check_comment,
    decide,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EARLIER = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEAD, W1, W2, DEP = (UUID(int=n) for n in (1, 2, 3, 9))
USER, LEAD_A, W1_A = Actor("user"), Actor("lead", LEAD), Actor("worker", W1)
OPEN = Rules(require_approval_for_done=False)  # MC's defaults but the approval gate
BASE = Facts(lead=LEAD)


def ch(**fields: object) -> Change:
    """A PATCH with these fields (``assigned_agent_id`` maps to ``assignee``)."""
    sent = frozenset(fields)
    return Change(
        sent=sent, status=fields.get("status"),  # type: ignore[arg-type]
        assignee=fields.get("assigned_agent_id"), comment=fields.get("comment"),  # type: ignore[arg-type]
    )  # fmt: skip


# (name, actor, current, change, rules, facts) -> (status, assignee, in_progress_at, previous)
ALLOWED = [
    ("user starts an inbox task", USER, Current("inbox"), ch(status="in_progress", assigned_agent_id=W1), OPEN, BASE,
     ("in_progress", W1, NOW, None)),
    ("user sends to review: the lead gets it", USER, Current("in_progress", W1, EARLIER),
     ch(status="review"), OPEN, BASE, ("review", LEAD, None, EARLIER)),
    ("user back to inbox: unassigned", USER, Current("review", LEAD, None, EARLIER), ch(status="inbox"), OPEN, BASE,
     ("inbox", None, None, EARLIER)),
    ("user with unresolved deps: forced to inbox", USER, Current("in_progress", W1, EARLIER),
     ch(assigned_agent_id=W2), OPEN, replace(BASE, blocked_by=(DEP,)), ("inbox", None, None, EARLIER)),
    ("user marks done with approval", USER, Current("review", LEAD), ch(status="done"), Rules(),
     replace(BASE, approved=True), ("done", LEAD, None, None)),
    ("worker claims an unassigned task", W1_A, Current("inbox"), ch(status="in_progress"), OPEN, BASE,
     ("in_progress", W1, NOW, None)),
    ("worker submits for review", W1_A, Current("in_progress", W1, EARLIER), ch(status="review", comment="done"),
     OPEN, BASE, ("review", LEAD, None, EARLIER)),
    ("worker returns to inbox even when blocked", W1_A, Current("in_progress", W1, EARLIER), ch(status="inbox"),
     OPEN, replace(BASE, blocked_by=(DEP,)), ("inbox", None, None, EARLIER)),
    ("worker comments only", W1_A, Current("in_progress", W2, EARLIER), ch(comment="hi"), OPEN, BASE,
     ("in_progress", W2, EARLIER, None)),
    ("lead approves review to done", LEAD_A, Current("review", LEAD), ch(status="done"), OPEN, BASE,
     ("done", LEAD, None, None)),
    ("lead requests changes: back to the submitter", LEAD_A, Current("review", LEAD, None, EARLIER),
     ch(status="inbox"), OPEN, replace(BASE, last_submitter=W1), ("inbox", W1, None, EARLIER)),
    ("lead assigns and starts", LEAD_A, Current("inbox"), ch(status="in_progress", assigned_agent_id=W2), OPEN, BASE,
     ("in_progress", W2, NOW, None)),
    ("lead reassigns without status", LEAD_A, Current("inbox", W1), ch(assigned_agent_id=W2), OPEN, BASE,
     ("inbox", W2, None, None)),
    ("comment required: an earlier comment counts", W1_A, Current("in_progress", W1, EARLIER), ch(status="review"),
     Rules(require_approval_for_done=False, comment_required_for_review=True),
     replace(BASE, assignee_commented=True), ("review", LEAD, None, EARLIER)),
]  # fmt: skip

# (name, actor, current, change, rules, facts) -> (HTTP status, MC code or None)
REFUSED = [
    ("worker edits the title", W1_A, Current("inbox"), ch(title="x"), OPEN, BASE, (403, "task_update_field_forbidden")),
    ("worker moves another's task", W1_A, Current("in_progress", W2), ch(status="review"), OPEN, BASE,
     (403, "task_assignee_mismatch")),
    ("worker when only the lead changes status", W1_A, Current("inbox"), ch(status="in_progress"),
     Rules(require_approval_for_done=False, only_lead_can_change_status=True), BASE,
     (403, "only_lead_can_change_status")),
    ("worker starts a blocked task", W1_A, Current("inbox"), ch(status="in_progress"), OPEN,
     replace(BASE, blocked_by=(DEP,)), (409, "task_blocked_cannot_transition")),
    ("lead comments in a PATCH", LEAD_A, Current("review"), ch(comment="x"), OPEN, BASE,
     (403, "lead_comment_forbidden")),
    ("lead edits the description", LEAD_A, Current("inbox"), ch(description="x"), OPEN, BASE,
     (403, "task_update_field_forbidden")),
    ("lead assigns a blocked task", LEAD_A, Current("inbox"), ch(assigned_agent_id=W1), OPEN,
     replace(BASE, blocked_by=(DEP,)), (409, "task_blocked_cannot_transition")),
    ("lead assigns to a lead", LEAD_A, Current("inbox"), ch(assigned_agent_id=LEAD), OPEN,
     replace(BASE, assignee_is_lead=True), (403, "lead_assign_forbidden")),
    ("lead moves inbox to review", LEAD_A, Current("inbox"), ch(status="review"), OPEN, BASE, (403, "lead_status_gate")),
    ("lead starts without assigning", LEAD_A, Current("inbox"), ch(status="in_progress"), OPEN, BASE,
     (403, "lead_status_gate")),
    ("done without an approved approval", USER, Current("review"), ch(status="done"), Rules(), BASE, (409, None)),
    ("done not from review", USER, Current("in_progress", W1), ch(status="done"),
     Rules(require_approval_for_done=False, require_review_before_done=True), BASE, (409, None)),
    ("status change with a pending approval", USER, Current("inbox"), ch(status="in_progress"),
     Rules(require_approval_for_done=False, block_status_changes_with_pending_approval=True),
     replace(BASE, pending_approval=True), (409, None)),
    ("review without a comment", W1_A, Current("in_progress", W1), ch(status="review"),
     Rules(require_approval_for_done=False, comment_required_for_review=True), BASE, (400, None)),
    ("user changes deps of a done task", USER, Current("done"), ch(depends_on_task_ids=[DEP]), OPEN,
     replace(BASE, deps_changed=True), (409, None)),
]  # fmt: skip


@pytest.mark.parametrize(("actor", "current", "change", "rules", "facts", "want"), [r[1:] for r in ALLOWED],
                         ids=[r[0] for r in ALLOWED])  # fmt: skip
def test_allowed_changes_leave_the_task_as_the_reference_says(
    actor: Actor, current: Current, change: Change, rules: Rules, facts: Facts, want: tuple[object, ...]
) -> None:
    """The status, assignee and in-progress times after the change."""
    got: Decision = decide(actor, current, change, rules, facts, NOW)
    assert (got.status, got.assignee, got.in_progress_at, got.previous_in_progress_at) == want


@pytest.mark.parametrize(("actor", "current", "change", "rules", "facts", "want"), [r[1:] for r in REFUSED],
                         ids=[r[0] for r in REFUSED])  # fmt: skip
def test_refused_changes_raise_the_reference_error(
    actor: Actor, current: Current, change: Change, rules: Rules, facts: Facts, want: tuple[int, str | None]
) -> None:
    """The HTTP status (400 becomes MC's 422 on /api/v1) and MC's structured code."""
    with pytest.raises(GatewayError) as caught:
        decide(actor, current, change, rules, facts, NOW)
    details = caught.value.details if isinstance(caught.value.details, dict) else {}
    assert (caught.value.status, details.get("code")) == want


@pytest.mark.parametrize(
    ("actor", "status", "mentioned", "created", "allowed"),
    [
        (USER, "inbox", False, False, True),
        (W1_A, "in_progress", False, False, True),
        (LEAD_A, "review", False, False, True),
        (LEAD_A, "in_progress", True, False, True),
        (LEAD_A, "inbox", False, True, True),
        (LEAD_A, "in_progress", False, False, False),
        (LEAD_A, "done", False, False, False),
    ],
)
def test_who_may_comment(actor: Actor, status: str, mentioned: bool, created: bool, allowed: bool) -> None:
    """Users and workers always; a lead on a task in review, when mentioned before, or its own."""
    if allowed:
        check_comment(actor, status, mentioned, created)
        return
    with pytest.raises(GatewayError) as caught:
        check_comment(actor, status, mentioned, created)
    assert (caught.value.status, caught.value.details["code"]) == (403, "lead_comment_forbidden")
