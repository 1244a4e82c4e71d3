"""Background rounds: a task that runs its jobs one after the other every ``interval`` seconds,
surviving a database that is away. Memory's and the vault's indexers are one each (they embed the
documents left without a vector of the current embedder); the knowledge graph's and the episodic
summaries' jobs share one (embed what waits, summarise sessions that went idle).

Every process runs the rounds, but a job runs in one process at a time: it first takes the job's
advisory lock (``store.background.claim_job``) in a transaction held open while it runs; a process
that finds the lock taken skips the job this round (the other one is doing it). The lock goes with
the transaction, or with the connection of a process that died."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from clawgate.errors import GatewayError
from clawgate.store import Database, background

__all__ = ["BackgroundRounds", "Job"]

log = structlog.get_logger("clawgate.background")

Job = Callable[[], Awaitable[int]]
"""One job of a round; returns how many rows it wrote."""


class BackgroundRounds:
    def __init__(self, db: Database, name: str, interval: float, jobs: Sequence[Job]) -> None:
        self._db, self._name, self._interval, self._jobs = db, name, interval, list(jobs)
        self._task: asyncio.Task[None] | None = None

    def add(self, job: Job) -> None:
        """One more job for the rounds (a service built after them)."""
        self._jobs.append(job)

    def start(self) -> None:
        """Start the rounds. Call it in the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name=self._name)

    async def stop(self) -> None:
        """Cancel the rounds; work cut short is found again by the next start's first round."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_once(self) -> int:
        """One round of every job this process claims. Returns: how many rows they wrote."""
        done = 0
        for job in self._jobs:
            try:
                done += await self._claimed(job)
            except GatewayError as exc:  # the database is away: the next round tries again
                log.warning("background.round_failed", task=self._name, error=str(exc))
        return done

    async def _claimed(self, job: Job) -> int:
        """Run ``job`` if no other process runs it now (0 if one does)."""
        name = f"{self._name}:{getattr(job, '__qualname__', repr(job))}"
        async with self._db.transaction() as conn:
            if not await background.claim_job(conn, name):
                log.debug("background.job_busy", task=self._name, job=name)
                return 0
            return await job()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            await self.run_once()
