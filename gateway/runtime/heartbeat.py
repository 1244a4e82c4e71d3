"""Heartbeats: an agent woken every ``intervalSec`` to work through its HEARTBEAT.md checklist (issue 12;
GoClaw's ``agent_heartbeats``). Scheduled by the same scheduler as cron jobs; this module holds the
rules that need no I/O: active hours, the stagger, what a claimed heartbeat becomes, the quiet answer.

A due heartbeat is skipped, with a record saying why, when it is outside its active hours
(``active_hours``: the next interval is its next due time), when its agent has a run going
(``queue_busy``: looked at again in ``BUSY_RETRY_SECONDS``, its interval not advanced) or when its
checklist is empty (``empty_checklist``). Otherwise it runs; an answer holding ``HEARTBEAT_OK`` (with at
most ``ackMaxChars`` besides) is ``suppressed``: nothing is delivered.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from clawgate.errors import invalid_field
from clawgate.runtime.schedule import check_zone
from clawgate.store.heartbeat import ClaimedHeartbeat

__all__ = [
    "BUSY_RETRY_SECONDS",
    "DEFAULT_PROMPT",
    "OK_TOKEN",
    "check_hhmm",
    "in_active_hours",
    "next_after",
    "plan",
    "quiet",
    "stagger",
]

OK_TOKEN = "HEARTBEAT_OK"
DEFAULT_PROMPT = "Execute your heartbeat checklist now."
BUSY_RETRY_SECONDS = 30.0


def check_hhmm(value: str, field: str) -> str:
    """``HH:MM`` (00:00-23:59), or "" for none. Raises: InvalidRequest naming ``field``."""
    if not value:
        return ""
    hh, sep, mm = value.partition(":")
    if sep and hh.isdigit() and mm.isdigit() and len(mm) == 2 and 0 <= int(hh) <= 23 and 0 <= int(mm) <= 59:
        return f"{int(hh):02d}:{mm}"
    raise invalid_field(field, f"{value!r} is not a time of day HH:MM")


def _minutes(hhmm: str) -> int:
    hh, _, mm = hhmm.partition(":")
    return int(hh) * 60 + int(mm)


def in_active_hours(start: str, end: str, tz: str, at: datetime) -> bool:
    """Whether ``at`` falls in ``[start, end)`` of the wall clock of ``tz``; a window whose end is
    before its start wraps midnight (22:00-06:00); no window (or start == end) is always."""
    if not start or not end or start == end:
        return True
    local = at.astimezone(check_zone(tz, "$.timezone"))
    now = local.hour * 60 + local.minute
    lo, hi = _minutes(start), _minutes(end)
    return lo <= now < hi if lo < hi else now >= lo or now < hi


def stagger(agent_id: UUID, interval_sec: int) -> timedelta:
    """GoClaw's stagger of a first enable: FNV-1a of the agent's id, modulo a tenth of the interval,
    so that agents enabled together do not all wake at once."""
    digest = 0x811C9DC5
    for byte in str(agent_id).encode():
        digest = ((digest ^ byte) * 0x01000193) & 0xFFFFFFFF
    return timedelta(seconds=digest % max(interval_sec // 10, 1))


def next_after(due: datetime, interval_sec: int, now: datetime) -> datetime:
    """The first ``due + k * interval`` after ``now`` (k >= 1): anchored on the schedule."""
    step = timedelta(seconds=interval_sec)
    steps = max(1, (now - due) // step + 1)
    return due + steps * step


def plan(hb: ClaimedHeartbeat) -> tuple[str, str, datetime]:
    """What a claimed heartbeat becomes: (``running`` | ``skipped``, the skip reason, its next due time)."""
    due = hb.next_run_at or hb.db_now
    if hb.busy:
        return "skipped", "queue_busy", hb.db_now + timedelta(seconds=BUSY_RETRY_SECONDS)
    following = next_after(due, hb.interval_sec, hb.db_now)
    if not in_active_hours(hb.active_hours_start, hb.active_hours_end, hb.timezone, hb.db_now):
        return "skipped", "active_hours", following
    if not hb.checklist.strip():
        return "skipped", "empty_checklist", following
    return "running", "", following


def quiet(content: str, ack_max_chars: int) -> bool:
    """An answer that only acknowledges (``HEARTBEAT_OK`` and at most ``ack_max_chars`` besides)."""
    return OK_TOKEN in content and len(content.replace(OK_TOKEN, "").strip()) <= ack_max_chars
