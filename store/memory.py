"""Agent memory: documents, their chunks (line ranges, full text, embeddings), the two sides of a
hybrid search, and the embedding cache. Every query takes the tenant id; a document's owner is
``(agent_id, user)`` with user ``""`` for documents shared by the agent's users."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from pgvector import Vector

from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe, one
from clawgate.store._vectors import EXACT_SCAN_MAX, scope_exceeds, vector_query
from clawgate.store.types import ChunkHit, ChunkText, MemoryChunk, MemoryDocument, MemoryDocumentInfo

__all__ = [
    "EXACT_SCAN_MAX",
    "Chunk",
    "ann_admit",
    "ann_backlog_agents",
    "cache_get",
    "cache_put",
    "chunks_of_document",
    "delete_document",
    "document_owners",
    "exceeds",
    "get_document",
    "list_chunks",
    "list_documents",
    "mark_document",
    "pending_documents",
    "pending_tenants",
    "put_document",
    "replace_chunks",
    "replace_chunks_embedded",
    "search_text",
    "search_vector",
    "set_embeddings",
]

Chunk = tuple[int, int, str, str]
"""A chunk to store: (start_line, end_line, hash, text)."""


async def get_document(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, user: str, path: str
) -> MemoryDocument | None:
    row = await conn.fetchrow(query("memory.document_get"), tenant_id, agent_id, user, path)
    return maybe(row, MemoryDocument)


async def put_document(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, user: str, path: str, content: str, digest: str
) -> MemoryDocument:
    """Insert or replace a document; it is ``pending`` until ``mark_document`` says otherwise."""
    row = await conn.fetchrow(
        query("memory.document_upsert"), tenant_id, agent_id, user, path, content, digest
    )
    return one(row, MemoryDocument)


async def delete_document(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, user: str, path: str
) -> bool:
    """Delete a document and (cascade) its chunks. Returns whether it existed."""
    status: str = await conn.execute(query("memory.document_delete"), tenant_id, agent_id, user, path)
    return affected(status) == 1


async def document_owners(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, limit: int) -> list[str]:
    """Who owns the agent's documents: ``""`` for shared ones, else user ids (at most ``limit``)."""
    rows = await conn.fetch(query("memory.document_owners"), tenant_id, agent_id, limit)
    return [r["owner"] for r in rows]


async def mark_document(
    conn: asyncpg.Connection, doc: MemoryDocument, status: str, embedder: str, error: str
) -> bool:
    """Record the outcome of indexing ``doc``, unless its content changed meanwhile."""
    result: str = await conn.execute(
        query("memory.document_mark"), doc.tenant_id, doc.id, doc.hash, status, embedder, error
    )
    return affected(result) == 1


async def list_documents(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID | None,
    user: str | None,
    limit: int,
    offset: int,
) -> list[MemoryDocumentInfo]:
    """Documents of one agent (or all, ``agent_id`` None); ``user`` None: every user's, else the
    shared ones and ``user``'s."""
    rows = await conn.fetch(query("memory.documents_list"), tenant_id, agent_id, user, limit, offset)
    return many(rows, MemoryDocumentInfo)


async def pending_documents(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID | None,
    embedder: str,
    limit: int,
    settle_seconds: float = 0.0,
) -> list[MemoryDocument]:
    """Documents waiting for embeddings, or embedded by another embedder than ``embedder``; with
    ``settle_seconds``, not those written that recently whose writer is still embedding them."""
    rows = await conn.fetch(
        query("memory.documents_pending"), tenant_id, agent_id, limit, embedder, settle_seconds
    )
    return many(rows, MemoryDocument)


async def pending_tenants(conn: asyncpg.Connection, embedder: str) -> list[UUID]:
    """The tenants that have documents to index for ``embedder`` (for the background indexer)."""
    return [r["tenant_id"] for r in await conn.fetch(query("memory.pending_tenants"), embedder)]


async def replace_chunks(conn: asyncpg.Connection, doc: MemoryDocument, chunks: Sequence[Chunk]) -> None:
    """Replace the chunks of ``doc`` (full text searchable at once, embeddings to come)."""
    await conn.execute(query("memory.chunks_delete"), doc.tenant_id, doc.id)
    starts, ends, hashes, texts = (
        (list(col) for col in zip(*chunks, strict=True)) if chunks else ([], [], [], [])
    )
    await conn.execute(
        query("memory.chunks_insert"), doc.tenant_id, doc.agent_id, doc.id, doc.user_id or "", doc.path,
        starts, ends, hashes, texts,
    )  # fmt: skip


async def replace_chunks_embedded(
    conn: asyncpg.Connection,
    doc: MemoryDocument,
    chunks: Sequence[Chunk],
    embedder: str,
    vectors: Sequence[np.ndarray[Any, Any]],
) -> None:
    """Replace the chunks of ``doc`` with chunks embedded already (``vectors[i]`` is chunk i's, made
    by ``embedder``), in one statement."""
    await conn.execute(query("memory.chunks_delete"), doc.tenant_id, doc.id)
    starts, ends, hashes, texts = (list(col) for col in zip(*chunks, strict=True))
    await conn.execute(
        query("memory.chunks_insert_embedded"),
        doc.tenant_id,
        doc.agent_id,
        doc.id,
        doc.user_id or "",
        doc.path,
        starts,
        ends,
        hashes,
        texts,
        [Vector(v) for v in vectors],  # an ndarray would be read as one more array dimension
        embedder,
    )


async def chunks_of_document(conn: asyncpg.Connection, tenant_id: UUID, document_id: UUID) -> list[ChunkText]:
    return many(await conn.fetch(query("memory.chunks_of_document"), tenant_id, document_id), ChunkText)


async def set_embeddings(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    embedder: str,
    items: Sequence[tuple[UUID, np.ndarray[Any, Any]]],
) -> None:
    """Store each chunk's embedding with the embedder's name beside it."""
    await conn.executemany(
        query("memory.chunk_set_embedding"),
        [(tenant_id, chunk_id, embedder, len(vector), vector) for chunk_id, vector in items],
    )


async def list_chunks(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    user: str | None,
    path: str | None,
    limit: int,
    offset: int,
) -> list[MemoryChunk]:
    """Chunks of an agent; ``user`` None: every user's, else the shared ones and ``user``'s;
    ``path`` None: of every document."""
    rows = await conn.fetch(query("memory.chunks_list"), tenant_id, agent_id, user, path, limit, offset)
    return many(rows, MemoryChunk)


async def search_text(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    user: str | None,
    text: str,
    prefix: str,
    limit: int,
) -> list[ChunkHit]:
    """Chunks matching ``text`` (``plainto_tsquery('simple')``) by ``ts_rank``: the shared ones and
    ``user``'s."""
    rows = await conn.fetch(query("memory.search_text"), tenant_id, agent_id, user, text, prefix, limit)
    return many(rows, ChunkHit)


async def exceeds(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, chunks: int) -> bool:
    """Whether the agent holds more than ``chunks`` chunks (a count that stops at ``chunks`` + 1)."""
    return await scope_exceeds(conn, "memory", chunks, tenant_id, agent_id)


async def search_vector(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    user: str | None,
    vector: np.ndarray[Any, Any],
    prefix: str,
    embedder: str,
    limit: int,
    exact_max: int = EXACT_SCAN_MAX,
) -> list[ChunkHit]:
    """The chunks nearest ``vector`` (cosine similarity) among those ``embedder`` made, through
    ``_vectors.vector_query``'s choice (exact up to ``exact_max`` chunks of the agent, else HNSW).
    Call it in a transaction: the HNSW scan settings are set for that transaction only."""
    name = await vector_query(conn, "memory", len(vector), exact_max, tenant_id, agent_id)
    rows = await conn.fetch(query(name), tenant_id, agent_id, user, vector, prefix, embedder, limit)
    return many(rows, ChunkHit)


async def ann_backlog_agents(conn: asyncpg.Connection, exact_max: int) -> list[tuple[UUID, UUID]]:
    """(tenant, agent) of the agents above ``exact_max`` chunks with chunks not admitted to the HNSW
    index yet."""
    rows = await conn.fetch(query("memory.ann_backlog_agents"), exact_max)
    return [(r["tenant_id"], r["agent_id"]) for r in rows]


async def ann_admit(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, batch: int) -> int:
    """Admit up to ``batch`` of the agent's chunks to the HNSW index (those another process is
    admitting are skipped). Returns: how many."""
    status = await conn.execute(query("memory.ann_admit"), tenant_id, agent_id, batch)
    return int(status.rsplit(" ", 1)[-1])


async def cache_get(
    conn: asyncpg.Connection, tenant_id: UUID, embedder: str, hashes: list[str]
) -> dict[str, np.ndarray[Any, Any]]:
    """Cached embeddings of these content hashes, by hash."""
    rows = await conn.fetch(query("memory.cache_get"), tenant_id, embedder, hashes)
    return {r["hash"]: r["embedding"].to_numpy() for r in rows}


async def cache_put(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    embedder: str,
    items: Sequence[tuple[str, np.ndarray[Any, Any]]],
) -> None:
    await conn.executemany(
        query("memory.cache_put"), [(tenant_id, embedder, digest, len(vec), vec) for digest, vec in items]
    )
