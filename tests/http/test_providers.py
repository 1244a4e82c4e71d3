"""``/v1/providers`` end to end: CRUD with the API key encrypted at rest and shown masked, and
model listing / verification against loopback stand-ins of the real upstream APIs."""

from __future__ import annotations

from typing import Any

from clawgate.crypto import SecretBox, parse_key
from tests.http.helpers import as_owner, assert_error, db, mint_key, with_key
from tests.support import TEST_KEY, RunningServer
from tests.upstream import Reply, stand_in, unreachable_url

SECRET = "sk-test-abcdef123456"


async def _provider(server: RunningServer, **body: Any) -> dict[str, Any]:
    payload = {"name": "openai", "api_key": SECRET, **body}
    async with as_owner(server) as http:
        res = await http.post("/v1/providers", json=payload)
    assert res.status_code == 201, res.text
    data: dict[str, Any] = res.json()
    return data


class TestProviderCrud:
    async def test_create_masks_the_key_and_carries_both_type_fields(self, server: RunningServer) -> None:
        """POST answers the provider with ``api_key`` masked and both ``type`` and ``provider_type``."""
        created = await _provider(server, display_name="OpenAI", api_base="https://api.example.com/v1")
        assert created["api_key"] == "***3456"
        assert created["has_api_key"] is True
        assert created["type"] == created["provider_type"] == "openai_compat"
        assert created["display_name"] == "OpenAI"

    async def test_api_key_is_encrypted_at_rest(self, server: RunningServer) -> None:
        """The llm_providers row holds ``aes-gcm:...`` that decrypts to the key, never the key itself."""
        created = await _provider(server)
        async with db(server) as conn:
            stored = await conn.fetchval("SELECT api_key FROM llm_providers WHERE id = $1", created["id"])
        assert stored.startswith("aes-gcm:")
        assert SECRET not in stored
        assert SecretBox(parse_key(TEST_KEY)).decrypt(stored) == SECRET

    async def test_key_is_never_returned_in_list_get_or_update(self, server: RunningServer) -> None:
        """List, get by id and name, and update never contain the raw key."""
        created = await _provider(server)
        async with as_owner(server) as http:
            responses = [
                await http.get("/v1/providers"),
                await http.get(f"/v1/providers/{created['id']}"),
                await http.get("/v1/providers/openai"),
                await http.put("/v1/providers/openai", json={"display_name": "Renamed"}),
            ]
        for res in responses:
            assert res.status_code == 200, res.text
            assert SECRET not in res.text
        items = responses[0].json()["providers"]
        assert [(p["name"], p["type"], p["provider_type"]) for p in items] == [
            ("openai", "openai_compat", "openai_compat")
        ]
        assert responses[3].json()["display_name"] == "Renamed"

    async def test_masked_key_on_update_keeps_the_stored_key(self, server: RunningServer) -> None:
        """Sending the masked value back keeps the key; a new value replaces it (encrypted)."""
        created = await _provider(server)
        box = SecretBox(parse_key(TEST_KEY))
        async with as_owner(server) as http:
            await http.patch("/v1/providers/openai", json={"api_key": created["api_key"], "enabled": False})
            async with db(server) as conn:
                kept = await conn.fetchval("SELECT api_key FROM llm_providers WHERE id = $1", created["id"])
            replaced = await http.patch("/v1/providers/openai", json={"api_key": "sk-new-key-0000009999"})
            async with db(server) as conn:
                new = await conn.fetchval("SELECT api_key FROM llm_providers WHERE id = $1", created["id"])
        assert box.decrypt(kept) == SECRET
        assert replaced.json()["api_key"] == "***9999"
        assert replaced.json()["enabled"] is False
        assert new.startswith("aes-gcm:")
        assert box.decrypt(new) == "sk-new-key-0000009999"

    async def test_delete_removes_the_provider(self, server: RunningServer) -> None:
        """DELETE answers ok and the provider is gone."""
        await _provider(server)
        async with as_owner(server) as http:
            deleted = await http.delete("/v1/providers/openai")
            gone = await http.get("/v1/providers/openai")
        assert deleted.json() == {"ok": True}
        assert_error(gone, 404, "NOT_FOUND")

    async def test_invalid_values_are_refused(self, server: RunningServer) -> None:
        """Unknown provider_type, a non-http api_base, a bad name and a duplicate name are refused."""
        await _provider(server)
        async with as_owner(server) as http:
            kind = await http.post("/v1/providers", json={"name": "x", "provider_type": "telepathy"})
            base = await http.post("/v1/providers", json={"name": "y", "api_base": "ftp://host"})
            name = await http.post("/v1/providers", json={"name": "has space"})
            dup = await http.post("/v1/providers", json={"name": "openai"})
        assert_error(kind, 400, "INVALID_REQUEST")
        assert_error(base, 400, "INVALID_REQUEST")
        assert assert_error(name, 400, "INVALID_REQUEST")["details"]["field"] == "$.name"
        assert_error(dup, 409, "ALREADY_EXISTS")

    async def test_viewer_cannot_list_providers(self, server: RunningServer) -> None:
        """Providers need operator: a viewer key gets 403."""
        key = (await mint_key(server, "operator.read"))["key"]
        async with with_key(server, key) as http:
            assert_error(await http.get("/v1/providers"), 403, "UNAUTHORIZED")


class TestUpstreamCalls:
    async def test_models_are_listed_from_the_openai_upstream(self, server: RunningServer) -> None:
        """GET /models calls the upstream with the decrypted key and returns its models."""
        async with stand_in("openai", api_key=SECRET, models=["gpt-a", "gpt-b"]) as up:
            provider = await _provider(server, api_base=up.base_url)
            async with as_owner(server) as http:
                res = await http.get(f"/v1/providers/{provider['id']}/models")
        assert res.status_code == 200, res.text
        assert [m["id"] for m in res.json()["models"]] == ["gpt-a", "gpt-b"]
        assert res.json()["data"] == res.json()["models"]
        assert up.last_headers["authorization"] == f"Bearer {SECRET}"

    async def test_models_are_listed_from_the_anthropic_upstream(self, server: RunningServer) -> None:
        """An anthropic_native provider lists models with x-api-key and anthropic-version."""
        async with stand_in("anthropic", api_key=SECRET, models=["claude-x"]) as up:
            await _provider(server, name="claude", provider_type="anthropic_native", api_base=up.base_url)
            async with as_owner(server) as http:
                res = await http.get("/v1/providers/claude/models")
        assert res.status_code == 200, res.text
        assert [m["id"] for m in res.json()["models"]] == ["claude-x"]
        assert up.last_headers["x-api-key"] == SECRET
        assert up.last_headers["anthropic-version"]

    async def test_verify_ping_and_model_succeed(self, server: RunningServer) -> None:
        """verify without a model pings the model list; with a model it sends a one-token chat."""
        async with stand_in("openai", api_key=SECRET) as up:
            await _provider(server, api_base=up.base_url)
            async with as_owner(server) as http:
                ping = await http.post("/v1/providers/openai/verify")
                model = await http.post("/v1/providers/openai/verify", json={"model": "gpt-x"})
        assert ping.json() == {"valid": True}
        assert model.json() == {"valid": True}
        assert len(up.requests) == 1
        assert up.requests[0]["model"] == "gpt-x"
        assert up.requests[0]["max_tokens"] == 1

    async def test_verify_model_against_anthropic_succeeds(self, server: RunningServer) -> None:
        """verify with a model posts a one-token message to Anthropic's Messages API."""
        async with stand_in("anthropic", api_key=SECRET) as up:
            await _provider(server, name="claude", provider_type="anthropic_native", api_base=up.base_url)
            async with as_owner(server) as http:
                res = await http.post("/v1/providers/claude/verify", json={"model": "claude-x"})
        assert res.json() == {"valid": True}
        assert up.requests[0]["model"] == "claude-x"

    async def test_verify_with_a_rejected_key_is_invalid_mentioning_401(self, server: RunningServer) -> None:
        """An upstream 401 is reported as ``{valid:false}`` with an error that mentions 401."""
        async with stand_in("openai", api_key="sk-the-right-one") as up:
            await _provider(server, api_base=up.base_url)
            async with as_owner(server) as http:
                res = await http.post("/v1/providers/openai/verify")
        assert res.status_code == 200
        assert res.json()["valid"] is False
        assert "401" in res.json()["error"]

    async def test_verify_unreachable_upstream_is_invalid(self, server: RunningServer) -> None:
        """A connection refused is ``{valid:false}`` with a readable error, not an HTTP error."""
        await _provider(server, api_base=unreachable_url())
        async with as_owner(server) as http:
            res = await http.post("/v1/providers/openai/verify", json={"model": "m"})
        assert res.status_code == 200
        assert res.json()["valid"] is False
        assert "reach" in res.json()["error"]

    async def test_verify_disabled_provider_is_invalid_without_calling(self, server: RunningServer) -> None:
        """A disabled provider is reported invalid and the upstream is not called."""
        async with stand_in("openai", api_key=SECRET) as up:
            await _provider(server, api_base=up.base_url, enabled=False)
            async with as_owner(server) as http:
                res = await http.post("/v1/providers/openai/verify")
        assert res.json()["valid"] is False
        assert up.requests == []

    async def test_models_on_a_failing_upstream_is_502_envelope(self, server: RunningServer) -> None:
        """Upstream 500, garbage and 429 on /models answer 502 in the GoClaw envelope naming the cause."""
        async with stand_in("openai", api_key=SECRET) as up:
            up.script(
                Reply(status=500, body='{"error": {"message": "boom"}}'),
                Reply(body="<html>oops"),
                Reply(status=429),
            )
            await _provider(server, api_base=up.base_url)
            async with as_owner(server) as http:
                failed = await http.get("/v1/providers/openai/models")
                junk = await http.get("/v1/providers/openai/models")
                limited = await http.get("/v1/providers/openai/models")
                healthy = await http.get("/v1/providers/openai/models")
        assert "500" in assert_error(failed, 502, "UNAVAILABLE")["message"]
        assert "JSON" in assert_error(junk, 502, "UNAVAILABLE")["message"]
        assert "429" in assert_error(limited, 502, "UNAVAILABLE")["message"]
        assert healthy.status_code == 200

    async def test_models_on_an_unreachable_upstream_is_502(self, server: RunningServer) -> None:
        """A connection refused on /models answers 502 UNAVAILABLE."""
        await _provider(server, api_base=unreachable_url())
        async with as_owner(server) as http:
            res = await http.get("/v1/providers/openai/models")
        assert_error(res, 502, "UNAVAILABLE")
