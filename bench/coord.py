"""Board task lists at scale (issue 14).

Fills an embedded PostgreSQL (migrated as the gateway does) with one tenant of ``--agents`` agents,
a board they are all members of (one lead) holding ``--tasks`` tasks (statuses, priorities and
assignees spread; every third task depends on an earlier one) and ``--other`` tasks on 9 other
boards; then runs ``--queries`` list reads as the Mission Control and GoClaw routes make them
(``clawgate.store.tasks.list_tasks`` plus the MC shape): a status filter, a status + assignee filter,
a random page of all, and GoClaw's chat sidebar (``list_active_by_chat``), and prints p50/p99.

    .venv/bin/python bench/coord.py --tasks 10000 --agents 100 --queries 300
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, machine_note, migrated_database, report

from clawgate.bus import EventBus
from clawgate.principal import Principal, Role
from clawgate.services.board_groups import BoardGroupService
from clawgate.services.boards import BoardService, mc_task
from clawgate.services.tasks import TaskService
from clawgate.store import create_database
from clawgate.store import tasks as store

STATUSES = ["backlog", "ready", "in_progress", "review", "done"]


async def fill(dsn: str, tasks: int, agents: int, other: int) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    """The tenant, the measured board and its agents."""
    conn = await asyncpg.connect(dsn)
    tenant = await conn.fetchval("INSERT INTO tenants (name, slug) VALUES ('bench', 'bench') RETURNING id")
    ids = [await conn.fetchval("INSERT INTO agents (tenant_id, agent_key) VALUES ($1, $2) RETURNING id", tenant,
                               f"a{i}") for i in range(agents)]  # fmt: skip
    boards = [await conn.fetchval("INSERT INTO teams (tenant_id, kind, name) VALUES ($1, 'board', $2) RETURNING id",
                                  tenant, f"b{i}") for i in range(10)]  # fmt: skip
    await conn.copy_records_to_table(
        "team_members", records=[(tenant, boards[0], a, "lead" if i == 0 else "member") for i, a in enumerate(ids)],
        columns=["tenant_id", "team_id", "agent_id", "role"],
    )  # fmt: skip
    started = time.perf_counter()
    records, task_ids = [], []
    total = tasks + other
    for n in range(total):
        board = boards[0] if n < tasks else boards[1 + n % 9]
        task_id = uuid.uuid4()
        task_ids.append(task_id)
        status = STATUSES[n % 5]
        assignee = ids[n % agents] if status != "backlog" else None
        records.append(
            (task_id, tenant, board, n + 1, f"task {n}", status, n % 4, assignee, f"chat-{n % 500}")
        )
    await conn.copy_records_to_table(
        "tasks", records=records,
        columns=["id", "tenant_id", "team_id", "number", "title", "status", "priority", "assignee_agent_id", "chat_id"],
    )  # fmt: skip
    edges = [
        (tenant, boards[0], task_ids[n], task_ids[n - 1 - n % 7], "depends_on") for n in range(3, tasks, 3)
    ]
    await conn.copy_records_to_table(
        "task_links", records=edges, columns=["tenant_id", "team_id", "src_task_id", "dst_task_id", "kind"]
    )
    await conn.execute("INSERT INTO task_numbers (tenant_id, last) VALUES ($1, $2)", tenant, total)
    print(f"inserted {total} tasks and {len(edges)} dependencies in {time.perf_counter() - started:.1f} s")
    await conn.execute("VACUUM ANALYZE")
    await conn.close()
    return tenant, boards[0], ids


async def measure(label: str, queries: int, call: Callable[[], Awaitable[object]], target_ms: float) -> None:
    times = []
    for _ in range(queries):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    p50, p99 = statistics.median(times), times[int(len(times) * 0.99) - 1]
    report(f"{label} p50", p50, "ms", target=f"<= {target_ms:g} ms", ok=p50 <= target_ms)
    report(f"{label} p99", p99, "ms")


async def run(dsn: str, tenant: uuid.UUID, board: uuid.UUID, agents: list[uuid.UUID], queries: int) -> None:
    db = await create_database(dsn, min_size=1, max_size=2)

    async def listed(where: store.TaskFilter, offset: int = 0) -> None:
        async with db.connection() as conn:
            rows = await store.list_tasks(conn, tenant, where, 200, offset)
        [mc_task(r) for r in rows]

    async def by_status() -> None:
        await listed(store.TaskFilter(team_id=board, statuses=[random.choice(STATUSES)]))

    async def by_assignee() -> None:
        await listed(store.TaskFilter(team_id=board, statuses=["in_progress", "review"],
                                      assignee_agent_id=random.choice(agents)))  # fmt: skip

    async def page() -> None:
        await listed(store.TaskFilter(team_id=board), random.randrange(0, 9800))

    async def sidebar() -> None:
        async with db.connection() as conn:
            await store.list_active_by_chat(conn, tenant, f"chat-{random.randrange(500)}")

    bus = EventBus()
    tasks = TaskService(db, bus)
    groups = BoardGroupService(db, BoardService(db, tasks), tasks, None)  # type: ignore[arg-type]  # no heartbeat
    who = Principal(role=Role.ADMIN, user_id="bench", tenant_id=tenant)
    encoder = msgspec.json.Encoder()

    async def board_snapshot() -> None:  # MC's board view model (its first 1,000 tasks), encoded
        encoder.encode(await groups.board_snapshot(who, board))

    await by_status()  # warm the pool and the plans
    await measure("task list, status filter (200)", queries, by_status, 20)
    await measure("task list, status + assignee", queries, by_assignee, 20)
    await measure("task list, a page of all (200)", queries, page, 20)
    await measure("active-by-session (chat sidebar)", queries, sidebar, 5)
    await measure("MC board snapshot", max(20, queries // 10), board_snapshot, 50)
    await db.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--other", type=int, default=9_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    machine_note()
    random.seed(7)
    with data_dir() as root:
        async with migrated_database(root) as dsn:
            tenant, board, agents = await fill(dsn, args.tasks, args.agents, args.other)
            await run(dsn, tenant, board, agents, args.queries)


if __name__ == "__main__":
    asyncio.run(main())
