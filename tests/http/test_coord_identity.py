"""One identity for a caller across the coordination façades (issue 14, loose ends): a tenant-bound
API key is the user ``key:<key id>`` on Mission Control's routes and on GoClaw's ``teams.*`` alike
(``Principal.coord_user``), whatever user id it claims; through real httpx and WebSocket clients."""

from __future__ import annotations

from typing import Any

import httpx

from tests.http.helpers import mint_key
from tests.rpc.test_teams import _gw, _team  # noqa: F401  (the fixture gw: a server with four agents)
from tests.support import GATEWAY_TOKEN, RunningServer, WsClient, ws_connect

CLAIM = "alice"


async def _mc_task(http: httpx.AsyncClient, team_id: str, title: str) -> dict[str, Any]:
    res = await http.post(f"/api/v1/boards/{team_id}/tasks", json={"title": title})
    assert res.status_code == 200, res.text
    task: dict[str, Any] = res.json()
    return task


async def _creators(
    http: httpx.AsyncClient, ws: WsClient, team_id: str, task_id: str
) -> tuple[str, str, str]:
    """Who made the task, as MC (``created_by_user_id``), GoClaw's task (``user_id``) and GoClaw's
    history (the ``task.created`` event's actor) say."""
    res = await http.get(f"/api/v1/boards/{team_id}/tasks/{task_id}")
    assert res.status_code == 200, res.text
    got = await ws.ok("teams.tasks.get", {"teamId": team_id, "taskId": task_id})
    history = await ws.ok("teams.tasks.events", {"teamId": team_id, "taskId": task_id})
    (made,) = [e for e in history["events"] if e["event_type"] == "task.created"]
    return res.json()["created_by_user_id"], got["task"]["user_id"], made["actor_id"]


class TestOneIdentity:
    async def test_a_key_is_the_same_user_on_mission_control_and_goclaw(self, gw: RunningServer) -> None:
        """Tasks and comments made by one tenant-bound key through MC and through GoClaw's
        ``teams.*`` name the same author, ``key:<key id>``, never the user id the key claims."""
        made = await mint_key(gw, "operator.admin")
        actor = f"key:{made['id']}"
        async with (
            ws_connect(gw, token=made["key"], user_id=CLAIM) as ws,
            gw.client(made["key"], **{"X-GoClaw-User-Id": CLAIM}) as http,
        ):
            team = await _team(ws)
            via_mc = await _mc_task(http, team["id"], "via mission control")
            via_goclaw = (await ws.ok("teams.tasks.create", {"teamId": team["id"], "subject": "via goclaw"}))[
                "task"
            ]
            announced = await ws.next_event("team.task.created")
            for task in (via_mc, via_goclaw):
                assert await _creators(http, ws, team["id"], task["id"]) == (actor, actor, actor)
            assert (announced["payload"]["user_id"], announced["payload"]["actor_id"]) == (actor, actor)
            res = await http.post(f"/api/v1/boards/{team['id']}/tasks/{via_goclaw['id']}/comments",
                                  json={"message": "from mission control"})  # fmt: skip
            assert res.status_code == 200, res.text
            await ws.ok(
                "teams.tasks.comment",
                {"teamId": team["id"], "taskId": via_mc["id"], "content": "from goclaw"},
            )
            for task in (via_mc, via_goclaw):
                listed = await ws.ok("teams.tasks.comments", {"teamId": team["id"], "taskId": task["id"]})
                assert [c["user_id"] for c in listed["comments"]] == [actor]
            # The team the key made is its own on both façades: created by key:<id>.
            boards = (await http.get("/api/v1/boards")).json()["items"]
        assert any(b["id"] == team["id"] for b in boards)
        async with gw.gateway.db.connection() as conn:
            assert (
                await conn.fetchval("SELECT created_by FROM teams WHERE id = $1::uuid", team["id"]) == actor
            )

    async def test_a_claimed_user_id_grants_no_team(self, gw: RunningServer) -> None:
        """A tenant-bound operator key claiming the user id that made a team reaches it on neither
        façade: GoClaw's ``teams.get`` is NOT_FOUND and MC's board 404 (the claim never counts)."""
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = await _team(ws)
        made = await mint_key(gw, "operator.write")
        async with (
            ws_connect(gw, token=made["key"], user_id="owner") as ws,
            gw.client(made["key"], **{"X-GoClaw-User-Id": "owner"}) as http,
        ):
            res = await ws.call("teams.get", {"teamId": team["id"]})
            assert (res["ok"], res["error"]["code"]) == (False, "NOT_FOUND")
            res = await ws.call("teams.tasks.create", {"teamId": team["id"], "subject": "sneaky"})
            assert (res["ok"], res["error"]["code"]) == (False, "NOT_FOUND")
            assert (await ws.ok("teams.list"))["count"] == 0
            board = await http.get(f"/api/v1/boards/{team['id']}")
            assert board.status_code == 404, board.text
