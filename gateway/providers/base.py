"""The adapter protocol, shared HTTP helpers, and the factory that picks an adapter by type."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
import orjson

from clawgate.errors import InvalidRequest
from clawgate.providers.retry import ProviderError
from clawgate.providers.types import ChatMessage, ChatRequest, ChatResponse, StreamChunk, ToolSpec

__all__ = [
    "OPENAI_COMPATIBLE",
    "PROVIDER_TYPES",
    "TRANSPORT_ERRORS",
    "EncodedTools",
    "HttpAdapter",
    "ProviderClient",
    "client_for",
    "configured_type",
    "raise_for_status",
    "request_json",
    "sse_data",
    "upstream_error",
]

# provider_type values accepted in llm_providers; all but anthropic_native speak the OpenAI API.
OPENAI_COMPATIBLE = frozenset(
    {"openai_compat", "openrouter", "groq", "deepseek", "mistral", "xai", "ollama", "ollama_cloud",
     "novita", "perplexity", "cohere", "yescale", "zai", "zai_coding", "bailian", "dashscope", "gemini"}
)  # fmt: skip
PROVIDER_TYPES = OPENAI_COMPATIBLE | {"anthropic_native"}


class ProviderClient(Protocol):
    """What every adapter offers. Errors are ``ProviderError`` (an ``UpstreamError``, 502)."""

    name: str

    async def list_models(self) -> list[dict[str, object]]:
        """The upstream's models as ``[{id, ...}]``."""
        ...

    async def ping_chat(self, model: str) -> None:
        """A one-token completion against ``model``."""
        ...

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """One completion, not streamed."""
        ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """One completion as chunks; the last carries ``finish_reason`` and, when known, usage.

        Cancelling the iteration closes the upstream connection.
        """
        ...


def _retry_after(response: aiohttp.ClientResponse) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: the retry policy's own backoff applies
    return max(0.0, parsed.timestamp() - time.time())


def _upstream_message(body: bytes) -> str:
    try:
        data = orjson.loads(body)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    except orjson.JSONDecodeError:
        pass
    return body[:1200].decode("utf-8", "replace")[:300].strip()


def _check_status(response: aiohttp.ClientResponse, body: bytes) -> None:
    """Raise ``ProviderError`` for a non-2xx answer whose body is ``body``."""
    if not 200 <= response.status < 300:
        raise ProviderError(
            f"HTTP {response.status} from {response.url.host}: {_upstream_message(body)}",
            status_code=response.status,
            retry_after=_retry_after(response),
        )


async def raise_for_status(response: aiohttp.ClientResponse) -> None:
    """Raise ``ProviderError`` for a non-2xx answer (reads the body of a streamed response)."""
    if not 200 <= response.status < 300:
        _check_status(response, await response.read())


_EOL = (b"\n", b"\r")


async def _line_batches(content: aiohttp.StreamReader) -> AsyncGenerator[list[bytes], None]:
    """The body's lines, with their ends, a list per piece received.

    Lines end at LF, CRLF or CR as server-sent events' do, and may be of any length: aiohttp's own
    ``readline`` refuses a line past twice its read buffer (512 KiB), such as a large tool call or
    answer sent in one event.
    """
    partial: list[bytes] = []
    async for piece in content.iter_any():
        lines = piece.splitlines(keepends=True)
        if partial:
            partial.append(lines[0])
            if not lines[0].endswith(_EOL):
                continue
            lines[0] = b"".join(partial)
            partial = []
        if not lines[-1].endswith(_EOL):
            partial.append(lines.pop())
        if lines:
            yield lines
    if partial:
        yield [b"".join(partial)]


async def sse_data(response: aiohttp.ClientResponse, where: str) -> AsyncGenerator[str, None]:
    """The ``data:`` payloads of a server-sent event stream.

    Raises: ProviderError when the body holds no event at all: quoting the body's start and not
    retried when it has text (an error page, a garbled answer), transient when it is empty.
    """
    seen = False
    other: list[str] = []
    async for lines in _line_batches(response.content):
        for line in lines:
            if line.startswith(b"data:"):
                seen = True
                yield line[5:].strip().decode("utf-8", "replace")
            elif (
                not seen
                and len(other) < 5
                and line.strip()
                and not line.startswith((b"event:", b"id:", b":"))
            ):
                other.append(line.strip().decode("utf-8", "replace"))
    if not seen:
        preview = " ".join(other)[:200]
        raise ProviderError(
            f"{where} answered HTTP {response.status} without server-sent events: {preview!r}",
            status_code=response.status if preview else 0,
        )


TRANSPORT_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, TimeoutError)
"""What a provider call raises when the exchange itself failed (``upstream_error`` words it)."""


def upstream_error(exc: Exception, url: str) -> ProviderError:
    """A readable ``ProviderError`` from a transport failure calling ``url``."""
    if isinstance(exc, ProviderError):
        return exc
    if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
        return ProviderError(f"timed out calling {urlsplit(url).hostname}")
    if isinstance(exc, aiohttp.ClientPayloadError):  # the body ended early (or would not decode)
        return ProviderError(f"answer from {url} cut off: {exc}")
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS: the OSError tells which
        return ProviderError(f"cannot reach {url}: {exc.os_error.__class__.__name__}")
    if isinstance(exc, aiohttp.ClientError):
        return ProviderError(f"cannot reach {url}: {exc.__class__.__name__}")
    return ProviderError(str(exc))


@contextlib.asynccontextmanager
async def open_stream(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], content: bytes | None
) -> AsyncIterator[aiohttp.ClientResponse]:
    """Send a request and yield the response before its body is read.

    ``headers`` must carry the body's Content-Type. Redirects are not followed. On a normal exit the
    connection goes back to the pool (aiohttp closes it instead when the body was not read to its
    end); an error, a cancellation or a consumer leaving early closes it, so a half-read answer is
    never reused and the upstream stops generating.
    """
    response = await http.request(method, url, headers=headers, data=content, allow_redirects=False)
    try:
        yield response
        await _finish_body(response)
    except BaseException:
        response.close()
        raise
    response.release()


_DRAIN_SECONDS = 0.05
_DRAIN_BYTES = 1 << 16


async def _finish_body(response: aiohttp.ClientResponse) -> None:
    """Read what is left of a body its reader is done with (after a stream's last event, the end
    of the chunked encoding is usually on its way), so that the connection goes back to the pool:
    aiohttp closes one whose body was not read to its end, and a new connection per model call
    costs a TCP (over HTTPS, a TLS) handshake each time. A body that goes on past 50 ms or 64 KB is
    left, and its connection closed as before."""
    content, left = response.content, _DRAIN_BYTES
    if content.at_eof():
        return
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while left > 0 and (chunk := await content.readany()):
                left -= len(chunk)


async def request_json(
    http: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None
) -> Any:
    """One JSON call upstream. Raises: ProviderError with the status and the upstream's words."""
    try:
        async with open_stream(
            http, method, url, headers, orjson.dumps(body) if body is not None else None
        ) as response:
            content = await response.read()
    except TRANSPORT_ERRORS as exc:
        raise upstream_error(exc, url) from exc
    _check_status(response, content)
    try:
        return orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        text = content[:800].decode("utf-8", "replace")[:200].strip()
        raise ProviderError(f"{url} did not answer JSON: {text!r}", status_code=response.status) from exc


class HttpAdapter:
    """What both wire adapters share: the base URL, auth headers, the model list and the ping."""

    models_path = "/models"

    def __init__(self, base: str, headers: dict[str, str], http: aiohttp.ClientSession, name: str) -> None:
        self.base = base
        self.name = name
        self._http = http
        self._headers = headers
        self._json_headers = {**headers, "Content-Type": "application/json"}  # for calls with a body

    async def list_models(self) -> list[dict[str, object]]:
        data = await request_json(self._http, "GET", self.base + self.models_path, self._headers, None)
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ProviderError(f"{self.base}{self.models_path} answered an unexpected shape")
        return [item for item in items if isinstance(item, dict) and "id" in item]

    async def ping_chat(self, model: str) -> None:
        await self.chat(
            ChatRequest(model=model, messages=[ChatMessage(role="user", content="ping")], max_tokens=1)
        )

    async def chat(self, request: ChatRequest) -> ChatResponse:
        raise NotImplementedError


def configured_type(name: str) -> str:
    """The ``provider_type`` of a provider configured by environment (``CLAWGATE_<NAME>_API_KEY``):
    Anthropic's Messages API for ``anthropic``, the OpenAI API for every other name."""
    return "anthropic_native" if name == "anthropic" else "openai_compat"


def client_for(
    provider_type: str, api_base: str, api_key: str, http: aiohttp.ClientSession, name: str = ""
) -> ProviderClient:
    """The adapter for ``provider_type``. Raises: InvalidRequest for an unknown type."""
    from clawgate.providers.anthropic import AnthropicClient
    from clawgate.providers.openai_compat import OpenAICompatClient

    if provider_type == "anthropic_native":
        return AnthropicClient(
            api_base or "https://api.anthropic.com", api_key, http, name=name or "anthropic"
        )
    if provider_type in OPENAI_COMPATIBLE:
        return OpenAICompatClient(
            api_base or "https://api.openai.com/v1", api_key, http, name=name or "openai"
        )
    raise InvalidRequest(detail=f"unknown provider_type {provider_type!r}; one of {sorted(PROVIDER_TYPES)}")


class EncodedTools:
    """Tool specs as one wire format encodes them, kept per spec object: an agent's tools (the
    built-in table's, an MCP server's, a skill reader's) live as long as the process or their
    source's cache, so a run encodes none of them again (issue 9). A caller's own tools are new
    objects each request and only pass through; the table is emptied when it reaches ``size``."""

    __slots__ = ("_kept", "_one", "_size")

    def __init__(self, one: Callable[[ToolSpec], dict[str, Any]], size: int = 1024) -> None:
        self._one = one
        self._size = size
        self._kept: dict[int, tuple[ToolSpec, bytes]] = {}

    def __call__(self, tools: list[ToolSpec]) -> orjson.Fragment:
        parts = []
        for tool in tools:
            hit = self._kept.get(id(tool))
            if hit is None or hit[0] is not tool:
                if len(self._kept) >= self._size:
                    self._kept.clear()
                hit = self._kept[id(tool)] = (tool, orjson.dumps(self._one(tool)))
            parts.append(hit[1])
        return orjson.Fragment(b"[" + b",".join(parts) + b"]")
