"""What the knowledge graph's and the episodic summaries' searches share: a scored id, and the
nearest-vector query run with memory's HNSW scan settings (``store/memory.py``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many
from clawgate.store.memory import hnsw_settings

__all__ = ["Scored", "nearest", "scored"]


class Scored(Struct, kw_only=True):
    """A row found by one side of a hybrid search, with that side's raw score."""

    id: UUID
    score: float


async def scored(conn: asyncpg.Connection, name: str, *args: Any) -> list[Scored]:
    return many(await conn.fetch(query(name), *args), Scored)


async def nearest(
    conn: asyncpg.Connection, namespace: str, vector: np.ndarray[Any, Any], *args: Any
) -> list[Scored]:
    """The rows nearest ``vector`` by ``<namespace>.search_vector_384`` (the halfvec HNSW index) or
    ``<namespace>.search_vector`` (an exact scan, any other dimension); ``args`` are the query's
    parameters, ``vector`` the fourth. Call it in a transaction: the scan settings last that long."""
    await hnsw_settings(conn)
    name = f"{namespace}.search_vector_384" if len(vector) == 384 else f"{namespace}.search_vector"
    return await scored(conn, name, *args[:3], vector, *args[3:])
