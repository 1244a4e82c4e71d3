"""Episodic memory (issue 11): a compacted session leaves a summary (session key, time range, full
text and vector) that a later session's search finds; per user; written once per compaction.

The agent's provider is the loopback stand-in, which also writes the summaries and embeds them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.http.helpers import assert_error, db, with_key
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN, WsClient, ws_connect
from tests.upstream import Reply

EPISODIC = "/v1/agents/helper/episodic"
DOCKER = "We optimised the Docker image of the billing service with multi-stage builds and a slim base."
TRIP = "Alice planned a family trip to Da Nang in April, beaches and seafood."


@pytest.fixture(name="chat")
async def _chat(make_server: ServerFactory) -> AsyncIterator[ChatSetup]:
    async with chat_setup(
        make_server, memory__embedding_provider="up", memory__embedding_model="stand-in-embed",
        rate_limits__per_key_rpm=0,
    ) as setup:  # fmt: skip
        yield setup


async def _compacted(chat: ChatSetup, ws: WsClient, key: str, summary: str) -> None:
    """Three exchanges on session ``key``, then ``sessions.compact`` with ``summary`` as the model's."""
    for text in ("first", "second", "third"):
        await ws.ok("chat.send", {"message": f"{text} message", "sessionKey": key})
    chat.upstream.script(Reply(content=summary))
    res = await ws.ok("sessions.compact", {"key": key, "keepLast": 2, "mode": "summarize"})
    assert res["summary"] == summary


async def _ok(res: Any) -> Any:
    assert res.status_code == 200, res.text
    return res.json()


async def _episodes_once(http: Any, ready: Callable[[list[dict[str, Any]]], bool]) -> list[dict[str, Any]]:
    """The agent's episodes as soon as ``ready`` holds for them (or after 10 s)."""
    episodes: list[dict[str, Any]] = []
    for _ in range(200):
        episodes = (await _ok(await http.get(EPISODIC)))["episodes"]
        if ready(episodes):
            break
        await asyncio.sleep(0.05)
    return episodes


class TestEpisodes:
    async def test_a_compacted_session_is_found_from_another(self, chat: ChatSetup) -> None:
        """Each compaction writes a summary with its session and time range; a search made later
        (another session's question) ranks the matching one first, by words and by meaning."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await _compacted(chat, ws, "agent:helper:ws:direct:docker", DOCKER)
            await _compacted(chat, ws, "agent:helper:ws:direct:trip", TRIP)
        async with chat.admin("alice") as http:
            listed = await _ok(await http.get(EPISODIC, params={"user_id": "alice"}))
            found = await _ok(await http.post(f"{EPISODIC}/search", json={
                "query": "docker image optimization", "user_id": "alice"}))  # fmt: skip
            trip = await _ok(
                await http.post(f"{EPISODIC}/search", json={"query": "trip to Da Nang", "max_results": 1})
            )
            none = await _ok(await http.post(f"{EPISODIC}/search", json={"query": "quantum chromodynamics"}))
        assert [e["session_key"] for e in listed["episodes"]] == [
            "agent:helper:ws:direct:trip", "agent:helper:ws:direct:docker",
        ]  # fmt: skip
        docker = listed["episodes"][1]
        assert docker["summary"] == DOCKER
        assert docker["user_id"] == "alice"
        assert docker["source_type"] == "compaction"
        assert docker["turn_count"] == 2  # the user messages before the cut (4 of 6 messages)
        assert docker["started_at"] <= docker["ended_at"]
        assert docker["embedder"] == "up/stand-in-embed"
        assert found["search_mode"] == "hybrid"
        assert found["results"][0]["summary"] == DOCKER
        assert found["results"][0]["score"] > found["results"][-1]["score"] or found["count"] == 1
        assert [r["summary"] for r in trip["results"]] == [TRIP]
        assert none["results"] == [] or all(r["score"] < 0.5 for r in none["results"])

    async def test_summaries_are_the_users_own(self, chat: ChatSetup) -> None:
        """Below admin, bob neither lists nor finds alice's summaries, nor asks for them by name;
        an admin names whose."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await _compacted(chat, ws, "agent:helper:ws:direct:docker", DOCKER)
        key = await chat.user_key()
        async with with_key(chat.server, key, **{"X-GoClaw-User-Id": "bob"}) as bob:
            listed = await _ok(await bob.get(EPISODIC))
            found = await _ok(await bob.post(f"{EPISODIC}/search", json={"query": "docker image"}))
            named = await bob.get(EPISODIC, params={"user_id": "alice"})
            searched = await bob.post(f"{EPISODIC}/search", json={"query": "docker", "user_id": "alice"})
            empty = await bob.post(f"{EPISODIC}/search", json={"query": ""})
        async with with_key(chat.server, key, **{"X-GoClaw-User-Id": "alice"}) as alice:
            mine = await _ok(await alice.get(EPISODIC))
        async with chat.admin() as http:
            everyone = await _ok(await http.get(EPISODIC))
        assert listed["episodes"] == []
        assert found["results"] == []
        assert_error(named, 403, "UNAUTHORIZED")
        assert_error(searched, 403, "UNAUTHORIZED")
        assert_error(empty, 400, "INVALID_REQUEST")
        assert [e["summary"] for e in mine["episodes"]] == [DOCKER]
        assert [e["summary"] for e in everyone["episodes"]] == [DOCKER]

    async def test_compaction_after_a_run_writes_one(self, make_server: ServerFactory) -> None:
        """A history past the context share is compacted after the run; its summary becomes an
        episode once, found by its words."""
        async with chat_setup(
            make_server, agent={"context_window": 1024}, memory__embedding_provider="up",
            memory__embedding_model="stand-in-embed",
        ) as chat:  # fmt: skip
            key = "agent:helper:ws:direct:long"
            async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                for i in range(3):
                    await ws.ok(
                        "chat.send", {"message": f"turn {i} zanzibar " + "x" * 1500, "sessionKey": key}
                    )
            async with chat.admin() as http:
                episodes = await _episodes_once(http, bool)
                found = await _ok(await http.post(f"{EPISODIC}/search", json={"query": "zanzibar"}))
        assert len(episodes) == 1
        assert episodes[0]["session_key"] == key
        assert episodes[0]["user_id"] == "alice"
        assert "zanzibar" in episodes[0]["summary"]  # the stand-in echoes what it was asked to summarise
        assert [r["id"] for r in found["results"]] == [episodes[0]["id"]]


async def test_a_summary_written_while_the_embedder_is_down_is_embedded_later(
    make_server: ServerFactory,
) -> None:
    """The summary is kept and found by words while the embedding endpoint is down; the background
    indexer embeds it once the endpoint answers."""
    async with chat_setup(
        make_server, memory__embedding_provider="up", memory__embedding_model="stand-in-embed",
        memory__reindex_interval_seconds=0.2,
    ) as chat:  # fmt: skip
        chat.upstream.embeddings_down = True
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await _compacted(chat, ws, "agent:helper:ws:direct:docker", DOCKER)
        async with chat.admin() as http:
            down = await _ok(await http.post(f"{EPISODIC}/search", json={"query": "docker image"}))
            chat.upstream.embeddings_down = False
            episodes = await _episodes_once(http, lambda found: bool(found[0]["embedder"]))
            up = await _ok(await http.post(f"{EPISODIC}/search", json={"query": "docker image"}))
    assert down["search_mode"] == "fulltext"
    assert [r["summary"] for r in down["results"]] == [DOCKER]
    assert episodes[0]["embedder"] == "up/stand-in-embed"
    assert up["search_mode"] == "hybrid"
    assert [r["summary"] for r in up["results"]] == [DOCKER]


async def test_an_idle_session_is_summarised_once(make_server: ServerFactory) -> None:
    """A session quiet for its agent's idle time (``compaction_config.episodicIdleMinutes``) gets an
    episode written by the agent's model, once for that state; the session itself is unchanged."""
    async with chat_setup(
        make_server, agent={"compaction_config": {"episodicIdleMinutes": 0.005}},
        memory__embedding_provider="up", memory__embedding_model="stand-in-embed",
        memory__reindex_interval_seconds=0.2,
    ) as chat:  # fmt: skip
        key = "agent:helper:ws:direct:quiet"
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            for text in ("my cat is called Mochi", "she likes tuna"):
                await ws.ok("chat.send", {"message": text, "sessionKey": key})
            async with chat.admin() as http:
                episodes = await _episodes_once(http, bool)
                await asyncio.sleep(0.6)  # rounds go on: the same state is not summarised again
                again = (await _ok(await http.get(EPISODIC)))["episodes"]
                found = await _ok(await http.post(f"{EPISODIC}/search", json={"query": "Mochi the cat"}))
            history = await ws.ok("chat.history", {"sessionKey": key})
    assert len(episodes) == 1
    assert episodes[0]["source_type"] == "idle"
    assert episodes[0]["session_key"] == key
    assert episodes[0]["turn_count"] == 2
    assert "Mochi" in episodes[0]["summary"]  # the stand-in echoes the conversation it was asked about
    assert [e["id"] for e in again] == [episodes[0]["id"]]
    assert [r["id"] for r in found["results"]] == [episodes[0]["id"]]
    assert not history["summary"]


async def test_summaries_expire_after_ninety_days(make_server: ServerFactory) -> None:
    """A summary is written to expire 90 days later; once past that, the background pass deletes it
    (and only it)."""
    async with chat_setup(
        make_server, memory__embedding_provider="up", memory__embedding_model="stand-in-embed",
        memory__reindex_interval_seconds=0.1,
    ) as chat:  # fmt: skip
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await _compacted(chat, ws, "agent:helper:ws:direct:docker", DOCKER)
            await _compacted(chat, ws, "agent:helper:ws:direct:trip", TRIP)
        async with chat.admin("alice") as http:
            before = (await _ok(await http.get(EPISODIC)))["episodes"]
            async with db(chat.server) as conn:
                await conn.execute(
                    "UPDATE episodic_summaries SET expires_at = now() - interval '1 second' WHERE summary = $1",
                    DOCKER,
                )
            after = await _episodes_once(http, lambda episodes: len(episodes) == 1)
    for episode in before:
        created = datetime.fromisoformat(episode["created_at"])
        expires = datetime.fromisoformat(episode["expires_at"])
        assert abs((expires - created) - timedelta(days=90)) < timedelta(minutes=1)
    assert [e["summary"] for e in after] == [TRIP]
