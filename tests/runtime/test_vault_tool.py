"""The agent's ``vault_search`` tool in the run loop: it finds the agent's documents shared by its
users, the run's user's own and the tenant's shared vault; never another user's or another agent's."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID, uuid4

import httpx

from clawgate.tools import REGISTRY, ToolContext
from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.upstream import Reply


async def _wake(chat: ChatSetup, user: str, message: str, session_key: str) -> None:
    async with chat.admin(user) as http:
        res = await http.post("/v1/agents/helper/wake", json={"message": message, "session_key": session_key})
    assert res.status_code == 200, res.text


def _tool_result(turn: dict[str, Any]) -> str:
    return [str(m["content"]) for m in turn["messages"] if m["role"] == "tool"][-1]


async def _doc(http: httpx.AsyncClient, base: str, path: str, content: str, **fields: Any) -> None:
    res = await http.post(f"{base}/documents", json={"path": path, "content": content, **fields})
    assert res.status_code == 201, res.text


async def test_vault_search_sees_the_runs_scope(make_server: ServerFactory) -> None:
    async with chat_setup(
        make_server, memory__embedding_provider="up", memory__embedding_model="embed-model"
    ) as chat:
        async with chat.admin() as http:
            res = await http.post(
                "/v1/agents", json={"agent_key": "stranger", "provider": "up", "model": "m"}
            )
            assert res.status_code == 201, res.text
            await _doc(
                http, "/v1/agents/helper/vault", "runbooks/deploy.md", "deploy runbook: blue green rollout"
            )
            await _doc(http, "/v1/agents/helper/vault", "alice/deploy.md", "alice deploy notes private",
                       user_id="alice")  # fmt: skip
            await _doc(http, "/v1/vault", "policy/deploy.md", "company deploy freeze policy")
            await _doc(http, "/v1/agents/stranger/vault", "other/deploy.md", "stranger deploy secrets")
        call = Reply(tool_calls=[("vault_search", json.dumps({"query": "deploy", "max_results": 10}))])
        chat.upstream.script(call, Reply(content="found"))
        await _wake(chat, "alice", "what about deploys?", "agent:helper:v1")
        alice = _tool_result(chat.upstream.turns[-1])
        chat.upstream.script(call, Reply(content="found"))
        await _wake(chat, "bob", "what about deploys?", "agent:helper:v2")
        bob = _tool_result(chat.upstream.turns[-1])
    assert "[hybrid search]" in alice
    for path in ("runbooks/deploy.md", "alice/deploy.md", "policy/deploy.md"):
        assert path in alice
    assert "other/deploy.md" not in alice
    assert "runbooks/deploy.md" in bob
    assert "alice/deploy.md" not in bob
    assert "other/deploy.md" not in bob


async def test_empty_query_is_a_tool_error(make_server: ServerFactory) -> None:
    async with chat_setup(make_server, memory__embeddings=False) as chat:
        chat.upstream.script(
            Reply(tool_calls=[("vault_search", json.dumps({"query": " "}))]), Reply(content="ok")
        )
        await _wake(chat, "alice", "search", "agent:helper:bad")
        result = _tool_result(chat.upstream.turns[-1])
    assert "query" in result


async def test_a_run_without_user_sees_the_shared_documents_only(make_server: ServerFactory) -> None:
    """The tool called for a run that has no user (its real service, its real context): the agent's
    documents shared by its users and the shared vault, none of a user's own."""
    async with chat_setup(make_server, memory__embeddings=False) as chat:
        async with chat.admin() as http:
            await _doc(http, "/v1/agents/helper/vault", "team/garden.md", "garden watering plan")
            await _doc(
                http, "/v1/agents/helper/vault", "alice/garden.md", "alice garden secrets", user_id="alice"
            )
            agent = (await http.get("/v1/agents/helper")).json()
        gateway = chat.server.gateway
        ctx = ToolContext(
            tenant_id=UUID(agent["tenant_id"]), agent_id=UUID(agent["id"]), agent_key="helper",
            session_key="agent:helper:none", user_id="", run_id=uuid4(), vault=gateway.vault,
        )  # fmt: skip
        result = await REGISTRY["vault_search"].fn(ctx, {"query": "garden"})
    assert "team/garden.md" in result
    assert "alice/garden.md" not in result
