"""The knowledge graph of an agent: entities and relations, searched by words and meaning, traversed
in both directions, viewed as a graph, cleaned of duplicates, and drawn from text by the agent's
own model (GoClaw's ``/v1/agents/{id}/kg/*``).

An entity belongs to an agent and to one user, or (``user_id`` ``""``) to all the agent's users; it
is unique per normalised name and type in that scope, so writing it again updates it. Callers below
admin see the shared entities and their own, and write only those. Entities are embedded (name,
type, description) by the memory's embedder through its cache; when the embedder is down the entity
is kept and found by words only.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
import structlog
from msgspec import Meta, Struct

from clawgate.errors import NotFound, UpstreamError, invalid_field
from clawgate.principal import Principal, Role
from clawgate.providers.types import ChatMessage, ChatRequest
from clawgate.runtime.llm import LLMResolver
from clawgate.services import require
from clawgate.services.agents import AgentService
from clawgate.services.embeddings import EmbeddingService
from clawgate.services.hybrid import embed_rows, fuse, query_vector, reindex
from clawgate.services.memory import owner_user, reader_user
from clawgate.store import Database, DbConnection, kg
from clawgate.store.kg import DedupCandidate, Entity, EntityFields, GraphStats, Relation, TraversalHit
from clawgate.store.types import AgentRow

__all__ = [
    "DedupScanBody",
    "DedupScanResult",
    "DismissBody",
    "EntityBody",
    "EntityDetail",
    "EntityHit",
    "ExtractBody",
    "ExtractResult",
    "Graph",
    "GraphCompact",
    "KnowledgeGraphService",
    "MergeBody",
    "MergeResult",
    "RelationBody",
    "TraverseBody",
    "TraverseResult",
    "name_pairs",
]

log = structlog.get_logger("clawgate.kg")

# GoClaw's defaults (reference section 6.2).
TEXT_WEIGHT, VECTOR_WEIGHT = 0.3, 0.7
MIN_SCORE = 0.35  # as memory search's default: the nearest vectors of an unrelated query stay out
MAX_DEPTH = 3
EMBEDDING_THRESHOLD, NAME_THRESHOLD = 0.90, 0.85
_SCAN_LIMIT = 5000  # entities one dedup scan compares
_EXTRACT_MAX_CHARS = 50_000

UserId = Annotated[str, Meta(min_length=1, max_length=255)]
Name = Annotated[str, Meta(min_length=1, max_length=500)]
TypeName = Annotated[str, Meta(min_length=1, max_length=100)]
Confidence = Annotated[float, Meta(ge=0, le=1)]


class RelationBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """A relation of the entity being written: to ``target_id``, or to the entity named
    ``target_name`` (of ``target_type``; created in the same scope when missing). ``direction``
    ``in`` makes the other entity the source."""

    relation_type: TypeName
    target_id: UUID | None = None
    target_name: Name | None = None
    target_type: TypeName | None = None
    direction: Literal["out", "in"] | None = None
    confidence: Confidence | None = None
    properties: dict[str, Any] | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None  # set: no longer current (traversal skips it)


class EntityBody(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    entity_type: TypeName | None = None  # default "concept"
    description: Annotated[str, Meta(max_length=20_000)] | None = None
    properties: dict[str, Any] | None = None
    external_id: Annotated[str, Meta(max_length=255)] | None = None
    source_id: Annotated[str, Meta(max_length=255)] | None = None
    confidence: Confidence | None = None
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    user_id: UserId | None = None
    relations: Annotated[list[RelationBody], Meta(max_length=200)] | None = None


class EntityDetail(Entity, kw_only=True):
    """An entity with its relations (both directions)."""

    relations: list[Relation]


class EntityHit(Entity, kw_only=True):
    """An entity of a list; ``score`` is its fused search score (None when listing)."""

    score: float | None = None


class TraverseBody(Struct, kw_only=True, forbid_unknown_fields=True):
    entity_id: UUID
    max_depth: Annotated[int, Meta(ge=1, le=MAX_DEPTH)] | None = None  # default 3
    user_id: UserId | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] | None = None  # default 200


class TraverseResult(Struct, kw_only=True):
    entity: Entity
    results: list[TraversalHit]
    count: int


class Graph(Struct, kw_only=True):
    nodes: list[Entity]
    edges: list[Relation]


class CompactNode(Struct, kw_only=True):
    id: UUID
    name: str
    type: str


class CompactEdge(Struct, kw_only=True):
    source: UUID
    target: UUID
    type: str


class GraphCompact(Struct, kw_only=True):
    nodes: list[CompactNode]
    edges: list[CompactEdge]


class DedupScanBody(Struct, kw_only=True, forbid_unknown_fields=True):
    threshold: Annotated[float, Meta(ge=0.5, le=1)] | None = None  # embedding similarity, default 0.90
    name_threshold: Annotated[float, Meta(ge=0.5, le=1)] | None = None  # trigram similarity, 0.85


class DedupScanResult(Struct, kw_only=True):
    scanned: int
    name_pairs: int
    embedding_pairs: int
    pending: int


class MergeBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """Fold ``source_ids`` (or ``source_id``) into ``target_id``, which is kept."""

    target_id: UUID
    source_id: UUID | None = None
    source_ids: Annotated[list[UUID], Meta(max_length=50)] | None = None


class MergeResult(Struct, kw_only=True):
    entity: EntityDetail
    merged: int
    relations_moved: int


class DismissBody(Struct, kw_only=True, forbid_unknown_fields=True):
    candidate_id: UUID


class ExtractBody(Struct, kw_only=True, forbid_unknown_fields=True):
    text: Annotated[str, Meta(min_length=1, max_length=_EXTRACT_MAX_CHARS)]
    user_id: UserId | None = None
    model: Annotated[str, Meta(min_length=1, max_length=200)] | None = None  # the agent's own by default


class ExtractResult(Struct, kw_only=True):
    entities: list[Entity]
    relations: list[Relation]
    entity_count: int
    relation_count: int


# -- what the model answers to an extraction ------------------------------------------------------


class _Extracted(Struct, kw_only=True):
    name: str
    type: str = "concept"
    description: str = ""


class _ExtractedRelation(Struct, kw_only=True):
    source: str
    target: str
    type: str


class _Extraction(Struct, kw_only=True):
    entities: list[_Extracted] = []
    relations: list[_ExtractedRelation] = []


_EXTRACT_SYSTEM = (
    "You extract a knowledge graph from text. Answer with one JSON object and nothing else: "
    '{"entities": [{"name": "...", "type": "person|organization|project|place|concept|...", '
    '"description": "one sentence"}], "relations": [{"source": "entity name", "target": "entity name", '
    '"type": "lower_snake_case verb"}]}. Use the names exactly as in the entities list.'
)


def _parse_extraction(content: str) -> _Extraction:
    """The JSON object of a model's answer (code fences and prose around it ignored).
    Raises: UpstreamError when there is none or it has the wrong shape."""
    start, end = content.find("{"), content.rfind("}")
    if start < 0 or end <= start:
        raise UpstreamError(detail="the model did not answer with the JSON object asked for")
    try:
        return msgspec.json.decode(content[start : end + 1], type=_Extraction)
    except msgspec.DecodeError as exc:  # ValidationError included
        raise UpstreamError(detail=f"the model's JSON is not the extraction asked for: {exc}") from None


def _clean_name(value: str, where: str) -> str:
    name = " ".join(value.split())
    if not name:
        raise invalid_field(where, "a name may not be empty")
    return name


def _clean_type(value: str | None) -> str:
    return "_".join((value or "").lower().split()) or "concept"


def _embed_text(entity: Entity) -> str:
    return f"{entity.name} ({entity.entity_type}): {entity.description}".strip()


async def _pending_texts(
    conn: DbConnection, tenant_id: UUID, embedder: str, limit: int
) -> list[tuple[UUID, str]]:
    return [(e.id, _embed_text(e)) for e in await kg.pending_entities(conn, tenant_id, embedder, limit)]


def _trigrams(name: str) -> set[str]:
    """pg_trgm's trigrams of a name: each word padded with two spaces before and one after."""
    grams: set[str] = set()
    for word in re.findall(r"\w+", name.lower()):
        padded = f"  {word} "
        grams.update(padded[i : i + 3] for i in range(len(padded) - 2))
    return grams


def name_pairs(names: list[tuple[UUID, str]], threshold: float) -> list[tuple[UUID, UUID, float]]:
    """Pairs (a < b) of ``names`` whose trigram similarity (shared / all, as pg_trgm's
    ``similarity``) is at least ``threshold``; only names sharing a trigram are compared."""
    grams = [_trigrams(n) for _, n in names]
    index: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(grams):
        for gram in g:
            index[gram].append(i)
    out = []
    for i, g in enumerate(grams):
        shared: Counter[int] = Counter(j for gram in g for j in index[gram] if j > i)
        for j, common in shared.items():
            sim = common / (len(g) + len(grams[j]) - common)
            if sim >= threshold:
                a, b = sorted((names[i][0], names[j][0]))
                out.append((a, b, round(sim, 4)))
    return out


class KnowledgeGraphService:
    def __init__(
        self, db: Database, agents: AgentService, embeddings: EmbeddingService, llm: LLMResolver
    ) -> None:
        self._db = db
        self._agents = agents
        self._embeddings = embeddings
        self._llm = llm

    async def _agent(self, who: Principal, ref: str) -> AgentRow:
        return await self._agents.get(who, ref)

    async def _embed(self, tenant_id: UUID, entities: list[Entity]) -> int:
        """Embed ``entities`` (best effort: an embedder that is down leaves them to the indexer)."""
        rows = [(e.id, _embed_text(e)) for e in entities]
        return await embed_rows(self._embeddings, self._db, tenant_id, rows, kg.set_embedding)

    async def reindex_pending(self) -> int:
        """Embed the entities left without a vector of the current embedder (background rounds)."""
        return await reindex(self._embeddings, self._db, kg.pending_tenants, _pending_texts, kg.set_embedding)

    async def _detail(self, tenant_id: UUID, entity: Entity, reader: str | None) -> EntityDetail:
        async with self._db.connection() as conn:
            relations = await kg.relations_of(conn, tenant_id, entity.id, reader)
        return EntityDetail(**msgspec.structs.asdict(entity), relations=relations)

    # -- entities --------------------------------------------------------------------------------

    async def upsert(self, who: Principal, agent_ref: str, body: EntityBody) -> EntityDetail:
        """Create or update an entity (same normalised name and type in its scope) and its
        relations. Raises: Forbidden, NotFound (agent, a related entity), InvalidRequest."""
        require(who, Role.OPERATOR, "kg.write")
        name = _clean_name(body.name, "$.name")
        agent, user = await self._agent(who, agent_ref), owner_user(who, body.user_id, "knowledge graph")
        fields = EntityFields(
            name=name, entity_type=_clean_type(body.entity_type), external_id=body.external_id,
            description=body.description, properties=body.properties, source_id=body.source_id,
            confidence=body.confidence, valid_from=body.valid_from, valid_until=body.valid_until,
        )  # fmt: skip
        touched: list[Entity] = []
        async with self._db.transaction() as conn:
            entity = await kg.upsert_entity(conn, who.tenant_id, agent.id, user, fields)
            touched.append(entity)
            for i, rel in enumerate(body.relations or ()):
                other = await self._related(conn, who.tenant_id, agent.id, user, rel, f"$.relations[{i}]")
                if other.id not in {t.id for t in touched}:
                    touched.append(other)
                if other.id == entity.id:
                    raise invalid_field(f"$.relations[{i}]", "an entity cannot be related to itself")
                source, target = (other.id, entity.id) if rel.direction == "in" else (entity.id, other.id)
                await kg.upsert_relation(
                    conn, who.tenant_id, agent.id, source, _clean_type(rel.relation_type), target,
                    rel.confidence, rel.properties, (rel.valid_from, rel.valid_until),
                )  # fmt: skip
        await self._embed(who.tenant_id, touched)
        return await self._detail(who.tenant_id, entity, reader_user(who, body.user_id, "knowledge graph"))

    async def _related(
        self, conn: DbConnection, tenant_id: UUID, agent_id: UUID, user: str, rel: RelationBody, where: str
    ) -> Entity:
        """The other end of a relation being written: an entity the writer sees, by id, or by name
        in the writer's scope (created when missing)."""
        if rel.target_id is not None:
            found = await kg.get_entity(conn, tenant_id, agent_id, rel.target_id, user)
            if found is None:
                raise NotFound(kind="entity", id=str(rel.target_id))
            return found
        if rel.target_name is None:
            raise invalid_field(where, "give target_id or target_name")
        name = _clean_name(rel.target_name, f"{where}.target_name")
        kind = _clean_type(rel.target_type) if rel.target_type else None
        found = await kg.find_entity(conn, tenant_id, agent_id, user, name, kind)
        if found is not None:
            return found
        return await kg.upsert_entity(
            conn, tenant_id, agent_id, user, EntityFields(name=name, entity_type=kind or "concept")
        )

    async def get(self, who: Principal, agent_ref: str, entity_id: UUID, user_id: str | None) -> EntityDetail:
        agent, reader = await self._agent(who, agent_ref), reader_user(who, user_id, "knowledge graph")
        async with self._db.connection() as conn:
            entity = await kg.get_entity(conn, who.tenant_id, agent.id, entity_id, reader)
        if entity is None:
            raise NotFound(kind="entity", id=str(entity_id))
        return await self._detail(who.tenant_id, entity, reader)

    async def delete(self, who: Principal, agent_ref: str, entity_id: UUID, user_id: str | None) -> None:
        """Delete an entity the caller may write, with its relations. Raises: NotFound."""
        require(who, Role.OPERATOR, "kg.write")
        agent = await self._agent(who, agent_ref)
        async with self._db.transaction() as conn:
            entity = await kg.get_entity(
                conn, who.tenant_id, agent.id, entity_id, reader_user(who, user_id, "knowledge graph")
            )
            if entity is None:
                raise NotFound(kind="entity", id=str(entity_id))
            owner_user(who, entity.user_id, "knowledge graph")
            await kg.delete_entity(conn, who.tenant_id, agent.id, entity_id)

    async def entities(
        self,
        who: Principal,
        agent_ref: str,
        *,
        query: str | None,
        types: list[str] | None,
        user_id: str | None,
        limit: int,
        offset: int,
        min_score: float = MIN_SCORE,
    ) -> tuple[list[EntityHit], str]:
        """Entities by name (``query`` None), or found by ``query`` (GoClaw: words 0.3, meaning 0.7;
        the fused score at least ``min_score``).
        Returns: the entities and the search mode (``list``, ``hybrid`` or ``fulltext``)."""
        agent, reader = await self._agent(who, agent_ref), reader_user(who, user_id, "knowledge graph")
        kinds = [_clean_type(t) for t in types] if types else None
        if query is None or not query.strip():
            async with self._db.connection() as conn:
                rows = await kg.list_entities(conn, who.tenant_id, agent.id, reader, kinds, limit, offset)
            return [EntityHit(**msgspec.structs.asdict(e)) for e in rows], "list"
        hits, mode = await self.search_agent(
            who.tenant_id, agent.id, reader, query, kinds, limit + offset, min_score
        )
        return hits[offset:], mode

    async def search_agent(
        self,
        tenant_id: UUID,
        agent_id: UUID,
        reader: str | None,
        text: str,
        types: list[str] | None,
        limit: int,
        min_score: float = MIN_SCORE,
    ) -> tuple[list[EntityHit], str]:
        """``entities`` with a query, for an agent the caller resolved (the ``kg_search`` tool)."""
        async with self._db.connection() as conn:
            by_text = await kg.search_text(conn, tenant_id, agent_id, reader, text, types, limit * 2)
        found = await query_vector(self._embeddings, tenant_id, text)
        by_vector = []
        if found.embedder is not None and found.vector is not None:
            async with self._db.transaction() as conn:
                by_vector = await kg.search_vector(
                    conn, tenant_id, agent_id, reader, found.vector, types, found.embedder.name, limit * 2
                )
        fused = fuse(by_text, by_vector, TEXT_WEIGHT, VECTOR_WEIGHT, normalise_vector=False)
        ranked = [(i, s) for i, s in fused if s >= min_score][:limit]
        async with self._db.connection() as conn:
            rows = await kg.entities_by_ids(conn, tenant_id, agent_id, [i for i, _ in ranked])
        hits = [
            EntityHit(**msgspec.structs.asdict(rows[i]), score=round(s, 6)) for i, s in ranked if i in rows
        ]
        return hits, "hybrid" if by_vector else "fulltext"

    # -- graph -----------------------------------------------------------------------------------

    async def traverse(self, who: Principal, agent_ref: str, body: TraverseBody) -> TraverseResult:
        """Entities reachable from ``body.entity_id``. Raises: NotFound (agent, start entity)."""
        agent, reader = await self._agent(who, agent_ref), reader_user(who, body.user_id, "knowledge graph")
        return await self.traverse_agent(
            who.tenant_id, agent.id, reader, body.entity_id, body.max_depth or MAX_DEPTH, body.limit or 200
        )

    async def traverse_agent(
        self, tenant_id: UUID, agent_id: UUID, reader: str | None, start: UUID, depth: int, limit: int
    ) -> TraverseResult:
        """``traverse`` for an agent the caller resolved (the ``kg_traverse`` tool)."""
        async with self._db.transaction() as conn:
            entity = await kg.get_entity(conn, tenant_id, agent_id, start, reader)
            if entity is None:
                raise NotFound(kind="entity", id=str(start))
            hits = await kg.traverse(conn, tenant_id, agent_id, reader, start, min(depth, MAX_DEPTH), limit)
        return TraverseResult(entity=entity, results=hits, count=len(hits))

    async def find_by_name(self, tenant_id: UUID, agent_id: UUID, reader: str, name: str) -> Entity | None:
        """An entity the reader sees by its name (theirs first, then a shared one)."""
        async with self._db.connection() as conn:
            for scope in dict.fromkeys((reader, "")):
                found = await kg.find_entity(conn, tenant_id, agent_id, scope, name, None)
                if found is not None:
                    return found
        return None

    async def stats(self, who: Principal, agent_ref: str, user_id: str | None) -> GraphStats:
        agent, reader = await self._agent(who, agent_ref), reader_user(who, user_id, "knowledge graph")
        async with self._db.connection() as conn:
            return await kg.stats(conn, who.tenant_id, agent.id, reader)

    async def graph(self, who: Principal, agent_ref: str, user_id: str | None, limit: int) -> Graph:
        """The ``limit`` most recently updated entities and the relations between them."""
        agent, reader = await self._agent(who, agent_ref), reader_user(who, user_id, "knowledge graph")
        async with self._db.connection() as conn:
            nodes = await kg.graph_entities(conn, who.tenant_id, agent.id, reader, limit)
            edges = await kg.relations_among(conn, who.tenant_id, agent.id, [n.id for n in nodes])
        return Graph(nodes=nodes, edges=edges)

    async def graph_compact(
        self, who: Principal, agent_ref: str, user_id: str | None, limit: int
    ) -> GraphCompact:
        full = await self.graph(who, agent_ref, user_id, limit)
        return GraphCompact(
            nodes=[CompactNode(id=n.id, name=n.name, type=n.entity_type) for n in full.nodes],
            edges=[CompactEdge(source=e.source_entity_id, target=e.target_entity_id, type=e.relation_type)
                   for e in full.edges],
        )  # fmt: skip

    # -- dedup -----------------------------------------------------------------------------------

    async def scan(self, who: Principal, agent_ref: str, body: DedupScanBody) -> DedupScanResult:
        """Record pairs of entities (same scope and type) that may be one: names of trigram
        similarity >= ``name_threshold``, vectors of similarity >= ``threshold``."""
        require(who, Role.OPERATOR, "kg.dedup")
        agent = await self._agent(who, agent_ref)
        async with self._db.connection() as conn:
            rows = await kg.dedup_names(conn, who.tenant_id, agent.id, _SCAN_LIMIT)
        groups: dict[tuple[str, str], list[tuple[UUID, str]]] = defaultdict(list)
        for row in rows:
            groups[(row.user_id, row.entity_type)].append((row.id, row.name_key))
        by_name = [
            pair
            for names in groups.values()
            for pair in name_pairs(names, body.name_threshold or NAME_THRESHOLD)
        ]
        by_vector: list[tuple[UUID, UUID, float]] = []
        embedder = await self._embeddings.for_memory(who.tenant_id)
        if embedder is not None:
            async with self._db.transaction() as conn:
                by_vector = await kg.dedup_vector_pairs(
                    conn, who.tenant_id, agent.id, embedder.name, body.threshold or EMBEDDING_THRESHOLD
                )
        pairs = [(a, b, s, "name") for a, b, s in by_name] + [(a, b, s, "embedding") for a, b, s in by_vector]
        best: dict[tuple[UUID, UUID], tuple[UUID, UUID, float, str]] = {}
        for pair in pairs:
            held = best.get(pair[:2])
            if held is None or pair[2] > held[2]:
                best[pair[:2]] = pair
        async with self._db.transaction() as conn:
            await kg.add_candidates(conn, who.tenant_id, agent.id, sorted(best.values()))
            pending = (
                await kg.stats(conn, who.tenant_id, agent.id, reader_user(who, None, "knowledge graph"))
            ).dedup_pending
        return DedupScanResult(
            scanned=len(rows), name_pairs=len(by_name), embedding_pairs=len(by_vector), pending=pending
        )

    async def candidates(
        self, who: Principal, agent_ref: str, status: str, user_id: str | None, limit: int, offset: int
    ) -> list[DedupCandidate]:
        agent, reader = await self._agent(who, agent_ref), reader_user(who, user_id, "knowledge graph")
        async with self._db.connection() as conn:
            return await kg.list_candidates(conn, who.tenant_id, agent.id, reader, status, limit, offset)

    async def dismiss(self, who: Principal, agent_ref: str, body: DismissBody) -> None:
        """Mark a candidate pair as not duplicates (a later scan keeps it so). Raises: NotFound."""
        require(who, Role.OPERATOR, "kg.dedup")
        agent, reader = await self._agent(who, agent_ref), reader_user(who, None, "knowledge graph")
        async with self._db.transaction() as conn:
            if not await kg.dismiss_candidate(conn, who.tenant_id, agent.id, body.candidate_id, reader):
                raise NotFound(kind="dedup candidate", id=str(body.candidate_id))

    async def merge(self, who: Principal, agent_ref: str, body: MergeBody) -> MergeResult:
        """Fold the source entities into the target: relations re-pointed without doubles, then the
        sources deleted. All must be the agent's, of one scope the caller may write.
        Raises: NotFound (an entity not the agent's or not visible), InvalidRequest."""
        require(who, Role.OPERATOR, "kg.merge")
        sources = list(
            dict.fromkeys([*(body.source_ids or ()), *([body.source_id] if body.source_id else [])])
        )
        if not sources:
            raise invalid_field("$.source_ids", "name the entities to merge into target_id")
        if body.target_id in sources:
            raise invalid_field("$.source_ids", "an entity cannot be merged into itself")
        agent, reader = await self._agent(who, agent_ref), reader_user(who, None, "knowledge graph")
        moved = 0
        async with self._db.transaction() as conn:
            locked = await kg.lock_entities(conn, who.tenant_id, agent.id, [body.target_id, *sources])
            for entity_id in (body.target_id, *sources):
                found = locked.get(entity_id)
                if found is None or (reader is not None and found.user_id not in ("", reader)):
                    raise NotFound(kind="entity", id=str(entity_id))
            target = locked[body.target_id]
            owner_user(who, target.user_id, "knowledge graph")
            if any(locked[s].user_id != target.user_id for s in sources):
                raise invalid_field("$.source_ids", "entities of different users cannot be merged")
            for source in sources:
                moved += await kg.merge(conn, who.tenant_id, agent.id, source, body.target_id)
            kept = await kg.get_entity(conn, who.tenant_id, agent.id, body.target_id, None)
        assert kept is not None, "the merged entity is locked by this transaction"
        await self._embed(who.tenant_id, [kept])
        detail = await self._detail(who.tenant_id, kept, reader)
        return MergeResult(entity=detail, merged=len(sources), relations_moved=moved)

    # -- extraction ------------------------------------------------------------------------------

    async def extract(self, who: Principal, agent_ref: str, body: ExtractBody) -> ExtractResult:
        """Ask the agent's model for the entities and relations of ``body.text``, check its JSON,
        and upsert them in the caller's scope. Raises: FailedPrecondition (no working provider),
        UpstreamError (the model failed or answered something else), InvalidRequest."""
        require(who, Role.OPERATOR, "kg.write")
        if not body.text.strip():
            raise invalid_field("$.text", "the text may not be empty")
        agent, user = await self._agent(who, agent_ref), owner_user(who, body.user_id, "knowledge graph")
        target = (await self._llm.targets(agent, body.model or ""))[0]
        reply = await target.client.chat(
            ChatRequest(
                model=target.model,
                temperature=0.0,
                messages=[
                    ChatMessage(role="system", content=_EXTRACT_SYSTEM),
                    ChatMessage(role="user", content=body.text),
                ],
            )
        )
        extraction = _parse_extraction(reply.content)
        return await self._store_extraction(who.tenant_id, agent.id, user, extraction)

    async def _store_extraction(
        self, tenant_id: UUID, agent_id: UUID, user: str, extraction: _Extraction
    ) -> ExtractResult:
        entities: dict[str, Entity] = {}
        relation_ids: list[UUID] = []
        async with self._db.transaction() as conn:
            for item in extraction.entities[:200]:
                name = " ".join(item.name.split())[:500]
                if not name:
                    continue
                fields = EntityFields(
                    name=name, entity_type=_clean_type(item.type)[:100],
                    description=item.description[:20_000] or None, source_id="extract",
                )  # fmt: skip
                entities[name.lower()] = await kg.upsert_entity(conn, tenant_id, agent_id, user, fields)
            for rel in extraction.relations[:500]:
                ends = [entities.get(" ".join(n.split()).lower()) for n in (rel.source, rel.target)]
                source, target = ends
                kind = _clean_type(rel.type)[:100]
                if source is None or target is None or source.id == target.id:
                    continue  # a relation to an entity the model did not list is dropped
                relation_ids.append(
                    await kg.upsert_relation(
                        conn, tenant_id, agent_id, source.id, kind, target.id, None, None
                    )
                )
            ids = [e.id for e in entities.values()]
            relations = [
                r for r in await kg.relations_among(conn, tenant_id, agent_id, ids) if r.id in relation_ids
            ]
        await self._embed(tenant_id, list(entities.values()))
        kept = list(entities.values())
        return ExtractResult(entities=kept, relations=relations, entity_count=len(kept),
                             relation_count=len(relations))  # fmt: skip
