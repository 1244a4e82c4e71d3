"""Small helpers for REST tests: clients with the usual identities, minting API keys through the
real endpoint, asserting GoClaw error envelopes, and a direct database connection for checks
that must look beneath the API (what is stored at rest)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx

from tests.support import GATEWAY_TOKEN, RunningServer

__all__ = ["as_owner", "assert_error", "db", "mint_key", "with_key"]


def as_owner(server: RunningServer, **headers: str) -> httpx.AsyncClient:
    """The gateway token with ``X-GoClaw-User-Id: owner`` (an owner on the ``server`` fixture)."""
    return server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner", **headers})


def with_key(server: RunningServer, key: str, **headers: str) -> httpx.AsyncClient:
    return server.client(key, **headers)


async def mint_key(server: RunningServer, *scopes: str, **body: Any) -> dict[str, Any]:
    """Create an API key through ``POST /v1/api-keys`` as the owner; returns the response (with ``key``)."""
    payload = {"name": body.pop("name", "test key"), "scopes": list(scopes or ["operator.admin"]), **body}
    async with as_owner(server) as http:
        res = await http.post("/v1/api-keys", json=payload)
    assert res.status_code == 201, res.text
    data: dict[str, Any] = res.json()
    return data


def assert_error(res: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert a GoClaw error envelope; returns its ``error`` object."""
    assert res.status_code == status, (res.status_code, res.text)
    body = res.json()
    assert body["error"]["code"] == code, body
    assert body["error"]["message"], body
    err: dict[str, Any] = body["error"]
    return err


@contextlib.asynccontextmanager
async def db(server: RunningServer) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the server's database (to read rows as stored)."""
    conn = await asyncpg.connect(server.settings.database.dsn)
    try:
        yield conn
    finally:
        await conn.close()


def export_events(res: httpx.Response, download_url: str) -> dict[str, Any]:
    """An export's ``?stream=true`` answer (``clawgate.services.exports``), checked: SSE, progress
    events, then ``complete`` naming ``download_url``. Returns the ``complete`` event's data."""
    assert res.status_code == 200, res.text
    assert res.headers["content-type"].startswith("text/event-stream")
    events = [block.split("\n") for block in res.text.strip().split("\n\n")]
    kinds = [lines[0].removeprefix("event: ") for lines in events]
    assert kinds == ["progress", "progress", "complete"], kinds
    done: dict[str, Any] = json.loads(events[-1][1].removeprefix("data: "))
    assert done["download_url"] == download_url
    return done
