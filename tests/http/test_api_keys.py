"""``/v1/api-keys`` end to end: show-once keys stored as hashes, masking, revoke, expiry, scopes
as roles, and owner/tenant bindings."""

from __future__ import annotations

import hashlib
from typing import Any

from clawgate.store.tenants import MASTER_TENANT_ID
from tests.http.helpers import as_owner, assert_error, db, mint_key, with_key
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, add_stub_provider, ws_connect


class TestCreateAndList:
    async def test_raw_key_is_shown_once_and_stored_only_as_sha256(self, server: RunningServer) -> None:
        """Create returns the raw key; the api_keys row holds its SHA-256 and no column holds the raw key."""
        created = await mint_key(server, "operator.read", name="ci")
        raw = created["key"]
        assert raw.startswith("clawgate_")
        assert len(raw) == len("clawgate_") + 32
        assert created["prefix"] == raw.removeprefix("clawgate_")[:8]
        async with db(server) as conn:
            row = await conn.fetchrow("SELECT * FROM api_keys WHERE id = $1", created["id"])
        assert row is not None
        assert row["key_hash"] == hashlib.sha256(raw.encode()).hexdigest()
        secret_part = raw.removeprefix("clawgate_")
        for column, value in row.items():
            assert secret_part not in str(value), f"column {column} holds the raw key"

    async def test_null_tenant_is_unset(self, server: RunningServer) -> None:
        """GoClaw's clients send every field, ``null`` as unset: ``tenant_id: null`` binds the key to
        the creator's tenant; ``""`` makes a system key (``tenant_id`` null in the answer)."""
        bound = await mint_key(server, "operator.read", tenant_id=None)
        assert bound["tenant_id"] == str(MASTER_TENANT_ID)
        system = await mint_key(server, "operator.read", tenant_id="")
        assert system["tenant_id"] is None

    async def test_tenant_is_named_by_id_or_by_slug_in_any_case(self, server: RunningServer) -> None:
        """``tenant_id`` names the tenant as everywhere else: its id, or its slug in any case."""
        by_id = await mint_key(server, "operator.read", tenant_id=str(MASTER_TENANT_ID))
        by_slug = await mint_key(server, "operator.read", tenant_id="Master")
        assert by_id["tenant_id"] == by_slug["tenant_id"] == str(MASTER_TENANT_ID)

    async def test_list_is_masked(self, server: RunningServer) -> None:
        """The list shows name, prefix and scopes but never a ``key`` field or the raw key."""
        created = await mint_key(server, "operator.write", name="deploy")
        async with as_owner(server) as http:
            res = await http.get("/v1/api-keys")
        assert res.status_code == 200
        (item,) = res.json()  # a bare array, as GoClaw answers
        assert "key" not in item
        assert created["key"] not in res.text
        assert item["name"] == "deploy"
        assert item["prefix"] == created["prefix"]
        assert item["scopes"] == ["operator.write"]
        assert item["revoked"] is False

    async def test_unknown_scope_is_invalid_request(self, server: RunningServer) -> None:
        """A scope outside GoClaw's list answers 400."""
        async with as_owner(server) as http:
            res = await http.post("/v1/api-keys", json={"name": "x", "scopes": ["operator.everything"]})
        assert_error(res, 400, "INVALID_REQUEST")

    async def test_missing_name_is_invalid_request_naming_it(self, server: RunningServer) -> None:
        """A body without ``name`` answers 400 with details.field ``$.name``."""
        async with as_owner(server) as http:
            res = await http.post("/v1/api-keys", json={"scopes": ["operator.read"]})
        assert assert_error(res, 400, "INVALID_REQUEST")["details"]["field"] == "$.name"


class TestRevokeAndExpiry:
    async def test_revoked_key_is_refused_at_once(self, server: RunningServer) -> None:
        """A key that worked a moment ago answers 401 immediately after revoke (no cache delay)."""
        created = await mint_key(server, "operator.read")
        async with with_key(server, created["key"]) as http:
            before = await http.get("/v1/agents")
            async with as_owner(server) as owner:
                revoked = await owner.post(f"/v1/api-keys/{created['id']}/revoke")
                listed = await owner.get("/v1/api-keys")
            after = await http.get("/v1/agents")
        assert before.status_code == 200
        assert revoked.status_code == 200
        assert revoked.json() == {"status": "revoked"}
        assert listed.json()[0]["revoked"] is True
        err = assert_error(after, 401, "UNAUTHORIZED")
        assert "revoked" in err["message"]

    async def test_revoking_an_unknown_key_is_not_found(self, server: RunningServer) -> None:
        """Revoking a key id that does not exist answers 404."""
        async with as_owner(server) as http:
            res = await http.post("/v1/api-keys/00000000-0000-0000-0000-000000000000/revoke")
            bad = await http.post("/v1/api-keys/not-a-uuid/revoke")
        assert_error(res, 404, "NOT_FOUND")
        assert_error(bad, 404, "NOT_FOUND")

    async def test_expired_key_is_refused(self, server: RunningServer) -> None:
        """A key whose expires_at has passed answers 401 'expired'; a live one still works."""
        created = await mint_key(server, "operator.read", expires_in=3600)
        live = await mint_key(server, "operator.read", expires_in=3600)
        async with db(server) as conn:
            await conn.execute(
                "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1", created["id"]
            )
        async with with_key(server, created["key"]) as http:
            expired = await http.get("/v1/agents")
        async with with_key(server, live["key"]) as http:
            ok = await http.get("/v1/agents")
        assert "expired" in assert_error(expired, 401, "UNAUTHORIZED")["message"]
        assert ok.status_code == 200

    async def test_unknown_key_is_unauthorized(self, server: RunningServer) -> None:
        """A well-formed key that was never issued answers 401."""
        async with with_key(server, "clawgate_" + "0" * 32) as http:
            res = await http.get("/v1/agents")
        assert_error(res, 401, "UNAUTHORIZED")


class TestScopes:
    async def test_read_scope_is_viewer(self, server: RunningServer) -> None:
        """operator.read may GET but not POST agents (403)."""
        key = (await mint_key(server, "operator.read"))["key"]
        async with with_key(server, key) as http:
            assert (await http.get("/v1/agents")).status_code == 200
            assert_error(await http.post("/v1/agents", json={"agent_key": "a"}), 403, "UNAUTHORIZED")

    async def test_write_scope_is_operator(self, server: RunningServer) -> None:
        """operator.write reaches operator routes (providers list) but not admin ones (create agent)."""
        key = (await mint_key(server, "operator.write"))["key"]
        async with with_key(server, key) as http:
            providers = await http.get("/v1/providers")
            agent = await http.post("/v1/agents", json={"agent_key": "a"})
        assert providers.status_code == 200
        assert_error(agent, 403, "UNAUTHORIZED")

    async def test_admin_scope_is_admin(self, server: RunningServer) -> None:
        """operator.admin may create agents and list keys."""
        key = (await mint_key(server, "operator.admin"))["key"]
        await add_stub_provider(server)
        async with with_key(server, key) as http:
            agent = await http.post("/v1/agents", json={"agent_key": "a", **RUNNABLE})
            keys = await http.get("/v1/api-keys")
        assert agent.status_code == 201
        assert keys.status_code == 200


class TestBindings:
    async def test_owner_binding_forces_the_user(self, server: RunningServer) -> None:
        """A key bound to owner_id acts as that user whatever X-GoClaw-User-Id claims."""
        key = (await mint_key(server, "operator.admin", owner_id="bound-user"))["key"]
        await add_stub_provider(server)
        async with with_key(server, key, **{"X-GoClaw-User-Id": "someone-else"}) as http:
            res = await http.post("/v1/agents", json={"agent_key": "mine", **RUNNABLE})
        assert res.status_code == 201
        assert res.json()["owner_id"] == "bound-user"

    async def test_tenant_bound_key_forces_its_tenant(self, server: RunningServer) -> None:
        """A key bound to tenant B acts in B even when X-GoClaw-Tenant-Id names master."""
        async with as_owner(server) as http:
            tenant = (await http.post("/v1/tenants", json={"name": "Beta", "slug": "beta"})).json()
        key = (await mint_key(server, "operator.admin", tenant_id=tenant["id"]))["key"]
        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": "beta"})
        async with with_key(server, key, **{"X-GoClaw-Tenant-Id": "master"}) as http:
            created = await http.post("/v1/agents", json={"agent_key": "in-beta", **RUNNABLE})
        assert created.status_code == 201
        assert created.json()["tenant_id"] == tenant["id"]
        async with as_owner(server) as http:
            master_agents = await http.get("/v1/agents")
            beta_agents = await http.get("/v1/agents", headers={"X-GoClaw-Tenant-Id": "beta"})
        assert master_agents.json()["agents"] == []
        assert [a["agent_key"] for a in beta_agents.json()["agents"]] == ["in-beta"]


class TestMintingCeiling:
    """A key never grants scopes its creator lacks; only the owner or a system key binds a key to
    another tenant (issue 7, item 1)."""

    async def _tenants(self, server: RunningServer) -> tuple[dict[str, Any], dict[str, Any]]:
        async with as_owner(server) as http:
            a = (await http.post("/v1/tenants", json={"name": "Alpha", "slug": "alpha"})).json()
            b = (await http.post("/v1/tenants", json={"name": "Beta", "slug": "beta"})).json()
            put = await http.put(
                "/v1/system-configs/a.secret",
                json={"value": "A-SECRET"},
                headers={"X-GoClaw-Tenant-Id": "alpha"},
            )
        assert put.status_code == 200, put.text
        return a, b

    async def test_tenant_admin_cannot_take_over_another_tenant(self, server: RunningServer) -> None:
        """The issue's chain, followed as far as it goes: B's admin key mints an admin+provision key,
        that key mints an admin key bound to A, that key reads A's system config. Every step is
        refused, and a provision key of B (made by the owner) may not bind a key to A either."""
        a, b = await self._tenants(server)
        b_admin = (await mint_key(server, "operator.admin", tenant_id=b["id"]))["key"]
        b_provision = (await mint_key(server, "operator.admin", "operator.provision", tenant_id=b["id"]))[
            "key"
        ]
        into_a = {"name": "into-a", "scopes": ["operator.admin"], "tenant_id": a["id"]}
        async with with_key(server, b_admin) as http:
            mint = await http.post(
                "/v1/api-keys", json={"name": "mint", "scopes": ["operator.admin", "operator.provision"]}
            )
            direct = await http.post("/v1/api-keys", json=into_a)
        async with with_key(server, mint.json().get("key", b_admin)) as http:
            chained = await http.post("/v1/api-keys", json=into_a)
        async with with_key(server, b_provision) as http:
            provisioned = await http.post("/v1/api-keys", json=into_a)
        leaked = []
        for res in (direct, chained, provisioned):
            if res.status_code == 201:
                async with with_key(server, res.json()["key"]) as http:
                    leaked.append((await http.get("/v1/system-configs/a.secret")).text)
        assert not any("A-SECRET" in text for text in leaked), leaked
        err = assert_error(mint, 403, "UNAUTHORIZED")
        assert "operator.provision" in err["message"]
        for res in (direct, chained, provisioned):
            assert_error(res, 403, "UNAUTHORIZED")
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": "alpha"}) as http:
            keys = (await http.get("/v1/api-keys")).json()
        assert keys == []

    async def test_keys_within_the_creators_scopes_are_minted(self, server: RunningServer) -> None:
        """A key may grant what it holds (a provision key a provision key, for its own tenant); the
        gateway token without an owner id holds the admin scopes but not ``operator.provision``."""
        _, b = await self._tenants(server)
        b_provision = (await mint_key(server, "operator.admin", "operator.provision", tenant_id=b["id"]))[
            "key"
        ]
        async with with_key(server, b_provision) as http:
            same = await http.post(
                "/v1/api-keys", json={"name": "same", "scopes": ["operator.provision", "operator.read"]}
            )
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "alice"}) as http:
            admin = await http.post("/v1/api-keys", json={"name": "adm", "scopes": ["operator.admin"]})
            provision = await http.post("/v1/api-keys", json={"name": "p", "scopes": ["operator.provision"]})
        assert same.status_code == 201, same.text
        assert same.json()["tenant_id"] == b["id"]
        assert admin.status_code == 201, admin.text
        assert_error(provision, 403, "UNAUTHORIZED")

    async def test_owner_and_system_key_bind_keys_to_other_tenants(self, server: RunningServer) -> None:
        """The owner and a system admin key may bind a key to any tenant (within their scopes)."""
        a, _ = await self._tenants(server)
        system = (await mint_key(server, "operator.admin", tenant_id=""))["key"]
        async with with_key(server, system) as http:
            bound = await http.post(
                "/v1/api-keys", json={"name": "a-key", "scopes": ["operator.read"], "tenant_id": "alpha"}
            )
            wider = await http.post("/v1/api-keys", json={"name": "p", "scopes": ["operator.provision"]})
        owner_bound = await mint_key(server, "operator.provision", tenant_id=a["id"])
        assert bound.status_code == 201, bound.text
        assert bound.json()["tenant_id"] == a["id"]
        assert_error(wider, 403, "UNAUTHORIZED")
        assert owner_bound["tenant_id"] == a["id"]

    async def test_same_rules_over_websocket(self, server: RunningServer) -> None:
        """WS ``api_keys.create`` shares the rule: B's admin key mints neither provision nor into A."""
        a, b = await self._tenants(server)
        b_admin = (await mint_key(server, "operator.admin", tenant_id=b["id"]))["key"]
        async with ws_connect(server, token=b_admin) as ws:
            mint = await ws.call(
                "api_keys.create", {"name": "mint", "scopes": ["operator.admin", "operator.provision"]}
            )
            into_a = await ws.call(
                "api_keys.create", {"name": "x", "scopes": ["operator.read"], "tenant_id": a["id"]}
            )
            own = await ws.call("api_keys.create", {"name": "own", "scopes": ["operator.read"]})
        assert mint["ok"] is False
        assert mint["error"]["code"] == "UNAUTHORIZED"
        assert into_a["ok"] is False
        assert into_a["error"]["code"] == "UNAUTHORIZED"
        assert own["ok"] is True, own
        assert own["payload"]["tenant_id"] == b["id"]
