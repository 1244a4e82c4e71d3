"""The machinery shared by the stand-ins: a Starlette app on a real uvicorn server on a free
loopback port, per-route reply queues, and a record of every request received."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from .replies import Reply, text

__all__ = ["Recorded", "Responder", "StandIn", "unreachable_url"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unreachable_url(path: str = "/v1") -> str:
    """A loopback URL where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{_free_port()}{path}"


@dataclass
class Recorded:
    """One request the stand-in received."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None

    @property
    def stream(self) -> bool:
        return isinstance(self.json, dict) and bool(self.json.get("stream"))


Responder = Callable[[Recorded], Reply]
"""A function choosing the reply from the request, for replies that depend on what was sent."""


class _CutStream(Exception):
    """Raised inside a streaming body to drop the connection mid-stream (``Reply.cut_after``)."""


@dataclass
class StandIn:
    """A scriptable loopback upstream. Subclasses supply the routes and the wire format.

    Scripted replies are consumed in order, per route (``chat``, ``models``, ``embeddings``);
    once a route's queue is empty it answers ``defaults[route]`` (or the subclass's default).
    """

    api_key: str | None = None
    models: list[str] = field(default_factory=lambda: ["model-a", "model-b"])
    requests: list[Recorded] = field(default_factory=list)
    defaults: dict[str, Reply | Responder] = field(default_factory=dict)
    port: int = 0
    _queues: dict[str, deque[Reply | Responder]] = field(default_factory=dict)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    # -- scripting --------------------------------------------------------------------------------

    def script(self, *replies: Reply | Responder, route: str = "chat") -> None:
        """Queue ``replies`` (or functions of the request) for the next requests on ``route``."""
        self._queues.setdefault(route, deque()).extend(replies)

    def always(self, reply: Reply | Responder, route: str = "chat") -> None:
        """Answer ``reply`` on ``route`` whenever nothing is queued."""
        self.defaults[route] = reply

    def requests_to(self, route_path: str) -> list[Recorded]:
        """The recorded requests whose path ends with ``route_path``."""
        return [r for r in self.requests if r.path.endswith(route_path)]

    @property
    def last(self) -> Recorded:
        assert self.requests, "the stand-in has received no request"
        return self.requests[-1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_reply(self, route: str, request: Recorded) -> Reply:
        queue = self._queues.get(route)
        item: Reply | Responder | None = queue.popleft() if queue else None
        if item is None:
            item = self.defaults.get(route) or self.default_reply(route)
        return item(request) if callable(item) else item

    def default_reply(self, route: str) -> Reply:
        return text("ok")

    # -- serving ----------------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        raise NotImplementedError

    def unauthorized(self, request: Request) -> Response | None:
        """The provider's 401 when ``api_key`` is set and the request does not carry it."""
        return None

    async def record(self, request: Request) -> Recorded:
        raw = await request.body()
        try:
            data = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            data = None
        rec = Recorded(request.method, request.url.path, dict(request.headers), raw, data)
        self.requests.append(rec)
        return rec

    async def start(self) -> None:
        self.port = _free_port()
        app = Starlette(routes=self.routes())
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(500):
            if self._server.started:
                return
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        raise RuntimeError("stand-in did not start in 5 s")

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self._task, timeout=5)
        self._server = None
        self._task = None


async def sleep_then(reply: Reply) -> None:
    if reply.delay:
        await asyncio.sleep(reply.delay)


def json_body(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json", headers=headers)


def raw_body(reply: Reply) -> Response:
    assert reply.body is not None
    return Response(
        reply.body, status_code=reply.status, media_type="application/json", headers=reply.headers
    )


def sse(events: list[bytes], reply: Reply) -> StreamingResponse:
    """Stream pre-rendered SSE ``events``, honouring ``chunk_delay`` and ``cut_after``."""

    async def body() -> AsyncIterator[bytes]:
        for index, event in enumerate(events):
            if reply.cut_after is not None and index >= reply.cut_after:
                raise _CutStream("stand-in dropped the stream on purpose")
            if reply.chunk_delay and index:
                await asyncio.sleep(reply.chunk_delay)
            yield event

    return StreamingResponse(
        body(), status_code=reply.status, media_type="text/event-stream", headers=reply.headers
    )
