"""Test support: real servers on loopback ports, real clients. No mocks of our own code."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection

from clawgate.app import create_app
from clawgate.config import Settings, load_settings
from clawgate.server import GatewayServer, uvicorn_config
from clawgate.state import Gateway

TEST_KEY = "a" * 64
GATEWAY_TOKEN = "test-gateway-token-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


STUB_PROVIDER: dict[str, str] = {"name": "stub", "api_base": "http://127.0.0.1:9/v1"}
"""A provider agents can name (nothing listens at its URL)."""
RUNNABLE: dict[str, str] = {"provider": "stub", "model": "stub-model"}
"""What an agent needs to be created: a provider that exists (``STUB_PROVIDER``) and a model."""


async def add_stub_provider(server: RunningServer, token: str | None = GATEWAY_TOKEN, **headers: str) -> None:
    """Create provider ``stub`` (nothing listens at its URL) in the tenant of ``headers``, as the owner
    (the gateway token with user ``owner``; no token: development mode), unless it exists."""
    async with server.client(token, **{"X-GoClaw-User-Id": "owner", **headers}) as http:
        res = await http.post("/v1/providers", json=STUB_PROVIDER)
    assert res.status_code in {201, 409}, res.text


def make_settings(
    dsn: str, data_dir: Path, environ: dict[str, str] | None = None, **overrides: Any
) -> Settings:
    base: dict[str, Any] = {
        "database.dsn": dsn,
        "data_dir": str(data_dir),
        "encryption_key": TEST_KEY,
        "gateway.host": "127.0.0.1",
        "gateway.port": 0,
        "log.level": "warning",
    }
    base.update(overrides)
    return load_settings(None, environ=environ or {}, overrides=base)


@dataclass
class RunningServer:
    """A real uvicorn server running ClawGate in this event loop."""

    settings: Settings
    server: GatewayServer
    task: asyncio.Task[None]
    port: int
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def gateway(self) -> Gateway:
        # uvicorn wraps the app in its middleware only for some options: unwrap to Starlette.
        app: Any = self.server.config.loaded_app
        while not isinstance(app, Starlette):
            app = app.app
        gw: Gateway = app.state.gateway
        return gw

    def client(self, token: str | None = None, **headers: str) -> httpx.AsyncClient:
        hdrs = dict(headers)
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        return httpx.AsyncClient(base_url=self.url, headers=hdrs, timeout=10)

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=15)


class _QuickStopServer(GatewayServer):
    """The gateway's server, looking at ``should_exit`` every 10 ms instead of uvicorn's 100 ms: a
    test stops one or more servers each, and the wait added ~0.1 s to every one (~2 min a run)."""

    async def main_loop(self) -> None:
        ticks = 0
        while not await self.on_tick(ticks):
            ticks += 1
            await asyncio.sleep(0.01)


async def start_server(settings: Settings) -> RunningServer:
    port = settings.gateway.port or free_port()
    config = uvicorn_config(create_app(settings), settings, port=port)
    server = _QuickStopServer(config)
    task = asyncio.create_task(server.serve())
    for _ in range(600):
        if server.started:
            break
        if task.done():
            task.result()
            raise RuntimeError("server exited during startup")
        await asyncio.sleep(0.01)
    else:
        raise RuntimeError("server did not start in 6 s")
    return RunningServer(settings, server, task, port)


class WsClient:
    """A protocol-v3 client over a real ``websockets`` connection, reading on demand: ``recv``
    returns the next raw frame; ``call``/``response`` keep events (``events``) and other responses
    seen while they wait, so several requests may be in flight (``send`` then ``response``)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        self._responses: dict[str, dict[str, Any]] = {}

    async def send_raw(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def recv(self, timeout: float = 5.0) -> dict[str, Any]:
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        data: dict[str, Any] = json.loads(raw)
        return data

    async def _pump(self, timeout: float) -> None:
        """Read one frame and file it: events in ``events``, responses by id."""
        msg = await self.recv(timeout)
        if msg.get("type") == "event":
            self.events.append(msg)
        else:
            self._responses[str(msg.get("id"))] = msg

    async def send(self, method: str, params: Any = None) -> str:
        """Send a request without waiting; returns its id for ``response``."""
        rid = str(next(self._ids))
        frame: dict[str, Any] = {"type": "req", "id": rid, "method": method}
        if params is not None:
            frame["params"] = params
        await self.ws.send(json.dumps(frame))
        return rid

    async def response(self, rid: str, timeout: float = 10.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while rid not in self._responses:
                await self._pump(timeout)
        return self._responses.pop(rid)

    async def call(self, method: str, params: Any = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request and return its response frame, keeping events seen meanwhile."""
        return await self.response(await self.send(method, params), timeout)

    async def ok(self, method: str, params: Any = None, timeout: float = 10.0) -> Any:
        res = await self.call(method, params, timeout)
        assert res["ok"], res
        return res.get("payload")

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        """The first event (in arrival order) matching ``predicate``; others stay in ``events``."""
        async with asyncio.timeout(timeout):
            while True:
                for i, ev in enumerate(self.events):
                    if predicate(ev):
                        return self.events.pop(i)
                await self._pump(timeout)

    async def next_event(self, name: str, timeout: float = 5.0) -> dict[str, Any]:
        return await self.wait_for(lambda ev: ev.get("event") == name, timeout)

    async def run_event(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """The next ``agent`` event whose payload type is ``kind``."""
        return await self.wait_for(
            lambda ev: ev.get("event") == "agent" and ev["payload"]["type"] == kind, timeout
        )


@contextlib.asynccontextmanager
async def ws_connect(server: RunningServer, **connect_params: Any) -> AsyncIterator[WsClient]:
    """Open a WebSocket and, unless ``connect_params`` is ``{"_skip": True}``, send ``connect``."""
    skip = connect_params.pop("_skip", False)
    async with websockets.connect(server.ws_url, max_size=None) as ws:
        client = WsClient(ws)
        if not skip:
            res = await client.call("connect", connect_params)
            assert res["ok"], res
        yield client
