"""Helpers for the RPC tests: keys and tenants made through the real REST API, close codes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets

from tests.support import GATEWAY_TOKEN, RunningServer, WsClient

OWNER = {"X-GoClaw-User-Id": "owner"}


async def create_key(server: RunningServer, scopes: list[str], **fields: Any) -> dict[str, Any]:
    """Mint an API key through ``POST /v1/api-keys`` as the owner; returns the created body."""
    async with server.client(GATEWAY_TOKEN, **OWNER) as http:
        res = await http.post("/v1/api-keys", json={"name": "test", "scopes": scopes, **fields})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


async def create_tenant(server: RunningServer, slug: str) -> dict[str, Any]:
    """Create a tenant through ``POST /v1/tenants`` as the owner."""
    async with server.client(GATEWAY_TOKEN, **OWNER) as http:
        res = await http.post("/v1/tenants", json={"name": slug.title(), "slug": slug})
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


async def drain(client: WsClient, timeout: float = 5.0) -> tuple[list[Any], int, str]:
    """Read frames until the server closes; returns them with the close code and reason."""
    frames: list[Any] = []
    async with asyncio.timeout(timeout):
        try:
            while True:
                frames.append(json.loads(await client.ws.recv()))
        except websockets.ConnectionClosed as exc:
            received = exc.rcvd
    if received is None:
        raise AssertionError("the connection ended without a close frame")
    return frames, received.code, received.reason


async def close_of(client: WsClient, timeout: float = 5.0) -> tuple[int, str]:
    """Read (and drop) frames until the server closes; returns the close code and reason."""
    _, code, reason = await drain(client, timeout)
    return code, reason
