"""The agent's vault tool: ``vault_search``.

It searches the vault of the running agent in its tenant (``ToolContext``) as the run's user: the
agent's documents shared by its users, the user's own, and the tenant's shared vault.
"""

from __future__ import annotations

from typing import Any

from clawgate.errors import GatewayError
from clawgate.services.vault import SearchBody, VaultService
from clawgate.store.vault import Reader
from clawgate.tools import ToolContext, ToolError, count_arg, register, text_arg

__all__ = ["vault_search"]

_SNIPPET = 300


def _vault(ctx: ToolContext) -> VaultService:
    if ctx.vault is None:
        raise ToolError("the vault is not available in this run")
    return ctx.vault


@register(
    "vault_search",
    "Search the vault (linked documents: notes, guides, references kept for you and your team) by "
    "meaning and by words. Returns paths, titles, scores and the start of each document.",
    {"type": "object", "required": ["query"], "properties": {
        "query": {"type": "string", "description": "What to look for"},
        "max_results": {"type": "integer", "minimum": 1, "maximum": 20, "description": "Default 5"},
        "doc_types": {"type": "array", "items": {"type": "string"}, "description": "Only these types"},
        "path_prefix": {"type": "string", "description": "Only documents under this folder"}}},
)  # fmt: skip
async def vault_search(ctx: ToolContext, args: dict[str, Any]) -> str:
    query = text_arg(args, "query")
    types = args.get("doc_types")
    prefix = args.get("path_prefix")
    reader = Reader(
        agent_id=ctx.agent_id, with_shared=True, user=ctx.user_id,  # "" (no user): the shared ones only
        doc_types=[str(t)[:64] for t in types][:50] if isinstance(types, list) and types else None,
        prefix=prefix[:512] if isinstance(prefix, str) else "",
    )  # fmt: skip
    body = SearchBody(query=query[:4000], max_results=count_arg(args, "max_results", 5))
    try:
        found = await _vault(ctx).search_reader(ctx.tenant_id, reader, body)
    except GatewayError as exc:
        raise ToolError(str(exc)) from exc
    if not found.results:
        return "no vault document matches"
    lines = [f"[{found.search_mode} search]"]
    for hit in found.results:
        lines.append(
            f"{hit.path} - {hit.title} [{hit.doc_type}] (score {hit.score:.2f}):\n{hit.snippet[:_SNIPPET]}"
        )
    return "\n\n".join(lines)
