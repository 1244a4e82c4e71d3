"""The group writer (group commit) against the embedded PostgreSQL: what ``write`` returns for is
committed, concurrent writes share commits, and one bad item fails only its own caller."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from clawgate.store import Database, create_database
from clawgate.writer import GroupWriter


@pytest.fixture(name="db")
async def _db(dsn: str) -> AsyncIterator[Database]:
    db = await create_database(dsn, max_size=4)
    async with db.connection() as conn:
        await conn.execute(
            "CREATE TABLE written (n integer CHECK (n >= 0), xid xid8 DEFAULT pg_current_xact_id())"
        )
    try:
        yield db
    finally:
        await db.close()


async def _insert(conn: asyncpg.Connection, items: list[int]) -> None:
    await conn.executemany("INSERT INTO written (n) VALUES ($1)", [(n,) for n in items])


async def _rows(db: Database) -> list[tuple[int, int]]:
    async with db.connection() as conn:
        return [
            (r["n"], int(str(r["xid"]))) for r in await conn.fetch("SELECT n, xid FROM written ORDER BY n")
        ]


async def test_a_lone_write_is_committed_when_it_returns(db: Database) -> None:
    writer: GroupWriter[int] = GroupWriter(db, _insert)
    await writer.write(7)
    assert [n for n, _ in await _rows(db)] == [7]


async def test_concurrent_writes_share_commits(db: Database) -> None:
    """Writes handed in while a batch is in flight go together: 50 writes, far fewer transactions."""
    writer: GroupWriter[int] = GroupWriter(db, _insert)
    await asyncio.gather(*(writer.write(n) for n in range(50)))
    rows = await _rows(db)
    assert [n for n, _ in rows] == list(range(50))
    transactions = {xid for _, xid in rows}
    assert len(transactions) <= 3, f"{len(transactions)} commits for 50 concurrent writes"


async def test_one_bad_item_fails_only_its_caller(db: Database) -> None:
    writer: GroupWriter[int] = GroupWriter(db, _insert)
    results = await asyncio.gather(*(writer.write(n) for n in (1, 2, -1, 3)), return_exceptions=True)
    assert results[:2] == [None, None]
    assert results[3] is None
    assert isinstance(results[2], asyncpg.CheckViolationError)
    assert [n for n, _ in await _rows(db)] == [1, 2, 3]


async def test_batches_are_capped(db: Database) -> None:
    writer: GroupWriter[int] = GroupWriter(db, _insert, max_batch=10)
    await asyncio.gather(*(writer.write(n) for n in range(35)))
    rows = await _rows(db)
    per_commit: dict[int, int] = {}
    for _, xid in rows:
        per_commit[xid] = per_commit.get(xid, 0) + 1
    assert len(rows) == 35
    assert max(per_commit.values()) <= 10


async def test_a_cancelled_caller_does_not_withdraw_its_item_and_close_waits(db: Database) -> None:
    writer: GroupWriter[int] = GroupWriter(db, _insert)
    tasks = [asyncio.create_task(writer.write(n)) for n in range(5)]
    await asyncio.sleep(0)
    for task in tasks:
        task.cancel()
    await writer.close()
    assert [n for n, _ in await _rows(db)] == list(range(5))
