"""Runs one call: authentication state, the role table (fail-closed), params decoding, the handler,
and one ``rpc.call`` log line with duration and outcome; ``rpc_id`` and ``method`` are bound for
every line logged meanwhile. Returns the frame to send (or None for a JSON-RPC notification)."""

from __future__ import annotations

import time
from typing import Any

import structlog

from clawgate import metrics
from clawgate.errors import Forbidden, GatewayError, Internal, InvalidRequest, Unauthorized
from clawgate.logging import enter_call, info_enabled, leave_call
from clawgate.state import Gateway

from .connection import Connection
from .protocol import Call, decode_params
from .types import CallContext, Method, RpcId

__all__ = ["dispatch"]

log = structlog.get_logger("clawgate.rpc")


async def dispatch(
    gateway: Gateway, conn: Connection, call: Call, methods: dict[str, Method]
) -> bytes | None:
    """Run ``call`` on ``conn``; never raises for a client's mistake or our own bug.

    Cancellation (connection closing, shutdown past its grace) propagates to the handler.
    """
    if call.error is not None:
        return call.error
    started = time.perf_counter()
    outcome, code = "ok", ""
    # Reset after the call: quick calls (and all before ``connect``) run in the connection's reader.
    entered = enter_call(str(call.id), call.method)
    try:
        try:
            payload = await _run(gateway, conn, call, methods)
            frame = conn.protocol.result(call.id, payload)
        except GatewayError as exc:
            outcome, code = "error", exc.code
            frame = conn.protocol.error(call.id, exc, conn.locale)
        except Exception:
            outcome, code = "error", "INTERNAL"
            log.exception("rpc.unhandled")
            frame = conn.protocol.error(call.id, Internal(request_id=f"{conn.id}:{call.id}"), conn.locale)
        known = call.method if call.method in methods else metrics.UNMATCHED
        metrics.count_rpc(known, code or outcome)
        if info_enabled():  # skips building the event below the level (bench/ws.py)
            log.info(
                "rpc.call",
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                outcome=outcome,
                error_code=code or None,
            )
    finally:
        leave_call(entered)
    return None if call.notify else frame


async def _run(gateway: Gateway, conn: Connection, call: Call, methods: dict[str, Method]) -> Any:
    method = methods.get(call.method)
    if not (method is not None and method.public) and conn.principal is None:
        raise Unauthorized("first_request_connect")
    if method is None:
        raise InvalidRequest("unknown_method", method=call.method)
    if method.role is not None:
        assert conn.principal is not None
        if conn.principal.role < method.role:
            raise Forbidden(action=call.method, role=method.role.label)
    params = decode_params(method, call.params)
    return await method.handler(CallContext(gateway, conn, RpcId(str(call.id))), params)
