"""Runs belong to the gateway: abort, disconnect and catch-up, injection, fan-out, isolation."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.runtime.conftest import ChatSetup, make_setup
from tests.support import GATEWAY_TOKEN, WsClient, ws_connect
from tests.upstream import Reply

SLOW = Reply(content=" ".join(f"w{i}" for i in range(30)), chunk_delay=0.05)


async def api_key(chat: ChatSetup, scopes: list[str], tenant: str | None = None) -> str:
    body: dict[str, Any] = {"name": "k", "scopes": scopes}
    if tenant is not None:
        body["tenant_id"] = tenant
    async with chat.admin() as http:
        res = await http.post("/v1/api-keys", json=body)
    assert res.status_code == 201, res.text
    return str(res.json()["key"])


async def send_then_inject(ws: WsClient, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``one`` sent to the session ``key``, then ``two`` while its run goes on: the second send's
    answer (``injected``) and the first's response frame once its run ended."""
    first = await ws.send("chat.send", {"message": "one", "sessionKey": key})
    await ws.run_event("run.started")
    injected = await ws.ok("chat.send", {"message": "two", "sessionKey": key})
    return injected, await ws.response(first)


class TestAbortAndCatchUp:
    async def test_abort_mid_stream_cancels_the_run(self, chat: ChatSetup) -> None:
        """chat.abort during streaming ends the run with run.cancelled; the partial text is kept."""
        chat.upstream.script(SLOW)
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            ack = await ws.ok("chat.send", {"message": "go", "agentId": "helper", "wait": False})
            await ws.run_event("chunk")
            res = await ws.ok("chat.abort", {"sessionKey": ack["sessionKey"]})
            await ws.run_event("run.cancelled")
            status = await ws.ok("chat.session.status", {"sessionKey": ack["sessionKey"]})
            history = await ws.ok("chat.history", {"sessionKey": ack["sessionKey"]})
        assert res["aborted"] is True
        assert res["runIds"] == [ack["runId"]]
        assert status["isRunning"] is False
        last = history["messages"][-1]
        assert last["role"] == "assistant"
        assert last["metadata"] == {"cancelled": True}
        assert last["content"].startswith("w0")

    async def test_abort_mid_stream_closes_the_upstream_connection(self, chat: ChatSetup) -> None:
        """chat.abort closes the connection to the model mid-stream: the upstream stops generating."""
        chat.upstream.script(Reply(content=" ".join(f"w{i}" for i in range(100)), chunk_delay=0.05))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            ack = await ws.ok("chat.send", {"message": "go", "agentId": "helper", "wait": False})
            await ws.run_event("chunk")
            await ws.ok("chat.abort", {"sessionKey": ack["sessionKey"]})
            await ws.run_event("run.cancelled")
        for _ in range(100):  # the stand-in notices at its next write, within a chunk delay or two
            if chat.upstream.abandoned:
                break
            await asyncio.sleep(0.02)
        assert chat.upstream.abandoned == 1

    async def test_cancel_word_aborts_the_active_run(self, chat: ChatSetup) -> None:
        """A bare cancel word while a run is active aborts it instead of starting another."""
        chat.upstream.script(SLOW)
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            ack = await ws.ok("chat.send", {"message": "go", "agentId": "helper", "wait": False})
            await ws.run_event("chunk")
            res = await ws.ok("chat.send", {"message": "Stop", "sessionKey": ack["sessionKey"]})
            await ws.run_event("run.cancelled")
        assert res["cancelled"] is True
        assert res["aborted"] is True

    async def test_disconnect_does_not_stop_the_run_and_reconnect_catches_up(self, chat: ChatSetup) -> None:
        """Closing the socket mid-stream leaves the run going; a new connection sees the active run
        in chat.history and then the final message after the index it remembered."""
        chat.upstream.script(Reply(content=" ".join(f"w{i}" for i in range(20)), chunk_delay=0.05))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            ack = await ws.ok("chat.send", {"message": "go", "agentId": "helper", "wait": False})
            await ws.run_event("chunk")
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws2:
            mid = await ws2.ok("chat.history", {"sessionKey": ack["sessionKey"]})
            assert mid["activeRun"]["runId"] == ack["runId"]
            assert mid["activeRun"]["content_so_far"].startswith("w0")
            await ws2.run_event("run.completed")
            after = await ws2.ok(
                "chat.history", {"sessionKey": ack["sessionKey"], "afterIndex": mid["nextIndex"] - 1}
            )
        assert "activeRun" not in after
        assert [m["role"] for m in after["messages"]] == ["assistant"]
        assert after["messages"][0]["content"].endswith("w19")

    async def test_message_during_a_run_is_injected_at_the_next_turn(self, chat: ChatSetup) -> None:
        """A second send while the run is busy is injected, and the model gets it on the next turn."""
        chat.upstream.script(Reply(content="first answer", delay=0.3), Reply(content="second answer"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            injected, done = await send_then_inject(ws, "agent:helper:ws:direct:inject")
        assert injected["injected"] is True
        assert done["ok"]
        assert done["payload"]["content"] == "second answer"
        last_request = [
            r for r in chat.upstream.requests if not r["messages"][-1]["content"].startswith("Write a title")
        ][-1]
        assert last_request["messages"][-1]["content"].endswith("two")
        assert "follow-up" in last_request["messages"][-1]["content"]

    async def test_message_during_a_tool_round_reaches_the_model_after_its_answer(
        self, chat: ChatSetup
    ) -> None:
        """The tool round is stored while the model is called with it (issue 13): a message that
        came in meanwhile is found by that store, so the model's answer to the round is kept and
        the run goes on with the message, in the call after."""
        chat.upstream.script(
            Reply(tool_calls=[("current_time", "{}")], delay=0.3), Reply(content="answer to the round"),
            Reply(content="second answer"),
        )  # fmt: skip
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            key = "agent:helper:ws:direct:inject-tools"
            injected, done = await send_then_inject(ws, key)
            history = await ws.ok("chat.history", {"sessionKey": key})
        assert injected["injected"] is True
        assert done["payload"]["content"] == "second answer"
        turns = chat.upstream.turns
        assert len(turns) == 3
        assert turns[1]["messages"][-1]["role"] == "tool"
        assert turns[2]["messages"][-2]["content"] == "answer to the round"
        assert turns[2]["messages"][-1]["content"].endswith("two")
        stored = [(m["role"], m["content"]) for m in history["messages"]]
        assert [r for r, _ in stored] == ["user", "user", "assistant", "tool", "assistant", "assistant"]
        assert stored[-2:] == [("assistant", "answer to the round"), ("assistant", "second answer")]

    async def test_tool_rounds_are_stored_in_order_before_the_answer(self, chat: ChatSetup) -> None:
        """Two tool rounds in a row, each stored while the next model call streams: the session
        holds them in the run's order, then the answer, with consecutive indexes."""
        chat.upstream.script(
            Reply(tool_calls=[("current_time", "{}")]), Reply(tool_calls=[("session_info", "{}")]),
            Reply(content="done", chunk_delay=0.01),
        )  # fmt: skip
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "go", "agentId": "helper"})
            history = await ws.ok("chat.history", {"sessionKey": res["sessionKey"]})
        messages = history["messages"]
        assert [m["role"] for m in messages] == [
            "user",
            "assistant",
            "tool",
            "assistant",
            "tool",
            "assistant",
        ]
        assert [m["tool_calls"][0]["name"] for m in messages if m.get("tool_calls")] == [
            "current_time", "session_info",
        ]  # fmt: skip
        assert [m["index"] for m in messages] == list(range(6))
        assert res["message_id"] == 5

    async def test_abort_during_the_call_after_a_tool_round_keeps_the_round(self, chat: ChatSetup) -> None:
        """Aborted while the model streams its answer to a tool round (stored meanwhile): the round
        and the partial answer are kept, in that order."""
        chat.upstream.script(Reply(tool_calls=[("current_time", "{}")]), SLOW)
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            ack = await ws.ok("chat.send", {"message": "go", "agentId": "helper", "wait": False})
            await ws.run_event("chunk")
            await ws.ok("chat.abort", {"sessionKey": ack["sessionKey"]})
            await ws.run_event("run.cancelled")
            history = await ws.ok("chat.history", {"sessionKey": ack["sessionKey"]})
        messages = history["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "assistant"]
        assert messages[-1]["metadata"] == {"cancelled": True}
        assert messages[-1]["content"].startswith("w0")


class TestFanOutAndIsolation:
    async def test_two_tabs_see_events_other_users_and_tenants_do_not(self, chat: ChatSetup) -> None:
        """Events reach every connection of the same tenant+user and tenant admins, nobody else."""
        key = await api_key(chat, ["operator.write"])
        async with chat.admin() as http:
            res = await http.post("/v1/tenants", json={"name": "Other", "slug": "other"})
            assert res.status_code == 201, res.text
        other_key = await api_key(chat, ["operator.admin"], tenant="other")
        async with (
            ws_connect(chat.server, token=key, user_id="alice") as tab1,
            ws_connect(chat.server, token=key, user_id="alice") as tab2,
            ws_connect(chat.server, token=key, user_id="bob") as bob,
            ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="admin") as admin,
            ws_connect(chat.server, token=other_key, user_id="alice") as stranger,
        ):
            res = await tab1.ok("chat.send", {"message": "hi", "agentId": "helper"})
            await tab2.run_event("run.completed")
            await admin.run_event("run.completed")
            await asyncio.sleep(0.2)
            assert not _runs(bob)
            assert not _runs(stranger)
        assert res["content"] == "echo: hi"

    async def test_message_to_another_users_session_is_refused(self, chat: ChatSetup) -> None:
        """A non-admin cannot send into a session owned by someone else."""
        key = await api_key(chat, ["operator.write"])
        async with ws_connect(chat.server, token=key, user_id="alice") as alice:
            res = await alice.ok("chat.send", {"message": "hi", "agentId": "helper"})
        async with ws_connect(chat.server, token=key, user_id="bob") as bob:
            denied = await bob.call("chat.send", {"message": "hi", "sessionKey": res["sessionKey"]})
            history = await bob.call("chat.history", {"sessionKey": res["sessionKey"]})
        assert denied["error"]["code"] == "UNAUTHORIZED"
        assert history["error"]["code"] == "UNAUTHORIZED"


def _runs(ws: WsClient) -> list[dict[str, Any]]:
    return [e for e in ws.events if e["event"] == "agent"]


class TestAcrossProcesses:
    async def test_abort_on_another_process_cancels_the_run(self, chat: ChatSetup, make_server: Any) -> None:
        """chat.abort sent to a second gateway on the same database reaches the run on the first."""
        other = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        chat.upstream.script(SLOW)
        async with (
            ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as home,
            ws_connect(other, token=GATEWAY_TOKEN, user_id="alice") as remote,
        ):
            ack = await home.ok("chat.send", {"message": "go", "agentId": "helper", "wait": False})
            await home.run_event("chunk")
            res = await remote.ok("chat.abort", {"sessionKey": ack["sessionKey"]})
            cancelled = await remote.run_event("run.cancelled", timeout=10)
        assert res["aborted"] is True
        assert cancelled["payload"]["runId"] == ack["runId"]


class TestAutoCompaction:
    async def test_history_past_the_context_share_is_summarised(self, make_server: Any) -> None:
        """After a run whose history outgrew 85 % of the context window, earlier turns become a summary
        that the next run sends instead of them."""
        async for chat in make_setup(make_server, agent={"context_window": 1024}):
            key = "agent:helper:ws:direct:long"
            async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                for i in range(3):
                    await ws.ok("chat.send", {"message": f"turn {i} " + "x" * 1500, "sessionKey": key})
                history: dict[str, Any] = {}
                for _ in range(200):
                    history = await ws.ok("chat.history", {"sessionKey": key})
                    if history["summary"]:
                        break
                    await asyncio.sleep(0.05)
                assert history["summary"]
                await ws.ok("chat.send", {"message": "and now?", "sessionKey": key})
            # The run's request; a compaction after it may have called the model since.
            last = next(
                t["messages"]
                for t in reversed(chat.upstream.turns)
                if t["messages"][-1]["content"] == "and now?"
            )
            assert last[1]["content"].startswith("[Summary of earlier conversation]")
            assert all("turn 0" not in m["content"] for m in last[3:])
            assert last[-1]["content"] == "and now?"
