"""The edge middleware, pure ASGI (no ``BaseHTTPMiddleware``, which costs a task per request):

- ``X-Request-Id`` in/out (bound as ``request_id`` for the request's log lines), security headers,
  one log line per request and its metrics (by the route template ``make_route`` leaves in the
  scope's state);
- a per-client-IP token bucket (429 with ``Retry-After``; WebSocket upgrades close 1008), health
  probes exempt;
- the body limit, checked on ``Content-Length`` and again while reading (413). The rest of an
  over-limit body is read and dropped (up to ``DISCARD_LIMIT``) before the connection closes, so that
  a client still sending reads its 413 instead of a reset.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import structlog
from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clawgate import metrics
from clawgate.errors import GatewayError, PayloadTooLarge
from clawgate.i18n import negotiate
from clawgate.ratelimit import exhausted

from .errors import error_response, family_for_path
from .routing import presented_token

__all__ = ["EdgeMiddleware", "StaticRoutes", "client_ip"]

log = structlog.get_logger("clawgate.http")
_RID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]
_CLOSE = (b"connection", b"close")
HEALTH_PATHS = frozenset({"/health", "/healthz", "/readyz"})
DISCARD_LIMIT = 16 << 20
"""Bytes of an over-limit body read and dropped before answering 413. Closing a connection with
unread data resets it, and the client, still sending, then loses the answer. A larger body gets the
413 and the connection closed at once."""


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def client_ip(scope: Scope) -> str:
    """The caller's IP; ``X-Real-IP``/``X-Forwarded-For`` are believed only from a loopback proxy."""
    peer = scope.get("client")
    host = str(peer[0]) if peer else ""
    if host in {"127.0.0.1", "::1"}:
        forwarded = _header(scope, b"x-real-ip") or _header(scope, b"x-forwarded-for").split(",")[0].strip()
        if forwarded:
            return forwarded
    return host


class EdgeMiddleware:
    """Everything a request meets first, in one pure-ASGI layer (each layer costs a coroutine frame
    on every request): request id, per-IP rate limit, body limit, security headers, the log line."""

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        path_limits: Mapping[str, int] | None = None,
        query_token_paths: Collection[str] = (),
    ) -> None:
        self.app = app
        self.limit = limit
        # Paths whose body may be larger than ``limit`` (the skills' 20 MB archive uploads).
        self.path_limits = dict(path_limits or {})
        # Paths whose route takes the credential in the query (``Api.query_token``).
        self.query_token_paths = frozenset(query_token_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            if self._rate_wait(scope):
                await send({"type": "websocket.close", "code": 1008, "reason": "rate limit exceeded"})
                return
            await self.app(scope, receive, send)
            return
        if kind != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _RID.match(incoming) else os.urandom(16).hex()
        scope.setdefault("state", {})["request_id"] = rid
        # A clean slate first: asyncio can hand a previous request's context (its tenant_id) to
        # the next request's task on a kept-alive connection (cpython#140947, uvicorn#2167).
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=rid)
        started = time.perf_counter()
        status = 500
        rid_header = (b"x-request-id", rid.encode())

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header, *_SECURITY_HEADERS]
                if status == 413:  # what is left of the body (past DISCARD_LIMIT) is not read
                    message["headers"].append(_CLOSE)
            await send(message)

        try:
            wait = self._rate_wait(scope)
            if wait:
                await self._refuse(scope, exhausted(wait), rid, receive, send_wrapper)
                return
            declared = _header(scope, b"content-length")
            limit = self.path_limits.get(scope["path"], self.limit)
            if declared.isdigit() and int(declared) > limit:
                # Unless the client waits for "100 Continue" before sending (then it sends nothing).
                if int(declared) <= DISCARD_LIMIT and _header(scope, b"expect").lower() != "100-continue":
                    await _discard(receive, DISCARD_LIMIT)
                await self._refuse(scope, PayloadTooLarge(limit=limit), rid, receive, send_wrapper)
                return
            await self.app(scope, self._limited(receive, limit) if declared != "0" else receive, send_wrapper)
        finally:
            path, method = scope["path"], scope["method"]
            elapsed = time.perf_counter() - started
            metrics.observe_http(method, scope["state"].get("route", metrics.UNMATCHED), status, elapsed)
            level = log.debug if path in HEALTH_PATHS else log.info
            level(
                "http.request",
                method=method,
                path=path,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )

    def _rate_wait(self, scope: Scope) -> float:
        if scope["path"] in HEALTH_PATHS:
            return 0.0
        gateway: Any = scope.get("state", {}).get("gateway")
        if gateway is None:
            return 0.0
        limiter = gateway.ip_limiter
        if limiter.exempt_operator and gateway.auth.is_operator_bearer(self._token(scope)):
            return 0.0  # the operator (gateway token, development mode) is not throttled
        return float(limiter.hit(client_ip(scope)))

    def _token(self, scope: Scope) -> str:
        """The token the request presents, read as authentication reads it (``presented_token``)."""
        takes = scope["path"] in self.query_token_paths
        query = QueryParams(scope.get("query_string", b"")) if takes else {}
        return presented_token(Headers(scope=scope), query, query_token=takes)[0]

    @staticmethod
    def _limited(receive: Receive, limit: int) -> Receive:
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    if message.get("more_body", False):
                        await _discard(receive, DISCARD_LIMIT - seen)
                    raise PayloadTooLarge(limit=limit)
            return message

        return limited

    @staticmethod
    async def _refuse(
        scope: Scope,
        exc: GatewayError,
        rid: str,
        receive: Receive,
        send: Send,
    ) -> None:
        response = error_response(
            exc,
            family=family_for_path(scope["path"]),
            locale=negotiate(_header(scope, b"accept-language")),
            request_id=rid,
        )
        await response(scope, receive, send)


async def _discard(receive: Receive, budget: int) -> None:
    """Read and drop the rest of the request body, up to ``budget`` bytes."""
    while budget >= 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


Endpoint = Callable[[Request], Awaitable[Response]]


class StaticRoutes:
    """Routes without path parameters, found by one dict lookup and called directly. Starlette's router
    tries every route's pattern in turn and wraps each call in two more layers; for the hot routes
    (``/v1/chat/completions`` above all) that is work for nothing. The endpoints handle their own
    errors (``make_route``); anything not in ``table`` (including HEAD) goes on to the router.

    ``sockets`` maps WebSocket paths to plain ASGI apps (``/ws``): past the router and the exception
    middleware, whose wrappers would otherwise sit on every frame sent.
    """

    def __init__(
        self, app: ASGIApp, table: Mapping[tuple[str, str], Endpoint], sockets: Mapping[str, ASGIApp]
    ) -> None:
        self.app = app
        self.table = table
        self.sockets = sockets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            endpoint = self.table.get((scope["method"], _route_path(scope)))
            if endpoint is not None:
                response = await endpoint(Request(scope, receive, send))
                await response(scope, receive, send)
                return
        elif kind == "websocket" and (socket_app := self.sockets.get(_route_path(scope))) is not None:
            await socket_app(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the routes are declared with (``root_path`` taken off)."""
    path: str = scope["path"]
    root = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path
