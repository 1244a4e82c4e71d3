"""Mission Control's gateway inspection, template sync, souls directory and the organisation's
remaining routes through a real server and httpx (issue 14): the WebSocket commands from the method
table, this ClawGate's sessions with their history and a message that runs the agent against the
loopback LLM stand-in, workspace files rendered again (USER.md and an own SOUL kept), SOULs shipped
in the package and from an upstream directory, organisations created (a tenant) and deleted (MC's
data only), a user leaving, and the bootstrap, with MC's errors and org-admin rule."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from clawgate.rpc.methods import EVENTS, METHODS
from clawgate.services.mc_gateways import NOT_CONNECTED
from tests.conftest import ServerFactory
from tests.http.helpers import as_owner, db, mint_key, with_key
from tests.http.test_mc_agent import _detail, _ok
from tests.runtime.conftest import chat_setup
from tests.support import GATEWAY_TOKEN, RunningServer, add_stub_provider, free_port, ws_connect

G = "/api/v1/gateways"
S = G + "/sessions"
ORG = "/api/v1/organizations"
SOULS = "/api/v1/souls-directory"


async def _files(srv: RunningServer, agent_id: str) -> dict[str, str]:
    async with db(srv) as conn:
        rows = await conn.fetch(
            "SELECT file_name, content FROM agent_context_files WHERE agent_id = $1", agent_id
        )
    return {r["file_name"]: r["content"] for r in rows}


async def _member_key(srv: RunningServer) -> str:
    """A tenant-bound key that is an MC member, not an org admin."""
    return str((await mint_key(srv, "operator.write", name="member"))["key"])


class TestCommandsAndSessions:
    async def test_commands_are_the_method_table(self, make_server: ServerFactory) -> None:
        """The commands are the WebSocket method table and event set, for org admins only."""
        async with chat_setup(make_server) as setup:
            async with as_owner(setup.server) as http:
                got = _ok(await http.get(G + "/commands"))
            assert got == {"protocol_version": 3, "methods": sorted(METHODS), "events": sorted(EVENTS)}
            assert "chat.send" in got["methods"]
            async with as_owner(setup.server) as http:
                token = _ok(await http.post(f"/api/v1/agents/{setup.agent['id']}/token"))["token"]
            for headers in ({"X-Agent-Token": token}, {"Authorization": f"Bearer {token}"}):
                async with setup.server.client(None, **headers) as agent:
                    _detail(await agent.get(G + "/commands"), 401)  # a user route
                    # The souls directory is MC's require_admin_or_agent: an agent reads it too.
                    assert len(_ok(await agent.get(SOULS + "/search"))["items"]) == 4
                    assert (
                        _ok(await agent.get(SOULS + "/clawgate/calm-coordinator.md"))["slug"]
                        == "calm-coordinator"
                    )
            async with setup.server.client(None, **{"X-Agent-Token": "mca_" + "0" * 48}) as stranger:
                _detail(await stranger.get(SOULS + "/search"), 401)
            async with setup.server.client(None, **{"X-Agent-Token": "junk"}) as stranger:
                _detail(await stranger.get(SOULS + "/search"), 401)
            async with with_key(setup.server, await _member_key(setup.server)) as member:
                assert "admin" in str(_detail(await member.get(G + "/commands"), 403))
                _detail(await member.get(S), 403)
                _detail(await member.post(S + "/agent:helper:x/message", json={"content": "hi"}), 403)

    async def test_message_runs_the_agent_and_shows_in_sessions(self, make_server: ServerFactory) -> None:
        """A message into a session is a chat.send that runs the agent; the session lists (the
        gateway main's main session too), reads by its key, and its history holds both turns."""
        async with chat_setup(make_server) as setup, as_owner(setup.server) as http:
            key = "agent:helper:main"
            assert _ok(await http.post(S + f"/{quote(key)}/message", json={"content": "ping one"})) == {
                "ok": True
            }
            history: list[dict[str, Any]] = []
            for _ in range(200):
                history = _ok(await http.get(S + f"/{quote(key)}/history"))["history"]
                if len(history) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert [(m["role"], m["content"]) for m in history[:2]] == [
                ("user", "ping one"),
                ("assistant", "echo: ping one"),
            ]
            listed = _ok(await http.get(S))
            assert [s["key"] for s in listed["sessions"]] == [key]
            assert listed["main_session"]["key"] == key  # helper is the tenant's default agent
            status = _ok(await http.get(G + "/status"))
            assert (status["connected"], status["sessions_count"]) == (True, 1)
            assert status["sessions"] == listed["sessions"]
            assert status["main_session"] == listed["main_session"]
            one = _ok(await http.get(S + f"/{quote(key)}"))["session"]
            assert (one["key"], one["agentKey"], one["messageCount"]) == (key, "helper", 2)
            key_member = await _member_key(setup.server)
            async with with_key(setup.server, key_member) as member:
                me = _ok(await member.get(ORG + "/me/member"))
                _ok(await http.patch(ORG + f"/me/members/{me['id']}", json={"role": "admin"}))
                # An org admin that is no ClawGate admin sees its own sessions only (GoClaw's rule).
                assert _ok(await member.get(S)) == {"sessions": [], "main_session": None}
                assert _ok(await member.get(G + "/status"))["sessions_count"] == 0
                _detail(await member.get(S + f"/{quote(key)}"), 401)
                _detail(await member.get(S + f"/{quote(key)}/history"), 401)
                _ok(await member.post(S + "/agent:helper:mine/message", json={"content": "mine"}))
                assert [s["key"] for s in _ok(await member.get(S))["sessions"]] == ["agent:helper:mine"]
                assert _ok(await member.get(S + "/agent:helper:mine"))["session"]["userID"].startswith("key:")
            _detail(await http.get(S + "/agent:helper:nothing"), 404)
            _detail(await http.get(S + "/agent:helper:nothing/history"), 404)
            _detail(await http.post(S + "/not-a-key/message", json={"content": "x"}), 422)
            _detail(await http.post(S + "/agent:ghost:main/message", json={"content": "x"}), 404)
            _detail(await http.post(S + f"/{quote(key)}/message", json={"content": ""}), 422)
            _detail(await http.post(S + f"/{quote(key)}/message", json={"message": "x"}), 422)

    async def test_board_of_another_gateway_is_not_reached(self, make_server: ServerFactory) -> None:
        """A board on this ClawGate resolves here; one on another gateway record is 502 (never
        connected to); a board not the caller's is 404; a malformed board id 422."""
        async with chat_setup(make_server) as setup, as_owner(setup.server) as http:
            here = _ok(await http.post("/api/v1/boards", json={"name": "Here", "description": "d"}))
            other = _ok(
                await http.post(G, json={"name": "Other", "url": "ws://127.0.0.1:9", "workspace_root": "/w"})
            )
            there = _ok(await http.post("/api/v1/boards", json={"name": "There", "description": "d",
                                                                "gateway_id": other["id"]}))  # fmt: skip
            assert _ok(await http.get(S, params={"board_id": here["id"]}))["sessions"] == []
            assert _detail(await http.get(S, params={"board_id": there["id"]}), 502) == NOT_CONNECTED
            _detail(
                await http.post(S + "/agent:helper:main/message", params={"board_id": there["id"]},
                                json={"content": "x"}), 502,
            )  # fmt: skip
            _detail(await http.get(S, params={"board_id": "00000000-0000-0000-0000-000000000001"}), 404)
            _detail(await http.get(S, params={"board_id": "nope"}), 422)


class TestTemplateSync:
    async def test_files_rendered_again_user_and_own_soul_kept(self, make_server: ServerFactory) -> None:
        """Sync writes the gateway's files for the board's agents and the main, keeps USER.md and
        an agent's own SOUL, counts an agent already in sync as skipped, resets sessions when asked,
        and answers another gateway record with one error."""
        async with chat_setup(make_server) as setup, as_owner(setup.server) as http:
            srv = setup.server
            board = _ok(await http.post("/api/v1/boards", json={"name": "Rocket", "description": "d",
                                                                "objective": "Reach orbit"}))  # fmt: skip
            worker = _ok(await http.post("/api/v1/agents", json={"name": "Wendy", "board_id": board["id"],
                                                                 "identity_profile": {"emoji": ":rocket:"}}))  # fmt: skip
            plain = _ok(await http.post("/api/v1/agents", json={"name": "Paul", "board_id": board["id"],
                                                                "soul_template": "PAUL-OWN-SOUL"}))  # fmt: skip
            async with ws_connect(srv, token=GATEWAY_TOKEN, user_id="owner") as ws:
                await ws.ok(
                    "agents.files.set", {"agentId": worker["id"], "name": "USER.md", "content": "MY-USER"}
                )
            self_id = _ok(await http.get(G))["items"][0]["id"]
            key = "agent:helper:main"
            _ok(await http.post(S + f"/{quote(key)}/message", json={"content": "hello"}))
            for _ in range(200):
                if len(_ok(await http.get(S + f"/{quote(key)}/history"))["history"]) >= 2:
                    break
                await asyncio.sleep(0.05)

            done = _ok(await http.post(G + f"/{self_id}/templates/sync"))
            assert done == {"gateway_id": self_id, "include_main": True, "reset_sessions": False,
                            "agents_updated": 2, "agents_skipped": 0, "main_updated": True, "errors": []}  # fmt: skip
            files = await _files(srv, worker["id"])
            assert "Rocket" in files["AGENTS.md"]
            assert "Reach orbit" in files["AGENTS.md"]
            assert "Wendy" in files["IDENTITY.md"]
            assert ":rocket:" in files["IDENTITY.md"]
            assert files["USER.md"] == "MY-USER"
            assert "Wendy" in files["SOUL.md"]
            assert "MEMORY.md" in files
            assert "HEARTBEAT.md" in files
            assert (await _files(srv, plain["id"]))["SOUL.md"] == "PAUL-OWN-SOUL"
            main_files = await _files(srv, setup.agent["id"])
            assert "Gateway Agent" in main_files["IDENTITY.md"]

            again = _ok(await http.post(G + f"/{self_id}/templates/sync",
                                        params={"include_main": "false", "reset_sessions": "true"}))  # fmt: skip
            assert (again["agents_updated"], again["agents_skipped"], again["main_updated"]) == (0, 2, False)
            assert _ok(await http.get(S + f"/{quote(key)}"))["session"]["messageCount"] == 2  # main left out
            _ok(await http.post(G + f"/{self_id}/templates/sync", params={"reset_sessions": "true"}))
            assert _ok(await http.get(S + f"/{quote(key)}"))["session"]["messageCount"] == 0

            only = _ok(await http.post(G + f"/{self_id}/templates/sync",
                                       params={"board_id": board["id"], "include_main": "false"}))  # fmt: skip
            assert only["agents_skipped"] == 2
            other = _ok(
                await http.post(G, json={"name": "Other", "url": "ws://127.0.0.1:9", "workspace_root": "/w"})
            )
            refused = _ok(await http.post(G + f"/{other['id']}/templates/sync"))
            assert refused["errors"] == [{"agent_id": None, "agent_name": None, "board_id": None,
                                          "message": NOT_CONNECTED}]  # fmt: skip
            _detail(await http.post(G + "/00000000-0000-0000-0000-000000000001/templates/sync"), 404)
            _detail(await http.post(G + f"/{self_id}/templates/sync", params={"include_main": "maybe"}), 422)
            async with with_key(srv, await _member_key(srv)) as member:
                _detail(await member.post(G + f"/{self_id}/templates/sync"), 403)


@contextlib.asynccontextmanager
async def _directory() -> AsyncIterator[str]:
    """A loopback souls directory: ``/api/souls/up/one.md`` has content, ``up/broken`` fails."""

    async def soul(request: Request) -> Response:
        name = f"{request.path_params['handle']}/{request.path_params['slug']}"
        if name == "up/one":
            return PlainTextResponse("# Upstream One\n")
        if name == "up/broken":
            return PlainTextResponse("boom", status_code=500)
        return PlainTextResponse("missing", status_code=404)

    port = free_port()
    app = Starlette(routes=[Route("/api/souls/{handle}/{slug}.md", soul)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


class TestSoulsDirectory:
    async def test_shipped_souls_offline(self, server: RunningServer) -> None:
        """The shipped SOULs search by handle/slug and read with and without ``.md``; bad segments
        are 422, an unknown SOUL 404 without an upstream; members (not org admins) are refused."""
        async with as_owner(server) as http:
            found = _ok(await http.get(SOULS + "/search", params={"q": "ENGINEER"}))["items"]
            assert found == [{"handle": "clawgate", "slug": "pragmatic-engineer",
                              "page_url": SOULS + "/clawgate/pragmatic-engineer",
                              "raw_md_url": SOULS + "/clawgate/pragmatic-engineer.md"}]  # fmt: skip
            assert len(_ok(await http.get(SOULS + "/search"))["items"]) == 4
            assert len(_ok(await http.get(SOULS + "/search", params={"limit": 2}))["items"]) == 2
            _detail(await http.get(SOULS + "/search", params={"limit": 0}), 422)
            md = _ok(await http.get(SOULS + "/clawgate/careful-reviewer.md"))
            assert md["handle"] == "clawgate"
            assert md["content"].startswith("# Careful Reviewer")
            assert _ok(await http.get(SOULS + "/clawgate/careful-reviewer")) == md
            assert "unsupported" in str(_detail(await http.get(SOULS + "/clawgate/bad.slug"), 422))
            assert "unsupported" in str(_detail(await http.get(SOULS + "/-x/careful-reviewer"), 422))
            _detail(await http.get(SOULS + "/%2e%2e/careful-reviewer"), 422)
            _detail(await http.get(SOULS + "/clawgate/nope"), 404)
        async with with_key(server, await _member_key(server)) as member:
            _detail(await member.get(SOULS + "/search"), 403)

    async def test_upstream_directory(self, make_server: ServerFactory) -> None:
        """With an upstream configured, a SOUL not shipped comes from it; its 404 is 404, its
        failure or absence 502."""
        async with _directory() as url:
            srv = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
                                    mission_control__souls_directory_url=url + "/")  # fmt: skip
            async with as_owner(srv) as http:
                assert _ok(await http.get(SOULS + "/up/one.md")) == {"handle": "up", "slug": "one",
                                                                     "content": "# Upstream One\n"}  # fmt: skip
                _detail(await http.get(SOULS + "/up/none"), 404)
                _detail(await http.get(SOULS + "/up/broken"), 502)
                assert _ok(await http.get(SOULS + "/clawgate/calm-coordinator"))["content"]
        gone = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
                                 mission_control__souls_directory_url=url)  # fmt: skip
        async with as_owner(gone) as http:
            _detail(await http.get(SOULS + "/up/one"), 502)


class TestOrganizations:
    async def test_create_is_a_new_tenant_owned_by_the_caller(self, make_server: ServerFactory) -> None:
        """A gateway-wide admin makes an organisation: a tenant it owns; a name taken (any case)
        is 409, a blank one 422; a tenant admin's key is 403 before any name is compared."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        async with as_owner(srv) as http:
            made = _ok(await http.post(ORG, json={"name": "Acme Rockets"}))
            assert made["name"] == "Acme Rockets"
            _detail(await http.post(ORG, json={"name": "acme ROCKETS"}), 409)
            raced = await asyncio.gather(*(http.post(ORG, json={"name": "Race Co"}) for _ in range(4)))
            assert sorted(r.status_code for r in raced) == [200, 409, 409, 409]  # the slug's unique index
            assert _ok(await http.post(ORG, json={"name": "组织"}))["name"] == "组织"
            assert _ok(await http.post(ORG, json={"name": "团队"}))["name"] == "团队"
            _detail(await http.post(ORG, json={"name": "  "}), 422)
            _detail(await http.post(ORG, json={"title": "x"}), 422)
            tenants = _ok(await http.get("/v1/tenants"))
            assert any(t["id"] == made["id"] and t["slug"] == "acme-rockets" for t in tenants["tenants"])
        async with as_owner(srv, **{"X-GoClaw-Tenant-Id": made["id"]}) as there:
            assert _ok(await there.get(ORG + "/me"))["id"] == made["id"]
            member = _ok(await there.get(ORG + "/me/member"))
            assert (member["role"], member["all_boards_write"]) == ("owner", True)
        async with with_key(srv, str((await mint_key(srv, "operator.admin"))["key"])) as admin:
            _detail(await admin.post(ORG, json={"name": "acme rockets"}), 403)

    async def test_delete_takes_mc_data_of_this_tenant_only(self, make_server: ServerFactory) -> None:
        """Deleting the organisation takes its MC boards (with tasks), groups, tags, gateway
        records, invites and members, keeps GoClaw's teams and the agents, and touches no other
        tenant; only an owner may."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        async with as_owner(srv) as http:
            other = _ok(await http.post(ORG, json={"name": "Other Org"}))
        async with as_owner(srv, **{"X-GoClaw-Tenant-Id": other["id"]}) as there:
            kept = _ok(await there.post("/api/v1/boards", json={"name": "Theirs", "description": "d"}))
        async with as_owner(srv) as http:
            board = _ok(await http.post("/api/v1/boards", json={"name": "Mine", "description": "d"}))
            _ok(await http.post(f"/api/v1/boards/{board['id']}/tasks", json={"title": "MC-TASK-GONE"}))
            # A ClawTasker task after it: the log's newest event survives the deletion.
            _ok(await http.post("/api/tasks/create", json={"title": "CT-TASK-STAYS"}))
            before = _ok(await http.get("/api/snapshot"))  # ClawTasker keeps this task board rendered
            assert "MC-TASK-GONE" in [t["title"] for t in before["tasks"]]
            _ok(await http.post("/api/v1/board-groups", json={"name": "G"}))
            _ok(await http.post("/api/v1/tags", json={"name": "Tag"}))
            _ok(await http.post(ORG + "/me/invites", json={"invited_email": "x@y.example"}))
            await add_stub_provider(srv)
            agent = _ok(await http.post("/v1/agents", json={"agent_key": "keeper", "provider": "stub", "model": "m"}),
                        201)  # fmt: skip
            async with db(srv) as conn:
                await conn.execute(
                    "INSERT INTO teams (tenant_id, name, kind) SELECT tenant_id, 'GoClaw team', 'team' "
                    "FROM agents WHERE id = $1",
                    agent["id"],
                )
            member_key = await _member_key(srv)
            async with with_key(srv, member_key) as member:
                _ok(await member.get("/api/v1/users/me"))
                assert "admin" in str(_detail(await member.delete(ORG + "/me"), 403))
            assert _ok(await http.delete(ORG + "/me")) == {"ok": True}
            after = _ok(await http.get("/api/snapshot"))  # rendered again: the deletion is an event
            assert [t["title"] for t in after["tasks"]] == ["CT-TASK-STAYS"]
            left = _ok(await http.get("/api/v1/boards"))["items"]  # a GoClaw team is a board too
            assert sorted(b["name"] for b in left) == ["CEO Console", "GoClaw team"]  # CT's project stays
            assert _ok(await http.get("/api/v1/board-groups"))["items"] == []
            assert _ok(await http.get("/api/v1/tags"))["items"] == []
            assert _ok(await http.get(ORG + "/me/invites"))["items"] == []
            assert [m["role"] for m in _ok(await http.get(ORG + "/me/members"))["items"]] == [
                "owner"
            ]  # remade
            assert len(_ok(await http.get(G))["items"]) == 1  # this ClawGate's row, made again
            async with db(srv) as conn:
                assert await conn.fetchval("SELECT count(*) FROM tasks WHERE team_id = $1", board["id"]) == 0
                assert await conn.fetchval("SELECT count(*) FROM teams WHERE name = 'GoClaw team'") == 1
                assert await conn.fetchval("SELECT count(*) FROM agents WHERE id = $1", agent["id"]) == 1
        async with as_owner(srv, **{"X-GoClaw-Tenant-Id": other["id"]}) as there:
            assert [b["id"] for b in _ok(await there.get("/api/v1/boards"))["items"]] == [kept["id"]]

    async def test_delete_needs_an_owner(self, make_server: ServerFactory) -> None:
        """An admin who is not an owner is refused with MC's message."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        key = await _member_key(srv)
        async with with_key(srv, key) as member:
            me = _ok(await member.get(ORG + "/me/member"))
        async with as_owner(srv) as http:
            _ok(await http.patch(ORG + f"/me/members/{me['id']}", json={"role": "admin"}))
        async with with_key(srv, key) as admin:
            assert (
                _detail(await admin.delete(ORG + "/me"), 403)
                == "Only organization owners can delete organizations"
            )


class TestUsersAndBootstrap:
    async def test_bootstrap_and_leaving(self, make_server: ServerFactory) -> None:
        """Bootstrap answers the user and makes its membership; a member leaves (its board access
        with it); the last owner with other members stays (422); the only member takes the MC
        data with it."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        key = await _member_key(srv)
        async with with_key(srv, key) as member:
            user = _ok(await member.post("/api/v1/auth/bootstrap"))
            assert user["clerk_user_id"].startswith("key:")
        async with as_owner(srv) as http:
            board = _ok(await http.post("/api/v1/boards", json={"name": "B", "description": "d"}))
            listed = _ok(await http.get(ORG + "/me/members"))["items"]
            theirs = next(m for m in listed if m["user_id"] == user["id"])
            _ok(await http.put(ORG + f"/me/members/{theirs['id']}/access", json={
                "all_boards_read": False, "all_boards_write": False,
                "board_access": [{"board_id": board["id"], "can_read": True, "can_write": True}]}))  # fmt: skip
            assert (
                _detail(await http.delete("/api/v1/users/me"), 422)
                == "Organization must have at least one owner"
            )
        async with with_key(srv, key) as member:
            assert _ok(await member.delete("/api/v1/users/me")) == {"ok": True}
        async with db(srv) as conn:
            assert (
                await conn.fetchval("SELECT count(*) FROM team_access WHERE team_id = $1", board["id"]) == 0
            )
        async with as_owner(srv) as http:
            assert [m["role"] for m in _ok(await http.get(ORG + "/me/members"))["items"]] == ["owner"]
            assert _ok(await http.delete("/api/v1/users/me")) == {"ok": True}  # the only member
            assert _ok(await http.get("/api/v1/boards"))["items"] == []


@pytest.fixture(name="server")
async def _server(make_server: ServerFactory) -> RunningServer:
    return await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
