"""Providers configured by environment (``CLAWGATE_OPENAI_API_KEY``, ``CLAWGATE_OPENAI_BASE_URL``):
listed, verified, their models listed, and usable as ``provider/model`` through the default agent with
the official ``openai`` SDK, recorded and traced like any exchange (issue 10, item 5)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support import GATEWAY_TOKEN, RunningServer, make_settings, start_server
from tests.upstream import Upstream, stand_in

ENV_KEY = "sk-env-key-000000001234"
EnvServer = Callable[..., Awaitable[RunningServer]]


@pytest.fixture(name="upstream")
async def _upstream() -> AsyncIterator[Upstream]:
    async with stand_in(api_key=ENV_KEY, models=["gpt-4o-mini", "gpt-4o"]) as up:
        yield up


@pytest.fixture(name="env_server")
async def _env_server(dsn: str, tmp_path: Path, upstream: Upstream) -> AsyncIterator[EnvServer]:
    """Start gateways whose OpenAI provider comes from the environment (the stand-in), with ``overrides``."""
    running: list[RunningServer] = []
    environ = {"CLAWGATE_OPENAI_API_KEY": ENV_KEY, "CLAWGATE_OPENAI_BASE_URL": upstream.base_url}

    async def factory(**overrides: Any) -> RunningServer:
        opts = {"gateway.token": GATEWAY_TOKEN, "gateway.owner_ids": ["owner"], "gateway.rate_limit_rpm": 0,
                **{k.replace("__", "."): v for k, v in overrides.items()}}  # fmt: skip
        srv = await start_server(make_settings(dsn, tmp_path / "data", environ=environ, **opts))
        running.append(srv)
        return srv

    yield factory
    for srv in reversed(running):
        await srv.stop()


def sdk(server: RunningServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=GATEWAY_TOKEN, max_retries=0)


class TestListed:
    async def test_env_provider_is_listed_masked_readable_and_verified(self, env_server: EnvServer) -> None:
        """/v1/providers lists the environment's provider (source environment, key masked); it is read
        by name and id, verified against the upstream, and refused a change with a clear 409."""
        server = await env_server()
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            listed = (await http.get("/v1/providers")).json()["providers"]
            by_id = await http.get(f"/v1/providers/{listed[0]['id']}")
            verified = await http.post("/v1/providers/openai/verify", json={})
            with_model = await http.post("/v1/providers/openai/verify", json={"model": "gpt-4o-mini"})
            models = await http.get("/v1/providers/openai/models")
            changed = await http.put("/v1/providers/openai", json={"display_name": "x"})
        assert [(p["name"], p["source"], p["provider_type"]) for p in listed] == [
            ("openai", "environment", "openai_compat")
        ]
        assert listed[0]["api_key"] == "***1234"
        assert ENV_KEY not in str(listed)
        assert by_id.json()["name"] == "openai"
        assert verified.json() == {"valid": True}
        assert with_model.json() == {"valid": True}
        assert [m["id"] for m in models.json()["data"]] == ["gpt-4o-mini", "gpt-4o"]
        assert changed.status_code == 409
        assert "CLAWGATE_OPENAI_API_KEY" in changed.json()["error"]["message"]

    async def test_models_lists_provider_models_and_only_agents_that_can_run(
        self, env_server: EnvServer
    ) -> None:
        """/v1/models lists openai/<model> for each upstream model (to operators: viewers cannot chat), and
        no agent whose provider is gone; ``models.retrieve`` finds such a ``provider/model`` too."""
        server = await env_server()
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            await http.post("/v1/providers", json={"name": "gone", "api_base": "http://127.0.0.1:9/v1"})
            for key, provider in (("writer", "openai"), ("stranded", "gone")):
                res = await http.post(
                    "/v1/agents", json={"agent_key": key, "provider": provider, "model": "m"}
                )
                assert res.status_code == 201, res.text
            await http.delete("/v1/providers/gone")
            viewer = (await http.post("/v1/api-keys", json={"name": "v", "scopes": ["operator.read"]})).json()
        async with sdk(server) as client:
            models = [m.id async for m in client.models.list()]
            retrieved = await client.models.retrieve("openai/gpt-4o-mini")
            with pytest.raises(openai.NotFoundError):
                await client.models.retrieve("openai/not-listed")
        async with openai.AsyncOpenAI(
            base_url=server.url + "/v1", api_key=viewer["key"], max_retries=0
        ) as client:
            seen_by_viewer = [m.id async for m in client.models.list()]
            with pytest.raises(openai.NotFoundError):
                await client.models.retrieve("openai/gpt-4o-mini")
        assert models == ["writer", "openai/gpt-4o-mini", "openai/gpt-4o"]
        assert (retrieved.id, retrieved.owned_by) == ("openai/gpt-4o-mini", "openai")
        assert seen_by_viewer == ["writer"]  # a viewer cannot chat: no provider models


class TestProviderModelRoute:
    async def test_provider_model_runs_through_the_default_agent_recorded_and_traced(
        self, env_server: EnvServer, upstream: Upstream
    ) -> None:
        """model "openai/gpt-4o-mini" with no agent created: chat completions and responses are answered
        by the environment's provider with that model, through the agent "default", each traced."""
        server = await env_server()
        async with sdk(server) as client:
            chat = await client.chat.completions.create(
                model="openai/gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
            resp = await client.responses.create(model="openai/gpt-4o", input="again", user="u1")
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            traces = (await http.get("/v1/traces")).json()["traces"]
            agent = (await http.get("/v1/agents/default")).json()
        assert chat.choices[0].message.content == "echo: hello"
        assert chat.model == "openai/gpt-4o-mini"
        assert resp.output_text == "echo: again"
        assert [r["model"] for r in upstream.turns] == ["gpt-4o-mini", "gpt-4o"]
        assert upstream.last_headers["authorization"] == f"Bearer {ENV_KEY}"
        assert sorted(t["name"] for t in traces) == ["openai - default", "openai - default"]
        assert {t["status"] for t in traces} == {"completed"}
        assert agent["provider"] == "openai"

    async def test_route_off_or_unknown_provider_is_not_found(self, env_server: EnvServer) -> None:
        """A provider nobody configured, or gateway.default_agent "" (off): 404 naming the model."""
        on, off = await env_server(), await env_server(gateway__default_agent="")
        errors = []
        for server, model in ((on, "opena/gpt-4o-mini"), (off, "openai/gpt-4o-mini")):
            async with sdk(server) as client:
                with pytest.raises(openai.NotFoundError) as caught:
                    await client.chat.completions.create(
                        model=model, messages=[{"role": "user", "content": "x"}]
                    )
            errors.append(caught.value)
        assert "opena/gpt-4o-mini" in errors[0].message
        assert "openai/gpt-4o-mini" in errors[1].message
