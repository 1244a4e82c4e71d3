"""MCP servers over REST and in runs (issue 13): records with the api_key encrypted at rest and
never returned, bad input in GoClaw's envelope, test-before-save, tool discovery, grants, and an
MCP tool called by the loopback LLM stand-in in a WebSocket run, against real MCP servers built
with the official SDK (streamable HTTP on a loopback port; stdio as a subprocess)."""

from __future__ import annotations

import asyncio
import io
import json
import sys
import tarfile
from typing import Any

import httpx
import httpx2
import psutil
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from clawgate.mcp_pool import render_result
from tests.conftest import ServerFactory
from tests.http.helpers import assert_error, db, export_events
from tests.mcp_stand_in import GARBLED, SCRIPT, HttpMcpServer
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply, unreachable_url

S = "/v1/mcp/servers"


async def _create(http: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    res = await http.post(S, json=body)
    assert res.status_code == 201, res.text
    data: dict[str, Any] = res.json()
    return data


async def _grant(http: httpx.AsyncClient, server_id: str, agent: str = "helper") -> None:
    res = await http.post(f"{S}/{server_id}/grants/agent", json={"agent_id": agent})
    assert res.status_code == 201, res.text


def _tool_result(chat: ChatSetup) -> str:
    return [str(m["content"]) for m in chat.upstream.turns[-1]["messages"] if m["role"] == "tool"][-1]


def _offered(chat: ChatSetup, index: int = 0) -> list[str]:
    return [t["function"]["name"] for t in chat.upstream.turns[index].get("tools", [])]


async def _ws_run(chat: ChatSetup, *replies: Reply, user: str = "alice") -> dict[str, Any]:
    chat.upstream.script(*replies)
    async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id=user) as ws:
        res: dict[str, Any] = await ws.ok("chat.send", {"message": "go", "agentId": "helper"}, timeout=60)
    return res


class TestRecords:
    async def test_api_key_is_encrypted_at_rest_and_never_returned(self, make_server: ServerFactory) -> None:
        """A registered server shows has_api_key but never the key; the row holds SecretBox text."""
        async with chat_setup(make_server) as chat, chat.admin() as http:
            made = await _create(http, name="fs", transport="stdio", command=sys.executable, args=[SCRIPT],
                                 api_key="sk-mcp-secret-1234", env={"FOO": "bar"}, timeout_sec=5,
                                 display_name=None, config=None)  # fmt: skip
            listed = (await http.get(S)).json()["servers"]
            one = (await http.get(f"{S}/{made['id']}")).json()
            renamed = (await http.put(f"{S}/{made['id']}", json={"name": "fs2", "api_key": None})).json()
            async with db(chat.server) as conn:
                stored = await conn.fetchval("SELECT api_key FROM mcp_servers WHERE id = $1", made["id"])
        for view in (made, listed[0], one, renamed):
            assert "sk-mcp-secret" not in json.dumps(view)
            assert view["has_api_key"] is True
        assert renamed["name"] == "fs2"
        assert renamed["env"] == {"FOO": "bar"}
        assert stored.startswith("aes-gcm:")
        assert "sk-mcp-secret" not in stored

    async def test_bad_input_gets_the_error_envelope(self, make_server: ServerFactory) -> None:
        """A stdio server without command, a bad transport or url, a taken name, an unknown id or
        agent: 4xx in GoClaw's envelope, never a 500."""
        async with chat_setup(make_server) as chat, chat.admin() as http:
            assert_error(await http.post(S, json={"name": "x", "transport": "stdio"}), 400, "INVALID_REQUEST")
            assert_error(await http.post(S, json={"name": "x", "transport": "ftp", "command": "a"}), 400,
                         "INVALID_REQUEST")  # fmt: skip
            assert_error(await http.post(S, json={"name": "x", "transport": "sse", "url": "file:///etc"}), 400,
                         "INVALID_REQUEST")  # fmt: skip
            assert_error(
                await http.post(S, json={"transport": "stdio", "command": "a"}), 400, "INVALID_REQUEST"
            )
            assert_error(await http.post(S, json={"name": "../x", "transport": "stdio", "command": "a"}), 400,
                         "INVALID_REQUEST")  # fmt: skip
            await _create(http, name="x", transport="stdio", command="a")
            assert_error(await http.post(S, json={"name": "x", "transport": "stdio", "command": "b"}), 409,
                         "ALREADY_EXISTS")  # fmt: skip
            assert_error(await http.get(f"{S}/not-a-uuid"), 404, "NOT_FOUND")
            assert_error(await http.get(f"{S}/00000000-0000-0000-0000-000000000001"), 404, "NOT_FOUND")
            body = {"name": "y", "transport": "stdio", "command": "a", "agent_id": "nobody"}
            assert_error(await http.post(S, json=body), 404, "NOT_FOUND")

    async def test_only_who_manages_the_gateway_registers_stdio(self, make_server: ServerFactory) -> None:
        """A stdio server runs a program on the gateway's host: a tenant's admin key may register
        network servers, not stdio ones (nor test or import them)."""
        async with chat_setup(make_server) as chat:
            key = await chat.user_key(("operator.admin",))
            stdio = {"name": "local", "transport": "stdio", "command": sys.executable, "args": [SCRIPT]}
            async with chat.server.client(key) as http:
                refused = await http.post(S, json=stdio)
                tested = await http.post(f"{S}/test", json=stdio)
                remote = await http.post(S, json={"name": "remote", "transport": "streamable-http",
                                                  "url": "http://127.0.0.1:9/mcp"})  # fmt: skip
                changed = await http.put(
                    f"{S}/{remote.json()['id']}", json={"transport": "stdio", "command": "sh"}
                )
        assert_error(refused, 403, "UNAUTHORIZED")
        assert_error(tested, 403, "UNAUTHORIZED")
        assert remote.status_code == 201, remote.text
        assert_error(changed, 403, "UNAUTHORIZED")

    async def test_below_admin_is_forbidden(self, make_server: ServerFactory) -> None:
        async with chat_setup(make_server) as chat:
            key = await chat.user_key(("operator.write",))
            async with chat.server.client(key) as http:
                assert_error(await http.get(S), 403, "UNAUTHORIZED")


class TestConnections:
    async def test_test_before_save_lists_tools_or_says_why_not(self, make_server: ServerFactory) -> None:
        async with chat_setup(make_server) as chat, chat.admin() as http, HttpMcpServer() as mcp:
            good = (
                await http.post(f"{S}/test", json={"transport": "streamable-http", "url": mcp.url})
            ).json()
            bad = (await http.post(f"{S}/test", json={"transport": "streamable-http", "url": unreachable_url(),
                                                      "timeout_sec": 2})).json()  # fmt: skip
            saved = (await http.get(S)).json()["servers"]
        assert good["success"] is True
        assert "echo" in good["tools"]
        assert bad["success"] is False
        assert bad["error"]
        assert saved == []

    async def test_tools_grants_and_reconnect(self, make_server: ServerFactory) -> None:
        async with chat_setup(make_server) as chat, chat.admin() as http, HttpMcpServer() as mcp:
            made = await _create(http, name="web", transport="streamable-http", url=mcp.url)
            tools = (await http.get(f"{S}/{made['id']}/tools")).json()["tools"]
            await _grant(http, made["id"])
            res = await http.post(f"{S}/{made['id']}/grants/user", json={"user_id": "alice"})
            assert res.status_code == 201, res.text
            grants = (await http.get(f"{S}/{made['id']}/grants")).json()
            by_agent = (await http.get("/v1/mcp/grants/agent/helper")).json()["grants"]
            again = (await http.post(f"{S}/{made['id']}/reconnect")).json()
            assert (await http.delete(f"{S}/{made['id']}/grants/agent/helper")).status_code == 200
            assert_error(await http.delete(f"{S}/{made['id']}/grants/agent/helper"), 404, "NOT_FOUND")
            assert (await http.delete(f"{S}/{made['id']}/grants/user/alice")).status_code == 200
            after = (await http.get(f"{S}/{made['id']}/grants")).json()
        assert {t["registered_name"] for t in tools} >= {"mcp_web_echo", "mcp_web_add"}
        assert [g["agent_id"] for g in grants["agents"]] == [chat.agent["id"]]
        assert [g["user_id"] for g in grants["users"]] == ["alice"]
        assert len(by_agent) == 1
        assert again["success"] is True
        assert again["tool_count"] == len(tools)
        assert after == {"agents": [], "users": []}


class TestRuns:
    async def test_llm_calls_an_mcp_tool_over_streamable_http(self, make_server: ServerFactory) -> None:
        """A granted server's tools are offered under their prefix; the stand-in calls one in a
        WebSocket run and the model sees its answer. Revoking the grant removes the tools."""
        async with chat_setup(make_server) as chat, chat.admin() as http, HttpMcpServer() as mcp:
            made = await _create(http, name="web", transport="streamable-http", url=mcp.url)
            await _grant(http, made["id"])
            res = await _ws_run(chat, Reply(tool_calls=[("mcp_web_add", '{"a": 2, "b": 40}')]),
                                Reply(content="done"))  # fmt: skip
            offered, result = _offered(chat), _tool_result(chat)
            await http.delete(f"{S}/{made['id']}/grants/agent/helper")
            await _ws_run(chat, Reply(content="plain"))
            later = _offered(chat, -1)
        assert res["content"] == "done"
        assert {"mcp_web_echo", "mcp_web_add", "current_time"} <= set(offered)
        assert result == "42"
        assert not any(n.startswith("mcp_web_") for n in later)

    async def test_a_name_taken_by_a_builtin_is_skipped(self, make_server: ServerFactory) -> None:
        """``current_`` + ``time`` would be the built-in current_time: the built-in stays, once."""
        async with chat_setup(make_server) as chat, chat.admin() as http, HttpMcpServer() as mcp:
            made = await _create(
                http, name="clash", transport="streamable-http", url=mcp.url, tool_prefix="current_"
            )
            await _grant(http, made["id"])
            await _ws_run(
                chat, Reply(tool_calls=[("current_time", '{"timezone": "UTC"}')]), Reply(content="ok")
            )
            offered, result = _offered(chat), _tool_result(chat)
        assert offered.count("current_time") == 1
        assert "current_echo" in offered
        assert result != "mcp time"
        assert "T" in result

    async def test_stdio_faults_fail_the_call_not_the_run(self, make_server: ServerFactory) -> None:
        """Over stdio (the SDK-built stand-in and a hand-written garbling server as subprocesses): a
        hang times out, malformed JSON-RPC and a crash mid-call fail that call with a clear error;
        each run still completes, and the server is started again for a later call."""
        async with chat_setup(make_server) as chat, chat.admin() as http:
            made = await _create(http, name="io", transport="stdio", command=sys.executable, args=[SCRIPT],
                                 timeout_sec=1)  # fmt: skip
            await _grant(http, made["id"])
            bad = await _create(http, name="bad", transport="stdio", command=sys.executable, args=[GARBLED],
                                timeout_sec=30)  # fmt: skip
            await _grant(http, bad["id"])
            results = {}
            for tool in ("io_hang", "bad_reply", "io_crash"):
                res = await _ws_run(
                    chat, Reply(tool_calls=[(f"mcp_{tool}", "{}")]), Reply(content=f"{tool} ok")
                )
                assert res["content"] == f"{tool} ok"
                results[tool] = _tool_result(chat)
            await chat.server.gateway.mcp.close()  # no wait for the backoff: a fresh connection
            await _ws_run(chat, Reply(tool_calls=[("mcp_io_echo", '{"text": "back"}')]), Reply(content="ok"))
            revived = _tool_result(chat)
        assert "did not answer hang within 1 s" in results["io_hang"]
        assert "not JSON-RPC" in results["bad_reply"]  # at once, not after its 30 s timeout
        assert "Connection closed" in results["io_crash"]
        assert revived == "echo: back"

    async def test_disabling_a_server_ends_its_process(self, make_server: ServerFactory) -> None:
        """A stdio server starts on first use and its process ends when the record is disabled."""

        def servers() -> list[psutil.Process]:
            """The live server processes: one that has exited (a zombie not yet reaped) or gone has ended."""
            found = []
            for child in psutil.Process().children(recursive=True):
                try:
                    if child.status() != psutil.STATUS_ZOMBIE and SCRIPT in " ".join(child.cmdline()):
                        found.append(child)
                except (psutil.NoSuchProcess, psutil.ZombieProcess):
                    continue
            return found

        async with chat_setup(make_server) as chat, chat.admin() as http:
            made = await _create(http, name="life", transport="stdio", command=sys.executable, args=[SCRIPT])
            await _grant(http, made["id"])
            before = servers()
            await _ws_run(chat, Reply(tool_calls=[("mcp_life_echo", '{"text": "x"}')]), Reply(content="ok"))
            running = servers()
            await http.put(f"{S}/{made['id']}", json={"enabled": False})
            for _ in range(100):
                if not servers():
                    break
                await asyncio.sleep(0.05)
            after = servers()
        assert before == []
        assert len(running) == 1
        assert after == []

    async def test_stdio_server_gets_no_gateway_secrets(
        self, make_server: ServerFactory, monkeypatch: Any
    ) -> None:
        """The gateway's CLAWGATE_* variables and provider keys never reach a stdio server; the
        record's env does (without CLAWGATE_* names)."""
        monkeypatch.setenv("CLAWGATE_MCP_TEST_SECRET", "s3cret")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-gateway")
        async with chat_setup(make_server) as chat, chat.admin() as http:
            made = await _create(http, name="env", transport="stdio", command=sys.executable, args=[SCRIPT],
                                 env={"MCP_OWN": "1", "CLAWGATE_SMUGGLED": "x"})  # fmt: skip
            await _grant(http, made["id"])
            await _ws_run(chat, Reply(tool_calls=[("mcp_env_env_names", "{}")]), Reply(content="ok"))
            names = _tool_result(chat).split(",")
        assert "MCP_OWN" in names
        assert "PATH" in names
        assert not [n for n in names if n.startswith(("CLAWGATE_", "GOCLAW_")) or n == "OPENAI_API_KEY"]


class TestGrantFilters:
    async def test_allow_and_deny_narrow_what_a_grant_gives(self, make_server: ServerFactory) -> None:
        """GoClaw's ``tool_allow`` / ``tool_deny``: the agent grant allows echo and add but denies
        add (deny wins), so a run gets echo only and a call of add is refused; alice's own grant
        allows add (named as agents see it), so her runs get it too, bob's do not."""
        async with chat_setup(make_server) as chat, chat.admin() as http, HttpMcpServer() as mcp:
            made = await _create(http, name="web", transport="streamable-http", url=mcp.url)
            grant = {"agent_id": "helper", "tool_allow": ["echo", "add"], "tool_deny": ["add"]}
            res = await http.post(f"{S}/{made['id']}/grants/agent", json=grant)
            assert res.status_code == 201, res.text
            await _ws_run(chat, Reply(tool_calls=[("mcp_web_add", '{"a": 1, "b": 2}')]), Reply(content="ok"))
            narrowed, refused = _offered(chat), _tool_result(chat)
            res = await http.post(f"{S}/{made['id']}/grants/user", json={"user_id": "alice",
                                                                         "tool_allow": ["mcp_web_add"]})  # fmt: skip
            assert res.status_code == 201, res.text
            await _ws_run(chat, Reply(tool_calls=[("mcp_web_add", '{"a": 1, "b": 2}')]), Reply(content="ok"))
            for_alice, added = _offered(chat, -2), _tool_result(chat)
            await _ws_run(chat, Reply(content="plain"), user="bob")
            for_bob = _offered(chat, -1)
            grants = (await http.get(f"{S}/{made['id']}/grants")).json()
        mine = {n for n in narrowed if n.startswith("mcp_web_")}
        assert mine == {"mcp_web_echo"}
        assert refused.startswith("unknown tool 'mcp_web_add'")
        assert {"mcp_web_echo", "mcp_web_add"} <= set(for_alice)
        assert "mcp_web_time" not in for_alice
        assert added == "3"
        assert {n for n in for_bob if n.startswith("mcp_web_")} == {"mcp_web_echo"}
        assert grants["agents"][0]["tool_allow"] == ["echo", "add"]
        assert grants["agents"][0]["tool_deny"] == ["add"]
        assert grants["users"][0]["tool_allow"] == ["mcp_web_add"]

    async def test_config_overrides_rename_and_time_the_agents_calls(
        self, make_server: ServerFactory
    ) -> None:
        """An agent grant's ``config_overrides`` sets the prefix and the call timeout for that
        agent: its tools are ``w_*`` and a hanging call fails after 1 s (the record says 60), not
        the run. Unknown keys and out-of-range values are refused."""
        async with chat_setup(make_server) as chat, chat.admin() as http, HttpMcpServer() as mcp:
            made = await _create(http, name="web", transport="streamable-http", url=mcp.url)
            url = f"{S}/{made['id']}/grants/agent"
            for bad in ({"tool_prefix": "w_", "color": "red"}, {"timeout_sec": 0}, {"tool_prefix": "a b"}):
                res = await http.post(url, json={"agent_id": "helper", "config_overrides": bad})
                assert_error(res, 400, "INVALID_REQUEST")
            overrides = {"tool_prefix": "w_", "timeout_sec": 1}
            res = await http.post(url, json={"agent_id": "helper", "config_overrides": overrides})
            assert res.status_code == 201, res.text
            done = await _ws_run(chat, Reply(tool_calls=[("w_hang", "{}")]), Reply(content="went on"))
            offered, result = _offered(chat), _tool_result(chat)
            grants = (await http.get(f"{S}/{made['id']}/grants")).json()
        assert {"w_echo", "w_add", "w_hang"} <= set(offered)
        assert not any(n.startswith("mcp_web_") for n in offered)
        assert "within 1 s" in result
        assert done["content"] == "went on"
        assert grants["agents"][0]["config_overrides"] == overrides


class TestUserCredentials:
    async def test_a_users_credentials_reach_only_their_runs(self, make_server: ServerFactory) -> None:
        """alice's env for a stdio server is stored encrypted, shown by name only, given to the
        server in alice's runs and not in bob's; deleting it ends that."""
        async with chat_setup(make_server) as chat:
            async with chat.admin() as http:
                made = await _create(
                    http, name="cred", transport="stdio", command=sys.executable, args=[SCRIPT]
                )
                await _grant(http, made["id"])
            url = f"{S}/{made['id']}/user-credentials"
            async with chat.admin("alice") as alice:
                put = await alice.put(
                    url, json={"api_key": "alice-key-secret", "env": {"ALICE_TOKEN": "t0k3n-a"}}
                )
                got = (await alice.get(url)).json()
            async with db(chat.server) as conn:
                stored = await conn.fetchrow("SELECT api_key, env FROM mcp_user_credentials")
            await _ws_run(
                chat, Reply(tool_calls=[("mcp_cred_env_names", "{}")]), Reply(content="ok"), user="alice"
            )
            for_alice = _tool_result(chat).split(",")
            await _ws_run(
                chat, Reply(tool_calls=[("mcp_cred_env_names", "{}")]), Reply(content="ok"), user="bob"
            )
            for_bob = _tool_result(chat).split(",")
            async with chat.admin("alice") as alice:
                assert (await alice.delete(url)).status_code == 200
                assert_error(await alice.delete(url), 404, "NOT_FOUND")
                gone = (await alice.get(url)).json()
        assert put.status_code == 200, put.text
        assert got["has_api_key"] is True
        assert got["env_names"] == ["ALICE_TOKEN"]
        assert got["user_id"] == "alice"
        assert "t0k3n-a" not in put.text + json.dumps(got)
        assert "alice-key-secret" not in put.text
        assert stored["api_key"].startswith("aes-gcm:")
        assert stored["env"].startswith("aes-gcm:")
        assert "ALICE_TOKEN" in for_alice
        assert "ALICE_TOKEN" not in for_bob
        assert gone["has_api_key"] is False
        assert gone["env_names"] == []


class TestAccessRequests:
    async def test_a_request_is_reviewed_and_approval_grants(self, make_server: ServerFactory) -> None:
        """A non-admin asks for a server for an agent and for themselves; the admin approves one
        (the grant exists) and rejects the other; a decided request cannot be reviewed again."""
        async with chat_setup(make_server) as chat:
            async with chat.admin() as http:
                made = await _create(http, name="req", transport="stdio", command="x")
            key = await chat.user_key(("operator.write",))
            async with chat.server.client(key, **{"X-GoClaw-User-Id": "carol"}) as carol:
                for_agent = await carol.post("/v1/mcp/requests", json={"server_id": made["id"], "agent_id": "helper",
                                                                       "reason": "needs files",
                                                                       "tool_allow": ["read_file"]})  # fmt: skip
                for_me = await carol.post("/v1/mcp/requests", json={"server_id": made["id"]})
                assert_error(await carol.get("/v1/mcp/requests"), 403, "UNAUTHORIZED")
                both = {"server_id": made["id"], "agent_id": "helper", "user_id": "x"}
                assert_error(await carol.post("/v1/mcp/requests", json=both), 400, "INVALID_REQUEST")
            async with chat.admin() as http:
                pending = (await http.get("/v1/mcp/requests")).json()["requests"]
                approved = await http.post(f"/v1/mcp/requests/{for_agent.json()['id']}/review",
                                           json={"action": "approve"})  # fmt: skip
                rejected = await http.post(f"/v1/mcp/requests/{for_me.json()['id']}/review",
                                           json={"approved": False, "note": "no"})  # fmt: skip
                again = await http.post(
                    f"/v1/mcp/requests/{for_me.json()['id']}/review", json={"action": "approve"}
                )
                assert_error(await http.post(f"/v1/mcp/requests/{for_me.json()['id']}/review", json={}), 400,
                             "INVALID_REQUEST")  # fmt: skip
                grants = (await http.get(f"{S}/{made['id']}/grants")).json()
                left = (await http.get("/v1/mcp/requests")).json()["requests"]
        assert for_agent.status_code == 201, for_agent.text
        assert for_me.json()["user_id"] == "carol"
        assert for_me.json()["requested_by"] == "carol"
        assert len(pending) == 2
        assert approved.json()["status"] == "approved"
        assert rejected.json()["status"] == "rejected"
        assert rejected.json()["review_note"] == "no"
        assert_error(again, 404, "NOT_FOUND")
        assert [g["agent_id"] for g in grants["agents"]] == [chat.agent["id"]]
        assert for_agent.json()["tool_allow"] == ["read_file"]
        assert grants["agents"][0]["tool_allow"] == ["read_file"]
        assert grants["users"] == []
        assert left == []


class TestExportImport:
    async def test_round_trip_without_secrets(self, make_server: ServerFactory) -> None:
        """The archive holds servers.jsonl (no api_key) and grants.jsonl by name and agent key;
        importing it after a delete restores server and grant; again, the name is skipped."""
        async with chat_setup(make_server) as chat, chat.admin() as http:
            made = await _create(http, name="arch", transport="stdio", command="x", args=["-y"],
                                 api_key="sk-archive-secret", tool_prefix="ar_")  # fmt: skip
            narrowed = {"tool_allow": ["echo"], "tool_deny": ["hang"], "config_overrides": {"timeout_sec": 5}}
            res = await http.post(f"{S}/{made['id']}/grants/agent", json={"agent_id": "helper", **narrowed})
            assert res.status_code == 201, res.text
            preview = (await http.get("/v1/mcp/export/preview")).json()
            archive = await http.get("/v1/mcp/export")
            streamed = await http.get("/v1/mcp/export?stream=true")
            await http.delete(f"{S}/{made['id']}")
            files = {"file": ("mcp.tar.gz", archive.content, "application/gzip")}
            first = await http.post("/v1/mcp/import", files=files)
            second = await http.post("/v1/mcp/import", files=files)
            bad = await http.post(
                "/v1/mcp/import", files={"file": ("x.tar.gz", b"not a tar", "application/gzip")}
            )
            servers = (await http.get(S)).json()["servers"]
            grants = (await http.get(f"{S}/{servers[0]['id']}/grants")).json()
        with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar}  # type: ignore[union-attr]
        assert preview == {"servers": 1, "grants": 1}
        done = export_events(streamed, "/v1/mcp/export")
        assert (done["servers"], done["grants"]) == (1, 1)
        assert done["size"] > 0
        assert done["file_name"] == archive.headers["content-disposition"].split('"')[1]
        assert archive.headers["content-type"] == "application/gzip"
        assert b"sk-archive-secret" not in members["servers.jsonl"]
        assert b"api_key" not in members["servers.jsonl"]
        assert json.loads(members["grants.jsonl"]) == {
            "server_name": "arch",
            "agent_key": "helper",
            **narrowed,
        }
        assert first.status_code == 201, first.text
        assert first.json() == {"servers_imported": 1, "servers_skipped": 0, "grants_applied": 1}
        assert second.json()["servers_skipped"] == 1
        assert_error(bad, 400, "INVALID_REQUEST")
        assert servers[0]["tool_prefix"] == "ar_"
        assert servers[0]["has_api_key"] is False
        assert [g["agent_id"] for g in grants["agents"]] == [chat.agent["id"]]
        assert {k: grants["agents"][0][k] for k in narrowed} == narrowed


class TestClawGateAsMcpServer:
    async def test_official_client_asks_an_agent_through_mcp(self, make_server: ServerFactory) -> None:
        """``mcp.client.streamable_http`` against ``/mcp`` with the gateway token: the tenant's agents
        are listed as ``ask_<key>`` tools and one answers through the LLM stand-in."""
        async with chat_setup(make_server) as chat:
            chat.upstream.script(Reply(content="hello from helper"))
            headers = {"Authorization": f"Bearer {GATEWAY_TOKEN}", "X-GoClaw-User-Id": "owner"}
            async with (
                httpx2.AsyncClient(headers=headers) as http,
                Client(
                    streamable_http_client(chat.server.url + "/mcp", http_client=http), cache=None
                ) as client,
            ):
                tools = await client.list_tools()
                answer = await client.call_tool("ask_helper", {"message": "hi"})
                unknown = await client.call_tool("ask_nobody", {"message": "hi"})
        assert [t.name for t in tools.tools] == ["ask_helper"]
        assert answer.is_error is False
        assert render_result(answer) == "hello from helper"
        assert unknown.is_error is True
        assert chat.upstream.turns[-1]["messages"][-1]["content"] == "hi"

    async def test_without_credential_mcp_is_refused(self, make_server: ServerFactory) -> None:
        async with chat_setup(make_server) as chat, chat.server.client() as http:
            res = await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
        assert_error(res, 401, "UNAUTHORIZED")

    async def test_another_tenant_sees_only_its_own_agents(self, make_server: ServerFactory) -> None:
        """A key of another tenant lists that tenant's agents, never helper."""
        async with chat_setup(make_server) as chat:
            async with chat.admin() as http:
                tenant = (await http.post("/v1/tenants", json={"name": "Other", "slug": "other"})).json()
                res = await http.post("/v1/api-keys", json={"name": "k", "scopes": ["operator.admin"],
                                                             "tenant_id": tenant["id"]})  # fmt: skip
            key = res.json()["key"]
            async with (
                httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as http,
                Client(
                    streamable_http_client(chat.server.url + "/mcp", http_client=http), cache=None
                ) as client,
            ):
                tools = await client.list_tools()
                attempt = await client.call_tool("ask_helper", {"message": "hi"})
        assert tools.tools == []
        assert attempt.is_error is True
