"""Mission Control's board groups, snapshots, group heartbeat, group memory, tags and custom field
definitions through a real server and httpx (issue 14): CRUD with MC's shapes and errors, a board
moving into and out of a group notifying its agents, the read models, the group heartbeat really
changing the agents' ClawGate heartbeats, group chat reaching agents as notifications (broadcast,
leads, mentions, never the author) and its SSE stream, tags with a per-tenant slug, and task
``custom_field_values`` checked against the definitions bound to the board."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from tests.http.helpers import mint_key
from tests.http.test_mc_agent import Board, _detail, _ok
from tests.http.test_mc_agent import _board as _board  # the `board` fixture, shared
from tests.http.test_mission_control import _frames
from tests.support import GATEWAY_TOKEN, ws_connect

B = "/api/v1/boards"
G = "/api/v1/board-groups"
A = "/api/v1/agent"
F = "/api/v1/organizations/me/custom-fields"


async def _grouped(board: Board, **rules: Any) -> tuple[str, str]:
    """A second team (= board) led by outsider with worker-b (on both boards), and a group of the
    two boards (with ``rules`` set on both). Returns (group id, second board id)."""
    async with ws_connect(board.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
        team = await ws.ok("teams.create", {"name": "Ops", "lead": "outsider", "members": ["worker-b"]})
    other: str = team["team"]["id"]
    async with board.owner() as http:
        group: str = _ok(await http.post(G, json={"name": "g"}))["id"]
        for b in (board.id, other):
            _ok(await http.patch(f"{B}/{b}", json={"board_group_id": group, **rules}))
    return group, other


async def _notes(board: Board, like: str) -> list[tuple[str, str]]:
    """(kind, recipient agent key) of the notifications whose kind is LIKE ``like``."""
    keys = {v: k for k, v in board.agents.items()}
    async with board.server.gateway.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT kind, recipient_id FROM notifications WHERE kind LIKE $1 ORDER BY kind, recipient_id",
            like,
        )
    return sorted((r["kind"], keys[r["recipient_id"]]) for r in rows)


class TestGroups:
    async def test_crud_and_boards_joining_and_leaving(self, board: Board) -> None:
        """A group is made (slug from the name), listed, read, changed and deleted; a board joins
        and leaves through its ``board_group_id`` and every agent of the board hears of each; an
        unknown group is 404 and bad input 422, in MC's envelope."""
        async with board.owner() as http:
            made = _ok(await http.post(G, json={"name": "Launch Team!", "description": "all launch work"}))
            assert (made["slug"], made["description"]) == ("launch-team", "all launch work")
            page = _ok(await http.get(G))
            assert (page["total"], page["items"][0]["id"], page["limit"]) == (1, made["id"], 200)
            assert _ok(await http.get(f"{G}/{made['id']}"))["name"] == "Launch Team!"
            changed = _ok(await http.patch(f"{G}/{made['id']}", json={"name": "Rocket", "slug": ""}))
            assert (changed["name"], changed["slug"]) == ("Rocket", "rocket")
            joined = _ok(await http.patch(f"{B}/{board.id}", json={"board_group_id": made["id"]}))
            assert joined["board_group_id"] == made["id"]
            assert await _notes(board, "board.group.%") == [
                ("board.group.join", "lead-a"), ("board.group.join", "worker-a"), ("board.group.join", "worker-b")
            ]  # fmt: skip
            left = _ok(await http.patch(f"{B}/{board.id}", json={"board_group_id": None}))
            assert left["board_group_id"] is None
            assert len(await _notes(board, "board.group.leave")) == 3
            _ok(await http.patch(f"{B}/{board.id}", json={"board_group_id": made["id"]}))
            missing = "00000000-0000-0000-0000-000000000009"
            assert _detail(await http.patch(f"{B}/{board.id}", json={"board_group_id": missing}), 404)
            assert _detail(
                await http.post(B, json={"name": "x", "description": "d", "board_group_id": missing}), 404
            )
            for bad in ({}, {"name": ""}, {"name": "x", "color": "red"}):
                assert _detail(await http.post(G, json=bad), 422)
            assert _detail(await http.patch(f"{G}/{made['id']}", json={"name": 5}), 422)
            assert _detail(await http.get(f"{G}/not-a-uuid"), 422)
            assert _detail(await http.get(f"{G}/{missing}"), 404)
            _ok(await http.delete(f"{G}/{made['id']}"))
            assert _detail(await http.get(f"{G}/{made['id']}"), 404)
            assert _ok(await http.get(f"{B}/{board.id}"))["board_group_id"] is None

    async def test_only_admins_change_groups(self, board: Board) -> None:
        """An operator key may not make, change or delete a group (403), nor apply its heartbeat;
        it lists only groups with a board it may read (none here)."""
        async with board.owner() as http:
            group_id = _ok(await http.post(G, json={"name": "g"}))["id"]
        key = await mint_key(board.server, "operator.read", "operator.write", name="op")
        async with board.server.client(key["key"]) as http:
            assert _ok(await http.get(G))["total"] == 0
            assert _detail(await http.post(G, json={"name": "x"}), 403)
            assert _detail(await http.delete(f"{G}/{group_id}"), 403)
            assert _detail(await http.post(f"{G}/{group_id}/heartbeat", json={"every": "10m"}), 403)


class TestSnapshots:
    async def test_board_and_group_snapshots(self, board: Board) -> None:
        """The board snapshot has task cards (assignee, approval counts), agents, approvals, chat
        and the pending count; the group snapshot each board with counts by status and its first
        tasks in MC's order (in progress, review, inbox; high before low), done left out unless
        asked; a board's group snapshot leaves the board out unless ``include_self``."""
        group_id, other = await _grouped(board, require_approval_for_done=False)
        async with board.owner() as http:
            low = _ok(await http.post(f"{B}/{board.id}/tasks", json={"title": "low", "priority": "low"}))
            high = _ok(await http.post(f"{B}/{board.id}/tasks", json={"title": "high", "priority": "high"}))
            work = _ok(
                await http.post(
                    f"{B}/{board.id}/tasks",
                    json={
                        "title": "work",
                        "assigned_agent_id": board.agents["worker-a"],
                        "status": "in_progress",
                    },
                )
            )
            done = _ok(await http.post(f"{B}/{board.id}/tasks", json={"title": "done"}))
            _ok(await http.patch(f"{B}/{board.id}/tasks/{done['id']}", json={"status": "done"}))
            _ok(
                await http.post(
                    f"{B}/{board.id}/approvals",
                    json={
                        "action_type": "deploy",
                        "task_id": high["id"],
                        "confidence": 90,
                        "lead_reasoning": "why",
                    },
                )
            )
            _ok(await http.post(f"{B}/{other}/tasks", json={"title": "ops work"}))
            snap = _ok(await http.get(f"{B}/{board.id}/snapshot"))
            gsnap = _ok(await http.get(f"{G}/{group_id}/snapshot"))
            with_done = _ok(
                await http.get(
                    f"{G}/{group_id}/snapshot", params={"include_done": "true", "per_board_task_limit": 2}
                )
            )
            mine = _ok(await http.get(f"{B}/{board.id}/group-snapshot"))
            mine_all = _ok(await http.get(f"{B}/{board.id}/group-snapshot", params={"include_self": "true"}))
            assert _detail(
                await http.get(f"{G}/{group_id}/snapshot", params={"per_board_task_limit": -1}), 422
            )
            alone = _ok(await http.post(B, json={"name": "alone", "description": "d"}))
            assert _ok(await http.get(f"{B}/{alone['id']}/group-snapshot")) == {"group": None, "boards": []}
        assert set(snap) == {
            "board",
            "tasks",
            "agents",
            "approvals",
            "chat_messages",
            "pending_approvals_count",
        }
        cards = {c["title"]: c for c in snap["tasks"]}
        assert cards["work"]["assignee"] == "Worker A"
        assert (cards["high"]["approvals_count"], cards["high"]["approvals_pending_count"]) == (1, 1)
        assert snap["pending_approvals_count"] == 1
        assert len(snap["approvals"]) == 1
        assert {a["name"] for a in snap["agents"]} == {"Lead A", "Worker A", "Worker B"}
        first = next(b for b in gsnap["boards"] if b["board"]["id"] == board.id)
        assert first["task_counts"] == {"in_progress": 1, "review": 0, "inbox": 2, "done": 1}
        assert [t["title"] for t in first["tasks"]] == ["work", "high", "low"]
        assert first["tasks"][0]["board_name"] == "Launch"
        assert first["tasks"][0]["assignee"] == "Worker A"
        assert {b["board"]["id"] for b in gsnap["boards"]} == {board.id, other}
        assert [len(b["tasks"]) for b in with_done["boards"] if b["board"]["id"] == board.id] == [2]
        assert [b["board"]["id"] for b in mine["boards"]] == [other]
        assert len(mine_all["boards"]) == 2
        assert mine["group"]["id"] == group_id
        assert low["id"]
        assert work["id"]


class TestHeartbeat:
    async def test_group_heartbeat_sets_every_agents_heartbeat(self, board: Board) -> None:
        """``every`` reaches the workers of the group's boards (the leads only with
        ``include_board_leads``): their ClawGate heartbeat is on at that interval and MC's
        heartbeat config says it; a malformed or too short ``every`` is 422."""
        group_id, _ = await _grouped(board)
        async with board.owner() as http:
            url = f"{G}/{group_id}/heartbeat"
            res = _ok(await http.post(url, json={"every": "15m"}))
            assert res["board_group_id"] == group_id
            assert res["failed_agent_ids"] == []
            assert res["requested"] == {"every": "15m", "include_board_leads": False, "target": None}
            assert sorted(res["updated_agent_ids"]) == sorted(
                [board.agents["worker-a"], board.agents["worker-b"]]
            )
            for bad in ("1m", "ten", "", "15x"):
                assert _detail(await http.post(url, json={"every": bad}), 422)
            assert _detail(await http.post(url, json={"every": "15m", "extra": 1}), 422)
            both = _ok(await http.post(url, json={"every": "2h", "include_board_leads": True}))
            assert len(both["updated_agent_ids"]) == 4
        async with ws_connect(board.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            beat = await ws.ok("heartbeat.get", {"agentId": "worker-a"})
        assert (beat["heartbeat"]["enabled"], beat["heartbeat"]["intervalSec"]) == (True, 7200)
        async with board.server.gateway.db.connection() as conn:
            every = await conn.fetchval(
                "SELECT heartbeat_config->>'every' FROM agent_presence WHERE agent_id = $1",
                UUID(board.agents["lead-a"]),
            )
        assert every == "2h"


class TestGroupMemory:
    async def test_group_chat_reaches_agents_and_streams(self, board: Board) -> None:
        """A user's group chat reaches both boards' leads (a mention also its agent); a broadcast
        every agent of the group once; an agent's post never notifies its author; plain memory
        notifies nobody. The group's memory lists by group and by board, streams as ``event:
        memory`` (to users and agents, replayed from ``since``); a board in no group is 422 and an agent
        off the board 403."""
        group_id, other = await _grouped(board)
        async with board.owner() as http:
            gm = f"{G}/{group_id}/memory"
            async with http.stream("GET", gm + "/stream") as res:
                await asyncio.sleep(0.2)
                chat = _ok(await http.post(gm, json={"content": "hello @worker-a", "tags": ["chat"]}))
                (frame,) = await asyncio.wait_for(_frames(res, 1), 10)
            assert (frame["event"], frame["data"]["memory"]["id"]) == ("memory", chat["id"])
            assert chat["is_chat"]
            assert chat["board_group_id"] == group_id
            assert chat["source"] == "owner"
            assert await _notes(board, "group.%") == [
                ("group.chat", "lead-a"), ("group.chat", "outsider"), ("group.chat_mention", "worker-a")
            ]  # fmt: skip
            note = _ok(await http.post(f"{B}/{other}/group-memory", json={"content": "a plain note"}))
            assert note["is_chat"] is False
            assert note["source"] is None
            assert len(await _notes(board, "group.%")) == 3
            _ok(await http.post(gm, json={"content": "everyone @all"}))
            assert [key for _, key in await _notes(board, "group.broadcast")] == [
                "lead-a",
                "outsider",
                "worker-a",
                "worker-b",
            ]
            listed = _ok(await http.get(f"{B}/{board.id}/group-memory", params={"is_chat": "true"}))
            assert [m["id"] for m in listed["items"]] == [chat["id"]]
            assert _ok(await http.get(gm))["total"] == 3
            assert _detail(await http.post(gm, json={"content": "   "}), 422)
            assert _detail(await http.post(gm, json={"content": "x", "bogus": 1}), 422)
            alone = _ok(await http.post(B, json={"name": "alone", "description": "d"}))
            assert _detail(await http.get(f"{B}/{alone['id']}/group-memory"), 422)
        async with board.agent("worker-b") as agent:
            posted = _ok(await agent.post(f"{A}/boards/{board.id}/group-memory",
                                          json={"content": "from b @lead-a", "tags": ["chat"]}))  # fmt: skip
            assert posted["author_kind"] == "agent"
            assert posted["source"] == "Worker B"
            mine = _ok(await agent.get(f"{A}/boards/{other}/group-memory"))
            assert mine["total"] == 4
        async with board.agent("worker-a") as agent:
            assert _detail(await agent.get(f"{A}/boards/{other}/group-memory"), 403)
            assert _detail(await agent.get(f"{A}/boards/{other}/group-memory/stream"), 403)
            url = f"{A}/boards/{board.id}/group-memory/stream"
            async with agent.stream("GET", url, params={"since": "2000-01-01", "is_chat": "true"}) as res:
                replayed = await asyncio.wait_for(_frames(res, 2), 10)
        assert [f["data"]["memory"]["id"] for f in replayed] == [chat["id"], posted["id"]]
        async with board.server.gateway.db.connection() as conn:
            heard = await conn.fetch(
                "SELECT n.recipient_id FROM notifications AS n JOIN coord_events AS e ON e.seq = n.event_seq"
                " WHERE e.data->>'memory_id' = $1", posted["id"],
            )  # fmt: skip
        assert board.agents["worker-b"] not in {r["recipient_id"] for r in heard}
        assert {r["recipient_id"] for r in heard} == {board.agents["lead-a"], board.agents["outsider"]}


class TestTags:
    async def test_tag_crud_and_slug_per_tenant(self, board: Board) -> None:
        """Tags are made (slug from the name, color normalised), listed with task counts, changed
        and deleted; a taken slug is 409, a bad color 422; a task carries the tag."""
        async with board.owner() as http:
            tag = _ok(await http.post("/api/v1/tags", json={"name": "Needs Review", "color": "#FF0000"}))
            assert (tag["slug"], tag["color"], tag["task_count"]) == ("needs-review", "ff0000", 0)
            assert _detail(await http.post("/api/v1/tags", json={"name": "needs review"}), 409)
            assert _detail(await http.post("/api/v1/tags", json={"name": "x", "color": "red"}), 422)
            assert _detail(await http.post("/api/v1/tags", json={"name": ""}), 422)
            _ok(await http.post(f"{B}/{board.id}/tasks", json={"title": "t", "tag_ids": [tag["id"]]}))
            page = _ok(await http.get("/api/v1/tags"))
            assert (page["total"], page["items"][0]["task_count"]) == (1, 1)
            other = _ok(await http.post("/api/v1/tags", json={"name": "other"}))
            assert _detail(
                await http.patch(f"/api/v1/tags/{other['id']}", json={"slug": "needs-review"}), 409
            )
            changed = _ok(
                await http.patch(f"/api/v1/tags/{tag['id']}", json={"name": "Reviewed", "slug": ""})
            )
            assert (changed["name"], changed["slug"], changed["color"]) == ("Reviewed", "reviewed", "ff0000")
            assert _ok(await http.get(f"/api/v1/tags/{tag['id']}"))["name"] == "Reviewed"
            _ok(await http.delete(f"/api/v1/tags/{tag['id']}"))
            assert _detail(await http.get(f"/api/v1/tags/{tag['id']}"), 404)
            assert _detail(await http.delete(f"/api/v1/tags/{tag['id']}"), 404)
            tasks = _ok(await http.get(f"{B}/{board.id}/tasks"))["items"]
            assert tasks[0]["tags"] == []


class TestCustomFields:
    async def test_definitions_and_task_values(self, board: Board) -> None:
        """A definition bound to the board lets its tasks carry the field: the default fills a new
        task, a value of the wrong type, a failed pattern, an unknown key or a required field left
        empty is 422 (FastAPI's list with the field's loc); an unbound board refuses the key."""
        async with board.owner() as http:
            other = _ok(await http.post(B, json={"name": "other", "description": "d"}))
            points = _ok(await http.post(F, json={"field_key": "points", "field_type": "integer", "default_value": 3,
                                                   "board_ids": [board.id]}))  # fmt: skip
            assert (points["label"], points["board_ids"], points["required"]) == ("points", [board.id], False)
            ticket = _ok(await http.post(F, json={"field_key": "ticket", "label": "Ticket", "validation_regex":
                                                  "[A-Z]+-[0-9]+", "board_ids": [board.id]}))  # fmt: skip
            assert _detail(await http.post(F, json={"field_key": "points"}), 409)
            assert _detail(await http.post(F, json={"field_key": "1bad"}), 422)
            assert _detail(await http.post(F, json={"field_key": "n", "field_type": "integer",
                                                    "default_value": "x"}), 422)  # fmt: skip
            assert _detail(await http.post(F, json={"field_key": "r", "validation_regex": "("}), 422)
            assert _detail(await http.post(F, json={"field_key": "z", "board_ids": [str(UUID(int=5))]}), 404)
            url = f"{B}/{board.id}/tasks"
            task = _ok(await http.post(url, json={"title": "t", "custom_field_values": {"ticket": "CG-12"}}))
            assert task["custom_field_values"] == {"points": 3, "ticket": "CG-12"}
            for values in ({"points": "three"}, {"points": True}, {"ticket": "cg12"}, {"nope": 1}):
                detail = _detail(
                    await http.post(url, json={"title": "t", "custom_field_values": values}), 422
                )
                assert detail[0]["loc"][0].startswith("custom_field_values."), detail
            task_url = f"{url}/{task['id']}"
            changed = _ok(await http.patch(task_url, json={"custom_field_values": {"points": 5}}))
            assert changed["custom_field_values"] == {"points": 5, "ticket": "CG-12"}
            assert _detail(await http.patch(task_url, json={"custom_field_values": {"points": 1.5}}), 422)
            _ok(await http.patch(f"{F}/{ticket['id']}", json={"required": True}))
            assert _detail(await http.post(url, json={"title": "t"}), 422)
            assert _detail(await http.patch(task_url, json={"custom_field_values": {"ticket": None}}), 422)
            assert _detail(await http.post(f"{B}/{other['id']}/tasks", json={"title": "t", "custom_field_values":
                                                                            {"points": 1}}), 422)  # fmt: skip
            moved = _ok(await http.patch(f"{F}/{points['id']}", json={"board_ids": [other["id"]]}))
            assert moved["board_ids"] == [other["id"]]
            _ok(
                await http.post(
                    f"{B}/{other['id']}/tasks", json={"title": "t", "custom_field_values": {"points": 1}}
                )
            )
            listed = _ok(await http.get(F))
            assert [d["field_key"] for d in listed] == ["points", "ticket"]
            _ok(await http.delete(f"{F}/{ticket['id']}"))
            assert _detail(await http.delete(f"{F}/{ticket['id']}"), 404)
            assert _detail(await http.patch(f"{F}/{ticket['id']}", json={"label": "x"}), 404)


async def test_nothing_of_another_tenant(board: Board) -> None:
    """Another tenant's admin sees none of this tenant's groups, tags or definitions, may use the
    same tag slug, and cannot bind a definition to this tenant's board."""
    async with board.owner() as http:
        group_id = _ok(await http.post(G, json={"name": "g"}))["id"]
        tag = _ok(await http.post("/api/v1/tags", json={"name": "t"}))
    async with board.server.client(
        GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner", "X-GoClaw-Tenant-Id": "master"}
    ) as http:
        tenant = _ok(await http.post("/v1/tenants", json={"name": "Other", "slug": "other"}), 201)
        key = _ok(await http.post("/v1/api-keys", json={"name": "k", "tenant_id": tenant["id"],
                                                        "scopes": ["operator.admin"]}), 201)  # fmt: skip
    async with board.server.client(key["key"]) as other:
        assert _ok(await other.get(G))["total"] == 0
        assert _detail(await other.get(f"{G}/{group_id}"), 404)
        assert _ok(await other.get("/api/v1/tags"))["total"] == 0
        assert _detail(await other.get(f"/api/v1/tags/{tag['id']}"), 404)
        assert (
            _ok(await other.post("/api/v1/tags", json={"name": "t"}))["slug"] == tag["slug"]
        )  # slugs are per tenant
        assert _detail(await other.post(F, json={"field_key": "k", "board_ids": [board.id]}), 404)
        assert _ok(await other.get(F)) == []
