"""The baseline the benchmarks compare ClawGate against: a bare Starlette app with a ``/health``
that returns the same bytes as ClawGate's, and a WebSocket echo at ``/ws``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

_HEALTH = b'{"status":"ok","protocol":3,"version":"0.1.0"}'


async def health(_request: Request) -> Response:
    return Response(_HEALTH, media_type="application/json")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect:
        pass


app = Starlette(routes=[Route("/health", health), WebSocketRoute("/ws", echo)])
