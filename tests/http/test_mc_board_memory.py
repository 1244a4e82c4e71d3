"""Mission Control's board memory for users, board PATCH telling the lead, board gateways and the
agent API's LLM hints, through a real server and httpx (issue 14): ``/api/v1/boards/{b}/memory``
(the agent route's store and notifications: a user's chat reaches the lead and the mentioned
agents) with its SSE stream resumed by ``since`` and ``Last-Event-ID``; a PATCH waking the lead with
the fields it changed and a group move its agents, each delivery an activity event; a board's
``gateway_id`` checked against the tenant's gateway records; and MC's ``x-llm-intent``,
``x-when-to-use``, ``x-routing-policy`` and ``x-required-actor`` on every agent operation."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

from tests.http.helpers import mint_key
from tests.http.test_mc_agent import Board, _detail, _ok
from tests.http.test_mc_agent import _board as _board  # the `board` fixture, shared
from tests.http.test_mission_control import _frames

B = "/api/v1/boards"
A = "/api/v1/agent"
ORG = "/api/v1/organizations"


async def _notes(board: Board, board_id: str, kinds: str = "%") -> list[tuple[str, str, str]]:
    """(kind, recipient agent key, body) of the board's notifications whose kind is LIKE ``kinds``,
    oldest first."""
    keys = {v: k for k, v in board.agents.items()}
    async with board.server.gateway.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT kind, recipient_id, body FROM notifications WHERE team_id = $1 AND kind LIKE $2"
            " ORDER BY created_at, kind, recipient_id",
            UUID(board_id), kinds,
        )  # fmt: skip
    return [(r["kind"], keys[r["recipient_id"]], r["body"]) for r in rows]


async def _settled(board: Board, board_id: str, kinds: str) -> list[dict[str, Any]]:
    """The board's notifications LIKE ``kinds`` once none is pending (delivery follows the commit)."""
    for _ in range(200):
        async with board.server.gateway.db.connection() as conn:
            rows = await conn.fetch(
                "SELECT id, kind, recipient_id, status FROM notifications WHERE team_id = $1 AND kind LIKE $2",
                UUID(board_id), kinds,
            )  # fmt: skip
        if rows and all(r["status"] != "pending" for r in rows):
            return [dict(r) for r in rows]
        await asyncio.sleep(0.05)
    raise AssertionError("notifications still pending")


class TestBoardMemory:
    async def test_user_chat_reaches_the_lead_and_mentions_and_streams(self, board: Board) -> None:
        """A user's board chat is ``is_chat``, sourced by the user, and wakes the lead (BOARD CHAT)
        and the mentioned worker (BOARD CHAT MENTION); a plain note wakes nobody; the memory lists
        as MC's page (is_chat filter, limit/offset) with the agents' entries; the stream sends
        ``event: memory`` frames live, replays from ``since`` (is_chat filtered) and resumes after
        ``Last-Event-ID``; blank or unknown fields are 422, another board 404."""
        url = f"{B}/{board.id}/memory"
        async with board.owner() as http:
            async with http.stream("GET", url + "/stream") as res:
                await asyncio.sleep(0.2)
                chat = _ok(await http.post(url, json={"content": "hello @worker-a", "is_chat": True}))
                (frame,) = await asyncio.wait_for(_frames(res, 1), 10)
            assert (frame["event"], frame["data"]["memory"]["id"]) == ("memory", chat["id"])
            assert (chat["is_chat"], chat["tags"], chat["board_id"]) == (True, ["chat"], board.id)
            assert (chat["source"], chat["author_kind"]) == ("owner", "user")
            heard = [(k, who) for k, who, _ in await _notes(board, board.id, "board.chat%")]
            assert sorted(heard) == [("board.chat", "lead-a"), ("board.chat_mention", "worker-a")]
            note = _ok(await http.post(url, json={"content": "a plain note", "tags": ["decision"]}))
            assert (note["is_chat"], note["tags"]) == (False, ["decision"])
            assert len(await _notes(board, board.id, "board.chat%")) == 2
            assert _detail(await http.post(url, json={"content": "   "}), 422)
            assert _detail(await http.post(url, json={"content": "x", "bogus": 1}), 422)
            assert _detail(await http.get(url, params={"limit": 0}), 422)
            assert _detail(await http.get(f"{B}/{uuid4()}/memory"), 404)
            assert _detail(await http.post(f"{B}/{uuid4()}/memory", json={"content": "x"}), 404)
            assert _detail(await http.get(f"{B}/{uuid4()}/memory/stream"), 404)
        async with board.agent("worker-b") as agent:
            posted = _ok(
                await agent.post(f"{A}/boards/{board.id}/memory", json={"content": "on it", "tags": ["chat"]})
            )
        async with board.owner() as http:
            chats = _ok(await http.get(url, params={"is_chat": "true"}))
            assert [m["id"] for m in chats["items"]] == [posted["id"], chat["id"]]
            page = _ok(await http.get(url, params={"limit": 1, "offset": 1}))
            assert (page["total"], page["limit"], page["offset"]) == (3, 1, 1)
            assert [m["id"] for m in page["items"]] == [note["id"]]
            params = {"since": "2000-01-01", "is_chat": "true"}
            async with http.stream("GET", url + "/stream", params=params) as res:
                replayed = await asyncio.wait_for(_frames(res, 2), 10)
            assert [f["data"]["memory"]["id"] for f in replayed] == [chat["id"], posted["id"]]
            async with http.stream(
                "GET", url + "/stream", headers={"Last-Event-ID": replayed[0]["id"]}
            ) as res:
                (after,) = await asyncio.wait_for(_frames(res, 1), 10)
            assert after["data"]["memory"]["id"] == note["id"]  # resumed after the first chat, unfiltered

    async def test_read_access_reads_and_no_access_sees_nothing(self, board: Board) -> None:
        """A member with read access to the board lists and streams its memory but may not post
        (403); a member without access gets 404 on all three routes."""
        reader, stranger = [await mint_key(board.server, "operator.write") for _ in range(2)]
        async with board.server.client(reader["key"]) as http:
            me = _ok(await http.get(f"{ORG}/me/member"))
        async with board.owner() as http:
            access = {"all_boards_read": False, "all_boards_write": False,
                      "board_access": [{"board_id": board.id, "can_read": True, "can_write": False}]}  # fmt: skip
            _ok(await http.put(f"{ORG}/me/members/{me['id']}/access", json=access))
            _ok(await http.post(f"{B}/{board.id}/memory", json={"content": "for readers"}))
        url = f"{B}/{board.id}/memory"
        async with board.server.client(reader["key"]) as http:
            assert [m["content"] for m in _ok(await http.get(url))["items"]] == ["for readers"]
            assert _detail(await http.post(url, json={"content": "x"}), 403)
            async with http.stream("GET", url + "/stream", params={"since": "2000-01-01"}) as res:
                (frame,) = await asyncio.wait_for(_frames(res, 1), 10)
            assert frame["data"]["memory"]["content"] == "for readers"
        async with board.server.client(stranger["key"]) as http:
            assert _detail(await http.get(url), 404)
            assert _detail(await http.post(url, json={"content": "x", "is_chat": True}), 404)
            assert _detail(await http.get(url + "/stream"), 404)
        assert len(await _notes(board, board.id, "board.chat%")) == 0


class TestBoardPatchTellsTheLead:
    async def test_changed_fields_wake_the_lead_and_a_group_move_its_agents(self, board: Board) -> None:
        """A PATCH wakes the lead with the fields it changed, from what to what (unchanged ones are
        not named; a PATCH changing nothing wakes nobody); moving the board into a group wakes every
        agent of it (and not the lead again for that); each delivery is an activity event on the
        board (``board.lead_notified`` / ``_notify_failed``, ``board.group.join.notified`` ...)
        matching the notification's outcome."""
        async with board.owner() as http:
            before = await _notes(board, board.id, "board.update")
            assert [k for k, _, _ in before] == ["board.update"]  # make_board's rules, told to the lead
            _ok(
                await http.patch(
                    f"{B}/{board.id}", json={"max_agents": 4, "name": "Launch", "objective": "Ship"}
                )
            )
            _ok(await http.patch(f"{B}/{board.id}", json={"max_agents": 4}))
            updates = await _notes(board, board.id, "board.update")
            assert [(k, who) for k, who, _ in updates] == [("board.update", "lead-a")] * 2
            body = updates[-1][2]
            assert body.startswith("BOARD UPDATED")
            assert "- max_agents: 1 -> 4" in body
            assert "- objective: (none) -> Ship" in body
            assert "name:" not in body
            group = _ok(await http.post("/api/v1/board-groups", json={"name": "g"}))
            _ok(await http.patch(f"{B}/{board.id}", json={"board_group_id": group["id"]}))
            joined = await _notes(board, board.id, "board.group.%")
            assert sorted(who for _, who, _ in joined) == ["lead-a", "worker-a", "worker-b"]
            assert len(await _notes(board, board.id, "board.update")) == 2
            delivered = await _settled(board, board.id, "board.%")
            activity = _ok(await http.get("/api/v1/activity", params={"board_id": board.id, "limit": 200}))
        events = {(e["event_type"], e["agent_id"]) for e in activity["items"]}
        for n in delivered:
            if n["kind"] == "board.update":
                kind = "board.lead_notified" if n["status"] == "sent" else "board.lead_notify_failed"
            else:
                kind = f"{n['kind']}.{'notified' if n['status'] == 'sent' else 'notify_failed'}"
            assert (kind, n["recipient_id"]) in events, (kind, n, events)

    async def test_a_board_without_a_lead_tells_nobody(self, board: Board) -> None:
        """A board made on MC has no lead yet: its PATCH queues no notification."""
        async with board.owner() as http:
            made = _ok(await http.post(B, json={"name": "Solo", "description": "d"}))
            _ok(await http.patch(f"{B}/{made['id']}", json={"max_agents": 2, "objective": "x"}))
        assert await _notes(board, made["id"]) == []


class TestBoardGateway:
    async def test_gateway_id_must_be_a_gateway_of_the_tenant(self, board: Board) -> None:
        """A board takes the tenant's gateway record (this ClawGate's row); an unknown gateway is
        422 on create and PATCH, and PATCH may not null it (422); the board keeps its gateway."""
        async with board.owner() as http:
            gateways = _ok(await http.get("/api/v1/gateways"))
            own = gateways["items"][0]["id"]
            made = _ok(await http.post(B, json={"name": "G", "description": "d", "gateway_id": own}))
            assert made["gateway_id"] == own
            unknown = str(uuid4())
            assert "gateway_id" in str(_detail(await http.post(B, json={"name": "H", "description": "d",
                                                                         "gateway_id": unknown}), 422))  # fmt: skip
            assert _detail(await http.patch(f"{B}/{made['id']}", json={"gateway_id": unknown}), 422)
            assert _detail(await http.patch(f"{B}/{made['id']}", json={"gateway_id": None}), 422)
            assert _ok(await http.get(f"{B}/{made['id']}"))["gateway_id"] == own
            assert _ok(await http.patch(f"{B}/{board.id}", json={"gateway_id": own}))["gateway_id"] == own
            names = [b["name"] for b in _ok(await http.get(B))["items"]]
        assert "H" not in names


async def test_every_agent_operation_carries_mcs_llm_hints(board: Board) -> None:
    """In the served OpenAPI every agent operation (under /api/v1/agent, or tagged with an agent
    role) has a role tag and MC's ``x-llm-intent``, ``x-when-to-use``, ``x-routing-policy`` and
    ``x-required-actor``, the actor matching its role tags; user operations carry none."""
    async with board.owner() as http:
        doc = _ok(await http.get("/v1/openapi.json"))
    roles = {"agent-lead", "agent-worker", "agent-main"}
    actors = {("agent-lead",): "board_lead", ("agent-lead", "agent-worker"): "board_agent",
              ("agent-main",): "gateway_main"}  # fmt: skip
    agent_ops = 0
    for path, item in doc["paths"].items():
        for method, op in item.items():
            tagged = tuple(t for t in op.get("tags", []) if t in roles)
            if not (path.startswith("/api/v1/agent/") or tagged):
                assert not any(k.startswith("x-llm") or k == "x-required-actor" for k in op), (method, path)
                continue
            agent_ops += 1
            where = (method, path)
            assert tagged, where
            assert isinstance(op["x-llm-intent"], str), where
            assert op["x-llm-intent"], where
            for hint in ("x-when-to-use", "x-routing-policy"):
                assert op[hint], where
                assert all(isinstance(text, str) and text.strip() for text in op[hint]), where
            assert op["x-required-actor"] == actors[tagged], where
    assert agent_ops >= 29
    intents = [
        op["x-llm-intent"] for item in doc["paths"].values() for op in item.values() if "x-llm-intent" in op
    ]
    assert len(set(intents)) >= 28  # one per route (the onboarding post has MC's older path too)
