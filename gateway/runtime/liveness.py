"""Process liveness and the sweeper: each process holds a PostgreSQL advisory lock for its lifetime
and heartbeats its running runs; a sweeper fails the runs of processes whose lock is gone (killed),
at startup and every few seconds, and once a minute tidies expired idempotency keys and spilled bus
events. The sweep also tells the bus whether any other process holds a liveness lock: a process
alone sends no cross-process notifications of its runs' events (``EventBus.alone``); one that
starts announces itself once it holds its lock, and the others notify again (``EventBus.joined``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from clawgate.bus import EventBus
from clawgate.errors import GatewayError
from clawgate.runtime.events import Failed, run_event
from clawgate.store import Database, DbConnection, runs
from clawgate.store import bus as bus_store
from clawgate.store.db import Unreachable, connect

__all__ = ["ORPHANED", "Liveness"]

log = structlog.get_logger("clawgate.runs")

_HEARTBEAT_SECONDS = 10.0
_SWEEP_SECONDS = 5.0
_TIDY_SECONDS = 60.0  # how often a sweep also drops expired idempotency keys and old spilled events
ORPHANED = "the gateway process running it stopped"


class Liveness:
    """This process's liveness lock, its heartbeat, and the sweeper of other processes' runs.

    ``busy`` says whether this process runs anything (then its runs' heartbeat is written).
    """

    def __init__(self, db: Database, bus: EventBus, process_id: str, busy: Callable[[], bool]) -> None:
        self._db = db
        self._bus = bus
        self._process_id = process_id
        self._busy = busy
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock_conn: DbConnection | None = None
        self._tidy_at = 0.0  # the first sweep (at start) tidies

    async def start(self) -> None:
        """Take the lock, fail runs of dead processes, start the heartbeat and sweep loops."""
        await self._take_lock()
        self._spawn(self._bus.announce())  # once listening: not on the way to serving
        await self.sweep()
        self._spawn(self._heartbeat_loop())
        self._spawn(self._sweep_loop())

    async def stop(self) -> None:
        """Stop the loops and release the lock (its connection closes)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._lock_conn is not None:
            try:
                await asyncio.wait_for(self._lock_conn.close(), 2)
            except Exception as exc:  # the lock dies with the connection anyway
                log.debug("runs.lock_close_failed", error=str(exc))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _take_lock(self) -> None:
        try:
            conn = await connect(self._db.dsn)
            await runs.hold_liveness(conn, self._process_id)
            self._lock_conn = conn
        except Unreachable as exc:
            log.warning("runs.lock_failed", error=str(exc))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(_HEARTBEAT_SECONDS)
            try:
                if self._lock_conn is None or self._lock_conn.is_closed():
                    await self._take_lock()
                if self._busy():
                    async with self._db.connection() as conn:
                        await runs.heartbeat(conn, self._process_id)
            except Exception as exc:
                log.debug("runs.heartbeat_failed", error=str(exc))

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_SECONDS)
            try:
                await self.sweep()
            except Exception:  # a lost database is handled in sweep; this is a bug, and the loop goes on
                log.exception("runs.sweep_crashed")

    async def sweep(self) -> int:
        """Fail runs left ``running`` by processes that no longer hold their liveness lock; once a
        minute also free idempotency keys past 24 hours and spilled events past an hour."""
        failed = 0
        try:
            async with self._db.connection() as conn:
                await self._count_peers(conn)
                for process in await runs.running_processes(conn, self._process_id):
                    failed += await self._fail_orphans(conn, process)
                if time.monotonic() >= self._tidy_at:
                    self._tidy_at = time.monotonic() + _TIDY_SECONDS
                    keys, spilled = await runs.expire_idempotency(conn), await bus_store.prune_spill(conn)
                    if keys or spilled:
                        log.info("runs.tidied", idempotency_keys=keys, spilled_events=spilled)
        except GatewayError as exc:
            log.debug("runs.sweep_failed", error=str(exc))
        if failed:
            log.warning("runs.failed_orphans", count=failed)
        return failed

    async def _count_peers(self, conn: DbConnection) -> None:
        """Tell the bus whether another process is alive (holds its liveness lock); while this
        process does not hold its own lock, as if one were."""
        since = time.monotonic()
        others = await runs.other_live_processes(conn, self._process_id)
        if others or self._lock_conn is None or self._lock_conn.is_closed():
            self._bus.joined()
        else:
            self._bus.alone(since)

    async def _fail_orphans(self, conn: DbConnection, process: str) -> int:
        async with conn.transaction():
            free = await runs.liveness_free(conn, process)
        if not free:
            return 0
        dead = await runs.fail_process(conn, process, ORPHANED)
        for run in dead:
            await self._bus.publish(
                run_event(
                    "run.failed",
                    tenant_id=run.tenant_id,
                    run_id=run.id,
                    session_key=run.session_key,
                    agent_key=run.agent_key,
                    user_id=run.user_id,
                    seq=0,
                    payload=Failed(error=ORPHANED),
                )
            )
        return len(dead)
