"""Loopback stand-ins for LLM providers that speak the real wire protocols: OpenAI chat completions
(JSON and SSE, tool calls, usage), OpenAI embeddings, and Anthropic Messages (JSON and SSE events).
Scripted per test."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support import free_port

Flavor = Literal["openai", "anthropic"]


@dataclass
class Reply:
    """One scripted answer. With no script, the stand-in echoes the last user message."""

    content: str = ""
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (name, arguments JSON)
    thinking: str = ""
    status: int = 200
    body: str | None = None  # raw body to send instead (garbage, provider error JSON)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # before answering
    chunk_delay: float = 0.0  # between stream chunks
    cut_off: bool = False  # stream ends without finishing
    drop: bool = False  # with cut_off: the connection drops instead, mid-body (no final chunk)
    usage: tuple[int, int] = (11, 7)
    chunks: int = 0  # split content into this many stream chunks (0: one per word)


class Upstream:
    def __init__(
        self, flavor: Flavor = "openai", api_key: str | None = None, models: list[str] | None = None
    ) -> None:
        self.flavor = flavor
        self.api_key = api_key  # when set, requests without it get the provider's 401
        self.replies: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.models = models or ["model-a", "model-b"]
        self.abandoned = 0  # streams whose client closed the connection before their end
        self.title = "Stand-in title"  # answer to the gateway's background title request
        self.title_reply: Reply | None = None  # when set, the title request gets this instead
        self.embed_dims = 384  # length of the stand-in's embeddings
        self.embeddings_down = False  # when set, /v1/embeddings answers 503
        self.embedding_inputs: list[list[str]] = []  # the inputs of each embeddings request
        self.embed_delay = 0.0  # seconds /v1/embeddings waits before it answers
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def base_url(self) -> str:
        suffix = "/v1" if self.flavor == "openai" else ""
        return f"http://127.0.0.1:{self.port}{suffix}"

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    @property
    def last_headers(self) -> dict[str, str]:
        """Headers of the last request (model list or chat)."""
        return self.headers[-1]

    def _refusal(self, request: Request) -> Response | None:
        """The provider's own 401 for a missing or wrong key (and Anthropic's 400 without a version)."""
        if self.flavor == "anthropic" and not request.headers.get("anthropic-version"):
            return JSONResponse({"type": "error", "error": {"type": "invalid_request_error",
                                 "message": "anthropic-version header is required"}}, 400)  # fmt: skip
        if self.api_key is None:
            return None
        given = request.headers.get("x-api-key") if self.flavor == "anthropic" else (
            request.headers.get("authorization", "").removeprefix("Bearer "))  # fmt: skip
        if given == self.api_key:
            return None
        if self.flavor == "anthropic":
            return JSONResponse({"type": "error", "error": {"type": "authentication_error",
                                 "message": "invalid x-api-key"}}, 401)  # fmt: skip
        return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                             "code": "invalid_api_key"}}, 401)  # fmt: skip

    @property
    def turns(self) -> list[dict[str, Any]]:
        """Requests of runs and compactions, without the background title requests."""
        return [r for r in self.requests if not _is_title(r)]

    def _next(self, body: dict[str, Any]) -> Reply:
        if _is_title(body):
            # Answered apart from the script: the title request races with the next run's calls.
            return self.title_reply or Reply(content=self.title)
        if self.replies:
            return self.replies.popleft()
        return Reply(content=f"echo: {_last_user_text(body)}")

    # -- app --------------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [Route("/v1/models", self._models, methods=["GET"])]
        if self.flavor == "openai":
            routes.append(Route("/v1/chat/completions", self._openai, methods=["POST"]))
            routes.append(Route("/v1/embeddings", self._embeddings, methods=["POST"]))
        else:
            routes.append(Route("/v1/messages", self._anthropic, methods=["POST"]))
        return Starlette(routes=routes)

    async def _models(self, request: Request) -> Response:
        self.headers.append(dict(request.headers))
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if self.replies and (self.replies[0].status != 200 or self.replies[0].body is not None):
            reply = self.replies.popleft()
            return Response(
                reply.body or json.dumps({"error": {"message": f"status {reply.status}"}}),
                reply.status,
                headers=reply.headers,
            )
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "stand-in"} for m in self.models]
        if self.flavor == "anthropic":
            data = [{"id": m, "type": "model", "display_name": m} for m in self.models]
        return JSONResponse({"data": data, "object": "list"})

    async def _embeddings(self, request: Request) -> Response:
        """OpenAI's ``/v1/embeddings``: deterministic bag-of-words vectors (``word_vector``)."""
        self.headers.append(dict(request.headers))
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        if self.embeddings_down:
            return JSONResponse({"error": {"message": "model overloaded", "type": "server_error"}}, 503)
        body = json.loads(await request.body())
        texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        self.embedding_inputs.append(texts)
        if self.embed_delay:
            await asyncio.sleep(self.embed_delay)
        data = [{"object": "embedding", "index": i, "embedding": word_vector(t, self.embed_dims)}
                for i, t in enumerate(texts)]  # fmt: skip
        tokens = sum(len(t.split()) for t in texts)
        return JSONResponse({"object": "list", "data": data, "model": body["model"],
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})  # fmt: skip

    async def _prelude(self, request: Request) -> tuple[dict[str, Any], Reply, Response | None]:
        body = json.loads(await request.body())
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        refusal = self._refusal(request)
        if refusal is not None:
            return body, Reply(status=refusal.status_code), refusal
        reply = self._next(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200 or reply.body is not None:
            text = (
                reply.body
                if reply.body is not None
                else json.dumps({"error": {"message": f"scripted {reply.status}"}})
            )
            return (
                body,
                reply,
                Response(text, reply.status, headers=reply.headers, media_type="application/json"),
            )
        return body, reply, None

    @staticmethod
    def _pieces(reply: Reply) -> list[str]:
        if not reply.content:
            return []
        if reply.chunks:
            size = max(1, -(-len(reply.content) // reply.chunks))
            return [reply.content[i : i + size] for i in range(0, len(reply.content), size)]
        words = reply.content.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]

    async def _openai(self, request: Request) -> Response:
        body, reply, early = await self._prelude(request)
        if early is not None:
            return early
        calls = [
            {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a}}
            for i, (n, a) in enumerate(reply.tool_calls)
        ]
        prompt, completion = reply.usage
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        finish = "tool_calls" if calls else "stop"
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
            if calls:
                message["tool_calls"] = calls
            return JSONResponse(
                {"id": "chatcmpl-x", "object": "chat.completion", "created": int(time.time()), "model": body["model"],
                 "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": usage}
            )  # fmt: skip
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        async def events() -> AsyncIterator[bytes]:
            def frame(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
                chunk = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}  # fmt: skip
                return f"data: {json.dumps(chunk)}\n\n".encode()

            yield frame({"role": "assistant", "content": ""})
            if reply.thinking:
                yield frame({"reasoning_content": reply.thinking})
            for piece in self._pieces(reply):
                if reply.chunk_delay:
                    await asyncio.sleep(reply.chunk_delay)
                yield frame({"content": piece})
            for i, call in enumerate(calls):
                yield frame({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                             "function": {"name": call["function"]["name"], "arguments": ""}}]})  # fmt: skip
                args = call["function"]["arguments"]
                half = len(args) // 2
                for part in (args[:half], args[half:]):
                    yield frame({"tool_calls": [{"index": i, "function": {"arguments": part}}]})
            if reply.cut_off:
                if reply.drop:
                    raise ConnectionAbortedError("the stand-in drops the connection")
                return
            yield frame({}, finish)
            if include_usage:
                yield f"data: {json.dumps({'id': 'chatcmpl-x', 'choices': [], 'usage': usage})}\n\n".encode()
            yield b"data: [DONE]\n\n"

        return StreamingResponse(self._watched(events()), media_type="text/event-stream")

    async def _anthropic(self, request: Request) -> Response:
        body, reply, early = await self._prelude(request)
        if early is not None:
            return early
        if problem := _thinking_problem(body):
            return JSONResponse(
                {"type": "error", "error": {"type": "invalid_request_error", "message": problem}}, 400
            )
        prompt, completion = reply.usage
        blocks: list[dict[str, Any]] = []
        if reply.thinking:
            blocks.append({"type": "thinking", "thinking": reply.thinking, "signature": "sig"})
        if reply.content:
            blocks.append({"type": "text", "text": reply.content})
        for i, (name, args) in enumerate(reply.tool_calls):
            blocks.append({"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": json.loads(args)})
        stop = "tool_use" if reply.tool_calls else "end_turn"
        if not body.get("stream"):
            return JSONResponse(
                {"id": "msg_x", "type": "message", "role": "assistant", "model": body["model"], "content": blocks,
                 "stop_reason": stop, "usage": {"input_tokens": prompt, "output_tokens": completion}}
            )  # fmt: skip

        async def events() -> AsyncIterator[bytes]:
            def sse(kind: str, data: dict[str, Any]) -> bytes:
                return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n".encode()

            yield sse("message_start", {"message": {"id": "msg_x", "type": "message", "role": "assistant", "content": [],
                                                    "model": body["model"], "usage": {"input_tokens": prompt, "output_tokens": 1}}})  # fmt: skip
            index = 0
            if reply.thinking:
                yield sse(
                    "content_block_start",
                    {"index": index, "content_block": {"type": "thinking", "thinking": ""}},
                )
                yield sse(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "thinking_delta", "thinking": reply.thinking}},
                )
                yield sse(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "signature_delta", "signature": "sig"}},
                )
                yield sse("content_block_stop", {"index": index})
                index += 1
            if reply.content:
                yield sse(
                    "content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}}
                )
                for piece in self._pieces(reply):
                    if reply.chunk_delay:
                        await asyncio.sleep(reply.chunk_delay)
                    yield sse(
                        "content_block_delta",
                        {"index": index, "delta": {"type": "text_delta", "text": piece}},
                    )
                yield sse("content_block_stop", {"index": index})
                index += 1
            for i, (name, args) in enumerate(reply.tool_calls):
                yield sse("content_block_start", {"index": index, "content_block": {"type": "tool_use", "id": f"toolu_{i}", "name": name, "input": {}}})  # fmt: skip
                yield sse(
                    "content_block_delta",
                    {"index": index, "delta": {"type": "input_json_delta", "partial_json": args}},
                )
                yield sse("content_block_stop", {"index": index})
                index += 1
            if reply.cut_off:
                if reply.drop:
                    raise ConnectionAbortedError("the stand-in drops the connection")
                return
            yield sse(
                "message_delta", {"delta": {"stop_reason": stop}, "usage": {"output_tokens": completion}}
            )
            yield sse("message_stop", {})

        return StreamingResponse(self._watched(events()), media_type="text/event-stream")

    async def _watched(self, events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        """``events``, counted in ``abandoned`` when the server stops sending because the client left."""
        finished = False
        try:
            async for frame in events:
                yield frame
            finished = True
        finally:
            if not finished:
                self.abandoned += 1

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_config=None, access_log=False,
                                lifespan="off")  # fmt: skip
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait_for(self._task, 10)


def word_vector(text: str, dims: int = 384) -> list[float]:
    """A cheap deterministic embedding: each lower-cased word adds 1 to a dimension picked by its
    hash; normalised. Texts sharing words are near, others orthogonal-ish."""
    vector = [0.0] * dims
    for word in re.findall(r"\w+", text.lower()):
        vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dims] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _last_user_text(body: dict[str, Any]) -> str:
    messages = body.get("messages") or []
    last = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last.get("content")
    if isinstance(content, list):
        content = " ".join(
            str(b.get("text") or b.get("content") or "") for b in content if isinstance(b, dict)
        )
    return str(content)


def _thinking_problem(body: dict[str, Any]) -> str:
    """The real Messages API's rule: with thinking on, the assistant turn whose tool_use the request
    answers must start with its signed thinking block."""
    if not body.get("thinking"):
        return ""
    turns = [m for m in body.get("messages") or [] if m.get("role") == "assistant"]
    content = turns[-1]["content"] if turns else ""
    if not isinstance(content, list) or not any(b.get("type") == "tool_use" for b in content):
        return ""
    first = content[0]
    if first.get("type") == "thinking" and first.get("signature") and first.get("thinking"):
        return ""
    return (
        f"messages.{body['messages'].index(turns[-1])}.content.0.type: Expected `thinking` or "
        f"`redacted_thinking`, but found `{first.get('type')}`. When `thinking` is enabled, a final "
        "`assistant` message must start with a thinking block"
    )


def _is_title(body: dict[str, Any]) -> bool:
    return _last_user_text(body).startswith("Write a title")


@contextlib.asynccontextmanager
async def stand_in(
    flavor: Flavor = "openai", api_key: str | None = None, models: list[str] | None = None
) -> AsyncIterator[Upstream]:
    up = Upstream(flavor, api_key, models)
    await up.start()
    try:
        yield up
    finally:
        await up.stop()


def unreachable_url() -> str:
    """An address where nothing listens (a port just found free)."""
    return f"http://127.0.0.1:{free_port()}/v1"
