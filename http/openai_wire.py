"""OpenAI's wire types for ``/v1/chat/completions`` and ``/v1/responses``, and their converters to
and from the gateway's own types (``ChatMessage``, ``ToolSpec``, ``ExchangeRequest``).

Requests accept the fields the official SDKs send (the ones the gateway does not use are ignored;
the ones it uses are validated). Rules (agents, sessions, recording) are in
``clawgate.services.openai_compat``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from msgspec import Meta, Struct

from clawgate.errors import InvalidRequest
from clawgate.providers.types import ChatMessage, ToolCall, ToolSpec, Usage
from clawgate.services.openai_compat import ExchangeRequest
from clawgate.wire import ChatText, Positive

__all__ = [
    "ChatCompletionRequest",
    "ResponsesRequest",
    "chat_exchange",
    "chat_messages",
    "response_messages",
    "responses_exchange",
    "usage_dict",
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


def usage_dict(usage: Usage) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens or usage.prompt_tokens + usage.completion_tokens,
    }


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
