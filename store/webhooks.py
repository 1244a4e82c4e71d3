"""Mission Control's board webhooks and the payloads they received. Every function takes the
tenant, except ``ingest_target``: the public ingest URL names the board and the webhook, and the
row found names the tenant. A webhook's ``secret`` is returned as stored (encrypted); the service
decrypts it."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe, one

__all__ = [
    "PayloadRow",
    "WebhookFields",
    "WebhookRow",
    "delete",
    "get",
    "get_payload",
    "ingest_target",
    "insert",
    "insert_payload",
    "list_payloads",
    "list_webhooks",
    "update",
]


class WebhookFields(Struct, kw_only=True):
    """What a webhook row holds that a write sets."""

    agent_id: UUID | None
    description: str
    enabled: bool
    secret: str | None
    signature_header: str | None


class WebhookRow(WebhookFields, kw_only=True):
    id: UUID
    team_id: UUID
    created_at: datetime
    updated_at: datetime
    tenant_id: UUID | None = None  # ingest_target's only
    total: int = 0


class PayloadRow(Struct, kw_only=True):
    id: UUID
    team_id: UUID
    webhook_id: UUID
    payload: Any
    headers: dict[str, str]
    source_ip: str | None
    content_type: str | None
    received_at: datetime
    total: int = 0


async def insert(
    conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, fields: WebhookFields
) -> WebhookRow:
    row = await conn.fetchrow(
        query("webhooks.insert"), tenant_id, board_id, fields.agent_id, fields.description, fields.enabled,
        fields.secret, fields.signature_header,
    )  # fmt: skip
    return one(row, WebhookRow)


async def list_webhooks(
    conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, limit: int, offset: int
) -> list[WebhookRow]:
    return many(await conn.fetch(query("webhooks.list"), tenant_id, board_id, limit, offset), WebhookRow)


async def get(
    conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, webhook_id: UUID
) -> WebhookRow | None:
    return maybe(await conn.fetchrow(query("webhooks.get"), tenant_id, board_id, webhook_id), WebhookRow)


async def update(
    conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, webhook_id: UUID, fields: WebhookFields
) -> WebhookRow | None:
    row = await conn.fetchrow(
        query("webhooks.update"), tenant_id, board_id, webhook_id, fields.agent_id, fields.description,
        fields.enabled, fields.secret, fields.signature_header,
    )  # fmt: skip
    return maybe(row, WebhookRow)


async def delete(conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, webhook_id: UUID) -> bool:
    """Delete the webhook with its payloads; False when there was none."""
    return affected(await conn.execute(query("webhooks.delete"), tenant_id, board_id, webhook_id)) > 0


async def ingest_target(conn: asyncpg.Connection, board_id: UUID, webhook_id: UUID) -> WebhookRow | None:
    """The webhook a public ingest URL names, whichever tenant's (``tenant_id`` set)."""
    return maybe(await conn.fetchrow(query("webhooks.ingest_target"), board_id, webhook_id), WebhookRow)


async def insert_payload(
    conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, webhook_id: UUID, payload: Any,
    headers: dict[str, str], source_ip: str | None, content_type: str | None,
) -> PayloadRow:  # fmt: skip
    row = await conn.fetchrow(
        query("webhooks.payload_insert"), tenant_id, board_id, webhook_id, payload, headers, source_ip,
        content_type,
    )  # fmt: skip
    return one(row, PayloadRow)


async def list_payloads(
    conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, webhook_id: UUID, limit: int, offset: int
) -> list[PayloadRow]:
    rows = await conn.fetch(query("webhooks.payload_list"), tenant_id, board_id, webhook_id, limit, offset)
    return many(rows, PayloadRow)


async def get_payload(
    conn: asyncpg.Connection, tenant_id: UUID, board_id: UUID, webhook_id: UUID, payload_id: UUID
) -> PayloadRow | None:
    row = await conn.fetchrow(query("webhooks.payload_get"), tenant_id, board_id, webhook_id, payload_id)
    return maybe(row, PayloadRow)
