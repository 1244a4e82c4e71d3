"""Built-in tools inside runs: a run is offered only the tools enabled for its tenant (the list comes
from memory and follows a change at once), and a file tool called by the model acts in the run's
workspace."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import psutil

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN, ws_connect
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


def _workspace_processes(chat: ChatSetup) -> list[psutil.Process]:
    root = str(chat.server.settings.data_path / "workspaces")
    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.cwd().startswith(root):
                found.append(proc)
    return found


async def test_aborting_the_run_kills_the_commands_process_group(make_server: ServerFactory) -> None:
    """exec's child and its own children die with the run's abort."""
    async with chat_setup(make_server) as chat:
        async with chat.admin() as http:
            res = await http.put("/v1/tools/builtin/exec", json={"enabled": True, "settings": {
                "allowed_programs": ["sh"], "timeout_seconds": 120}})  # fmt: skip
            assert res.status_code == 200, res.text
        call = json.dumps({"command": ["sh", "-c", "sleep 60 & sleep 60"]})
        chat.upstream.script(Reply(tool_calls=[("exec", call)]), Reply(content="never"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            ack = await ws.ok("chat.send", {"message": "go", "agentId": "helper", "wait": False})
            await ws.wait_for(lambda f: f.get("event") == "agent" and f["payload"].get("type") == "tool.call")
            for _ in range(50):
                if len(_workspace_processes(chat)) >= 2:
                    break
                await asyncio.sleep(0.1)
            assert len(_workspace_processes(chat)) >= 2
            await ws.ok("chat.abort", {"sessionKey": ack["sessionKey"]})
            await ws.run_event("run.cancelled")
        for _ in range(50):
            if not _workspace_processes(chat):
                break
            await asyncio.sleep(0.1)
        assert _workspace_processes(chat) == []


async def test_settings_follow_a_change_made_in_another_process(make_server: ServerFactory, dsn: str) -> None:
    """Each process caches a tenant's tools; a change in one drops the cache in the other (bus)."""
    async with chat_setup(make_server) as chat:
        second = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        async with second.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as other:
            assert (await other.get("/v1/tools/builtin/web_fetch")).json()["enabled"] is True  # cached there
            async with chat.admin() as http:
                res = await http.put("/v1/tools/builtin/web_fetch", json={"enabled": False})
                assert res.status_code == 200, res.text
            for _ in range(50):
                if (await other.get("/v1/tools/builtin/web_fetch")).json()["enabled"] is False:
                    break
                await asyncio.sleep(0.1)
            assert (await other.get("/v1/tools/builtin/web_fetch")).json()["enabled"] is False
