"""The adapter protocol and the factory that picks an adapter by ``provider_type``."""

from __future__ import annotations

from typing import Any, Protocol

import httpx
import orjson

from clawgate.errors import InvalidRequest, UpstreamError

__all__ = ["PROVIDER_TYPES", "ProviderClient", "client_for", "request_json", "upstream_error"]

# provider_type values accepted in llm_providers; all but anthropic_native speak the OpenAI API.
OPENAI_COMPATIBLE = frozenset(
    {"openai_compat", "openrouter", "groq", "deepseek", "mistral", "xai", "ollama", "ollama_cloud",
     "novita", "perplexity", "cohere", "yescale", "zai", "zai_coding", "bailian", "dashscope"}
)  # fmt: skip
PROVIDER_TYPES = OPENAI_COMPATIBLE | {"anthropic_native"}


class ProviderClient(Protocol):
    """What every adapter offers; chat and streaming join in the run-loop issue."""

    async def list_models(self) -> list[dict[str, object]]:
        """The upstream's models as ``[{id, ...}]``. Raises: UpstreamError."""
        ...

    async def ping_chat(self, model: str) -> None:
        """A one-token completion against ``model``. Raises: UpstreamError."""
        ...


def upstream_error(exc: Exception) -> UpstreamError:
    """A readable ``UpstreamError`` from an httpx failure (status and the upstream's message)."""
    if isinstance(exc, httpx.HTTPStatusError):
        text = exc.response.text[:300].strip()
        return UpstreamError(detail=f"HTTP {exc.response.status_code} from {exc.request.url.host}: {text}")
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamError(detail=f"timed out calling {exc.request.url.host}")
    if isinstance(exc, httpx.RequestError):
        return UpstreamError(detail=f"cannot reach {exc.request.url}: {exc.__class__.__name__}")
    return UpstreamError(detail=str(exc))


async def request_json(
    http: httpx.AsyncClient, method: str, url: str, headers: dict[str, str], body: dict[str, Any] | None
) -> Any:
    """One JSON call upstream. Raises: UpstreamError with the status and the upstream's words."""
    try:
        response = await http.request(
            method, url, headers=headers, content=orjson.dumps(body) if body is not None else None
        )
        response.raise_for_status()
        return orjson.loads(response.content)
    except httpx.HTTPError as exc:
        raise upstream_error(exc) from exc
    except orjson.JSONDecodeError as exc:
        raise UpstreamError(detail=f"{url} did not answer JSON") from exc


def client_for(provider_type: str, api_base: str, api_key: str, http: httpx.AsyncClient) -> ProviderClient:
    """The adapter for ``provider_type``. Raises: InvalidRequest for an unknown type."""
    from clawgate.providers.anthropic import AnthropicClient
    from clawgate.providers.openai_compat import OpenAICompatClient

    if provider_type == "anthropic_native":
        return AnthropicClient(api_base or "https://api.anthropic.com", api_key, http)
    if provider_type in OPENAI_COMPATIBLE:
        return OpenAICompatClient(api_base or "https://api.openai.com/v1", api_key, http)
    raise InvalidRequest(detail=f"unknown provider_type {provider_type!r}; one of {sorted(PROVIDER_TYPES)}")
