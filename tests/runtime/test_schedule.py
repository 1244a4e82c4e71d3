"""Due times without I/O (issue 12): DST days in IANA zones, interval anchoring, active hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from clawgate.errors import InvalidRequest
from clawgate.runtime.heartbeat import in_active_hours, next_after, quiet, stagger
from clawgate.runtime.schedule import Spec, check_cron, check_zone, next_due


def _day(spec: Spec, day: datetime) -> list[datetime]:
    """The due times of ``spec`` within the local day ``day``."""
    zone = day.tzinfo
    start, end = day - timedelta(seconds=1), day + timedelta(days=1)
    out, t = [], next_due(spec, start.astimezone(UTC))
    while t is not None and t < end.astimezone(UTC):
        out.append(t.astimezone(zone))
        t = next_due(spec, t)
    return out


class TestDst:
    @pytest.mark.parametrize(
        ("tz", "spring", "fall", "expr"),
        [
            ("Europe/Paris", datetime(2026, 3, 29), datetime(2026, 10, 25), "30 2 * * *"),
            ("America/New_York", datetime(2026, 3, 8), datetime(2026, 11, 1), "30 1 * * *"),
        ],
    )
    def test_a_job_in_the_changing_hour_runs_once_on_both_dst_days(
        self, tz: str, spring: datetime, fall: datetime, expr: str
    ) -> None:
        """02:30 Paris (01:30 New York) on the spring-forward day: once (at 03:00 when 02:30 does
        not exist, else at 01:30); on the fall-back day, once, not once per repeated hour."""
        spec = Spec("cron", expr=expr, tz=tz)
        zone = ZoneInfo(tz)
        for day in (spring, fall):
            assert len(_day(spec, day.replace(tzinfo=zone))) == 1, day
        ordinary = _day(spec, datetime(2026, 6, 1, tzinfo=zone))
        assert [t.strftime("%H:%M") for t in ordinary] == [expr.split()[1].zfill(2) + ":30"]

    def test_due_times_are_in_the_zone_named(self) -> None:
        """09:00 in Paris is 08:00 UTC in winter and 07:00 UTC in summer."""
        spec = Spec("cron", expr="0 9 * * *", tz="Europe/Paris")
        assert next_due(spec, datetime(2026, 1, 10, tzinfo=UTC)) == datetime(2026, 1, 10, 8, tzinfo=UTC)
        assert next_due(spec, datetime(2026, 7, 10, tzinfo=UTC)) == datetime(2026, 7, 10, 7, tzinfo=UTC)


class TestKinds:
    def test_every_is_anchored_on_its_schedule(self) -> None:
        """anchor + k * every, whatever instant it is asked after."""
        anchor = datetime(2026, 1, 1, tzinfo=UTC)
        spec = Spec("every", every_ms=60_000, anchor=anchor)
        assert next_due(spec, anchor - timedelta(hours=1)) == anchor
        assert next_due(spec, anchor) == anchor + timedelta(minutes=1)
        assert next_due(spec, anchor + timedelta(seconds=61.5)) == anchor + timedelta(minutes=2)

    def test_at_has_one_due_time(self) -> None:
        at = datetime(2026, 1, 1, 12, tzinfo=UTC)
        spec = Spec("at", at=at)
        assert next_due(spec, at - timedelta(seconds=1)) == at
        assert next_due(spec, at) is None

    @pytest.mark.parametrize("expr", ["61 * * * *", "* * * *", "0 0 * * * *", "@daily", "0 25 * * *"])
    def test_bad_expressions_are_refused(self, expr: str) -> None:
        with pytest.raises(InvalidRequest):
            check_cron(expr)

    @pytest.mark.parametrize("tz", ["Mars/Base", "../etc/passwd", "/etc/localtime", "Europe/Paris\x00"])
    def test_bad_zones_are_refused(self, tz: str) -> None:
        with pytest.raises(InvalidRequest):
            check_zone(tz)


class TestHeartbeatRules:
    @pytest.mark.parametrize(
        ("start", "end", "hour", "inside"),
        [
            ("09:00", "17:00", 8, False), ("09:00", "17:00", 9, True), ("09:00", "17:00", 17, False),
            ("22:00", "06:00", 23, True), ("22:00", "06:00", 3, True), ("22:00", "06:00", 6, False),
            ("22:00", "06:00", 12, False), ("", "", 3, True),
        ],
    )  # fmt: skip
    def test_active_hours_wrap_midnight(self, start: str, end: str, hour: int, inside: bool) -> None:
        """A window whose end comes before its start spans midnight (22:00-06:00)."""
        at = datetime(2026, 6, 1, hour, 30, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
        assert in_active_hours(start, end, "Asia/Ho_Chi_Minh", at) is inside

    def test_quiet_answer_and_stagger(self) -> None:
        assert quiet("HEARTBEAT_OK", 0)
        assert quiet("All fine. HEARTBEAT_OK", 300)
        assert not quiet("All fine. HEARTBEAT_OK", 3)
        assert not quiet("The server is down!", 300)
        agent = UUID("0193a5b0-7000-7000-8000-000000000042")
        assert stagger(agent, 1800) == stagger(agent, 1800) < timedelta(seconds=180)
        due = datetime(2026, 1, 1, tzinfo=UTC)
        assert next_after(due, 300, due + timedelta(seconds=10)) == due + timedelta(seconds=300)
        assert next_after(due, 300, due + timedelta(seconds=700)) == due + timedelta(seconds=900)
