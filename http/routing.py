"""The adapter from an ``Api`` spec to a Starlette endpoint: authenticate, check the role, rate-limit
the credential, decode the body and query with msgspec, call the handler, encode the result."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final
from urllib.parse import quote

import msgspec
import structlog
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from clawgate import wire
from clawgate.crypto import agent_token_prefix
from clawgate.errors import Forbidden, UnsupportedMediaType, invalid_field
from clawgate.logging import bind_caller
from clawgate.principal import Principal, Role
from clawgate.services.clerk import looks_like_jwt
from clawgate.services.exports import Event, sse
from clawgate.state import Gateway

from .errors import render_exception, request_id_of
from .types import Api, HttpContext

__all__ = [
    "QUERY_TOKEN",
    "agent_credential",
    "archive_response",
    "authenticate",
    "check_json_type",
    "credential",
    "decode_body",
    "download_response",
    "event_stream",
    "file_part",
    "json_response",
    "make_route",
]

log = structlog.get_logger("clawgate.http")
_encoder = msgspec.json.Encoder()


def json_response(data: Any, status: int = 200) -> Response:
    return Response(_encoder.encode(data), status_code=status, media_type="application/json")


async def file_part(request: Request) -> tuple[str, bytes]:
    """The one ``file`` part of a ``multipart/form-data`` upload: (its file name, its bytes). Parsed
    by python-multipart as the body arrives (Starlette's ``Request.form``: the file is spooled to a
    temporary file past 1 MB), so a 20 MB upload never holds the event loop (the standard library's
    email parser took about 1 s of CPU for one, in one piece).

    Raises: UnsupportedMediaType (not multipart); InvalidRequest (malformed, another field, not one
    file); PayloadTooLarge (from the body limit, while reading)."""
    content_type = request.headers.get("content-type") or ""
    if content_type.partition(";")[0].strip().lower() != "multipart/form-data":
        raise UnsupportedMediaType(content_type=content_type)
    try:
        async with request.form(max_files=1, max_fields=0) as form:
            parts = form.multi_items()
            if len(parts) != 1 or parts[0][0] != "file" or not isinstance(parts[0][1], UploadFile):
                raise invalid_field("$.file", "send exactly one file part, named file")
            return parts[0][1].filename or "", await parts[0][1].read()
    except (HTTPException, MultiPartException) as exc:
        detail = exc.detail if isinstance(exc, HTTPException) else exc.message
        raise invalid_field(
            "$.file", f"the multipart body is malformed or has another part: {detail}"
        ) from None


def download_response(name: str, data: bytes, media_type: str) -> Response:
    """``data`` as a download named ``name``: ``Content-Disposition: attachment`` with an ASCII
    ``filename`` (other characters, quotes and backslashes as ``_``) and, for a name that is not
    plain ASCII, the exact name as RFC 6266's ``filename*=UTF-8''...`` (``EdgeMiddleware`` adds
    ``nosniff``)."""
    plain = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in name) or "download"
    disposition = f'attachment; filename="{plain}"'
    if plain != name:
        disposition += f"; filename*=UTF-8''{quote(name, safe='')}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})


def archive_response(name: str, data: bytes) -> Response:
    """An export's tar.gz as a download named ``name``."""
    return download_response(name, data, "application/gzip")


SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
"""Headers of every event stream: never cached, never buffered by a proxy."""


def event_stream(events: AsyncIterator[Event]) -> StreamingResponse:
    """An export's progress events (``clawgate.services.exports``) as server-sent events."""

    async def body() -> AsyncIterator[bytes]:
        async for event in events:
            yield sse(*event)

    return StreamingResponse(body(), media_type="text/event-stream", headers=SSE_HEADERS)


def check_json_type(content_type: str | None) -> None:
    """A body must be JSON: ``application/json`` or ``application/*+json``, any parameters (charset),
    any case. No Content-Type at all is read as JSON (clients that send JSON without saying so);
    JSON text sent as a form (``curl -d``), plain text or XML is refused.

    Raises: UnsupportedMediaType (415) naming the type received."""
    if content_type is None:
        return
    media = content_type.partition(";")[0].strip().lower()
    kind, _, subtype = media.partition("/")
    if kind == "application" and (subtype == "json" or subtype.endswith("+json")):
        return
    raise UnsupportedMediaType(content_type=content_type)


def decode_body(raw: bytes, kind: type[Any]) -> Any:
    """Decode a JSON body into ``kind`` (``clawgate.wire``: no NUL outside chat text, 64-bit
    integers, bounded nesting). Raises: InvalidRequest naming the offending field."""
    if not raw.strip():
        raw = b"{}"
    return wire.decode(raw, kind)


def credential(headers: Mapping[str, str]) -> tuple[str, bool]:
    """The token a request presents, and whether a credential header held none: ``Authorization:
    Bearer <token>``, else ``x-api-key: <token>`` (Anthropic-style clients)."""
    header = headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip(), False
    api_key = headers.get("x-api-key", "").strip()
    if api_key:
        return api_key, False
    return "", bool(header.strip())


def agent_credential(headers: Mapping[str, str], *, any_bearer: bool = False) -> str:
    """A Mission Control agent token the request carries: ``X-Agent-Token``, else a bearer shaped
    as one (``mca_`` and 48 hex characters), or any bearer with ``any_bearer`` (a route only agents
    call); "" when none."""
    token = headers.get("x-agent-token", "").strip()
    if token:
        return token
    scheme, _, rest = headers.get("authorization", "").partition(" ")
    rest = rest.strip()
    if scheme.lower() != "bearer":
        return ""
    return rest if any_bearer or agent_token_prefix(rest) is not None else ""


QUERY_TOKEN: Final = "access_token"
"""The query parameter a credential may come in on routes that take one (``Api.query_token``)."""


def presented_token(
    headers: Mapping[str, str], query: Mapping[str, str], *, query_token: bool
) -> tuple[str, bool]:
    """The token a request presents, and whether a credential header held none (``credential``);
    with ``query_token`` and no credential header, the query's ``access_token``. Authentication
    and the per-IP limit's operator exemption (``EdgeMiddleware``) both read it here."""
    token, malformed = credential(headers)
    if query_token and not token and not malformed:
        token = query.get(QUERY_TOKEN, "").strip()
    return token, malformed


async def authenticate(
    request: Request, gateway: Gateway, dev_role: Role = Role.ADMIN, *, clerk: bool = False,
    query_token: bool = False,
) -> Principal:  # fmt: skip
    """The principal behind the request's credential (``credential``) and the ``X-GoClaw-*``
    identity headers. With ``clerk`` (a Mission Control user route) and Clerk configured, a bearer
    shaped as a JWT is a Clerk session token (``clawgate.services.clerk``). With ``query_token``
    and no credential header, the query's ``access_token`` (never logged: request lines log the
    path alone)."""
    token, malformed = presented_token(request.headers, request.query_params, query_token=query_token)
    if clerk and gateway.clerk is not None and looks_like_jwt(token):
        return await gateway.clerk.authenticate(token)
    return await gateway.auth.authenticate(
        token,
        user_id=request.headers.get("x-goclaw-user-id", ""),
        tenant_hint=request.headers.get("x-goclaw-tenant-id", ""),
        dev_role=dev_role,
        malformed=malformed,
    )


def _check_key_rate(gateway: Gateway, who: Principal) -> None:
    """The per-credential limit of every authenticated route. Raises: ResourceExhausted."""
    limiter = gateway.key_limiter
    if limiter.enabled:
        limiter.check(
            f"key:{who.key_id}" if who.key_id else f"{who.via}:{who.user_id}", operator=who.is_operator
        )


def make_route(api: Api) -> Route:
    """A Starlette ``Route`` running ``api.handler`` behind auth, role check and decoding."""

    async def endpoint(request: Request) -> Response:
        request.scope["state"]["route"] = api.path  # the metrics' label (EdgeMiddleware)
        gateway: Gateway = request.state.gateway
        try:
            who: Principal | None = None
            if api.role is not None and not (api.agents and agent_credential(request.headers)):
                who = await authenticate(
                    request, gateway, api.dev_role, clerk=api.family == "mc", query_token=api.query_token
                )
                bind_caller(who)
                if who.role < api.role:
                    raise Forbidden(action=f"{api.method} {api.path}", role=api.role.label)
                _check_key_rate(gateway, who)
            wire.check_texts(request.path_params)
            body = None
            if api.body is not None and not api.own_body:
                check_json_type(request.headers.get("content-type"))
                body = decode_body(await request.body(), api.body)
            if api.query is not None and body is None:
                params = dict(request.query_params)
                if api.query_token:
                    params.pop(QUERY_TOKEN, None)
                body = wire.decode_query(params, api.query)
            ctx = HttpContext(
                gateway=gateway,
                principal=who,
                request=request,
                request_id=request_id_of(request),
            )
            result = await api.handler(ctx, body)
        except Exception as exc:  # GatewayError in its envelope, our own bug as 500 (render_exception)
            return render_exception(request, exc)
        if isinstance(result, Response):
            return result
        return json_response(result, api.status)

    endpoint.__name__ = api.handler.__name__
    return Route(api.path, endpoint, methods=[api.method], name=f"{api.method} {api.path}")
