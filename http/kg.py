"""The knowledge graph (GoClaw's ``/v1/agents/{id}/kg/*``) and episodic memory
(``/v1/agents/{id}/episodic``). Reads need viewer, writes operator; ``?user_id=`` (or ``user_id``
in a body) names whose entities besides the shared ones (admins; others see their own)."""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta, Struct

from clawgate.errors import invalid_field
from clawgate.principal import Role
from clawgate.services.episodic import EpisodeList, EpisodicSearchBody, EpisodicSearchResult
from clawgate.services.kg import (
    MIN_SCORE,
    DedupScanBody,
    DedupScanResult,
    DismissBody,
    EntityBody,
    EntityDetail,
    EntityHit,
    ExtractBody,
    ExtractResult,
    Graph,
    GraphCompact,
    MergeBody,
    MergeResult,
    TraverseBody,
    TraverseResult,
)
from clawgate.store.kg import DedupCandidate, GraphStats
from clawgate.wire import NonNegative

from .memory import UserQuery
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class EntityQuery(UserQuery, kw_only=True, forbid_unknown_fields=True):
    """``q`` (or ``query``, ``search``) searches; ``entity_type`` (or ``type``) filters, comma-separated."""

    q: Annotated[str, Meta(max_length=4000)] | None = None
    query: Annotated[str, Meta(max_length=4000)] | None = None
    search: Annotated[str, Meta(max_length=4000)] | None = None
    entity_type: Annotated[str, Meta(max_length=1000)] | None = None
    type: Annotated[str, Meta(max_length=1000)] | None = None
    min_score: Annotated[float, Meta(ge=0, le=10)] | None = None  # default 0.35
    limit: Annotated[int, Meta(ge=1, le=500)] = 50
    offset: NonNegative = 0


class GraphQuery(UserQuery, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=2000)] = 500


class DedupQuery(UserQuery, kw_only=True, forbid_unknown_fields=True):
    status: Literal["pending", "dismissed"] = "pending"
    limit: Annotated[int, Meta(ge=1, le=500)] = 100
    offset: NonNegative = 0


class EpisodicQuery(UserQuery, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=500)] = 20
    offset: NonNegative = 0


class EntityList(Struct, kw_only=True):
    entities: list[EntityHit]
    count: int
    search_mode: str  # list | hybrid | fulltext


class CandidateList(Struct, kw_only=True):
    candidates: list[DedupCandidate]
    count: int


def _entity_id(ctx: HttpContext) -> UUID:
    try:
        return UUID(ctx.path["entityId"])
    except ValueError:
        raise invalid_field("$.entityId", "an entity id is a UUID") from None


async def list_entities(ctx: HttpContext, q: EntityQuery) -> EntityList:
    types = q.entity_type if q.entity_type is not None else q.type
    hits, mode = await ctx.gateway.kg.entities(
        ctx.who, ctx.path["id"], query=q.q or q.query or q.search,
        types=[t.strip() for t in types.split(",") if t.strip()] if types else None,
        user_id=q.user_id, limit=q.limit, offset=q.offset,
        min_score=MIN_SCORE if q.min_score is None else q.min_score,
    )  # fmt: skip
    return EntityList(entities=hits, count=len(hits), search_mode=mode)


async def get_entity(ctx: HttpContext, q: UserQuery) -> EntityDetail:
    return await ctx.gateway.kg.get(ctx.who, ctx.path["id"], _entity_id(ctx), q.user_id)


async def upsert_entity(ctx: HttpContext, body: EntityBody) -> EntityDetail:
    return await ctx.gateway.kg.upsert(ctx.who, ctx.path["id"], body)


async def delete_entity(ctx: HttpContext, q: UserQuery) -> Ok:
    await ctx.gateway.kg.delete(ctx.who, ctx.path["id"], _entity_id(ctx), q.user_id)
    return Ok()


async def traverse(ctx: HttpContext, body: TraverseBody) -> TraverseResult:
    return await ctx.gateway.kg.traverse(ctx.who, ctx.path["id"], body)


async def extract(ctx: HttpContext, body: ExtractBody) -> ExtractResult:
    return await ctx.gateway.kg.extract(ctx.who, ctx.path["id"], body)


async def stats(ctx: HttpContext, q: UserQuery) -> GraphStats:
    return await ctx.gateway.kg.stats(ctx.who, ctx.path["id"], q.user_id)


async def graph(ctx: HttpContext, q: GraphQuery) -> Graph:
    return await ctx.gateway.kg.graph(ctx.who, ctx.path["id"], q.user_id, q.limit)


async def graph_compact(ctx: HttpContext, q: GraphQuery) -> GraphCompact:
    return await ctx.gateway.kg.graph_compact(ctx.who, ctx.path["id"], q.user_id, q.limit)


async def dedup_scan(ctx: HttpContext, body: DedupScanBody) -> DedupScanResult:
    return await ctx.gateway.kg.scan(ctx.who, ctx.path["id"], body)


async def dedup_list(ctx: HttpContext, q: DedupQuery) -> CandidateList:
    found = await ctx.gateway.kg.candidates(ctx.who, ctx.path["id"], q.status, q.user_id, q.limit, q.offset)
    return CandidateList(candidates=found, count=len(found))


async def merge(ctx: HttpContext, body: MergeBody) -> MergeResult:
    return await ctx.gateway.kg.merge(ctx.who, ctx.path["id"], body)


async def dismiss(ctx: HttpContext, body: DismissBody) -> Ok:
    await ctx.gateway.kg.dismiss(ctx.who, ctx.path["id"], body)
    return Ok()


async def list_episodes(ctx: HttpContext, q: EpisodicQuery) -> EpisodeList:
    return await ctx.gateway.episodic.list_episodes(ctx.who, ctx.path["id"], q.user_id, q.limit, q.offset)


async def search_episodes(ctx: HttpContext, body: EpisodicSearchBody) -> EpisodicSearchResult:
    return await ctx.gateway.episodic.search(ctx.who, ctx.path["id"], body)


_KG = "/v1/agents/{id}/kg"
_ENTITY = _KG + "/entities/{entityId}"

ROUTES = [
    Api("GET", _KG + "/entities", list_entities, Role.VIEWER,
        "List an agent's entities, or search them (?q=: words 0.3 + meaning 0.7)", query=EntityQuery,
        response=EntityList, tag="knowledge-graph"),
    Api("GET", _ENTITY, get_entity, Role.VIEWER, "An entity with its relations (both directions)",
        query=UserQuery, response=EntityDetail, tag="knowledge-graph"),
    Api("POST", _KG + "/entities", upsert_entity, Role.OPERATOR,
        "Create or update an entity (same name and type in its scope) with relations", body=EntityBody,
        response=EntityDetail, tag="knowledge-graph"),
    Api("DELETE", _ENTITY, delete_entity, Role.OPERATOR, "Delete an entity and its relations",
        query=UserQuery, response=Ok, tag="knowledge-graph"),
    Api("POST", _KG + "/traverse", traverse, Role.VIEWER,
        "Entities reachable from one, both directions, depth <= 3, each once", body=TraverseBody,
        response=TraverseResult, tag="knowledge-graph"),
    Api("POST", _KG + "/extract", extract, Role.OPERATOR,
        "Entities and relations of a text, drawn by the agent's model and stored", body=ExtractBody,
        response=ExtractResult, tag="knowledge-graph"),
    Api("GET", _KG + "/stats", stats, Role.VIEWER, "Counts of entities, relations and pending duplicates",
        query=UserQuery, response=GraphStats, tag="knowledge-graph"),
    Api("GET", _KG + "/graph", graph, Role.VIEWER, "Entities and the relations between them, for display",
        query=GraphQuery, response=Graph, tag="knowledge-graph"),
    Api("GET", _KG + "/graph/compact", graph_compact, Role.VIEWER,
        "The graph as ids, names and types only", query=GraphQuery, response=GraphCompact,
        tag="knowledge-graph"),
    Api("POST", _KG + "/dedup/scan", dedup_scan, Role.OPERATOR,
        "Find entities that may be one (similar names or vectors)", body=DedupScanBody,
        response=DedupScanResult, tag="knowledge-graph"),
    Api("GET", _KG + "/dedup", dedup_list, Role.VIEWER, "Candidate duplicate pairs", query=DedupQuery,
        response=CandidateList, tag="knowledge-graph"),
    Api("POST", _KG + "/merge", merge, Role.OPERATOR,
        "Merge entities into one, keeping their relations", body=MergeBody, response=MergeResult,
        tag="knowledge-graph"),
    Api("POST", _KG + "/dedup/dismiss", dismiss, Role.OPERATOR, "Mark a candidate pair as not duplicates",
        body=DismissBody, response=Ok, tag="knowledge-graph"),
    Api("GET", "/v1/agents/{id}/episodic", list_episodes, Role.VIEWER,
        "Summaries of an agent's past conversations, newest first", query=EpisodicQuery,
        response=EpisodeList, tag="episodic"),
    Api("POST", "/v1/agents/{id}/episodic/search", search_episodes, Role.VIEWER,
        "Hybrid search of the summaries: full text 0.4 + vector 0.6, each normalised",
        body=EpisodicSearchBody, response=EpisodicSearchResult, tag="episodic"),
]  # fmt: skip
