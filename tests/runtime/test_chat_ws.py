"""chat.* over a real WebSocket, with the agent talking to a loopback OpenAI-compatible stand-in."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.http.helpers import db
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply


def chat_calls(chat: ChatSetup) -> list[dict[str, Any]]:
    """Upstream requests of runs (not the background title request)."""
    return [
        r for r in chat.upstream.requests if not str(r["messages"][-1]["content"]).startswith("Write a title")
    ]


class TestChatSend:
    async def test_send_streams_chunks_and_returns_final_answer(self, chat: ChatSetup) -> None:
        """chat.send streams chunk events and answers with the run's content and usage."""
        chat.upstream.script(Reply(content="Hello there, friend"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "hi", "agentId": "helper"})
            events = [e["payload"] for e in ws.events if e["event"] == "agent"]
        assert res["content"] == "Hello there, friend"
        assert res["role"] == "assistant"
        assert res["usage"]["total_tokens"] == 18
        assert res["sessionKey"].startswith("agent:helper:ws:direct:")
        kinds = [e["type"] for e in events]
        assert kinds[0] == "run.started"
        assert kinds[-1] == "run.completed"
        assert (
            "".join(e["payload"]["content"] for e in events if e["type"] == "chunk") == "Hello there, friend"
        )
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    async def test_one_stream_event_of_700_kb_arrives_whole(self, chat: ChatSetup) -> None:
        """An event line past aiohttp's line limit (512 KiB: an answer sent in one chunk) is read whole."""
        text = "0123456789" * 70_000
        chat.upstream.script(Reply(content=text, chunks=1))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "hi", "agentId": "helper"})
        assert res["content"] == text

    async def test_tool_call_is_executed_and_result_fed_back(self, chat: ChatSetup) -> None:
        """A tool call runs the built-in tool and the model sees its result on the next turn."""
        chat.upstream.script(
            Reply(tool_calls=[("current_time", '{"timezone": "UTC"}')]), Reply(content="It is now.")
        )
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "time?", "agentId": "helper"})
            kinds = [e["payload"]["type"] for e in ws.events if e["event"] == "agent"]
            history = await ws.ok("chat.history", {"sessionKey": res["sessionKey"]})
        assert res["content"] == "It is now."
        assert "tool.call" in kinds
        assert "tool.result" in kinds
        second = chat.upstream.requests[1]["messages"]
        assert second[-1]["role"] == "tool"
        assert "T" in second[-1]["content"]
        roles = [m["role"] for m in history["messages"]]
        assert roles == ["user", "assistant", "tool", "assistant"]

    async def test_loop_event_payloads_keep_their_wire_shape(self, chat: ChatSetup) -> None:
        """The loop's typed events reach clients with GoClaw's keys in their order: activity, tool.call
        and tool.result (an error repeats the text as ``content``), then chunk."""
        chat.upstream.script(Reply(tool_calls=[("no_such_tool", '{"a": 1}')]), Reply(content="done"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await ws.ok("chat.send", {"message": "go", "agentId": "helper"})
            events = [e["payload"] for e in ws.events if e["event"] == "agent"]
        by_kind: dict[str, list[list[tuple[str, Any]]]] = {}
        for event in events:
            by_kind.setdefault(event["type"], []).append(list(event["payload"].items()))
        assert by_kind["activity"][:2] == [
            [("phase", "thinking"), ("iteration", 1)],
            [("phase", "tool_exec"), ("iteration", 1)],
        ]
        [call] = by_kind["tool.call"]
        assert [key for key, _ in call] == ["name", "id", "arguments"]
        assert dict(call)["arguments"] == {"a": 1}
        [result] = by_kind["tool.result"]
        assert [key for key, _ in result] == ["name", "id", "is_error", "arguments", "result", "content"]
        assert dict(result)["is_error"] is True
        assert dict(result)["content"] == dict(result)["result"]
        assert {tuple(key for key, _ in chunk) for chunk in by_kind["chunk"]} == {("content",)}

    async def test_wait_false_answers_at_once_and_history_catches_up(self, chat: ChatSetup) -> None:
        """wait:false acknowledges with status started; the answer lands in history."""
        chat.upstream.script(Reply(content="later answer", delay=0.2))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            ack = await ws.ok("chat.send", {"message": "hi", "agentId": "helper", "wait": False})
            assert ack["status"] == "started"
            await ws.run_event("run.completed")
            history = await ws.ok("chat.history", {"sessionKey": ack["sessionKey"], "afterIndex": 0})
        assert [m["content"] for m in history["messages"]] == ["later answer"]
        assert history["total"] == 2

    async def test_same_idempotency_key_twice_concurrently_runs_once(self, chat: ChatSetup) -> None:
        """Two sends with one idempotency key start exactly one run and get the same answer."""
        chat.upstream.script(Reply(content="only once", delay=0.2))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            params = {
                "message": "hi",
                "agentId": "helper",
                "idempotencyKey": "k-1",
                "sessionKey": "agent:helper:ws:direct:s1",
            }
            first, second = await ws.send("chat.send", params), await ws.send("chat.send", params)
            a, b = await ws.response(first), await ws.response(second)
            again = await ws.ok("chat.send", params)
        assert a["ok"], a
        assert b["ok"], b
        assert a["payload"]["runId"] == b["payload"]["runId"] == again["runId"]
        assert again["content"] == "only once"
        assert len(chat_calls(chat)) == 1

    async def test_idempotency_key_older_than_a_day_starts_a_new_run(self, chat: ChatSetup) -> None:
        """A key is remembered for 24 hours: sent again after that, it starts a new run (it used to
        collide with the old row's unique key and retry until INTERNAL)."""
        chat.upstream.script(Reply(content="first"), Reply(content="second"))
        params = {"message": "hi", "agentId": "helper", "idempotencyKey": "k-old"}
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            first = await ws.ok("chat.send", params)
            async with db(chat.server) as conn:  # a day passes
                await conn.execute("UPDATE runs SET started_at = started_at - interval '25 hours'")
            second = await ws.ok("chat.send", params)
            replay = await ws.ok("chat.send", params)
        assert first["content"] == "first"
        assert second["content"] == "second"
        assert second["runId"] != first["runId"]
        assert replay["runId"] == second["runId"]
        assert len(chat_calls(chat)) == 2


class TestChatRateLimit:
    async def test_send_past_the_burst_is_resource_exhausted(self, make_server: ServerFactory) -> None:
        """With gateway.rate_limit_rpm, a user's sixth chat.send at once (the burst is 5) is refused
        RESOURCE_EXHAUSTED with retryAfterMs; another user still sends, and wake is not counted."""
        async with chat_setup(
            make_server, gateway__rate_limit_rpm=1, rate_limits__exempt_operator=False
        ) as chat:
            async with (
                ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as alice,
                ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="bob") as bob,
            ):
                sent = [
                    await alice.call("chat.send", {"message": f"m{i}", "agentId": "helper"}) for i in range(6)
                ]
                other = await bob.call("chat.send", {"message": "mine", "agentId": "helper"})
            async with chat.admin("alice") as http:
                woken = await http.post("/v1/agents/helper/wake", json={"message": "still"})
        assert [res["ok"] for res in sent] == [True] * 5 + [False]
        error = sent[-1]["error"]
        assert error["code"] == "RESOURCE_EXHAUSTED"
        assert error["retryable"] is True
        assert error["retryAfterMs"] >= 1000
        assert other["ok"], other
        assert woken.status_code == 200, woken.text

    async def test_a_live_change_of_the_limit_reaches_chat_send(
        self, make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """config.patch of gateway.rate_limit_rpm applies to chat.send at once: the chat service
        holds the limiter that the patch re-configures."""
        monkeypatch.chdir(tmp_path)  # config.patch writes ./config.json
        async with (
            chat_setup(make_server) as chat,  # no chat limit
            ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws,
        ):
            # The gateway token is throttled too once rate_limits.exempt_operator is off, also live.
            raw = '{"gateway": {"rate_limit_rpm": 1}, "rate_limits": {"exempt_operator": false}}'
            await ws.ok("config.patch", {"raw": raw})
            sent = [await ws.call("chat.send", {"message": f"m{i}", "agentId": "helper"}) for i in range(6)]
        assert [res["ok"] for res in sent] == [True] * 5 + [False]
        assert sent[-1]["error"]["code"] == "RESOURCE_EXHAUSTED"

    async def test_expired_keys_and_old_spilled_events_are_tidied_away(
        self, chat: ChatSetup, make_server: ServerFactory
    ) -> None:
        """A sweep (at start, then once a minute) frees idempotency keys past 24 hours and deletes
        events spilled over an hour ago; a key within the day and a recent spill stay."""
        chat.upstream.script(Reply(content="old"), Reply(content="new"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            old = await ws.ok("chat.send", {"message": "hi", "agentId": "helper", "idempotencyKey": "k-old"})
            new = await ws.ok("chat.send", {"message": "hi", "agentId": "helper", "idempotencyKey": "k-new"})
        async with db(chat.server) as conn:
            await conn.execute(
                "UPDATE runs SET started_at = started_at - interval '25 hours' WHERE id = $1", old["runId"]
            )
            await conn.execute(
                "INSERT INTO bus_spill (tenant_id, body, created_at) VALUES"
                " (gen_random_uuid(), 'old', now() - interval '2 hours'), (gen_random_uuid(), 'new', now())"
            )
        await make_server(gateway__token=GATEWAY_TOKEN)  # another process starts: its first sweep tidies
        async with db(chat.server) as conn:
            keys = dict(await conn.fetch("SELECT id::text, idempotency_key FROM runs"))
            spilled = [r["body"] for r in await conn.fetch("SELECT body FROM bus_spill")]
        assert keys == {old["runId"]: None, new["runId"]: "k-new"}
        assert spilled == [b"new"]
