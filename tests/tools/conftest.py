"""Fixtures for the built-in tools: a gateway with an agent (on a provider nobody calls) and the
owner's client, and a loopback web server for ``web_fetch``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.conftest import ServerFactory
from tests.http.helpers import as_owner
from tests.support import GATEWAY_TOKEN, RunningServer, add_stub_provider, free_port


@dataclass
class Tools:
    server: RunningServer

    def owner(self, user: str = "owner") -> httpx.AsyncClient:
        return as_owner(self.server, **{"X-GoClaw-User-Id": user})

    async def invoke(
        self, tool: str, args: dict[str, Any], user: str = "owner", **body: Any
    ) -> dict[str, Any]:
        async with self.owner(user) as http:
            res = await http.post("/v1/tools/invoke", json={"tool": tool, "args": args, **body})
        assert res.status_code == 200, res.text
        out: dict[str, Any] = res.json()
        return out

    async def configure(self, tool: str, **body: Any) -> None:
        async with self.owner() as http:
            res = await http.put(f"/v1/tools/builtin/{tool}", json=body)
        assert res.status_code == 200, res.text


@pytest.fixture(name="tools")
async def _tools(make_server: ServerFactory) -> Tools:
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], gateway__rate_limit_rpm=0
    )
    await add_stub_provider(server)
    async with as_owner(server) as http:
        res = await http.post("/v1/agents", json={"agent_key": "worker", "provider": "stub", "model": "m"})
    assert res.status_code == 201, res.text
    return Tools(server)


@pytest.fixture(name="site")
async def _site() -> AsyncIterator[str]:
    """A web server on 127.0.0.1: ``/page`` (HTML), ``/to?u=URL`` (a 302 to URL), ``/big`` (500 KB of
    text), ``/slow`` (answers after 5 s); its base URL named ``localhost``."""

    async def page(_: web.Request) -> web.Response:
        html = ("<html><head><title>Loopback Page</title><style>.x{color:red}</style></head><body>"
                "<h1>Hello tools</h1><script>var secret = 1;</script><p>Readable <b>text</b> here.</p></body></html>")  # fmt: skip
        return web.Response(text=html, content_type="text/html")

    async def to(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["u"])

    async def big(_: web.Request) -> web.Response:
        return web.Response(text="word " * 100_000, content_type="text/plain")

    async def slow(_: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/page", page)
    app.router.add_get("/to", to)
    app.router.add_get("/big", big)
    app.router.add_get("/slow", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://localhost:{port}"
    finally:
        await runner.cleanup()
