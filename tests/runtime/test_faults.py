"""Faults over WebSocket ``chat.send``: provider errors, retries, the fallback chain, tool failures and
loops, unknown agents and providers, other users' sessions, and oversize messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, chat_setup, make_setup
from tests.support import GATEWAY_TOKEN, WsClient, ws_connect
from tests.upstream import Reply, stand_in, unreachable_url


async def failed_send(ws: WsClient, message: str = "hi", **params: Any) -> tuple[dict[str, Any], str]:
    """chat.send that must fail: (its error object, the run.failed event's error text)."""
    res = await ws.call("chat.send", {"message": message, "agentId": "helper", **params})
    assert not res["ok"], res
    event = await ws.run_event("run.failed")
    return res["error"], str(event["payload"]["payload"]["error"])


def kinds(ws: WsClient) -> list[str]:
    return [e["payload"]["type"] for e in ws.events if e["event"] == "agent"]


class TestProviderFaults:
    async def test_upstream_401_fails_the_run_without_retry(self, chat: ChatSetup) -> None:
        """A 401 is not retried: the run fails and chat.send's error names the status."""
        chat.upstream.script(Reply(status=401, body='{"error": {"message": "invalid api key"}}'))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            error, event_error = await failed_send(ws)
            assert "run.retrying" not in kinds(ws)
        assert "401" in error["message"]
        assert "invalid api key" in error["message"]
        assert "401" in event_error
        assert len(chat.upstream.turns) == 1

    async def test_429_with_retry_after_zero_is_retried_then_completes(self, chat: ChatSetup) -> None:
        """A 429 with Retry-After: 0 emits run.retrying, and the retry's answer completes the run."""
        chat.upstream.script(Reply(status=429, headers={"Retry-After": "0"}), Reply(content="after the wait"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "hi", "agentId": "helper"})
            retrying = await ws.run_event("run.retrying")
            await ws.run_event("run.completed")
        assert res["content"] == "after the wait"
        assert retrying["payload"]["payload"]["attempt"] == 1
        assert "429" in retrying["payload"]["payload"]["error"]
        assert len(chat.upstream.turns) == 2

    @pytest.mark.parametrize("value", ["soon", "Wed, 21 Oct 2015 07:28:00 GMT"])
    async def test_429_with_unreadable_or_past_retry_after_is_retried(
        self, chat: ChatSetup, value: str
    ) -> None:
        """A Retry-After that is no number (garbage, or an HTTP date already past) still retries."""
        chat.upstream.script(
            Reply(status=429, headers={"Retry-After": value}), Reply(content="after the wait")
        )
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "hi", "agentId": "helper"})
            await ws.run_event("run.completed")
        assert res["content"] == "after the wait"
        assert len(chat.upstream.turns) == 2

    async def test_500_three_times_fails_after_three_attempts(self, chat: ChatSetup) -> None:
        """Three 500s exhaust the retries: exactly three upstream requests, then run.failed."""
        chat.upstream.script(*(Reply(status=500) for _ in range(3)), Reply(content="never reached"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            error, event_error = await failed_send(ws)
            assert kinds(ws).count("run.retrying") == 2
        assert len(chat.upstream.turns) == 3
        assert "500" in error["message"]
        assert "500" in event_error

    @pytest.mark.parametrize("stream", [True, False])
    async def test_garbage_body_fails_with_a_clear_message(self, chat: ChatSetup, stream: bool) -> None:
        """A 200 whose body is neither JSON nor an event stream fails at once, quoting the body."""
        chat.upstream.script(*(Reply(body="<html>gateway oops</html>") for _ in range(3)))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            error, event_error = await failed_send(ws, stream=stream)
        assert "<html>gateway oops</html>" in error["message"]
        assert ("without server-sent events" if stream else "did not answer JSON") in event_error
        assert len(chat.upstream.turns) == 1

    @pytest.mark.parametrize("drop", [False, True], ids=["ended", "dropped"])
    async def test_stream_cut_off_midway_fails_the_run(self, chat: ChatSetup, drop: bool) -> None:
        """A stream that stops before its finish, whole or with its connection dropped mid-body, fails
        the run; the partial text was streamed."""
        chat.upstream.script(Reply(content="half an answer", cut_off=True, drop=drop))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            error, event_error = await failed_send(ws)
            assert "chunk" in kinds(ws)
        assert "cut off" in error["message"]
        assert "cut off" in event_error


@pytest.fixture(name="fallback")
async def _fallback(make_server: ServerFactory) -> AsyncIterator[ChatSetup]:
    """Agent "helper" on provider "up" with a fallback to provider "up2" model "model-b"."""
    agent = {"model_fallback": {"enabled": True, "candidates": [{"provider": "up2", "model": "model-b"}]}}
    async with stand_in() as up2:
        async for setup in make_setup(make_server, agent=agent):
            await setup.add_provider("up2", up2)
            setup.extra["up2"] = up2
            yield setup


class TestFallback:
    async def test_primary_500s_answer_comes_from_the_fallback(self, fallback: ChatSetup) -> None:
        """When the primary fails every attempt, the fallback provider and model answer."""
        up2 = fallback.extra["up2"]
        fallback.upstream.script(*(Reply(status=500) for _ in range(3)))
        up2.script(Reply(content="from the fallback"))
        async with ws_connect(fallback.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "hi", "agentId": "helper"})
        assert res["content"] == "from the fallback"
        assert len(fallback.upstream.turns) == 3
        assert [r["model"] for r in up2.turns] == ["model-b"]

    async def test_stream_cut_off_after_first_chunk_does_not_fall_back(self, fallback: ChatSetup) -> None:
        """Once output has streamed, a failure fails the run; the fallback is never called."""
        up2 = fallback.extra["up2"]
        fallback.upstream.script(Reply(content="already said something", cut_off=True))
        up2.script(Reply(content="from the fallback"))
        async with ws_connect(fallback.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            error, _ = await failed_send(ws)
        assert "cut off" in error["message"]
        assert up2.requests == []


class TestTools:
    async def test_tool_error_is_reported_and_run_continues(self, chat: ChatSetup) -> None:
        """A tool that raises gives tool.result is_error; the model sees the error and answers."""
        chat.upstream.script(
            Reply(tool_calls=[("current_time", '{"timezone": "Mars/Olympus"}')]),
            Reply(content="That zone does not exist."),
        )
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "time on Mars?", "agentId": "helper"})
            result = (await ws.run_event("tool.result"))["payload"]["payload"]
            await ws.run_event("run.completed")
        assert result["is_error"] is True
        assert "Mars/Olympus" in result["result"]
        assert res["content"] == "That zone does not exist."
        fed_back = chat.upstream.turns[1]["messages"][-1]
        assert fed_back["role"] == "tool"
        assert "Mars/Olympus" in fed_back["content"]

    async def test_same_call_repeated_is_a_tool_loop(self, chat: ChatSetup) -> None:
        """The model calling one tool with the same arguments over and over fails the run."""
        call = Reply(tool_calls=[("current_time", '{"timezone": "UTC"}')])
        chat.upstream.script(*(call for _ in range(6)))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            error, event_error = await failed_send(ws)
        assert "tool loop detected" in error["message"]
        assert "tool loop detected" in event_error
        assert len(chat.upstream.turns) == 5

    async def test_max_tool_iterations_ends_the_run(self, make_server: ServerFactory) -> None:
        """With max_tool_iterations 2, the run ends after two tool rounds without a third call."""
        async with chat_setup(make_server, agent={"max_tool_iterations": 2}) as setup:
            setup.upstream.script(
                Reply(tool_calls=[("current_time", '{"timezone": "UTC"}')]),
                Reply(tool_calls=[("current_time", '{"timezone": "Europe/Paris"}')]),
                Reply(content="never asked"),
            )
            async with ws_connect(setup.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                res = await ws.ok("chat.send", {"message": "time?", "agentId": "helper"})
                await ws.run_event("run.completed")
            assert len(setup.upstream.turns) == 2
            assert "Stopped after 2 tool iterations" in res["content"]


class TestUnreachableProvider:
    async def test_unreachable_provider_is_unavailable_over_ws_and_502_over_rest(
        self, make_server: ServerFactory
    ) -> None:
        """A provider where nothing listens: chat.send answers UNAVAILABLE (retryable), REST 502
        with the same code, both naming the provider (one error table for both transports)."""
        async with chat_setup(make_server, llm__retry_attempts=1) as setup:
            async with setup.admin() as http:
                res = await http.post("/v1/providers", json={
                    "name": "down", "provider_type": "openai_compat", "api_base": unreachable_url(),
                    "api_key": "sk-x"})  # fmt: skip
                assert res.status_code == 201, res.text
            await setup.add_agent(agent_key="stranded", provider="down")
            async with ws_connect(setup.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                error, event_error = await failed_send(ws, agentId="stranded")
            async with setup.admin() as http:
                rest = await http.post("/v1/chat/completions", json={
                    "model": "stranded", "messages": [{"role": "user", "content": "hi"}]})  # fmt: skip
        assert error["code"] == "UNAVAILABLE"
        assert error["retryable"] is True
        assert "down/model-a" in error["message"]
        assert "down/model-a" in event_error
        assert rest.status_code == 502, rest.text
        assert "down/model-a" in rest.json()["error"]["message"]


class TestSendRefusals:
    async def test_unknown_agent_is_not_found_naming_it(self, chat: ChatSetup) -> None:
        """chat.send to an agent that does not exist is NOT_FOUND with its name."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.call("chat.send", {"message": "hi", "agentId": "ghost-agent"})
        assert res["error"]["code"] == "NOT_FOUND"
        assert "ghost-agent" in res["error"]["message"]

    async def test_agent_without_provider_is_precondition_and_stores_nothing(self, chat: ChatSetup) -> None:
        """An agent whose provider was deleted since: FAILED_PRECONDITION naming it; no session stored."""
        await chat.add_provider("missing", chat.upstream)
        await chat.add_agent(agent_key="orphan", provider="missing")
        async with chat.admin() as http:
            assert (await http.delete("/v1/providers/missing")).status_code == 200
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.call("chat.send", {"message": "hi", "agentId": "orphan"})
            listed = await ws.ok("sessions.list", {})
        assert res["error"]["code"] == "FAILED_PRECONDITION"
        assert "'missing'" in res["error"]["message"]
        assert "/v1/providers" in res["error"]["message"]
        assert listed["sessions"] == []
        assert chat.upstream.requests == []

    async def test_message_to_another_users_session_is_unauthorized(self, chat: ChatSetup) -> None:
        """A non-admin cannot send into another user's session; nothing is appended to it."""
        key = await chat.user_key()
        async with ws_connect(chat.server, token=key, user_id="alice") as alice:
            mine = await alice.ok("chat.send", {"message": "hello", "agentId": "helper"})
            async with ws_connect(chat.server, token=key, user_id="bob") as bob:
                res = await bob.call("chat.send", {"message": "intrude", "sessionKey": mine["sessionKey"]})
            history = await alice.ok("chat.history", {"sessionKey": mine["sessionKey"]})
        assert res["error"]["code"] == "UNAUTHORIZED"
        assert [m["content"] for m in history["messages"]] == ["hello", "echo: hello"]

    async def test_oversize_message_reaches_the_model_truncated_with_note(
        self, make_server: ServerFactory
    ) -> None:
        """Past gateway.max_message_chars, the model gets the kept prefix and the truncation note."""
        async with chat_setup(make_server, gateway__max_message_chars=20) as setup:
            text = "x" * 15 + "y" * 35
            async with ws_connect(setup.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                await ws.ok("chat.send", {"message": text, "agentId": "helper"})
            sent = setup.upstream.turns[0]["messages"][-1]["content"]
            assert sent.startswith("x" * 15 + "y" * 5 + "\n\n[Note:")
            assert "truncated to 20 of 50 characters" in sent
            assert "y" * 6 not in sent
