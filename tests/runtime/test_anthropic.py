"""An agent backed by the Anthropic Messages API (stand-in speaking its real SSE protocol), over
WebSocket chat.send and through the official ``openai`` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, make_setup
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply


@pytest.fixture(name="claude")
async def _claude(make_server: ServerFactory) -> AsyncIterator[ChatSetup]:
    """Agent "helper" on an Anthropic-native provider."""
    async for setup in make_setup(make_server, flavor="anthropic"):
        yield setup


@pytest.fixture(name="thinker")
async def _thinker(make_server: ServerFactory) -> AsyncIterator[ChatSetup]:
    """Agent "helper" on an Anthropic-native provider, with medium thinking."""
    async for setup in make_setup(make_server, flavor="anthropic", agent={"thinking_level": "medium"}):
        yield setup


class TestAnthropicChat:
    async def test_send_streams_text_with_system_prompt_apart(self, claude: ChatSetup) -> None:
        """Text deltas become chunk events; the system prompt travels in the ``system`` field."""
        claude.upstream.script(Reply(content="Bonjour from Claude", usage=(20, 5)))
        async with ws_connect(claude.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "hello", "agentId": "helper"})
            chunks = [e["payload"]["payload"]["content"] for e in ws.events
                      if e["event"] == "agent" and e["payload"]["type"] == "chunk"]  # fmt: skip
        assert res["content"] == "Bonjour from Claude"
        assert res["usage"] == {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
        assert chunks == ["Bonjour ", "from ", "Claude"]
        sent = claude.upstream.turns[0]
        assert sent["stream"] is True
        assert sent["system"].startswith("You are Helper.")
        assert sent["messages"] == [{"role": "user", "content": "hello"}]
        assert claude.upstream.headers[0]["x-api-key"] == "sk-test"

    async def test_tool_use_round_trip_with_current_time(self, claude: ChatSetup) -> None:
        """A tool_use block runs current_time; its result goes back as a tool_result block."""
        claude.upstream.script(
            Reply(tool_calls=[("current_time", '{"timezone": "Asia/Ho_Chi_Minh"}')]),
            Reply(content="It is evening in Saigon."),
        )
        async with ws_connect(claude.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "time in Saigon?", "agentId": "helper"})
            call = (await ws.run_event("tool.call"))["payload"]["payload"]
            result = (await ws.run_event("tool.result"))["payload"]["payload"]
        assert res["content"] == "It is evening in Saigon."
        assert call == {
            "name": "current_time",
            "id": "toolu_0",
            "arguments": {"timezone": "Asia/Ho_Chi_Minh"},
        }
        assert result["is_error"] is False
        assert result["result"].endswith("+07:00")
        assert any(t["name"] == "current_time" for t in claude.upstream.turns[0]["tools"])
        follow_up = claude.upstream.turns[1]["messages"]
        assert follow_up[1]["role"] == "assistant"
        assert follow_up[1]["content"][0] == {
            "type": "tool_use", "id": "toolu_0", "name": "current_time", "input": {"timezone": "Asia/Ho_Chi_Minh"},
        }  # fmt: skip
        block = follow_up[2]["content"][0]
        assert follow_up[2]["role"] == "user"
        assert block["type"] == "tool_result"
        assert block["tool_use_id"] == "toolu_0"
        assert block["content"] == result["result"]

    async def test_thinking_deltas_become_thinking_events(self, thinker: ChatSetup) -> None:
        """thinking_delta events stream as ``thinking`` events; the budget follows the agent's level."""
        thinker.upstream.script(Reply(thinking="Let me weigh this.", content="Forty-two."))
        async with ws_connect(thinker.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "meaning of life?", "agentId": "helper"})
            thinking = (await ws.run_event("thinking"))["payload"]["payload"]
            history = await ws.ok("chat.history", {"sessionKey": res["sessionKey"]})
        assert thinking == {"content": "Let me weigh this."}
        assert res["thinking"] == "Let me weigh this."
        assert res["content"] == "Forty-two."
        assert thinker.upstream.turns[0]["thinking"] == {"type": "enabled", "budget_tokens": 10240}
        assert history["messages"][-1]["thinking"] == "Let me weigh this."


class TestOpenAISdkOnAnthropic:
    async def test_streaming_completion_from_an_anthropic_agent(self, claude: ChatSetup) -> None:
        """The openai SDK streams chat.completions deltas produced by the Anthropic stand-in."""
        claude.upstream.script(Reply(content="Translated across protocols", usage=(9, 3)))
        async with openai.AsyncOpenAI(
            base_url=claude.server.url + "/v1", api_key=GATEWAY_TOKEN, max_retries=0
        ) as client:
            stream = await client.chat.completions.create(
                model="helper", messages=[{"role": "system", "content": "Be terse."},
                                          {"role": "user", "content": "go"}],
                stream=True, stream_options={"include_usage": True},
            )  # fmt: skip
            deltas, finish, usage = [], None, None
            async for chunk in stream:
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    if choice.delta.content:
                        deltas.append(choice.delta.content)
                    finish = choice.finish_reason or finish
        assert deltas == ["Translated ", "across ", "protocols"]
        assert finish == "stop"
        assert usage is not None
        assert (usage.prompt_tokens, usage.completion_tokens) == (9, 3)
        sent = claude.upstream.turns[0]
        assert "Be terse." in sent["system"]
        assert sent["messages"] == [{"role": "user", "content": "go"}]


class TestThinkingWithTools:
    @pytest.mark.parametrize("stream", [True, False])
    async def test_tool_round_sends_back_the_signed_thinking_block(
        self, thinker: ChatSetup, stream: bool
    ) -> None:
        """With thinking on, the tool continuation starts with the model's signed thinking block."""
        thinker.upstream.script(
            Reply(thinking="I need the clock.", tool_calls=[("current_time", '{"timezone": "UTC"}')]),
            Reply(content="It is late."),
        )
        async with ws_connect(thinker.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.ok("chat.send", {"message": "time?", "agentId": "helper", "stream": stream})
        assert res["content"] == "It is late."
        assistant = thinker.upstream.turns[1]["messages"][1]
        assert assistant["content"][0] == {
            "type": "thinking",
            "thinking": "I need the clock.",
            "signature": "sig",
        }
        assert assistant["content"][1]["type"] == "tool_use"
