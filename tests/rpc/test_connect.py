"""``connect`` and the connection's first moments, through a real server (spec section 2)."""

from __future__ import annotations

import json

import asyncpg
import pytest
from structlog.testing import capture_logs

from tests.conftest import ServerFactory
from tests.rpc.helpers import close_of, create_key, create_tenant
from tests.support import GATEWAY_TOKEN, RunningServer, ws_connect


async def _refused(server: RunningServer, **params: object) -> tuple[dict[str, object], int, str]:
    """Send ``connect`` with ``params``; return the error body and the close code and reason."""
    async with ws_connect(server, _skip=True) as ws:
        res = await ws.call("connect", params)
        assert res["ok"] is False, res
        code, reason = await close_of(ws)
    error = res["error"]
    assert isinstance(error, dict)
    return error, code, reason


class TestGatewayToken:
    async def test_token_is_admin(self, server: RunningServer) -> None:
        """The gateway token with an ordinary user id is admin in the master tenant."""
        async with ws_connect(server, _skip=True) as ws:
            payload = await ws.ok("connect", {"token": GATEWAY_TOKEN, "user_id": "alice", "protocol": 3})
        assert payload["role"] == "admin"
        assert payload["user_id"] == "alice"
        assert payload["is_owner"] is False
        assert payload["tenant_slug"] == "master"

    async def test_owner_id_is_owner(self, server: RunningServer) -> None:
        """The gateway token with a user in ``owner_ids`` is owner."""
        async with ws_connect(server, _skip=True) as ws:
            payload = await ws.ok("connect", {"token": GATEWAY_TOKEN, "user_id": "owner"})
        assert payload["role"] == "owner"
        assert payload["is_owner"] is True

    async def test_success_payload_shape(self, server: RunningServer) -> None:
        """The payload names protocol, server, connection id, policy and features."""
        async with ws_connect(server, _skip=True) as ws:
            payload = await ws.ok(
                "connect", {"token": GATEWAY_TOKEN, "client": {"name": "t", "version": "1"}}
            )
        assert payload["protocol"] == 3
        assert payload["server"]["name"] == "clawgate"
        assert len(payload["conn_id"]) == 32
        assert payload["policy"] == {
            "max_payload": server.settings.limits.ws_max_payload,
            "max_buffered_bytes": server.settings.limits.ws_max_buffered_bytes,
            "tick_interval_ms": server.settings.limits.tick_interval_ms,
        }
        for name in ("connect", "agents.list", "config.patch", "api_keys.create", "tenants.mine"):
            assert name in payload["features"]["methods"]
        assert "tick" in payload["features"]["events"]

    @pytest.mark.parametrize("protocol", [2, 4])
    async def test_other_protocol_is_accepted_answered_3_and_logged(
        self, server: RunningServer, protocol: int
    ) -> None:
        """A client speaking another protocol is accepted (as GoClaw does), told the server speaks
        3, and the mismatch is logged."""
        async with ws_connect(server, _skip=True) as ws:
            with capture_logs() as logs:
                payload = await ws.ok("connect", {"token": GATEWAY_TOKEN, "protocol": protocol})
        assert payload["protocol"] == 3
        [line] = [entry for entry in logs if entry["event"] == "rpc.protocol_mismatch"]
        assert (line["client_protocol"], line["server_protocol"]) == (protocol, 3)

    async def test_protocol_3_logs_no_mismatch(self, server: RunningServer) -> None:
        """``protocol: 3`` logs nothing about protocols."""
        async with ws_connect(server, _skip=True) as ws:
            with capture_logs() as logs:
                await ws.ok("connect", {"token": GATEWAY_TOKEN, "protocol": 3})
        assert not [entry for entry in logs if entry["event"] == "rpc.protocol_mismatch"]

    async def test_wrong_token_refused_then_closed(self, server: RunningServer) -> None:
        """A wrong token answers UNAUTHORIZED, then the server closes with 1008."""
        error, code, _ = await _refused(server, token="wrong-token")
        assert error["code"] == "UNAUTHORIZED"
        assert code == 1008

    async def test_no_token_refused_when_token_configured(self, server: RunningServer) -> None:
        """Without a token, a server that has one refuses (no development mode)."""
        error, code, _ = await _refused(server, user_id="alice")
        assert error["code"] == "UNAUTHORIZED"
        assert code == 1008


class TestApiKeys:
    @pytest.mark.parametrize(
        ("scopes", "role"),
        [
            (["operator.admin"], "admin"),
            (["operator.write"], "operator"),
            (["operator.approvals"], "operator"),
            (["operator.read"], "viewer"),
            (["operator.read", "operator.provision"], "viewer"),
        ],
    )
    async def test_role_from_scopes(self, server: RunningServer, scopes: list[str], role: str) -> None:
        """An API key's role follows its scopes."""
        key = await create_key(server, scopes)
        async with ws_connect(server, _skip=True) as ws:
            payload = await ws.ok("connect", {"token": key["key"], "user_id": "alice"})
        assert payload["role"] == role
        assert payload["user_id"] == "alice"
        assert payload["is_owner"] is False

    async def test_owner_bound_key_forces_user(self, server: RunningServer) -> None:
        """A key bound to an owner acts as that user whatever ``user_id`` claims."""
        key = await create_key(server, ["operator.write"], owner_id="bob")
        async with ws_connect(server, _skip=True) as ws:
            payload = await ws.ok("connect", {"token": key["key"], "user_id": "mallory"})
        assert payload["user_id"] == "bob"

    async def test_tenant_bound_key_forces_tenant(self, server: RunningServer) -> None:
        """A key bound to a tenant acts in it, even when ``tenant_id`` names another."""
        tenant = await create_tenant(server, "acme")
        key = await create_key(server, ["operator.write"], tenant_id="acme")
        async with ws_connect(server, _skip=True) as ws:
            payload = await ws.ok("connect", {"token": key["key"], "user_id": "u", "tenant_id": "master"})
        assert payload["tenant_id"] == tenant["id"]
        assert payload["tenant_slug"] == "acme"

    async def test_unknown_tenant_is_called_unknown_and_not_echoed_whole(self, server: RunningServer) -> None:
        """A 10 KB ``tenant_id`` that names no tenant: TENANT_ACCESS_REVOKED saying "unknown tenant",
        the name cut short in the message (in the caller's language)."""
        error, code, _ = await _refused(
            server, token=GATEWAY_TOKEN, user_id="alice", tenant_id="t" * 10240, locale="vi"
        )
        assert error["code"] == "TENANT_ACCESS_REVOKED"
        message = str(error["message"])
        assert message.startswith("tenant không tồn tại: ttt")
        assert len(message) < 600
        assert code == 1008

    async def test_expired_key_refused(self, server: RunningServer, dsn: str) -> None:
        """An expired key is refused with UNAUTHORIZED and the connection closed."""
        key = await create_key(server, ["operator.admin"], expires_in=3600)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "UPDATE api_keys SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid", key["id"]
            )
        finally:
            await conn.close()
        error, code, _ = await _refused(server, token=key["key"])
        assert error["code"] == "UNAUTHORIZED"
        assert error["message"] == "API key has expired"
        assert code == 1008

    async def test_revoked_key_refused(self, server: RunningServer) -> None:
        """A key that worked is refused once revoked through REST."""
        key = await create_key(server, ["operator.read"])
        async with ws_connect(server, token=key["key"]):
            pass
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            res = await http.post(f"/v1/api-keys/{key['id']}/revoke")
        assert res.status_code == 200
        error, code, _ = await _refused(server, token=key["key"])
        assert error["code"] == "UNAUTHORIZED"
        assert error["message"] == "API key has been revoked"
        assert code == 1008

    async def test_unknown_key_refused(self, server: RunningServer) -> None:
        """A well-formed key that was never issued is refused."""
        key = await create_key(server, ["operator.read"])
        forged = key["key"][:-4] + ("0000" if not key["key"].endswith("0000") else "1111")
        error, code, _ = await _refused(server, token=forged)
        assert error["code"] == "UNAUTHORIZED"
        assert code == 1008


class TestDevMode:
    async def test_no_token_on_loopback_is_operator(self, dev_server: RunningServer) -> None:
        """With no gateway token and a loopback listener, connect yields operator."""
        async with ws_connect(dev_server, _skip=True) as ws:
            payload = await ws.ok("connect", {"user_id": "dev"})
        assert payload["role"] == "operator"
        assert payload["user_id"] == "dev"
        assert payload["tenant_slug"] == "master"


class TestLocale:
    async def test_refusal_in_vietnamese(self, server: RunningServer) -> None:
        """A refused connect is answered in the requested locale."""
        error, _, _ = await _refused(server, token="nope", locale="vi")
        assert error["message"].startswith("token không hợp lệ")

    async def test_errors_after_connect_in_chinese(self, server: RunningServer) -> None:
        """After connect with ``zh-CN``, errors are in Chinese."""
        async with ws_connect(server, token=GATEWAY_TOKEN, locale="zh-CN") as ws:
            res = await ws.call("no.such.method")
        assert res["error"]["code"] == "INVALID_REQUEST"
        assert res["error"]["message"] == "未知方法：no.such.method"

    async def test_unknown_locale_falls_back_to_english(self, server: RunningServer) -> None:
        """An unsupported locale falls back to English."""
        error, _, _ = await _refused(server, token="nope", locale="fr")
        assert error["message"] == "invalid token: neither the gateway token nor a known API key"


class TestBeforeConnect:
    async def test_first_frame_not_connect_unauthorized(self, server: RunningServer) -> None:
        """Any method before connect answers UNAUTHORIZED; connect still works afterwards."""
        async with ws_connect(server, _skip=True) as ws:
            res = await ws.call("agents.list")
            assert res["ok"] is False
            assert res["error"]["code"] == "UNAUTHORIZED"
            assert res["error"]["message"] == "first request must be connect"
            payload = await ws.ok("connect", {"token": GATEWAY_TOKEN})
        assert payload["role"] == "admin"

    async def test_connect_timeout_closes_1008(self, make_server: ServerFactory) -> None:
        """No connect within the timeout: the server closes with 1008."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__ws_connect_timeout_seconds=0.2)
        async with ws_connect(srv, _skip=True) as ws:
            code, reason = await close_of(ws, timeout=3)
        assert code == 1008
        assert reason == "connect timeout"

    async def test_large_preauth_frame_closes_1008(self, make_server: ServerFactory) -> None:
        """A frame above the pre-connect limit closes with 1008."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__ws_preauth_max_payload=1024)
        async with ws_connect(srv, _skip=True) as ws:
            padding = "x" * 2000
            await ws.send_raw(json.dumps({"type": "req", "id": "1", "method": "connect",
                                          "params": {"token": GATEWAY_TOKEN, "client": {"pad": padding}}}))  # fmt: skip
            code, reason = await close_of(ws)
        assert code == 1008
        assert "before connect" in reason


class TestAfterConnect:
    async def test_large_frame_closes_1009(self, make_server: ServerFactory) -> None:
        """After connect, a frame above ``ws_max_payload`` closes with 1009."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__ws_max_payload=4096)
        async with ws_connect(srv, token=GATEWAY_TOKEN) as ws:
            await ws.send_raw(json.dumps({"type": "req", "id": "2", "method": "health",
                                          "params": {"pad": "x" * 8000}}))  # fmt: skip
            code, _ = await close_of(ws)
        assert code == 1009

    async def test_frame_under_limit_is_answered(self, make_server: ServerFactory) -> None:
        """A frame just under ``ws_max_payload`` is handled normally."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__ws_max_payload=4096)
        async with ws_connect(srv, token=GATEWAY_TOKEN) as ws:
            res = await ws.call("agents.files.get", {"agentId": "none", "name": "x" * 100})
        assert res["error"]["code"] == "NOT_FOUND"

    async def test_viewer_calling_admin_method_unauthorized(self, server: RunningServer) -> None:
        """A viewer calling an admin method gets UNAUTHORIZED naming the required role."""
        key = await create_key(server, ["operator.read"])
        async with ws_connect(server, token=key["key"], user_id="v") as ws:
            res = await ws.call("config.get")
            listed = await ws.ok("agents.list")
        assert res["ok"] is False
        assert res["error"]["code"] == "UNAUTHORIZED"
        assert res["error"]["message"] == "config.get requires admin role"
        assert listed == {"agents": []}

    async def test_operator_calling_admin_method_unauthorized(self, server: RunningServer) -> None:
        """An operator may not create agents (admin)."""
        key = await create_key(server, ["operator.write"])
        async with ws_connect(server, token=key["key"]) as ws:
            res = await ws.call("agents.create", {"name": "x"})
        assert res["error"]["message"] == "agents.create requires admin role"

    async def test_second_connect_keeps_connection(self, server: RunningServer) -> None:
        """A second connect on an open connection re-authenticates and stays open."""
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="a") as ws:
            payload = await ws.ok("connect", {"token": GATEWAY_TOKEN, "user_id": "owner"})
            assert payload["role"] == "owner"
            assert (await ws.ok("health"))["status"] == "ok"
