"""The knowledge graph: entities, relations, traversal, graph views, dedup candidates and merges.

Every query takes the tenant and the agent. ``user`` is the owner of an entity (``""``: shared by
the agent's users); ``reader`` is whose entities a read shows besides the shared ones (None:
everyone's). Relations and candidates reference entities by (tenant, agent, id), so the database
refuses any link between two agents or two tenants (``NotFound`` here).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import numpy as np
from msgspec import Struct

from clawgate.errors import FailedPrecondition, NotFound
from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe, one
from clawgate.store._vectors import Scored, hnsw_settings, nearest, scored

__all__ = [
    "DedupCandidate",
    "Entity",
    "EntityFields",
    "GraphStats",
    "Relation",
    "TraversalHit",
    "add_candidates",
    "dedup_names",
    "dedup_vector_pairs",
    "delete_entity",
    "dismiss_candidate",
    "entities_by_ids",
    "find_entity",
    "get_entity",
    "graph_entities",
    "list_candidates",
    "list_entities",
    "lock_entities",
    "merge",
    "pending_entities",
    "pending_tenants",
    "relations_among",
    "relations_of",
    "search_text",
    "search_vector",
    "set_embedding",
    "stats",
    "traverse",
    "upsert_entity",
    "upsert_relation",
]

JSON = dict[str, Any]


class Entity(Struct, kw_only=True):
    """A knowledge-graph entity; ``user_id`` ``""``: shared by the agent's users."""

    id: UUID
    agent_id: UUID
    user_id: str
    external_id: str
    name: str
    entity_type: str
    description: str
    properties: JSON
    source_id: str
    confidence: float
    embedder: str
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime
    updated_at: datetime


class EntityFields(Struct, kw_only=True):
    """What an upsert writes; None leaves the stored value (a new entity gets the default)."""

    name: str
    entity_type: str
    external_id: str | None = None
    description: str | None = None
    properties: JSON | None = None
    source_id: str | None = None
    confidence: float | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None


class Relation(Struct, kw_only=True):
    id: UUID
    source_entity_id: UUID
    source_name: str
    relation_type: str
    target_entity_id: UUID
    target_name: str
    confidence: float
    properties: JSON
    valid_from: datetime | None
    valid_until: datetime | None
    created_at: datetime


class TraversalHit(Entity, kw_only=True):
    """An entity reached by a traversal: its depth, the path of ids from the start (both ends
    included) and the relation it was reached by (``~type`` when followed backwards)."""

    depth: int
    path: list[UUID]
    via: str


class GraphStats(Struct, kw_only=True):
    entity_count: int
    relation_count: int
    entity_types: dict[str, int]
    relation_types: dict[str, int]
    dedup_pending: int


class DedupCandidate(Struct, kw_only=True):
    id: UUID
    entity_a_id: UUID
    entity_a_name: str
    entity_b_id: UUID
    entity_b_name: str
    entity_type: str
    user_id: str
    similarity: float
    reason: str  # name | embedding
    status: str  # pending | dismissed
    created_at: datetime
    updated_at: datetime


class NameRow(Struct, kw_only=True):
    id: UUID
    user_id: str
    entity_type: str
    name_key: str


async def upsert_entity(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, user: str, fields: EntityFields
) -> Entity:
    """Insert the entity, or update the one of the same normalised name and type in the scope."""
    row = await conn.fetchrow(
        query("kg.entity_upsert"), tenant_id, agent_id, user, fields.name, fields.entity_type,
        fields.external_id, fields.description, fields.properties, fields.source_id, fields.confidence,
        fields.valid_from, fields.valid_until,
    )  # fmt: skip
    return one(row, Entity)


async def set_embedding(
    conn: asyncpg.Connection, tenant_id: UUID, entity_id: UUID, embedder: str, vector: np.ndarray[Any, Any]
) -> None:
    await conn.execute(query("kg.entity_set_embedding"), tenant_id, entity_id, embedder, len(vector), vector)


async def get_entity(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, entity_id: UUID, reader: str | None
) -> Entity | None:
    return maybe(await conn.fetchrow(query("kg.entity_get"), tenant_id, agent_id, entity_id, reader), Entity)


async def find_entity(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, user: str, name: str, entity_type: str | None
) -> Entity | None:
    """The entity of scope ``user`` with this (normalised) name, of ``entity_type`` if given."""
    row = await conn.fetchrow(query("kg.entity_find"), tenant_id, agent_id, user, name, entity_type)
    return maybe(row, Entity)


async def delete_entity(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, entity_id: UUID) -> bool:
    """Delete an entity with (cascade) its relations and candidates. Returns whether it existed."""
    return affected(await conn.execute(query("kg.entity_delete"), tenant_id, agent_id, entity_id)) == 1


async def list_entities(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    reader: str | None,
    types: list[str] | None,
    limit: int,
    offset: int,
) -> list[Entity]:
    rows = await conn.fetch(query("kg.entities_list"), tenant_id, agent_id, reader, types, limit, offset)
    return many(rows, Entity)


async def entities_by_ids(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, ids: Sequence[UUID]
) -> dict[UUID, Entity]:
    rows = await conn.fetch(query("kg.entities_by_ids"), tenant_id, agent_id, list(ids))
    return {e.id: e for e in many(rows, Entity)}


async def search_text(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    reader: str | None,
    text: str,
    types: list[str] | None,
    limit: int,
) -> list[Scored]:
    """Entities whose name or description has the words of ``text`` (``ts_rank``), or whose name
    holds ``text`` (1 for the whole name, 0.5 for a part)."""
    return await scored(conn, "kg.entities_search_text", tenant_id, agent_id, reader, text, types, limit)


async def search_vector(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    reader: str | None,
    vector: np.ndarray[Any, Any],
    types: list[str] | None,
    embedder: str,
    limit: int,
) -> list[Scored]:
    """The entities nearest ``vector`` among those ``embedder`` made. Call it in a transaction."""
    return await nearest(conn, "kg", vector, tenant_id, agent_id, reader, types, embedder, limit)


async def upsert_relation(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    source_id: UUID,
    relation_type: str,
    target_id: UUID,
    confidence: float | None,
    properties: JSON | None,
    valid: tuple[datetime | None, datetime | None] = (None, None),
) -> UUID:
    """Insert the relation or update its confidence, properties and ``valid`` (from, until; None
    leaves what is stored). Raises: NotFound when an end is not an entity of the agent."""
    try:
        rel_id: UUID = await conn.fetchval(
            query("kg.relation_upsert"), tenant_id, agent_id, source_id, relation_type, target_id,
            confidence, properties, *valid,
        )  # fmt: skip
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(kind="entity", id=f"{source_id} or {target_id}") from None
    return rel_id


async def relations_of(
    conn: asyncpg.Connection, tenant_id: UUID, entity_id: UUID, reader: str | None
) -> list[Relation]:
    return many(await conn.fetch(query("kg.relations_of"), tenant_id, entity_id, reader), Relation)


async def relations_among(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, ids: Sequence[UUID]
) -> list[Relation]:
    return many(await conn.fetch(query("kg.relations_among"), tenant_id, agent_id, list(ids)), Relation)


async def graph_entities(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, reader: str | None, limit: int
) -> list[Entity]:
    """The most recently updated entities, at most ``limit``."""
    return many(await conn.fetch(query("kg.graph_entities"), tenant_id, agent_id, reader, limit), Entity)


async def traverse(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    reader: str | None,
    start: UUID,
    depth: int,
    limit: int,
) -> list[TraversalHit]:
    """Entities reachable from ``start`` within ``depth`` relations, either direction, each once at
    its smallest depth. Call it in a transaction (a 5 s statement timeout is set for it).
    Raises: FailedPrecondition when the walk takes longer (a very dense graph)."""
    await conn.fetchval(query("kg.traverse_settings"))
    try:
        rows = await conn.fetch(query("kg.traverse"), tenant_id, agent_id, reader, start, depth, limit)
    except asyncpg.QueryCanceledError:
        raise FailedPrecondition(detail="the traversal took longer than 5 s: lower max_depth") from None
    return many(rows, TraversalHit)


async def stats(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, reader: str | None) -> GraphStats:
    row = await conn.fetchrow(query("kg.stats"), tenant_id, agent_id, reader)
    return one(row, GraphStats)


async def dedup_names(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, limit: int) -> list[NameRow]:
    return many(await conn.fetch(query("kg.dedup_names"), tenant_id, agent_id, limit), NameRow)


async def dedup_vector_pairs(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, embedder: str, threshold: float
) -> list[tuple[UUID, UUID, float]]:
    """Pairs (a < b) of one scope and type whose vectors of ``embedder`` are that similar (each
    entity's 5 nearest). Call it in a transaction: the HNSW scan settings are set for it."""
    await hnsw_settings(conn)
    rows = [
        *await conn.fetch(query("kg.dedup_vector_pairs_384"), tenant_id, agent_id, embedder, threshold),
        *await conn.fetch(query("kg.dedup_vector_pairs"), tenant_id, agent_id, embedder, threshold),
    ]
    return [(r["entity_a"], r["entity_b"], float(r["similarity"])) for r in rows]


async def add_candidates(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    pairs: Sequence[tuple[UUID, UUID, float, str]],
) -> None:
    """Record candidate pairs (a < b, similarity, reason); dismissed pairs stay dismissed."""
    if not pairs:
        return
    a, b, sim, reason = (list(col) for col in zip(*pairs, strict=True))
    await conn.execute(query("kg.dedup_upsert"), tenant_id, agent_id, a, b, sim, reason)


async def list_candidates(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    reader: str | None,
    status: str,
    limit: int,
    offset: int,
) -> list[DedupCandidate]:
    rows = await conn.fetch(query("kg.dedup_list"), tenant_id, agent_id, reader, status, limit, offset)
    return many(rows, DedupCandidate)


async def dismiss_candidate(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, candidate_id: UUID, reader: str | None
) -> bool:
    found = await conn.fetchval(query("kg.dedup_dismiss"), tenant_id, agent_id, candidate_id, reader)
    return found is not None


async def lock_entities(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, ids: Sequence[UUID]
) -> dict[UUID, Entity]:
    """The agent's entities among ``ids``, locked for the transaction (in id order)."""
    rows = await conn.fetch(query("kg.entities_lock"), tenant_id, agent_id, list(ids))
    return {e.id: e for e in many(rows, Entity)}


async def merge(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, source: UUID, target: UUID) -> int:
    """Fold entity ``source`` into ``target``: its relations re-pointed (none doubled, none between
    the two kept), its description and properties where ``target`` has none, then ``source``
    deleted. Call it in a transaction, with both locked. Returns: how many relations moved."""
    moved = affected(await conn.execute(query("kg.merge_relations"), tenant_id, agent_id, source, target))
    await conn.execute(query("kg.merge_fields"), tenant_id, agent_id, source, target)
    await conn.execute(query("kg.entity_delete"), tenant_id, agent_id, source)
    return moved


async def pending_tenants(conn: asyncpg.Connection, embedder: str) -> list[UUID]:
    """The tenants with entities to embed for ``embedder`` (for the background indexer)."""
    return [r["tenant_id"] for r in await conn.fetch(query("kg.pending_tenants"), embedder)]


async def pending_entities(
    conn: asyncpg.Connection, tenant_id: UUID, embedder: str, limit: int
) -> list[Entity]:
    """Entities never embedded, or embedded by another embedder than ``embedder``, oldest first."""
    return many(await conn.fetch(query("kg.pending_entities"), tenant_id, embedder, limit), Entity)
