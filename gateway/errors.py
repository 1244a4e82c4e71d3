"""The one error tree of ClawGate. Each error carries its protocol code, HTTP status, JSON-RPC
number and an i18n message key; each transport maps it once (``clawgate.http.errors``,
``clawgate.rpc.protocol``)::

    GatewayError
    ├── InvalidRequest          INVALID_REQUEST       400  -32602
    │   ├── PayloadTooLarge     INVALID_REQUEST       413  -32600
    │   └── UnsupportedMediaType INVALID_REQUEST      415  -32600   (a body that is not JSON)
    ├── Unauthorized            UNAUTHORIZED          401  -32001
    │   └── Forbidden           UNAUTHORIZED          403  -32001   (role too low)
    ├── TenantAccessRevoked     TENANT_ACCESS_REVOKED 403  -32001
    ├── NotFound                NOT_FOUND             404  -32004
    ├── AlreadyExists           ALREADY_EXISTS        409  -32009
    ├── FailedPrecondition      FAILED_PRECONDITION   409  -32009
    │   └── Gone                FAILED_PRECONDITION   410  -32009   (a disabled MC webhook)
    ├── ResourceExhausted       RESOURCE_EXHAUSTED    429  -32029   (retry_after_ms)
    ├── UpstreamError           UNAVAILABLE           502  -32603
    ├── Unavailable             UNAVAILABLE           503  -32603
    ├── AgentTimeout            AGENT_TIMEOUT         504  -32603
    ├── NotImplementedYet       NOT_IMPLEMENTED       501  -32601
    └── Internal                INTERNAL              500  -32603

``ConfigError`` is separate: it stops startup with a plain message and is never sent to a client.
Our own bugs are plain exceptions; transports render them as ``Internal`` with the request id.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from clawgate.i18n import clip, render

__all__ = [
    "AgentTimeout",
    "AlreadyExists",
    "ConfigError",
    "FailedPrecondition",
    "Forbidden",
    "GatewayError",
    "Gone",
    "Internal",
    "InvalidRequest",
    "NotFound",
    "NotImplementedYet",
    "PayloadTooLarge",
    "ResourceExhausted",
    "TenantAccessRevoked",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "UpstreamError",
    "invalid_field",
    "invalid_from_validation",
]


class ConfigError(Exception):
    """The configuration is unusable; the message says what to fix."""


class GatewayError(Exception):
    """Base of every error a client may see."""

    code: ClassVar[str] = "INTERNAL"
    status: ClassVar[int] = 500
    rpc_code: ClassVar[int] = -32603
    default_key: ClassVar[str] = "internal"
    retryable: ClassVar[bool] = False
    default_retry_after_ms: ClassVar[int | None] = None

    def __init__(
        self,
        key: str | None = None,
        /,
        *,
        details: Any = None,
        retry_after_ms: int | None = None,
        **params: object,
    ) -> None:
        self.key = key or self.default_key
        self.params: dict[str, object] = params
        self.details = details
        self.retry_after_ms = self.default_retry_after_ms if retry_after_ms is None else retry_after_ms
        super().__init__(self.message("en"))

    def message(self, locale: str = "en") -> str:
        return render(self.key, locale, self.params)


class InvalidRequest(GatewayError):
    code, status, rpc_code, default_key = "INVALID_REQUEST", 400, -32602, "invalid_request"


def invalid_from_validation(exc: Exception) -> InvalidRequest:
    """An ``InvalidRequest`` from a msgspec ``ValidationError``, with ``details.field`` naming the
    offending path (``$.params.name``), also for unknown and missing fields."""
    text = str(exc)
    path = "$"
    if " - at `" in text:
        path = text.rsplit(" - at `", 1)[1].rstrip("`")
    named = re.search(r"(?:unknown|missing required) field `([^`]+)`", text)
    if named:
        path = f"{path}.{named.group(1)}"
    return InvalidRequest(detail=text, details=_where(path))


def _where(path: str) -> dict[str, str]:
    path = clip(path)
    return {"field": path, "param": path.removeprefix("$.")}


def invalid_field(path: str, detail: str) -> InvalidRequest:
    """An ``InvalidRequest`` about the value at ``path`` (``$.tools_config.n``), in the same shape
    as ``invalid_from_validation``."""
    where = _where(path)
    return InvalidRequest(detail=f"{detail} - at `{where['field']}`", details=where)


class PayloadTooLarge(InvalidRequest):
    status, rpc_code, default_key = 413, -32600, "body_too_large"


class UnsupportedMediaType(InvalidRequest):
    status, rpc_code, default_key = 415, -32600, "unsupported_media_type"


class Unauthorized(GatewayError):
    code, status, rpc_code, default_key = "UNAUTHORIZED", 401, -32001, "unauthorized"


class Forbidden(Unauthorized):
    status, default_key = 403, "requires_role"


class TenantAccessRevoked(GatewayError):
    code, status, rpc_code, default_key = "TENANT_ACCESS_REVOKED", 403, -32001, "tenant_access_revoked"


class NotFound(GatewayError):
    code, status, rpc_code, default_key = "NOT_FOUND", 404, -32004, "not_found"


class AlreadyExists(GatewayError):
    code, status, rpc_code, default_key = "ALREADY_EXISTS", 409, -32009, "already_exists"


class FailedPrecondition(GatewayError):
    code, status, rpc_code, default_key = "FAILED_PRECONDITION", 409, -32009, "failed_precondition"


class Gone(FailedPrecondition):
    """What was asked for exists but is switched off for good (Mission Control's 410)."""

    status = 410


class ResourceExhausted(GatewayError):
    code, status, rpc_code, default_key = "RESOURCE_EXHAUSTED", 429, -32029, "rate_limited"
    retryable = True


class Unavailable(GatewayError):
    code, status, rpc_code, default_key = "UNAVAILABLE", 503, -32603, "unavailable"
    retryable = True
    # A lost database is back within a second or so (the embedded one is restarted at once):
    # ``Retry-After: 1`` unless the raiser knows better.
    default_retry_after_ms: ClassVar[int | None] = 1000


class UpstreamError(Unavailable):
    status, default_key = 502, "upstream_error"
    default_retry_after_ms: ClassVar[int | None] = None  # the provider's own Retry-After, when it sent one


class AgentTimeout(GatewayError):
    code, status, rpc_code, default_key = "AGENT_TIMEOUT", 504, -32603, "internal"
    retryable = True


class NotImplementedYet(GatewayError):
    code, status, rpc_code, default_key = "NOT_IMPLEMENTED", 501, -32601, "not_implemented"


class Internal(GatewayError):
    code, status, rpc_code, default_key = "INTERNAL", 500, -32603, "internal"
