"""Mission Control's board webhooks (reference 1.10, 2.9): configuration and stored payloads for
users with the board's access, and the public ingest ``POST /api/v1/boards/{b}/webhooks/{w}``
(no bearer: 60 per 60 s per client IP, 1 MiB, 404 unknown, 410 disabled, 403 bad signature, 202
``{ok, board_id, webhook_id, payload_id}``). Errors are MC's ``{detail, request_id}``."""

from __future__ import annotations

from typing import Final

from starlette.requests import Request

from clawgate.errors import PayloadTooLarge
from clawgate.principal import Role
from clawgate.services.webhooks import (
    MAX_PAYLOAD_BYTES,
    IngestRead,
    PayloadRead,
    WebhookCreate,
    WebhookPatch,
    WebhookRead,
)

from .middleware import client_ip
from .mission_control import Page, PageQuery, paged, path_uuid
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES", "read_capped"]


async def read_capped(request: Request, limit: int) -> bytes:
    """The body, refused past ``limit`` bytes (413) whether or not ``Content-Length`` said so. The
    rest of a larger body is read and dropped (the edge's own limit bounds it), so that the client
    reads its 413 rather than a reset."""
    kept: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= limit:
            kept.append(chunk)
    if size > limit:
        raise PayloadTooLarge(limit=limit)
    return b"".join(kept)


async def list_webhooks(ctx: HttpContext, query: PageQuery) -> Page[WebhookRead]:
    return paged(
        await ctx.gateway.webhooks.list_webhooks(
            ctx.who, path_uuid(ctx, "board_id"), query.limit, query.offset
        ),
        query,
    )


async def create_webhook(ctx: HttpContext, body: WebhookCreate) -> WebhookRead:
    return await ctx.gateway.webhooks.create(ctx.who, path_uuid(ctx, "board_id"), body)


async def get_webhook(ctx: HttpContext, _: None) -> WebhookRead:
    return await ctx.gateway.webhooks.get(ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "webhook_id"))


async def update_webhook(ctx: HttpContext, body: WebhookPatch) -> WebhookRead:
    return await ctx.gateway.webhooks.update(
        ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "webhook_id"), body
    )


async def delete_webhook(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.webhooks.delete(ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "webhook_id"))
    return Ok()


async def list_payloads(ctx: HttpContext, query: PageQuery) -> Page[PayloadRead]:
    return paged(
        await ctx.gateway.webhooks.payloads(
            ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "webhook_id"), query.limit, query.offset
        ),
        query,
    )


async def get_payload(ctx: HttpContext, _: None) -> PayloadRead:
    return await ctx.gateway.webhooks.payload(
        ctx.who, path_uuid(ctx, "board_id"), path_uuid(ctx, "webhook_id"), path_uuid(ctx, "payload_id")
    )


async def ingest(ctx: HttpContext, _: None) -> IngestRead:
    """The public ingest, in MC's order: the per-IP window, the webhook (404, 410), the body (413),
    the signature (403)."""
    hooks = ctx.gateway.webhooks
    ip = client_ip(ctx.request.scope)
    await hooks.limit(ip)
    hook = await hooks.target(path_uuid(ctx, "board_id"), path_uuid(ctx, "webhook_id"))
    raw = await read_capped(ctx.request, MAX_PAYLOAD_BYTES)
    return await hooks.ingest(hook, raw, ctx.request.headers, ip or None)


_HOOKS: Final = "/api/v1/boards/{board_id}/webhooks"
_HOOK: Final = _HOOKS + "/{webhook_id}"
_TAG: Final = "mission-control"
ROUTES = [
    Api("GET", _HOOKS, list_webhooks, Role.VIEWER, "MC: a board's webhooks, newest first", query=PageQuery,
        response=Page[WebhookRead], family="mc", tag=_TAG),
    Api("POST", _HOOKS, create_webhook, Role.OPERATOR,
        "MC: create a board webhook (instruction, target agent, optional HMAC secret)", body=WebhookCreate,
        response=WebhookRead, family="mc", tag=_TAG),
    Api("GET", _HOOK, get_webhook, Role.VIEWER, "MC: a board webhook (has_secret, never the secret)",
        response=WebhookRead, family="mc", tag=_TAG),
    Api("PATCH", _HOOK, update_webhook, Role.OPERATOR, "MC: change a board webhook (null clears)",
        body=WebhookPatch, response=WebhookRead, family="mc", tag=_TAG),
    Api("DELETE", _HOOK, delete_webhook, Role.OPERATOR, "MC: delete a board webhook with its payloads",
        response=Ok, family="mc", tag=_TAG),
    Api("POST", _HOOK, ingest, None,
        "MC: deliver a payload to a board webhook (public; HMAC-SHA256 signature when it has a secret; "
        "60 per minute per IP; 1 MiB)", response=IngestRead, status=202, family="mc", tag=_TAG),
    Api("GET", _HOOK + "/payloads", list_payloads, Role.VIEWER, "MC: a webhook's stored payloads, newest first",
        query=PageQuery, response=Page[PayloadRead], family="mc", tag=_TAG),
    Api("GET", _HOOK + "/payloads/{payload_id}", get_payload, Role.VIEWER, "MC: one stored webhook payload",
        response=PayloadRead, family="mc", tag=_TAG),
]  # fmt: skip
