"""End-to-end smoke tests through a real server."""

from __future__ import annotations

from tests.support import GATEWAY_TOKEN, RunningServer, ws_connect


class TestSmoke:
    async def test_health_answers_ok(self, server: RunningServer) -> None:
        """GET /health answers GoClaw's shape without credentials."""
        async with server.client() as http:
            res = await http.get("/health")
        assert res.status_code == 200
        assert res.json()["status"] == "ok"
        assert res.json()["protocol"] == 3

    async def test_ws_connect_with_token_is_admin(self, server: RunningServer) -> None:
        """connect with the gateway token yields role admin in the master tenant."""
        async with ws_connect(server, _skip=True) as ws:
            payload = await ws.ok("connect", {"token": GATEWAY_TOKEN, "user_id": "alice"})
        assert payload["role"] == "admin"
        assert payload["tenant_slug"] == "master"
