"""Episodic memory: a summary of each compacted conversation, kept per agent and user and found again
by later sessions (GoClaw's ``/v1/agents/{id}/episodic`` and its search).

A summary is written when a session is compacted (after a run, ``clawgate.runtime.upkeep``, or by
``sessions.compact``), or after it has been idle (``summarize_idle``, a background round), once per
compacted range or idle state however many processes try; it is embedded by the
memory's embedder (through its cache) when that works, and is found by words meanwhile. Search is
GoClaw's: full-text rank and vector similarity each divided by its best, then 0.4 / 0.6.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

import msgspec
import structlog
from msgspec import Meta, Struct

from clawgate.errors import GatewayError
from clawgate.principal import Principal
from clawgate.runtime.compaction import summarize
from clawgate.runtime.llm import LLMResolver
from clawgate.services.agents import AgentService
from clawgate.services.embeddings import EmbeddingService
from clawgate.services.hybrid import embed_rows, fuse, query_vector, reindex
from clawgate.services.memory import reader_user
from clawgate.store import Database, agents, episodic, sessions
from clawgate.store.episodic import Episode, NewEpisode
from clawgate.store.types import MessageRow

__all__ = ["EpisodeHit", "EpisodeList", "EpisodicSearchBody", "EpisodicSearchResult", "EpisodicService"]

log = structlog.get_logger("clawgate.episodic")

TEXT_WEIGHT, VECTOR_WEIGHT = 0.4, 0.6
IDLE_MINUTES = 30.0  # a session quiet this long is summarised (agent's compaction_config.episodicIdleMinutes)
IDLE_MIN_MESSAGES = 4  # and only with this many messages in context
TTL = timedelta(days=90)  # a summary is deleted this long after it was written (GoClaw's TTL)
_EXPIRE_BATCH = 500  # summaries deleted per statement
_IDLE_BATCH = 5  # sessions summarised per round (each is a model call)


class EpisodicSearchBody(Struct, kw_only=True, forbid_unknown_fields=True):
    query: Annotated[str, Meta(min_length=1, max_length=4000)]
    user_id: Annotated[str, Meta(min_length=1, max_length=255)] | None = None
    max_results: Annotated[int, Meta(ge=1, le=100)] | None = None  # default 10
    min_score: Annotated[float, Meta(ge=0, le=1)] | None = None  # default 0


class EpisodeHit(Episode, kw_only=True):
    score: float


class EpisodeList(Struct, kw_only=True):
    episodes: list[Episode]
    count: int


class EpisodicSearchResult(Struct, kw_only=True):
    results: list[EpisodeHit]
    count: int
    search_mode: str  # hybrid | fulltext
    note: str = ""


class EpisodicService:
    def __init__(
        self, db: Database, agents: AgentService, embeddings: EmbeddingService, llm: LLMResolver
    ) -> None:
        self._db = db
        self._agents = agents
        self._embeddings = embeddings
        self._llm = llm

    async def record(
        self,
        tenant_id: UUID,
        agent_id: UUID,
        user_id: str,
        session_key: str,
        summary: str,
        rows: list[MessageRow],
        source_id: str,
        source_type: str = "compaction",
    ) -> None:
        """Keep ``summary`` of the messages ``rows`` of a session (the range ``source_id`` names),
        then embed it. Never raises: a compaction does not fail for its episode (logged)."""
        if not summary.strip():
            return
        new = NewEpisode(
            agent_id=agent_id, user_id=user_id, session_key=session_key, summary=summary,
            l0_abstract=" ".join(summary.split())[:200], source_id=source_id, source_type=source_type,
            turn_count=sum(1 for r in rows if r.role == "user"), token_count=len(summary) // 4,
            started_at=rows[0].created_at if rows else None, ended_at=rows[-1].created_at if rows else None,
            expires_at=datetime.now(UTC) + TTL,
        )  # fmt: skip
        try:
            async with self._db.transaction() as conn:
                episode_id = await episodic.insert(conn, tenant_id, new)
        except GatewayError as exc:
            log.warning("episodic.record_failed", session_key=session_key, error=str(exc))
            return
        if episode_id is not None:  # else another process wrote this compaction's episode
            await embed_rows(
                self._embeddings, self._db, tenant_id, [(episode_id, summary)], episodic.set_embedding
            )

    async def reindex_pending(self) -> int:
        """Embed the summaries left without a vector of the current embedder (background rounds)."""
        return await reindex(
            self._embeddings,
            self._db,
            episodic.pending_tenants,
            episodic.pending,
            episodic.set_embedding,
        )

    async def expire_old(self) -> int:
        """Delete the summaries past their expiry (``TTL`` after they were written), a batch a
        statement (background rounds). Returns: how many."""
        done = 0
        while True:
            async with self._db.transaction() as conn:
                deleted = await episodic.expire(conn, _EXPIRE_BATCH)
            done += deleted
            if deleted < _EXPIRE_BATCH:
                return done

    async def summarize_idle(self) -> int:
        """Summarise sessions that went quiet (``IDLE_MINUTES``, or the agent's
        ``compaction_config.episodicIdleMinutes``; 0: never) with the agent's model, as compaction
        does, and keep each summary once per state of the session (a later idle spell after more
        messages gives another). The session itself is not changed. Returns: how many were kept."""
        async with self._db.connection() as conn:
            idle = await episodic.idle_sessions(conn, IDLE_MINUTES, IDLE_MIN_MESSAGES, _IDLE_BATCH)
        done = 0
        for s in idle:
            try:
                async with self._db.connection() as conn:
                    agent = await agents.get(conn, s.tenant_id, s.agent_id)
                    rows = await sessions.messages(conn, s.tenant_id, s.id, start=s.context_start)
                if agent is None:
                    continue
                summary = await summarize((await self._llm.targets(agent))[0], rows, s.summary)
            except GatewayError as exc:  # no provider, the provider failed, the database is away
                log.warning("episodic.idle_summary_failed", session_key=s.session_key, error=str(exc))
                continue
            source = f"{s.id}:idle:{s.message_count}"
            await self.record(
                s.tenant_id, s.agent_id, s.user_id, s.session_key, summary, rows, source, "idle"
            )
            done += 1
        return done

    async def list_episodes(
        self, who: Principal, agent_ref: str, user_id: str | None, limit: int, offset: int
    ) -> EpisodeList:
        """The agent's summaries, newest first: the caller's own (any user's for admins)."""
        agent, reader = await self._agents.get(who, agent_ref), reader_user(who, user_id, "episodic memory")
        async with self._db.connection() as conn:
            found = await episodic.list_episodes(conn, who.tenant_id, agent.id, reader, limit, offset)
        return EpisodeList(episodes=found, count=len(found))

    async def search(self, who: Principal, agent_ref: str, body: EpisodicSearchBody) -> EpisodicSearchResult:
        """Hybrid search of the summaries the caller sees (``body.user_id``'s for admins)."""
        agent, reader = (
            await self._agents.get(who, agent_ref),
            reader_user(who, body.user_id, "episodic memory"),
        )
        return await self.search_agent(who.tenant_id, agent.id, reader, body)

    async def search_agent(
        self, tenant_id: UUID, agent_id: UUID, reader: str | None, body: EpisodicSearchBody
    ) -> EpisodicSearchResult:
        limit = body.max_results or 10
        async with self._db.connection() as conn:
            by_text = await episodic.search_text(conn, tenant_id, agent_id, reader, body.query, limit * 2)
        found = await query_vector(self._embeddings, tenant_id, body.query)
        by_vector = []
        if found.embedder is not None and found.vector is not None:
            async with self._db.transaction() as conn:
                by_vector = await episodic.search_vector(
                    conn, tenant_id, agent_id, reader, found.vector, found.embedder.name, limit * 2
                )
        ranked = [
            (i, s) for i, s in fuse(by_text, by_vector, TEXT_WEIGHT, VECTOR_WEIGHT, normalise_vector=True)
            if s >= (body.min_score or 0.0)
        ][:limit]  # fmt: skip
        async with self._db.connection() as conn:
            rows = await episodic.by_ids(conn, tenant_id, agent_id, [i for i, _ in ranked])
        hits = [
            EpisodeHit(**msgspec.structs.asdict(rows[i]), score=round(s, 6)) for i, s in ranked if i in rows
        ]
        if hits:
            async with self._db.transaction() as conn:
                await episodic.recalled(conn, tenant_id, [h.id for h in hits])
        note = found.note or ("" if by_vector else "no summary is embedded by this embedder yet")
        mode = "hybrid" if by_vector else "fulltext"
        return EpisodicSearchResult(results=hits, count=len(hits), search_mode=mode, note=note)
