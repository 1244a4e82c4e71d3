"""The adapter protocol, shared HTTP helpers, and the factory that picks an adapter by type."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol

import httpx
import orjson

from clawgate.errors import InvalidRequest
from clawgate.providers.retry import ProviderError
from clawgate.providers.types import ChatMessage, ChatRequest, ChatResponse, StreamChunk

__all__ = [
    "OPENAI_COMPATIBLE",
    "PROVIDER_TYPES",
    "HttpAdapter",
    "ProviderClient",
    "client_for",
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


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _upstream_message(response: httpx.Response) -> str:
    try:
        data = orjson.loads(response.content)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        if isinstance(error, str):
            return error[:300]
    except orjson.JSONDecodeError:
        pass
    return response.text[:300].strip()


async def raise_for_status(response: httpx.Response) -> None:
    """Raise ``ProviderError`` for a non-2xx answer (reads the body of a streamed response)."""
    if response.is_success:
        return
    await response.aread()
    raise ProviderError(
        f"HTTP {response.status_code} from {response.request.url.host}: {_upstream_message(response)}",
        status_code=response.status_code,
        retry_after=_retry_after(response),
    )


async def sse_data(response: httpx.Response, where: str) -> AsyncGenerator[str, None]:
    """The ``data:`` payloads of a server-sent event stream.

    Raises: ProviderError when the body holds no event at all: quoting the body's start and not
    retried when it has text (an error page, a garbled answer), transient when it is empty.
    """
    seen = False
    other: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            seen = True
            yield line[5:].strip()
        elif not seen and len(other) < 5 and line.strip() and not line.startswith(("event:", "id:", ":")):
            other.append(line.strip())
    if not seen:
        preview = " ".join(other)[:200]
        raise ProviderError(
            f"{where} answered HTTP {response.status_code} without server-sent events: {preview!r}",
            status_code=response.status_code if preview else 0,
        )


def upstream_error(exc: Exception) -> ProviderError:
    """A readable ``ProviderError`` from a transport failure."""
    if isinstance(exc, ProviderError):
        return exc
    cause = exc.__cause__
    if (
        isinstance(exc, httpx.RequestError)
        and isinstance(cause, OSError)
        and not isinstance(cause, TimeoutError)
    ):
        # The aiohttp transport reports a refused connection as ConnectTimeout; the cause tells.
        return ProviderError(f"cannot reach {exc.request.url}: {cause.__class__.__name__}")
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(f"timed out calling {exc.request.url.host}")
    if isinstance(exc, httpx.RequestError):
        return ProviderError(f"cannot reach {exc.request.url}: {exc.__class__.__name__}")
    return ProviderError(str(exc))


@contextlib.asynccontextmanager
async def open_stream(
    http: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], content: bytes | None
) -> AsyncIterator[httpx.Response]:
    """Send a request and yield the response before its body is read; closes it on exit.

    The request goes straight to the client's transport: the client's auth, redirect and cookie layers
    do nothing for provider calls and cost a fifth of the gateway's time per call (bench/openai.py).
    Cancellation closes the upstream connection.
    """
    request = http.build_request(method, url, headers=headers, content=content)
    transport: httpx.AsyncBaseTransport | None = getattr(http, "_transport", None)
    if transport is None:  # not an httpx client we know the inside of: take the public path
        response = await http.send(request, stream=True)
    else:
        try:
            response = await transport.handle_async_request(request)
        except httpx.RequestError as exc:
            exc.request = request  # the client would have attached it; errors name the upstream
            raise
        response.request = request
    try:
        yield response
    finally:
        await response.aclose()


async def request_json(
    http: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None
) -> Any:
    """One JSON call upstream. Raises: ProviderError with the status and the upstream's words."""
    try:
        async with open_stream(
            http, method, url, headers, orjson.dumps(body) if body is not None else None
        ) as response:
            await response.aread()
    except httpx.HTTPError as exc:
        raise upstream_error(exc) from exc
    await raise_for_status(response)
    try:
        return orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise ProviderError(
            f"{url} did not answer JSON: {response.text[:200].strip()!r}", status_code=response.status_code
        ) from exc


class HttpAdapter:
    """What both wire adapters share: the base URL, auth headers, the model list and the ping."""

    models_path = "/models"

    def __init__(self, base: str, headers: dict[str, str], http: httpx.AsyncClient, name: str) -> None:
        self.base = base
        self.name = name
        self._http = http
        self._headers = headers

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


def client_for(
    provider_type: str, api_base: str, api_key: str, http: httpx.AsyncClient, name: str = ""
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
