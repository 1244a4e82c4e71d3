"""Liveness and readiness probes (public)."""

from __future__ import annotations

from msgspec import Struct
from starlette.responses import Response

from clawgate import __version__
from clawgate.errors import Unavailable

from .routing import json_response
from .types import Api, HttpContext

__all__ = ["ROUTES"]


class Health(Struct):
    status: str
    protocol: int
    version: str


class Ready(Struct):
    status: str
    database: str


_HEALTH = json_response(Health(status="ok", protocol=3, version=__version__)).body


async def health(ctx: HttpContext, _: None) -> Response:
    """Liveness: the process answers. GoClaw's shape ``{status, protocol}``."""
    return Response(_HEALTH, media_type="application/json")


async def ready(ctx: HttpContext, _: None) -> Ready:
    """Readiness: 200 when the database answers, else 503 ``UNAVAILABLE``."""
    if not await ctx.gateway.db.ping(timeout=2.0):
        raise Unavailable("database_unavailable")
    return Ready(status="ready", database="ok")


ROUTES = [
    Api("GET", "/health", health, None, "Liveness probe", response=Health, tag="health", family="plain"),
    Api("GET", "/healthz", health, None, "Liveness probe (alias)", response=Health, tag="health", family="plain"),
    Api("GET", "/readyz", ready, None, "Readiness probe (checks the database)", response=Ready, tag="health",
        family="plain"),
]  # fmt: skip
