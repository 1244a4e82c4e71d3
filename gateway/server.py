"""Running the app under uvicorn with ClawGate's WebSocket limits and graceful shutdown.

Used by ``clawgate serve`` and by the tests' real servers, so both run the same way.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from starlette.applications import Starlette

from clawgate.config import Settings
from clawgate.state import Gateway
from clawgate.uvicorn_ws import CoalescingWebSocketProtocol

__all__ = ["GatewayServer", "uvicorn_config"]


def uvicorn_config(app: Starlette, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """uvicorn settings derived from ``settings``: frame limit, pings, no access log (ours is
    structured), lifespan on."""
    limits = settings.limits
    options: dict[str, Any] = {
        "host": settings.gateway.host,
        "port": settings.gateway.port,
        "lifespan": "on",
        "access_log": False,
        "log_config": None,
        # uvicorn's "websockets-sansio", writing the frames of one loop turn at once.
        "ws": CoalescingWebSocketProtocol,
        "ws_max_size": limits.ws_max_payload,
        "ws_ping_interval": limits.ws_ping_interval_seconds,
        "ws_ping_timeout": limits.ws_ping_timeout_seconds,
        "timeout_graceful_shutdown": settings.gateway.shutdown_grace_seconds + 2,
        "server_header": False,
        "proxy_headers": False,
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


class GatewayServer(uvicorn.Server):
    """uvicorn's server, draining WebSocket clients (``shutdown`` event, in-flight calls answered,
    close 1001) before uvicorn closes connections."""

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        app = self.config.loaded_app
        gateway: Gateway | None = getattr(_starlette_app(app).state, "gateway", None) if app else None
        if gateway is not None:
            gateway.shutting_down.set()
            if gateway.drains:
                await asyncio.wait(
                    set(gateway.drains), timeout=gateway.settings.gateway.shutdown_grace_seconds + 3
                )
        await super().shutdown(sockets=sockets)


def _starlette_app(app: Any) -> Any:
    # uvicorn wraps the app in its middleware; unwrap to reach the Starlette instance.
    while not isinstance(app, Starlette) and hasattr(app, "app"):
        app = app.app
    return app
