"""A loopback stand-in for Anthropic's Messages API: ``GET /v1/models`` and ``POST /v1/messages``
(JSON, or SSE ``message_start`` / ``content_block_*`` / ``message_delta`` / ``message_stop`` with
``stream: true``; text, thinking and ``tool_use`` blocks)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._server import Recorded, StandIn, json_body, raw_body, sleep_then, sse
from .replies import Reply

__all__ = ["AnthropicStandIn"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_STOP = {"stop": "end_turn", "length": "max_tokens"}
_seq = itertools.count(1)


def error_envelope(status: int, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message}}


@dataclass
class AnthropicStandIn(StandIn):
    """Use ``url`` (the server root; ``/v1`` is part of each path) as the provider's ``api_base``."""

    @property
    def url(self) -> str:
        return self.base_url

    def routes(self) -> list[Route]:
        return [
            Route("/v1/models", self._models, methods=["GET"]),
            Route("/v1/messages", self._messages, methods=["POST"]),
        ]

    def unauthorized(self, request: Request) -> Response | None:
        if self.api_key is None or request.headers.get("x-api-key") == self.api_key:
            return None
        return json_body(error_envelope(401, "invalid x-api-key"), 401)

    def _checked(self, request: Request, reply: Reply) -> Response | None:
        if not request.headers.get("anthropic-version"):
            return json_body(error_envelope(400, "anthropic-version: header is required"), 400)
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
        if (failed := self._checked(request, reply)) is not None:
            return failed
        data = [
            {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
            for m in self.models
        ]
        first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
        return json_body(
            {"data": data, "has_more": False, "first_id": first, "last_id": last}, headers=reply.headers
        )

    async def _messages(self, request: Request) -> Response:
        rec = await self.record(request)
        if (denied := self.unauthorized(request)) is not None:
            return denied
        body = rec.json
        if (
            not isinstance(body, dict)
            or not body.get("model")
            or not isinstance(body.get("max_tokens"), int)
            or not isinstance(body.get("messages"), list)
        ):
            return json_body(error_envelope(400, "model, max_tokens and messages are required"), 400)
        reply = self.next_reply("chat", rec)
        await sleep_then(reply)
        if (failed := self._checked(request, reply)) is not None:
            return failed
        if rec.stream:
            return sse(_events(reply, rec), reply)
        return json_body(_message(reply, str(body["model"])), headers=reply.headers)


def _stop_reason(reply: Reply) -> str:
    return (
        "tool_use" if reply.tool_calls else _STOP.get(reply.finish_reason, reply.finish_reason or "end_turn")
    )


def _blocks(reply: Reply) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.reasoning:
        blocks.append({"type": "thinking", "thinking": reply.reasoning, "signature": "stand-in-signature"})
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in reply.tool_calls
    ]
    return blocks


def _message(reply: Reply, model: str) -> dict[str, Any]:
    return {
        "id": f"msg_standin_{next(_seq)}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": _blocks(reply),
        "stop_reason": _stop_reason(reply),
        "stop_sequence": None,
        "usage": {"input_tokens": reply.usage.input_tokens, "output_tokens": reply.usage.output_tokens},
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


def _events(reply: Reply, rec: Recorded) -> list[bytes]:
    """The SSE events of a streamed message, as Anthropic sends them."""
    message = _message(reply, str(rec.json["model"]))
    start = {**message, "content": [], "stop_reason": None,
             "usage": {"input_tokens": reply.usage.input_tokens, "output_tokens": 1}}  # fmt: skip
    events = [_event("message_start", {"message": start}), _event("ping", {})]
    size = max(1, reply.chunk_size)
    for index, block in enumerate(message["content"]):
        kind = block["type"]
        if kind == "text":
            opened: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in reply.chunks()]
        elif kind == "thinking":
            opened = {"type": "thinking", "thinking": "", "signature": ""}
            text = block["thinking"]
            deltas = [
                {"type": "thinking_delta", "thinking": text[i : i + size]} for i in range(0, len(text), size)
            ]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            opened = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            args = orjson.dumps(block["input"]).decode()
            step = size * 4
            deltas = [
                {"type": "input_json_delta", "partial_json": args[i : i + step]}
                for i in range(0, len(args), step)
            ]
        events.append(_event("content_block_start", {"index": index, "content_block": opened}))
        events += [_event("content_block_delta", {"index": index, "delta": d}) for d in deltas]
        events.append(_event("content_block_stop", {"index": index}))
    final = {
        "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
        "usage": {"output_tokens": reply.usage.output_tokens},
    }
    events.append(_event("message_delta", final))
    events.append(_event("message_stop", {}))
    return events
