"""Built-in tools inside runs: a run is offered only the tools enabled for its tenant (the list comes
from memory and follows a change at once), and a file tool called by the model acts in the run's
workspace."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.upstream import Reply


async def _wake(chat: ChatSetup, session_key: str, user: str = "owner") -> None:
    async with chat.admin(user) as http:
        res = await http.post("/v1/agents/helper/wake", json={"message": "go", "session_key": session_key})
    assert res.status_code == 200, res.text


def _offered(turn: dict[str, Any]) -> set[str]:
    return {t["function"]["name"] for t in turn.get("tools") or []}


async def test_a_run_is_offered_the_tenants_enabled_tools(make_server: ServerFactory) -> None:
    async with chat_setup(make_server) as chat:
        chat.upstream.script(Reply(content="ok"))
        await _wake(chat, "agent:helper:t1")
        first = _offered(chat.upstream.turns[-1])
        async with chat.admin() as http:
            res = await http.put("/v1/tools/builtin/web_fetch", json={"enabled": False})
            assert res.status_code == 200, res.text
            res = await http.put("/v1/tools/builtin/exec", json={"enabled": True})
            assert res.status_code == 200, res.text
        chat.upstream.script(Reply(content="ok"))
        await _wake(chat, "agent:helper:t2")
        second = _offered(chat.upstream.turns[-1])
    assert {"web_fetch", "read_file", "write_file", "edit", "list_files", "search"} <= first
    assert "exec" not in first
    assert "web_fetch" not in second
    assert "exec" in second
    assert "read_file" in second


async def test_the_model_writes_and_reads_its_workspace(make_server: ServerFactory) -> None:
    async with chat_setup(make_server) as chat:
        write = json.dumps({"path": "plan.md", "content": "step one"})
        chat.upstream.script(Reply(tool_calls=[("write_file", write)]), Reply(content="written"))
        await _wake(chat, "agent:helper:w", user="alice")
        chat.upstream.script(
            Reply(tool_calls=[("read_file", json.dumps({"path": "plan.md"}))]), Reply(content="r")
        )
        await _wake(chat, "agent:helper:w2", user="alice")
        read = [m["content"] for m in chat.upstream.turns[-1]["messages"] if m["role"] == "tool"][-1]
        chat.upstream.script(
            Reply(tool_calls=[("read_file", json.dumps({"path": "../../x"}))]), Reply(content="r")
        )
        await _wake(chat, "agent:helper:w3", user="alice")
        escaped = [m["content"] for m in chat.upstream.turns[-1]["messages"] if m["role"] == "tool"][-1]
    assert read == "step one"
    assert "'..' is refused" in escaped
