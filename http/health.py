"""Liveness and readiness probes (public), and the Prometheus metrics (``GET /metrics``: public when
``metrics.public`` is set; otherwise the route authenticates like any other and
``clawgate.metrics.authorize`` decides)."""

from __future__ import annotations

from msgspec import Struct
from starlette.responses import Response

from clawgate import __version__, metrics
from clawgate.errors import Unavailable

from .routing import authenticate, json_response
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


async def scrape(ctx: HttpContext, _: None) -> Response:
    gateway = ctx.gateway
    if not gateway.settings.metrics.public:
        metrics.authorize(await authenticate(ctx.request, gateway))
    return Response(metrics.render(gateway), media_type=metrics.CONTENT_TYPE)


ROUTES = [
    Api("GET", "/health", health, None, "Liveness probe", response=Health, tag="health", family="plain"),
    Api("GET", "/healthz", health, None, "Liveness probe (alias)", response=Health, tag="health", family="plain"),
    Api("GET", "/readyz", ready, None, "Readiness probe (checks the database)", response=Ready, tag="health",
        family="plain"),
    # role None: the table cannot say "public only if configured"; ``scrape`` checks the caller.
    Api("GET", "/metrics", scrape, None,
        "Prometheus metrics (the gateway token or a gateway-wide admin key, unless metrics.public)",
        response=str, tag="metrics", media_type=metrics.CONTENT_TYPE),
]  # fmt: skip
