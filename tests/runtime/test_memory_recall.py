"""Memory recall (clawgate.services.recall): the memories relevant to the user's latest message are in
the system prompt the model receives, within the token budget, scoped to the run's tenant, agent
and user; an agent without memory costs no search."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ServerFactory
from tests.runtime.conftest import chat_setup
from tests.support import GATEWAY_TOKEN
from tests.upstream import Reply

TITLE = "## Relevant memories"
NOTE = "Alice's sister Mai lives in Hue and visits every Tet."
EMBED = {"memory__embedding_provider": "up", "memory__embedding_model": "embed-model"}


async def _wake(http: Any, message: str, session_key: str) -> None:
    res = await http.post("/v1/agents/helper/wake", json={"message": message, "session_key": session_key})
    assert res.status_code == 200, res.text


def _system(turn: dict[str, Any]) -> str:
    first = turn["messages"][0]
    assert first["role"] == "system"
    return str(first["content"])


async def test_memory_written_in_one_session_is_recalled_in_another(make_server: ServerFactory) -> None:
    """alice's agent saves a note with memory_write in one session; alice's next run in another
    session sends the model a system prompt holding it. bob's run of the same agent does not get it
    (nor is his message even embedded: he reads no document of the agent)."""
    async with chat_setup(make_server, **EMBED) as chat:
        chat.upstream.script(
            Reply(tool_calls=[("memory_write", json.dumps({"path": "people/alice.md", "content": NOTE}))]),
            Reply(content="Noted."),
        )
        async with chat.admin("alice") as alice:
            await _wake(alice, "Remember: my sister Mai lives in Hue.", "agent:helper:s1")
            first = chat.upstream.turns[0]
            await _wake(alice, "Where does my sister Mai live, in Hue?", "agent:helper:s2")
            recalled = chat.upstream.turns[-1]
        embedded = len(chat.upstream.embedding_inputs)
        async with chat.admin("bob") as bob:
            await _wake(bob, "Where does my sister Mai live, in Hue?", "agent:helper:s3")
        bob_turn = chat.upstream.turns[-1]
    assert TITLE not in _system(first)  # nothing written yet
    section = _system(recalled).split(TITLE, 1)[1]
    assert "- people/alice.md#L1-1: " + NOTE in section
    assert TITLE not in _system(bob_turn)
    assert "Mai" not in _system(bob_turn)
    assert len(chat.upstream.embedding_inputs) == embedded  # bob's run searched nothing


async def test_shared_memory_from_rest_is_recalled_within_the_budget(make_server: ServerFactory) -> None:
    """Shared documents written over REST reach every user's run; the section stays within
    memory.recall_max_tokens (4 characters a token), cut at its end; a deleted document is
    recalled no more."""
    async with chat_setup(
        make_server, memory__recall_max_tokens=60, memory__recall_min_score=0.05, **EMBED
    ) as chat:
        async with chat.admin() as http:
            long_note = "The deploy window is Friday 14:00 UTC. " + " ".join(f"rule{i}" for i in range(100))
            for path, content in (("ops/deploy.md", long_note), ("misc/lunch.md", "Lunch is at noon.")):
                res = await http.put(f"/v1/agents/helper/memory/documents/{path}", json={"content": content})
                assert res.status_code == 200, res.text
        async with chat.admin("carol") as carol:
            await _wake(carol, "the deploy window", "agent:helper:c1")
            system = _system(chat.upstream.turns[-1])
            async with chat.admin() as http:
                res = await http.delete("/v1/agents/helper/memory/documents/ops/deploy.md")
                assert res.status_code in (200, 204), res.text
            await _wake(carol, "the deploy window", "agent:helper:c2")
            after = _system(chat.upstream.turns[-1])
    section = TITLE + system.split(TITLE, 1)[1].split("\n\n", 1)[0]
    assert "ops/deploy.md#L1-1: The deploy window is Friday 14:00 UTC." in section
    assert section.endswith("...")  # cut to the budget
    assert len(section) <= 60 * 4
    assert "deploy.md" not in after


async def test_another_tenants_memory_is_never_recalled(make_server: ServerFactory) -> None:
    """Tenant B's agent of the same key and the same user id gets nothing of tenant A's memory."""
    async with chat_setup(make_server, **EMBED) as chat:
        async with chat.admin() as alice:
            res = await alice.put(
                "/v1/agents/helper/memory/documents/people/alice.md?user_id=owner", json={"content": NOTE}
            )
            assert res.status_code == 200, res.text
            res = await alice.put("/v1/agents/helper/memory/documents/team.md", json={"content": NOTE})
            assert res.status_code == 200, res.text
            tenant = (await alice.post("/v1/tenants", json={"name": "Tenant B", "slug": "tenant-b"})).json()
        headers = {"X-GoClaw-User-Id": "owner", "X-GoClaw-Tenant-Id": tenant["id"]}
        async with chat.server.client(GATEWAY_TOKEN, **headers) as b:
            res = await b.post("/v1/providers", json={"name": "up", "provider_type": "openai_compat",
                                                      "api_base": chat.upstream.base_url, "api_key": "k"})  # fmt: skip
            assert res.status_code == 201, res.text
            res = await b.post("/v1/agents", json={"agent_key": "helper", "provider": "up", "model": "m"})
            assert res.status_code == 201, res.text
            await _wake(b, "Where does my sister Mai live, in Hue?", "agent:helper:b1")
            other = _system(chat.upstream.turns[-1])
        async with chat.admin() as alice:
            await _wake(alice, "Where does my sister Mai live, in Hue?", "agent:helper:a1")
            own = _system(chat.upstream.turns[-1])
    assert "people/alice.md" in own
    assert "team.md" in own
    assert TITLE not in other
    assert "Mai" not in other


async def test_recall_off_adds_nothing(make_server: ServerFactory) -> None:
    """With memory.recall_enabled false the system prompt has no memories."""
    async with chat_setup(make_server, memory__recall_enabled=False, **EMBED) as chat:
        async with chat.admin() as http:
            await http.put("/v1/agents/helper/memory/documents/team.md", json={"content": NOTE})
            await _wake(http, "Where does Mai live, in Hue?", "agent:helper:off")
        assert TITLE not in _system(chat.upstream.turns[-1])


async def test_embedder_down_recalls_by_full_text(make_server: ServerFactory) -> None:
    """With the embedder down recall falls back to full text and the run goes on."""
    async with chat_setup(make_server, **EMBED) as chat:
        async with chat.admin() as http:
            await http.put("/v1/agents/helper/memory/documents/team.md", json={"content": NOTE})
            chat.upstream.embeddings_down = True
            await _wake(http, "sister Mai", "agent:helper:down")
        assert NOTE in _system(chat.upstream.turns[-1])
