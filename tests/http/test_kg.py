"""The knowledge graph over REST (issue 11): entities with relations, traversal, stats, graph views,
dedup scan/list/merge/dismiss, extraction by the agent's model, user and agent isolation, and the
``kg_search`` / ``kg_traverse`` tools in a run.

The agent's provider is the loopback OpenAI-compatible stand-in (``tests.upstream``), which also
embeds (``word_vector``: texts sharing words are near)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from clawgate.services.kg import name_pairs
from tests.conftest import ServerFactory
from tests.http.helpers import assert_error, with_key
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN
from tests.upstream import Reply

KG = "/v1/agents/helper/kg"


@pytest.fixture(name="graph")
async def _graph(make_server: ServerFactory) -> AsyncIterator[ChatSetup]:
    """Agent ``helper`` on the stand-in ``up``, whose ``/v1/embeddings`` embeds the graph."""
    async with chat_setup(
        make_server, memory__embedding_provider="up", memory__embedding_model="stand-in-embed",
        rate_limits__per_key_rpm=0,
    ) as setup:  # fmt: skip
        yield setup


async def _ok(res: httpx.Response, status: int = 200) -> Any:
    assert res.status_code == status, res.text
    return res.json()


async def _put(http: httpx.AsyncClient, name: str, kind: str = "person", **fields: Any) -> dict[str, Any]:
    entity: dict[str, Any] = await _ok(await http.post(f"{KG}/entities", json={"name": name, "entity_type": kind,
                                                                               **fields}))  # fmt: skip
    return entity


def _rels(entity: dict[str, Any]) -> list[tuple[str, str, str]]:
    return sorted((r["source_name"], r["relation_type"], r["target_name"]) for r in entity["relations"])


class TestEntities:
    async def test_upsert_get_delete(self, graph: ChatSetup) -> None:
        """An upsert with relations creates the named targets; the same name (any case, spacing) and
        type updates the entity; delete takes its relations with it."""
        async with graph.admin() as http:
            alice = await _put(http, "Alice", description="Engineer", properties={"team": "infra"},
                               relations=[{"relation_type": "works_at", "target_name": "Acme",
                                           "target_type": "organization"}])  # fmt: skip
            again = await _put(http, "  alice ", description=None, confidence=0.5,
                               relations=[{"relation_type": "mentors", "target_name": "Bob", "direction": "in"}])  # fmt: skip
            got = await _ok(await http.get(f"{KG}/entities/{alice['id']}"))
            acme_id = next(
                r["target_entity_id"] for r in got["relations"] if r["relation_type"] == "works_at"
            )
            await _ok(await http.delete(f"{KG}/entities/{alice['id']}"))
            gone = await http.get(f"{KG}/entities/{alice['id']}")
            acme = await _ok(await http.get(f"{KG}/entities/{acme_id}"))
        assert again["id"] == alice["id"]
        assert got["name"] == "alice"  # the last writer's spelling
        assert got["description"] == "Engineer"  # null left it
        assert got["properties"] == {"team": "infra"}
        assert got["confidence"] == 0.5
        assert got["embedder"] == "up/stand-in-embed"
        assert _rels(got) == [("Bob", "mentors", "alice"), ("alice", "works_at", "Acme")]
        assert_error(gone, 404, "NOT_FOUND")
        assert acme["relations"] == []

    async def test_empty_names_are_refused(self, graph: ChatSetup) -> None:
        """An empty or blank name, of an entity or of a relation's target, is a 400."""
        async with graph.admin() as http:
            empty = await http.post(f"{KG}/entities", json={"name": ""})
            blank = await http.post(f"{KG}/entities", json={"name": " \t "})
            target = await http.post(f"{KG}/entities", json={"name": "X", "relations": [
                {"relation_type": "knows", "target_name": "   "}]})  # fmt: skip
            listed = await _ok(await http.get(f"{KG}/entities"))
        for res in (empty, blank, target):
            assert_error(res, 400, "INVALID_REQUEST")
        assert listed["entities"] == []  # the refused upsert left nothing behind

    async def test_unknown_agent_is_404_on_every_route(self, graph: ChatSetup) -> None:
        """Every knowledge-graph and episodic route answers 404 for an agent that does not exist."""
        some = str(uuid.uuid4())
        base = "/v1/agents/nobody"
        calls = [
            ("GET", "/kg/entities", None), ("GET", f"/kg/entities/{some}", None),
            ("POST", "/kg/entities", {"name": "X"}), ("DELETE", f"/kg/entities/{some}", None),
            ("POST", "/kg/traverse", {"entity_id": some}), ("GET", "/kg/stats", None),
            ("GET", "/kg/graph", None), ("GET", "/kg/graph/compact", None), ("POST", "/kg/dedup/scan", {}),
            ("GET", "/kg/dedup", None), ("POST", "/kg/merge", {"target_id": some, "source_id": str(uuid.uuid4())}),
            ("POST", "/kg/dedup/dismiss", {"candidate_id": some}), ("POST", "/kg/extract", {"text": "x"}),
            ("GET", "/episodic", None), ("POST", "/episodic/search", {"query": "x"}),
        ]  # fmt: skip
        async with graph.admin() as http:
            for method, path, body in calls:
                res = await http.request(method, base + path, json=body)
                assert_error(res, 404, "NOT_FOUND")

    async def test_search_by_words_and_type(self, graph: ChatSetup) -> None:
        """``?q=`` ranks by words and meaning; ``entity_type`` filters; a list is in name order."""
        async with graph.admin() as http:
            await _put(http, "Postgres", "technology", description="relational database with pgvector")
            await _put(http, "Redis", "technology", description="in-memory key value store")
            await _put(http, "Paris", "place", description="capital of France")
            found = await _ok(await http.get(f"{KG}/entities", params={"q": "database"}))
            typed = await _ok(await http.get(f"{KG}/entities", params={"entity_type": "place,person"}))
            listed = await _ok(await http.get(f"{KG}/entities", params={"limit": 2}))
        assert found["search_mode"] == "hybrid"
        assert found["entities"][0]["name"] == "Postgres"
        assert found["entities"][0]["score"] > 0
        assert [e["name"] for e in typed["entities"]] == ["Paris"]
        assert [e["name"] for e in listed["entities"]] == ["Paris", "Postgres"]


class TestTraverse:
    async def _cycle(self, http: httpx.AsyncClient) -> dict[str, str]:
        """A -knows-> B -knows-> C -knows-> A (a cycle), and D -reports_to-> C."""
        ids = {n: (await _put(http, n))["id"] for n in "ABCD"}
        for src, kind, dst in (
            ("A", "knows", "B"),
            ("B", "knows", "C"),
            ("C", "knows", "A"),
            ("D", "reports_to", "C"),
        ):
            await _put(http, src, relations=[{"relation_type": kind, "target_id": ids[dst]}])
        return ids

    async def test_both_directions_through_a_cycle_each_node_once(self, graph: ChatSetup) -> None:
        """From A at depth 3: B and C at depth 1 (C backwards, ``~knows``), D at depth 2 through C
        backwards; the cycle ends and each entity comes once, at its smallest depth."""
        async with graph.admin() as http:
            ids = await self._cycle(http)
            walked = await _ok(
                await http.post(f"{KG}/traverse", json={"entity_id": ids["A"], "max_depth": 3})
            )
            near = await _ok(await http.post(f"{KG}/traverse", json={"entity_id": ids["D"], "max_depth": 1}))
        got = {h["name"]: (h["depth"], h["via"]) for h in walked["results"]}
        assert walked["entity"]["name"] == "A"
        assert got == {"B": (1, "knows"), "C": (1, "~knows"), "D": (2, "~reports_to")}
        assert walked["count"] == 3
        d = next(h for h in walked["results"] if h["name"] == "D")
        assert d["path"] == [ids["A"], ids["C"], ids["D"]]
        assert [(h["name"], h["via"]) for h in near["results"]] == [("C", "reports_to")]

    async def test_a_relation_no_longer_valid_is_not_followed(self, graph: ChatSetup) -> None:
        """A relation with ``valid_until`` set is kept and shown, but a traversal follows current
        relations only (GoClaw's rule)."""
        async with graph.admin() as http:
            old = await _put(http, "Old job", "organization")
            me = await _put(http, "Me", relations=[
                {"relation_type": "worked_at", "target_id": old["id"], "valid_from": "2020-01-01T00:00:00Z",
                 "valid_until": "2024-01-01T00:00:00Z"},
                {"relation_type": "works_at", "target_name": "New job", "target_type": "organization"}])  # fmt: skip
            walked = await _ok(await http.post(f"{KG}/traverse", json={"entity_id": me["id"]}))
        assert [(r["relation_type"], r["valid_until"]) for r in me["relations"]] == [
            ("worked_at", "2024-01-01T00:00:00Z"), ("works_at", None),
        ]  # fmt: skip
        assert [h["name"] for h in walked["results"]] == ["New job"]

    async def test_bad_traversals(self, graph: ChatSetup) -> None:
        """Depth over 3 (or under 1) is a 400; a start that is not an entity of the agent a 404."""
        async with graph.admin() as http:
            ids = await self._cycle(http)
            deep = await http.post(f"{KG}/traverse", json={"entity_id": ids["A"], "max_depth": 4})
            zero = await http.post(f"{KG}/traverse", json={"entity_id": ids["A"], "max_depth": 0})
            missing = await http.post(f"{KG}/traverse", json={"entity_id": str(uuid.uuid4())})
            bad_id = await http.post(f"{KG}/traverse", json={"entity_id": "not-a-uuid"})
        assert_error(deep, 400, "INVALID_REQUEST")
        assert_error(zero, 400, "INVALID_REQUEST")
        assert_error(missing, 404, "NOT_FOUND")
        assert_error(bad_id, 400, "INVALID_REQUEST")


class TestViews:
    async def test_stats_graph_and_compact_graph(self, graph: ChatSetup) -> None:
        """Stats count entities and relations by type; the graph gives entities and the relations
        between them, the compact graph only ids, names and types."""
        async with graph.admin() as http:
            await _put(http, "Alice", relations=[{"relation_type": "works_at", "target_name": "Acme",
                                                  "target_type": "organization"},
                                                 {"relation_type": "knows", "target_name": "Bob",
                                                  "target_type": "person"}])  # fmt: skip
            stats = await _ok(await http.get(f"{KG}/stats"))
            full = await _ok(await http.get(f"{KG}/graph"))
            compact = await _ok(await http.get(f"{KG}/graph/compact"))
            capped = await _ok(await http.get(f"{KG}/graph", params={"limit": 1}))
        assert stats == {"entity_count": 3, "relation_count": 2, "entity_types": {"person": 2, "organization": 1},
                         "relation_types": {"works_at": 1, "knows": 1}, "dedup_pending": 0}  # fmt: skip
        assert sorted(n["name"] for n in full["nodes"]) == ["Acme", "Alice", "Bob"]
        assert {"id", "name", "entity_type", "description", "properties"} <= set(full["nodes"][0])
        assert sorted(e["relation_type"] for e in full["edges"]) == ["knows", "works_at"]
        assert sorted(compact["nodes"][0]) == ["id", "name", "type"]
        assert sorted(compact["edges"][0]) == ["source", "target", "type"]
        names = {n["id"]: n["name"] for n in compact["nodes"]}
        assert sorted((names[e["source"]], e["type"], names[e["target"]]) for e in compact["edges"]) == [
            ("Alice", "knows", "Bob"), ("Alice", "works_at", "Acme"),
        ]  # fmt: skip
        assert len(capped["nodes"]) == 1
        assert capped["edges"] == []  # no relation has both ends among one entity


class TestDedup:
    def test_name_similarity_is_trigram_overlap(self) -> None:
        """Names sharing most trigrams pair up; unrelated names are never compared."""
        a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        pairs = name_pairs([(a, "kubernetes cluster"), (b, "kubernetes clusters"), (c, "globex")], 0.85)
        assert [(p[0], p[1]) for p in pairs] == [tuple(sorted((a, b)))]
        assert 0.85 <= pairs[0][2] < 1

    async def test_scan_list_merge_keeps_relations(self, graph: ChatSetup) -> None:
        """A scan finds the similar names; merging re-points the duplicate's relations to the kept
        entity, with no relation doubled and none between the two, and deletes the duplicate."""
        async with graph.admin() as http:
            keep = await _put(http, "Kubernetes cluster", "system",
                              relations=[{"relation_type": "runs_on", "target_name": "AWS"}])  # fmt: skip
            dup = await _put(http, "Kubernetes clusters", "system", relations=[
                {"relation_type": "runs_on", "target_name": "AWS"},
                {"relation_type": "hosts", "target_name": "Billing API"},
                {"relation_type": "manages", "target_name": "Ops team", "direction": "in"},
                {"relation_type": "same_as", "target_id": keep["id"]}])  # fmt: skip
            await _put(http, "Kubernetes clusters", "concept")  # another type: never a candidate
            scan = await _ok(await http.post(f"{KG}/dedup/scan", json={}))
            listed = await _ok(await http.get(f"{KG}/dedup"))
            merged = await _ok(
                await http.post(f"{KG}/merge", json={"target_id": keep["id"], "source_ids": [dup["id"]]})
            )
            gone = await http.get(f"{KG}/entities/{dup['id']}")
            after = await _ok(await http.get(f"{KG}/dedup"))
            stats = await _ok(await http.get(f"{KG}/stats"))
        assert scan["name_pairs"] == 1
        assert scan["pending"] == 1
        [pair] = listed["candidates"]
        assert {pair["entity_a_id"], pair["entity_b_id"]} == {keep["id"], dup["id"]}
        assert pair["reason"] == "name"
        assert pair["status"] == "pending"
        assert merged["merged"] == 1
        assert _rels(merged["entity"]) == [
            ("Kubernetes cluster", "hosts", "Billing API"), ("Kubernetes cluster", "runs_on", "AWS"),
            ("Ops team", "manages", "Kubernetes cluster"),
        ]  # fmt: skip
        assert_error(gone, 404, "NOT_FOUND")
        assert after["candidates"] == []
        assert stats["relation_count"] == 3

    async def test_embedding_pairs_and_dismiss(self, graph: ChatSetup) -> None:
        """Entities with near vectors pair up by embedding; a dismissed pair stays dismissed when
        scanned again."""
        words = "largest city of the united states on the east coast"
        async with graph.admin() as http:
            await _put(http, "NYC", "place", description=words)
            await _put(http, "New York", "place", description=words)
            scan = await _ok(await http.post(f"{KG}/dedup/scan", json={"threshold": 0.8}))
            [pair] = (await _ok(await http.get(f"{KG}/dedup")))["candidates"]
            await _ok(await http.post(f"{KG}/dedup/dismiss", json={"candidate_id": pair["id"]}))
            again = await http.post(f"{KG}/dedup/dismiss", json={"candidate_id": str(uuid.uuid4())})
            rescan = await _ok(await http.post(f"{KG}/dedup/scan", json={"threshold": 0.8}))
            pending = await _ok(await http.get(f"{KG}/dedup"))
            dismissed = await _ok(await http.get(f"{KG}/dedup", params={"status": "dismissed"}))
        assert scan["embedding_pairs"] == 1
        assert pair["reason"] == "embedding"
        assert pair["similarity"] >= 0.8
        assert_error(again, 404, "NOT_FOUND")
        assert rescan["pending"] == 0
        assert pending["candidates"] == []
        assert [c["id"] for c in dismissed["candidates"]] == [pair["id"]]

    async def test_concurrent_merges_and_upserts_are_decided_in_postgres(self, graph: ChatSetup) -> None:
        """Two merges of one entity into two others at once: one wins with its relations, the other
        finds it gone; ten simultaneous upserts of one name and type make one entity."""
        async with graph.admin() as http:
            source = await _put(http, "Source", relations=[{"relation_type": "knows", "target_name": "Zed"}])
            one, two = await _put(http, "Target one"), await _put(http, "Target two")
            merges = await asyncio.gather(*(
                http.post(f"{KG}/merge", json={"target_id": t["id"], "source_id": source["id"]}) for t in (one, two)
            ))  # fmt: skip
            upserts = await asyncio.gather(*(
                http.post(f"{KG}/entities", json={"name": "Same", "entity_type": "person", "description": f"v{i}"})
                for i in range(10)
            ))  # fmt: skip
            listed = await _ok(await http.get(f"{KG}/entities", params={"entity_type": "person"}))
        assert sorted(m.status_code for m in merges) == [200, 404]
        won = next(m.json() for m in merges if m.status_code == 200)
        assert [(r["relation_type"], r["target_name"]) for r in won["entity"]["relations"]] == [
            ("knows", "Zed")
        ]
        assert {u.status_code for u in upserts} == {200}
        assert len({u.json()["id"] for u in upserts}) == 1
        assert [e["name"] for e in listed["entities"]].count("Same") == 1

    async def test_merge_across_agents_is_impossible(self, graph: ChatSetup) -> None:
        """An entity of another agent is not found for a merge (nor as a relation target), and
        nothing changes; merging an entity into itself or with no source is a 400."""
        await graph.add_agent(agent_key="other")
        async with graph.admin() as http:
            mine = await _put(http, "Shared name")
            res = await http.post(
                "/v1/agents/other/kg/entities", json={"name": "Shared name", "entity_type": "person"}
            )
            theirs = await _ok(res)
            cross = await http.post(f"{KG}/merge", json={"target_id": mine["id"], "source_id": theirs["id"]})
            cross_back = await http.post("/v1/agents/other/kg/merge", json={"target_id": theirs["id"],
                                                                               "source_id": mine["id"]})  # fmt: skip
            link = await http.post(f"{KG}/entities", json={"name": "Shared name", "entity_type": "person",
                                   "relations": [{"relation_type": "knows", "target_id": theirs["id"]}]})  # fmt: skip
            itself = await http.post(f"{KG}/merge", json={"target_id": mine["id"], "source_id": mine["id"]})
            nothing = await http.post(f"{KG}/merge", json={"target_id": mine["id"]})
            still = await _ok(await http.get(f"/v1/agents/other/kg/entities/{theirs['id']}"))
        assert_error(cross, 404, "NOT_FOUND")
        assert_error(cross_back, 404, "NOT_FOUND")
        assert_error(link, 404, "NOT_FOUND")
        assert_error(itself, 400, "INVALID_REQUEST")
        assert_error(nothing, 400, "INVALID_REQUEST")
        assert still["name"] == "Shared name"

    async def test_merge_across_tenants_is_impossible(self, graph: ChatSetup) -> None:
        """Tenant B's agent of the same key cannot merge, link or read tenant A's entity by id."""
        async with graph.admin() as http:
            tenant = await _ok(
                await http.post("/v1/tenants", json={"name": "Tenant B", "slug": "tenant-b"}), 201
            )
            mine = await _put(http, "Mine")
        async with graph.server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner",
                                                              "X-GoClaw-Tenant-Id": tenant["id"]}) as b:  # fmt: skip
            await _ok(
                await b.post("/v1/providers", json={"name": "up", "api_base": graph.upstream.base_url}), 201
            )
            await _ok(
                await b.post("/v1/agents", json={"agent_key": "helper", "provider": "up", "model": "m"}), 201
            )
            theirs = await _put(b, "Theirs")
            merge = await b.post(f"{KG}/merge", json={"target_id": theirs["id"], "source_id": mine["id"]})
            link = await b.post(f"{KG}/entities", json={"name": "Theirs", "entity_type": "person",
                                "relations": [{"relation_type": "knows", "target_id": mine["id"]}]})  # fmt: skip
            read = await b.get(f"{KG}/entities/{mine['id']}")
        async with graph.admin() as http:
            back = await http.post(f"{KG}/merge", json={"target_id": mine["id"], "source_id": theirs["id"]})
            kept = await _ok(await http.get(f"{KG}/entities/{mine['id']}"))
        for res in (merge, link, read, back):
            assert_error(res, 404, "NOT_FOUND")
        assert kept["relations"] == []


class TestExtract:
    async def test_the_agents_model_draws_the_graph(self, graph: ChatSetup) -> None:
        """The agent's model is asked for JSON; its entities and relations (fenced, with prose
        around) are stored, a relation to an entity it did not list is dropped."""
        answer = {
            "entities": [{"name": "Marie Curie", "type": "Person", "description": "physicist"},
                         {"name": "Radium", "type": "element"}, {"name": "  ", "type": "x"}],
            "relations": [{"source": "Marie Curie", "target": "Radium", "type": "discovered"},
                          {"source": "Marie Curie", "target": "Nobel Prize", "type": "won"}],
        }  # fmt: skip
        graph.upstream.script(Reply(content="Here it is:\n```json\n" + json.dumps(answer) + "\n```"))
        async with graph.admin() as http:
            got = await _ok(await http.post(f"{KG}/extract", json={"text": "Marie Curie discovered radium."}))
            listed = await _ok(await http.get(f"{KG}/entities"))
        asked = graph.upstream.turns[-1]
        assert asked["model"] == "model-a"
        assert "JSON" in asked["messages"][0]["content"]
        assert asked["messages"][-1]["content"] == "Marie Curie discovered radium."
        assert sorted((e["name"], e["entity_type"]) for e in got["entities"]) == [
            ("Marie Curie", "person"), ("Radium", "element"),
        ]  # fmt: skip
        assert [(r["source_name"], r["relation_type"], r["target_name"]) for r in got["relations"]] == [
            ("Marie Curie", "discovered", "Radium"),
        ]  # fmt: skip
        assert got["entity_count"] == 2
        assert sorted(e["name"] for e in listed["entities"]) == ["Marie Curie", "Radium"]

    async def test_an_answer_that_is_not_the_json_asked_for_is_a_502(self, graph: ChatSetup) -> None:
        """Prose, or JSON of another shape, stores nothing and says the model failed."""
        graph.upstream.script(
            Reply(content="I cannot help with that."), Reply(content='{"entities": "many"}')
        )
        async with graph.admin() as http:
            prose = await http.post(f"{KG}/extract", json={"text": "Some text."})
            shape = await http.post(f"{KG}/extract", json={"text": "Some text."})
            empty = await http.post(f"{KG}/extract", json={"text": "  "})
            listed = await _ok(await http.get(f"{KG}/entities"))
        assert prose.status_code == 502, prose.text
        assert shape.status_code == 502, shape.text
        assert_error(empty, 400, "INVALID_REQUEST")
        assert listed["entities"] == []


class TestUsers:
    async def test_a_users_entities_are_theirs(self, graph: ChatSetup) -> None:
        """Below admin, a user writes their own entities (``user_id``: their own only) and sees
        those and the shared ones; another user neither lists, reads, traverses into, merges nor
        deletes them."""
        key = await graph.user_key()
        async with graph.admin() as http:
            shared = await _put(http, "Office")
        async with with_key(graph.server, key, **{"X-GoClaw-User-Id": "alice"}) as alice:
            secret = await _put(
                alice,
                "Alice's doctor",
                user_id="alice",
                relations=[{"relation_type": "near", "target_id": shared["id"]}],
            )
            named = await alice.post(f"{KG}/entities", json={"name": "X", "user_id": "bob"})
        async with with_key(graph.server, key, **{"X-GoClaw-User-Id": "bob"}) as bob:
            listed = await _ok(await bob.get(f"{KG}/entities"))
            found = await _ok(await bob.get(f"{KG}/entities", params={"q": "doctor"}))
            read = await bob.get(f"{KG}/entities/{secret['id']}")
            walked = await _ok(await bob.post(f"{KG}/traverse", json={"entity_id": shared["id"]}))
            into = await bob.post(f"{KG}/traverse", json={"entity_id": secret["id"]})
            office = await _ok(await bob.get(f"{KG}/entities/{shared['id']}"))
            rewritten = await _put(bob, "Office", description="the shared office")
            delete = await bob.delete(f"{KG}/entities/{secret['id']}")
            merge = await bob.post(f"{KG}/merge", json={"target_id": shared["id"], "source_id": secret["id"]})
            stats = await _ok(await bob.get(f"{KG}/stats"))
            graph_view = await _ok(await bob.get(f"{KG}/graph"))
        async with graph.admin() as http:
            kept = await _ok(await http.get(f"{KG}/entities/{secret['id']}"))
        assert secret["user_id"] == "alice"
        assert_error(named, 403, "UNAUTHORIZED")
        assert [e["name"] for e in listed["entities"]] == ["Office"]
        assert found["entities"] == []
        assert_error(read, 404, "NOT_FOUND")
        assert walked["results"] == []
        assert_error(into, 404, "NOT_FOUND")
        assert office["relations"] == []
        assert rewritten["id"] == shared["id"]
        assert rewritten["relations"] == []  # alice's relation to it stays hers
        assert_error(delete, 404, "NOT_FOUND")
        assert_error(merge, 404, "NOT_FOUND")
        assert stats["entity_count"] == 1
        assert stats["relation_count"] == 0
        assert [n["name"] for n in graph_view["nodes"]] == ["Office"]
        assert kept["user_id"] == "alice"


class TestTools:
    async def test_kg_search_and_kg_traverse_in_a_run(self, graph: ChatSetup) -> None:
        """The model calls kg_search then kg_traverse; the results it gets back name the entities
        and the relation followed."""
        async with graph.admin() as http:
            await _put(http, "Alice", description="leads the infra team",
                       relations=[{"relation_type": "works_at", "target_name": "Acme", "target_type": "organization"}])  # fmt: skip
        graph.upstream.script(
            Reply(tool_calls=[("kg_search", json.dumps({"query": "infra team"}))]),
            Reply(tool_calls=[("kg_traverse", json.dumps({"entity": "Acme", "depth": 1}))]),
            Reply(content="Alice works at Acme."),
        )
        async with graph.admin() as http:
            res = await http.post("/v1/agents/helper/wake", json={"message": "Who leads infra?",
                                                                   "session_key": "agent:helper:kg"})  # fmt: skip
        answer = await _ok(res)
        results = [
            m["content"] for t in graph.upstream.turns for m in t["messages"] if m.get("role") == "tool"
        ]
        assert answer["content"] == "Alice works at Acme."
        assert "Alice [person]" in results[0]
        assert "-~works_at-> Alice" in results[-1]


class TestEmbedderDown:
    async def test_entities_are_kept_found_by_words_and_embedded_later(
        self, make_server: ServerFactory
    ) -> None:
        """With the embedding endpoint down an entity is stored and found by words; once it answers,
        the background indexer embeds it and search is hybrid again."""
        async with chat_setup(
            make_server, memory__embedding_provider="up", memory__embedding_model="stand-in-embed",
            memory__reindex_interval_seconds=0.2,
        ) as chat:  # fmt: skip
            chat.upstream.embeddings_down = True
            async with chat.admin() as http:
                stored = await _put(http, "Postgres", "technology", description="relational database")
                down = await _ok(await http.get(f"{KG}/entities", params={"q": "database"}))
                chat.upstream.embeddings_down = False
                got: dict[str, Any] = {}
                for _ in range(100):
                    got = await _ok(await http.get(f"{KG}/entities/{stored['id']}"))
                    if got["embedder"]:
                        break
                    await asyncio.sleep(0.05)
                up = await _ok(await http.get(f"{KG}/entities", params={"q": "database"}))
        assert stored["embedder"] == ""
        assert down["search_mode"] == "fulltext"
        assert [e["name"] for e in down["entities"]] == ["Postgres"]
        assert got["embedder"] == "up/stand-in-embed"
        assert up["search_mode"] == "hybrid"
        assert [e["name"] for e in up["entities"]] == ["Postgres"]

    async def test_a_runs_user_sees_only_their_own_and_shared_entities(self, graph: ChatSetup) -> None:
        """kg_search in bob's run does not find alice's entity; kg_traverse in it cannot start there."""
        async with graph.admin() as http:
            secret = await _put(http, "Alice's doctor", user_id="alice", description="cardiologist in Hue")
        graph.upstream.script(
            Reply(tool_calls=[("kg_search", json.dumps({"query": "cardiologist doctor"}))]),
            Reply(tool_calls=[("kg_traverse", json.dumps({"entity": secret["id"]}))]),
            Reply(content="I don't know."),
        )
        async with graph.admin("bob") as http:
            await _ok(await http.post("/v1/agents/helper/wake", json={"message": "Who is alice's doctor?",
                                                                       "session_key": "agent:helper:bob"}))  # fmt: skip
        results = [
            m["content"] for t in graph.upstream.turns for m in t["messages"] if m.get("role") == "tool"
        ]
        assert results[0] == "no entity matches"
        assert "not found" in results[-1]
        assert "cardiologist" not in " ".join(results)
