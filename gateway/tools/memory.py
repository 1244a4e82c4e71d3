"""The agent's memory tools: ``memory_search``, ``memory_get``, ``memory_write``.

They act on the memory of the running agent in its tenant (``ToolContext``), as the run's user:
search and reads see the shared documents and that user's own (a user's copy wins at a path);
writes go to the user's own memory, or to the shared one when the run has no user.
"""

from __future__ import annotations

from typing import Any

from clawgate.errors import GatewayError
from clawgate.services.memory import MemoryService, SearchBody
from clawgate.tools import ToolContext, ToolError, count_arg, register, text_arg

__all__ = ["memory_get", "memory_search", "memory_write"]

_SNIPPET = 700


def _memory(ctx: ToolContext) -> MemoryService:
    if ctx.memory is None:
        raise ToolError("memory is not available in this run")
    return ctx.memory


@register(
    "memory_search",
    "Search your long-term memory (notes written earlier, by you or by people) by meaning and by words. "
    "Use it before answering questions about prior work, decisions, people or preferences.",
    {"type": "object", "required": ["query"], "properties": {
        "query": {"type": "string", "description": "What to look for"},
        "max_results": {"type": "integer", "minimum": 1, "maximum": 20, "description": "Default 6"}}},
)  # fmt: skip
async def memory_search(ctx: ToolContext, args: dict[str, Any]) -> str:
    body = SearchBody(query=text_arg(args, "query")[:4000], max_results=count_arg(args, "max_results", 6))
    try:
        found = await _memory(ctx).search_agent(ctx.tenant_id, ctx.agent_id, ctx.user_id or None, body)
    except GatewayError as exc:
        raise ToolError(str(exc)) from exc
    if not found.results:
        return "no memory matches"
    lines = [f"[{found.search_mode} search]"]
    for hit in found.results:
        lines.append(
            f"{hit.path}#L{hit.start_line}-{hit.end_line} (score {hit.score:.2f}):\n{hit.snippet[:_SNIPPET]}"
        )
    return "\n\n".join(lines)


@register(
    "memory_get",
    "Read one memory document by its path (as memory_search shows it).",
    {"type": "object", "required": ["path"], "properties": {"path": {"type": "string"}}},
)
async def memory_get(ctx: ToolContext, args: dict[str, Any]) -> str:
    path = text_arg(args, "path").split("#", 1)[0]
    try:
        doc = await _memory(ctx).read(ctx.tenant_id, ctx.agent_id, ctx.user_id, path)
    except GatewayError as exc:
        raise ToolError(str(exc)) from exc
    if doc is None:
        raise ToolError(f"no memory document at {path}")
    return doc.content


@register(
    "memory_write",
    "Save a note to your long-term memory under a relative path (e.g. notes/alice.md); writing to an "
    "existing path replaces it. Later conversations find it with memory_search.",
    {"type": "object", "required": ["path", "content"],
     "properties": {"path": {"type": "string"}, "content": {"type": "string"}}},
)  # fmt: skip
async def memory_write(ctx: ToolContext, args: dict[str, Any]) -> str:
    path, content = text_arg(args, "path"), text_arg(args, "content")
    try:
        doc = await _memory(ctx).write(ctx.tenant_id, ctx.agent_id, ctx.user_id, path, content)
    except GatewayError as exc:
        raise ToolError(str(exc)) from exc
    return f"saved {doc.path} ({len(content)} characters, {doc.index_status})"
