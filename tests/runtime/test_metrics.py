"""``GET /metrics``: Prometheus text from ``prometheus-client``, read by a real scrape (httpx) and
parsed with the client library's own parser. Who may scrape, and that each family counts."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ServerFactory
from tests.http.helpers import assert_error, mint_key
from tests.runtime.conftest import ChatSetup
from tests.support import GATEWAY_TOKEN, RunningServer, ws_connect
from tests.upstream import Reply


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition as ``(name, sorted labels) -> value``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


async def scrape(server: RunningServer, token: str | None = GATEWAY_TOKEN) -> httpx.Response:
    async with server.client(token) as http:
        return await http.get("/metrics")


class TestAccess:
    async def test_needs_the_gateway_token(self, make_server: ServerFactory) -> None:
        """With a gateway token configured, no credential is 401, the token gets Prometheus text."""
        server = await make_server(gateway__token=GATEWAY_TOKEN)
        anonymous = await scrape(server, None)
        ok = await scrape(server)
        assert_error(anonymous, 401, "UNAUTHORIZED")
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/plain; version=0.0.4")
        assert "clawgate_http_requests_total" in ok.text

    async def test_tenant_keys_are_refused_system_admin_keys_are_not(
        self, make_server: ServerFactory
    ) -> None:
        """A tenant's admin key may not scrape (the figures span every tenant); a system admin key
        may; an operator key may not."""
        server = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        tenant_admin = (await mint_key(server, "operator.admin"))["key"]
        operator = (await mint_key(server, "operator.write", tenant_id=""))["key"]
        system_admin = (await mint_key(server, "operator.admin", tenant_id=""))["key"]
        assert_error(await scrape(server, tenant_admin), 403, "UNAUTHORIZED")
        assert_error(await scrape(server, operator), 403, "UNAUTHORIZED")
        assert (await scrape(server, system_admin)).status_code == 200

    async def test_public_when_configured(self, make_server: ServerFactory) -> None:
        """``metrics.public`` serves the scrape without credentials."""
        server = await make_server(gateway__token=GATEWAY_TOKEN, metrics__public=True)
        assert (await scrape(server, None)).status_code == 200


class TestCounts:
    async def test_requests_by_route_template(self, make_server: ServerFactory) -> None:
        """Requests count under their route template (not the raw path); paths no route answers
        share one label, unusual methods another; the latency histogram counts them too."""
        server = await make_server(gateway__token=GATEWAY_TOKEN)
        before = samples((await scrape(server)).text)
        async with server.client(GATEWAY_TOKEN) as http:
            await http.get("/v1/agents/nobody-1")
            await http.get("/v1/agents/nobody-2")
            await http.get("/no/such/path/x1")
            await http.request("PROPFIND", "/v1/agents")
        after = samples((await scrape(server)).text)
        route = {"method": "GET", "route": "/v1/agents/{id}"}
        assert (
            value(after, "clawgate_http_requests_total", **route, status="404")
            - value(before, "clawgate_http_requests_total", **route, status="404")
            == 2
        )
        assert (
            value(after, "clawgate_http_request_duration_seconds_count", **route)
            - value(before, "clawgate_http_request_duration_seconds_count", **route)
            == 2
        )
        unmatched = {"method": "GET", "route": "<unmatched>", "status": "404"}
        assert value(after, "clawgate_http_requests_total", **unmatched) > value(
            before, "clawgate_http_requests_total", **unmatched
        )
        assert not any("x1" in str(labels) or "PROPFIND" in str(labels) for _, labels in after)
        other = {"method": "OTHER", "route": "<unmatched>", "status": "405"}
        assert value(after, "clawgate_http_requests_total", **other) > value(
            before, "clawgate_http_requests_total", **other
        )

    async def test_rpc_runs_tokens_clients_pool_and_writer(self, chat: ChatSetup) -> None:
        """A chat over WebSocket and a chat completion count an RPC call by method and outcome, a
        completed run, tokens by provider and model, a group-writer batch; the WebSocket client and
        the pool show as gauges."""
        server = chat.server
        before = samples((await scrape(server)).text)
        chat.upstream.script(Reply(content="hi", usage=(7, 3)), Reply(content="yo", usage=(5, 2)))
        async with ws_connect(server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("chat.send", {"message": "hello", "agentId": "helper"})
            await ws.call("no.such.method")
            async with server.client(GATEWAY_TOKEN) as http:
                res = await http.post(
                    "/v1/chat/completions",
                    json={"model": "helper", "messages": [{"role": "user", "content": "hey"}]},
                )
                assert res.status_code == 200, res.text
                during = samples((await http.get("/metrics")).text)
        after = samples((await scrape(server)).text)

        def grew(name: str, by: float = 1, **labels: str) -> bool:
            return value(after, name, **labels) - value(before, name, **labels) == by

        assert grew("clawgate_rpc_calls_total", method="chat.send", outcome="ok")
        assert grew("clawgate_rpc_calls_total", method="<unmatched>", outcome="INVALID_REQUEST")
        assert grew("clawgate_runs_total", status="completed")
        tokens = {"provider": "up", "model": "model-a"}
        assert grew("clawgate_llm_tokens_total", 12, **tokens, direction="input")
        assert grew("clawgate_llm_tokens_total", 5, **tokens, direction="output")
        assert value(after, "clawgate_writer_batches_total") > value(before, "clawgate_writer_batches_total")
        assert value(during, "clawgate_websocket_clients") >= 1
        assert value(after, "clawgate_db_pool_size") >= value(after, "clawgate_db_pool_in_use") >= 0
        assert value(after, "clawgate_db_pool_max") == server.gateway.settings.database.pool_max_size
