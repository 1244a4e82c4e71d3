"""Due times: what a schedule means, and the first due time after an instant (issue 12).

Three kinds, GoClaw's: ``at`` (one instant), ``every`` (``anchor + k * every``: anchored on the
schedule, so a late run never shifts the next one) and ``cron`` (a 5-field expression read in an
IANA time zone with cronsim). cronsim was chosen by measurement (``bench/cron_libs.py``): on a
fall-back day croniter fires a 02:30 Paris job (01:30 New York) twice, cronsim once; on a
spring-forward day both run it once, at 03:00; cronsim computes a next due time 3 to 10 times faster.

Everything here is pure: instants are aware ``datetime`` values, compared in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from clawgate.errors import InvalidRequest, invalid_field
from clawgate.store.cron import CronJobFields

__all__ = ["MIN_EVERY_MS", "Kind", "Spec", "check_cron", "check_zone", "next_due", "spec_of"]

Kind = Literal["at", "every", "cron"]
MIN_EVERY_MS = 1000
"""The shortest interval: the scheduler's unit is the second."""


def check_zone(name: str, field: str = "$.schedule.tz") -> ZoneInfo:
    """The IANA time zone ``name`` ("" is UTC). Raises: InvalidRequest naming ``field``."""
    if not name:
        return ZoneInfo("UTC")
    try:
        if "\x00" in name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise invalid_field(
            field, f"unknown time zone {name!r} (an IANA name such as Europe/Paris)"
        ) from None


def check_cron(expr: str, field: str = "$.schedule.expr") -> str:
    """A 5-field cron expression (minute hour day-of-month month day-of-week), normalised to single
    spaces. Raises: InvalidRequest naming ``field`` and what is wrong."""
    parts = expr.split()
    if len(parts) != 5:
        raise invalid_field(field, f"invalid cron expression {expr!r}: 5 fields expected, got {len(parts)}")
    text = " ".join(parts)
    try:
        CronSim(text, datetime(2026, 1, 1, tzinfo=UTC))
    except CronSimError as exc:
        raise invalid_field(field, f"invalid cron expression {expr!r}: {exc}") from None
    return text


class Spec:
    """A schedule ready to compute due times."""

    __slots__ = ("anchor", "at", "every", "expr", "kind", "zone")

    def __init__(
        self,
        kind: str,
        *,
        at: datetime | None = None,
        every_ms: int | None = None,
        anchor: datetime | None = None,
        expr: str = "",
        tz: str = "",
    ) -> None:
        self.kind = kind
        self.at = at
        self.every = timedelta(milliseconds=every_ms) if every_ms else None
        self.anchor = anchor
        self.expr = expr
        self.zone = check_zone(tz) if kind == "cron" else None
        if kind == "at" and at is None:
            raise InvalidRequest(detail="an 'at' schedule needs atMs")
        if kind == "every" and (self.every is None or anchor is None):
            raise InvalidRequest(detail="an 'every' schedule needs everyMs")
        if kind == "cron" and not expr:
            raise InvalidRequest(detail="a 'cron' schedule needs expr")


def next_due(spec: Spec, after: datetime) -> datetime | None:
    """The first due time strictly after ``after`` (None: there is none, a past ``at``)."""
    if spec.kind == "at":
        assert spec.at is not None
        return spec.at if spec.at > after else None
    if spec.kind == "every":
        assert spec.every is not None
        assert spec.anchor is not None
        if after < spec.anchor:
            return spec.anchor
        steps = (after - spec.anchor) // spec.every + 1
        return spec.anchor + steps * spec.every
    assert spec.zone is not None
    # cronsim works in the zone's wall clock and handles its DST days (once per day, see above).
    found: datetime = next(CronSim(spec.expr, after.astimezone(spec.zone)))
    return found.astimezone(UTC)


def spec_of(job: CronJobFields) -> Spec:
    """The schedule of a stored job."""
    return Spec(job.schedule_kind, at=job.at_time, every_ms=job.every_ms, anchor=job.anchor_at,
                expr=job.cron_expr, tz=job.timezone)  # fmt: skip
