"""Contracts of the REST layer: the route spec (``Api``) and what a handler receives."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from msgspec import Struct
from starlette.requests import Request

from clawgate.i18n import negotiate
from clawgate.principal import Principal, Role
from clawgate.state import Gateway

__all__ = ["Api", "Family", "Handler", "HttpContext", "Ok"]

Family = Literal["goclaw", "openai", "mc", "ct", "plain"]
"""Which error envelope a route speaks: GoClaw ``{error:{code,message}}``, OpenAI's error object,
Mission Control's ``{detail, request_id}``, ClawTasker's ``{error}``, or plain (health probes)."""


class Ok(Struct):
    """The answer of a write that returns nothing else (a delete): ``{"ok": true}``."""

    ok: bool = True


@dataclass(frozen=True, slots=True)
class HttpContext:
    """What a REST handler gets: the caller, the gateway, and the parsed request parts."""

    gateway: Gateway
    principal: Principal | None  # None on public routes
    request: Request
    request_id: str

    @property
    def locale(self) -> str:
        """The response language from ``Accept-Language`` (en, vi, zh)."""
        return negotiate(self.request.headers.get("accept-language"))

    @property
    def who(self) -> Principal:
        """The authenticated caller (only on routes with a role)."""
        assert self.principal is not None, "public route handler asked for a principal"
        return self.principal

    @property
    def path(self) -> dict[str, Any]:
        return self.request.path_params


Handler = Callable[[HttpContext, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Api:
    """One REST route: method, path, handler, minimum role and wire types (for OpenAPI).

    ``role=None`` means public (no credential). Every other route authenticates first and is
    refused below ``role``: the table fails closed because ``role`` has no default.
    """

    method: str
    path: str
    handler: Handler
    role: Role | None
    summary: str
    body: type | None = None
    query: type | None = None
    response: Any = None
    status: int = 200
    family: Family = "goclaw"
    tag: str = ""
    # More OpenAPI tags after ``tag``: Mission Control's actor tags on its agent routes
    # (``agent-lead``, ``agent-worker``), by which MC's agents discover what they may call.
    role_tags: tuple[str, ...] = ()
    # OpenAPI extensions of the operation (``x-...`` name, JSON value): Mission Control's LLM hints
    # on its agent routes (``x-llm-intent``, ``x-when-to-use`` ...).
    extensions: tuple[tuple[str, Any], ...] = ()
    dev_role: Role = Role.ADMIN
    media_type: str = "application/json"  # of the success answer
    streams: bool = False  # with ``stream: true`` in the body, the answer is ``text/event-stream``
    form: type | None = None  # a ``multipart/form-data`` body: these text fields and ``file`` parts
    # Mission Control's shared routes (``require_admin_or_agent``): an MC agent's token (``X-Agent-Token``,
    # or a bearer shaped as one) skips the user credential; the handler authenticates the agent.
    agents: bool = False
    # The handler reads its body itself (ClawTasker's loose shapes, in CT's order: parse, authenticate,
    # count the write); ``body`` then only documents it (OpenAPI) and is not decoded before the call.
    own_body: bool = False
    # The credential may also come as the query parameter ``access_token`` (RFC 6750 2.3), for a
    # browser's ``EventSource``, which cannot send a header; the header wins when both are sent.
    query_token: bool = False
