"""Group commit: many small writes that finish at about the same time go to the database together.

A caller's ``write`` returns once the batch holding its item is committed, so what it tells its client
afterwards is in the database. While one batch is being written, new items gather for the next: an
idle gateway writes each item at once (no timer, no added latency), a busy one writes one statement
and one commit for many requests instead of one each.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import structlog

from clawgate import metrics
from clawgate.store import Database, DbConnection

__all__ = ["GroupWriter"]

T = TypeVar("T")
log = structlog.get_logger("clawgate.writer")


class GroupWriter(Generic[T]):
    """Batches items for ``write_batch(conn, items)``; one batch in flight at a time.

    A batch that fails is retried item by item, so one bad item fails only its own caller.
    """

    def __init__(
        self,
        db: Database,
        write_batch: Callable[[DbConnection, list[T]], Awaitable[None]],
        *,
        max_batch: int = 256,
    ) -> None:
        self._db = db
        self._write_batch = write_batch
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def write(self, item: T) -> None:
        """Return when ``item`` is committed. Raises what writing it raised (``Unavailable`` when the
        database is unreachable). Cancelling the caller does not withdraw the item."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((item, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush())
        await asyncio.shield(done)

    async def _flush(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            await self._write(batch)

    async def _write(self, batch: list[tuple[T, asyncio.Future[None]]]) -> None:
        try:
            async with self._db.connection() as conn:
                await self._write_batch(conn, [item for item, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exc)
                return
            log.debug("writer.batch_failed", size=len(batch), error=str(exc))
            for one in batch:
                await self._write([one])
            return
        metrics.WRITER_BATCHES.inc()
        metrics.WRITER_BATCH_SIZE.observe(len(batch))
        for _, done in batch:
            _settle(done, None)

    async def close(self) -> None:
        """Wait for the items already handed in to be written."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)


def _settle(done: asyncio.Future[None], error: Exception | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
        done.exception()  # retrieved: a caller that was cancelled meanwhile must not make it a log line
