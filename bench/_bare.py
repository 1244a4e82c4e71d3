"""The baseline the benchmarks compare ClawGate against: a bare Starlette app with a ``/health``
that returns the same bytes as ClawGate's, a WebSocket echo at ``/ws``, and at ``/relay?upstream=URL``
the least a streaming chat relay does: for each text message, a streamed chat completion from the
upstream through aiohttp, each SSE chunk's content sent on as a JSON event frame, then an answer frame
(no authentication, no session, no database)."""

from __future__ import annotations

import aiohttp
import orjson
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


_BODY = orjson.dumps(
    {"model": "bench-model", "stream": True, "messages": [{"role": "user", "content": "hello"}]}
)
_session: aiohttp.ClientSession | None = None


async def relay(websocket: WebSocket) -> None:
    global _session
    if _session is None:
        _session = aiohttp.ClientSession()
    url = websocket.query_params["upstream"] + "/v1/chat/completions"
    await websocket.accept()
    try:
        while True:
            rid = orjson.loads(await websocket.receive_text())["id"]
            async with _session.post(url, data=_BODY, headers={"Content-Type": "application/json"}) as res:
                async for line in res.content:
                    if not line.startswith(b"data: {"):
                        continue
                    choices = orjson.loads(line[6:])["choices"]
                    content = choices[0]["delta"].get("content") if choices else None
                    if content:
                        event = {
                            "type": "event",
                            "event": "agent",
                            "payload": {"type": "chunk", "content": content},
                        }
                        await websocket.send_text(orjson.dumps(event).decode())
            await websocket.send_text(orjson.dumps({"type": "res", "id": rid, "ok": True}).decode())
    except WebSocketDisconnect:
        pass


app = Starlette(
    routes=[Route("/health", health), WebSocketRoute("/ws", echo), WebSocketRoute("/relay", relay)]
)
