"""``GET /metrics``: Prometheus text (``clawgate.metrics``). Public when ``metrics.public`` is set;
otherwise the route authenticates like any other and ``clawgate.metrics.authorize`` decides."""

from __future__ import annotations

from starlette.responses import Response

from clawgate import metrics

from .routing import authenticate
from .types import Api, HttpContext

__all__ = ["ROUTES"]


async def scrape(ctx: HttpContext, _: None) -> Response:
    gateway = ctx.gateway
    if not gateway.settings.metrics.public:
        metrics.authorize(await authenticate(ctx.request, gateway))
    return Response(metrics.render(gateway), media_type=metrics.CONTENT_TYPE)


ROUTES = [
    # role None: the table cannot say "public only if configured"; ``scrape`` checks the caller.
    Api("GET", "/metrics", scrape, None,
        "Prometheus metrics (the gateway token or a gateway-wide admin key, unless metrics.public)",
        response=str, tag="metrics", media_type=metrics.CONTENT_TYPE),
]  # fmt: skip
