"""The event bus between processes: ``NOTIFY`` on a channel, ``LISTEN`` on a connection of its
own, and the spill table for bodies too large for a notification (``clawgate.bus`` decides what
goes where)."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

import asyncpg

from clawgate.sql import query
from clawgate.store._rows import affected
from clawgate.store.db import CONNECTION_ERRORS, Unreachable

__all__ = ["fetch_spill", "listen", "notify", "notify_all", "prune_spill", "spill"]


async def notify(conn: asyncpg.Connection, channel: str, payload: str) -> None:
    """Send ``payload`` (under 8000 bytes) to every session listening on ``channel``."""
    await conn.execute(query("bus.notify"), channel, payload)


async def notify_all(conn: asyncpg.Connection, channel: str, payloads: list[str]) -> None:
    """Send ``payloads`` (each under 8000 bytes) on ``channel`` in one statement, in order: one
    transaction, and one commit, for them all."""
    await conn.execute(query("bus.notify_all"), channel, payloads)


async def spill(conn: asyncpg.Connection, tenant_id: UUID, body: bytes) -> int:
    """Store a body too large to notify; returns the id to notify instead."""
    spill_id: int = await conn.fetchval(query("bus.spill"), tenant_id, body)
    return spill_id


async def fetch_spill(conn: asyncpg.Connection, spill_id: int) -> bytes | None:
    """A spilled body; None once pruned."""
    body: bytes | None = await conn.fetchval(query("bus.fetch_spill"), spill_id)
    return body


async def prune_spill(conn: asyncpg.Connection) -> int:
    """Delete spilled bodies older than an hour (every listener has fetched them long since);
    returns how many."""
    status: str = await conn.execute(query("bus.prune_spill"))
    return affected(status)


async def listen(
    conn: asyncpg.Connection, channel: str, on_payload: Callable[[str], None], on_lost: Callable[[], None]
) -> None:
    """Call ``on_payload`` with each notification on ``channel`` that reaches ``conn`` (a connection
    of its own, ``clawgate.store.db.connect``), and ``on_lost`` once ``conn`` is gone.

    Raises: Unreachable when the connection fails meanwhile.
    """
    conn.add_termination_listener(lambda _conn: on_lost())
    try:
        await conn.add_listener(channel, lambda _conn, _pid, _channel, payload: on_payload(payload))
    except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
        raise Unreachable(str(exc)) from exc
