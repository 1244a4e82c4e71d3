"""Error envelopes, one per route family, and the one place ``GatewayError`` becomes a response.

- GoClaw ``/v1``: ``{"error": {"code", "message"}}`` (``details``/``retryable`` when present)
- OpenAI routes: ``{"error": {"message", "type", "param", "code"}}``
- Mission Control ``/api/v1``: ``{"detail", "request_id"}``
- ClawTasker, the rest of ``/api``: ``{"error": "<message>"}``; its domain errors are 400, an unknown
  route 404 ``Unknown API endpoint`` (reference 3.2)
"""

from __future__ import annotations

from typing import Any, Final

import msgspec
import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from clawgate.errors import GatewayError, Internal, InvalidRequest, NotFound
from clawgate.i18n import negotiate

from .types import Family

__all__ = ["error_response", "exception_handlers", "family_for_path"]

log = structlog.get_logger("clawgate.http")
_encoder = msgspec.json.Encoder()

OPENAI_PATHS = ("/v1/chat/completions", "/v1/responses", "/v1/models", "/v1/embeddings", "/v1/completions")

_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def family_for_path(path: str) -> Family:
    if path.startswith(OPENAI_PATHS):
        return "openai"
    if path.startswith("/api/v1/") or path == "/api/v1":
        return "mc"
    if path.startswith("/api/") or path == "/api":
        return "ct"
    return "goclaw"


_CT_KEPT: Final = frozenset({401, 403, 405, 413, 415, 429})


def _ct_status(exc: GatewayError) -> int:
    """CT answers its domain errors (unknown ids, bad transitions, conflicts) with 400."""
    if exc.status >= 500 or exc.status in _CT_KEPT or exc.key == "route_not_found":
        return exc.status
    return 400


def error_body(exc: GatewayError, family: Family, locale: str, request_id: str) -> dict[str, Any]:
    message = exc.message(locale)
    if family == "openai":
        kind = _OPENAI_TYPES.get(exc.status, "server_error" if exc.status >= 500 else "invalid_request_error")
        param = exc.details.get("param") if isinstance(exc.details, dict) else None
        return {"error": {"message": message, "type": kind, "param": param, "code": exc.code.lower()}}
    if family == "ct":
        if exc.key == "route_not_found":
            return {"error": "Unknown API endpoint"}
        said = exc.params.get("detail")
        return {"error": str(said) if exc.key == "failed_precondition" and said else message}
    if family == "mc":
        # Mission Control's structured details ({message, code, blocked_by_task_ids}, {message,
        # conflicts}, {message, missing_task_ids}) are the detail itself.
        # A field refused is FastAPI's list [{loc, msg, type}].
        details = exc.details if isinstance(exc.details, dict) else {}
        detail: Any = message
        if "message" in details:
            detail = details
        elif "param" in details:
            detail = [{"loc": [str(details["param"])], "msg": message, "type": "value_error"}]
        return {"detail": detail, "code": exc.code, "request_id": request_id}
    error: dict[str, Any] = {"code": exc.code, "message": message}
    if exc.details is not None:
        error["details"] = exc.details
    if exc.retryable:
        error["retryable"] = True
    if exc.retry_after_ms is not None:
        error["retryAfterMs"] = exc.retry_after_ms
    return {"error": error, "request_id": request_id}


def error_response(
    exc: GatewayError, *, family: Family, locale: str, request_id: str, headers: dict[str, str] | None = None
) -> Response:
    out = dict(headers or {})
    if exc.retry_after_ms is not None:
        out["Retry-After"] = str(max(1, -(-exc.retry_after_ms // 1000)))
    # Mission Control answers a request it cannot accept with 422 (FastAPI's validation status).
    status = 422 if family == "mc" and exc.status == 400 else exc.status
    if family == "ct":
        status = _ct_status(exc)
    return Response(
        _encoder.encode(error_body(exc, family, locale, request_id)),
        status_code=status,
        media_type="application/json",
        headers=out,
    )


def request_id_of(request: Request) -> str:
    return str(request.scope.get("state", {}).get("request_id", ""))


def render_exception(request: Request, exc: Exception) -> Response:
    """Any exception as the route family's envelope; our own bugs are 500 with the request id."""
    rid = request_id_of(request)
    if not isinstance(exc, GatewayError):
        log.error("http.unhandled", path=request.url.path, exc_info=exc)
        exc = Internal(request_id=rid)
    return error_response(
        exc,
        family=family_for_path(request.url.path),
        locale=negotiate(request.headers.get("accept-language")),
        request_id=rid,
    )


async def _http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    mapped: GatewayError
    if exc.status_code == 404:
        mapped = NotFound("route_not_found", method=request.method, path=request.url.path)
    elif exc.status_code == 405:
        mapped = InvalidRequest("method_not_allowed", method=request.method, path=request.url.path)
        response = render_exception(request, mapped)
        response.status_code = 405
        response.headers.update(exc.headers or {})  # keeps ``Allow`` (RFC 9110 section 15.5.6)
        return response
    else:
        mapped = InvalidRequest(detail=exc.detail)
    return render_exception(request, mapped)


async def _gateway_exception(request: Request, exc: Exception) -> Response:
    return render_exception(request, exc)


def exception_handlers() -> dict[Any, Any]:
    return {HTTPException: _http_exception, GatewayError: _gateway_exception, Exception: _gateway_exception}
