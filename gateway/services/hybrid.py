"""What the knowledge graph and the episodic summaries share: embedding their rows (through the
memory's embedder and its cache), the query's vector (or why there is none), and GoClaw's weighted
linear fusion of a full-text and a vector side (reference section 6.2).

Memory keeps its own fusion (per-user boost, dedup by line range): ``services/memory.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

import numpy as np
import structlog

from clawgate.embedders import Embedder, EmbedderError
from clawgate.errors import GatewayError
from clawgate.services.embeddings import EmbeddingService
from clawgate.store import Database, DbConnection
from clawgate.store._vectors import Scored

__all__ = ["QueryVector", "SetEmbedding", "embed_rows", "fuse", "query_vector", "reindex"]

_REINDEX_BATCH = 100

SetEmbedding = Callable[[DbConnection, UUID, UUID, str, np.ndarray[Any, Any]], Awaitable[None]]
"""A store function writing one row's vector: (conn, tenant_id, row id, embedder name, vector)."""

PendingTenants = Callable[[DbConnection, str], Awaitable[list[UUID]]]
"""A store function: the tenants with rows waiting for the embedder named."""

PendingRows = Callable[[DbConnection, UUID, str, int], Awaitable[list[tuple[UUID, str]]]]
"""(conn, tenant_id, embedder name, limit) -> the (id, text) of rows waiting for that embedder."""

log = structlog.get_logger("clawgate.search")


class QueryVector:
    """The query embedded by the tenant's memory embedder, or ``note`` saying why not."""

    def __init__(self, embedder: Embedder | None, vector: np.ndarray[Any, Any] | None, note: str) -> None:
        self.embedder = embedder
        self.vector = vector
        self.note = note


async def query_vector(embeddings: EmbeddingService, tenant_id: UUID, text: str) -> QueryVector:
    """Embed ``text`` as a query; a missing or failing embedder is a note, never an error (search
    then answers on full text)."""
    embedder = await embeddings.for_memory(tenant_id)
    if embedder is None:
        return QueryVector(None, None, "embeddings are off or the embedding provider is not configured")
    try:
        vector = (await embedder.embed_queries([text])).vectors[0]
    except EmbedderError as exc:
        log.warning("search.query_embed_failed", embedder=embedder.name, error=str(exc))
        return QueryVector(None, None, f"the embedder {embedder.name} failed: {exc}")
    return QueryVector(embedder, vector, "")


async def embed_rows(
    embeddings: EmbeddingService,
    db: Database,
    tenant_id: UUID,
    rows: Sequence[tuple[UUID, str]],
    store: SetEmbedding,
    only: str = "",
) -> int:
    """Embed the texts of ``rows`` (id, text) as documents and ``store`` each vector; best effort:
    with no embedder (or not the one named ``only``), or one that fails, nothing is written and the
    rows wait for the background indexer. Returns: how many were embedded."""
    embedder = await embeddings.for_memory(tenant_id)
    if embedder is None or not rows or (only and embedder.name != only):
        return 0
    try:
        vectors = await embeddings.embed_documents(tenant_id, embedder, [text for _, text in rows])
        async with db.transaction() as conn:
            for (row_id, _), vector in zip(rows, vectors, strict=True):
                await store(conn, tenant_id, row_id, embedder.name, vector)
    except (EmbedderError, GatewayError) as exc:
        log.warning("search.embed_failed", embedder=embedder.name, rows=len(rows), error=str(exc))
        return 0
    return len(rows)


async def reindex(
    embeddings: EmbeddingService,
    db: Database,
    tenants: PendingTenants,
    pending: PendingRows,
    store: SetEmbedding,
) -> int:
    """Embed the rows left without a vector of the current embedder (it was down, or another one
    made theirs), tenant by tenant, a batch each; nothing when embeddings are off.
    Returns: how many were embedded."""
    embedder = embeddings.active_name()
    if not embedder:
        return 0
    async with db.connection() as conn:
        waiting = await tenants(conn, embedder)
    done = 0
    for tenant_id in waiting:
        async with db.connection() as conn:
            rows = await pending(conn, tenant_id, embedder, _REINDEX_BATCH)
        done += await embed_rows(embeddings, db, tenant_id, rows, store, embedder)
    return done


def _by_max(hits: Sequence[Scored]) -> list[Scored]:
    top = max((h.score for h in hits), default=0.0)
    return list(hits) if top <= 0 else [Scored(id=h.id, score=h.score / top) for h in hits]


def fuse(
    text: Sequence[Scored],
    vector: Sequence[Scored],
    text_weight: float,
    vector_weight: float,
    *,
    normalise_vector: bool,
) -> list[tuple[UUID, float]]:
    """Ids by fused score, best first: the full-text side divided by its best score (``ts_rank``'s
    scale is arbitrary), the vector side too when ``normalise_vector`` (vault and episodic) or raw
    similarities (the knowledge graph); weighted, and a side alone weighs 1."""
    sides = [
        (_by_max(text), text_weight),
        (_by_max(vector) if normalise_vector else list(vector), vector_weight),
    ]
    sides = [(hits, weight) for hits, weight in sides if hits]
    total: dict[UUID, float] = {}
    for hits, weight in sides:
        for hit in hits:
            total[hit.id] = total.get(hit.id, 0.0) + hit.score * (weight if len(sides) == 2 else 1.0)
    return sorted(total.items(), key=lambda item: item[1], reverse=True)
