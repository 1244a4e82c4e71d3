"""The official ``openai`` SDK against ClawGate's OpenAI-compatible endpoints."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import openai
import pytest

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN
from tests.upstream import Reply


class TestChatCompletions:
    async def test_plain_completion_honours_whole_messages_array(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """Every message the client sends reaches the model, after the agent's system prompt."""
        chat.upstream.script(Reply(content="Paris."))
        res = await client.chat.completions.create(
            model="clawgate:helper",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Which France?"},
                {"role": "user", "content": "The country."},
            ],
            temperature=0.2,
            max_tokens=50,
            stop=["\n\n"],
        )
        assert res.choices[0].message.content == "Paris."
        assert res.choices[0].finish_reason == "stop"
        assert res.usage is not None
        assert res.usage.total_tokens == 18
        sent = chat.upstream.requests[0]
        assert [m["role"] for m in sent["messages"]] == ["system", "system", "user", "assistant", "user"]
        stamp = sent["messages"][0]["content"].rsplit("Current time (UTC): ", 1)[1]
        assert abs((datetime.fromisoformat(stamp) - datetime.now(UTC)).total_seconds()) < 5
        assert sent["temperature"] == 0.2
        assert sent["max_tokens"] == 50
        assert sent["stop"] == ["\n\n"]

    async def test_streaming_yields_real_token_deltas_and_usage(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """stream=True yields the upstream's deltas one by one, then usage with include_usage."""
        chat.upstream.script(Reply(content="one two three four"))
        stream = await client.chat.completions.create(
            model="helper", messages=[{"role": "user", "content": "count"}], stream=True,
            stream_options={"include_usage": True},
        )  # fmt: skip
        deltas, finish, usage = [], None, None
        async for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    deltas.append(choice.delta.content)
                finish = choice.finish_reason or finish
        assert deltas == ["one ", "two ", "three ", "four"]
        assert finish == "stop"
        assert usage is not None
        assert usage.prompt_tokens == 11

    async def test_client_tools_pass_through_and_stream_tool_calls(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """Caller tools reach the model; its tool calls stream back with finish_reason tool_calls."""
        chat.upstream.script(Reply(tool_calls=[("get_weather", '{"city": "Oslo"}')]))
        tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
                  "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]  # fmt: skip
        stream = await client.chat.completions.create(
            model="helper", messages=[{"role": "user", "content": "weather in Oslo?"}], tools=tools,  # type: ignore[arg-type]
            tool_choice="auto", stream=True,
        )  # fmt: skip
        name, args, finish = "", "", None
        async for chunk in stream:
            for choice in chunk.choices:
                for call in choice.delta.tool_calls or []:
                    name += call.function.name or "" if call.function else ""
                    args += call.function.arguments or "" if call.function else ""
                finish = choice.finish_reason or finish
        assert name == "get_weather"
        assert json.loads(args) == {"city": "Oslo"}
        assert finish == "tool_calls"
        assert chat.upstream.requests[0]["tools"][0]["function"]["name"] == "get_weather"
        assert chat.upstream.requests[0]["tool_choice"] == "auto"

    async def test_tool_result_round_trip_non_streaming(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """A follow-up with the tool result is forwarded as a tool message."""
        chat.upstream.script(Reply(content="It is sunny in Oslo."))
        res = await client.chat.completions.create(
            model="helper",
            messages=[
                {"role": "user", "content": "weather in Oslo?"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
        )  # fmt: skip
        assert res.choices[0].message.content == "It is sunny in Oslo."
        sent = chat.upstream.requests[0]["messages"]
        assert sent[-1] == {"role": "tool", "content": "sunny", "tool_call_id": "call_1"}

    async def test_unknown_model_is_openai_404(self, chat: ChatSetup, client: openai.AsyncOpenAI) -> None:
        """An unknown agent is a NotFoundError with OpenAI's error object."""
        with pytest.raises(openai.NotFoundError) as info:
            await client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
        assert info.value.body["type"] == "not_found_error"  # type: ignore[index]

    async def test_bad_temperature_is_400_naming_the_param(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """Out-of-range temperature is a BadRequestError whose param names the field."""
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(
                model="helper", messages=[{"role": "user", "content": "x"}], temperature=5
            )
        assert info.value.body["param"] == "temperature"  # type: ignore[index]

    async def test_wrong_key_is_authentication_error(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """A wrong bearer is a 401 AuthenticationError."""
        async with openai.AsyncOpenAI(
            base_url=chat.server.url + "/v1", api_key="wrong", max_retries=0
        ) as wrong:
            with pytest.raises(openai.AuthenticationError):
                await wrong.models.list()

    async def test_user_maps_to_a_stable_session(self, chat: ChatSetup, client: openai.AsyncOpenAI) -> None:
        """Requests with the same ``user`` are recorded in one session."""
        for text in ("first", "second"):
            await client.chat.completions.create(
                model="helper", messages=[{"role": "user", "content": text}], user="bob"
            )
        async with chat.admin() as http:
            res = await http.get("/v1/sessions", params={"agent_id": "helper"})
        keys = [s["key"] for s in res.json()["sessions"]]
        assert keys == ["agent:helper:openai:bob"]
        assert res.json()["sessions"][0]["messageCount"] == 4

    async def test_concurrent_requests_of_one_session_are_all_recorded_in_order(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """Requests that finish together are recorded together (group commit): every exchange of the
        shared session lands, each answer right after its question, indexes without gaps; another
        user's exchanges stay in their own session, and every request has its trace."""

        async def ask(user: str, text: str) -> None:
            await client.chat.completions.create(
                model="helper", messages=[{"role": "user", "content": text}], user=user
            )

        await asyncio.gather(
            *(ask("bob", f"b{i}") for i in range(24)), *(ask("eve", f"e{i}") for i in range(6))
        )
        async with chat.admin() as http:
            url = "/v1/chat/sessions/agent:helper:openai:bob/history/follow"
            bob = (await http.get(url, params={"cursor": 0, "limit": 200})).json()
            sessions = (await http.get("/v1/sessions", params={"agent_id": "helper"})).json()["sessions"]
            traces = (await http.get("/v1/traces", params={"limit": 100})).json()
        contents = [m["content"] for m in bob["messages"]]
        assert len(contents) == 48
        assert bob["next_cursor"] == 48
        pairs = list(zip(contents[::2], contents[1::2], strict=True))
        assert all(answer == f"echo: {question}" for question, answer in pairs)
        assert sorted(q for q, _ in pairs) == sorted(f"b{i}" for i in range(24))
        counts = {s["key"]: s["messageCount"] for s in sessions}
        assert counts == {"agent:helper:openai:bob": 48, "agent:helper:openai:eve": 12}
        assert len(traces["traces"]) == 30


class TestModelsAndResponses:
    async def test_models_list_each_agent(self, chat: ChatSetup, client: openai.AsyncOpenAI) -> None:
        """models.list shows the caller's agents, then the providers' models as provider/model;
        models.retrieve finds an agent."""
        ids = [m.id async for m in client.models.list()]
        assert ids == ["helper", "up/model-a", "up/model-b"]
        model = await client.models.retrieve("helper")
        assert model.owned_by == "clawgate"

    async def test_responses_create_plain_and_streamed(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """responses.create answers with output_text, and streams output_text deltas."""
        chat.upstream.script(Reply(content="Hi from responses"), Reply(content="streamed words here"))
        res = await client.responses.create(model="helper", input="hello", instructions="Be nice.")
        assert res.output_text == "Hi from responses"
        assert res.usage is not None
        assert res.usage.total_tokens == 18
        stream = await client.responses.create(model="helper", input="again", stream=True)
        kinds, text = [], []
        async for event in stream:
            kinds.append(event.type)
            if event.type == "response.output_text.delta":
                text.append(event.delta)
        assert kinds[0] == "response.created"
        assert kinds[-1] == "response.completed"
        assert "".join(text) == "streamed words here"


class TestResponsesForms:
    async def test_goclaw_messages_form_and_function_call_items(self, chat: ChatSetup) -> None:
        """/v1/responses accepts GoClaw's ``messages`` and OpenAI's function_call / output items."""
        chat.upstream.script(Reply(content="from messages"), Reply(content="after the tool"))
        async with chat.admin() as http:
            goclaw = await http.post(
                "/v1/responses", json={"model": "helper", "messages": [{"role": "user", "content": "hi"}]}
            )
            items = await http.post(
                "/v1/responses",
                json={"model": "helper", "input": [
                    {"role": "user", "content": "weather?"},
                    {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
                ]},
            )  # fmt: skip
            missing = await http.post("/v1/responses", json={"model": "helper"})
        assert goclaw.json()["output"][0]["content"][0]["text"] == "from messages"
        assert items.json()["output_text"] == "after the tool"
        sent = chat.upstream.turns[1]["messages"]
        assert sent[-2]["tool_calls"][0]["id"] == "c1"
        assert sent[-1] == {"role": "tool", "content": "sunny", "tool_call_id": "c1"}
        assert missing.status_code == 400
        assert missing.json()["error"]["type"] == "invalid_request_error"


class TestRateLimit:
    async def test_exchanges_past_the_burst_are_429(self, make_server: ServerFactory) -> None:
        """With gateway.rate_limit_rpm, a credential's sixth exchange at once (the burst is 5) is
        refused 429 with Retry-After, in OpenAI's error object, whichever endpoint it uses."""
        async with (
            chat_setup(make_server, gateway__rate_limit_rpm=1, rate_limits__exempt_operator=False) as chat,
            openai.AsyncOpenAI(
                base_url=chat.server.url + "/v1", api_key=GATEWAY_TOKEN, max_retries=0
            ) as client,
        ):
            for i in range(4):
                await client.chat.completions.create(
                    model="helper", messages=[{"role": "user", "content": f"q{i}"}]
                )
            await client.responses.create(model="helper", input="fifth")
            with pytest.raises(openai.RateLimitError) as refused:
                await client.chat.completions.create(
                    model="helper", messages=[{"role": "user", "content": "sixth"}]
                )
        assert int(refused.value.response.headers["retry-after"]) >= 1
        assert refused.value.body["code"] == "resource_exhausted"  # type: ignore[index]
