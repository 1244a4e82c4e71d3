"""OpenAI's wire types for ``/v1/chat/completions`` and ``/v1/responses``, and their converters to
and from the gateway's own types (``ChatMessage``, ``ToolSpec``, ``ExchangeRequest``).

Requests accept the fields the official SDKs send (the ones the gateway does not use are ignored;
the ones it uses are validated). Rules (agents, sessions, recording) are in
``clawgate.services.openai_compat``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.errors import InvalidRequest
from clawgate.providers.types import ChatMessage, ToolCall, ToolCallDelta, ToolSpec, Usage
from clawgate.runtime.loop import LoopResult
from clawgate.services.openai_compat import ExchangeRequest
from clawgate.wire import ChatText, Positive

__all__ = [
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionRequest",
    "ChunkChoice",
    "ContentPartAdded",
    "ContentPartDone",
    "Delta",
    "OutputItemAdded",
    "OutputItemDone",
    "OutputMessage",
    "OutputText",
    "OutputTextDelta",
    "OutputTextDone",
    "ResponseCompleted",
    "ResponseCreated",
    "ResponseError",
    "ResponseEvent",
    "ResponseFailed",
    "ResponseInProgress",
    "ResponseObject",
    "ResponseStatus",
    "ResponsesRequest",
    "chat_completion",
    "chat_exchange",
    "chat_messages",
    "completion_usage",
    "response_messages",
    "response_object",
    "responses_exchange",
    "tool_call_deltas",
]


class _ContentPart(Struct, kw_only=True):
    type: str
    text: ChatText = ""


class _FunctionCall(Struct, kw_only=True):
    name: str
    arguments: str = "{}"


class _ToolCallIn(Struct, kw_only=True):
    id: str
    function: _FunctionCall
    type: str = "function"


class OAMessage(Struct, kw_only=True):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: ChatText | list[_ContentPart] | None = None
    name: str | None = None
    tool_calls: list[_ToolCallIn] | None = None
    tool_call_id: str | None = None


class _Function(Struct, kw_only=True):
    name: Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    description: str = ""
    parameters: dict[str, Any] = {}
    strict: bool | None = None


class OATool(Struct, kw_only=True):
    type: Literal["function"]
    function: _Function


class _StreamOptions(Struct, kw_only=True):
    include_usage: bool = False


class ChatCompletionRequest(Struct, kw_only=True):
    """``POST /v1/chat/completions``. Fields the gateway does not use are accepted and ignored, as
    OpenAI's SDK sends many; the ones it uses are validated."""

    model: Annotated[str, Meta(min_length=1)]
    messages: Annotated[list[OAMessage], Meta(min_length=1)]
    stream: bool = False
    stream_options: _StreamOptions | None = None
    tools: list[OATool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    max_tokens: Positive | None = None
    max_completion_tokens: Positive | None = None
    stop: str | list[str] | None = None
    user: Annotated[str, Meta(max_length=255)] | None = None
    n: Annotated[int, Meta(ge=1, le=1)] | None = None


class _InputContent(Struct, kw_only=True):
    type: str
    text: ChatText = ""


class _InputItem(Struct, kw_only=True):
    type: str = "message"
    role: Literal["system", "developer", "user", "assistant"] | None = None
    content: ChatText | list[_InputContent] | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: ChatText | None = None


class _ResponsesTool(Struct, kw_only=True):
    type: Literal["function"]
    name: str
    description: str = ""
    parameters: dict[str, Any] = {}
    strict: bool | None = None


class ResponsesRequest(Struct, kw_only=True):
    """``POST /v1/responses`` (OpenAI Responses API), also accepting GoClaw's ``messages`` form."""

    model: Annotated[str, Meta(min_length=1)]
    input: ChatText | list[_InputItem] | None = None
    messages: list[OAMessage] | None = None
    instructions: str | None = None
    stream: bool = False
    tools: list[_ResponsesTool] | None = None
    tool_choice: str | dict[str, Any] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    max_output_tokens: Positive | None = None
    max_tokens: Positive | None = None
    user: Annotated[str, Meta(max_length=255)] | None = None


def _text(content: str | list[Any] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    parts = []
    for part in content:
        if part.type in {"text", "input_text", "output_text"}:
            parts.append(part.text)
        else:
            raise InvalidRequest(
                detail=f"content part type {part.type!r} is not supported; send text",
                details={"param": "messages"},
            )
    return "\n".join(parts)


def chat_messages(messages: list[OAMessage]) -> list[ChatMessage]:
    out = []
    for m in messages:
        role = "system" if m.role == "developer" else m.role
        calls = [
            ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments)
            for c in m.tool_calls or []
        ]
        out.append(
            ChatMessage(
                role=role,
                content=_text(m.content),
                name=m.name or "",
                tool_calls=calls,
                tool_call_id=m.tool_call_id or "",
            )
        )
    return out


def response_messages(req: ResponsesRequest) -> list[ChatMessage]:
    if req.messages is not None:
        out = chat_messages(req.messages)
    elif isinstance(req.input, str):
        out = [ChatMessage(role="user", content=req.input)]
    elif req.input:
        out = []
        for item in req.input:
            if item.type == "function_call":
                call = ToolCall(id=item.call_id or "", name=item.name or "", arguments=item.arguments or "{}")
                if out and out[-1].role == "assistant" and not out[-1].content:
                    out[-1].tool_calls.append(call)
                else:
                    out.append(ChatMessage(role="assistant", tool_calls=[call]))
            elif item.type == "function_call_output":
                out.append(
                    ChatMessage(role="tool", content=item.output or "", tool_call_id=item.call_id or "")
                )
            else:
                role = "system" if item.role == "developer" else (item.role or "user")
                out.append(ChatMessage(role=role, content=_text(item.content)))
    else:
        raise InvalidRequest(detail="input (or messages) is required", details={"param": "input"})
    if req.instructions:
        out.insert(0, ChatMessage(role="system", content=req.instructions))
    return out


def _stop(stop: str | list[str] | None) -> list[str] | None:
    if stop is None:
        return None
    return [stop] if isinstance(stop, str) else stop


def _tool(name: str, description: str, parameters: dict[str, Any]) -> ToolSpec:
    return ToolSpec(
        name=name, description=description, parameters=parameters or {"type": "object", "properties": {}}
    )


def chat_exchange(body: ChatCompletionRequest, session_key: str, agent: str) -> ExchangeRequest:
    """The exchange a chat completion asks for (``session_key``, ``agent``: the GoClaw headers)."""
    return ExchangeRequest(
        model=body.model, messages=chat_messages(body.messages), prefix="chatcmpl-",
        client_tools=[_tool(t.function.name, t.function.description, t.function.parameters) for t in body.tools or []],
        tool_choice=body.tool_choice, stream=body.stream, temperature=body.temperature,
        max_tokens=body.max_completion_tokens or body.max_tokens, stop=_stop(body.stop), user=body.user,
        session_key=session_key, agent=agent,
    )  # fmt: skip


def responses_exchange(body: ResponsesRequest, session_key: str, agent: str) -> ExchangeRequest:
    """The exchange a Responses API request asks for (``session_key``, ``agent``: the GoClaw headers)."""
    return ExchangeRequest(
        model=body.model, messages=response_messages(body), prefix="resp_",
        client_tools=[_tool(t.name, t.description, t.parameters) for t in body.tools or []],
        tool_choice=body.tool_choice, stream=body.stream, temperature=body.temperature,
        max_tokens=body.max_output_tokens or body.max_tokens, user=body.user, session_key=session_key,
        agent=agent,
    )  # fmt: skip


# -- chat completions: responses ----------------------------------------------------------------


class FunctionOut(Struct, kw_only=True):
    name: str
    arguments: str


class ToolCallOut(Struct, kw_only=True):
    id: str
    type: Literal["function"] = "function"
    function: FunctionOut


class AssistantMessage(Struct, kw_only=True):
    role: Literal["assistant"] = "assistant"
    content: str | None
    refusal: None = None
    tool_calls: list[ToolCallOut] | UnsetType = UNSET  # only when the model called tools


class CompletionUsage(Struct, kw_only=True):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class Choice(Struct, kw_only=True):
    index: int = 0
    message: AssistantMessage
    finish_reason: str
    logprobs: None = None


class ChatCompletion(Struct, kw_only=True):
    """``POST /v1/chat/completions`` without ``stream``: OpenAI's ``chat.completion`` object."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: None = None


class FunctionDelta(Struct, kw_only=True):
    arguments: str
    name: str | UnsetType = UNSET


class ToolCallDeltaOut(Struct, kw_only=True):
    index: int
    function: FunctionDelta
    id: str | UnsetType = UNSET  # with ``type``, on the first piece of a call
    type: Literal["function"] | UnsetType = UNSET


class Delta(Struct, kw_only=True):
    role: Literal["assistant"] | UnsetType = UNSET
    content: str | UnsetType = UNSET
    tool_calls: list[ToolCallDeltaOut] | UnsetType = UNSET


class ChunkChoice(Struct, kw_only=True):
    index: int = 0
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(Struct, kw_only=True):
    """One ``data:`` event of a streamed chat completion; the last one (with ``stream_options.
    include_usage``) has no choices and the usage."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    system_fingerprint: UnsetType | None = None
    choices: list[ChunkChoice]
    usage: CompletionUsage | UnsetType = UNSET


def completion_usage(usage: Usage) -> CompletionUsage:
    return CompletionUsage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    )


def chat_completion(exchange_id: str, created: int, model: str, res: LoopResult) -> ChatCompletion:
    """The answer of a chat completion that was not streamed."""
    message = AssistantMessage(content=res.content or None)
    if res.tool_calls:
        message.tool_calls = [
            ToolCallOut(id=c.id, function=FunctionOut(name=c.name, arguments=c.arguments))
            for c in res.tool_calls
        ]
    return ChatCompletion(
        id=exchange_id, created=created, model=model,
        choices=[Choice(message=message, finish_reason=res.finish_reason)], usage=completion_usage(res.usage),
    )  # fmt: skip


def tool_call_deltas(pieces: list[ToolCallDelta]) -> list[ToolCallDeltaOut]:
    """The loop's ``tool_call_delta`` pieces (``index``, and ``id``/``name``/``arguments`` as they
    come) in OpenAI's streamed form."""
    out = []
    for piece in pieces:
        delta = ToolCallDeltaOut(index=piece.index, function=FunctionDelta(arguments=piece.arguments))
        if piece.id:
            delta.id, delta.type = piece.id, "function"
        if piece.name:
            delta.function.name = piece.name
        out.append(delta)
    return out


# -- responses: responses -----------------------------------------------------------------------


class OutputText(Struct, kw_only=True, tag_field="type", tag="output_text"):
    text: str
    annotations: list[Any] = []


class OutputMessage(Struct, kw_only=True, tag_field="type", tag="message"):
    id: str
    status: Literal["in_progress", "completed"]
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class OutputFunctionCall(Struct, kw_only=True, tag_field="type", tag="function_call"):
    id: str
    call_id: str
    name: str
    arguments: str
    status: Literal["completed"] = "completed"


class InputTokensDetails(Struct, kw_only=True, frozen=True):
    cached_tokens: int = 0


class OutputTokensDetails(Struct, kw_only=True, frozen=True):
    reasoning_tokens: int = 0


class ResponseUsage(Struct, kw_only=True):
    input_tokens: int
    output_tokens: int
    total_tokens: int
    input_tokens_details: InputTokensDetails = InputTokensDetails()
    output_tokens_details: OutputTokensDetails = OutputTokensDetails()


class ResponseError(Struct, kw_only=True):
    code: str
    message: str


ResponseStatus = Literal["in_progress", "completed", "failed"]


class ResponseObject(Struct, kw_only=True):
    """``POST /v1/responses`` without ``stream``: OpenAI's ``response`` object (``output_text``
    only there); also the ``response`` of the stream's lifecycle events."""

    id: str
    object: Literal["response"] = "response"
    created_at: int
    status: ResponseStatus
    model: str
    output: list[OutputMessage | OutputFunctionCall] = []
    usage: ResponseUsage | None = None
    error: ResponseError | None = None
    incomplete_details: None = None
    instructions: None = None
    metadata: dict[str, str] = {}
    parallel_tool_calls: bool = True
    temperature: None = None
    tool_choice: str = "auto"
    tools: list[Any] = []
    top_p: None = None
    output_text: str | UnsetType = UNSET


def response_object(
    exchange_id: str, created: int, model: str, status: ResponseStatus,
    res: LoopResult | None, msg_id: str,
) -> ResponseObject:  # fmt: skip
    """The ``response`` object of an exchange; ``res`` once it has finished."""
    out = ResponseObject(id=exchange_id, created_at=created, status=status, model=model)
    if res is None:
        return out
    if res.content or not res.tool_calls:
        out.output.append(
            OutputMessage(id=msg_id, status="completed", content=[OutputText(text=res.content)])
        )
    out.output += [
        OutputFunctionCall(id=f"fc_{c.id}", call_id=c.id, name=c.name, arguments=c.arguments)
        for c in res.tool_calls
    ]
    u = completion_usage(res.usage)
    out.usage = ResponseUsage(
        input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens, total_tokens=u.total_tokens
    )
    return out


class ResponseEvent(Struct, kw_only=True, tag_field="type"):
    """A streamed Responses API event: ``{"type", "sequence_number", ...}``."""

    sequence_number: int = 0

    @property
    def name(self) -> str:
        """The SSE ``event:`` name (the ``type``)."""
        return str(self.__struct_config__.tag)


class _WithResponse(ResponseEvent, kw_only=True):
    response: ResponseObject


class ResponseCreated(_WithResponse, kw_only=True, tag="response.created"):
    pass


class ResponseInProgress(_WithResponse, kw_only=True, tag="response.in_progress"):
    pass


class ResponseCompleted(_WithResponse, kw_only=True, tag="response.completed"):
    pass


class ResponseFailed(_WithResponse, kw_only=True, tag="response.failed"):
    pass


class _OfItem(ResponseEvent, kw_only=True):
    output_index: int = 0
    item: OutputMessage


class OutputItemAdded(_OfItem, kw_only=True, tag="response.output_item.added"):
    pass


class OutputItemDone(_OfItem, kw_only=True, tag="response.output_item.done"):
    pass


class _OfPart(ResponseEvent, kw_only=True):
    item_id: str
    output_index: int = 0
    content_index: int = 0


class ContentPartAdded(_OfPart, kw_only=True, tag="response.content_part.added"):
    part: OutputText


class ContentPartDone(_OfPart, kw_only=True, tag="response.content_part.done"):
    part: OutputText


class OutputTextDelta(_OfPart, kw_only=True, tag="response.output_text.delta"):
    delta: str
    logprobs: list[Any] = []


class OutputTextDone(_OfPart, kw_only=True, tag="response.output_text.done"):
    text: str
    logprobs: list[Any] = []
