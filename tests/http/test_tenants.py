"""Tenancy end to end: ``/v1/tenants`` and its users, choosing a tenant with
``X-GoClaw-Tenant-Id``, and isolation between tenants."""

from __future__ import annotations

from typing import Any

from tests.http.helpers import as_owner, assert_error, mint_key, with_key
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, add_stub_provider


async def _tenant(server: RunningServer, slug: str) -> dict[str, Any]:
    async with as_owner(server) as http:
        res = await http.post("/v1/tenants", json={"name": slug.title(), "slug": slug})
    assert res.status_code == 201, res.text
    data: dict[str, Any] = res.json()
    return data


def _as_user(server: RunningServer, user: str, tenant: str) -> Any:
    return server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": user, "X-GoClaw-Tenant-Id": tenant})


class TestTenantCrud:
    async def test_owner_creates_lists_and_gets_by_id_and_slug(self, server: RunningServer) -> None:
        """The owner creates a tenant, sees it listed beside master, and reads it by UUID and slug."""
        beta = await _tenant(server, "beta")
        async with as_owner(server) as http:
            listed = await http.get("/v1/tenants")
            by_id = await http.get(f"/v1/tenants/{beta['id']}")
            by_slug = await http.get("/v1/tenants/beta")
        assert beta["slug"] == "beta"
        assert beta["status"] == "active"
        assert {t["slug"] for t in listed.json()["tenants"]} == {"master", "beta"}
        assert by_id.json()["id"] == by_slug.json()["id"] == beta["id"]

    async def test_patch_changes_name_and_status(self, server: RunningServer) -> None:
        """PATCH updates the given fields."""
        await _tenant(server, "beta")
        async with as_owner(server) as http:
            res = await http.patch("/v1/tenants/beta", json={"name": "Beta Corp", "status": "suspended"})
        assert res.status_code == 200
        assert res.json()["name"] == "Beta Corp"
        assert res.json()["status"] == "suspended"

    async def test_duplicate_slug_is_already_exists(self, server: RunningServer) -> None:
        """A second tenant with a taken slug answers 409."""
        await _tenant(server, "beta")
        async with as_owner(server) as http:
            res = await http.post("/v1/tenants", json={"name": "Again", "slug": "beta"})
        assert_error(res, 409, "ALREADY_EXISTS")

    async def test_bad_slug_is_invalid_request(self, server: RunningServer) -> None:
        """A slug with capitals or spaces answers 400 naming slug."""
        async with as_owner(server) as http:
            res = await http.post("/v1/tenants", json={"name": "x", "slug": "Not A Slug"})
        assert assert_error(res, 400, "INVALID_REQUEST")["details"]["field"] == "$.slug"

    async def test_admin_who_is_not_owner_cannot_create(self, server: RunningServer) -> None:
        """The gateway token without an owner user id is admin, and creating tenants needs owner."""
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "alice"}) as http:
            res = await http.post("/v1/tenants", json={"name": "x", "slug": "x"})
        assert_error(res, 403, "UNAUTHORIZED")

    async def test_unknown_tenant_is_not_found(self, server: RunningServer) -> None:
        """GET of an unknown tenant answers 404."""
        async with as_owner(server) as http:
            res = await http.get("/v1/tenants/nope")
        assert_error(res, 404, "NOT_FOUND")


class TestTenantUsers:
    async def test_users_are_added_listed_and_removed(self, server: RunningServer) -> None:
        """Users added to a tenant are listed with their role and can be removed."""
        await _tenant(server, "beta")
        async with as_owner(server) as http:
            added = await http.post("/v1/tenants/beta/users", json={"user_id": "bob", "role": "viewer"})
            listed = await http.get("/v1/tenants/beta/users")
            removed = await http.delete("/v1/tenants/beta/users/bob")
            after = await http.get("/v1/tenants/beta/users")
            again = await http.delete("/v1/tenants/beta/users/bob")
        assert added.status_code == 201
        assert added.json()["role"] == "viewer"
        assert [(u["user_id"], u["role"]) for u in listed.json()["users"]] == [("bob", "viewer")]
        assert removed.json() == {"ok": True}
        assert after.json()["users"] == []
        assert_error(again, 404, "NOT_FOUND")

    async def test_tenant_header_accepts_uuid_or_slug(self, server: RunningServer) -> None:
        """X-GoClaw-Tenant-Id names the same tenant by UUID or by slug."""
        beta = await _tenant(server, "beta")
        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": "beta"})
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": beta["id"]}) as http:
            created = await http.post("/v1/agents", json={"agent_key": "by-uuid", **RUNNABLE})
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": "beta"}) as http:
            listed = await http.get("/v1/agents")
        assert created.json()["tenant_id"] == beta["id"]
        assert [a["agent_key"] for a in listed.json()["agents"]] == ["by-uuid"]

    async def test_member_may_act_in_the_tenant_and_non_member_may_not(self, server: RunningServer) -> None:
        """With the gateway token, a member acts in the tenant named by slug; a non-member gets 403
        TENANT_ACCESS_REVOKED and no data."""
        await _tenant(server, "beta")
        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": "beta"})
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": "beta"}) as http:
            await http.post("/v1/agents", json={"agent_key": "beta-agent", **RUNNABLE})
            await http.post("/v1/tenants/beta/users", json={"user_id": "bob"})
        async with _as_user(server, "bob", "beta") as http:
            member = await http.get("/v1/agents")
        async with _as_user(server, "mallory", "beta") as http:
            outsider = await http.get("/v1/agents")
        assert [a["agent_key"] for a in member.json()["agents"]] == ["beta-agent"]
        err = assert_error(outsider, 403, "TENANT_ACCESS_REVOKED")
        assert "beta" in err["message"]
        assert "beta-agent" not in outsider.text

    async def test_unknown_tenant_is_called_unknown_and_a_long_one_is_not_echoed_whole(
        self, server: RunningServer
    ) -> None:
        """A tenant that does not exist is "unknown", not "revoked"; a 10 KB X-GoClaw-Tenant-Id is
        not sent back whole."""
        async with _as_user(server, "bob", "no-such-tenant") as http:
            unknown = await http.get("/v1/agents")
        async with _as_user(server, "bob", "t" * 10240) as http:
            long = await http.get("/v1/agents")
        err = assert_error(unknown, 403, "TENANT_ACCESS_REVOKED")
        assert err["message"] == "unknown tenant no-such-tenant"
        assert assert_error(long, 403, "TENANT_ACCESS_REVOKED")["message"].startswith("unknown tenant ttt")
        assert len(long.content) < 1024

    async def test_removed_member_loses_access(self, server: RunningServer) -> None:
        """After removal from the tenant, the same user is refused."""
        await _tenant(server, "beta")
        async with as_owner(server) as http:
            await http.post("/v1/tenants/beta/users", json={"user_id": "bob"})
        async with _as_user(server, "bob", "beta") as http:
            assert (await http.get("/v1/agents")).status_code == 200
            async with as_owner(server) as owner:
                await owner.delete("/v1/tenants/beta/users/bob")
            assert_error(await http.get("/v1/agents"), 403, "TENANT_ACCESS_REVOKED")


class TestIsolation:
    async def test_key_of_tenant_a_cannot_read_tenant_b_agent_by_uuid(self, server: RunningServer) -> None:
        """A tenant-A key asking for a tenant-B agent by UUID gets 404 and never the agent's data."""
        a = await _tenant(server, "alpha")
        await _tenant(server, "beta")
        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": "beta"})
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": "beta"}) as http:
            secret = (
                await http.post(
                    "/v1/agents",
                    json={"agent_key": "b-secret", "agent_description": "TOP-SECRET", **RUNNABLE},
                )
            ).json()
        key = (await mint_key(server, "operator.admin", tenant_id=a["id"]))["key"]
        async with with_key(server, key) as http:
            read = await http.get(f"/v1/agents/{secret['id']}")
            by_key = await http.get("/v1/agents/b-secret")
            update = await http.put(f"/v1/agents/{secret['id']}", json={"model": "stolen"})
            delete = await http.delete(f"/v1/agents/{secret['id']}")
        for res in (read, by_key, update, delete):
            assert_error(res, 404, "NOT_FOUND")
            assert "TOP-SECRET" not in res.text
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": "beta"}) as http:
            intact = await http.get(f"/v1/agents/{secret['id']}")
        assert intact.json()["model"] == "stub-model"

    async def test_key_of_tenant_a_cannot_touch_tenant_b_providers_or_keys(
        self, server: RunningServer
    ) -> None:
        """Tenant B's provider and API key, named by UUID from tenant A, are 404 and stay intact."""
        a = await _tenant(server, "alpha")
        b = await _tenant(server, "beta")
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": "beta"}) as http:
            provider = (
                await http.post("/v1/providers", json={"name": "b-prov", "api_key": "sk-b-000000000000"})
            ).json()
        b_key = await mint_key(server, "operator.read", tenant_id=b["id"])
        a_key = (await mint_key(server, "operator.admin", tenant_id=a["id"]))["key"]
        async with with_key(server, a_key) as http:
            read = await http.get(f"/v1/providers/{provider['id']}")
            models = await http.get(f"/v1/providers/{provider['id']}/models")
            deleted = await http.delete(f"/v1/providers/{provider['id']}")
            revoked = await http.post(f"/v1/api-keys/{b_key['id']}/revoke")
            tenant = await http.get(f"/v1/tenants/{b['id']}")
        for res in (read, models, deleted, revoked, tenant):
            assert_error(res, 404, "NOT_FOUND")
        async with with_key(server, b_key["key"]) as http:
            assert (await http.get("/v1/agents")).status_code == 200
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": "beta"}) as http:
            assert (await http.get("/v1/providers/b-prov")).status_code == 200

    async def test_lists_show_only_the_callers_tenant(self, server: RunningServer) -> None:
        """Agents, providers, configs and keys listed by a tenant key are that tenant's only."""
        a = await _tenant(server, "alpha")
        for tenant in ("alpha", "beta"):
            async with as_owner(server, **{"X-GoClaw-Tenant-Id": tenant}) as http:
                await http.post("/v1/providers", json={"name": f"{tenant}-prov"})
                await http.post("/v1/agents", json={"agent_key": f"{tenant}-agent", "provider": f"{tenant}-prov",
                                                    "model": "m"})  # fmt: skip
                await http.put(f"/v1/system-configs/{tenant}.setting", json={"value": tenant})
        key = (await mint_key(server, "operator.admin", tenant_id=a["id"], name="alpha-key"))["key"]
        async with with_key(server, key) as http:
            agents = (await http.get("/v1/agents")).json()["agents"]
            providers = (await http.get("/v1/providers")).json()["providers"]
            configs = (await http.get("/v1/system-configs")).json()["configs"]
            keys = (await http.get("/v1/api-keys")).json()
            tenants = (await http.get("/v1/tenants")).json()["tenants"]
        assert [x["agent_key"] for x in agents] == ["alpha-agent"]
        assert [x["name"] for x in providers] == ["alpha-prov"]
        assert [x["key"] for x in configs] == ["alpha.setting"]
        assert [x["name"] for x in keys] == ["alpha-key"]
        assert [x["slug"] for x in tenants] == ["alpha"]

    async def test_claimed_member_id_does_not_reveal_another_tenant(self, server: RunningServer) -> None:
        """B's admin key claiming the user id of a member of A sees nothing of A: a tenant-bound key
        acts inside its tenant whatever user id it claims (issue 7, item 3). The gateway token,
        trusted to assert a user id, still sees that user's memberships."""
        a = await _tenant(server, "alpha")
        b = await _tenant(server, "beta")
        async with as_owner(server) as http:
            await http.post("/v1/tenants/alpha/users", json={"user_id": "alice", "display_name": "Alice A"})
        key = (await mint_key(server, "operator.admin", tenant_id=b["id"]))["key"]
        async with with_key(
            server, key, **{"X-GoClaw-User-Id": "alice", "X-GoClaw-Tenant-Id": a["id"]}
        ) as http:
            listed = await http.get("/v1/tenants")
            by_id = await http.get(f"/v1/tenants/{a['id']}")
            by_slug = await http.get("/v1/tenants/alpha")
            users = await http.get(f"/v1/tenants/{a['id']}/users")
        assert [t["slug"] for t in listed.json()["tenants"]] == ["beta"]
        for res in (by_id, by_slug, users):
            assert_error(res, 404, "NOT_FOUND")
        for res in (listed, by_id, by_slug, users):
            assert a["id"] not in res.text.replace(f"tenant not found: {a['id']}", "")
            assert "Alice A" not in res.text
        async with _as_user(server, "alice", "alpha") as http:
            member = await http.get(f"/v1/tenants/{a['id']}/users")
        assert [u["user_id"] for u in member.json()["users"]] == ["alice"]

    async def test_key_of_a_suspended_tenant_is_refused(self, server: RunningServer) -> None:
        """Suspending a tenant refuses its keys at once with TENANT_ACCESS_REVOKED."""
        a = await _tenant(server, "alpha")
        key = (await mint_key(server, "operator.read", tenant_id=a["id"]))["key"]
        async with with_key(server, key) as http:
            assert (await http.get("/v1/agents")).status_code == 200
            async with as_owner(server) as owner:
                await owner.patch("/v1/tenants/alpha", json={"status": "suspended"})
            assert_error(await http.get("/v1/agents"), 403, "TENANT_ACCESS_REVOKED")

    async def test_owner_naming_an_unknown_tenant_is_not_found(self, server: RunningServer) -> None:
        """An owner whose X-GoClaw-Tenant-Id names no tenant gets 404, not the master tenant."""
        async with as_owner(server, **{"X-GoClaw-Tenant-Id": "ghost"}) as http:
            res = await http.get("/v1/agents")
        assert_error(res, 404, "NOT_FOUND")


class TestGatewayWideTenantState:
    """Which tenants exist and which are suspended belongs to the gateway's owner, not to a
    tenant-bound key, whatever scopes the key holds."""

    async def test_tenant_bound_provision_key_cannot_create_tenants(self, server: RunningServer) -> None:
        """B's admin key holding ``operator.provision`` is refused tenant creation (it could never
        see the tenant it made); a system key with the same scopes may create one."""
        b = await _tenant(server, "beta")
        bound = await mint_key(server, "operator.admin", "operator.provision", tenant_id=b["id"])
        system = await mint_key(server, "operator.admin", "operator.provision", tenant_id="")
        async with with_key(server, bound["key"]) as http:
            refused = await http.post("/v1/tenants", json={"name": "Made by B", "slug": "made-by-b"})
        async with with_key(server, system["key"]) as http:
            made = await http.post("/v1/tenants", json={"name": "Made by system", "slug": "made-by-sys"})
        assert "tenants.create requires owner role" in assert_error(refused, 403, "UNAUTHORIZED")["message"]
        assert made.status_code == 201, made.text
        async with as_owner(server) as http:
            slugs = {t["slug"] for t in (await http.get("/v1/tenants")).json()["tenants"]}
        assert "made-by-b" not in slugs
        assert "made-by-sys" in slugs

    async def test_tenant_admin_renames_but_cannot_change_status(self, server: RunningServer) -> None:
        """A tenant's admin key may rename its tenant, and resending the current status is
        harmless; suspending it (a gateway-wide decision) is 403 and leaves it active."""
        a = await _tenant(server, "alpha")
        key = (await mint_key(server, "operator.admin", tenant_id=a["id"]))["key"]
        async with with_key(server, key) as http:
            renamed = await http.patch("/v1/tenants/alpha", json={"name": "Alpha Corp", "status": "active"})
            suspended = await http.patch("/v1/tenants/alpha", json={"status": "suspended"})
            still = await http.get("/v1/agents")
        assert renamed.status_code == 200, renamed.text
        assert renamed.json()["name"] == "Alpha Corp"
        assert_error(suspended, 403, "UNAUTHORIZED")
        assert still.status_code == 200
        async with as_owner(server) as http:
            assert (await http.get("/v1/tenants/alpha")).json()["status"] == "active"
