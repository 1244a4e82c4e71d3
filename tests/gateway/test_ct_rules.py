"""ClawTasker's task transition table (reference section 3.4): every (from, to) pair of CT's five
statuses, allowed or refused, and the guards beside it (validation owner, blocked flag, progress)."""

from __future__ import annotations

import itertools

import pytest

from clawgate.errors import InvalidRequest
from clawgate.services.ct_rules import CT_STATUSES, Moved, transition

ALLOWED_PAIRS = {
    ("backlog", "ready"),
    ("ready", "backlog"),
    ("ready", "in_progress"),
    ("in_progress", "backlog"),
    ("in_progress", "ready"),
    ("in_progress", "validation"),
    ("validation", "in_progress"),
    ("validation", "done"),
    ("done", "validation"),
}


def move(status: str, target: str | None, **kw: object) -> Moved:
    args: dict[str, object] = {
        "blocked": False,
        "set_blocked": None,
        "validation_owner": "ralph",
        "progress": 10,
    }
    args.update(kw)
    return transition(status, target, **args)  # type: ignore[arg-type]


class TestTable:
    @pytest.mark.parametrize(("src", "dst"), list(itertools.product(CT_STATUSES, CT_STATUSES)))
    def test_pair_allowed_exactly_as_ct(self, src: str, dst: str) -> None:
        """A move is allowed iff it is in CT's table; the same status is always a no-op."""
        if src == dst or (src, dst) in ALLOWED_PAIRS:
            assert move(src, dst).status == dst
        else:
            with pytest.raises(InvalidRequest, match=f"invalid transition: {src} -> {dst}"):
                move(src, dst)

    @pytest.mark.parametrize("src", CT_STATUSES)
    def test_no_target_keeps_status(self, src: str) -> None:
        """No status asked keeps the status (the blocked flag alone may change)."""
        assert move(src, None).status == src

    def test_unknown_target_refused(self) -> None:
        """A status outside CT's five is refused, naming them."""
        with pytest.raises(InvalidRequest, match="invalid status: review"):
            move("in_progress", "review")


class TestGuards:
    @pytest.mark.parametrize(("src", "dst"), [("in_progress", "validation"), ("validation", "done")])
    def test_validation_and_done_need_validation_owner(self, src: str, dst: str) -> None:
        """Entering validation or done needs a validation owner."""
        with pytest.raises(InvalidRequest, match="requires a validation_owner"):
            move(src, dst, validation_owner="")

    @pytest.mark.parametrize(("src", "dst"), [("in_progress", "validation"), ("validation", "done")])
    def test_blocked_task_cannot_enter_validation_or_done(self, src: str, dst: str) -> None:
        """A blocked task (flag already set, or set by this change) cannot enter validation/done."""
        with pytest.raises(InvalidRequest, match="blocked task"):
            move(src, dst, blocked=True)
        with pytest.raises(InvalidRequest, match="blocked"):  # done: "a done task cannot be blocked"
            move(src, dst, set_blocked=True)

    def test_blocking_a_done_task_refused(self) -> None:
        """Setting blocked on a done task is an error; clearing it is fine."""
        with pytest.raises(InvalidRequest, match="done task cannot be blocked"):
            move("done", None, set_blocked=True)
        assert move("done", None, set_blocked=False, blocked=True).blocked is False

    def test_blocked_flag_alone_on_open_task(self) -> None:
        """The flag may be set on an open task without a status change."""
        assert move("in_progress", None, set_blocked=True) == Moved("in_progress", True, 10)

    @pytest.mark.parametrize(
        ("src", "dst", "before", "after"),
        [("validation", "done", 10, 100), ("in_progress", "validation", 10, 80),
         ("in_progress", "validation", 95, 95), ("ready", "in_progress", 10, 10)],
    )  # fmt: skip
    def test_progress_forced(self, src: str, dst: str, before: int, after: int) -> None:
        """done forces 100; validation raises progress to at least 80; other moves keep it."""
        assert move(src, dst, progress=before).progress == after
