"""The stand-ins speak the real wire protocols: checked with the official ``openai`` SDK and with
raw SSE parsing for Anthropic, so gateway tests that rely on them test against the real shapes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import openai
import pytest

from tests.fakes import (
    Recorded,
    Reply,
    ToolCall,
    Usage,
    anthropic_stand_in,
    error,
    fake_embedding,
    garbage,
    openai_stand_in,
    text,
    tool_calls,
)


def _sse_events(raw: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((lines["event"], json.loads(lines["data"])))
    return out


class TestOpenAIStandIn:
    async def test_sdk_chat_returns_scripted_text_and_usage(self) -> None:
        """A scripted text reply reaches the SDK with its usage; the request is recorded."""
        async with openai_stand_in(api_key="sk-1") as up:
            up.script(text("hello there", usage=Usage(7, 3)))
            client = openai.AsyncOpenAI(base_url=up.url, api_key="sk-1")
            res = await client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hi"}]
            )
            await client.close()
        assert res.choices[0].message.content == "hello there"
        assert res.usage is not None
        assert (res.usage.prompt_tokens, res.usage.completion_tokens) == (7, 3)
        assert up.last.json["messages"][0]["content"] == "hi"

    async def test_sdk_stream_yields_text_tool_calls_and_usage(self) -> None:
        """A streamed reply reassembles into the scripted text and tool-call arguments."""
        call = ToolCall("lookup", {"query": "weather in Hanoi", "days": 3})
        async with openai_stand_in() as up:
            up.script(tool_calls(call, text="Let me check."))
            client = openai.AsyncOpenAI(base_url=up.url, api_key="x")
            stream = await client.chat.completions.create(
                model="m1", messages=[{"role": "user", "content": "hi"}], stream=True,
                stream_options={"include_usage": True},
            )  # fmt: skip
            content, args, finish, usage = "", "", None, None
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    content += choice.delta.content or ""
                    for tc in choice.delta.tool_calls or []:
                        args += (tc.function.arguments or "") if tc.function else ""
                    finish = choice.finish_reason or finish
            await client.close()
        assert content == "Let me check."
        assert json.loads(args) == call.arguments
        assert finish == "tool_calls"
        assert usage is not None
        assert usage.total_tokens == 15

    async def test_wrong_key_and_scripted_statuses_raise_sdk_errors(self) -> None:
        """A wrong key answers 401; scripted 429 and 500 reach the SDK as its error classes."""
        async with openai_stand_in(api_key="sk-right") as up:
            bad = openai.AsyncOpenAI(base_url=up.url, api_key="sk-wrong", max_retries=0)
            with pytest.raises(openai.AuthenticationError):
                await bad.models.list()
            await bad.close()
            up.script(error(429, "slow down", headers={"Retry-After": "1"}), error(500))
            good = openai.AsyncOpenAI(base_url=up.url, api_key="sk-right", max_retries=0)
            with pytest.raises(openai.RateLimitError):
                await good.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
            with pytest.raises(openai.InternalServerError):
                await good.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
            await good.close()

    async def test_sdk_embeddings_are_deterministic(self) -> None:
        """Embeddings (the SDK asks for base64) decode to the deterministic vectors."""
        async with openai_stand_in(embedding_dims=16) as up:
            client = openai.AsyncOpenAI(base_url=up.url, api_key="x")
            res = await client.embeddings.create(model="emb", input=["a", "b"])
            await client.close()
        assert [round(v, 5) for v in res.data[1].embedding] == [round(v, 5) for v in fake_embedding("b", 16)]

    async def test_garbage_and_cut_stream_are_served(self) -> None:
        """Garbage bodies come back verbatim and ``cut_after`` breaks the stream mid-way."""
        async with openai_stand_in() as up, httpx.AsyncClient(base_url=up.url) as http:
            up.script(garbage(b"{not json"), text("abcdefgh", cut_after=2), route="chat")
            body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            res = await http.post("/chat/completions", json=body)
            assert res.content == b"{not json"
            with pytest.raises(httpx.RemoteProtocolError):
                await http.post("/chat/completions", json={**body, "stream": True})

    async def test_delay_and_request_dependent_replies(self) -> None:
        """``delay`` holds the answer back; a responder function answers from what was sent."""

        def echo(request: Recorded) -> Reply:
            return text("echo: " + request.json["messages"][-1]["content"])

        async with openai_stand_in() as up, httpx.AsyncClient(base_url=up.url) as http:
            up.script(text("slow", delay=0.3), echo)
            body = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
            started = asyncio.get_running_loop().time()
            slow = await http.post("/chat/completions", json=body)
            elapsed = asyncio.get_running_loop().time() - started
            echoed = await http.post("/chat/completions", json=body)
            default = await http.post("/chat/completions", json=body)
            up.script(text("too slow", delay=1.0))
            with pytest.raises(httpx.ReadTimeout):
                await http.post("/chat/completions", json=body, timeout=0.2)
        assert elapsed >= 0.3
        assert slow.json()["choices"][0]["message"]["content"] == "slow"
        assert echoed.json()["choices"][0]["message"]["content"] == "echo: ping"
        assert default.json()["choices"][0]["message"]["content"] == "ok"


class TestAnthropicStandIn:
    async def test_message_stream_has_the_anthropic_event_sequence(self) -> None:
        """A streamed reply is message_start, content blocks with deltas, message_delta, message_stop."""
        async with anthropic_stand_in(api_key="ak") as up, httpx.AsyncClient(base_url=up.url) as http:
            up.script(tool_calls(ToolCall("calc", {"x": 1}), text="On it", reasoning="think"))
            res = await http.post(
                "/v1/messages",
                headers={"x-api-key": "ak", "anthropic-version": "2023-06-01"},
                json={"model": "claude-x", "max_tokens": 10, "stream": True,
                      "messages": [{"role": "user", "content": "hi"}]},
            )  # fmt: skip
        events = _sse_events(res.text)
        names = [name for name, _ in events]
        assert names[0] == "message_start"
        assert names[-2:] == ["message_delta", "message_stop"]
        starts = [d["content_block"]["type"] for n, d in events if n == "content_block_start"]
        assert starts == ["thinking", "text", "tool_use"]
        text_out = "".join(
            d["delta"]["text"]
            for n, d in events
            if n == "content_block_delta" and d["delta"]["type"] == "text_delta"
        )
        partial = "".join(
            d["delta"]["partial_json"]
            for n, d in events
            if n == "content_block_delta" and d["delta"]["type"] == "input_json_delta"
        )
        assert text_out == "On it"
        assert json.loads(partial) == {"x": 1}
        assert events[-2][1]["delta"]["stop_reason"] == "tool_use"

    async def test_missing_version_or_key_is_refused(self) -> None:
        """Without ``anthropic-version`` the stand-in answers 400; a wrong key 401, as Anthropic does."""
        async with anthropic_stand_in(api_key="ak") as up, httpx.AsyncClient(base_url=up.url) as http:
            no_version = await http.get("/v1/models", headers={"x-api-key": "ak"})
            wrong_key = await http.get("/v1/models", headers={"x-api-key": "nope", "anthropic-version": "1"})
            ok = await http.get("/v1/models", headers={"x-api-key": "ak", "anthropic-version": "1"})
        assert no_version.status_code == 400
        assert wrong_key.status_code == 401
        assert wrong_key.json()["error"]["type"] == "authentication_error"
        assert [m["id"] for m in ok.json()["data"]] == ["model-a", "model-b"]
