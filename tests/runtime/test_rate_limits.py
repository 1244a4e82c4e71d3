"""Rate limits while exploring (issue 10, item 7): the operator (gateway token, development mode) is
not throttled by default, failed lookups spend no budget, and an API key may carry its own chat limit."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.conftest import ServerFactory
from tests.runtime.conftest import chat_setup
from tests.support import GATEWAY_TOKEN, RunningServer, ws_connect
from tests.upstream import stand_in

TIGHT = {"gateway__rate_limit_rpm": 1, "rate_limits__per_ip_rpm": 6, "rate_limits__per_key_rpm": 6,
         "rate_limits__burst": 2}  # fmt: skip


def sdk(server: RunningServer, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


async def ask(client: openai.AsyncOpenAI, model: str = "helper") -> Any:
    return await client.chat.completions.create(model=model, messages=[{"role": "user", "content": "q"}])


class TestOperator:
    async def test_gateway_token_is_not_throttled_but_a_key_is(self, make_server: ServerFactory) -> None:
        """With tight limits, eight exchanges with the gateway token all pass (chat burst 5, per-key and
        per-IP burst 2), while an API key from the same IP is refused past the per-IP burst."""
        async with chat_setup(make_server, **TIGHT) as setup:
            async with sdk(setup.server, GATEWAY_TOKEN) as client:
                answers = [await ask(client) for _ in range(8)]
            key = await setup.user_key()
            async with setup.server.client(key) as http:
                statuses = [(await http.get("/v1/agents")).status_code for _ in range(3)]
        assert len(answers) == 8
        assert statuses == [200, 200, 429]

    async def test_development_mode_is_not_throttled(self, make_server: ServerFactory) -> None:
        """With no token on loopback, every local client is the operator: past every burst it still
        passes, chat.send included, and so does one sending a bearer that is no API key (the README's
        ``api_key="dev"``), which development mode treats as no credential."""
        async with stand_in() as up:
            server = await make_server(**TIGHT)
            async with server.client() as http:
                await http.post(
                    "/v1/providers", json={"name": "up", "api_base": up.base_url, "api_key": "sk"}
                )
                await http.post(
                    "/v1/agents", json={"agent_key": "helper", "provider": "up", "model": "model-a"}
                )
                statuses = [(await http.get("/v1/agents")).status_code for _ in range(8)]
            async with server.client("dev") as http:
                statuses += [(await http.get("/v1/agents")).status_code for _ in range(8)]
            async with ws_connect(server, user_id="me") as ws:
                sent = [
                    await ws.call("chat.send", {"message": f"m{i}", "agentId": "helper"}) for i in range(7)
                ]
        assert statuses == [200] * 16
        assert [res["ok"] for res in sent] == [True] * 7


class TestBudget:
    async def test_failed_lookups_spend_no_budget(self, make_server: ServerFactory) -> None:
        """Ten requests for a wrong model (404) and ten chat.send to a missing agent leave the whole
        burst: then five exchanges pass and the sixth is refused."""
        async with chat_setup(
            make_server, gateway__rate_limit_rpm=1, rate_limits__exempt_operator=False
        ) as setup:
            async with sdk(setup.server, GATEWAY_TOKEN) as client:
                for _ in range(10):
                    with pytest.raises(openai.NotFoundError):
                        await ask(client, "helpr")
                answers = [await ask(client) for _ in range(5)]
                with pytest.raises(openai.RateLimitError):
                    await ask(client)
            async with ws_connect(setup.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                missing = [
                    await ws.call("chat.send", {"message": "x", "agentId": "ghost"}) for _ in range(10)
                ]
                sent = await ws.call("chat.send", {"message": "real", "agentId": "helper"})
        assert len(answers) == 5
        assert {res["error"]["code"] for res in missing} == {"NOT_FOUND"}
        assert sent["ok"], sent


class TestKeyLimit:
    async def test_a_key_carries_its_own_chat_limit(self, make_server: ServerFactory) -> None:
        """A key with rate_limit_rpm 0 is not held to gateway.rate_limit_rpm; one with its own limit is
        refused past its burst; the field is answered back."""
        async with chat_setup(make_server, gateway__rate_limit_rpm=1) as setup:
            async with setup.admin() as http:
                free = (await http.post("/v1/api-keys", json={
                    "name": "free", "scopes": ["operator.write"], "rate_limit_rpm": 0})).json()  # fmt: skip
                own = (await http.post("/v1/api-keys", json={
                    "name": "own", "scopes": ["operator.write"], "rate_limit_rpm": 2})).json()  # fmt: skip
            async with sdk(setup.server, free["key"]) as client:
                answers = [await ask(client) for _ in range(8)]
            async with sdk(setup.server, own["key"]) as client:
                passed = 0
                try:
                    for _ in range(8):
                        await ask(client)
                        passed += 1
                except openai.RateLimitError:
                    pass
        assert len(answers) == 8
        assert passed == 5  # the burst, then the key's 2/min
        assert free["rate_limit_rpm"] == 0
        assert own["rate_limit_rpm"] == 2
