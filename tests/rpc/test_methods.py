"""The method namespaces end to end through a real server: agents, config, API keys, tenants."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from clawgate.config import config_hash
from tests.conftest import ServerFactory
from tests.rpc.helpers import create_key, create_tenant
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, WsClient, add_stub_provider, ws_connect


async def _err(ws: WsClient, method: str, params: Any = None) -> dict[str, Any]:
    res = await ws.call(method, params)
    assert res["ok"] is False, res
    error: dict[str, Any] = res["error"]
    return error


class TestAgents:
    async def test_create_from_name_and_list(self, server: RunningServer) -> None:
        """``agents.create {name}`` derives the key; ``agents.list`` returns GoClaw's shape."""
        await add_stub_provider(server)
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            created = await ws.ok("agents.create", {"name": "Research Bot", "model": "m1", "provider": "stub",
                                                    "emoji": "🔬", "is_default": True})  # fmt: skip
            listed = await ws.ok("agents.list")
        assert created["agent_key"] == "research-bot"
        assert created["display_name"] == "Research Bot"
        assert listed == {
            "agents": [
                {"id": "research-bot", "agent_key": "research-bot", "uuid": created["id"],
                 "display_name": "Research Bot", "name": "Research Bot", "model": "m1", "provider": "stub",
                 "agentType": "open", "status": "active", "isRunning": False, "is_default": True,
                 "emoji": "🔬"}
            ]
        }  # fmt: skip

    async def test_update_by_key_and_uuid(self, server: RunningServer) -> None:
        """``agents.update`` accepts the key or the UUID and changes only the fields sent."""
        await add_stub_provider(server)
        async with ws_connect(server, token=GATEWAY_TOKEN) as ws:
            created = await ws.ok("agents.create", {"agent_key": "helper", "provider": "stub", "model": "a"})
            by_key = await ws.ok("agents.update", {"agentId": "helper", "model": "b"})
            by_id = await ws.ok("agents.update", {"agentId": created["id"], "display_name": "Helper"})
        assert by_key["model"] == "b"
        assert by_id["model"] == "b"
        assert by_id["display_name"] == "Helper"

    async def test_duplicate_key_already_exists(self, server: RunningServer) -> None:
        """Creating a taken key answers ALREADY_EXISTS."""
        await add_stub_provider(server)
        async with ws_connect(server, token=GATEWAY_TOKEN) as ws:
            await ws.ok("agents.create", {"agent_key": "dup", **RUNNABLE})
            error = await _err(ws, "agents.create", {"agent_key": "dup", **RUNNABLE})
        assert error["code"] == "ALREADY_EXISTS"

    async def test_invalid_params_name_field(self, server: RunningServer) -> None:
        """Bad params answer INVALID_REQUEST naming the field path."""
        async with ws_connect(server, token=GATEWAY_TOKEN) as ws:
            unknown = await _err(ws, "agents.update", {"agentId": "x", "colour": "red"})
            bad_type = await _err(ws, "agents.create", {"agent_key": "ok", "temperature": "hot"})
            missing = await _err(ws, "agents.files.set", {"agentId": "x", "name": "SOUL.md"})
        assert unknown["code"] == "INVALID_REQUEST"
        assert unknown["details"]["field"] == "$.colour"
        assert bad_type["details"]["field"] == "$.temperature"
        assert "content" in missing["message"]

    async def test_files_set_list_get(self, server: RunningServer) -> None:
        """Context files round-trip; an operator may write them."""
        key = await create_key(server, ["operator.write"])
        await add_stub_provider(server)
        async with ws_connect(server, token=GATEWAY_TOKEN) as admin:
            await admin.ok("agents.create", {"agent_key": "writer", **RUNNABLE})
        async with ws_connect(server, token=key["key"], user_id="op") as ws:
            saved = await ws.ok(
                "agents.files.set", {"agentId": "writer", "name": "SOUL.md", "content": "Be kind."}
            )
            listed = await ws.ok("agents.files.list", {"agentId": "writer"})
            got = await ws.ok("agents.files.get", {"agentId": "writer", "name": "SOUL.md"})
            missing = await _err(ws, "agents.files.get", {"agentId": "writer", "name": "NOPE.md"})
            bad_name = await _err(
                ws, "agents.files.set", {"agentId": "writer", "name": "../x", "content": ""}
            )
        assert saved["ok"] is True
        assert saved["file"]["size"] == 8
        assert [f["name"] for f in listed["files"] if not f["missing"]] == ["SOUL.md"]
        assert listed["agentId"] == "writer"
        assert got["file"]["content"] == "Be kind."
        assert missing["code"] == "NOT_FOUND"
        assert bad_name["code"] == "INVALID_REQUEST"

    async def test_viewer_cannot_write_files(self, server: RunningServer) -> None:
        """``agents.files.set`` needs operator."""
        key = await create_key(server, ["operator.read"])
        async with ws_connect(server, token=key["key"]) as ws:
            error = await _err(ws, "agents.files.set", {"agentId": "a", "name": "SOUL.md", "content": "x"})
        assert error["message"] == "agents.files.set requires operator role"

    async def test_identity_and_delete(self, server: RunningServer) -> None:
        """``agent.identity.get`` names the agent; after ``agents.delete`` it is NOT_FOUND."""
        await add_stub_provider(server)
        async with ws_connect(server, token=GATEWAY_TOKEN) as ws:
            created = await ws.ok("agents.create", {"agent_key": "ident", "display_name": "Ida", "emoji": "🦉",
                                                    "agent_description": "wise", **RUNNABLE})  # fmt: skip
            identity = await ws.ok("agent.identity.get", {"agentId": created["id"]})
            deleted = await ws.ok("agents.delete", {"agentId": "ident", "deleteFiles": True})
            after = await _err(ws, "agent.identity.get", {"agentId": "ident"})
            again = await _err(ws, "agents.delete", {"agentId": "ident"})
            listed = await ws.ok("agents.list")
        assert identity == {"agentId": "ident", "name": "Ida", "emoji": "🦉", "description": "wise"}
        assert deleted["ok"] is True
        assert after["code"] == "NOT_FOUND"
        assert again["code"] == "NOT_FOUND"
        assert listed == {"agents": []}


class TestTenantIsolation:
    async def test_other_tenant_cannot_see_or_touch_agents(self, server: RunningServer) -> None:
        """A tenant-B admin key sees none of tenant A's agents: every reference is NOT_FOUND."""
        await add_stub_provider(server)
        async with ws_connect(server, token=GATEWAY_TOKEN) as ws_a:
            agent = await ws_a.ok("agents.create", {"agent_key": "secret-agent", **RUNNABLE})
            await ws_a.ok("agents.files.set", {"agentId": "secret-agent", "name": "SOUL.md", "content": "A"})
        await create_tenant(server, "tenant-b")
        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": "tenant-b"})
        key_b = await create_key(server, ["operator.admin"], tenant_id="tenant-b")
        async with ws_connect(server, token=key_b["key"], user_id="b-admin") as ws_b:
            assert await ws_b.ok("agents.list") == {"agents": []}
            errors = [
                await _err(ws_b, "agent.identity.get", {"agentId": "secret-agent"}),
                await _err(ws_b, "agent.identity.get", {"agentId": agent["id"]}),
                await _err(ws_b, "agents.update", {"agentId": agent["id"], "model": "stolen"}),
                await _err(ws_b, "agents.delete", {"agentId": "secret-agent"}),
                await _err(ws_b, "agents.files.list", {"agentId": "secret-agent"}),
                await _err(ws_b, "agents.files.get", {"agentId": agent["id"], "name": "SOUL.md"}),
                await _err(ws_b, "agents.files.set", {"agentId": "secret-agent", "name": "SOUL.md", "content": "B"}),
            ]  # fmt: skip
            # The same key may create its own agent of the same key in tenant B.
            own = await ws_b.ok("agents.create", {"agent_key": "secret-agent", **RUNNABLE})
        assert {e["code"] for e in errors} == {"NOT_FOUND"}
        assert own["tenant_id"] == key_b["tenant_id"]
        async with ws_connect(server, token=GATEWAY_TOKEN) as ws_a:
            still = await ws_a.ok("agents.files.get", {"agentId": "secret-agent", "name": "SOUL.md"})
            mine = await ws_a.ok("agents.list")
        assert still["file"]["content"] == "A"
        assert [a["uuid"] for a in mine["agents"]] == [agent["id"]]
        assert mine["agents"][0]["model"] == "stub-model"


@pytest.fixture(name="cfg_server")
async def _cfg_server(
    make_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> RunningServer:
    """A server started in ``tmp_path`` whose config.json holds the gateway token (a file secret);
    the DSN, encryption key and a provider key come from outside the file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.json").write_text(
        json.dumps({"gateway": {"token": GATEWAY_TOKEN, "owner_ids": ["owner"]}, "log": {"level": "warning"}})
    )
    return await make_server(
        providers__openai__api_key="sk-env-secret", providers__openai__api_base="http://x"
    )


class TestConfig:
    async def test_get_masks_secrets(self, cfg_server: RunningServer, tmp_path: Path) -> None:
        """``config.get`` masks every secret and hashes the masked document (16 hex)."""
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            view = await ws.ok("config.get")
        config = view["config"]
        assert config["gateway"]["token"] == "***"
        assert config["database"]["dsn"] == "***"
        assert config["encryption_key"] == "***"
        assert config["providers"]["openai"] == {"api_key": "***", "api_base": "http://x"}
        assert "config_path" not in config
        assert GATEWAY_TOKEN not in json.dumps(view)
        assert view["hash"] == config_hash(config)
        assert len(view["hash"]) == 16
        assert view["path"] == str(tmp_path / "config.json")

    async def test_patch_writes_file_and_applies_owner_ids_live(
        self, cfg_server: RunningServer, tmp_path: Path
    ) -> None:
        """A merge patch of owner ids is written (0600) and applies without a restart."""
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            before = await ws.ok("config.get")
            raw = json.dumps({"gateway": {"owner_ids": ["owner", "zoe"], "token": "***"}})
            res = await ws.ok("config.patch", {"raw": raw, "baseHash": before["hash"]})
            after = await ws.ok("config.get")
        assert res["ok"] is True
        assert res["restart"] is False
        assert res["hash"] == after["hash"] != before["hash"]
        assert res["config"]["gateway"]["owner_ids"] == ["owner", "zoe"]
        assert res["config"]["log"] == before["config"]["log"]
        path = tmp_path / "config.json"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        written = json.loads(path.read_text())
        assert written["gateway"]["owner_ids"] == ["owner", "zoe"]
        async with ws_connect(cfg_server, _skip=True) as ws:
            payload = await ws.ok("connect", {"token": GATEWAY_TOKEN, "user_id": "zoe"})
        assert payload["role"] == "owner"

    async def test_file_keeps_its_own_secrets_only(self, cfg_server: RunningServer, tmp_path: Path) -> None:
        """The rewritten file keeps the token it held and never gains secrets from elsewhere."""
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("config.patch", {"raw": json.dumps({"gateway": {"max_message_chars": 1000}})})
        written = json.loads((tmp_path / "config.json").read_text())
        assert written["gateway"]["token"] == GATEWAY_TOKEN
        assert "dsn" not in written["database"]
        assert "encryption_key" not in written
        assert "api_key" not in written["providers"]["openai"]
        assert cfg_server.gateway.settings.gateway.max_message_chars == 1000
        assert cfg_server.gateway.settings.database.dsn  # the running secret is untouched

    async def test_stale_base_hash_refused(self, cfg_server: RunningServer) -> None:
        """A patch with a stale ``baseHash`` answers INVALID_REQUEST and changes nothing."""
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            first = await ws.ok("config.get")
            await ws.ok(
                "config.patch", {"raw": '{"gateway":{"rate_limit_rpm":7}}', "baseHash": first["hash"]}
            )
            error = await _err(
                ws, "config.patch", {"raw": '{"gateway":{"rate_limit_rpm":9}}', "baseHash": first["hash"]}
            )
            now = await ws.ok("config.get")
        assert error["code"] == "INVALID_REQUEST"
        assert error["message"] == "config changed since it was read (baseHash mismatch); read it again"
        assert now["config"]["gateway"]["rate_limit_rpm"] == 7
        assert cfg_server.gateway.chat_limiter.rpm == 7

    async def test_new_secret_refused_naming_env_var(self, cfg_server: RunningServer) -> None:
        """A new secret value is refused; the message names the environment variables."""
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            token = await _err(ws, "config.patch", {"raw": '{"gateway":{"token":"new-token"}}'})
            provider = await _err(ws, "config.patch", {"raw": '{"providers":{"groq":{"api_key":"gsk"}}}'})
            after = await ws.ok("config.get")
        assert token["code"] == "INVALID_REQUEST"
        assert "CLAWGATE_GATEWAY_TOKEN" in token["message"]
        assert "environment" in token["message"]
        assert "CLAWGATE_GROQ_API_KEY" in provider["message"]
        assert "groq" not in after["config"]["providers"]

    async def test_invalid_value_names_field(self, cfg_server: RunningServer) -> None:
        """A value of the wrong type or an unknown field answers INVALID_REQUEST with its path."""
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            bad = await _err(ws, "config.patch", {"raw": '{"gateway":{"port":"eighty"}}'})
            unknown = await _err(ws, "config.patch", {"raw": '{"gateway":{"colour":"red"}}'})
            not_json = await _err(ws, "config.patch", {"raw": "{nope"})
            not_object = await _err(ws, "config.apply", {"raw": "[1]"})
            path = await _err(ws, "config.patch", {"raw": '{"config_path":"/etc/passwd"}'})
        assert bad["code"] == "INVALID_REQUEST"
        assert bad["details"]["field"] == "$.gateway.port"
        assert unknown["details"]["field"] == "$.gateway.colour"
        assert not_json["code"] == "INVALID_REQUEST"
        assert "JSON object" in not_object["message"]
        assert path["details"]["field"] == "$.config_path"

    async def test_restart_flag_for_startup_fields(self, cfg_server: RunningServer) -> None:
        """Changing a field read only at startup reports ``restart: true`` and is not applied live."""
        port = cfg_server.gateway.settings.gateway.port
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            res = await ws.ok("config.patch", {"raw": json.dumps({"gateway": {"port": port + 1}})})
            view = await ws.ok("config.get")
        assert res["restart"] is True
        assert view["config"]["gateway"]["port"] == port + 1
        assert cfg_server.gateway.settings.gateway.port == port

    async def test_apply_replaces_whole_document(self, cfg_server: RunningServer) -> None:
        """``config.apply`` replaces: fields left out return to defaults; secrets stay."""
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("config.patch", {"raw": '{"gateway":{"max_message_chars":77}}'})
            current = await ws.ok("config.get")
            doc = current["config"]
            del doc["gateway"]["max_message_chars"]
            doc["gateway"]["owner_ids"] = ["owner", "amy"]
            res = await ws.ok("config.apply", {"raw": json.dumps(doc), "baseHash": current["hash"]})
        assert res["config"]["gateway"]["max_message_chars"] == 32000
        assert res["config"]["gateway"]["owner_ids"] == ["owner", "amy"]
        assert res["config"]["gateway"]["token"] == "***"
        assert res["restart"] is False
        assert cfg_server.gateway.settings.gateway.token == GATEWAY_TOKEN

    async def test_schema_describes_settings(self, cfg_server: RunningServer) -> None:
        """``config.schema`` returns the JSON Schema of the file format."""
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            res = await ws.ok("config.schema")
        settings = res["json"]["$defs"]["Settings"]["properties"]
        assert "gateway" in settings
        assert "config_path" not in settings
        assert "port" in res["json"]["$defs"]["GatewaySettings"]["properties"]

    async def test_config_is_admin_only(self, cfg_server: RunningServer) -> None:
        """An operator key may not read the configuration."""
        key = await create_key(cfg_server, ["operator.write"])
        async with ws_connect(cfg_server, token=key["key"]) as ws:
            error = await _err(ws, "config.patch", {"raw": "{}"})
        assert error["code"] == "UNAUTHORIZED"

    async def test_raw_follows_the_input_rules_naming_the_field(
        self, cfg_server: RunningServer, tmp_path: Path
    ) -> None:
        """``raw`` is JSON inside a string, read under the rules of every request: NUL, an integer
        beyond 64 bits or nesting past 64 levels is INVALID_REQUEST naming the configuration path, and
        the file is left as it was; text that is not JSON names ``$.raw``."""
        path = tmp_path / "config.json"
        before = path.read_bytes()
        cases = {
            json.dumps({"gateway": {"owner_ids": ["a\u0000b"]}}): "$.gateway.owner_ids[0]",
            '{"limits": {"ws_max_payload": 18446744073709551616}}': "$.limits.ws_max_payload",
            '{"gateway": ' + "[" * 100 + "]" * 100 + "}": "$.gateway",
            '{"gateway": ': "$.raw",
        }
        fields = {}
        async with ws_connect(cfg_server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            for raw in cases:
                res = await ws.call("config.patch", {"raw": raw})
                assert res["error"]["code"] == "INVALID_REQUEST", res
                fields[raw] = res["error"]["details"]["field"]
        assert all(fields[raw].startswith(field) for raw, field in cases.items()), fields
        assert path.read_bytes() == before

    async def test_gateway_config_is_the_owners(self, cfg_server: RunningServer) -> None:
        """A tenant-bound admin key and the gateway token without an owner id may neither read nor
        change the gateway-wide configuration (message limit, owner ids, rate limits); a system
        admin key may (issue 7, item 2)."""
        tenant = await create_tenant(cfg_server, "bee")
        tenant_admin = await create_key(cfg_server, ["operator.admin"], tenant_id=tenant["id"])
        system_admin = await create_key(cfg_server, ["operator.admin"], tenant_id="")
        patches = [
            {"gateway": {"max_message_chars": 10}},
            {"gateway": {"owner_ids": ["mallory"]}},
            {"rate_limits": {"per_key_rpm": 1}},
        ]
        refused: list[dict[str, Any]] = []
        for creds in ({"token": tenant_admin["key"]}, {"token": GATEWAY_TOKEN, "user_id": "alice"}):
            async with ws_connect(cfg_server, **creds) as ws:
                for doc in patches:
                    refused.append(await _err(ws, "config.patch", {"raw": json.dumps(doc)}))
                    refused.append(await _err(ws, "config.apply", {"raw": json.dumps(doc)}))
                refused.append(await _err(ws, "config.get"))
                refused.append(await _err(ws, "config.schema"))
        async with ws_connect(cfg_server, token=system_admin["key"]) as ws:
            view = await ws.ok("config.get")
            changed = await ws.ok("config.patch", {"raw": '{"gateway":{"max_message_chars":20000}}'})
        assert {(e["code"], e["message"].split(" ", 1)[1]) for e in refused} == {
            ("UNAUTHORIZED", "requires owner role")
        }
        assert view["config"]["gateway"]["owner_ids"] == ["owner"]
        assert changed["config"]["gateway"]["max_message_chars"] == 20000
        live = cfg_server.gateway.settings
        assert live.gateway.owner_ids == ["owner"]
        assert live.rate_limits.per_key_rpm == cfg_server.settings.rate_limits.per_key_rpm


class TestApiKeyMethods:
    async def test_create_list_revoke(self, server: RunningServer) -> None:
        """Create shows the raw key once; list shows the prefix only; revoke answers revoked."""
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            created = await ws.ok(
                "api_keys.create", {"name": "ci", "scopes": ["operator.read"], "expires_in": 60}
            )
            listed = await ws.ok("api_keys.list")
            revoked = await ws.ok("api_keys.revoke", {"id": created["id"]})
            missing = await _err(ws, "api_keys.revoke", {"id": "00000000-0000-0000-0000-000000000000"})
            after = await ws.ok("api_keys.list")
        for field in ("id", "name", "prefix", "key", "scopes", "expires_at", "created_at"):
            assert field in created
        assert created["prefix"] in created["key"]
        assert created["created_by"] == "alice"
        assert [k["id"] for k in listed["keys"]] == [created["id"]]
        assert "key" not in listed["keys"][0]
        assert revoked == {"status": "revoked"}
        assert missing["code"] == "NOT_FOUND"
        assert after["keys"][0]["revoked"] is True

    async def test_unknown_scope_refused(self, server: RunningServer) -> None:
        """An unknown scope answers INVALID_REQUEST."""
        async with ws_connect(server, token=GATEWAY_TOKEN) as ws:
            error = await _err(ws, "api_keys.create", {"name": "x", "scopes": ["root"]})
        assert error["code"] == "INVALID_REQUEST"

    async def test_keys_of_another_tenant_invisible(self, server: RunningServer) -> None:
        """A tenant-B admin lists only tenant B's keys and cannot revoke tenant A's."""
        async with ws_connect(server, token=GATEWAY_TOKEN) as ws:
            master_key = await ws.ok("api_keys.create", {"name": "a", "scopes": ["operator.read"]})
        await create_tenant(server, "bee")
        key_b = await create_key(server, ["operator.admin"], tenant_id="bee")
        async with ws_connect(server, token=key_b["key"]) as ws_b:
            listed = await ws_b.ok("api_keys.list")
            error = await _err(ws_b, "api_keys.revoke", {"id": master_key["id"]})
        assert [k["id"] for k in listed["keys"]] == [key_b["id"]]
        assert error["code"] == "NOT_FOUND"


class TestTenantMethods:
    async def test_owner_manages_tenants_and_users(self, server: RunningServer) -> None:
        """An owner creates, reads, updates a tenant and manages its users."""
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            created = await ws.ok("tenants.create", {"name": "Acme", "slug": "acme"})
            got = await ws.ok("tenants.get", {"id": "acme"})
            updated = await ws.ok("tenants.update", {"id": created["id"], "name": "Acme Inc"})
            added = await ws.ok("tenants.users.add", {"tenant_id": "acme", "user_id": "u1", "role": "viewer"})
            users = await ws.ok("tenants.users.list", {"tenant_id": created["id"]})
            removed = await ws.ok("tenants.users.remove", {"tenant_id": "acme", "user_id": "u1"})
            users_after = await ws.ok("tenants.users.list", {"id": "acme"})
            listed = await ws.ok("tenants.list")
            mine = await ws.ok("tenants.mine")
            dup = await _err(ws, "tenants.create", {"name": "Again", "slug": "acme"})
        assert got["id"] == created["id"]
        assert updated["ok"] is True
        assert updated["name"] == "Acme Inc"
        assert added["ok"] is True
        assert added["role"] == "viewer"
        assert [u["user_id"] for u in users["users"]] == ["u1"]
        assert removed == {"ok": True}
        assert users_after == {"users": []}
        assert {t["slug"] for t in listed["tenants"]} == {"master", "acme"}
        assert {(t["slug"], t["role"]) for t in mine["tenants"]} == {("master", "owner"), ("acme", "owner")}
        assert dup["code"] == "ALREADY_EXISTS"

    async def test_admin_without_provision_cannot_create(self, server: RunningServer) -> None:
        """A plain admin may not create tenants; a system key with ``operator.provision`` may, a
        tenant-bound one may not (which tenants exist is gateway-wide)."""
        scopes = ["operator.admin", "operator.provision"]
        system = await create_key(server, scopes, tenant_id="")
        bound = await create_key(server, scopes)
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            error = await _err(ws, "tenants.create", {"name": "X", "slug": "x"})
        async with ws_connect(server, token=bound["key"], user_id="p") as ws:
            bound_error = await _err(ws, "tenants.create", {"name": "Z", "slug": "z"})
        async with ws_connect(server, token=system["key"], user_id="p") as ws:
            created = await ws.ok("tenants.create", {"name": "Y", "slug": "y"})
        assert error["code"] == bound_error["code"] == "UNAUTHORIZED"
        assert bound_error["message"] == "tenants.create requires owner role"
        assert created["slug"] == "y"

    async def test_member_sees_own_memberships(self, server: RunningServer) -> None:
        """With the gateway token, ``tenants.mine`` lists a user's memberships with their role;
        other tenants are hidden."""
        await create_tenant(server, "team-a")
        await create_tenant(server, "team-b")
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("tenants.users.add", {"tenant_id": "team-a", "user_id": "meg", "role": "operator"})
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="meg") as ws:
            mine = await ws.ok("tenants.mine")
            hidden = await _err(ws, "tenants.get", {"id": "team-b"})
            visible = await ws.ok("tenants.get", {"id": "team-a"})
            denied = await _err(ws, "tenants.update", {"id": "team-a", "name": "Mine"})
        assert [(t["slug"], t["role"]) for t in mine["tenants"]] == [
            ("master", "admin"),
            ("team-a", "operator"),
        ]
        assert hidden["code"] == "NOT_FOUND"
        assert visible["slug"] == "team-a"
        assert denied["code"] == "NOT_FOUND"

    async def test_tenant_bound_key_claiming_a_member_sees_only_its_tenant(
        self, server: RunningServer
    ) -> None:
        """A key bound to tenant B, connecting with the user id of a member of A and A's tenant id,
        gets nothing of A from ``tenants.list|get|mine|users.list`` (issue 7, item 3)."""
        a = await create_tenant(server, "team-a")
        b = await create_tenant(server, "team-b")
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("tenants.users.add", {"tenant_id": "team-a", "user_id": "meg", "role": "admin"})
        key = await create_key(server, ["operator.admin"], tenant_id=b["id"])
        async with ws_connect(server, token=key["key"], user_id="meg", tenant_id=a["id"]) as ws:
            listed = await ws.ok("tenants.list")
            mine = await ws.ok("tenants.mine")
            got = await _err(ws, "tenants.get", {"id": a["id"]})
            users = await _err(ws, "tenants.users.list", {"tenant_id": "team-a"})
        assert [t["slug"] for t in listed["tenants"]] == ["team-b"]
        assert [(t["slug"], t["role"]) for t in mine["tenants"]] == [("team-b", "admin")]
        assert mine["current"] == b["id"]
        assert got["code"] == users["code"] == "NOT_FOUND"
