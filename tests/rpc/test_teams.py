"""GoClaw's agent teams over a real WebSocket (issue 14, build item 5): teams with a lead and members
(ClawGate agents), their tasks on the shared model with GoClaw's statuses, the chat sidebar's
``teams.tasks.active-by-session``, approve/reject/comment/assign/delete, the history, the events
sent to the tenant's clients, minimum roles and what a caller without access to a team sees."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import msgspec
import pytest

from clawgate.bus import BusEvent
from clawgate.principal import Principal, Role
from clawgate.rpc.connection import visible_to
from tests.conftest import ServerFactory
from tests.rpc.test_bus import _pair, _until_marker  # noqa: F401  (the fixture pair: two processes)
from tests.support import GATEWAY_TOKEN, RunningServer, WsClient, add_stub_provider, ws_connect


@pytest.fixture(name="gw")
async def _gw(make_server: ServerFactory) -> RunningServer:
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], gateway__rate_limit_rpm=0,
        rate_limits__per_ip_rpm=0, rate_limits__per_key_rpm=0,
    )  # fmt: skip
    await add_stub_provider(server)
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        for key in ("lead-a", "worker-a", "worker-b", "lead-b"):
            res = await http.post("/v1/agents", json={"agent_key": key, "provider": "stub", "model": "m"})
            assert res.status_code == 201, res.text
    return server


async def _key(server: RunningServer, *scopes: str) -> str:
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        res = await http.post("/v1/api-keys", json={"name": "k", "scopes": list(scopes)})
    assert res.status_code == 201, res.text
    key: str = res.json()["key"]
    return key


async def _team(ws: WsClient, name: str = "Research", lead: str = "lead-a") -> dict[str, Any]:
    made = await ws.ok("teams.create", {"name": name, "lead": lead, "members": ["worker-a", "worker-b"],
                                        "description": "d", "settings": {"version": 1}})  # fmt: skip
    team: dict[str, Any] = made["team"]
    return team


def _err(res: dict[str, Any]) -> str:
    assert not res["ok"], res
    code: str = res["error"]["code"]
    return code


class TestTeams:
    async def test_create_list_get_update_delete(self, gw: RunningServer) -> None:
        """A team lists with its lead and member count; get lists the lead first; update renames;
        delete removes it."""
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = await _team(ws)
            assert (team["name"], team["lead_agent_key"], team["member_count"], team["status"]) == (
                "Research", "lead-a", 3, "active")  # fmt: skip
            listed = await ws.ok("teams.list")
            assert listed["count"] == 1
            assert listed["teams"][0]["id"] == team["id"]
            got = await ws.ok("teams.get", {"teamId": team["id"]})
            assert [(m["agent_key"], m["role"]) for m in got["members"]] == [
                ("lead-a", "lead"), ("worker-a", "member"), ("worker-b", "member")]  # fmt: skip
            assert await ws.ok("teams.update", {"teamId": team["id"], "name": "Renamed", "description": None}) == {
                "ok": True}  # fmt: skip
            got = await ws.ok("teams.get", {"teamId": team["id"]})
            assert (got["team"]["name"], got["team"]["description"]) == ("Renamed", "d")
            assert await ws.ok("teams.delete", {"teamId": team["id"]}) == {"ok": True}
            assert _err(await ws.call("teams.get", {"teamId": team["id"]})) == "NOT_FOUND"
            assert (await ws.ok("teams.list"))["count"] == 0

    async def test_an_agent_leads_one_team_and_members_come_and_go(self, gw: RunningServer) -> None:
        """A second team under the same lead is refused; members are added (as reviewer) and
        removed; the lead cannot be removed; an unknown agent is INVALID_REQUEST."""
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = await _team(ws)
            res = await ws.call("teams.create", {"name": "Other", "lead": "lead-a", "members": ["worker-a"]})
            assert _err(res) == "INVALID_REQUEST"
            assert "already leads" in res["error"]["message"]
            assert _err(await ws.call("teams.create", {"name": "X", "lead": "nobody", "members": ["a"]})) == (
                "INVALID_REQUEST")  # fmt: skip
            assert _err(await ws.call("teams.create", {"name": "X", "lead": "lead-b", "members": []})) == (
                "INVALID_REQUEST")  # fmt: skip
            await ws.ok("teams.members.add", {"teamId": team["id"], "agent": "lead-b", "role": "reviewer"})
            await ws.ok("teams.members.remove", {"teamId": team["id"], "agentId": "worker-b"})
            got = await ws.ok("teams.get", {"teamId": team["id"]})
            assert {(m["agent_key"], m["role"]) for m in got["members"]} == {
                ("lead-a", "lead"), ("worker-a", "member"), ("lead-b", "reviewer")}  # fmt: skip
            res = await ws.call("teams.members.remove", {"teamId": team["id"], "agentId": "lead-a"})
            assert _err(res) == "FAILED_PRECONDITION"
            res = await ws.call("teams.members.remove", {"teamId": team["id"], "agentId": "worker-b"})
            assert _err(res) == "NOT_FOUND"
            kinds = [
                e["event_type"] for e in (await ws.ok("teams.events.list", {"team_id": team["id"]}))["events"]
            ]
            assert kinds == ["team.member_removed", "team.member_added", "team.created"]

    async def test_bad_ids_and_unknown_teams(self, gw: RunningServer) -> None:
        """A team id that is not a UUID is INVALID_REQUEST naming the field; an unknown one NOT_FOUND."""
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            res = await ws.call("teams.get", {"teamId": "nope"})
            assert _err(res) == "INVALID_REQUEST"
            assert res["error"]["details"]["field"] == "$.teamId"
            unknown = "00000000-0000-0000-0000-000000000001"
            for method, params in [
                ("teams.get", {"teamId": unknown}), ("teams.tasks.list", {"teamId": unknown}),
                ("teams.known_users", {"teamId": unknown}), ("teams.scopes", {"teamId": unknown}),
                ("teams.events.list", {"team_id": unknown}),
                ("teams.tasks.get", {"teamId": unknown, "taskId": unknown}),
            ]:  # fmt: skip
                assert _err(await ws.call(method, params)) == "NOT_FOUND", method
            res = await ws.call("teams.tasks.get", {"teamId": unknown, "taskId": "x"})
            assert _err(res) == "INVALID_REQUEST"
            assert _err(await ws.call("teams.create", {"name": "", "lead": "lead-a", "members": ["a"]})) == (
                "INVALID_REQUEST")  # fmt: skip
            assert _err(await ws.call("teams.get", {"teamId": unknown, "extra": 1})) == "INVALID_REQUEST"


class TestTasks:
    async def test_task_lifecycle_in_goclaw_terms(self, gw: RunningServer) -> None:
        """create -> pending; assignTo -> in_progress with its owner; the chat sidebar lists the open
        tasks of a chat; approve needs in_review; reject cancels; finished tasks alone are deleted."""
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = await _team(ws)
            tid = team["id"]
            first = (await ws.ok("teams.tasks.create", {"teamId": tid, "subject": "Write it", "priority": 5,
                                                        "chatId": "agent:lead-a:ws-1"}))["task"]  # fmt: skip
            assert (first["status"], first["owner_agent_id"], first["priority"], first["channel"]) == (
                "pending", None, 5, "dashboard")  # fmt: skip
            second = (await ws.ok("teams.tasks.create", {"teamId": tid, "subject": "Review it", "assignTo": "worker-a",
                                                         "chatId": "agent:lead-a:ws-1", "taskType": "review"}))["task"]  # fmt: skip
            assert (second["status"], second["owner_agent_key"], second["task_number"]) == (
                "in_progress", "worker-a", first["task_number"] + 1)  # fmt: skip
            res = await ws.call("teams.tasks.create", {"teamId": tid, "subject": "x", "assignTo": "lead-b"})
            assert _err(res) == "INVALID_REQUEST"  # not a member
            side = await ws.ok("teams.tasks.active-by-session", {"sessionKey": "agent:lead-a:ws-1"})
            assert [(t["subject"], t["status"]) for t in side["tasks"]] == [
                ("Review it", "in_progress"), ("Write it", "pending")]  # fmt: skip
            assert side["tasks"][0]["ownerAgentKey"] == "worker-a"
            assert await ws.ok("teams.tasks.active-by-session", {"sessionKey": ""}) == {"tasks": []}
            assert await ws.ok("teams.tasks.active-by-session", {}) == {"tasks": []}

            res = await ws.call("teams.tasks.approve", {"teamId": tid, "taskId": second["id"]})
            assert _err(res) == "FAILED_PRECONDITION"
            await ws.ok("teams.tasks.assign", {"teamId": tid, "taskId": first["id"], "agentId": "worker-b"})
            await ws.ok(
                "teams.tasks.comment", {"teamId": tid, "taskId": first["id"], "content": "looks fine"}
            )
            await ws.ok("teams.tasks.reject", {"teamId": tid, "taskId": first["id"], "reason": "not needed"})
            light = (await ws.ok("teams.tasks.get-light", {"teamId": tid, "taskId": first["id"]}))["task"]
            assert (light["status"], light["result"], light["owner_agent_key"]) == (
                "cancelled",
                "not needed",
                "worker-b",
            )
            detail = await ws.ok("teams.tasks.get", {"teamId": tid, "taskId": first["id"]})
            assert [c["content"] for c in detail["comments"]] == ["looks fine"]
            assert detail["task"]["comment_count"] == 1
            assert [e["event_type"] for e in detail["events"]] == [
                "task.created", "task.status_changed", "task.status_changed"]  # fmt: skip
            assert detail["events"][-1]["data"]["to"] == "cancelled"

            listed = await ws.ok("teams.tasks.list", {"teamId": tid})
            assert [t["subject"] for t in listed["tasks"]] == ["Review it"]  # active only
            assert (await ws.ok("teams.tasks.list", {"teamId": tid, "status": "all"}))["count"] == 2
            assert (
                _err(await ws.call("teams.tasks.list", {"teamId": tid, "status": "weird"}))
                == "INVALID_REQUEST"
            )
            res = await ws.call("teams.tasks.delete", {"teamId": tid, "taskId": second["id"]})
            assert _err(res) == "INVALID_REQUEST"  # still open
            bulk = await ws.ok(
                "teams.tasks.delete-bulk", {"teamId": tid, "taskIds": [first["id"], second["id"], "x"]}
            )
            assert bulk == {"deleted": 1}
            scopes = (await ws.ok("teams.scopes", {"teamId": tid}))["scopes"]
            assert scopes == [{"channel": "dashboard", "chat_id": "agent:lead-a:ws-1", "task_count": 1}]
            assert (await ws.ok("teams.known_users", {"teamId": tid}))["users"] == ["owner"]

    async def test_clients_of_the_tenant_hear_team_events(self, gw: RunningServer) -> None:
        """A task created on one connection is announced to another of the tenant (GoClaw's names)."""
        async with (
            ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws,
            ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as other,
        ):
            team = await _team(ws)
            await ws.ok("teams.tasks.create", {"teamId": team["id"], "subject": "Heard"})
            await other.ok("health")
            ev = await other.next_event("team.task.created")
            assert (ev["payload"]["subject"], ev["payload"]["status"]) == ("Heard", "pending")


class TestAccess:
    async def test_roles_and_teams_without_access(self, gw: RunningServer) -> None:
        """A viewer key may not create teams (UNAUTHORIZED) and sees none it was not given; an
        operator may not change tasks of a team it cannot see."""
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = await _team(ws)
            task = (
                await ws.ok("teams.tasks.create", {"teamId": team["id"], "subject": "t", "chatId": "c1"})
            )["task"]
        viewer, operator = await _key(gw, "operator.read"), await _key(gw, "operator.write")
        async with ws_connect(gw, token=viewer, user_id="v") as ws:
            assert _err(await ws.call("teams.create", {"name": "n", "lead": "lead-b", "members": ["x"]})) == (
                "UNAUTHORIZED")  # fmt: skip
            assert await ws.ok("teams.list") == {"teams": [], "count": 0}
            assert _err(await ws.call("teams.get", {"teamId": team["id"]})) == "NOT_FOUND"
            assert await ws.ok("teams.tasks.active-by-session", {"sessionKey": "c1"}) == {"tasks": []}
            assert _err(await ws.call("teams.tasks.comment", {"teamId": team["id"], "taskId": task["id"],
                                                              "content": "x"})) == "UNAUTHORIZED"  # fmt: skip
        async with ws_connect(gw, token=operator, user_id="o") as ws:
            res = await ws.call(
                "teams.tasks.assign", {"teamId": team["id"], "taskId": task["id"], "agentId": "worker-a"}
            )
            assert _err(res) == "NOT_FOUND"
            assert _err(await ws.call("teams.tasks.delete", {"teamId": team["id"], "taskId": task["id"]})) == (
                "UNAUTHORIZED")  # fmt: skip


ORG = "/api/v1/organizations"


async def _heard(server: RunningServer, ws: dict[str, WsClient]) -> dict[str, list[tuple[str, str]]]:
    """The ``team.*`` events each client received, as (name, team id), up to a ``health`` marker
    published now on ``server`` (after what was published before it, in every process)."""
    await server.gateway.bus.publish(BusEvent(name="health", payload={}))
    got: dict[str, list[dict[str, Any]]] = {}
    for name, client in ws.items():
        got[name], client.events = client.events, []  # those read while waiting for a response
        got[name] += await _until_marker(client)
    return {
        name: [(e["event"], e["payload"]["team_id"]) for e in events if e["event"].startswith("team.")]
        for name, events in got.items()
    }


async def _member(server: RunningServer, key: str) -> str:
    """The Mission Control member row of the user ``key`` is (made at first sight): its id."""
    async with server.client(key) as http:
        res = await http.get(ORG + "/me/member")
    assert res.status_code == 200, res.text
    member_id: str = res.json()["id"]
    return member_id


async def _grant(server: RunningServer, member_id: str, *team_ids: str) -> None:
    """Give a member read access to exactly ``team_ids`` (Mission Control's board access, as an owner)."""
    body = {"board_access": [{"board_id": t} for t in team_ids]}
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        res = await http.put(f"{ORG}/me/members/{member_id}/access", json=body)
    assert res.status_code == 200, res.text


class TestEventAudience:
    """GoClaw sends a team's ``team.*`` events only to the clients that may read the team (its
    readers, with access rows, and the tenant's admins), never to every client of the tenant."""

    async def test_only_readers_and_admins_hear_a_teams_events(self, gw: RunningServer) -> None:
        """A task of a team alice and bob may not read reaches the owner and an admin key only, while
        a task of a team they were given reaches them too; granting alice the first team makes its
        later events reach her (and ``teams.get`` answers her), never bob."""
        alice, bob, admin = [await _key(gw, s) for s in ("operator.write", "operator.read", "operator.admin")]
        alice_id, bob_id = await _member(gw, alice), await _member(gw, bob)
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as owner:
            secret = (await _team(owner, "Secret", "lead-a"))["id"]
            shared = (await _team(owner, "Shared", "lead-b"))["id"]
        for member_id in (alice_id, bob_id):
            await _grant(gw, member_id, shared)
        async with (
            ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as owner,
            ws_connect(gw, token=alice, user_id="alice") as a,
            ws_connect(gw, token=bob, user_id="bob") as b,
            ws_connect(gw, token=admin, user_id="carol") as c,
        ):
            clients = {"owner": owner, "alice": a, "bob": b, "admin": c}
            task = (await owner.ok("teams.tasks.create", {"teamId": secret, "subject": "salaries"}))["task"]
            await owner.ok("teams.tasks.comment", {"teamId": secret, "taskId": task["id"], "content": "x"})
            await owner.ok("teams.update", {"teamId": secret, "description": "hush"})
            await owner.ok("teams.tasks.create", {"teamId": shared, "subject": "lunch"})
            heard = await _heard(gw, clients)
            both = [("team.task.created", secret), ("team.task.commented", secret), ("team.updated", secret),
                    ("team.task.created", shared)]  # fmt: skip
            assert heard == {"owner": both, "admin": both, "alice": both[3:], "bob": both[3:]}
            assert _err(await a.call("teams.get", {"teamId": secret})) == "NOT_FOUND"

            await _grant(gw, alice_id, secret, shared)
            await owner.ok("teams.tasks.create", {"teamId": secret, "subject": "bonuses"})
            heard = await _heard(gw, clients)
            assert heard["alice"] == heard["admin"] == [("team.task.created", secret)]
            assert heard["bob"] == []
            assert (await a.ok("teams.get", {"teamId": secret}))["team"]["id"] == secret
            assert {t["id"] for t in (await a.ok("teams.list"))["teams"]} == {secret, shared}
            assert _err(await b.call("teams.get", {"teamId": secret})) == "NOT_FOUND"

            # A deleted team's last event reaches its readers still (read before its rows go).
            await owner.ok("teams.delete", {"teamId": secret})
            heard = await _heard(gw, clients)
            assert heard["alice"] == heard["owner"] == [("team.deleted", secret)]
            assert heard["bob"] == []

    def test_the_filter_reads_the_readers_the_event_carries(self) -> None:
        """``visible_to``: a team's event reaches its readers and the tenant's admins and owners, not
        another user nor a reader's events of another tenant; the readers never reach the client
        (only the payload is sent) and an event without them is encoded as before."""
        tenant, other = UUID(int=1), UUID(int=2)
        event = BusEvent(name="team.task.created", payload={"team_id": "t"}, tenant_id=tenant,
                         readers=frozenset({"alice", "key:k1"}))  # fmt: skip
        key = UUID("00000000-0000-0000-0000-0000000000a1")

        def who(user: str, role: Role = Role.VIEWER, **extra: Any) -> Principal:
            return Principal(role=role, user_id=user, tenant_id=tenant, **extra)

        assert visible_to(event, who("alice"))
        assert not visible_to(event, who("bob", Role.OPERATOR))
        assert visible_to(event, who("bob", Role.ADMIN))
        assert visible_to(event, who("bob", is_owner=True))
        assert not visible_to(event, Principal(role=Role.VIEWER, user_id="alice", tenant_id=other))
        assert not visible_to(
            event, who("alice", via="api_key", key_id=key)
        )  # a key is key:<id>, not its claim
        unlisted = BusEvent(name="team.task.created", payload={}, tenant_id=tenant)  # fail-closed
        assert (visible_to(unlisted, who("alice")), visible_to(unlisted, who("bob", Role.ADMIN))) == (
            False,
            True,
        )
        encoded = msgspec.json.encode(BusEvent(name="agent", payload={}, tenant_id=tenant, user_id="alice"))
        assert b"readers" not in encoded
        assert msgspec.json.decode(msgspec.json.encode(event), type=BusEvent) == event

    async def test_a_team_event_is_filtered_in_the_process_of_the_connection(
        self, pair: tuple[RunningServer, RunningServer]
    ) -> None:
        """A task created on server A reaches, on server B, an admin and a reader of its team, not
        another user of the tenant (the readers travel with the event over the bus)."""
        first, second = pair
        await add_stub_provider(first)
        async with first.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            for agent in ("lead-a", "worker-a", "worker-b"):
                res = await http.post(
                    "/v1/agents", json={"agent_key": agent, "provider": "stub", "model": "m"}
                )
                assert res.status_code == 201, res.text
        reader, other = await _key(first, "operator.read"), await _key(first, "operator.read")
        async with ws_connect(first, token=GATEWAY_TOKEN, user_id="owner") as owner:
            team = (await _team(owner))["id"]
            await _grant(first, await _member(first, reader), team)
            await _member(first, other)
            async with (
                ws_connect(second, token=GATEWAY_TOKEN, user_id="carol") as admin,
                ws_connect(second, token=reader, user_id="r") as r,
                ws_connect(second, token=other, user_id="o") as o,
            ):
                await owner.ok("teams.tasks.create", {"teamId": team, "subject": "across"})
                heard = await _heard(first, {"admin": admin, "reader": r, "other": o})
        assert heard == {"admin": [("team.task.created", team)], "reader": [("team.task.created", team)],
                         "other": []}  # fmt: skip


class TestRest:
    async def test_events_and_export_preview_over_http(self, gw: RunningServer) -> None:
        """``GET /v1/teams/{id}/events`` pages the history newest first; the export preview counts;
        a bad id is 400 in GoClaw's envelope, an unknown one 404."""
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = await _team(ws)
            await ws.ok("teams.tasks.create", {"teamId": team["id"], "subject": "one"})
        async with gw.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            res = await http.get(f"/v1/teams/{team['id']}/events", params={"limit": 1})
            assert res.status_code == 200, res.text
            body = res.json()
            assert (body["count"], body["events"][0]["event_type"]) == (1, "task.created")
            res = await http.get(f"/v1/teams/{team['id']}/events", params={"limit": 1, "offset": 1})
            assert res.json()["events"][0]["event_type"] == "team.created"
            res = await http.get(f"/v1/teams/{team['id']}/export/preview")
            assert res.json() == {
                "team_name": "Research",
                "members": 3,
                "tasks": 1,
                "agent_links": 0,
                "comments": 0,
                "events": 2,
                "attachments": 0,
                "workspace_files": 0,
            }
            res = await http.get("/v1/teams/nope/events")
            assert res.status_code == 400
            assert res.json()["error"]["code"] == "INVALID_REQUEST"
            res = await http.get("/v1/teams/00000000-0000-0000-0000-000000000001/export/preview")
            assert res.status_code == 404


class TestWorkspace:
    async def test_list_read_delete_per_chat_and_shared(self, gw: RunningServer) -> None:
        """The team's files (per chat unless the team's ``workspace_scope`` is ``shared``) list with
        GoClaw's entries, read with their content, and delete; paths out of the scope, a missing
        ``chat_id``, bad ids and unknown files are 4xx, never 500; a viewer reads but may not delete."""
        from clawgate.store.tenants import MASTER_TENANT_ID

        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = await _team(ws)
            root = gw.gateway.team_workspace.root(MASTER_TENANT_ID, UUID(team["id"]))
            (root / "chat-1" / "docs").mkdir(parents=True)
            (root / "chat-1" / "docs" / "plan.md").write_text("the plan")
            (root / "chat-2").mkdir()
            (root / "chat-2" / "notes.txt").write_text("x" * 10)
            (root / "outside.txt").write_text("not in a chat")
            (root / "chat-1" / "escape").symlink_to(root.parent)
            listed = await ws.ok("teams.workspace.list", {"team_id": team["id"]})
            names = [(f["name"], f.get("is_dir", False), f["chat_id"]) for f in listed["files"]]
            assert names == [("chat-1", True, "chat-1"), ("chat-1/docs", True, "chat-1"),
                             ("chat-1/docs/plan.md", False, "chat-1"), ("chat-2", True, "chat-2"),
                             ("chat-2/notes.txt", False, "chat-2")]  # fmt: skip
            assert listed["count"] == 5
            one = await ws.ok("teams.workspace.list", {"team_id": team["id"], "chat_id": "chat-2"})
            assert [(f["name"], f["size"]) for f in one["files"]] == [("notes.txt", 10)]
            read = await ws.ok("teams.workspace.read", {"team_id": team["id"], "chat_id": "chat-1",
                                                        "file_name": "docs/plan.md"})  # fmt: skip
            assert read["content"] == "the plan"
            assert (read["file"]["path"], read["file"]["size"]) == ("chat-1/docs/plan.md", 8)
            assert read["file"]["updated_at"].endswith("Z")
            ref = {"team_id": team["id"], "chat_id": "chat-1"}
            for bad in ("../chat-2/notes.txt", "/etc/passwd", "escape/outside.txt", "docs", "a\x00b"):
                assert (
                    _err(await ws.call("teams.workspace.read", {**ref, "file_name": bad}))
                    == "INVALID_REQUEST"
                )
            assert _err(await ws.call("teams.workspace.read", {**ref, "file_name": "nope.md"})) == "NOT_FOUND"
            assert _err(await ws.call("teams.workspace.read", {"team_id": team["id"], "file_name": "x"})) == (
                "INVALID_REQUEST")  # fmt: skip
            assert _err(await ws.call("teams.workspace.list", {"team_id": "nope"})) == "INVALID_REQUEST"
            assert (
                _err(await ws.call("teams.workspace.list", {**ref, "chat_id": "../x"})) == "INVALID_REQUEST"
            )
            assert _err(await ws.call("teams.workspace.list", {"team_id": str(UUID(int=7))})) == "NOT_FOUND"
        viewer = await _key(gw, "operator.read")
        async with ws_connect(gw, token=viewer) as ws:
            assert _err(await ws.call("teams.workspace.list", {"team_id": team["id"]})) == "NOT_FOUND"
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            gone = await ws.ok("teams.workspace.delete", {**ref, "file_name": "docs/plan.md"})
            assert gone == {"deleted": "docs/plan.md"}
            assert not (root / "chat-1" / "docs" / "plan.md").exists()
            assert (
                _err(await ws.call("teams.workspace.delete", {**ref, "file_name": "docs/plan.md"}))
                == "NOT_FOUND"
            )
            assert (
                _err(await ws.call("teams.workspace.delete", {**ref, "file_name": "docs"}))
                == "INVALID_REQUEST"
            )
            await ws.ok("teams.update", {"teamId": team["id"], "settings": {"workspace_scope": "shared"}})
            shared = await ws.ok("teams.workspace.list", {"team_id": team["id"], "chat_id": "chat-2"})
            assert "outside.txt" in [f["name"] for f in shared["files"]]
            read = await ws.ok("teams.workspace.read", {"team_id": team["id"], "file_name": "outside.txt"})
            assert read["content"] == "not in a chat"

    async def test_upload_and_move_over_rest(self, gw: RunningServer) -> None:
        """``POST /v1/teams/{id}/workspace/upload`` puts a multipart file in the chat's folder
        (GoClaw's answer), which ``teams.workspace.read`` then reads; ``PUT .../workspace/move``
        renames it (409 onto an existing name, 404 for a missing source); executables, paths out
        of the scope, a missing chat, a body that is not multipart and a viewer are refused in
        GoClaw's envelope, never 500."""
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            team = await _team(ws)
        base = f"/v1/teams/{team['id']}/workspace"
        async with gw.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            res = await http.post(f"{base}/upload?chat_id=c1", files={"file": ("report.md", b"# Report")})
            assert res.status_code == 200, res.text
            assert res.json() == {"path": "c1/report.md", "filename": "report.md", "size": 8,
                                  "mime_type": "text/markdown"}  # fmt: skip
            await http.post(f"{base}/upload?chat_id=c1", files={"file": ("other.md", b"o")})
            res = await http.put(f"{base}/move?chat_id=c1&from=report.md&to=final.md")
            assert (res.status_code, res.json()) == (200, {"from": "report.md", "to": "final.md"})
            for query, status in (("chat_id=c1&from=other.md&to=final.md", 409),
                                  ("chat_id=c1&from=gone.md&to=x.md", 404),
                                  ("chat_id=c1&from=other.md&to=../x.md", 400),
                                  ("chat_id=c1&from=other.md&to=nodir/x.md", 400),
                                  ("from=other.md&to=x.md", 400), ("chat_id=c1&from=other.md", 400)):  # fmt: skip
                res = await http.put(f"{base}/move?{query}")
                assert res.status_code == status, (query, res.text)
                assert set(res.json()["error"]) >= {"code", "message"}
            bad = await http.post(f"{base}/upload?chat_id=c1", files={"file": ("run.sh", b"rm -rf /")})
            assert bad.status_code == 400, bad.text
            assert "not allowed" in bad.json()["error"]["message"]
            assert (await http.post(f"{base}/upload?chat_id=c1", json={"x": 1})).status_code == 415
            assert (await http.post(f"{base}/upload", files={"file": ("a.md", b"a")})).status_code == 400
            res = await http.post(
                "/v1/teams/nope/workspace/upload?chat_id=c1", files={"file": ("a.md", b"a")}
            )
            assert res.status_code == 400
        async with ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws:
            read = await ws.ok(
                "teams.workspace.read", {"team_id": team["id"], "chat_id": "c1", "file_name": "final.md"}
            )
            assert read["content"] == "# Report"
        viewer = await _key(gw, "operator.read")
        async with gw.client(viewer) as http:
            res = await http.post(f"{base}/upload?chat_id=c1", files={"file": ("a.md", b"a")})
            assert res.status_code == 403, res.text
