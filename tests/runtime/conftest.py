"""Fixtures for chat tests: a gateway with an agent wired to a loopback LLM stand-in."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest

from tests.conftest import ServerFactory
from tests.support import GATEWAY_TOKEN, RunningServer
from tests.upstream import Upstream, stand_in


@dataclass
class ChatSetup:
    server: RunningServer
    upstream: Upstream
    agent: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)  # further stand-ins and the like, per test

    def admin(self, user: str = "owner") -> Any:
        return self.server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": user})

    async def user_key(self, scopes: tuple[str, ...] = ("operator.write",)) -> str:
        """A raw API key with ``scopes`` (a non-admin caller unless ``operator.admin``)."""
        async with self.admin() as http:
            res = await http.post("/v1/api-keys", json={"name": "test key", "scopes": list(scopes)})
        assert res.status_code == 201, res.text
        key: str = res.json()["key"]
        return key

    async def add_provider(self, name: str, upstream: Upstream) -> None:
        """Register another stand-in as provider ``name``."""
        kind = "openai_compat" if upstream.flavor == "openai" else "anthropic_native"
        async with self.admin() as http:
            res = await http.post(
                "/v1/providers",
                json={"name": name, "provider_type": kind, "api_base": upstream.base_url, "api_key": "sk-2"},
            )
        assert res.status_code == 201, res.text

    async def add_agent(self, **fields: Any) -> dict[str, Any]:
        """Create another agent (defaults: provider "up", model "model-a")."""
        async with self.admin() as http:
            res = await http.post("/v1/agents", json={"provider": "up", "model": "model-a", **fields})
        assert res.status_code == 201, res.text
        agent: dict[str, Any] = res.json()
        return agent


async def make_setup(
    make_server: ServerFactory, flavor: str = "openai", agent: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[ChatSetup]:
    async with stand_in(flavor) as up:  # type: ignore[arg-type]
        settings = {"gateway__rate_limit_rpm": 0, "llm__retry_base_delay_ms": 10, **overrides}
        server = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], **settings)
        async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
            res = await http.post(
                "/v1/providers",
                json={"name": "up", "provider_type": "openai_compat" if flavor == "openai" else "anthropic_native",
                      "api_base": up.base_url, "api_key": "sk-test"},
            )  # fmt: skip
            assert res.status_code == 201, res.text
            body = {"agent_key": "helper", "display_name": "Helper", "provider": "up", "model": "model-a",
                    "max_tool_iterations": 6, **(agent or {})}  # fmt: skip
            res = await http.post("/v1/agents", json=body)
            assert res.status_code == 201, res.text
        yield ChatSetup(server, up, res.json())


# ``async with chat_setup(make_server, flavor=..., agent=..., **settings) as setup:`` in a test body.
chat_setup = contextlib.asynccontextmanager(make_setup)


@pytest.fixture(name="chat")
async def _chat(make_server: ServerFactory) -> AsyncIterator[ChatSetup]:
    async for setup in make_setup(make_server):
        yield setup


@pytest.fixture(name="client")
async def _client(chat: ChatSetup) -> AsyncIterator[openai.AsyncOpenAI]:
    """The official SDK pointed at the gateway, authenticated with the gateway token."""
    async with openai.AsyncOpenAI(
        base_url=chat.server.url + "/v1", api_key=GATEWAY_TOKEN, max_retries=0
    ) as client:
        yield client
