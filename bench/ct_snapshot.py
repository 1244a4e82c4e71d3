"""ClawTasker's snapshot at scale (issue 14): ``GET /api/snapshot`` builds CT's whole state
document from the shared tables. Fills an embedded PostgreSQL as ``bench/coord.py`` does (one
tenant, ``--agents`` agents, ``--tasks`` tasks on one board plus ``--other`` on 9 more, every third
depending on an earlier one), then times ``ClawTaskerService.snapshot`` with the encoding of its
answer, p50/p99, in the two cases a client meets: the log unchanged since the last snapshot (the
task list rendered before is kept: CT's clients re-fetch on every event, so all but the first
after a change), and the first snapshot after a change (a task's title updated through
``tasks/update``: that task and its linked ones rendered again), and, for scale, a snapshot from a
process that keeps no board yet (everything rendered).

    .venv/bin/python bench/ct_snapshot.py --tasks 1000 --other 0 --queries 20
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import msgspec
from _common import data_dir, machine_note, migrated_database, report
from coord import fill, measure

from clawgate.bus import EventBus
from clawgate.config import Settings
from clawgate.live import LiveSettings
from clawgate.principal import Principal, Role
from clawgate.services.clawtasker import ClawTaskerService
from clawgate.services.tasks import TaskService
from clawgate.store import create_database


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--other", type=int, default=0)
    parser.add_argument("--queries", type=int, default=20)
    args = parser.parse_args()
    machine_note()
    with data_dir() as root:
        async with migrated_database(root) as dsn:
            tenant, _, _ = await fill(dsn, args.tasks, args.agents, args.other)
            db = await create_database(dsn, min_size=1, max_size=2)
            ct = ClawTaskerService(db, EventBus(), TaskService(db, EventBus()), LiveSettings(Settings()))
            who = Principal(role=Role.ADMIN, user_id="bench", tenant_id=tenant)
            encoder = msgspec.json.Encoder()

            async def answer() -> None:
                encoder.encode(await ct.snapshot(who))

            await answer()  # warm the pool and the plans
            label = f"CT snapshot ({args.tasks + args.other} tasks)"
            await measure(f"{label}, unchanged log", args.queries * 5, answer, 50)
            titles = itertools.count()

            async def after_change() -> float:
                await ct.update_task(who, {"task": {"id": "T-1", "title": f"title {next(titles)}"}})
                started = time.perf_counter()
                await answer()
                return (time.perf_counter() - started) * 1000

            times = sorted([await after_change() for _ in range(args.queries)])
            p50 = statistics.median(times)
            report(f"{label}, first after a change p50", p50, "ms", target="<= 50 ms", ok=p50 <= 50)

            async def from_scratch() -> float:  # a process with no board kept (just started)
                fresh = ClawTaskerService(
                    db, EventBus(), TaskService(db, EventBus()), LiveSettings(Settings())
                )
                started = time.perf_counter()
                encoder.encode(await fresh.snapshot(who))
                return (time.perf_counter() - started) * 1000

            times = sorted([await from_scratch() for _ in range(max(3, args.queries // 4))])
            report(f"{label}, rendered from scratch p50", statistics.median(times), "ms")
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
