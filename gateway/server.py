"""Running the app under uvicorn with ClawGate's WebSocket limits and graceful shutdown.

Used by ``clawgate serve`` and by the tests' real servers, so both run the same way.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import socket
from typing import Any

import uvicorn
from starlette.applications import Starlette

from clawgate.config import Settings
from clawgate.errors import ConfigError
from clawgate.state import Gateway
from clawgate.uvicorn_ws import CoalescingWebSocketProtocol

__all__ = ["GC_THRESHOLDS", "GatewayServer", "PortInUse", "check_port", "tune_gc", "uvicorn_config"]

GC_THRESHOLDS = (20_000, 20, 20)
"""The cyclic collector's thresholds in a serving process (CPython's are 700, 10, 10)."""


def tune_gc() -> None:
    """Make the cyclic garbage collector cheap for a long-running server, once the app is built.

    What exists then (modules, classes, the app and its services) lives as long as the process:
    ``gc.freeze`` keeps it out of every later collection. The collections are made rarer too: with
    CPython's thresholds, under 100 streaming WebSocket clients (``bench/ws_chat.py``) a collection
    ran every few milliseconds and an oldest-generation pass over the whole heap took up to 240 ms on
    this machine, the largest part of the p99 of the time to a first chunk; objects that die within a
    request are freed by their reference counts anyway, so a young generation 30 times larger
    mostly holds more garbage, not more work.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


class PortInUse(ConfigError):
    """Another process listens on the address the gateway is to serve."""


def check_port(host: str, port: int) -> None:
    """Check that ``host:port`` can be listened on, before the database starts (``clawgate serve``
    would otherwise start PostgreSQL and migrate, then fail). Port 0 always can.

    Raises: PortInUse when the address is in use; ConfigError when the host does not resolve or
    the address cannot be bound for another reason (no such interface, a privileged port)."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot resolve host {host!r}: {exc}") from None
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        # uvicorn sets SO_REUSEADDR too, so a port in TIME_WAIT counts as free, as it will for serve.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(
                    f"{host}:{port} is already in use by another program (or another clawgate); "
                    f"choose another port with --port N (or CLAWGATE_PORT), or stop what listens there"
                ) from None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


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
    """uvicorn's server, announcing itself once it listens (``clawgate.banner``) and draining
    WebSocket clients (``shutdown`` event, in-flight calls answered, close 1001) before uvicorn
    closes connections."""

    announce = True  # False in all workers of ``--workers N`` but the first
    tune_gc = False  # True in ``clawgate serve`` and its workers (a process of its own): ``tune_gc``

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        app = self.config.loaded_app
        gateway: Gateway | None = getattr(_starlette_app(app).state, "gateway", None) if app else None
        if self.tune_gc and self.started and not self.should_exit:
            tune_gc()
        if self.announce and self.started and not self.should_exit and gateway is not None and self.servers:
            from clawgate.banner import announce, ready_info

            bound = self.servers[0].sockets[0].getsockname()[1]
            announce(await ready_info(gateway, int(bound)), gateway.settings.log)

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
