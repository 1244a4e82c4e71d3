"""Anthropic Messages adapter: ``GET {base}/v1/models``, ``POST {base}/v1/messages``."""

from __future__ import annotations

from typing import Any

import httpx

from clawgate.errors import UpstreamError
from clawgate.providers.base import request_json

__all__ = ["ANTHROPIC_VERSION", "AnthropicClient"]

ANTHROPIC_VERSION = "2023-06-01"


class AnthropicClient:
    def __init__(self, api_base: str, api_key: str, http: httpx.AsyncClient) -> None:
        base = api_base.rstrip("/")
        self.base = base[:-3] if base.endswith("/v1") else base
        self._http = http
        self._headers = {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return await request_json(self._http, method, self.base + path, self._headers, body)

    async def list_models(self) -> list[dict[str, object]]:
        data = await self._json("GET", "/v1/models")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise UpstreamError(detail=f"{self.base}/v1/models answered an unexpected shape")
        return [item for item in items if isinstance(item, dict) and "id" in item]

    async def ping_chat(self, model: str) -> None:
        data = await self._json(
            "POST", "/v1/messages",
            {"model": model, "max_tokens": 1, "messages": [{"role": "user", "content": "ping"}]},
        )  # fmt: skip
        if not isinstance(data, dict) or data.get("type") != "message":
            raise UpstreamError(detail="messages call answered an unexpected shape")
