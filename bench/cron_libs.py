"""cronsim against croniter: which one computes cron due times for the scheduler (issue 12).

Two questions, answered in one run:

1. DST correctness. In Europe/Paris and America/New_York, a daily job at 02:30 on the spring-forward
   day (02:00-03:00 does not exist) and on the fall-back day (01:00-02:00, or 02:00-03:00 in Paris,
   happens twice) must run exactly once on that day; ``*/30 * * * *`` must not run twice in the
   repeated hour's same wall-clock minute, nor skip real instants. Each library's due times over the
   two DST days are printed, with the count per day.
2. Speed: the next due time of ``N`` different expressions (what a claim computes per job) and of the
   same expression ``N`` times, in microseconds per call.

Run: ``.venv/bin/python bench/cron_libs.py [--n 20000]``. Figures go to bench/README.md.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from cronsim import CronSim

CASES = [
    # zone, spring-forward day, fall-back day
    ("Europe/Paris", datetime(2026, 3, 29), datetime(2026, 10, 25)),
    ("America/New_York", datetime(2026, 3, 8), datetime(2026, 11, 1)),
]
EXPRS = ["30 2 * * *", "30 1 * * *", "*/30 * * * *", "0 * * * *"]


def cronsim_times(expr: str, start: datetime, end: datetime) -> list[datetime]:
    it = CronSim(expr, start)
    out = []
    for t in it:
        if t >= end:
            break
        out.append(t)
    return out


def croniter_times(expr: str, start: datetime, end: datetime) -> list[datetime]:
    it = croniter(expr, start)
    out = []
    while True:
        t = it.get_next(datetime)
        if t >= end:
            break
        out.append(t)
    return out


def dst_report() -> list[str]:
    lines = []
    for zone_name, spring, fall in CASES:
        zone = ZoneInfo(zone_name)
        for label, day in (("spring-forward", spring), ("fall-back", fall)):
            start = day.replace(tzinfo=zone) - timedelta(seconds=1)
            end = (day + timedelta(days=1)).replace(tzinfo=zone)
            for expr in EXPRS:
                got = {}
                for lib, fn in (("cronsim", cronsim_times), ("croniter", croniter_times)):
                    try:
                        times = fn(expr, start, end)
                        instants = Counter(t.timestamp() for t in times)
                        dup = sum(1 for c in instants.values() if c > 1)
                        got[lib] = (
                            f"{len(times)} runs ({len(instants)} distinct instants{', DUPLICATES' if dup else ''})"
                        )
                        if expr in {"30 2 * * *", "30 1 * * *"}:
                            got[lib] += " at " + ", ".join(t.astimezone(zone).isoformat() for t in times)
                    except Exception as exc:
                        got[lib] = f"error {exc!r}"
                lines.append(
                    f"{zone_name} {label} {expr!r}: cronsim {got['cronsim']} | croniter {got['croniter']}"
                )
    return lines


def speed(n: int) -> list[str]:
    zone = ZoneInfo("Europe/Paris")
    now = datetime(2026, 12, 1, 12, 0, tzinfo=zone)
    varied = [f"{i % 60} {i % 24} * * {i % 7}" for i in range(n)]
    out = []
    for lib in ("cronsim", "croniter"):
        for label, exprs in (
            ("different expressions", varied),
            ("same expression", ["*/5 9-17 * * 1-5"] * n),
        ):
            t0 = time.perf_counter()
            for expr in exprs:
                if lib == "cronsim":
                    next(CronSim(expr, now))
                else:
                    croniter(expr, now).get_next(datetime)
            per = (time.perf_counter() - t0) / n * 1e6
            out.append(f"{lib}: next due time, {label}: {per:.1f} us per call")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    print("== DST ==")
    for line in dst_report():
        print(line)
    print("== speed (this machine is shared with other engineers' work) ==")
    for line in speed(args.n):
        print(line)


if __name__ == "__main__":
    main()
