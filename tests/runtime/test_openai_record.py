"""Nothing answered is lost: an OpenAI-compatible exchange whose record cannot be committed is not
answered 200. With a real fault (the database refuses writes, its connections cut), the client gets
503 with ``Retry-After`` (streams end in an error event instead of their finish), the answer text is
in the ``openai.record_failed`` log line, and every exchange that was answered is in its session."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from structlog.testing import capture_logs

from tests.http.helpers import db
from tests.runtime.conftest import ChatSetup
from tests.support import RunningServer

SESSION = "agent:helper:openai:bob"


@contextlib.asynccontextmanager
async def writes_refused(server: RunningServer) -> AsyncIterator[None]:
    """The server's database refuses writes: new sessions are read-only and every open connection
    of the gateway is terminated, so its pool reconnects into read-only sessions. Writable again
    (connections cut once more) on exit."""

    async with db(server) as conn:  # opened before the change: stays writable
        name = await conn.fetchval("SELECT current_database()")
        cut = (
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"  # waits for them to exit
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        await conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
        await conn.execute(cut)
        try:
            yield
        finally:
            await conn.execute(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
            await conn.execute(cut)


async def history(chat: ChatSetup) -> list[str]:
    async with chat.admin() as http:
        res = await http.get(
            f"/v1/chat/sessions/{SESSION}/history/follow", params={"cursor": 0, "limit": 200}
        )
    if res.status_code == 404:
        return []
    assert res.status_code == 200, res.text
    return [m["content"] for m in res.json()["messages"]]


async def read(stream: Any, text: list[str], finishes: list[str | None]) -> None:
    """Consume a chat completion stream into its deltas' text and finish reasons."""
    async for chunk in stream:
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
            finishes.append(choice.finish_reason)


def failures(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == "openai.record_failed"]


def assert_unavailable(exc: openai.APIStatusError, *, unrecorded: bool = True) -> None:
    """503, OpenAI's error object, and when to come back (``unrecorded``: saying the answer was not
    recorded, rather than that the database could not be read before the model was called)."""
    assert exc.status_code == 503, exc
    assert int(exc.response.headers["retry-after"]) >= 1
    body: Any = exc.body
    assert body["type"] == "server_error"
    assert body["code"] == "unavailable"
    if unrecorded:
        assert "not recorded" in body["message"], body


class TestRecordFailure:
    async def test_unrecorded_answers_are_503_with_the_text_logged(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """While writes are refused, chat completions and responses (plain and streamed) end in a
        503 / an error event, never in a success; the log line carries each answer's text. After
        recovery the session holds exactly the exchanges answered with success."""
        ask: dict[str, Any] = {"model": "helper", "user": "bob"}
        await client.chat.completions.create(messages=[{"role": "user", "content": "before"}], **ask)
        with capture_logs() as logs:
            async with writes_refused(chat.server):
                with pytest.raises(openai.APIStatusError) as plain:
                    await client.chat.completions.create(
                        messages=[{"role": "user", "content": "plain"}], **ask
                    )
                stream = await client.chat.completions.create(
                    messages=[{"role": "user", "content": "streamed"}], stream=True, **ask
                )
                text: list[str] = []
                finishes: list[str | None] = []
                with pytest.raises(openai.APIError) as streamed:
                    await read(stream, text, finishes)
                with pytest.raises(openai.APIStatusError) as response:
                    await client.responses.create(model="helper", input="resp", user="bob")
                events = [e async for e in await client.responses.create(
                    model="helper", input="resp-streamed", user="bob", stream=True)]  # fmt: skip
        await client.chat.completions.create(messages=[{"role": "user", "content": "after"}], **ask)

        assert_unavailable(plain.value)
        assert_unavailable(response.value)
        assert "".join(text) == "echo: streamed"  # the tokens were streamed ...
        assert finishes == [None, None, None]  # ... but the stream never finished
        assert streamed.value.body["code"] == "unavailable"  # type: ignore[index]
        assert [e.type for e in events][-1] == "response.failed"
        failed = events[-1].response  # type: ignore[union-attr]
        assert failed.error is not None
        assert failed.error.code == "unavailable"  # type: ignore[comparison-overlap]
        answers = sorted(e["answer"] for e in failures(logs))
        assert answers == ["echo: plain", "echo: resp", "echo: resp-streamed", "echo: streamed"]
        assert all(e["session_key"] == SESSION and e["log_level"] == "error" for e in failures(logs))
        assert await history(chat) == ["before", "echo: before", "after", "echo: after"]

    async def test_every_exchange_answered_across_an_outage_is_recorded(
        self, chat: ChatSetup, client: openai.AsyncOpenAI
    ) -> None:
        """Requests in flight while writes start being refused: each is answered 200 or 503; after
        recovery every one answered 200 is in the session, its answer right after its question."""

        async def one(i: int) -> tuple[str, int]:
            await asyncio.sleep(0.03 * i)
            try:
                await client.chat.completions.create(
                    model="helper", user="bob", messages=[{"role": "user", "content": f"q{i}"}]
                )
            except openai.APIStatusError as exc:
                assert_unavailable(exc, unrecorded=False)
                return f"q{i}", 503
            return f"q{i}", 200

        with capture_logs():
            burst = asyncio.gather(*(one(i) for i in range(16)))
            await asyncio.sleep(0.1)
            async with writes_refused(chat.server):
                await asyncio.sleep(0.2)
            results = await burst
        answered = {q for q, status in results if status == 200}
        contents = await history(chat)
        pairs = list(zip(contents[::2], contents[1::2], strict=True))
        assert all(answer == f"echo: {q}" for q, answer in pairs)
        assert {q for q, _ in pairs} == answered
