"""A loopback stand-in for an OpenAI-compatible upstream: ``GET /v1/models``,
``POST /v1/chat/completions`` (JSON or SSE with ``stream: true``, tool calls, usage) and
``POST /v1/embeddings`` (deterministic vectors, float or base64)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import math
import struct
import time
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._server import Recorded, StandIn, json_body, raw_body, sleep_then, sse
from .replies import Reply

__all__ = ["OpenAIStandIn", "fake_embedding"]

_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def fake_embedding(text: str, dims: int) -> list[float]:
    """A deterministic unit vector for ``text``: equal texts embed equally."""
    out: list[float] = []
    for block in itertools.count():
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        out += [(b - 127.5) / 127.5 for b in digest]
        if len(out) >= dims:
            break
    vec = out[:dims]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def error_envelope(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERROR_KINDS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None)
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


@dataclass
class OpenAIStandIn(StandIn):
    """Use ``url`` (ending in ``/v1``) as the provider's ``api_base``."""

    embedding_dims: int = 1536

    @property
    def url(self) -> str:
        return f"{self.base_url}/v1"

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/v1/chat/completions", self._chat, methods=["POST"]),
            Route("/v1/embeddings", self._embeddings, methods=["POST"]),
        ]

    def unauthorized(self, request: Request) -> Response | None:
        if self.api_key is None or request.headers.get("authorization") == f"Bearer {self.api_key}":
            return None
        return json_body(error_envelope(401, "Incorrect API key provided."), 401)

    def _failure(self, reply: Reply) -> Response | None:
        if reply.body is not None:
            return raw_body(reply)
        if reply.is_error:
            return json_body(error_envelope(reply.status, reply.message), reply.status, reply.headers)
        return None

    async def _models(self, request: Request) -> Response:
        rec = await self.record(request)
        if (denied := self.unauthorized(request)) is not None:
            return denied
        reply = self.next_reply("models", rec)
        await sleep_then(reply)
        if (failed := self._failure(reply)) is not None:
            return failed
        data = [
            {"id": m, "object": "model", "created": 1700000000, "owned_by": "stand-in"} for m in self.models
        ]
        return json_body({"object": "list", "data": data}, headers=reply.headers)

    async def _chat(self, request: Request) -> Response:
        rec = await self.record(request)
        if (denied := self.unauthorized(request)) is not None:
            return denied
        body = rec.json
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("messages"), list):
            return json_body(error_envelope(400, "'model' and 'messages' are required"), 400)
        reply = self.next_reply("chat", rec)
        await sleep_then(reply)
        if (failed := self._failure(reply)) is not None:
            return failed
        if rec.stream:
            return sse(_chunks(reply, rec), reply)
        return json_body(_completion(reply, str(body["model"])), headers=reply.headers)

    async def _embeddings(self, request: Request) -> Response:
        rec = await self.record(request)
        if (denied := self.unauthorized(request)) is not None:
            return denied
        body = rec.json if isinstance(rec.json, dict) else {}
        reply = self.next_reply("embeddings", rec)
        await sleep_then(reply)
        if (failed := self._failure(reply)) is not None:
            return failed
        inputs = body.get("input")
        texts = [inputs] if isinstance(inputs, str) else inputs
        if not isinstance(texts, list) or not texts or not body.get("model"):
            return json_body(error_envelope(400, "'model' and a non-empty 'input' are required"), 400)
        dims = int(body.get("dimensions") or self.embedding_dims)
        items = []
        for index, item in enumerate(texts):
            vector = fake_embedding(str(item), dims)
            encoded: Any = vector
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
            items.append({"object": "embedding", "index": index, "embedding": encoded})
        tokens = sum(len(str(t).split()) for t in texts)
        return json_body(
            {"object": "list", "data": items, "model": body["model"],
             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}},
            headers=reply.headers,
        )  # fmt: skip


_seq = itertools.count(1)


def _usage(reply: Reply) -> dict[str, int]:
    u = reply.usage
    return {
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
    }


def _finish(reply: Reply) -> str:
    return "tool_calls" if reply.tool_calls else (reply.finish_reason or "stop")


def _completion(reply: Reply, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function",
             "function": {"name": c.name, "arguments": orjson.dumps(c.arguments).decode()}}
            for c in reply.tool_calls
        ]  # fmt: skip
    return {
        "id": f"chatcmpl-standin-{next(_seq)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": _finish(reply), "logprobs": None}],
        "usage": _usage(reply),
    }


def _chunks(reply: Reply, rec: Recorded) -> list[bytes]:
    """The SSE events of a streamed completion, ending with ``data: [DONE]``."""
    body = rec.json
    ident, created, model = f"chatcmpl-standin-{next(_seq)}", int(time.time()), str(body["model"])

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        data = {
            "id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }  # fmt: skip
        return b"data: " + orjson.dumps(data) + b"\n\n"

    events = [chunk({"role": "assistant", "content": ""})]
    size = max(1, reply.chunk_size)
    for i in range(0, len(reply.reasoning), size):
        events.append(chunk({"reasoning_content": reply.reasoning[i : i + size]}))
    events += [chunk({"content": piece}) for piece in reply.chunks()]
    for index, call in enumerate(reply.tool_calls):
        head = {
            "index": index,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        events.append(chunk({"tool_calls": [head]}))
        args = orjson.dumps(call.arguments).decode()
        for i in range(0, len(args), size * 4):
            events.append(
                chunk({"tool_calls": [{"index": index, "function": {"arguments": args[i : i + size * 4]}}]})
            )
    events.append(chunk({}, _finish(reply)))
    options = body.get("stream_options") or {}
    if isinstance(options, dict) and options.get("include_usage"):
        usage = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                 "choices": [], "usage": _usage(reply)}  # fmt: skip
        events.append(b"data: " + orjson.dumps(usage) + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return events
