"""A loopback OpenAI-compatible upstream that answers at once (the issue's baseline upstream).

uvicorn _upstream:app --app-dir bench --port N

A request whose last message is a user message containing ``use-tool`` is answered with one call of
the tool ``session_info`` (``tools.py``); the next request (its last message the tool's result) gets
the usual answer.

With ``BENCH_STREAM_TOKENS`` (and ``BENCH_STREAM_DELAY_MS``) in its environment, a streamed answer is
that many tokens, the first at once and each next one after the delay (``ws_chat.py``: 20 tokens at
20 ms, as a real model streams); plain answers stay immediate. The first token carries this process's
own time to it: ``t0@<request in>@<first token out>`` (``time.monotonic()``, one clock for every
process of the machine), so that a client measures, request by request, what the hops in between
added to the upstream's own time.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

_ANSWER = {
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench-model",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello from the upstream."},
                 "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
}  # fmt: skip
_BODY = json.dumps(_ANSWER).encode()


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    data = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}  # fmt: skip
    return b"data: " + json.dumps(data).encode() + b"\n\n"


_STREAM = (
    _chunk({"role": "assistant", "content": ""})
    + b"".join(_chunk({"content": w}) for w in ("Hello ", "from ", "the ", "upstream."))
    + _chunk({}, "stop")
    + b'data: {"id":"chatcmpl-bench","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":6,"total_tokens":18}}\n\n'
    + b"data: [DONE]\n\n"
)


_TOKENS = int(os.environ.get("BENCH_STREAM_TOKENS", "0"))
_DELAY = int(os.environ.get("BENCH_STREAM_DELAY_MS", "0")) / 1000
_END = (
    _chunk({}, "stop")
    + b'data: {"id":"chatcmpl-bench","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":%d,"total_tokens":%d}}\n\n'
    % (_TOKENS, 12 + _TOKENS)
    + b"data: [DONE]\n\n"
)


async def _paced(arrived: float):  # type: ignore[no-untyped-def]
    stamp = f"t0@{arrived:.6f}@{time.monotonic():.6f} "
    yield _chunk({"role": "assistant", "content": ""}) + _chunk({"content": stamp})
    for n in range(1, _TOKENS):
        await asyncio.sleep(_DELAY)
        yield _chunk({"content": f"t{n} "})
    yield _END


_CALL = {
    "index": 0,
    "id": "call_bench",
    "type": "function",
    "function": {"name": "session_info", "arguments": "{}"},
}
_TOOL_STREAM = (
    _chunk({"role": "assistant", "content": None, "tool_calls": [_CALL]})
    + _chunk({}, "tool_calls")
    + b'data: {"id":"chatcmpl-bench","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}\n\n'
    + b"data: [DONE]\n\n"
)
_TOOL_ANSWER = json.dumps({
    **_ANSWER, "choices": [{"index": 0, "finish_reason": "tool_calls",
                            "message": {"role": "assistant", "content": None, "tool_calls": [_CALL]}}],
}).encode()  # fmt: skip


def _wants_tool(body: bytes) -> bool:
    if b"use-tool" not in body:
        return False
    messages = json.loads(body).get("messages") or [{}]
    last = messages[-1]
    return last.get("role") == "user" and "use-tool" in json.dumps(last.get("content"))


async def completions(request: Request) -> Response:
    arrived = time.monotonic()
    body = await request.body()
    if _wants_tool(body):
        if b'"stream":true' in body.replace(b" ", b""):

            async def calls():  # type: ignore[no-untyped-def]
                yield _TOOL_STREAM

            return StreamingResponse(calls(), media_type="text/event-stream")
        return Response(_TOOL_ANSWER, media_type="application/json")
    if b'"stream":true' in body.replace(b" ", b""):
        if _TOKENS:
            return StreamingResponse(_paced(arrived), media_type="text/event-stream")

        async def events():  # type: ignore[no-untyped-def]
            yield _STREAM

        return StreamingResponse(events(), media_type="text/event-stream")
    return Response(_BODY, media_type="application/json")


async def models(request: Request) -> Response:
    return JSONResponse({"object": "list", "data": [{"id": "bench-model", "object": "model"}]})


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


app = Starlette(
    routes=[
        Route("/v1/chat/completions", completions, methods=["POST"]),
        Route("/v1/models", models),
        Route("/health", health),
    ]
)
