"""The tenant isolation invariant (issue 7): a credential of tenant B gets nothing of tenant A's,
through every REST route and every WebSocket method, and changes nothing of A's.

Tenant A is set up through the API as an admin of A (a member, an agent with a context file, a
provider with a key, a session with messages and a title, a trace, an API key, a system config entry,
tenant settings). B's admin key then calls every route of ``clawgate.http.routes.all_apis()`` (the
page at ``/`` and the documentation routes included) and every method of ``clawgate.rpc.methods.METHODS``,
aimed at A's ids, twice: plainly, and claiming alice (a member of A) and A's tenant id
(``X-GoClaw-User-Id`` / ``X-GoClaw-Tenant-Id``, the connect ``user_id`` / ``tenant_id``). No response (nor event) may carry a value of A's that the
request did not carry itself, none may be a 5xx / INTERNAL, and A re-read as A must be unchanged.

The case tables are keyed by ``"METHOD /path"`` and by method name and must equal the live tables:
a new route or method without a case here fails ``test_every_route_has_a_case`` or
``test_every_method_has_a_case``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest

from clawgate.http.routes import all_apis
from clawgate.http.types import Api
from clawgate.rpc.methods import METHODS
from clawgate.store.tenants import MASTER_TENANT_ID
from tests.conftest import ServerFactory
from tests.http.test_skills import make_zip
from tests.support import GATEWAY_TOKEN, RunningServer, ws_connect
from tests.upstream import Reply, stand_in

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# Values of A's that are text rather than ids (ids are collected from A's own view of itself).
A_MARKERS = (
    "tenant-aaa", "Tenant AAA Name", "A-SETTING-VALUE", "Alice-In-AAA", "agent-aaa", "Agent AAA Name",
    "A-AGENT-DESCRIPTION", "A-FILE-CONTENT", "prov-aaa", "sk-aaa-provider-secret", "A-USER-MESSAGE",
    "A-ASSISTANT-ANSWER", "A-SESSION-TITLE", "key-aaa", "a.secret.key", "A-CONFIG-VALUE",
    "A-MEMORY-CONTENT", "a-memory/notes.md", "A-USER-MEMORY", "a-cron-job", "A-CRON-MESSAGE", "A-CRON-ANSWER",
    "A-HEARTBEAT-PROMPT", "A-HEARTBEAT-CHECKLIST", "A-VAULT-CONTENT", "a-vault/plan.md", "A-VAULT-TITLE",
    "A-SHARED-VAULT", "a-vault/target.md", "A-KG-ENTITY", "A-KG-DESCRIPTION", "a_kg_relation",
    "A-WORKSPACE-CONTENT", "a-workspace.txt",
    "a-skill-slug", "A-SKILL-NAME", "A-SKILL-DESCRIPTION", "A-SKILL-BODY", "A-SKILL-FILE",
    "a-mcp-server", "A-MCP-API-KEY-SECRET", "A-MCP-ENV-VALUE", "a-mcp-command",
    "A-MCP-USER-KEY", "A-MCP-USER-ENV", "A_USER_ENV", "A-MCP-REQUEST-REASON",
    "A-TEAM-NAME", "A-TASK-SUBJECT", "A-TASK-COMMENT", "a-chat-scope", "A-APPROVAL-REASON",
    "A-GROUP-NAME", "A-GROUP-MEMORY", "A-GROUP-BOARD", "A-TAG-NAME", "a-tag-slug", "a_field_key", "A-FIELD-LABEL",
    "A-HOOK-BOARD", "A-WEBHOOK-INSTRUCTION", "A-WEBHOOK-SECRET-VALUE", "A-WEBHOOK-PAYLOAD", "X-A-Signature",
    "A-TEAM-FILE-CONTENT", "a-team-file.md", "A-ATTACHMENT-CONTENT", "a-attachment.md",
    "A-PROFILE-NAME", "a-member@aaa.example", "a-invitee@aaa.example", "A-GATEWAY-NAME", "a-gateway.example",
    "A-GATEWAY-TOKEN-SECRET", "a-root-path",
)  # fmt: skip
MEMORY = "/v1/agents/{id}/memory"
VAULT = "/v1/agents/{id}/vault"
KG = "/v1/agents/{id}/kg"
SKILL = "/v1/skills/{id}"
FILE = "NOTES.md"


@dataclass
class TenantA:
    """A's ids, and every value of A's that must not reach B."""

    id: str = ""
    agent_id: str = ""
    provider_id: str = ""
    session_key: str = ""
    run_id: str = ""
    trace_id: str = ""
    key_id: str = ""
    cron_id: str = ""
    vault_doc_id: str = ""
    vault_target_id: str = ""
    vault_link_id: str = ""
    kg_entity_id: str = ""
    kg_other_id: str = ""
    kg_candidate_id: str = ""
    skill_id: str = ""
    mcp_server_id: str = ""
    mcp_request_id: str = ""
    team_id: str = ""
    task_id: str = ""
    attachment_id: str = ""  # a file of A's team workspace linked to A-TASK-SUBJECT
    approval_id: str = ""
    agent_token: str = ""  # agent-aaa's MC X-Agent-Token
    group_id: str = ""  # an MC board group with a board of its own, and A-TEAM-NAME's custom field
    tag_id: str = ""
    field_id: str = ""
    hook_board_id: str = ""  # an MC board without agents (a payload wakes no one) with A's webhook
    webhook_id: str = ""
    payload_id: str = ""
    member_id: str = ""  # A's key's MC member row
    invite_id: str = ""
    invite_token: str = ""  # a pending MC invite of A's
    gateway_id: str = ""  # an MC gateway record of A's (with a token)
    secrets: set[str] = field(default_factory=set)


@dataclass
class Req:
    """A REST request aimed at A: path parameters, a query string, a JSON body."""

    path: dict[str, str] = field(default_factory=dict)
    query: str = ""
    body: Any = None
    files: dict[str, str] | None = None  # a multipart form: these fields and a file plans.md


R = Req
# Tenant-free routes: public probes and the API description; called all the same.
TENANT_FREE = {"GET /health", "GET /healthz", "GET /readyz", "GET /v1/openapi.json", "GET /docs"}
_MSG = [{"role": "user", "content": "hi"}]
_CRON_JOB = {"name": "b-made-job", "agentId": "agent-aaa", "message": "hi",
             "schedule": {"kind": "every", "everyMs": 3_600_000}}  # fmt: skip
CRON = "/v1/cron/jobs/{id}"

REST_CASES: dict[str, Callable[[TenantA], Req]] = {
    "GET /health": lambda a: R(),
    "GET /healthz": lambda a: R(),
    "GET /readyz": lambda a: R(),
    "GET /v1/openapi.json": lambda a: R(),
    "GET /docs": lambda a: R(),
    "GET /docs/websocket": lambda a: R(),
    "GET /docs/assets/{name}": lambda a: R({"name": "swagger-ui.css"}),
    "GET /": lambda a: R(),  # B's own counts only
    "POST /v1/chat/completions": lambda a: R(body={"model": "agent-aaa", "messages": _MSG, "user": "alice"}),
    "POST /v1/responses": lambda a: R(body={"model": "agent-aaa", "input": "hi"}),
    "GET /v1/models": lambda a: R(),
    "GET /v1/models/{model:path}": lambda a: R({"model": "agent-aaa"}),
    "GET /v1/agents": lambda a: R(),
    "POST /v1/agents": lambda a: R(body={"agent_key": "b-made-agent", "provider": "b-prov"}),
    "GET /v1/agents/{id}": lambda a: R({"id": a.agent_id}),
    "PUT /v1/agents/{id}": lambda a: R({"id": a.agent_id}, body={"display_name": "pwned"}),
    "PATCH /v1/agents/{id}": lambda a: R({"id": "agent-aaa"}, body={"model": "pwned"}),
    "DELETE /v1/agents/{id}": lambda a: R({"id": a.agent_id}),
    "GET /v1/api-keys": lambda a: R(),
    "POST /v1/api-keys": lambda a: R(body={"name": "into-a", "scopes": ["operator.read"], "tenant_id": a.id}),
    "POST /v1/api-keys/{id}/revoke": lambda a: R({"id": a.key_id}),
    "GET /v1/tenants": lambda a: R(),
    "POST /v1/tenants": lambda a: R(body={"name": "B made", "slug": "b-made"}),
    "GET /v1/tenants/{id}": lambda a: R({"id": a.id}),
    "PATCH /v1/tenants/{id}": lambda a: R({"id": a.id}, body={"name": "pwned", "settings": {}}),
    "GET /v1/tenants/{id}/users": lambda a: R({"id": a.id}),
    "POST /v1/tenants/{id}/users": lambda a: R({"id": a.id}, body={"user_id": "mallory", "role": "admin"}),
    "DELETE /v1/tenants/{id}/users/{user_id}": lambda a: R({"id": a.id, "user_id": "alice"}),
    "GET /v1/providers": lambda a: R(),
    "POST /v1/providers": lambda a: R(body={"name": "b-made-provider"}),
    "GET /v1/providers/{id}": lambda a: R({"id": a.provider_id}),
    "PUT /v1/providers/{id}": lambda a: R({"id": a.provider_id}, body={"api_base": "http://pwned"}),
    "PATCH /v1/providers/{id}": lambda a: R({"id": "prov-aaa"}, body={"enabled": False}),
    "DELETE /v1/providers/{id}": lambda a: R({"id": a.provider_id}),
    "GET /v1/providers/{id}/models": lambda a: R({"id": a.provider_id}),
    "POST /v1/providers/{id}/verify": lambda a: R({"id": a.provider_id}, body={}),
    "GET /v1/system-configs": lambda a: R(),
    "GET /v1/system-configs/{key}": lambda a: R({"key": "a.secret.key"}),
    "PUT /v1/system-configs/{key}": lambda a: R({"key": "a.secret.key"}, body={"value": "pwned"}),
    "DELETE /v1/system-configs/{key}": lambda a: R({"key": "a.secret.key"}),
    "GET /v1/edition": lambda a: R(),
    "GET /v1/sessions": lambda a: R(query=f"agent_id={a.agent_id}"),
    "POST /v1/chat/sessions/{key}/branch": lambda a: R({"key": a.session_key}, body={"up_to_index": 1}),
    "GET /v1/chat/sessions/{key}/history/follow": lambda a: R({"key": a.session_key}),
    "POST /v1/agents/{id}/wake": lambda a: R({"id": a.agent_id},
                                             body={"message": "hi", "session_key": a.session_key}),
    "GET /v1/traces": lambda a: R(query="session_key=" + a.session_key),
    "GET /v1/traces/follow": lambda a: R(query="session_key=" + a.session_key),
    "GET /v1/traces/{id}": lambda a: R({"id": a.trace_id}),
    "GET /v1/usage/timeseries": lambda a: R(query="from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&group_by=day"),
    "GET /v1/usage/summary": lambda a: R(query=f"period=30d&agent_id={a.agent_id}"),
    "GET /v1/usage/breakdown": lambda a: R(query="from=2000-01-01T00:00:00Z&to=2100-01-01T00:00:00Z&group_by=provider"),
    "GET /v1/embedding/status": lambda a: R(),
    "GET /metrics": lambda a: R(),
    "POST /v1/embeddings": lambda a: R(body={"model": "prov-aaa/embed", "input": "hi"}),
    "GET /v1/memory/documents": lambda a: R(),
    f"GET {MEMORY}/documents": lambda a: R({"id": a.agent_id}),
    f"GET {MEMORY}/documents/{{path:path}}": lambda a: R({"id": "agent-aaa", "path": "a-memory/notes.md"}),
    f"PUT {MEMORY}/documents/{{path:path}}": lambda a: R({"id": a.agent_id, "path": "a-memory/notes.md"},
                                                         body={"content": "pwned"}),
    f"DELETE {MEMORY}/documents/{{path:path}}": lambda a: R({"id": a.agent_id, "path": "a-memory/notes.md"},
                                                            query="user_id=alice"),
    f"GET {MEMORY}/chunks": lambda a: R({"id": a.agent_id}, query="user_id=alice"),
    f"POST {MEMORY}/index": lambda a: R({"id": a.agent_id}, body={"path": "a-memory/notes.md"}),
    f"POST {MEMORY}/index-all": lambda a: R({"id": "agent-aaa"}),
    f"POST {MEMORY}/search": lambda a: R({"id": a.agent_id}, body={"query": "memory", "user_id": "alice"}),
    "GET /v1/cron/jobs": lambda a: R(query=f"agent_id={a.agent_id}"),
    "POST /v1/cron/jobs": lambda a: R(body=_CRON_JOB),
    "GET /v1/cron/status": lambda a: R(),
    "GET /v1/cron/runs": lambda a: R(),
    f"GET {CRON}": lambda a: R({"id": a.cron_id}),
    f"PATCH {CRON}": lambda a: R({"id": a.cron_id}, body={"message": "pwned", "enabled": False}),
    f"DELETE {CRON}": lambda a: R({"id": a.cron_id}),
    f"POST {CRON}/toggle": lambda a: R({"id": a.cron_id}, body={"enabled": False}),
    f"POST {CRON}/run": lambda a: R({"id": a.cron_id}, body={}),
    f"GET {CRON}/runs": lambda a: R({"id": a.cron_id}),
    f"GET {VAULT}/documents": lambda a: R({"id": a.agent_id}, query="user_id=alice"),
    f"POST {VAULT}/documents": lambda a: R({"id": a.agent_id}, body={"path": "a-vault/plan.md", "content": "pwned"}),
    f"GET {VAULT}/documents/{{docId}}": lambda a: R({"id": "agent-aaa", "docId": a.vault_doc_id}),
    f"PUT {VAULT}/documents/{{docId}}": lambda a: R({"id": a.agent_id, "docId": a.vault_doc_id},
                                                   body={"content": "pwned"}),
    f"DELETE {VAULT}/documents/{{docId}}": lambda a: R({"id": a.agent_id, "docId": a.vault_doc_id}),
    f"GET {VAULT}/documents/{{docId}}/links": lambda a: R({"id": a.agent_id, "docId": a.vault_doc_id}),
    f"POST {VAULT}/links": lambda a: R({"id": a.agent_id}, body={"from_doc_id": a.vault_doc_id,
                                                                  "to_doc_id": a.vault_target_id}),
    f"DELETE {VAULT}/links/{{linkId}}": lambda a: R({"id": a.agent_id, "linkId": a.vault_link_id}),
    f"POST {VAULT}/search": lambda a: R({"id": a.agent_id}, body={"query": "A-VAULT-CONTENT", "user_id": "alice"}),
    "GET /v1/vault/documents": lambda a: R(query=f"agent_id={a.agent_id}&user_id=alice"),
    "POST /v1/vault/documents": lambda a: R(body={"path": "a-vault/plan.md", "content": "pwned",
                                                  "agent_id": a.agent_id}),
    "PUT /v1/vault/documents/{docId}": lambda a: R({"docId": a.vault_doc_id}, body={"title": "pwned"}),
    "DELETE /v1/vault/documents/{docId}": lambda a: R({"docId": a.vault_target_id}),
    "POST /v1/vault/links": lambda a: R(body={"from_doc_id": a.vault_target_id, "to_doc_id": a.vault_doc_id}),
    "DELETE /v1/vault/links/{linkId}": lambda a: R({"linkId": a.vault_link_id}),
    "POST /v1/vault/links/batch": lambda a: R(body={"doc_ids": [a.vault_doc_id, a.vault_target_id]}),
    "POST /v1/vault/upload": lambda a: R(query="", files={"agent_id": a.agent_id, "path": "a-vault"}),
    "POST /v1/vault/rescan": lambda a: R(body={"agent_id": a.agent_id}),
    "POST /v1/vault/search": lambda a: R(body={"query": "A-VAULT-CONTENT", "agent_id": "agent-aaa"}),
    "GET /v1/vault/enrichment/status": lambda a: R(),
    "POST /v1/vault/enrichment/stop": lambda a: R(),
    "GET /v1/vault/tree": lambda a: R(query=f"agent_id={a.agent_id}"),
    "GET /v1/vault/graph": lambda a: R(query="agent_id=agent-aaa&user_id=alice"),
    "GET /v1/mcp/servers": lambda a: R(),
    "POST /v1/mcp/servers": lambda a: R(body={"name": "a-mcp-server", "transport": "stdio", "command": "x",
                                             "agent_id": a.agent_id}),
    "POST /v1/mcp/servers/test": lambda a: R(body={"transport": "stdio", "command": "/bin/false",
                                                  "agent_id": "agent-aaa"}),
    "GET /v1/mcp/servers/{id}": lambda a: R({"id": a.mcp_server_id}),
    "PUT /v1/mcp/servers/{id}": lambda a: R({"id": a.mcp_server_id}, body={"command": "pwned"}),
    "DELETE /v1/mcp/servers/{id}": lambda a: R({"id": a.mcp_server_id}),
    "POST /v1/mcp/servers/{id}/reconnect": lambda a: R({"id": a.mcp_server_id}),
    "GET /v1/mcp/servers/{id}/tools": lambda a: R({"id": a.mcp_server_id}),
    "GET /v1/mcp/servers/{id}/grants": lambda a: R({"id": a.mcp_server_id}),
    "POST /v1/mcp/servers/{id}/grants/agent": lambda a: R({"id": a.mcp_server_id}, body={"agent_id": a.agent_id}),
    "DELETE /v1/mcp/servers/{id}/grants/agent/{agentID}": lambda a: R({"id": a.mcp_server_id,
                                                                       "agentID": a.agent_id}),
    "POST /v1/mcp/servers/{id}/grants/user": lambda a: R({"id": a.mcp_server_id}, body={"user_id": "alice"}),
    "DELETE /v1/mcp/servers/{id}/grants/user/{userID}": lambda a: R({"id": a.mcp_server_id, "userID": "alice"}),
    "GET /v1/mcp/grants/agent/{agentID}": lambda a: R({"agentID": a.agent_id}),
    "GET /v1/mcp/export/preview": lambda a: R(),
    "GET /v1/mcp/export": lambda a: R(),
    "POST /v1/mcp/import": lambda a: R(files={}),
    "POST /v1/mcp/requests": lambda a: R(body={"server_id": a.mcp_server_id, "agent_id": a.agent_id}),
    "GET /v1/mcp/requests": lambda a: R(query="status=all"),
    "POST /v1/mcp/requests/{id}/review": lambda a: R({"id": a.mcp_request_id}, body={"action": "approve"}),
    "PUT /v1/mcp/servers/{id}/user-credentials": lambda a: R({"id": a.mcp_server_id}, body={"api_key": "x",
                                                                                        "user_id": "alice"}),
    "GET /v1/mcp/servers/{id}/user-credentials": lambda a: R({"id": a.mcp_server_id}, query="user_id=alice"),
    "DELETE /v1/mcp/servers/{id}/user-credentials": lambda a: R({"id": a.mcp_server_id}, query="user_id=alice"),
    f"GET {KG}/entities": lambda a: R({"id": a.agent_id}, query="q=kubernetes&user_id=alice"),
    f"GET {KG}/entities/{{entityId}}": lambda a: R({"id": a.agent_id, "entityId": a.kg_entity_id}),
    f"POST {KG}/entities": lambda a: R({"id": "agent-aaa"}, body={"name": "pwned", "relations": [
        {"relation_type": "x", "target_id": a.kg_entity_id}]}),
    f"DELETE {KG}/entities/{{entityId}}": lambda a: R({"id": a.agent_id, "entityId": a.kg_entity_id}),
    f"POST {KG}/traverse": lambda a: R({"id": a.agent_id}, body={"entity_id": a.kg_entity_id, "user_id": "alice"}),
    f"POST {KG}/extract": lambda a: R({"id": a.agent_id}, body={"text": "pwned"}),
    f"GET {KG}/stats": lambda a: R({"id": a.agent_id}),
    f"GET {KG}/graph": lambda a: R({"id": a.agent_id}, query="user_id=alice"),
    f"GET {KG}/graph/compact": lambda a: R({"id": "agent-aaa"}),
    f"POST {KG}/dedup/scan": lambda a: R({"id": a.agent_id}, body={"threshold": 0.5}),
    f"GET {KG}/dedup": lambda a: R({"id": a.agent_id}),
    f"POST {KG}/merge": lambda a: R({"id": a.agent_id}, body={"target_id": a.kg_entity_id,
                                                              "source_id": a.kg_other_id}),
    f"POST {KG}/dedup/dismiss": lambda a: R({"id": a.agent_id}, body={"candidate_id": a.kg_candidate_id}),
    "GET /v1/agents/{id}/episodic": lambda a: R({"id": a.agent_id}, query="user_id=alice"),
    "GET /v1/skills": lambda a: R(),
    "POST /v1/skills/upload": lambda a: R(files={}),
    "GET /v1/skills/export/preview": lambda a: R(),
    "GET /v1/skills/export": lambda a: R(query="stream=true"),
    "POST /v1/skills/import": lambda a: R(files={}),
    "POST /v1/skills/rescan-deps": lambda a: R(),
    "POST /v1/skills/install-deps": lambda a: R(),
    "POST /v1/skills/install-dep": lambda a: R(body={"dep": "pip:x"}),
    "GET /v1/skills/runtimes": lambda a: R(),
    f"GET {SKILL}": lambda a: R({"id": "a-skill-slug"}),
    f"PUT {SKILL}": lambda a: R({"id": a.skill_id}, body={"description": "pwned"}),
    f"DELETE {SKILL}": lambda a: R({"id": a.skill_id}),
    f"POST {SKILL}/toggle": lambda a: R({"id": a.skill_id}, body={"enabled": False}),
    f"PUT {SKILL}/tenant-config": lambda a: R({"id": a.skill_id}, body={"enabled": False}),
    f"DELETE {SKILL}/tenant-config": lambda a: R({"id": "a-skill-slug"}),
    f"GET {SKILL}/versions": lambda a: R({"id": a.skill_id}),
    f"GET {SKILL}/files": lambda a: R({"id": a.skill_id}, query="version=1"),
    f"GET {SKILL}/files/{{path:path}}": lambda a: R({"id": a.skill_id, "path": "SKILL.md"}),
    f"GET {SKILL}/grants/agent": lambda a: R({"id": a.skill_id}),
    f"POST {SKILL}/grants/agent": lambda a: R({"id": a.skill_id}, body={"agent_id": a.agent_id}),
    f"DELETE {SKILL}/grants/agent/{{agentID}}": lambda a: R({"id": a.skill_id, "agentID": a.agent_id}),
    f"GET {SKILL}/grants/user": lambda a: R({"id": "a-skill-slug"}),
    f"POST {SKILL}/grants/user": lambda a: R({"id": a.skill_id}, body={"user_id": "alice"}),
    f"DELETE {SKILL}/grants/user/{{userID}}": lambda a: R({"id": a.skill_id, "userID": "alice"}),
    "GET /v1/agents/{id}/skills": lambda a: R({"id": "agent-aaa"}),
    "POST /v1/agents/{id}/episodic/search": lambda a: R({"id": "agent-aaa"}, body={"query": "A-USER-MESSAGE"}),
    "GET /v1/tools/builtin": lambda a: R(),
    "GET /v1/tools/builtin/{name}": lambda a: R({"name": "web_fetch"}),
    "PUT /v1/tools/builtin/{name}": lambda a: R({"name": "web_fetch"}, body={"enabled": True}),
    "GET /v1/tools/builtin/{name}/tenant-config": lambda a: R({"name": "web_fetch"}),
    "PUT /v1/tools/builtin/{name}/tenant-config": lambda a: R({"name": "web_fetch"}, body={"enabled": True}),
    "DELETE /v1/tools/builtin/{name}/tenant-config": lambda a: R({"name": "web_fetch"}),
    "POST /v1/tools/invoke": lambda a: R(body={"tool": "read_file", "agentId": a.agent_id,
                                               "args": {"path": "a-workspace.txt"}}),
    "GET /v1/teams/{id}/events": lambda a: R({"id": a.team_id}),
    "GET /v1/teams/{id}/export/preview": lambda a: R({"id": a.team_id}),
    "GET /v1/teams/{id}/export": lambda a: R({"id": a.team_id}),
    "POST /v1/teams/import": lambda a: R(files={}),
    "GET /v1/teams/{teamId}/attachments/{attachmentId}/download": lambda a: R(
        {"teamId": a.team_id, "attachmentId": a.attachment_id}),
    "POST /v1/teams/{teamId}/workspace/upload": lambda a: R({"teamId": a.team_id}, query="chat_id=a-chat-scope",
                                                            files={}),
    "PUT /v1/teams/{teamId}/workspace/move": lambda a: R(
        {"teamId": a.team_id}, query="chat_id=a-chat-scope&from=a-team-file.md&to=moved.md"),
    "GET /api/v1/boards": lambda a: R(),
    "POST /api/v1/boards": lambda a: R(body={"name": "b-board", "description": "d", "board_group_id": a.team_id,
                                             "gateway_id": a.gateway_id}),
    "GET /api/v1/boards/{board_id}": lambda a: R({"board_id": a.team_id}),
    "PATCH /api/v1/boards/{board_id}": lambda a: R({"board_id": a.team_id}, body={"name": "pwned"}),
    "DELETE /api/v1/boards/{board_id}": lambda a: R({"board_id": a.team_id}),
    "GET /api/v1/boards/{board_id}/tasks": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/boards/{board_id}/tasks": lambda a: R({"board_id": a.team_id}, body={"title": "pwned"}),
    "GET /api/v1/boards/{board_id}/tasks/stream": lambda a: R({"board_id": a.team_id}, query="since=2000-01-01"),
    "GET /api/v1/boards/{board_id}/tasks/{task_id}": lambda a: R({"board_id": a.team_id, "task_id": a.task_id}),
    "PATCH /api/v1/boards/{board_id}/tasks/{task_id}": lambda a: R({"board_id": a.team_id, "task_id": a.task_id},
                                                                   body={"title": "pwned"}),
    "DELETE /api/v1/boards/{board_id}/tasks/{task_id}": lambda a: R({"board_id": a.team_id, "task_id": a.task_id}),
    "GET /api/v1/boards/{board_id}/tasks/{task_id}/comments": lambda a: R({"board_id": a.team_id,
                                                                           "task_id": a.task_id}),
    "POST /api/v1/boards/{board_id}/tasks/{task_id}/comments": lambda a: R({"board_id": a.team_id,
                                                                            "task_id": a.task_id},
                                                                           body={"message": "pwned"}),
    "GET /api/v1/boards/{board_id}/approvals": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/boards/{board_id}/approvals": lambda a: R({"board_id": a.team_id}, body={
        "action_type": "x", "task_id": a.task_id, "confidence": 1, "lead_reasoning": "pwned"}),
    "GET /api/v1/boards/{board_id}/approvals/stream": lambda a: R({"board_id": a.team_id}),
    "GET /api/v1/boards/{board_id}/memory": lambda a: R({"board_id": a.team_id}, query="is_chat=true"),
    "POST /api/v1/boards/{board_id}/memory": lambda a: R({"board_id": a.team_id}, body={
        "content": "pwned @lead", "is_chat": True}),
    "GET /api/v1/boards/{board_id}/memory/stream": lambda a: R({"board_id": a.team_id}, query="since=2000-01-01"),
    "PATCH /api/v1/boards/{board_id}/approvals/{approval_id}": lambda a: R(
        {"board_id": a.team_id, "approval_id": a.approval_id}, body={"status": "approved"}),
    # MC's board webhooks; B's unsigned delivery to A's webhook (it has a secret) is 403.
    "GET /api/v1/boards/{board_id}/webhooks": lambda a: R({"board_id": a.hook_board_id}),
    "POST /api/v1/boards/{board_id}/webhooks": lambda a: R({"board_id": a.hook_board_id}, body={"description": "pwned"}),
    "GET /api/v1/boards/{board_id}/webhooks/{webhook_id}": lambda a: R({"board_id": a.hook_board_id,
                                                                        "webhook_id": a.webhook_id}),
    "PATCH /api/v1/boards/{board_id}/webhooks/{webhook_id}": lambda a: R(
        {"board_id": a.hook_board_id, "webhook_id": a.webhook_id}, body={"enabled": False, "secret": None}),
    "DELETE /api/v1/boards/{board_id}/webhooks/{webhook_id}": lambda a: R({"board_id": a.hook_board_id,
                                                                           "webhook_id": a.webhook_id}),
    "POST /api/v1/boards/{board_id}/webhooks/{webhook_id}": lambda a: R(
        {"board_id": a.hook_board_id, "webhook_id": a.webhook_id}, body={"pwned": True}),
    "GET /api/v1/boards/{board_id}/webhooks/{webhook_id}/payloads": lambda a: R({"board_id": a.hook_board_id,
                                                                                 "webhook_id": a.webhook_id}),
    "GET /api/v1/boards/{board_id}/webhooks/{webhook_id}/payloads/{payload_id}": lambda a: R(
        {"board_id": a.hook_board_id, "webhook_id": a.webhook_id, "payload_id": a.payload_id}),
    "GET /api/v1/agent/boards/{board_id}/webhooks/{webhook_id}/payloads/{payload_id}": lambda a: R(
        {"board_id": a.hook_board_id, "webhook_id": a.webhook_id, "payload_id": a.payload_id}),
    # MC's agent API: B's key is no agent token (401); B's own agent token is tests/http/test_mc_agent.py's.
    "GET /api/v1/board-groups": lambda a: R(),
    "POST /api/v1/board-groups": lambda a: R(body={"name": "b-group"}),
    "GET /api/v1/board-groups/{group_id}": lambda a: R({"group_id": a.group_id}),
    "PATCH /api/v1/board-groups/{group_id}": lambda a: R({"group_id": a.group_id}, body={"name": "pwned"}),
    "DELETE /api/v1/board-groups/{group_id}": lambda a: R({"group_id": a.group_id}),
    "GET /api/v1/board-groups/{group_id}/snapshot": lambda a: R({"group_id": a.group_id}, query="include_done=true"),
    "POST /api/v1/board-groups/{group_id}/heartbeat": lambda a: R({"group_id": a.group_id}, body={
        "every": "10m", "include_board_leads": True}),
    "GET /api/v1/board-groups/{group_id}/memory": lambda a: R({"group_id": a.group_id}),
    "POST /api/v1/board-groups/{group_id}/memory": lambda a: R({"group_id": a.group_id}, body={
        "content": "pwned @all", "tags": ["broadcast"]}),
    "GET /api/v1/board-groups/{group_id}/memory/stream": lambda a: R({"group_id": a.group_id},
                                                                     query="since=2000-01-01"),
    "GET /api/v1/boards/{board_id}/snapshot": lambda a: R({"board_id": a.team_id}),
    "GET /api/v1/boards/{board_id}/group-snapshot": lambda a: R({"board_id": a.team_id}, query="include_self=true"),
    "GET /api/v1/boards/{board_id}/group-memory": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/boards/{board_id}/group-memory": lambda a: R({"board_id": a.team_id}, body={
        "content": "pwned", "tags": ["chat"]}),
    "GET /api/v1/boards/{board_id}/group-memory/stream": lambda a: R({"board_id": a.team_id}),
    "GET /api/v1/agent/boards/{board_id}/group-memory": lambda a: R({"board_id": a.team_id}),
    "GET /api/v1/agent/boards/{board_id}/group-memory/stream": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/agent/boards/{board_id}/group-memory": lambda a: R({"board_id": a.team_id}, body={
        "content": "pwned", "tags": ["broadcast"]}),
    "GET /api/v1/tags": lambda a: R(),
    "POST /api/v1/tags": lambda a: R(body={"name": "b-tag"}),
    "GET /api/v1/tags/{tag_id}": lambda a: R({"tag_id": a.tag_id}),
    "PATCH /api/v1/tags/{tag_id}": lambda a: R({"tag_id": a.tag_id}, body={"name": "pwned"}),
    "DELETE /api/v1/tags/{tag_id}": lambda a: R({"tag_id": a.tag_id}),
    "GET /api/v1/organizations/me/custom-fields": lambda a: R(),
    "POST /api/v1/organizations/me/custom-fields": lambda a: R(body={"field_key": "b_field", "board_ids": [a.team_id]}),
    "PATCH /api/v1/organizations/me/custom-fields/{definition_id}": lambda a: R({"definition_id": a.field_id},
                                                                                body={"board_ids": [a.team_id]}),
    "DELETE /api/v1/organizations/me/custom-fields/{definition_id}": lambda a: R({"definition_id": a.field_id}),
    "POST /api/v1/agents/{agent_id}/token": lambda a: R({"agent_id": a.agent_id}),
    "DELETE /api/v1/agents/{agent_id}/token": lambda a: R({"agent_id": a.agent_id}),
    "GET /api/v1/agent/healthz": lambda a: R(),
    "GET /api/v1/agent/boards": lambda a: R(),
    "GET /api/v1/agent/boards/{board_id}": lambda a: R({"board_id": a.team_id}),
    "GET /api/v1/agent/agents": lambda a: R(query=f"board_id={a.team_id}"),
    "GET /api/v1/agent/boards/{board_id}/tasks": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/agent/boards/{board_id}/tasks": lambda a: R({"board_id": a.team_id}, body={"title": "pwned"}),
    "PATCH /api/v1/agent/boards/{board_id}/tasks/{task_id}": lambda a: R(
        {"board_id": a.team_id, "task_id": a.task_id}, body={"status": "in_progress"}),
    "DELETE /api/v1/agent/boards/{board_id}/tasks/{task_id}": lambda a: R({"board_id": a.team_id,
                                                                          "task_id": a.task_id}),
    "GET /api/v1/agent/boards/{board_id}/tasks/{task_id}/comments": lambda a: R({"board_id": a.team_id,
                                                                                 "task_id": a.task_id}),
    "POST /api/v1/agent/boards/{board_id}/tasks/{task_id}/comments": lambda a: R(
        {"board_id": a.team_id, "task_id": a.task_id}, body={"message": "pwned"}),
    "GET /api/v1/agent/boards/{board_id}/memory": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/agent/boards/{board_id}/memory": lambda a: R({"board_id": a.team_id}, body={"content": "pwned"}),
    "GET /api/v1/agent/boards/{board_id}/approvals": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/agent/boards/{board_id}/approvals": lambda a: R({"board_id": a.team_id}, body={
        "action_type": "x", "task_id": a.task_id, "confidence": 1, "lead_reasoning": "pwned"}),
    "POST /api/v1/agent/heartbeat": lambda a: R(),
    "POST /api/v1/agent/boards/{board_id}/agents/{agent_id}/nudge": lambda a: R(
        {"board_id": a.team_id, "agent_id": a.agent_id}, body={"message": "pwned"}),
    # MC's organisation: B's admin key is an owner of B's organisation, and names A's rows.
    "GET /api/v1/users/me": lambda a: R(),
    "PATCH /api/v1/users/me": lambda a: R(body={"name": "pwned"}),
    "GET /api/v1/organizations/me": lambda a: R(),
    "GET /api/v1/organizations/me/list": lambda a: R(),
    "PATCH /api/v1/organizations/me/active": lambda a: R(body={"organization_id": a.id}),
    "GET /api/v1/organizations/me/member": lambda a: R(),
    "GET /api/v1/organizations/me/members": lambda a: R(),
    "GET /api/v1/organizations/me/members/{member_id}": lambda a: R({"member_id": a.member_id}),
    "PATCH /api/v1/organizations/me/members/{member_id}": lambda a: R({"member_id": a.member_id},
                                                                      body={"role": "member"}),
    "PUT /api/v1/organizations/me/members/{member_id}/access": lambda a: R(
        {"member_id": a.member_id}, body={"all_boards_read": True, "board_access": [{"board_id": a.team_id}]}),
    "DELETE /api/v1/organizations/me/members/{member_id}": lambda a: R({"member_id": a.member_id}),
    "GET /api/v1/organizations/me/invites": lambda a: R(),
    "POST /api/v1/organizations/me/invites": lambda a: R(body={"invited_email": "b@b.example",
                                                               "board_access": [{"board_id": a.team_id}]}),
    "DELETE /api/v1/organizations/me/invites/{invite_id}": lambda a: R({"invite_id": a.invite_id}),
    "POST /api/v1/organizations/invites/accept": lambda a: R(body={"token": a.invite_token}),
    "GET /api/v1/gateways": lambda a: R(),
    "POST /api/v1/gateways": lambda a: R(body={"name": "b-gw", "url": "ws://localhost:1", "workspace_root": "/"}),
    "GET /api/v1/gateways/status": lambda a: R(query=f"board_id={a.team_id}"),
    "GET /api/v1/gateways/commands": lambda a: R(),
    "GET /api/v1/gateways/sessions": lambda a: R(query=f"board_id={a.team_id}"),
    "GET /api/v1/gateways/sessions/{session_id}": lambda a: R({"session_id": a.session_key}),
    "GET /api/v1/gateways/sessions/{session_id}/history": lambda a: R({"session_id": a.session_key}),
    "POST /api/v1/gateways/sessions/{session_id}/message": lambda a: R({"session_id": a.session_key},
                                                                       body={"content": "pwned"}),
    "POST /api/v1/gateways/{gateway_id}/templates/sync": lambda a: R({"gateway_id": a.gateway_id},
                                                                     query="reset_sessions=true"),
    "GET /api/v1/souls-directory/search": lambda a: R(query="q=a"),
    "GET /api/v1/souls-directory/{handle}/{slug}.md": lambda a: R({"handle": "clawgate", "slug": "calm-coordinator"}),
    "GET /api/v1/souls-directory/{handle}/{slug}": lambda a: R({"handle": "clawgate", "slug": "pragmatic-engineer"}),
    "POST /api/v1/organizations": lambda a: R(body={"name": "Tenant AAA Name"}),
    "DELETE /api/v1/organizations/me": lambda a: R(),
    "DELETE /api/v1/users/me": lambda a: R(),
    "POST /api/v1/auth/bootstrap": lambda a: R(),
    "GET /api/v1/gateways/{gateway_id}": lambda a: R({"gateway_id": a.gateway_id}),
    "PATCH /api/v1/gateways/{gateway_id}": lambda a: R({"gateway_id": a.gateway_id}, body={"name": "pwned"}),
    "DELETE /api/v1/gateways/{gateway_id}": lambda a: R({"gateway_id": a.gateway_id}),
    "GET /api/v1/metrics/dashboard": lambda a: R(query=f"board_id={a.team_id}"),
    "GET /api/v1/activity": lambda a: R(query=f"board_id={a.team_id}"),
    "GET /api/v1/activity/task-comments": lambda a: R(query=f"board_id={a.team_id}"),
    "POST /api/v1/agent/agents": lambda a: R(body={"name": "pwned", "board_id": a.team_id}),
    "DELETE /api/v1/agent/boards/{board_id}/agents/{agent_id}": lambda a: R(
        {"board_id": a.team_id, "agent_id": a.agent_id}),
    "GET /api/v1/agent/boards/{board_id}/agents/{agent_id}/soul": lambda a: R(
        {"board_id": a.team_id, "agent_id": a.agent_id}),
    "PUT /api/v1/agent/boards/{board_id}/agents/{agent_id}/soul": lambda a: R(
        {"board_id": a.team_id, "agent_id": a.agent_id}, body={"content": "pwned"}),
    "POST /api/v1/agent/boards/{board_id}/gateway/main/ask-user": lambda a: R({"board_id": a.team_id},
                                                                              body={"content": "pwned"}),
    # B's agent is B's gateway main (its only agent): A's board is not one of its tenant's.
    "POST /api/v1/agent/gateway/boards/{board_id}/lead/message": lambda a: R({"board_id": a.team_id},
                                                                             body={"content": "pwned"}),
    "POST /api/v1/agent/gateway/leads/broadcast": lambda a: R(body={"content": "pwned", "board_ids": [a.team_id]}),
    "POST /api/v1/agent/boards/{board_id}/onboarding": lambda a: R({"board_id": a.team_id}, body={
        "question": "pwned?", "options": [{"id": "a", "label": "pwned"}]}),
    "POST /api/v1/boards/{board_id}/onboarding/agent": lambda a: R({"board_id": a.team_id}, body={
        "status": "complete", "board_type": "general"}),
    # MC's user routes for agents and onboarding.
    "GET /api/v1/agents": lambda a: R(query=f"board_id={a.team_id}"),
    "POST /api/v1/agents": lambda a: R(body={"name": "pwned", "board_id": a.team_id}),
    "GET /api/v1/agents/{agent_id}": lambda a: R({"agent_id": a.agent_id}),
    "PATCH /api/v1/agents/{agent_id}": lambda a: R({"agent_id": a.agent_id}, body={"name": "pwned",
                                                                                   "board_id": a.team_id}),
    "DELETE /api/v1/agents/{agent_id}": lambda a: R({"agent_id": a.agent_id}),
    # The streams named with A's board are 404 (a stream of B's own tenant would never end).
    "GET /api/v1/agents/stream": lambda a: R(query=f"board_id={a.team_id}&since=2000-01-01"),
    "GET /api/v1/activity/task-comments/stream": lambda a: R(query=f"board_id={a.team_id}&since=2000-01-01"),
    "POST /api/v1/agents/{agent_id}/heartbeat": lambda a: R({"agent_id": a.agent_id}, body={"status": "pwned"}),
    "POST /api/v1/agents/heartbeat": lambda a: R(body={"name": "pwned", "board_id": a.team_id}),
    "GET /api/v1/boards/{board_id}/onboarding": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/boards/{board_id}/onboarding/start": lambda a: R({"board_id": a.team_id}),
    "POST /api/v1/boards/{board_id}/onboarding/answer": lambda a: R({"board_id": a.team_id},
                                                                    body={"answer": "pwned"}),
    "POST /api/v1/boards/{board_id}/onboarding/confirm": lambda a: R({"board_id": a.team_id},
                                                                     body={"board_type": "general"}),
    # ClawTasker /api: B names A's project (team), agent key and task number; T-1 is A's first task.
    "GET /api/health": lambda a: R(),
    "GET /api/snapshot": lambda a: R(),
    # B's own stream (it names no project: a tenant's whole log), replayed from the start and read
    # for a while (``_request``): none of A's events may be in it, claiming A's tenant or not.
    "GET /api/system/recovery": lambda a: R(),
    "GET /api/system/version": lambda a: R(),
    "GET /api/events/stream": lambda a: R(query="since=2000-01-01"),
    "GET /api/openclaw/contract": lambda a: R(),
    "GET /api/schema/{name}": lambda a: R({"name": "task"}),
    "GET /api/tasks/next": lambda a: R(query="owner=agent-aaa"),
    "GET /api/tasks/templates": lambda a: R(),
    "POST /api/tasks/create": lambda a: R(body={"title": "pwned", "project_id": a.team_id, "owner": "agent-aaa"}),
    "POST /api/tasks/update": lambda a: R(body={"task": {"id": "T-1", "title": "pwned", "status": "ready"}}),
    "POST /api/tasks/delete": lambda a: R(body={"task_id": "T-1"}),
    "POST /api/tasks/link": lambda a: R(body={"source_id": "T-1", "target_id": "T-2"}),
    "POST /api/tasks/comment": lambda a: R(body={"task_id": "T-1", "text": "pwned"}),
    "POST /api/tasks/event": lambda a: R(body={"type": "started", "task_id": "T-1", "agent_id": "agent-aaa"}),
    # B's own agent, with no value of A's on its card: a value B stores is echoed in B's later reads.
    "POST /api/agents/register": lambda a: R(body={"agent": {"id": "b-ct-agent", "name": "pwned", "role": "x",
                                                              "skills": ["x"]}}),
    "POST /api/agents/heartbeat": lambda a: R(body={"agent": {"id": "agent-aaa", "status": "working"}}),
    "POST /api/agents/update": lambda a: R(body={"agent_id": "agent-aaa", "note": "pwned"}),
    "POST /api/agents/decommission": lambda a: R(body={"agent_id": "agent-aaa"}),
    "POST /api/agents/retire": lambda a: R(body={"agent_id": "agent-aaa"}),
    "POST /api/agents/replace": lambda a: R(body={"old_agent_id": "agent-aaa", "new_agent_id": "b-made-agent"}),
    "POST /api/agents/merge": lambda a: R(body={"source_agent_id": "agent-aaa", "target_agent_id": "b-made-agent"}),
    "POST /api/agents/delete": lambda a: R(body={"agent_id": "agent-aaa"}),
    "POST /api/agents/sync": lambda a: R(body={"agents": [{"id": "b-ct-agent", "name": "pwned", "role": "x",
                                                           "skills": ["x"]}]}),
    "POST /api/openclaw/roster_sync": lambda a: R(body={"roster": {"agents": [], "replace_missing": True}}),
    "POST /api/missions/plan": lambda a: R(body={"mission": {"id": "b-mission", "title": "pwned", "task_ids": ["T-1"],
                                                             "project_ids": [a.team_id], "owner": "agent-aaa"}}),
    "POST /api/missions/delete": lambda a: R(body={"mission_id": "b-mission"}),
    "POST /api/sprints/create": lambda a: R(body={"name": "pwned", "project_id": a.team_id}),
    "POST /api/sprints/update": lambda a: R(body={"sprint_id": "SPR-001", "status": "closed"}),
    "POST /api/sprints/delete": lambda a: R(body={"sprint_id": "SPR-001"}),
    "POST /api/projects/configure": lambda a: R(body={"project_id": "b-project", "name": "pwned"}),
    "POST /api/projects/delete": lambda a: R(body={"project_id": a.team_id}),
    "POST /api/conversations/message": lambda a: R(body={"thread_id": "TH-A", "text": "pwned", "sender": "agent-aaa"}),
    "POST /api/ceo/directive": lambda a: R(body={"target": "agent-aaa", "text": "pwned", "project_id": a.team_id}),
    "POST /api/notifications/dismiss": lambda a: R(body={"all": True}),
    "POST /api/runs/publish": lambda a: R(body={"agent_id": "agent-aaa", "task_id": "T-1", "title": "pwned"}),
    "POST /api/openclaw/publish": lambda a: R(body={"agentId": "agent-aaa", "taskId": "T-1", "note": "pwned",
                                                     "event": "mission_plan", "missionId": "b-mission"}),
    "POST /api/org/configure": lambda a: R(body={"chief_agent_id": "agent-aaa", "company_name": "pwned"}),
    "POST /api/org/bootstrap": lambda a: R(body={"company_name": "b-co", "projects": [{"project_id": "b-p"}]}),
    "POST /api/demo/reset": lambda a: R(body={}),
    "POST /api/blank/reset": lambda a: R(body={}),
}  # fmt: skip

_PATCH = json.dumps({"gateway": {"max_message_chars": 10, "owner_ids": ["mallory"]}})

WS_CASES: dict[str, Callable[[TenantA], Any]] = {
    "connect": lambda a: None,  # the connect of each identity is the case (see _ws_identities)
    "health": lambda a: None,
    "status": lambda a: None,
    "agents.list": lambda a: None,
    "agents.create": lambda a: {"agent_key": "b-made-agent", "provider": "b-prov"},
    "agents.update": lambda a: {"agentId": a.agent_id, "display_name": "pwned"},
    "agents.delete": lambda a: {"agentId": "agent-aaa"},
    "agents.files.list": lambda a: {"agentId": a.agent_id},
    "agents.files.get": lambda a: {"agentId": "agent-aaa", "name": FILE},
    "agents.files.set": lambda a: {"agentId": a.agent_id, "name": FILE, "content": "pwned"},
    "agent.identity.get": lambda a: {"agentId": "agent-aaa"},
    "config.get": lambda a: None,
    "config.patch": lambda a: {"raw": _PATCH},
    "config.apply": lambda a: {"raw": _PATCH},
    "config.schema": lambda a: None,
    "api_keys.list": lambda a: None,
    "api_keys.create": lambda a: {"name": "into-a", "scopes": ["operator.admin"], "tenant_id": a.id},
    "api_keys.revoke": lambda a: {"id": a.key_id},
    "tenants.list": lambda a: None,
    "tenants.get": lambda a: {"id": a.id},
    "tenants.mine": lambda a: None,
    "tenants.users.list": lambda a: {"tenant_id": a.id},
    "tenants.create": lambda a: {"name": "B made", "slug": "b-made"},
    "tenants.update": lambda a: {"id": "tenant-aaa", "name": "pwned", "settings": {}},
    "tenants.users.add": lambda a: {"tenant_id": a.id, "user_id": "mallory", "role": "admin"},
    "tenants.users.remove": lambda a: {"tenant_id": a.id, "user_id": "alice"},
    "chat.send": lambda a: {"message": "hi", "agentId": "agent-aaa", "sessionKey": a.session_key},
    "chat.history": lambda a: {"sessionKey": a.session_key},
    "chat.abort": lambda a: {"sessionKey": a.session_key, "runId": a.run_id},
    "chat.inject": lambda a: {"sessionKey": a.session_key, "message": "pwned"},
    "chat.session.status": lambda a: {"sessionKey": a.session_key},
    "run.timeline.get": lambda a: {"runId": a.run_id},
    "sessions.list": lambda a: {"agentId": "agent-aaa"},
    "sessions.preview": lambda a: {"key": a.session_key},
    "sessions.patch": lambda a: {"key": a.session_key, "label": "pwned"},
    "sessions.delete": lambda a: {"key": a.session_key},
    "sessions.reset": lambda a: {"key": a.session_key},
    "sessions.compact": lambda a: {"key": a.session_key},
    "usage.get": lambda a: {"agentId": "agent-aaa"},
    "usage.summary": lambda a: None,
    "quota.usage": lambda a: None,
    "cron.list": lambda a: {"agentId": "agent-aaa"},
    "cron.status": lambda a: None,
    "cron.create": lambda a: _CRON_JOB,
    "cron.update": lambda a: {"jobId": a.cron_id, "patch": {"message": "pwned"}},
    "cron.delete": lambda a: {"jobId": a.cron_id},
    "cron.toggle": lambda a: {"jobId": a.cron_id, "enabled": False},
    "cron.run": lambda a: {"id": a.cron_id},
    "cron.runs": lambda a: {"jobId": a.cron_id},
    "heartbeat.get": lambda a: {"agentId": "agent-aaa"},
    "heartbeat.set": lambda a: {"agentId": a.agent_id, "enabled": False, "prompt": "pwned"},
    "heartbeat.toggle": lambda a: {"agentId": "agent-aaa", "enabled": False},
    "heartbeat.test": lambda a: {"agentId": "agent-aaa"},
    "heartbeat.logs": lambda a: {"agentId": a.agent_id},
    "heartbeat.checklist.get": lambda a: {"agentId": "agent-aaa"},
    "heartbeat.checklist.set": lambda a: {"agentId": a.agent_id, "content": "pwned"},
    "heartbeat.targets": lambda a: {"agentId": "agent-aaa"},
    "skills.list": lambda a: None,
    "skills.get": lambda a: {"name": "a-skill-slug"},
    "skills.update": lambda a: {"id": a.skill_id, "updates": {"description": "pwned"}},
    "teams.list": lambda a: None,
    "teams.get": lambda a: {"teamId": a.team_id},
    "teams.create": lambda a: {"name": "b-made-team", "lead": "agent-aaa", "members": [a.agent_id]},
    "teams.update": lambda a: {"teamId": a.team_id, "name": "pwned", "settings": {}},
    "teams.delete": lambda a: {"teamId": a.team_id},
    "teams.members.add": lambda a: {"teamId": a.team_id, "agent": "agent-aaa"},
    "teams.members.remove": lambda a: {"teamId": a.team_id, "agentId": a.agent_id},
    "teams.tasks.list": lambda a: {"teamId": a.team_id, "status": "all"},
    "teams.tasks.get": lambda a: {"teamId": a.team_id, "taskId": a.task_id},
    "teams.tasks.get-light": lambda a: {"teamId": a.team_id, "taskId": a.task_id},
    "teams.tasks.comments": lambda a: {"teamId": a.team_id, "taskId": a.task_id},
    "teams.tasks.events": lambda a: {"teamId": a.team_id, "taskId": a.task_id},
    "teams.tasks.active-by-session": lambda a: {"sessionKey": "a-chat-scope"},
    "teams.tasks.approve": lambda a: {"teamId": a.team_id, "taskId": a.task_id, "comment": "pwned"},
    "teams.tasks.reject": lambda a: {"teamId": a.team_id, "taskId": a.task_id, "reason": "pwned"},
    "teams.tasks.comment": lambda a: {"teamId": a.team_id, "taskId": a.task_id, "content": "pwned"},
    "teams.tasks.create": lambda a: {"teamId": a.team_id, "subject": "pwned", "assignTo": a.agent_id},
    "teams.tasks.assign": lambda a: {"teamId": a.team_id, "taskId": a.task_id, "agentId": a.agent_id},
    "teams.tasks.delete": lambda a: {"teamId": a.team_id, "taskId": a.task_id},
    "teams.tasks.delete-bulk": lambda a: {"teamId": a.team_id, "taskIds": [a.task_id]},
    "teams.events.list": lambda a: {"team_id": a.team_id},
    "teams.known_users": lambda a: {"teamId": a.team_id},
    "teams.scopes": lambda a: {"teamId": a.team_id},
    "teams.workspace.list": lambda a: {"team_id": a.team_id},
    "teams.workspace.read": lambda a: {
        "team_id": a.team_id,
        "chat_id": "a-chat-scope",
        "file_name": "a-team-file.md",
    },
    "teams.workspace.delete": lambda a: {
        "team_id": a.team_id,
        "chat_id": "a-chat-scope",
        "file_name": "a-team-file.md",
    },
}


def test_every_route_has_a_case() -> None:
    """The REST case table is the live route table (a new route needs a case here)."""
    live = {f"{api.method} {api.path}" for api in all_apis()}
    missing, stale = sorted(live - REST_CASES.keys()), sorted(REST_CASES.keys() - live)
    assert not missing, f"routes without a tenant isolation case in tests/test_isolation.py: {missing}"
    assert not stale, f"isolation cases for routes that no longer exist: {stale}"


def test_every_method_has_a_case() -> None:
    """The WS case table is the live method table (a new method needs a case here)."""
    missing, stale = sorted(METHODS.keys() - WS_CASES.keys()), sorted(WS_CASES.keys() - METHODS.keys())
    assert not missing, f"WS methods without a tenant isolation case in tests/test_isolation.py: {missing}"
    assert not stale, f"isolation cases for WS methods that no longer exist: {stale}"


# -- setup ----------------------------------------------------------------------------------------


@dataclass
class World:
    server: RunningServer
    a: TenantA
    a_key: str
    b_key: str
    b_id: str
    snapshot: dict[str, Any] = field(default_factory=dict)
    b_agent_token: str = ""  # an MC agent token of B's (the agent API's routes are called with it)

    async def settle(self) -> None:
        """Take A's snapshot (to compare at the end) and collect A's values from it."""
        self.snapshot = await _snapshot(self)
        found = set(_UUID.findall(json.dumps(self.snapshot))) | set(A_MARKERS)
        self.a.secrets |= found - {self.b_id, str(MASTER_TENANT_ID)}
        assert "A-ASSISTANT-ANSWER" in json.dumps(self.snapshot)
        assert "A-CRON-ANSWER" in json.dumps(self.snapshot)  # A's cron job has a run record

    async def check(self) -> None:
        """A reads as it did when last settled."""
        assert await _snapshot(self) == self.snapshot, "tenant A changed"


def _owner_in(server: RunningServer, tenant: str) -> httpx.AsyncClient:
    return server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner", "X-GoClaw-Tenant-Id": tenant})


async def _ok(res: httpx.Response) -> Any:
    assert res.status_code < 300, (res.request.method, res.request.url, res.status_code, res.text)
    return res.json()


async def _send(http: httpx.AsyncClient, method: str, path: str, body: Any) -> Any:
    return await _ok(await http.request(method, path, json=body))


@contextlib.asynccontextmanager
async def _world(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[World]:
    """Tenants A and B, A populated through the API as A's admin; B's admin key. On exit, A
    must read as it did when it was last settled."""
    monkeypatch.chdir(tmp_path)  # config.json (should a config change ever get through) lands here
    async with stand_in("openai") as up:
        up.title = "A-SESSION-TITLE"
        server = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], gateway__rate_limit_rpm=0,
            rate_limits__per_key_rpm=0, rate_limits__per_ip_rpm=0, rate_limits__clawtasker_writes_per_minute=0,
        )  # fmt: skip
        a = TenantA()
        adm = {"scopes": ["operator.admin"]}
        # fmt: off
        async with _owner_in(server, "master") as owner:
            tenant_a = {"name": "Tenant AAA Name", "slug": "tenant-aaa"}
            a.id = (await _send(owner, "POST", "/v1/tenants", tenant_a))["id"]
            b = await _send(owner, "POST", "/v1/tenants", {"name": "Tenant B", "slug": "tenant-b"})
            a_key = await _send(owner, "POST", "/v1/api-keys", {"name": "key-aaa", "tenant_id": a.id, **adm})
            b_key = await _send(owner, "POST", "/v1/api-keys", {"name": "key-b", "tenant_id": b["id"], **adm})
            alice = {"user_id": "alice", "display_name": "Alice-In-AAA"}
            await _send(owner, "POST", f"/v1/tenants/{a.id}/users", alice)
        a.key_id = a_key["id"]
        async with server.client(a_key["key"], **{"X-GoClaw-User-Id": "alice"}) as http:
            await _send(http, "PATCH", f"/v1/tenants/{a.id}", {"settings": {"a_setting": "A-SETTING-VALUE"}})
            a.provider_id = (await _send(http, "POST", "/v1/providers", {
                "name": "prov-aaa", "provider_type": "openai_compat", "api_base": up.base_url,
                "api_key": "sk-aaa-provider-secret"}))["id"]
            a.agent_id = (await _send(http, "POST", "/v1/agents", {
                "agent_key": "agent-aaa", "display_name": "Agent AAA Name", "provider": "prov-aaa",
                "model": "model-a", "agent_description": "A-AGENT-DESCRIPTION"}))["id"]
            await _send(http, "PUT", "/v1/system-configs/a.secret.key", {"value": "A-CONFIG-VALUE"})
            memory = f"/v1/agents/{a.agent_id}/memory/documents/a-memory/notes.md"
            await _send(http, "PUT", memory, {"content": "A-MEMORY-CONTENT shared memory"})
            await _send(http, "PUT", memory + "?user_id=alice", {"content": "A-USER-MEMORY alice memory"})
            vault = f"/v1/agents/{a.agent_id}/vault"
            a.vault_target_id = (await _send(http, "POST", f"{vault}/documents", {
                "path": "a-vault/target.md", "content": "A-SHARED-VAULT agent document"}))["id"]
            a.vault_doc_id = (await _send(http, "POST", f"{vault}/documents", {
                "path": "a-vault/plan.md", "title": "A-VAULT-TITLE", "user_id": "alice",
                "content": "A-VAULT-CONTENT links to [[a-vault/target]]"}))["id"]
            links = await _ok(await http.get(f"{vault}/documents/{a.vault_doc_id}/links"))
            a.vault_link_id = links["outlinks"][0]["id"]
            await _send(http, "PUT", "/v1/tools/builtin/web_fetch", {"enabled": False, "settings": {"max_bytes": 4321}})
            wrote = await _send(http, "POST", "/v1/tools/invoke", {"tool": "write_file", "agentId": "agent-aaa",
                                "args": {"path": "a-workspace.txt", "content": "A-WORKSPACE-CONTENT"}})
            assert wrote["ok"], wrote
            kg = f"/v1/agents/{a.agent_id}/kg"
            a.kg_entity_id = (await _send(http, "POST", kg + "/entities", {
                "name": "A-KG-ENTITY kubernetes cluster", "entity_type": "system", "description": "A-KG-DESCRIPTION",
                "relations": [{"relation_type": "a_kg_relation", "target_name": "A-KG-ENTITY target"}]}))["id"]
            a.kg_other_id = (await _send(http, "POST", kg + "/entities", {
                "name": "A-KG-ENTITY kubernetes clusters", "entity_type": "system"}))["id"]
            await _send(http, "POST", kg + "/dedup/scan", {})
            a.kg_candidate_id = (await _ok(await http.get(kg + "/dedup")))["candidates"][0]["id"]
            a_skill = make_zip({"SKILL.md": "---\nname: A-SKILL-NAME\nslug: a-skill-slug\ndescription: "
                                "A-SKILL-DESCRIPTION\n---\nA-SKILL-BODY\n", "more.md": "A-SKILL-FILE"})
            a.skill_id = (await _ok(await http.post("/v1/skills/upload", files={"file": ("a.zip", a_skill)})))["id"]
            await _send(http, "POST", f"/v1/skills/{a.skill_id}/grants/agent", {"agent_id": a.agent_id})
            await _send(http, "POST", f"/v1/skills/{a.skill_id}/grants/user", {"user_id": "alice"})
            a.mcp_server_id = (await _send(http, "POST", "/v1/mcp/servers", {
                "name": "a-mcp-server", "transport": "streamable-http", "url": "http://a-mcp-command.invalid/mcp",
                "api_key": "A-MCP-API-KEY-SECRET", "env": {"A_ENV": "A-MCP-ENV-VALUE"}, "enabled": False}))["id"]
            await _send(http, "POST", f"/v1/mcp/servers/{a.mcp_server_id}/grants/agent", {"agent_id": a.agent_id})
            await _send(http, "POST", f"/v1/mcp/servers/{a.mcp_server_id}/grants/user", {"user_id": "alice"})
            a.mcp_request_id = (await _send(http, "POST", "/v1/mcp/requests", {
                "server_id": a.mcp_server_id, "user_id": "alice", "reason": "A-MCP-REQUEST-REASON"}))["id"]
            await _send(http, "PUT", f"/v1/mcp/servers/{a.mcp_server_id}/user-credentials",
                        {"api_key": "A-MCP-USER-KEY", "env": {"A_USER_ENV": "A-MCP-USER-ENV"}})
        # fmt: on
        async with ws_connect(server, token=a_key["key"], user_id="alice") as ws:
            await ws.ok(
                "agents.files.set", {"agentId": "agent-aaa", "name": FILE, "content": "A-FILE-CONTENT"}
            )
            up.script(Reply(content="A-ASSISTANT-ANSWER"))
            sent = await ws.ok("chat.send", {"message": "A-USER-MESSAGE", "agentId": "agent-aaa"})
            await ws.next_event("session.updated")  # the title is written: A is at rest from here
            job = {"name": "a-cron-job", "agentId": "agent-aaa", "message": "A-CRON-MESSAGE",
                   "schedule": {"kind": "every", "everyMs": 3_600_000}}  # fmt: skip
            a.cron_id = (await ws.ok("cron.create", job))["job"]["id"]
            up.script(Reply(content="A-CRON-ANSWER"))
            await ws.ok("cron.run", {"jobId": a.cron_id})
            await ws.wait_for(lambda e: e["event"] == "cron" and e["payload"]["action"] == "completed")
            await ws.ok(
                "heartbeat.checklist.set", {"agentId": "agent-aaa", "content": "A-HEARTBEAT-CHECKLIST"}
            )
            await ws.ok(
                "heartbeat.set", {"agentId": "agent-aaa", "enabled": True, "prompt": "A-HEARTBEAT-PROMPT"}
            )
            team = {"name": "A-TEAM-NAME", "lead": "agent-aaa", "members": ["agent-aaa"]}
            a.team_id = (await ws.ok("teams.create", team))["team"]["id"]
            task = {"teamId": a.team_id, "subject": "A-TASK-SUBJECT", "chatId": "a-chat-scope"}
            a.task_id = (await ws.ok("teams.tasks.create", task))["task"]["id"]
            comment = {"teamId": a.team_id, "taskId": a.task_id, "content": "A-TASK-COMMENT"}
            await ws.ok("teams.tasks.comment", comment)
        # A file of A's team workspace (as an agent of the team would leave it).
        scope = server.gateway.team_workspace.root(UUID(a.id), UUID(a.team_id)) / "a-chat-scope"
        scope.mkdir(parents=True, exist_ok=True)
        (scope / "a-team-file.md").write_text("A-TEAM-FILE-CONTENT")
        a.session_key, a.run_id = sent["sessionKey"], sent["runId"]
        async with server.client(a_key["key"], **{"X-GoClaw-User-Id": "alice"}) as http:
            res = await http.post(
                f"/v1/teams/{a.team_id}/workspace/upload?chat_id=a-chat-scope&task_id={a.task_id}",
                files={"file": ("a-attachment.md", b"A-ATTACHMENT-CONTENT")},
            )
            a.attachment_id = (await _ok(res))["attachment_id"]
            approval = {"action_type": "deploy", "task_id": a.task_id, "confidence": 90,
                        "lead_reasoning": "A-APPROVAL-REASON"}  # fmt: skip
            a.approval_id = (await _send(http, "POST", f"/api/v1/boards/{a.team_id}/approvals", approval))[
                "id"
            ]
            # A board group with a board of its own (no agent on it: nothing runs), plain group memory, a
            # tag and a custom field bound to A-TEAM-NAME.
            a.group_id = (await _send(http, "POST", "/api/v1/board-groups", {"name": "A-GROUP-NAME"}))["id"]
            await _send(http, "POST", "/api/v1/boards", {"name": "A-GROUP-BOARD", "description": "d",
                                                         "board_group_id": a.group_id})  # fmt: skip
            await _send(
                http, "POST", f"/api/v1/board-groups/{a.group_id}/memory", {"content": "A-GROUP-MEMORY"}
            )
            a.tag_id = (
                await _send(http, "POST", "/api/v1/tags", {"name": "A-TAG-NAME", "slug": "a-tag-slug"})
            )["id"]
            a.field_id = (await _send(http, "POST", "/api/v1/organizations/me/custom-fields", {
                "field_key": "a_field_key", "label": "A-FIELD-LABEL", "board_ids": [a.team_id]}))["id"]  # fmt: skip
            hook_board = {"name": "A-HOOK-BOARD", "description": "d"}
            a.hook_board_id = (await _send(http, "POST", "/api/v1/boards", hook_board))["id"]
            hook = {"description": "A-WEBHOOK-INSTRUCTION", "secret": "A-WEBHOOK-SECRET-VALUE",
                    "signature_header": "X-A-Signature"}  # fmt: skip
            a.webhook_id = (await _send(http, "POST", f"/api/v1/boards/{a.hook_board_id}/webhooks", hook))[
                "id"
            ]
            body = b'{"a": "A-WEBHOOK-PAYLOAD"}'
            signed = hmac.new(b"A-WEBHOOK-SECRET-VALUE", body, hashlib.sha256).hexdigest()
            delivered = await http.post(f"/api/v1/boards/{a.hook_board_id}/webhooks/{a.webhook_id}", content=body,
                                        headers={"X-A-Signature": signed})  # fmt: skip
            a.payload_id = (await _ok(delivered))["payload_id"]
            org = "/api/v1/organizations/me"
            await _send(
                http, "PATCH", "/api/v1/users/me", {"name": "A-PROFILE-NAME", "email": "a-member@aaa.example"}
            )
            a.member_id = (await _ok(await http.get(org + "/member")))["id"]
            invite = await _send(
                http,
                "POST",
                org + "/invites",
                {"invited_email": "a-invitee@aaa.example", "board_access": [{"board_id": a.team_id}]},
            )
            a.invite_id, a.invite_token = invite["id"], invite["token"]
            a.gateway_id = (
                await _send(
                    http,
                    "POST",
                    "/api/v1/gateways",
                    {
                        "name": "A-GATEWAY-NAME",
                        "url": "wss://a-gateway.example:443",
                        "workspace_root": "/a-root-path",
                        "token": "A-GATEWAY-TOKEN-SECRET",
                    },
                )
            )["id"]
        a.secrets.add(a.invite_token)
        async with _owner_in(server, a.id) as owner:
            traces = (await _ok(await owner.get("/v1/traces")))["traces"]
            a.agent_token = (await _ok(await owner.post(f"/api/v1/agents/{a.agent_id}/token")))["token"]
        a.secrets.add(a.agent_token)
        a.trace_id = traces[0]["id"]
        world = World(server, a, a_key["key"], b_key["key"], b["id"])
        async with server.client(b_key["key"]) as http:
            await _send(http, "POST", "/v1/providers", {"name": "b-agent-prov", "provider_type": "openai_compat",
                                                        "api_base": up.base_url, "api_key": "sk-b"})  # fmt: skip
            b_agent = await _send(http, "POST", "/v1/agents", {"agent_key": "b-agent", "provider": "b-agent-prov",
                                                               "model": "model-a"})  # fmt: skip
            world.b_agent_token = (await _send(http, "POST", f"/api/v1/agents/{b_agent['id']}/token", None))[
                "token"
            ]
        await world.settle()
        yield world
        await world.check()


async def _snapshot(world: World) -> dict[str, Any]:
    """Everything of A's, read as A (the owner acting in A, so no key of A's is touched)."""
    a, out = world.a, {}
    async with _owner_in(world.server, a.id) as owner:
        for path in (
            f"/v1/tenants/{a.id}", f"/v1/tenants/{a.id}/users", "/v1/agents", f"/v1/agents/{a.agent_id}",
            "/v1/providers", "/v1/system-configs", "/v1/api-keys", "/v1/sessions",
            f"/v1/chat/sessions/{a.session_key}/history/follow", "/v1/traces", f"/v1/traces/{a.trace_id}",
            "/v1/memory/documents", f"/v1/agents/{a.agent_id}/memory/chunks",
            f"/v1/agents/{a.agent_id}/memory/documents/a-memory/notes.md?user_id=alice",
            "/v1/cron/jobs", f"/v1/cron/jobs/{a.cron_id}/runs",
            "/v1/vault/documents", f"/v1/agents/{a.agent_id}/vault/documents/{a.vault_doc_id}",
            f"/v1/agents/{a.agent_id}/vault/documents/{a.vault_doc_id}/links", "/v1/vault/graph",
            "/v1/vault/enrichment/status",
            f"/v1/agents/{a.agent_id}/kg/graph", f"/v1/agents/{a.agent_id}/kg/dedup",
            f"/v1/agents/{a.agent_id}/kg/stats", f"/v1/agents/{a.agent_id}/episodic",
            "/v1/tools/builtin", "/v1/tools/builtin/web_fetch/tenant-config",
            "/v1/skills", f"/v1/skills/{a.skill_id}/versions", f"/v1/skills/{a.skill_id}/files/more.md",
            f"/v1/skills/{a.skill_id}/grants/agent", f"/v1/skills/{a.skill_id}/grants/user",
            f"/v1/agents/{a.agent_id}/skills",
            "/v1/mcp/servers", f"/v1/mcp/servers/{a.mcp_server_id}/grants",
            f"/v1/mcp/servers/{a.mcp_server_id}/user-credentials?user_id=alice", "/v1/mcp/requests?status=all",
        ):  # fmt: skip
            out[path] = await _ok(await owner.get(path))
    async with ws_connect(world.server, token=GATEWAY_TOKEN, user_id="owner", tenant_id=a.id) as ws:
        out["files"] = await ws.ok("agents.files.get", {"agentId": "agent-aaa", "name": FILE})
        out["history"] = await ws.ok("chat.history", {"sessionKey": a.session_key})
        out["usage"] = await ws.ok("usage.summary")
        out["heartbeat"] = await ws.ok("heartbeat.get", {"agentId": "agent-aaa"})
        out["checklist"] = await ws.ok("heartbeat.checklist.get", {"agentId": "agent-aaa"})
        config = await ws.ok("config.get")
        out["config"] = config["hash"]
        out["team"] = await ws.ok("teams.get", {"teamId": a.team_id})
        out["task"] = await ws.ok("teams.tasks.get", {"teamId": a.team_id, "taskId": a.task_id})
        out["team_events"] = await ws.ok("teams.events.list", {"team_id": a.team_id})
        out["team_files"] = await ws.ok("teams.workspace.list", {"team_id": a.team_id})
        out["team_file"] = await ws.ok("teams.workspace.read", {"team_id": a.team_id, "chat_id": "a-chat-scope",
                                                                "file_name": "a-team-file.md"})  # fmt: skip
    async with _owner_in(world.server, a.id) as owner:
        out["board"] = await _ok(await owner.get(f"/api/v1/boards/{a.team_id}"))
        attachment = await owner.get(f"/v1/teams/{a.team_id}/attachments/{a.attachment_id}/download")
        out["attachment"] = (attachment.status_code, attachment.text)
        out["approvals"] = await _ok(await owner.get(f"/api/v1/boards/{a.team_id}/approvals"))
        for path in ("/api/v1/board-groups", f"/api/v1/board-groups/{a.group_id}/memory",
                     f"/api/v1/board-groups/{a.group_id}/snapshot", "/api/v1/tags",
                     "/api/v1/organizations/me/custom-fields"):  # fmt: skip
            out[path] = await _ok(await owner.get(path))
        hooks = f"/api/v1/boards/{a.hook_board_id}/webhooks"
        out["webhooks"] = await _ok(await owner.get(hooks))
        out["payloads"] = await _ok(await owner.get(f"{hooks}/{a.webhook_id}/payloads"))
        for path in ("/api/v1/organizations/me/members", "/api/v1/organizations/me/invites", "/api/v1/gateways",
                     "/api/v1/activity", "/api/v1/activity/task-comments"):  # fmt: skip
            out[path] = await _ok(await owner.get(path))
    async with world.server.client(
        None, **{"X-Agent-Token": a.agent_token, "X-Real-IP": "10.250.0.1"}
    ) as agent:
        out["agent_view"] = await _ok(await agent.get(f"/api/v1/agent/boards/{a.team_id}/tasks"))
    return out


STREAM_READ_SECONDS = 1.0
"""How long an event stream that stays open is read (its replay from ``since`` comes first)."""


async def _request(http: httpx.AsyncClient, api: Api, url: str, body: dict[str, Any]) -> httpx.Response:
    """The route's answer; an event stream's (which never ends by itself) as far as it came within
    ``STREAM_READ_SECONDS``."""
    if api.media_type != "text/event-stream":
        return await http.request(api.method, url, **body)
    chunks: list[bytes] = []
    async with http.stream(api.method, url, **body) as res:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STREAM_READ_SECONDS):
                async for chunk in res.aiter_bytes():
                    chunks.append(chunk)
    return httpx.Response(res.status_code, headers=res.headers, content=b"".join(chunks))


def _leaks(a: TenantA, sent: str, received: str) -> list[str]:
    """A's values in ``received`` that ``sent`` did not carry itself."""
    return sorted(s for s in a.secrets if s in received and s not in sent)


# -- the invariant --------------------------------------------------------------------------------


async def test_rest_routes_give_tenant_b_nothing_of_tenant_a(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every REST route, called with B's admin key (plain, and claiming alice and A's tenant)."""
    failures: list[str] = []
    async with _world(make_server, tmp_path, monkeypatch) as world:
        a = world.a
        claims = {"X-GoClaw-User-Id": "alice", "X-GoClaw-Tenant-Id": a.id}
        routes = {f"{api.method} {api.path}": api for api in all_apis()}
        for headers in ({}, claims):
            async with world.server.client(world.b_key, **headers) as http:
                for index, (name, case) in enumerate(REST_CASES.items()):
                    req = case(a)
                    template = re.sub(r"\{(\w+):\w+\}", r"{\1}", routes[name].path)  # {path:path}
                    url = template.format(**req.path) + (f"?{req.query}" if req.query else "")
                    body: dict[str, Any] = {} if req.body is None else {"json": req.body}
                    if " /api/v1/agent/" in name:  # the agent API: B's agent token, from an IP of its own
                        body["headers"] = {
                            "X-Agent-Token": world.b_agent_token,
                            "X-Real-IP": f"10.99.{index}.1",
                        }
                    if req.files is not None:
                        body = {"data": req.files, "files": [("file", ("plans.md", b"pwned", "text/plain"))]}
                    res = await _request(http, routes[name], url, body)
                    sent = url + json.dumps(req.body) + json.dumps(req.files)
                    label = f"{name} {'claiming alice in A' if headers else 'plain'}: {res.status_code}"
                    if res.status_code >= 500 or ("headers" in body and res.status_code == 401):
                        failures.append(f"{label} {res.text[:200]}")
                    if leaked := _leaks(a, sent, res.text):
                        failures.append(f"{label} carries A's {leaked}")
    assert not failures, "tenant B reached tenant A:\n" + "\n".join(failures)


async def test_ws_methods_give_tenant_b_nothing_of_tenant_a(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every WS method, on connections of B's admin key (plain, and claiming alice and A's tenant
    at connect), while A is connected and chatting: no response or event carries A's values."""
    failures: list[str] = []
    async with _world(make_server, tmp_path, monkeypatch) as world:
        a = world.a
        identities = {
            "plain": {"token": world.b_key},
            "claiming alice in A": {"token": world.b_key, "user_id": "alice", "tenant_id": a.id},
        }
        for label, creds in identities.items():
            async with (
                ws_connect(world.server, token=world.a_key, user_id="alice") as ws_a,
                ws_connect(world.server, _skip=True) as ws,
            ):
                a.secrets.add(str((await ws_a.ok("health"))["currentId"]))
                connected = await ws.call("connect", creds)
                failures += _check_ws(a, f"connect {label}", json.dumps(creds), connected)
                # A chats while B is connected: none of its events may reach B.
                await world.check()
                await ws_a.ok("chat.send", {"message": "A-USER-MESSAGE", "sessionKey": a.session_key})
                await world.settle()
                for name, case in WS_CASES.items():
                    if name == "connect":
                        continue
                    params = case(a)
                    res = await ws.call(name, params)
                    failures += _check_ws(a, f"{name} {label}", json.dumps(params), res)
                for event in ws.events:
                    failures += _check_ws(a, f"event {event.get('event')} {label}", "", event)
    assert not failures, "tenant B reached tenant A:\n" + "\n".join(failures)


def _check_ws(a: TenantA, label: str, sent: str, frame: dict[str, Any]) -> list[str]:
    """Failures of one WS frame: INTERNAL, or A's values that ``sent`` did not carry."""
    out = []
    text = json.dumps(frame)
    error = frame.get("error") or {}
    if error.get("code") == "INTERNAL":
        out.append(f"{label}: INTERNAL {text[:200]}")
    if leaked := _leaks(a, sent, text):
        out.append(f"{label} carries A's {leaked}")
    return out
