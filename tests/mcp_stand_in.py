"""The MCP stand-in (``tests.mcp_servers.stand_in``) over HTTP on a loopback port."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import uvicorn

from tests.mcp_servers.stand_in import SCRIPT, build
from tests.support import free_port

__all__ = ["GARBLED", "SCRIPT", "HttpMcpServer"]

GARBLED = str(Path(SCRIPT).with_name("garbled.py"))
"""A stdio server that answers tool calls with malformed JSON-RPC."""


class HttpMcpServer:
    """The stand-in over streamable HTTP (``/mcp``) or, with ``transport="sse"``, the older SSE
    transport (``/sse``), at ``url`` (uvicorn on a free loopback port)."""

    def __init__(self, transport: str = "streamable-http") -> None:
        self.port = free_port()
        self.transport = transport
        path = "/sse" if transport == "sse" else "/mcp"
        self.url = f"http://127.0.0.1:{self.port}{path}"
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HttpMcpServer:
        server = build()
        app = server.sse_app() if self.transport == "sse" else server.streamable_http_app()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        assert self._task is not None
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(self._task, 10)
