"""The agent's knowledge-graph tools: ``kg_search`` and ``kg_traverse``.

They read the running agent's graph in its tenant (``ToolContext``) as the run's user: the entities
shared by the agent's users and that user's own (only the shared ones when the run has no user).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from clawgate.errors import GatewayError
from clawgate.services.kg import MAX_DEPTH, KnowledgeGraphService
from clawgate.store.kg import Entity
from clawgate.tools import ToolContext, ToolError, count_arg, register, text_arg

__all__ = ["kg_search", "kg_traverse"]

_DESCRIPTION = 300


def _graph(ctx: ToolContext) -> KnowledgeGraphService:
    if ctx.kg is None:
        raise ToolError("the knowledge graph is not available in this run")
    return ctx.kg


def _line(entity: Entity) -> str:
    about = f": {entity.description[:_DESCRIPTION]}" if entity.description else ""
    return f"{entity.name} [{entity.entity_type}] id={entity.id}{about}"


@register(
    "kg_search",
    "Search your knowledge graph of people, organisations, projects and concepts by name or meaning. "
    "Returns entities with their ids (use kg_traverse to follow their relations).",
    {"type": "object", "required": ["query"], "properties": {
        "query": {"type": "string", "description": "A name or what to look for"},
        "entity_type": {"type": "string", "description": "Only entities of this type"},
        "max_results": {"type": "integer", "minimum": 1, "maximum": 20, "description": "Default 8"}}},
)  # fmt: skip
async def kg_search(ctx: ToolContext, args: dict[str, Any]) -> str:
    kind = args.get("entity_type")
    try:
        hits, mode = await _graph(ctx).search_agent(
            ctx.tenant_id, ctx.agent_id, ctx.user_id, text_arg(args, "query").strip()[:4000],
            [kind.strip().lower()] if isinstance(kind, str) and kind.strip() else None,
            count_arg(args, "max_results", 8),
        )  # fmt: skip
    except GatewayError as exc:
        raise ToolError(str(exc)) from exc
    if not hits:
        return "no entity matches"
    return "\n".join([f"[{mode} search]", *(f"{_line(h)} (score {h.score or 0:.2f})" for h in hits)])


@register(
    "kg_traverse",
    "Follow the relations of an entity of your knowledge graph (both directions, up to 3 steps). "
    "A relation followed backwards is shown as ~type.",
    {"type": "object", "required": ["entity"], "properties": {
        "entity": {"type": "string", "description": "The entity's id (from kg_search) or exact name"},
        "depth": {"type": "integer", "minimum": 1, "maximum": MAX_DEPTH, "description": "Default 2"}}},
)  # fmt: skip
async def kg_traverse(ctx: ToolContext, args: dict[str, Any]) -> str:
    graph, ref = _graph(ctx), text_arg(args, "entity").strip()
    depth = args.get("depth")
    try:
        start = UUID(ref)
    except ValueError:
        found = await graph.find_by_name(ctx.tenant_id, ctx.agent_id, ctx.user_id, ref)
        if found is None:
            raise ToolError(f"no entity named {ref!r}") from None
        start = found.id
    try:
        walked = await graph.traverse_agent(
            ctx.tenant_id, ctx.agent_id, ctx.user_id, start,
            depth if isinstance(depth, int) and 1 <= depth <= MAX_DEPTH else 2, 50,
        )  # fmt: skip
    except GatewayError as exc:
        raise ToolError(str(exc)) from exc
    lines = [_line(walked.entity)]
    lines += [f"{'  ' * hit.depth}-{hit.via}-> {_line(hit)}" for hit in walked.results]
    return "\n".join(lines) if walked.results else lines[0] + "\n(no relations)"
