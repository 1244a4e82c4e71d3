"""Mission Control's organisation surface through a real server and httpx (issue 14): the caller's
profile, the organisation (the tenant), members and their board access, invites (stored hashed,
accepted once, raising the role and copying board access), gateway records (this ClawGate's own
first, tokens encrypted at rest), dashboard metrics and the activity feeds, with MC's errors."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.http.helpers import as_owner, db, mint_key, with_key
from tests.support import GATEWAY_TOKEN, RunningServer

ORG = "/api/v1/organizations"
B = "/api/v1/boards"
G = "/api/v1/gateways"


@pytest.fixture(name="srv")
async def _srv(make_server: ServerFactory) -> RunningServer:
    return await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], gateway__rate_limit_rpm=0,
        rate_limits__per_ip_rpm=0, rate_limits__per_key_rpm=0,
    )  # fmt: skip


def _ok(res: httpx.Response, status: int = 200) -> Any:
    assert res.status_code == status, res.text
    return res.json()


def _detail(res: httpx.Response, status: int) -> Any:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) >= {"detail", "request_id"}, body
    assert body["request_id"], body
    return body["detail"]


async def _board(http: httpx.AsyncClient, name: str = "Launch") -> str:
    return str(_ok(await http.post(B, json={"name": name, "description": "d"}))["id"])


class TestUserAndOrganization:
    async def test_profile_and_organization(self, srv: RunningServer) -> None:
        """The gateway token is an owner member; its profile changes; the organisation is the
        tenant; only the organisation acted in can be the active one."""
        async with as_owner(srv) as http:
            me = _ok(await http.get("/api/v1/users/me"))
            assert (me["clerk_user_id"], me["is_super_admin"], me["name"]) == ("owner", True, None)
            me = _ok(
                await http.patch(
                    "/api/v1/users/me", json={"name": "Olga", "timezone": "UTC", "email": "O@X.io"}
                )
            )
            assert (me["name"], me["timezone"], me["email"]) == ("Olga", "UTC", "o@x.io")
            me = _ok(await http.patch("/api/v1/users/me", json={"timezone": None}))
            assert (me["name"], me["timezone"]) == ("Olga", None)
            assert _detail(await http.patch("/api/v1/users/me", json={"is_super_admin": True}), 422)
            org = _ok(await http.get(ORG + "/me"))
            assert _ok(await http.get(ORG + "/me/list")) == [{"id": org["id"], "name": org["name"], "role": "owner",
                                                             "is_active": True}]  # fmt: skip
            assert (
                _ok(await http.patch(ORG + "/me/active", json={"organization_id": org["id"]}))["id"]
                == org["id"]
            )
            other = "00000000-0000-0000-0000-000000000123"
            _detail(await http.patch(ORG + "/me/active", json={"organization_id": other}), 404)
            member = _ok(await http.get(ORG + "/me/member"))
            assert (member["role"], member["all_boards_read"], member["user"]["name"]) == (
                "owner",
                True,
                "Olga",
            )
        async with srv.client(GATEWAY_TOKEN) as local:
            assert _ok(await local.get("/api/v1/users/me"))["clerk_user_id"] == "local"


class TestMembersAndInvites:
    async def test_invite_raises_role_and_copies_board_access(self, srv: RunningServer) -> None:
        """A key's member starts as a member with no boards; an invite's token (stored as its hash)
        makes it an admin with the invite's board, once; admin-only routes refuse a member (403)."""
        key = await mint_key(srv, "operator.write")
        async with as_owner(srv) as owner, with_key(srv, key["key"]) as bob:
            board = await _board(owner)
            await _board(owner, "Hidden")
            me = _ok(await bob.get(ORG + "/me/member"))
            assert (me["role"], me["board_access"]) == ("member", [])
            assert _ok(await bob.get(B))["total"] == 0
            _detail(await bob.get(f"{B}/{board}"), 404)
            _detail(await bob.get(ORG + "/me/invites"), 403)
            _detail(await bob.post(ORG + "/me/invites", json={"invited_email": "x@y.z"}), 403)
            owner_member = _ok(await owner.get(ORG + "/me/member"))
            _detail(await bob.get(f"{ORG}/me/members/{owner_member['id']}"), 403)
            assert _ok(await bob.get(f"{ORG}/me/members/{me['id']}"))["id"] == me["id"]

            _detail(await owner.post(ORG + "/me/invites", json={"invited_email": "not-an-address"}), 422)
            missing = {"invited_email": "b@x.io", "board_access": [{"board_id": owner_member["id"]}]}
            _detail(await owner.post(ORG + "/me/invites", json=missing), 422)
            body = {
                "invited_email": " Bob@X.io ",
                "role": "admin",
                "board_access": [{"board_id": board, "can_write": True}],
            }
            invite = _ok(await owner.post(ORG + "/me/invites", json=body))
            token = invite["token"]
            assert (invite["invited_email"], invite["role"], invite["has_token"]) == (
                "bob@x.io",
                "admin",
                True,
            )
            listed = _ok(await owner.get(ORG + "/me/invites"))
            assert listed["total"] == 1
            assert listed["items"][0]["token"] is None
            async with db(srv) as conn:
                stored = await conn.fetchrow("SELECT * FROM org_invites WHERE id = $1", invite["id"])
            assert stored["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
            assert token not in str(dict(stored))

            _detail(await bob.post(ORG + "/invites/accept", json={"token": "mci_nope"}), 404)
            accepted = _ok(await bob.post(ORG + "/invites/accept", json={"token": token}))
            assert accepted["role"] == "admin"
            assert [(a["board_id"], a["can_read"], a["can_write"]) for a in accepted["board_access"]] == [
                (board, True, True)
            ]
            _detail(await bob.post(ORG + "/invites/accept", json={"token": token}), 404)
            assert _ok(await owner.get(ORG + "/me/invites"))["total"] == 0
            assert [b["id"] for b in _ok(await bob.get(B))["items"]] == [board]
            _ok(await bob.patch(f"{B}/{board}", json={"name": "Renamed"}))
            assert _ok(await bob.get(ORG + "/me/invites"))["total"] == 0  # now an admin

    async def test_an_invite_is_accepted_once(self, srv: RunningServer) -> None:
        """Ten concurrent accepts of one token by two keys: one succeeds, the rest are 404."""
        keys = [await mint_key(srv, "operator.write") for _ in range(2)]
        async with (
            as_owner(srv) as owner,
            with_key(srv, keys[0]["key"]) as one,
            with_key(srv, keys[1]["key"]) as two,
        ):
            token = _ok(
                await owner.post(ORG + "/me/invites", json={"invited_email": "z@x.io", "role": "admin"})
            )["token"]
            answers = await asyncio.gather(
                *[(one, two)[i % 2].post(ORG + "/invites/accept", json={"token": token}) for i in range(10)]
            )
            assert sorted(r.status_code for r in answers) == [200] + [404] * 9
            roles = [_ok(await http.get(ORG + "/me/member"))["role"] for http in (one, two)]
            assert sorted(roles) == ["admin", "member"]

    async def test_roles_access_and_removal(self, srv: RunningServer) -> None:
        """Owners only by owners, the last owner stays, nobody removes themselves; access is
        replaced (all-boards flags reach every board); a removed member comes back a member."""
        key = await mint_key(srv, "operator.write")
        async with as_owner(srv) as owner, with_key(srv, key["key"]) as bob:
            board = await _board(owner)
            bob_id = _ok(await bob.get(ORG + "/me/member"))["id"]
            owner_id = _ok(await owner.get(ORG + "/me/member"))["id"]
            assert _ok(await owner.get(ORG + "/me/members"))["total"] == 2
            _detail(await owner.patch(f"{ORG}/me/members/{bob_id}", json={"role": "boss"}), 422)
            assert (
                _ok(await owner.patch(f"{ORG}/me/members/{bob_id}", json={"role": "admin"}))["role"]
                == "admin"
            )
            _detail(await bob.patch(f"{ORG}/me/members/{bob_id}", json={"role": "owner"}), 403)
            _detail(await bob.delete(f"{ORG}/me/members/{owner_id}"), 403)
            _detail(await owner.delete(f"{ORG}/me/members/{owner_id}"), 403)
            assert "owner" in str(
                _detail(await owner.patch(f"{ORG}/me/members/{owner_id}", json={"role": "member"}), 422)
            )
            _detail(
                await owner.put(
                    f"{ORG}/me/members/{bob_id}/access", json={"board_access": [{"board_id": bob_id}]}
                ),
                422,
            )
            put = {"all_boards_read": True, "board_access": [{"board_id": board, "can_write": True}]}
            member = _ok(await owner.put(f"{ORG}/me/members/{bob_id}/access", json=put))
            assert member["all_boards_read"]
            assert len(member["board_access"]) == 1
            member = _ok(await owner.put(f"{ORG}/me/members/{bob_id}/access", json={}))
            assert (member["all_boards_read"], member["board_access"]) == (False, [])
            _ok(await owner.delete(f"{ORG}/me/members/{bob_id}"))
            _detail(await owner.get(f"{ORG}/me/members/{bob_id}"), 404)
            assert _ok(await bob.get(ORG + "/me/member"))["role"] == "member"
            pending = _ok(await owner.post(ORG + "/me/invites", json={"invited_email": "c@x.io"}))
            assert _ok(await owner.delete(f"{ORG}/me/invites/{pending['id']}"))["id"] == pending["id"]
            _detail(await owner.delete(f"{ORG}/me/invites/{pending['id']}"), 404)
            _detail(await bob.post(ORG + "/invites/accept", json={"token": pending["token"]}), 404)


class TestGateways:
    async def test_self_row_and_records(self, srv: RunningServer) -> None:
        """This ClawGate is the first gateway (its ws URL, no token, not deletable); a record's
        token is encrypted at rest and shown masked; MC's URL rules; members are refused."""
        key = await mint_key(srv, "operator.write")
        async with as_owner(srv) as owner, with_key(srv, key["key"]) as bob:
            page = _ok(await owner.get(G))
            me = page["items"][0]
            assert page["total"] == 1
            assert me["url"] == f"ws://127.0.0.1:{srv.port}/ws"
            assert me["token"] is None
            assert _ok(await owner.get(G))["items"][0]["id"] == me["id"]
            _detail(await owner.delete(f"{G}/{me['id']}"), 422)
            _detail(await owner.patch(f"{G}/{me['id']}", json={"url": "ws://localhost:1/ws"}), 422)
            assert _ok(await owner.patch(f"{G}/{me['id']}", json={"name": "Here"}))["name"] == "Here"
            board = _ok(await owner.post(B, json={"name": "b", "description": "d", "gateway_id": me["id"]}))
            assert board["gateway_id"] == me["id"]
            remote = {"name": "far", "url": "wss://gw.example.com:443", "workspace_root": "/w",
                      "token": "SECRET-GATEWAY-TOKEN-1234"}  # fmt: skip
            _detail(await owner.post(G, json={**remote, "url": "ws://gw.example.com:80"}), 422)
            _detail(await owner.post(G, json={**remote, "url": "wss://gw.example.com"}), 422)
            _detail(await owner.post(G, json={**remote, "token": None}), 422)
            made = _ok(await owner.post(G, json=remote))
            assert made["token"] == "***1234"
            async with db(srv) as conn:
                stored = await conn.fetchval("SELECT token FROM mc_gateways WHERE id = $1", made["id"])
            assert stored.startswith("aes-gcm:")
            assert "SECRET" not in stored
            patched = _ok(await owner.patch(f"{G}/{made['id']}", json={"name": "farther"}))
            assert (patched["name"], patched["token"]) == ("farther", "***1234")
            _detail(await owner.patch(f"{G}/{made['id']}", json={"token": None}), 422)
            status = _ok(await owner.get(G + "/status"))
            assert (status["connected"], status["gateway_url"], status["sessions_count"]) == (
                True,
                me["url"],
                0,
            )
            far = _ok(await owner.post(B, json={"name": "far", "description": "d", "gateway_id": made["id"]}))
            status = _ok(await owner.get(G + "/status", params={"board_id": far["id"]}))
            assert (status["connected"], status["gateway_url"]) == (False, "wss://gw.example.com:443")
            assert _ok(await owner.get(G + "/status", params={"board_id": board["id"]}))["connected"] is True
            _detail(await owner.get(G + "/status", params={"board": "x"}), 422)
            _detail(await bob.get(G + "/status"), 403)
            _detail(await bob.get(G), 403)
            _detail(await bob.delete(f"{G}/{made['id']}"), 403)
            _ok(await owner.delete(f"{G}/{made['id']}"))
            _detail(await owner.get(f"{G}/{made['id']}"), 404)


class TestMetricsAndActivity:
    async def test_dashboard_and_feeds(self, srv: RunningServer) -> None:
        """KPIs count the tasks by MC status; series have MC's range and buckets; the feeds list
        the board's events and comments newest first; a member without boards sees none."""
        key = await mint_key(srv, "operator.write")
        async with as_owner(srv) as owner, with_key(srv, key["key"]) as bob:
            board = await _board(owner)
            tasks = [_ok(await owner.post(f"{B}/{board}/tasks", json={"title": f"t{i}"})) for i in range(3)]
            _ok(await owner.patch(f"{B}/{board}/tasks/{tasks[0]['id']}", json={"status": "in_progress"}))
            _ok(
                await owner.post(
                    f"{B}/{board}/tasks/{tasks[1]['id']}/comments", json={"message": "looks good"}
                )
            )
            metrics = _ok(await owner.get("/api/v1/metrics/dashboard"))
            kpis = metrics["kpis"]
            assert (kpis["inbox_tasks"], kpis["in_progress_tasks"], kpis["done_tasks"]) == (2, 1, 0)
            assert metrics["range"] == "24h"
            assert metrics["throughput"]["primary"]["bucket"] == "hour"
            assert len(metrics["wip"]["primary"]["points"]) in (24, 25)
            assert sum(p["in_progress"] for p in metrics["wip"]["primary"]["points"]) == 1
            week = _ok(
                await owner.get("/api/v1/metrics/dashboard", params={"range": "7d", "board_id": board})
            )
            assert week["cycle_time"]["comparison"]["bucket"] == "day"
            _detail(await owner.get("/api/v1/metrics/dashboard", params={"range": "2w"}), 422)
            feed = _ok(await owner.get("/api/v1/activity"))
            kinds = [e["event_type"] for e in feed["items"]]
            assert kinds[-1] == "board.created"
            assert "task.comment" in kinds
            assert feed["total"] == len(kinds)
            comments = _ok(await owner.get("/api/v1/activity/task-comments", params={"board_id": board}))
            item = comments["items"][0]
            assert (item["message"], item["task_title"], item["board_name"]) == ("looks good", "t1", "Launch")
            assert _ok(await bob.get("/api/v1/activity"))["total"] == 0
            assert _ok(await bob.get("/api/v1/metrics/dashboard"))["kpis"]["inbox_tasks"] == 0
            _detail(await bob.get("/api/v1/activity", params={"board_id": board}), 404)


class TestAllBoardsGroups:
    async def test_all_boards_read_sees_every_group(self, srv: RunningServer) -> None:
        """A member with all-boards read sees and reads every board group of the tenant (MC's
        board access rule), also one with no board; without it, neither."""
        key = await mint_key(srv, "operator.write")
        async with as_owner(srv) as owner, with_key(srv, key["key"]) as bob:
            board = await _board(owner)
            full = _ok(await owner.post("/api/v1/board-groups", json={"name": "full"}))["id"]
            empty = _ok(await owner.post("/api/v1/board-groups", json={"name": "empty"}))["id"]
            _ok(await owner.patch(f"{B}/{board}", json={"board_group_id": full}))
            bob_id = _ok(await bob.get(ORG + "/me/member"))["id"]
            assert _ok(await bob.get("/api/v1/board-groups"))["total"] == 0
            _detail(await bob.get(f"/api/v1/board-groups/{full}"), 404)
            _ok(await owner.put(f"{ORG}/me/members/{bob_id}/access", json={"all_boards_read": True}))
            page = _ok(await bob.get("/api/v1/board-groups"))
            assert sorted(g["id"] for g in page["items"]) == sorted([full, empty])
            for group in (full, empty):
                assert _ok(await bob.get(f"/api/v1/board-groups/{group}"))["id"] == group
