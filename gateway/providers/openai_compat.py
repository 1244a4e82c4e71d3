"""OpenAI-compatible adapter: ``GET {base}/models``, ``POST {base}/chat/completions``."""

from __future__ import annotations

from typing import Any

import httpx

from clawgate.errors import UpstreamError
from clawgate.providers.base import request_json

__all__ = ["OpenAICompatClient"]


class OpenAICompatClient:
    def __init__(self, api_base: str, api_key: str, http: httpx.AsyncClient) -> None:
        self.base = api_base.rstrip("/")
        self._http = http
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def _json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        return await request_json(self._http, method, self.base + path, self._headers, body)

    async def list_models(self) -> list[dict[str, object]]:
        data = await self._json("GET", "/models")
        items = data.get("data") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise UpstreamError(detail=f"{self.base}/models answered an unexpected shape")
        return [item for item in items if isinstance(item, dict) and "id" in item]

    async def ping_chat(self, model: str) -> None:
        data = await self._json(
            "POST", "/chat/completions",
            {"model": model, "messages": [{"role": "user", "content": "ping"}], "max_tokens": 1},
        )  # fmt: skip
        if not isinstance(data, dict) or "choices" not in data:
            raise UpstreamError(detail="chat completion answered without choices")
