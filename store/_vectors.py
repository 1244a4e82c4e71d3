"""What every vector search shares (memory's, the vault's, the knowledge graph's and the episodic
summaries'): the choice between an exact scan and the HNSW index (``vector_query``), the HNSW scan
settings, and a scored id.

Each namespace of named queries has ``search_vector`` (an exact scan, any dimension),
``search_vector_384`` (through the partial HNSW index of halfvecs at the offline default's dimension)
and ``scope_exceeds`` (its scope's parameters, then a size: whether the rows the search reads from
number more than that size, a count that stops there)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many

__all__ = [
    "EF_SEARCH",
    "EXACT_SCAN_MAX",
    "MAX_SCAN_TUPLES",
    "Scored",
    "hnsw_settings",
    "nearest",
    "scope_exceeds",
    "scored",
    "vector_query",
]

# HNSW search breadth and the most index tuples an iterative scan reads before it gives up on a filter
# (bench/memory.py: recall@10 against an exact scan at 100,000 chunks over 50 agents).
EF_SEARCH = 100
MAX_SCAN_TUPLES = 20_000
# A scope (an agent's chunks, a reader's documents) of at most this many rows is searched exactly (the
# default of the setting memory.exact_search_max_chunks): its rows are a small share of an index shared
# by every agent, so a filtered HNSW scan walks mostly other agents' neighbours (and may miss the
# agent's farther ones), while reading them all costs a few milliseconds and misses nothing (the "full
# scan threshold" of filtered vector search).
EXACT_SCAN_MAX = 5_000


class Scored(Struct, kw_only=True):
    """A row found by one side of a hybrid search, with that side's raw score."""

    id: UUID
    score: float


async def scored(conn: asyncpg.Connection, name: str, *args: Any) -> list[Scored]:
    return many(await conn.fetch(query(name), *args), Scored)


async def hnsw_settings(conn: asyncpg.Connection) -> None:
    """Set, for the transaction, the HNSW scan settings of a filtered vector search: iterative scan,
    ``EF_SEARCH``, ``MAX_SCAN_TUPLES``."""
    await conn.fetchval(query("memory.search_settings"), EF_SEARCH, MAX_SCAN_TUPLES)


async def scope_exceeds(conn: asyncpg.Connection, namespace: str, size: int, *scope: Any) -> bool:
    """Whether the scope (``<namespace>.scope_exceeds``'s parameters) holds more than ``size`` rows."""
    return bool(await conn.fetchval(query(f"{namespace}.scope_exceeds"), *scope, size))


async def vector_query(
    conn: asyncpg.Connection, namespace: str, dims: int, exact_max: int, *scope: Any
) -> str:
    """The named query a search of ``dims``-dimension vectors in ``scope`` runs: the HNSW index for
    384 dimensions once the scope holds more than ``exact_max`` rows (its scan settings then set for
    the transaction: call it in one), else an exact scan."""
    if dims == 384 and await scope_exceeds(conn, namespace, exact_max, *scope):
        await hnsw_settings(conn)
        return f"{namespace}.search_vector_384"
    return f"{namespace}.search_vector"


async def nearest(
    conn: asyncpg.Connection,
    namespace: str,
    vector: np.ndarray[Any, Any],
    *args: Any,
    exact_max: int = EXACT_SCAN_MAX,
) -> list[Scored]:
    """The rows nearest ``vector`` by ``vector_query``'s choice for the scope of the tenant and agent
    (``args``' first two; ``args`` are the query's parameters, ``vector`` the fourth). Call it in a
    transaction: the scan settings last that long."""
    name = await vector_query(conn, namespace, len(vector), exact_max, *args[:2])
    return await scored(conn, name, *args[:3], vector, *args[3:])
