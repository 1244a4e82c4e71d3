"""ClawTasker's console API (``/api``, issue 14 build item 3) through a real server and httpx: CT's
``{error}`` envelope beside Mission Control's on ``/api/v1``, Bearer or ``write_token``, the write
limit across the database (429 with ``Retry-After``), the 160 KB body cap, the snapshot built from
the shared tables (an MC board is a CT project), the task transition table over HTTP, links, next,
events, the agent lifecycle, and the ``clawtasker`` SSE stream resumed with ``Last-Event-ID``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from structlog.testing import capture_logs

from tests.conftest import ServerFactory
from tests.support import GATEWAY_TOKEN, RunningServer, ws_connect


@pytest.fixture(name="server")
async def _server(unthrottled: RunningServer) -> RunningServer:
    """The gateway without its own per-IP limits: CT's write limit is what the tests meet."""
    return unthrottled


@pytest.fixture(name="ct")
async def _ct(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client(GATEWAY_TOKEN) as http:
        yield http


async def ok(res: httpx.Response) -> Any:
    assert res.status_code == 200, res.text
    body = res.json()
    assert body.get("ok", True) is True
    return body


def error(res: httpx.Response, status: int) -> str:
    """CT's envelope: exactly ``{"error": "<message>"}``."""
    assert res.status_code == status, res.text
    body = res.json()
    assert list(body) == ["error"], body
    assert isinstance(body["error"], str)
    return str(body["error"])


async def task(ct: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    out: dict[str, Any] = (await ok(await ct.post("/api/tasks/create", json={"title": "t", **fields})))[
        "task"
    ]
    return out


async def agent(ct: httpx.AsyncClient, key: str, **card: Any) -> dict[str, Any]:
    body = {"agent": {"id": key, "name": key.title(), "role": "Engineer", "skills": ["code"], **card}}
    out: dict[str, Any] = (await ok(await ct.post("/api/agents/register", json=body)))["agent"]
    return out


async def update(ct: httpx.AsyncClient, tid: str, **fields: Any) -> httpx.Response:
    return await ct.post("/api/tasks/update", json={"task": {"id": tid, **fields}})


class TestEnvelopeAndAuth:
    async def test_mc_keeps_detail_ct_gets_error(self, ct: httpx.AsyncClient) -> None:
        """``/api/v1`` answers MC's ``{detail, request_id}``; the rest of ``/api`` CT's ``{error}``."""
        mc = await ct.get("/api/v1/boards/not-a-uuid")
        assert set(mc.json()) >= {"detail", "request_id"}
        assert error(await ct.get("/api/no/such/route"), 404) == "Unknown API endpoint"
        assert (
            error(await ct.post("/api/tasks/update", json={"task": {"id": "T-999"}}), 400)
            == "unknown task: T-999"
        )

    async def test_write_needs_bearer_or_write_token(self, server: RunningServer) -> None:
        """No credential is 401 in CT's envelope; the body's ``write_token`` works as the Bearer does,
        a wrong one does not; the token never lands in the task."""
        async with server.client() as anon:
            error(await anon.post("/api/tasks/create", json={"title": "x"}), 401)
            error(await anon.post("/api/tasks/create", json={"title": "x", "write_token": "wrong"}), 401)
            made = await ok(
                await anon.post("/api/tasks/create", json={"title": "x", "write_token": GATEWAY_TOKEN})
            )
            assert made["task"]["id"].startswith("T-")
            assert GATEWAY_TOKEN not in json.dumps(made)
            error(await anon.get("/api/snapshot"), 401)
            assert (await ok(await anon.get("/api/health")))["state_source"] == "postgres"

    async def test_health_counts_with_a_credential(
        self, server: RunningServer, ct: httpx.AsyncClient
    ) -> None:
        """Public health has no counts; with a credential it counts the tenant's live agents and
        tasks as the snapshot lists them (a deleted agent is not counted)."""
        await agent(ct, "codex")
        await agent(ct, "pixel")
        await agent(ct, "gone")
        await ok(await ct.post("/api/agents/delete", json={"agent_id": "gone"}))
        for n in range(3):
            await task(ct, title=f"h{n}")
        async with server.client() as anon:
            public = await ok(await anon.get("/api/health"))
        assert "agents" not in public
        assert "tasks" not in public
        health = await ok(await ct.get("/api/health"))
        snap = await ok(await ct.get("/api/snapshot"))
        assert (health["agents"], health["tasks"]) == (len(snap["agents"]), len(snap["tasks"]))
        assert health["tasks"] == 3

    async def test_write_bodies_are_documented(self, ct: httpx.AsyncClient) -> None:
        """Every CT write has its request body in the OpenAPI document (with ``write_token``, CT's
        enums, nested or flat), and ``/api/schema/{name}`` serves the same type; the bodies stay
        CT's to parse (CT's messages, any content type)."""
        spec = (await ct.get("/v1/openapi.json")).json()
        schemas = spec["components"]["schemas"]

        def body(path: str) -> dict[str, Any]:
            op = spec["paths"][path]["post"]
            assert "415" not in op["responses"]
            found: dict[str, Any] = schemas[op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                                            .rsplit("/", 1)[1]]  # fmt: skip
            return found

        writes = [p for p, ops in spec["paths"].items() if p.startswith("/api/") and not p.startswith("/api/v1/")
                  and "post" in ops]  # fmt: skip
        assert len(writes) == 32
        assert all("write_token" in body(p)["properties"] for p in writes)
        create = body("/api/tasks/create")["properties"]
        assert {"title", "owner", "status", "depends_on", "task", "note"} <= set(create)
        statuses = next(v["enum"] for v in create["status"]["anyOf"] if "enum" in v)
        assert set(statuses) == {"backlog", "ready", "in_progress", "validation", "done"}
        link = body("/api/tasks/link")["properties"]["link_type"]["anyOf"][0]["enum"]
        assert set(link) == {"relates-to", "duplicates", "blocks", "is-blocked-by", "parent-of", "child-of"}
        served = await ok(await ct.get("/api/schema/task"))
        assert served["title"] == "task"
        assert set(served["properties"]) == set(create)
        assert set((await ok(await ct.get("/api/schema/heartbeat")))["properties"]) == set(
            body("/api/agents/heartbeat")["properties"]
        )
        contract = await ok(await ct.get("/api/openclaw/contract"))
        assert "/api/schema/task" in contract["schemas"]
        form = await ct.post("/api/tasks/create", content=b'{"title": "as a form"}',
                             headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
        assert (await ok(form))["task"]["title"] == "as a form"

    async def test_system_recovery_and_version(self, server: RunningServer, ct: httpx.AsyncClient) -> None:
        """``/api/system/recovery`` is public (PostgreSQL's state: nothing to recover);
        ``/api/system/version`` needs the Bearer, as CT's."""
        async with server.client() as anon:
            state = await ok(await anon.get("/api/system/recovery"))
            error(await anon.get("/api/system/version"), 401)
        assert (state["state_source"], state["backup_chain"], state["restart_safe"]) == ("postgres", 0, True)
        assert state["last_recovered_from"] is None
        version = await ok(await ct.get("/api/system/version"))
        assert (version["version"], version["gateway"]) == ("1.5.0-clawgate", "clawgate")

    async def test_bad_json_and_wrong_types(self, ct: httpx.AsyncClient) -> None:
        """Malformed JSON, a non-object body and a wrongly typed field are 400 with a message."""
        res = await ct.post(
            "/api/tasks/create", content=b"{nope", headers={"content-type": "application/json"}
        )
        assert error(res, 400).startswith("Invalid JSON payload")
        error(await ct.post("/api/tasks/create", json=[1, 2]), 400)
        assert error(await ct.post("/api/tasks/create", json={"title": ["a"]}), 400) == "title must be text"
        assert error(await ct.post("/api/tasks/create", json={}), 400) == "title is required"
        nul = {"title": "x", "acceptance_criteria": ["a\u0000b"]}
        assert "NUL" in error(await ct.post("/api/tasks/create", json=nul), 400)
        assert "NUL" in error(
            await ct.post("/api/org/configure", json={"ui_settings": {"k": "a\u0000"}}), 400
        )
        assert "priority" in error(
            await ct.post("/api/tasks/create", json={"title": "x", "priority": "P9"}), 400
        )

    async def test_oversized_body_413(self, ct: httpx.AsyncClient) -> None:
        """A body past 160 KB is 413 in CT's envelope; one just under is accepted."""
        big = {"title": "big", "description": "x" * (170 * 1024)}
        assert "163840" in error(await ct.post("/api/tasks/create", json=big), 413)
        fits = {"title": "fits", "description": "x" * (150 * 1024)}
        assert len((await task(ct, **fits))["description"]) == 500  # CT cuts texts, with "…"

    async def test_write_flood_429_with_retry_after(self, server: RunningServer) -> None:
        """30 writes a minute per IP pass; the 31st is 429 with ``Retry-After``; another IP and
        reads are not counted. The window lives in PostgreSQL."""
        async with server.client(GATEWAY_TOKEN, **{"X-Real-IP": "10.9.9.9"}) as flood:
            for n in range(30):
                assert (await flood.post("/api/tasks/create", json={"title": f"t{n}"})).status_code == 200
            res = await flood.post("/api/tasks/create", json={"title": "one too many"})
            assert error(res, 429)
            assert 1 <= int(res.headers["retry-after"]) <= 60
            assert (await flood.get("/api/snapshot")).status_code == 200
        async with server.client(GATEWAY_TOKEN, **{"X-Real-IP": "10.9.9.10"}) as other:
            assert (await other.post("/api/tasks/create", json={"title": "other ip"})).status_code == 200
        async with server.client(**{"X-Real-IP": "10.9.9.9"}) as anon:  # unauthenticated: 401, not counted
            error(await anon.post("/api/tasks/create", json={"title": "x"}), 401)

    async def test_write_limit_holds_across_servers(
        self, server: RunningServer, make_server: ServerFactory
    ) -> None:
        """Two gateways on one database share the window: 40 concurrent writes of one IP, 20 to
        each, are 30 accepted and 10 refused in all."""
        other = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], rate_limits__per_ip_rpm=0,
            rate_limits__per_key_rpm=0,
        )  # fmt: skip
        ip = {"X-Real-IP": "10.7.7.7"}
        async with server.client(GATEWAY_TOKEN, **ip) as one, other.client(GATEWAY_TOKEN, **ip) as two:
            answers = await asyncio.gather(
                *(
                    http.post("/api/tasks/create", json={"title": f"t{n}"})
                    for n in range(20)
                    for http in (one, two)
                )
            )
        assert sorted(r.status_code for r in answers) == [200] * 30 + [429] * 10


class TestTasks:
    async def test_walk_the_transition_table(self, ct: httpx.AsyncClient) -> None:
        """backlog -> ready -> in_progress -> validation -> done, with progress forced; a skipped
        step, an unknown status and a blocked task entering validation are 400."""
        t = await task(ct, priority="P0", labels=["a", "a", "b"])
        assert (t["status"], t["priority"], t["labels"], t["validation_owner"]) == (
            "backlog",
            "P0",
            ["a", "b"],
            "ceo",
        )
        assert (
            error(await update(ct, t["id"], status="in_progress"), 400)
            == "invalid transition: backlog -> in_progress"
        )
        assert "invalid status" in error(await update(ct, t["id"], status="review"), 400)
        for status in ("ready", "in_progress"):
            assert (await ok(await update(ct, t["id"], status=status)))["task"]["status"] == status
        await ok(await update(ct, t["id"], blocked=True))
        assert "blocked task" in error(await update(ct, t["id"], status="validation"), 400)
        await ok(await update(ct, t["id"], blocked=False))
        moved = (await ok(await update(ct, t["id"], status="validation", progress=10)))["task"]
        assert (moved["status"], moved["progress"]) == ("validation", 80)
        done = (await ok(await ct.post("/api/tasks/update", json={"id": t["id"], "status": "done"})))["task"]
        assert (done["status"], done["progress"]) == ("done", 100)
        assert "done task cannot be blocked" in error(await update(ct, t["id"], blocked=True), 400)

    async def test_unknown_ids_and_actors(self, ct: httpx.AsyncClient) -> None:
        """Unknown task ids, owners, projects and dependencies are 400 naming them."""
        t = await task(ct)
        assert error(await update(ct, "T-424242", status="ready"), 400) == "unknown task: T-424242"
        assert error(await update(ct, "bogus"), 400) == "unknown task: bogus"
        assert error(await update(ct, t["id"], owner="nobody"), 400) == "unknown owner: nobody"
        assert error(await ct.post("/api/tasks/create", json={"title": "x", "project_id": "nope"}), 400) == (
            "unknown project: nope"
        )
        assert error(await update(ct, t["id"], depends_on=["T-999"]), 400) == "unknown dependency: T-999"
        assert (
            error(await ct.post("/api/tasks/delete", json={"task_id": "T-999"}), 400) == "unknown task: T-999"
        )

    async def test_links_dependencies_and_cycles(self, ct: httpx.AsyncClient) -> None:
        """``blocks`` reads from both ends and becomes a dependency; a cycle, a self-link and a
        duplicate are 400."""
        a, b = await task(ct, title="a"), await task(ct, title="b")
        res = await ok(await ct.post("/api/tasks/link", json={"source_id": a["id"], "target_id": b["id"],
                                                              "link_type": "blocks"}))  # fmt: skip
        assert res["symmetric_type"] == "is-blocked-by"
        snap = await ok(await ct.get("/api/snapshot"))
        by_id = {t["id"]: t for t in snap["tasks"]}
        assert {"type": "blocks", "target_id": b["id"]} in by_id[a["id"]]["links"]
        assert by_id[b["id"]]["depends_on"] == [a["id"]]
        assert by_id[b["id"]]["has_unresolved_blockers"] is True
        assert "link already exists" in error(
            await ct.post("/api/tasks/link", json={"source_id": a["id"], "target_id": b["id"], "link_type": "blocks"}),
            400,
        )  # fmt: skip
        assert "circular dependency" in error(await update(ct, a["id"], depends_on=[b["id"]]), 400)
        assert error(
            await ct.post("/api/tasks/link", json={"source_id": a["id"], "target_id": a["id"]}), 400
        ) == ("cannot link a task to itself")
        assert "invalid link_type" in error(
            await ct.post("/api/tasks/link", json={"source_id": a["id"], "target_id": b["id"], "link_type": "eats"}),
            400,
        )  # fmt: skip

    async def test_next_event_and_comment(self, ct: httpx.AsyncClient) -> None:
        """``next`` picks the owner's ready task with no open blocker, P0 first; ``event started``
        moves it and comments as the agent; an unknown owner is 400."""
        await agent(ct, "codex")
        low = await task(ct, owner="codex", status="ready", priority="P2")
        high = await task(ct, owner="codex", status="ready", priority="P0")
        await task(ct, owner="codex", status="backlog", priority="P0")
        got = await ok(await ct.get("/api/tasks/next", params={"owner": "codex"}))
        assert got["task"]["id"] == high["id"]
        error(await ct.get("/api/tasks/next", params={"owner": "ghost"}), 400)
        ev = await ok(await ct.post("/api/tasks/event", json={"type": "started", "task_id": high["id"],
                                                              "agent_id": "codex"}))  # fmt: skip
        assert ev["task"]["status"] == "in_progress"
        assert ev["task"]["comments"][-1]["author"] == "codex"
        codex = next(a for a in (await ok(await ct.get("/api/snapshot")))["agents"] if a["id"] == "codex")
        assert (codex["status"], codex["current_task_id"]) == ("working", high["id"])  # assignment sync
        await ok(await update(ct, high["id"], status="ready"))
        codex = next(a for a in (await ok(await ct.get("/api/snapshot")))["agents"] if a["id"] == "codex")
        assert (codex["status"], codex["current_task_id"]) == ("idle", None)
        await ok(await update(ct, high["id"], status="in_progress"))
        assert (await ok(await ct.get("/api/tasks/next", params={"owner": "codex"})))["task"]["id"] == low[
            "id"
        ]
        error(
            await ct.post(
                "/api/tasks/event", json={"type": "done", "task_id": high["id"], "agent_id": "codex"}
            ),
            400,
        )
        c = await ok(
            await ct.post("/api/tasks/comment", json={"task_id": low["id"], "text": "hi", "author": "codex"})
        )
        assert c["comment"]["text"] == "hi"
        deleted = await ok(await ct.post("/api/tasks/delete", json={"task_id": low["id"]}))
        assert deleted["task_id"] == low["id"]

    async def test_mc_board_is_a_ct_project(self, ct: httpx.AsyncClient) -> None:
        """A board made on Mission Control lists as a CT project, and a CT task created on it lists
        on the board with MC's status."""
        board = (await ct.post("/api/v1/boards", json={"name": "Launch", "description": "d"})).json()
        made = await task(ct, project_id=board["id"], title="from ct")
        snap = await ok(await ct.get("/api/snapshot"))
        assert board["id"] in [p["id"] for p in snap["projects"]]
        assert made["project_id"] == board["id"]
        listed = (await ct.get(f"/api/v1/boards/{board['id']}/tasks")).json()
        assert [t["title"] for t in listed["items"]] == ["from ct"]
        assert listed["items"][0]["status"] == "inbox"


class TestAgents:
    async def test_register_heartbeat_update(self, ct: httpx.AsyncClient, server: RunningServer) -> None:
        """Register makes a ClawGate agent (listed on ``/v1/agents``); a heartbeat sets presence and
        the current task; update changes only what is sent; bad input is 400."""
        a = await agent(ct, "codex", manager="orion")
        assert (a["id"], a["status"], a["derived_status"]) == ("codex", "idle", "offline")
        again = await ok(await ct.post("/api/agents/register", json={"agent": {
            "id": "codex", "name": "Codex", "role": "Lead", "skills": ["code"]}}))  # fmt: skip
        assert again["registration"]["operation"] == "updated"
        keys = [x["agent_key"] for x in (await ct.get("/v1/agents")).json()["agents"]]
        assert "codex" in keys
        t = await task(ct, owner="codex")
        hb = await ok(await ct.post("/api/agents/heartbeat", json={"agent": {
            "id": "codex", "status": "working", "current_task_id": t["id"],
            "metadata": {"doing_summary": "filters"}}}))  # fmt: skip
        assert (hb["agent"]["derived_status"], hb["agent"]["current_task_id"]) == ("working", t["id"])
        assert hb["agent"]["doing_summary"] == "filters"
        up = await ok(await ct.post("/api/agents/update", json={"agent_id": "codex", "note": "busy"}))
        assert (up["agent"]["note"], up["agent"]["manager"]) == ("busy", "orion")
        error(await ct.post("/api/agents/heartbeat", json={"agent": {"id": "ghost"}}), 400)
        error(
            await ct.post("/api/agents/heartbeat", json={"agent": {"id": "codex", "status": "dancing"}}), 400
        )
        error(await ct.post("/api/agents/register", json={"agent": {"name": "NoSkills", "role": "x"}}), 400)
        error(await ct.post("/api/agents/register", json={"agent": {"id": "ceo", "name": "C", "role": "x",
                                                                     "skills": ["a"]}}), 400)  # fmt: skip

    async def test_racing_registrations_one_agent(self, ct: httpx.AsyncClient) -> None:
        """Ten concurrent registrations of one id make one agent (one registered, the rest updated),
        never a 500; ten concurrent sprint creations get ten keys."""
        body = {"agent": {"id": "twin", "name": "Twin", "role": "r", "skills": ["s"]}}
        answers = await asyncio.gather(*(ct.post("/api/agents/register", json=body) for _ in range(10)))
        assert [r.status_code for r in answers] == [200] * 10
        operations = sorted(r.json()["registration"]["operation"] for r in answers)
        assert operations == ["registered"] + ["updated"] * 9
        sprints = await asyncio.gather(
            *(ct.post("/api/sprints/create", json={"name": f"s{n}"}) for n in range(10))
        )
        assert sorted(r.json()["sprint"]["id"] for r in sprints) == [f"SPR-{n:03d}" for n in range(1, 11)]

    async def test_lifecycle(self, ct: httpx.AsyncClient) -> None:
        """Retire hands open work to the successor; merge unites skills; decommission unassigns;
        delete removes the agent but not the chief."""
        for key in ("echo", "nova", "pixel", "orion"):
            await agent(ct, key, skills=[key])
        t1 = await task(ct, owner="echo", status="ready")
        r = await ok(await ct.post("/api/agents/retire", json={"agent_id": "echo", "successor_id": "nova"}))
        assert r["tasks_transferred"] == [t1["id"]]
        snap = await ok(await ct.get("/api/snapshot"))
        assert {t["id"]: t["owner"] for t in snap["tasks"]}[t1["id"]] == "nova"
        m = await ok(
            await ct.post("/api/agents/merge", json={"source_agent_id": "nova", "target_agent_id": "pixel"})
        )
        assert m["tasks_transferred"] == [t1["id"]]
        d = await ok(
            await ct.post("/api/agents/decommission", json={"agent_id": "pixel", "reason": "paused"})
        )
        assert d["tasks_unassigned"] == [t1["id"]]
        rep = await ok(
            await ct.post("/api/agents/replace", json={"old_agent_id": "pixel", "new_agent_id": "nova"})
        )
        assert rep["new_agent_id"] == "nova"
        error(
            await ct.post("/api/agents/merge", json={"source_agent_id": "nova", "target_agent_id": "nova"}),
            400,
        )
        error(await ct.post("/api/agents/delete", json={"agent_id": "orion"}), 400)  # the chief
        assert (await ok(await ct.post("/api/agents/delete", json={"agent_id": "pixel"})))[
            "deleted"
        ] == "pixel"
        error(await ct.post("/api/agents/update", json={"agent_id": "pixel"}), 400)
        synced = await ok(await ct.post("/api/agents/sync", json={"agents": [
            {"id": "a1", "name": "A1", "role": "r", "skills": ["s"]}, {"name": "broken"}]}))  # fmt: skip
        assert synced["agents_synced"] == ["a1"]
        assert len(synced["warnings"]) == 1


class TestPlanning:
    async def test_missions_sprints_projects(self, ct: httpx.AsyncClient) -> None:
        """A mission stamps its tasks and makes its child tasks; a sprint closes with its velocity
        and a ``sprint_ending`` notification, dismissed after; a project is configured, and
        deleted only without tasks; unknown keys are 400."""
        await ok(await ct.post("/api/projects/configure", json={"project_id": "atlas", "name": "Atlas",
                                                                "type": "software", "repo": "git@x"}))  # fmt: skip
        t = await task(ct, project_id="atlas", story_points=5)
        plan = await ok(await ct.post("/api/missions/plan", json={"mission": {
            "id": "m-1", "title": "Launch", "task_ids": [t["id"]], "project_ids": ["atlas"],
            "tasks": [{"title": "child", "project_id": "atlas"}], "risks": [{"title": "r"}]}}))  # fmt: skip
        assert plan["operation"] == "created"
        assert len(plan["mission"]["task_ids"]) == 2
        assert t["id"] in plan["mission"]["task_ids"]
        again = await ok(
            await ct.post("/api/missions/plan", json={"mission": {"id": "m-1", "title": "Launch 2"}})
        )
        assert again["operation"] == "updated"
        sprint = (await ok(await ct.post("/api/sprints/create", json={"name": "S1", "project_id": "atlas",
                                                                      "start_date": "2026-12-01"})))["sprint"]  # fmt: skip
        assert sprint["id"] == "SPR-001"
        await ok(await update(ct, t["id"], sprint_id="SPR-001"))
        for status in ("ready", "in_progress", "validation", "done"):
            await ok(await update(ct, t["id"], status=status))
        closed = await ok(
            await ct.post("/api/sprints/update", json={"sprint_id": "SPR-001", "status": "closed"})
        )
        assert (closed["sprint"]["status"], closed["sprint"]["velocity"]) == ("closed", 5)
        snap = await ok(await ct.get("/api/snapshot"))
        assert [n["kind"] for n in snap["notifications"]] == ["sprint_ending"]
        assert {m["id"] for m in snap["missions"]} == {"m-1"}
        dismissed = await ok(await ct.post("/api/notifications/dismiss", json={"all": True}))
        assert dismissed["dismissed"] == 1
        assert "has tasks" in error(await ct.post("/api/projects/delete", json={"project_id": "atlas"}), 400)
        error(await ct.post("/api/projects/delete", json={"project_id": "ceo-console"}), 400)
        await ok(await ct.post("/api/missions/delete", json={"mission_id": "m-1"}))
        error(await ct.post("/api/missions/delete", json={"mission_id": "m-1"}), 400)
        await ok(await ct.post("/api/sprints/delete", json={"sprint_id": "SPR-001"}))
        error(await ct.post("/api/sprints/update", json={"sprint_id": "SPR-001"}), 400)
        error(await ct.post("/api/sprints/create", json={"name": "x", "start_date": "someday"}), 400)

    async def test_conversations_directives_org_and_resets(self, ct: httpx.AsyncClient) -> None:
        """A message lands in its thread; a directive is stored (listed in the snapshot) with its
        backlog task; org configure names the chief; bootstrap and demo reset rebuild; blank reset
        empties CT's data but leaves a Mission Control board."""
        await agent(ct, "pixel")
        msg = await ok(await ct.post("/api/conversations/message", json={
            "participants": ["ceo", "pixel"], "sender": "ceo", "text": "hello", "category": "discussion"}))  # fmt: skip
        d = await ok(
            await ct.post("/api/ceo/directive", json={"target": "pixel", "text": "polish the canvas"})
        )
        assert d["directive"]["status"] == "queued"
        snap = await ok(await ct.get("/api/snapshot"))
        assert [x["text"] for x in snap["directives"]] == ["polish the canvas"]
        assert {t["title"]: t["owner"] for t in snap["tasks"]}["polish the canvas"] == "pixel"
        thread = next(c for c in snap["conversations"] if c["id"] == msg["thread"]["id"])
        assert [m["text"] for m in thread["messages"]] == [
            "hello",
            "polish the canvas",
        ]  # the CEO-pixel thread
        error(await ct.post("/api/conversations/message", json={"thread_id": "TH-NONE", "text": "x"}), 400)
        error(await ct.post("/api/org/configure", json={"chief_agent_id": "ghost"}), 400)
        org = await ok(
            await ct.post("/api/org/configure", json={"chief_agent_id": "pixel", "company_name": "Acme"})
        )
        assert (org["company"]["name"], org["sync_contract"]["chief_agent"]) == ("Acme", "pixel")
        run = await ok(
            await ct.post(
                "/api/runs/publish", json={"agent_id": "pixel", "title": "pass", "outcome": "working"}
            )
        )
        assert run["run"]["outcome"] == "working"
        board = (await ct.post("/api/v1/boards", json={"name": "Keep", "description": "d"})).json()
        boot = await ok(await ct.post("/api/org/bootstrap", json={
            "company_name": "Boot", "projects": [{"project_id": "p1", "name": "P1"}],
            "agents": [{"id": "orion", "name": "Orion", "role": "Chief", "skills": ["plan"]}, {"name": "bad"}]}))  # fmt: skip
        assert (boot["projects"], boot["agents_registered"], len(boot["warnings"])) == (
            ["ceo-console", "p1"],
            ["orion"],
            1,
        )
        snap = await ok(await ct.get("/api/snapshot"))
        assert (snap["company"]["name"], snap["tasks"], snap["directives"]) == ("Boot", [], [])
        assert board["id"] in [p["id"] for p in snap["projects"]]
        demo = await ok(await ct.post("/api/demo/reset", json={}))
        assert demo["mode"] == "demo"
        assert len((await ok(await ct.get("/api/snapshot")))["tasks"]) == 2
        await ok(await ct.post("/api/blank/reset", json={}))
        snap = await ok(await ct.get("/api/snapshot"))
        assert snap["tasks"] == []
        assert [p["id"] for p in snap["projects"]] == [board["id"]]


async def _frames(res: httpx.Response, count: int) -> list[tuple[int, dict[str, Any]]]:
    out: list[tuple[int, dict[str, Any]]] = []
    seq, event = 0, ""
    async for line in res.aiter_lines():
        if line.startswith("id: "):
            seq = int(line[4:])
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            assert event == "clawtasker"
            out.append((seq, json.loads(line[6:])))
            if len(out) == count:
                return out
    return out


class TestSnapshotKept:
    """The snapshot's task list is rendered once per change of the log and kept per process; these
    are the ways a kept rendering could go out of date."""

    @staticmethod
    async def titles(ct: httpx.AsyncClient) -> dict[str, str]:
        body = await ok(await ct.get("/api/snapshot"))
        return {t["id"]: t["title"] for t in body["tasks"]}

    async def test_change_through_another_process(
        self, server: RunningServer, ct: httpx.AsyncClient, make_server: ServerFactory
    ) -> None:
        """A change made through a second gateway on the database is in the next snapshot of the
        first, as are its task counts."""
        other = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        made = await task(ct, title="before")
        assert (await self.titles(ct))[made["id"]] == "before"
        assert (await self.titles(ct))[made["id"]] == "before"  # kept
        async with other.client(GATEWAY_TOKEN) as two:
            await ok(await update(two, made["id"], title="after"))
            await task(two, title="second")
        body = await ok(await ct.get("/api/snapshot"))
        assert {t["title"] for t in body["tasks"]} == {"after", "second"}
        assert body["metrics"]["tasks_total"] == 2

    async def test_late_commit_with_a_smaller_seq(self, server: RunningServer, ct: httpx.AsyncClient) -> None:
        """A writer whose event took its seq before a later one but commits after the snapshot was
        rendered (a slow transaction) is still seen: the kept rendering is checked against the
        transactions that were open when it was read, not only against the newest seq."""
        made = await task(ct, title="one")
        conn = await asyncpg.connect(server.settings.database.dsn)
        try:
            slow = conn.transaction()
            await slow.start()
            tenant = await conn.fetchval("SELECT tenant_id FROM tasks WHERE id = $1", UUID(made["uuid"]))
            await conn.execute("UPDATE tasks SET title = 'slow' WHERE id = $1", UUID(made["uuid"]))
            await conn.execute(
                "INSERT INTO coord_events (tenant_id, task_id, kind) VALUES ($1, $2, 'task.updated')",
                tenant, UUID(made["uuid"]),
            )  # fmt: skip
            await task(ct, title="two")  # commits a larger seq first
            assert sorted((await self.titles(ct)).values()) == ["one", "two"]
            await slow.commit()
        finally:
            await conn.close()
        assert (await self.titles(ct))[made["id"]] == "slow"

    async def test_task_turns_stale_while_kept(self, server: RunningServer, ct: httpx.AsyncClient) -> None:
        """A task 2 s short of CT's 3 days without an update reads ``stale: false``, and once they have
        passed ``stale: true``, with no write in between."""
        made = await task(ct, title="aging")
        conn = await asyncpg.connect(server.settings.database.dsn)
        try:
            await conn.execute(
                "UPDATE tasks SET updated_at = now() - interval '3 days' + interval '2 seconds' WHERE id = $1",
                UUID(made["uuid"]),
            )
        finally:
            await conn.close()

        async def stale() -> bool:
            found = [t for t in (await ok(await ct.get("/api/snapshot")))["tasks"] if t["id"] == made["id"]]
            return bool(found[0]["stale"])

        assert await stale() is False
        await asyncio.sleep(2.5)
        assert await stale() is True

    async def test_caught_up_equals_rendered_anew(
        self, server: RunningServer, ct: httpx.AsyncClient, make_server: ServerFactory
    ) -> None:
        """A snapshot read after every change (the kept board caught up task by task) is the same
        document as one rendered from scratch by a second process at the end: links from both ends,
        dependencies unblocked when their target is done, comments, a deleted linked task, a task
        moved through the transition table, heartbeats."""
        await agent(ct, "ada", validation_owner="ceo")
        a = await task(ct, title="a", owner="ada")
        b = await task(ct, title="b", depends_on=[a["id"]])
        assert (await ok(await ct.get("/api/snapshot")))["metrics"]["tasks_total"] == 2
        c = await task(ct, title="c")
        seen = [await ok(await ct.get("/api/snapshot"))]
        steps = [
            lambda: ct.post("/api/tasks/link", json={"source_id": c["id"], "target_id": b["id"], "link_type": "relates-to"}),
            lambda: ct.post("/api/tasks/comment", json={"task_id": b["id"], "author": "ada", "text": "on it"}),
            lambda: update(ct, a["id"], status="ready"),
            lambda: update(ct, a["id"], status="in_progress"),
            lambda: ct.post("/api/agents/heartbeat", json={"agent_id": "ada", "status": "working"}),
            lambda: update(ct, a["id"], status="validation", validation_owner="ceo"),
            lambda: update(ct, a["id"], status="done"),
            lambda: ct.post("/api/tasks/delete", json={"task_id": c["id"]}),
        ]  # fmt: skip
        for step in steps:
            await ok(await step())
            seen.append(await ok(await ct.get("/api/snapshot")))
        by_id = {t["id"]: t for t in seen[-1]["tasks"]}
        assert by_id[b["id"]]["has_unresolved_blockers"] is False
        assert by_id[b["id"]]["links"] == [{"type": "is-blocked-by", "target_id": a["id"]}]
        assert [x["text"] for x in by_id[b["id"]]["comments"]] == ["on it"]
        assert c["id"] not in by_id
        assert {t["id"]: t["has_unresolved_blockers"] for t in seen[3]["tasks"]}[b["id"]] is True
        linked = {t["id"]: t["links"] for t in seen[1]["tasks"]}
        assert {"type": "relates-to", "target_id": b["id"]} in linked[c["id"]]
        assert {"type": "relates-to", "target_id": c["id"]} in linked[b["id"]]
        other = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        async with other.client(GATEWAY_TOKEN) as two:
            anew = await ok(await two.get("/api/snapshot"))
        assert seen[-1]["tasks"] == anew["tasks"]
        assert seen[-1]["metrics"] == anew["metrics"]
        assert seen[-1]["agents"] == anew["agents"]

    async def test_owner_deleted_elsewhere(self, ct: httpx.AsyncClient) -> None:
        """An agent deleted through GoClaw's ``/v1/agents`` (no event on the board log) no longer
        shows as an owner: the keys a rendering shows are checked too."""
        await agent(ct, "zed")
        made = await task(ct, title="owned", owner="zed")
        owners = {t["id"]: t["owner"] for t in (await ok(await ct.get("/api/snapshot")))["tasks"]}
        assert owners[made["id"]] == "zed"
        assert (await ct.delete("/v1/agents/zed")).status_code == 200
        owners = {t["id"]: t["owner"] for t in (await ok(await ct.get("/api/snapshot")))["tasks"]}
        assert owners[made["id"]] == ""

    async def test_board_deleted_on_mission_control(
        self, server: RunningServer, ct: httpx.AsyncClient
    ) -> None:
        """A board deleted through Mission Control appends ``board.deleted`` to the log: the events
        stream's followers hear of it, and a kept snapshot drops its tasks and its project."""
        board = (await ct.post("/api/v1/boards", json={"name": "Doomed", "description": "d"})).json()
        made = await task(ct, project_id=board["id"], title="on the board")
        assert made["id"] in await self.titles(ct)
        async with (
            server.client(GATEWAY_TOKEN) as sse,
            sse.stream("GET", "/api/events/stream") as res,
        ):
            assert (await ct.delete(f"/api/v1/boards/{board['id']}")).status_code == 200
            (frame,) = await asyncio.wait_for(_frames(res, 1), 10)
        assert frame[1]["kind"] == "board.deleted"
        snap = await ok(await ct.get("/api/snapshot"))
        assert made["id"] not in {t["id"] for t in snap["tasks"]}
        assert board["id"] not in [p["id"] for p in snap["projects"]]


class TestStream:
    async def test_events_resume_with_last_event_id(
        self, server: RunningServer, ct: httpx.AsyncClient
    ) -> None:
        """Frames carry ``id:`` from the shared log and ``event: clawtasker``; a client that drops
        after the first resumes with ``Last-Event-ID`` and gets the rest, nothing lost."""
        async with (
            server.client(GATEWAY_TOKEN) as sse,
            sse.stream("GET", "/api/events/stream", params={"since": "2000-01-01"}) as res,
        ):
            assert res.headers["content-type"].startswith("text/event-stream")
            made = await task(ct, title="first")
            first = await asyncio.wait_for(_frames(res, 1), 10)
        assert first[0][1]["kind"] == "task.created"
        assert first[0][1]["id"] == first[0][0]
        await ok(await update(ct, made["id"], status="ready"))
        await task(ct, title="second")
        async with (
            server.client(GATEWAY_TOKEN, **{"Last-Event-ID": str(first[0][0])}) as sse,
            sse.stream("GET", "/api/events/stream") as res,
        ):
            rest = await asyncio.wait_for(_frames(res, 2), 10)
        assert [f[1]["kind"] for f in rest] == ["task.status_changed", "task.created"]
        assert rest[0][0] > first[0][0]

    async def test_browser_eventsource_takes_the_token_in_the_query(
        self, server: RunningServer, ct: httpx.AsyncClient
    ) -> None:
        """A browser's ``EventSource`` sends no header: a raw HTTP/1.1 request with no
        ``Authorization`` gets the stream with ``?access_token=``; a wrong one is 401 in CT's
        envelope; no other route takes a token in the query; the token is in no log line."""

        async def raw(target: str, until: bytes) -> bytes:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(f"GET {target} HTTP/1.1\r\nHost: ct\r\nAccept: text/event-stream\r\n\r\n".encode())
            await writer.drain()
            seen = b""
            try:
                while until not in seen:
                    chunk = await asyncio.wait_for(reader.read(4096), 10)
                    if not chunk:
                        break
                    seen += chunk
            finally:
                writer.close()
            return seen

        with capture_logs() as logs:
            stream = asyncio.ensure_future(
                raw(f"/api/events/stream?since=2000-01-01&access_token={GATEWAY_TOKEN}", b'"task.created"')
            )
            await asyncio.sleep(0.3)  # the stream is open before the write
            await task(ct, title="EVENTSOURCE-TASK")
            seen = await stream
            refused = await raw("/api/events/stream?access_token=wrong-token-value", b"}")
            snapshot = await raw(f"/api/snapshot?access_token={GATEWAY_TOKEN}", b"}")
        head, _, body = seen.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        assert b"text/event-stream" in head
        assert b"event: clawtasker" in body
        assert b'"kind":"task.created"' in body
        assert refused.startswith(b"HTTP/1.1 401")
        assert b'{"error":' in refused
        assert snapshot.startswith(b"HTTP/1.1 401")
        logged = json.dumps(logs, default=str)
        assert GATEWAY_TOKEN not in logged
        assert "wrong-token-value" not in logged

    async def test_other_tenant_hears_nothing(self, server: RunningServer, ct: httpx.AsyncClient) -> None:
        """A stream of tenant B, open while the master tenant writes, carries only B's events, whether
        B's key comes as the Bearer or as a browser's ``?access_token=``."""
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as owner:
            b = (await owner.post("/v1/tenants", json={"name": "Tenant B", "slug": "tenant-b"})).json()
            key = (await owner.post("/v1/api-keys", json={"name": "b", "tenant_id": b["id"],
                                                          "scopes": ["operator.admin"]})).json()["key"]  # fmt: skip
        async with (
            server.client(key) as b_http,
            server.client() as browser,
            b_http.stream("GET", "/api/events/stream", params={"since": "2000-01-01"}) as res,
            browser.stream(
                "GET", "/api/events/stream", params={"since": "2000-01-01", "access_token": key}
            ) as raw,
        ):
            await task(ct, title="MASTER-SECRET")
            await ok(await b_http.post("/api/tasks/create", json={"title": "b-own"}))
            frames = await asyncio.wait_for(_frames(res, 1), 10)
            by_query = await asyncio.wait_for(_frames(raw, 1), 10)
            snap = await ok(await b_http.get("/api/snapshot"))
        assert by_query == frames
        assert frames[0][1]["kind"] == "task.created"
        assert "MASTER-SECRET" not in json.dumps(frames)
        assert [t["title"] for t in snap["tasks"]] == ["b-own"]


class TestPublishLoadAndMoves:
    async def test_publish_heartbeat_task_mission_note_and_dedupe(
        self, ct: httpx.AsyncClient, server: RunningServer, make_server: ServerFactory
    ) -> None:
        """``openclaw/publish`` is a heartbeat, a task update (owner defaults to the agent), a
        mission upsert and a note in the agent's thread with the chief; the same publish within
        45 s is a duplicate (no note, no heartbeat event), decided in PostgreSQL: two gateways
        racing one new publish see one original. Bad input is CT's 400."""
        await agent(ct, "codex")
        t = await task(ct, title="Wire it")
        body = {"agentId": "codex", "event": "task_update", "status": "working", "taskId": t["id"],
                "taskStatus": "ready", "progress": 10, "note": "picked up"}  # fmt: skip
        first = await ok(await ct.post("/api/openclaw/publish", json=body))
        assert first["duplicate_publish"] is False
        assert (first["task"]["status"], first["task"]["owner"], first["task"]["progress"]) == (
            "ready",
            "codex",
            10,
        )
        assert first["agent"]["status"] == "working"
        assert first["thread_message"]["text"] == "picked up"
        again = await ok(await ct.post("/api/openclaw/publish", json={"publish": body}))
        assert (again["duplicate_publish"], again["thread_message"]) == (True, None)
        snap = await ok(await ct.get("/api/snapshot"))
        (thread,) = [c for c in snap["conversations"] if set(c["participants"]) == {"codex", "orion"}]
        assert [m["text"] for m in thread["messages"]] == ["picked up"]
        beats = [e for e in snap["events"] if e["kind"] == "agent.heartbeat"]
        assert len(beats) == 1
        plan = {"agent_id": "codex", "event": "mission_plan", "mission_id": "m-ship", "title": "Ship",
                "objective": "Ship v1", "projectId": "ceo-console"}  # fmt: skip
        made = await ok(await ct.post("/api/openclaw/publish", json=plan))
        assert made["mission"]["mission"]["id"] == "m-ship"
        assert made["publish"]["mission_id"] == "m-ship"
        other = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], rate_limits__per_ip_rpm=0,
            rate_limits__per_key_rpm=0,
        )  # fmt: skip
        race = {"agentId": "codex", "note": "racing", "status": "idle"}
        async with other.client(GATEWAY_TOKEN) as two:
            answers = await asyncio.gather(
                *(http.post("/api/openclaw/publish", json=race) for http in (ct, two))
            )
        assert sorted(a.json()["duplicate_publish"] for a in answers) == [False, True]
        assert (
            error(await ct.post("/api/openclaw/publish", json={"event": "note"}), 400)
            == "agentId is required"
        )
        assert "unknown agent" in error(
            await ct.post("/api/openclaw/publish", json={"agentId": "ghost"}), 400
        )
        assert (
            error(await ct.post("/api/openclaw/publish", json={"publish": "x"}), 400)
            == "publish must be an object"
        )
        assert "T-99999" in error(
            await ct.post("/api/openclaw/publish", json={"agentId": "codex", "taskId": "T-99999"}), 400
        )
        error(await ct.post("/api/openclaw/publish", json={"agentId": "codex", "status": "asleep"}), 400)

    async def test_overloaded_once_until_dismissed(self, ct: httpx.AsyncClient) -> None:
        """An agent owning more than 4 active tasks (ready, in progress, validation) gets one
        ``overloaded`` notification naming it; more tasks add none while it is not dismissed; after
        the dismissal the next write that finds it overloaded makes a new one."""
        await agent(ct, "pixel")
        for n in range(4):
            await task(ct, title=f"t{n}", owner="pixel", status="ready")
        await task(ct, title="backlog one", owner="pixel")  # backlog is not active
        snap = await ok(await ct.get("/api/snapshot"))
        assert [n for n in snap["notifications"] if n["kind"] == "overloaded"] == []
        fifth = await task(ct, title="t4", owner="pixel", status="ready")
        await task(ct, title="t5", owner="pixel", status="ready")
        snap = await ok(await ct.get("/api/snapshot"))
        (note,) = [n for n in snap["notifications"] if n["kind"] == "overloaded"]
        assert note["agent_id"] == "pixel"
        assert "5 active tasks" in note["detail"]  # made by the fifth, not remade by the sixth
        await ok(await ct.post("/api/notifications/dismiss", json={"id": note["id"]}))
        await ok(await update(ct, fifth["id"], progress=20))
        snap = await ok(await ct.get("/api/snapshot"))
        (fresh,) = [n for n in snap["notifications"] if n["kind"] == "overloaded"]
        assert fresh["id"] != note["id"]

    async def test_overloaded_on_mission_control_and_goclaw_writes(
        self, server: RunningServer, ct: httpx.AsyncClient
    ) -> None:
        """The load is judged by the one service call on every surface's task writes: an agent given
        its fifth active task through Mission Control (four created assigned, the fifth by PATCH)
        and another through GoClaw (four ``teams.tasks.create {assignTo}``, the fifth by
        ``teams.tasks.assign``) each get CT's ``overloaded`` notification, and only at the fifth."""
        for key in ("boss", "mcload", "gcload"):
            await agent(ct, key)
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = (await ws.ok("teams.create", {"name": "Load", "lead": "boss",
                                                 "members": ["mcload", "gcload"]}))["team"]["id"]  # fmt: skip
            mc_agent = (await ct.get("/v1/agents/mcload")).json()["id"]
            tasks = f"/api/v1/boards/{team}/tasks"

            async def overloaded() -> list[str]:
                snap = await ok(await ct.get("/api/snapshot"))
                return sorted(n["agent_id"] for n in snap["notifications"] if n["kind"] == "overloaded")

            for n in range(4):
                res = await ct.post(tasks, json={"title": f"mc{n}", "assigned_agent_id": mc_agent})
                assert res.status_code == 200, res.text
                await ws.ok("teams.tasks.create", {"teamId": team, "subject": f"gc{n}", "assignTo": "gcload"})
            assert await overloaded() == []
            free = (await ct.post(tasks, json={"title": "mc-fifth"})).json()["id"]
            res = await ct.patch(f"{tasks}/{free}", json={"assigned_agent_id": mc_agent})
            assert res.status_code == 200, res.text
            assert await overloaded() == ["mcload"]
            fifth = (await ws.ok("teams.tasks.create", {"teamId": team, "subject": "gc-fifth"}))["task"]["id"]
            await ws.ok("teams.tasks.assign", {"teamId": team, "taskId": fifth, "agentId": "gcload"})
            assert await overloaded() == ["gcload", "mcload"]

    async def test_a_task_moves_between_projects(self, ct: httpx.AsyncClient) -> None:
        """``tasks/update {project_id}`` moves the task to that project (a ``task.moved`` event);
        a task with a link or dependency stays (links live inside one project) with a 400; an
        unknown project is a 400; ``""`` leaves it where it is."""
        await ok(await ct.post("/api/projects/configure", json={"project_id": "atlas", "name": "Atlas"}))
        a = await task(ct, title="Mover")
        moved = await ok(await update(ct, a["id"], project_id="atlas"))
        assert moved["task"]["project_id"] == "atlas"
        same = await ok(await update(ct, a["id"], project_id=""))
        assert same["task"]["project_id"] == "atlas"
        snap = await ok(await ct.get("/api/snapshot"))
        kinds = [e["kind"] for e in snap["events"]]
        assert "task.moved" in kinds
        b, c = await task(ct, title="Linked"), await task(ct, title="Other")
        await ok(await ct.post("/api/tasks/link", json={"source_id": b["id"], "target_id": c["id"]}))
        message = error(await update(ct, b["id"], project_id="atlas"), 400)
        assert "links" in message
        assert "unknown project" in error(await update(ct, c["id"], project_id="nowhere"), 400)
