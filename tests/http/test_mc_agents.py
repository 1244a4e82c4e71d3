"""Mission Control's agent lifecycle through a real server (issue 14): a lead creates workers on its
board within ``max_agents`` (real ClawGate agents), reads and rewrites their SOUL.md, removes them
(their open tasks go back to the inbox); the gateway main (the tenant's default agent) messages
leads; a lead asks the user; users list, create, change and delete agents on ``/api/v1/agents``.
Bad input is a 4xx in MC's ``{detail, request_id}``."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

from tests.conftest import ServerFactory
from tests.http.test_mc_agent import A, B, Board, _detail, _ok, _task
from tests.http.test_mc_agent import _board as _board  # the `board` fixture: a led board with tokens
from tests.http.test_mission_control import _frames
from tests.support import GATEWAY_TOKEN, ws_connect

AG = "/api/v1/agents"


async def _events(board: Board, kind: str) -> list[dict[str, Any]]:
    async with board.server.gateway.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT agent_id, data FROM coord_events WHERE team_id = $1 AND kind = $2 ORDER BY seq",
            UUID(board.id),
            kind,
        )
    return [dict(r) for r in rows]


class TestLeadLifecycle:
    async def test_lead_creates_workers_within_max_agents(self, board: Board) -> None:
        """A worker may not create agents (lead_only); the lead is refused past max_agents (409),
        then makes a real ClawGate agent on its board with its SOUL; a name taken on the board is
        409, a blank one 422, another board 403."""
        async with board.agent("worker-a") as http:
            assert _detail(await http.post(f"{A}/agents", json={"name": "Scout"}), 403)["code"] == "lead_only"
        async with board.agent("lead-a") as http:
            full = _detail(await http.post(f"{A}/agents", json={"name": "Scout"}), 409)
        assert "limit reached" in str(full)
        async with board.owner() as http:
            _ok(await http.patch(f"{B}/{board.id}", json={"max_agents": 3}))
        async with board.agent("lead-a") as http:
            made = _ok(await http.post(f"{A}/agents", json={
                "name": "Scout", "soul_template": "You scout.", "identity_profile": {"skills": ["a", "b"]}}))  # fmt: skip
            assert _detail(await http.post(f"{A}/agents", json={"name": "scout"}), 409)
            assert _detail(await http.post(f"{A}/agents", json={"name": " "}), 422)
            assert _detail(await http.post(f"{A}/agents", json={"name": "X", "board_id": str(uuid4())}), 403)
            assert _detail(await http.post(f"{A}/agents", json={"nom": "X"}), 422)
        assert (made["board_id"], made["is_board_lead"], made["status"]) == (board.id, False, "provisioning")
        assert made["identity_profile"] == {"skills": "a, b"}
        async with board.owner() as http:
            listed = _ok(await http.get("/v1/agents"))
            agent = _ok(await http.get(f"/v1/agents/{made['id']}"))
        assert made["id"] in str(listed)
        assert (agent["agent_key"], agent["provider"], agent["model"]) == ("scout", "stub", "m")
        assert (await _events(board, "agent.created"))[0]["agent_id"] == UUID(made["id"])

    async def test_max_agents_holds_under_concurrent_creates(self, board: Board) -> None:
        """Eight concurrent creates by the lead with room for one more worker: one agent is made,
        seven are 409 (the count is taken under the board's row lock, in PostgreSQL)."""
        async with board.owner() as http:
            _ok(await http.patch(f"{B}/{board.id}", json={"max_agents": 3}))

        async def make(i: int) -> int:
            async with board.agent("lead-a") as http:
                return (await http.post(f"{A}/agents", json={"name": f"Racer {i}"})).status_code

        assert sorted(await asyncio.gather(*(make(i) for i in range(8)))) == [200] + [409] * 7

    async def test_soul_read_and_written_by_the_lead(self, board: Board) -> None:
        """The lead reads and rewrites a worker's SOUL.md (an agent.soul.updated event); a worker
        reads its own but not another's, and writes none; an agent off the board is 404."""
        worker = board.agents["worker-a"]
        soul = f"{A}/boards/{board.id}/agents/{worker}/soul"
        async with board.agent("lead-a") as http:
            assert _ok(await http.get(soul)) == {"agent_id": worker, "content": ""}
            _ok(await http.put(soul, json={"content": "Be brief.", "reason": "tone"}))
            assert _ok(await http.get(soul))["content"] == "Be brief."
            assert _detail(await http.put(soul, json={"content": "  "}), 422)
            assert _detail(await http.put(soul, json={}), 422)
            outsider = f"{A}/boards/{board.id}/agents/{board.agents['outsider']}/soul"
            assert _detail(await http.get(outsider), 404)
        async with board.agent("worker-a") as http:
            assert _ok(await http.get(soul))["content"] == "Be brief."
            assert _detail(await http.put(soul, json={"content": "x"}), 403)["code"] == "lead_only"
            other = f"{A}/boards/{board.id}/agents/{board.agents['worker-b']}/soul"
            assert _detail(await http.get(other), 403)["code"] == "lead_only"
        async with board.server.gateway.db.connection() as conn:
            stored = await conn.fetchval(
                "SELECT content FROM agent_context_files WHERE agent_id = $1 AND file_name = 'SOUL.md'",
                UUID(worker),
            )
        assert stored == "Be brief."  # the context file the agent's system prompt reads
        (event,) = await _events(board, "agent.soul.updated")
        assert event["agent_id"] == UUID(worker)

    async def test_lead_removes_a_worker_and_its_tasks_go_back(self, board: Board) -> None:
        """Removing worker-b puts its in-progress task back in the inbox unassigned and deletes the
        agent (on no other board); the lead cannot remove itself, an outsider is 404, a worker 403."""
        task = await _task(board, assigned_agent_id=board.agents["worker-b"])
        async with board.agent("worker-b") as http:
            _ok(await http.patch(f"{A}/boards/{board.id}/tasks/{task['id']}", json={"status": "in_progress"}))
        url = f"{A}/boards/{board.id}/agents"
        async with board.agent("worker-a") as http:
            assert _detail(await http.delete(f"{url}/{board.agents['worker-b']}"), 403)["code"] == "lead_only"
        async with board.agent("lead-a") as http:
            assert _detail(await http.delete(f"{url}/{board.agents['lead-a']}"), 403)
            assert _detail(await http.delete(f"{url}/{board.agents['outsider']}"), 404)
            assert _detail(await http.delete(f"{url}/not-a-uuid"), 422)
            _ok(await http.delete(f"{url}/{board.agents['worker-b']}"))
            agents = _ok(await http.get(f"{A}/agents", params={"board_id": board.id}))
        assert board.agents["worker-b"] not in {a["id"] for a in agents["items"]}
        async with board.owner() as http:
            got = _ok(await http.get(f"{B}/{board.id}/tasks/{task['id']}"))
            assert (await http.get(f"/v1/agents/{board.agents['worker-b']}")).status_code == 404
        assert (got["status"], got["assigned_agent_id"]) == ("inbox", None)
        (event,) = await _events(board, "agent.deleted")
        assert event["data"]["released_task_ids"] == [task["id"]]


class TestGatewayMain:
    async def test_main_messages_leads_and_a_lead_asks_the_user(self, board: Board) -> None:
        """Made the gateway main (PATCH is_gateway_main), outsider messages the board's lead and
        broadcasts (a notification for the lead each); others are 403 gateway_main_only; the lead's
        ask-user is a user notification naming the main; status cannot be PATCHed."""
        main = board.agents["outsider"]
        async with board.agent("worker-a") as http:
            before = _ok(await http.get(f"{A}/agents"))["items"]
        assert [a["agent_key"] for a in before if a["is_gateway_main"]] == ["lead-a"]  # the oldest agent
        async with board.owner() as http:
            made = _ok(await http.patch(f"{AG}/{main}", json={"is_gateway_main": True}))
            assert made["is_gateway_main"] is True
            assert _detail(await http.patch(f"{AG}/{main}", json={"status": "online"}), 403)
        async with board.agent("outsider") as http:
            sent = _ok(await http.post(f"{A}/gateway/boards/{board.id}/lead/message",
                                       json={"content": "How is it going?", "correlation_id": "c-1"}))  # fmt: skip
            assert _detail(
                await http.post(f"{A}/gateway/boards/{uuid4()}/lead/message", json={"content": "x"}), 404
            )
            assert _detail(
                await http.post(f"{A}/gateway/boards/{board.id}/lead/message", json={"content": ""}), 422
            )
            wide = _ok(
                await http.post(
                    f"{A}/gateway/leads/broadcast", json={"content": "Status?", "kind": "handoff"}
                )
            )
            some = _ok(await http.post(f"{A}/gateway/leads/broadcast",
                                       json={"content": "Status?", "board_ids": [board.id, str(uuid4())]}))  # fmt: skip
        assert (sent["ok"], sent["lead_agent_id"]) == (True, board.agents["lead-a"])
        assert (wide["sent"], wide["failed"]) == (1, 0)
        assert (some["ok"], some["sent"], some["failed"]) == (False, 1, 1)
        assert some["results"][1]["error"] == "Board not found."
        async with board.agent("lead-a") as http:
            res = await http.post(f"{A}/gateway/leads/broadcast", json={"content": "x"})
            assert _detail(res, 403)["code"] == "gateway_main_only"
            asked = _ok(await http.post(f"{A}/boards/{board.id}/gateway/main/ask-user",
                                        json={"content": "Which region?", "correlation_id": "q-1"}))  # fmt: skip
        assert (asked["ok"], asked["main_agent_id"]) == (True, main)
        async with board.agent("worker-a") as http:
            res = await http.post(f"{A}/boards/{board.id}/gateway/main/ask-user", json={"content": "x"})
            assert _detail(res, 403)["code"] == "lead_only"
        async with board.server.gateway.db.connection() as conn:
            kinds = await conn.fetch(
                "SELECT recipient_kind, recipient_id, kind FROM notifications WHERE team_id = $1"
                " AND kind <> 'board.update' ORDER BY created_at",  # make_board's PATCH (checked there)
                UUID(board.id),
            )
        lead = board.agents["lead-a"]
        assert [tuple(r) for r in kinds] == [
            ("agent", lead, "gateway.question"), ("agent", lead, "gateway.handoff"),
            ("agent", lead, "gateway.question"), ("user", "user", "gateway.ask_user"),
        ]  # fmt: skip


class TestUserRoutes:
    async def test_users_list_create_change_and_delete_agents(self, board: Board) -> None:
        """An admin lists the tenant's agents (board filter), creates one on the board (a ClawGate
        agent on the gateway main's provider), renames and moves it, deletes it; bad input is 422,
        an unknown id 404."""
        async with board.owner() as http:
            everyone = _ok(await http.get(AG))
            on_board = _ok(await http.get(AG, params={"board_id": board.id}))
            made = _ok(await http.post(AG, json={"name": "Analyst", "board_id": board.id,
                                                 "heartbeat_config": {"every": "5m"}}))  # fmt: skip
            changed = _ok(
                await http.patch(f"{AG}/{made['id']}", json={"name": "Chief Analyst", "board_id": None})
            )
            got = _ok(await http.get(f"{AG}/{made['id']}"))
            assert _detail(await http.post(AG, json={}), 422)
            assert _detail(await http.post(AG, json={"name": "Y", "board_id": str(uuid4())}), 404)
            assert _detail(await http.patch(f"{AG}/{made['id']}", json={"color": "red"}), 422)
            assert _detail(await http.get(f"{AG}/{uuid4()}"), 404)
            assert _detail(await http.get(f"{AG}/nope"), 422)
            _ok(await http.delete(f"{AG}/{made['id']}"))
            assert _detail(await http.delete(f"{AG}/{made['id']}"), 404)
        assert (everyone["total"], on_board["total"]) == (4, 3)
        assert {a["name"] for a in on_board["items"]} == {"Lead A", "Worker A", "Worker B"}
        assert (made["board_id"], made["heartbeat_config"]) == (board.id, {"every": "5m"})
        assert (changed["name"], changed["board_id"], got["board_id"]) == ("Chief Analyst", None, None)


class TestPresenceAndStreams:
    async def test_user_heartbeats(self, board: Board) -> None:
        """``POST /agents/{id}/heartbeat`` records the agent's heartbeat as its own (status, last
        seen, an ``agent.heartbeat`` event on its board); ``POST /agents/heartbeat {name}`` finds the
        agent by name or key, or makes it on the board named; bad input is 422, an unknown id 404."""
        worker = board.agents["worker-a"]
        async with board.owner() as http:
            beat = _ok(await http.post(f"{AG}/{worker}/heartbeat", json={"status": "busy"}))
            by_name = _ok(await http.post(f"{AG}/heartbeat", json={"name": "worker a"}))
            made = _ok(await http.post(f"{AG}/heartbeat", json={"name": "Scout", "board_id": board.id}))
            again = _ok(await http.post(f"{AG}/heartbeat", json={"name": "scout"}))
            assert _detail(await http.post(f"{AG}/{uuid4()}/heartbeat", json={}), 404)
            assert _detail(await http.post(f"{AG}/{worker}/heartbeat", json={"status": 7}), 422)
            assert _detail(await http.post(f"{AG}/heartbeat", json={"name": ""}), 422)
        assert (beat["id"], beat["status"]) == (worker, "busy")
        assert beat["last_seen_at"] is not None
        assert by_name["id"] == worker
        assert (made["name"], made["board_id"], again["id"]) == ("Scout", board.id, made["id"])
        beats = await _events(board, "agent.heartbeat")
        assert str(beats[0]["agent_id"]) == worker

    async def test_agent_and_task_comment_streams(self, board: Board) -> None:
        """``/agents/stream`` sends ``event: agent`` with the agent's read model on its heartbeat;
        ``/activity/task-comments/stream`` sends ``event: comment`` with the feed item of a new
        comment; both carry ``id:`` lines and refuse an unknown board (404)."""
        worker = board.agents["worker-a"]
        task = await _task(board, title="Streamed")
        async with board.owner() as http:
            async with http.stream("GET", f"{AG}/stream", params={"board_id": board.id}) as res:
                assert res.headers["content-type"].startswith("text/event-stream")
                await asyncio.sleep(0.2)
                _ok(await http.post(f"{AG}/{worker}/heartbeat", json={"status": "online"}))
                (agent,) = await asyncio.wait_for(_frames(res, 1), 10)
            feed = "/api/v1/activity/task-comments/stream"
            async with http.stream("GET", feed, params={"board_id": board.id}) as res:
                await asyncio.sleep(0.2)
                _ok(await http.post(f"{B}/{board.id}/tasks/{task['id']}/comments", json={"message": "hello"}))
                (comment,) = await asyncio.wait_for(_frames(res, 1), 10)
            assert _detail(await http.get(f"{AG}/stream", params={"board_id": str(uuid4())}), 404)
            assert _detail(await http.get(feed, params={"board_id": str(uuid4())}), 404)
        assert (agent["event"], agent["data"]["agent"]["id"], agent["data"]["agent"]["status"]) == (
            "agent", worker, "online",
        )  # fmt: skip
        assert int(agent["id"]) > 0
        assert (comment["event"], comment["data"]["comment"]["message"]) == ("comment", "hello")
        assert comment["data"]["comment"]["task_title"] == "Streamed"


class TestAgentsSeenAtOnce:
    async def test_tenant_stream_sends_one_frame_per_heartbeat(self, board: Board) -> None:
        """worker-a is on two boards, so each heartbeat is an ``agent.heartbeat`` event per board;
        the tenant-wide ``/agents/stream`` sends one frame per heartbeat (not one per board), and
        a board's stream its own one."""
        worker, lead = board.agents["worker-a"], board.agents["lead-a"]
        async with ws_connect(board.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("teams.create", {"name": "Second", "lead": "outsider", "members": ["worker-a"]})
        async with (
            board.owner() as http,
            http.stream("GET", f"{AG}/stream") as tenant_wide,
            http.stream("GET", f"{AG}/stream", params={"board_id": board.id}) as one_board,
        ):
            await asyncio.sleep(0.2)
            for status in ("online", "busy"):
                _ok(await http.post(f"{AG}/{worker}/heartbeat", json={"status": status}))
            _ok(await http.post(f"{AG}/{lead}/heartbeat", json={"status": "online"}))  # the last frame
            frames = await asyncio.wait_for(_frames(tenant_wide, 3), 10)
            on_board = await asyncio.wait_for(_frames(one_board, 3), 10)
        assert [f["data"]["agent"]["id"] for f in frames] == [worker, worker, lead]
        assert [f["data"]["agent"]["id"] for f in on_board] == [worker, worker, lead]
        async with board.server.gateway.db.connection() as conn:
            told = await conn.fetchval(
                "SELECT count(*) FROM coord_events WHERE agent_id = $1 AND kind = 'agent.heartbeat'",
                UUID(worker),
            )
        assert told == 4  # two heartbeats, two boards each

    async def test_agents_made_and_deleted_list_at_once_in_every_process(
        self, board: Board, make_server: ServerFactory
    ) -> None:
        """Two gateway processes on one database: an agent made or deleted through Mission Control
        on one is in (or gone from) both lists of the other at once, ``/api/v1/agents`` and
        ``/v1/agents`` (kept for 5 s per process, dropped over the bus on every agent write)."""
        other = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])

        async def listed() -> tuple[set[str], set[str]]:
            async with other.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
                mc = {a["id"] for a in _ok(await http.get(AG, params={"limit": 200}))["items"]}
                goclaw = {a["id"] for a in _ok(await http.get("/v1/agents"))["agents"]}
            return mc, goclaw

        assert board.agents["outsider"] in (await listed())[1]  # read: now kept by the other process
        async with board.owner() as http:
            made = _ok(await http.post(AG, json={"name": "Fresh", "board_id": board.id}))
        assert await listed() == ({*board.agents.values(), made["id"]},) * 2
        async with board.owner() as http:
            _ok(await http.delete(f"{AG}/{made['id']}"))
        assert await listed() == (set(board.agents.values()),) * 2
