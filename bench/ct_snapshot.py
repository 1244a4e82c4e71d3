"""ClawTasker's snapshot at scale (issue 14): ``GET /api/snapshot`` builds CT's whole state
document from the shared tables. Fills an embedded PostgreSQL as ``bench/coord.py`` does (one
tenant, ``--agents`` agents, ``--tasks`` tasks on one board plus ``--other`` on 9 more, every third
depending on an earlier one), then times ``ClawTaskerService.snapshot`` and prints p50/p99.

    .venv/bin/python bench/ct_snapshot.py --tasks 1000 --other 0 --queries 20
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, machine_note, migrated_database
from coord import fill, measure

from clawgate.bus import EventBus
from clawgate.config import Settings
from clawgate.live import LiveSettings
from clawgate.principal import Principal, Role
from clawgate.services.clawtasker import ClawTaskerService
from clawgate.services.tasks import TaskService
from clawgate.store import create_database
from clawgate.store import tasks as task_store


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
            await ct.snapshot(who)  # warm the pool and the plans
            await measure(
                f"CT snapshot ({args.tasks + args.other} tasks)", args.queries, lambda: ct.snapshot(who), 50
            )

            async def rows_only() -> None:  # of which: reading the task rows (the shared list query)
                async with db.connection() as conn:
                    await task_store.list_tasks(conn, tenant, task_store.TaskFilter(), 100_000)

            await measure("  of which the task rows", args.queries, rows_only, 50)
            await db.close()


if __name__ == "__main__":
    asyncio.run(main())
