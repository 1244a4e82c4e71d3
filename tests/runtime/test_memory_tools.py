"""The agent's memory tools in the run loop: ``memory_write`` in one session, ``memory_search`` and
``memory_get`` in another, scoped to the run's tenant, agent and user."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.upstream import Reply


async def _wake(chat: ChatSetup, user: str, message: str, session_key: str) -> dict[str, Any]:
    async with chat.admin(user) as http:
        res = await http.post("/v1/agents/helper/wake", json={"message": message, "session_key": session_key})
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def _tool_results(turn: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in turn["messages"] if m["role"] == "tool"]


def _call(name: str, **args: Any) -> Reply:
    return Reply(tool_calls=[(name, json.dumps(args))])


async def test_memory_written_in_one_session_is_found_in_another(make_server: ServerFactory) -> None:
    """alice's agent saves a note in one session; in a new session it finds and reads it; bob's run
    of the same agent finds nothing of alice's."""
    async with chat_setup(
        make_server, memory__embedding_provider="up", memory__embedding_model="embed-model"
    ) as chat:
        note = "Alice's sister Mai lives in Hue and visits every Tet."
        chat.upstream.script(
            _call("memory_write", path="people/alice.md", content=note), Reply(content="Noted.")
        )
        await _wake(chat, "alice", "Remember: my sister Mai lives in Hue.", "agent:helper:s1")
        chat.upstream.script(
            _call("memory_search", query="sister Mai lives in Hue"),
            _call("memory_get", path="people/alice.md"),
            Reply(content="In Hue."),
        )
        answer = await _wake(chat, "alice", "Where does my sister live?", "agent:helper:s2")
        search_turn, get_turn = chat.upstream.turns[-2], chat.upstream.turns[-1]
        chat.upstream.script(
            _call("memory_search", query="sister Mai lives in Hue"), Reply(content="No idea.")
        )
        await _wake(chat, "bob", "Where does Mai live?", "agent:helper:s3")
        bob_turn = chat.upstream.turns[-1]
        async with chat.admin() as http:
            stored = (
                await http.get("/v1/agents/helper/memory/documents/people/alice.md?user_id=alice")
            ).json()
    assert answer["content"] == "In Hue."
    assert stored["content"] == note
    assert stored["index_status"] == "indexed"
    assert "people/alice.md#L1-1" in _tool_results(search_turn)[-1]
    assert "Mai lives in Hue" in _tool_results(search_turn)[-1]
    assert _tool_results(get_turn)[-1] == note
    assert _tool_results(bob_turn)[-1] == "no memory matches"


async def test_bad_path_is_a_tool_error(make_server: ServerFactory) -> None:
    """A path escaping the memory is refused to the model, which goes on with its answer."""
    async with chat_setup(make_server, memory__embeddings=False) as chat:
        chat.upstream.script(_call("memory_write", path="../etc/passwd", content="x"), Reply(content="ok"))
        await _wake(chat, "alice", "write it", "agent:helper:bad")
        result = _tool_results(chat.upstream.turns[-1])[-1]
    assert "'..'" in result
