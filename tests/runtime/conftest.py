"""Fixtures for chat tests: a gateway with an agent wired to a loopback LLM stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import ServerFactory
from tests.support import GATEWAY_TOKEN, RunningServer
from tests.upstream import Upstream, stand_in


@dataclass
class ChatSetup:
    server: RunningServer
    upstream: Upstream
    agent: dict[str, Any]

    def admin(self, user: str = "owner") -> Any:
        return self.server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": user})


async def make_setup(
    make_server: ServerFactory, flavor: str = "openai", agent: dict[str, Any] | None = None, **overrides: Any
) -> AsyncIterator[ChatSetup]:
    async with stand_in(flavor) as up:  # type: ignore[arg-type]
        server = await make_server(
            gateway__token=GATEWAY_TOKEN,
            gateway__owner_ids=["owner"],
            gateway__rate_limit_rpm=0,
            llm__retry_base_delay_ms=10,
            **overrides,
        )
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


@pytest.fixture(name="chat")
async def _chat(make_server: ServerFactory) -> AsyncIterator[ChatSetup]:
    async for setup in make_setup(make_server):
        yield setup
