"""Sliding-window rate limits decided in PostgreSQL, so that a limit holds across every process on
the database: one row per hit in ``window_hits``, under a transaction advisory lock on the key.
Mission Control's agent auth and ClawTasker's writes use it."""

from __future__ import annotations

import asyncpg

from clawgate.sql import query

__all__ = ["hit"]


async def hit(
    conn: asyncpg.Connection, key: str, window_seconds: float, limit: int, *, refused_counts: bool
) -> float:
    """Record one hit of ``key`` in the caller's transaction (which holds the key's lock until it
    ends). Returns 0.0 when fewer than ``limit`` hits were in the window before it, else the seconds
    until a slot frees. A refused hit is recorded only with ``refused_counts`` (Mission Control's
    window: it then takes the oldest hit's slot); without, it leaves the window as it was."""
    await conn.execute(query("windows.lock"), key)
    row = await conn.fetchrow(query("windows.hit"), key, window_seconds, limit, refused_counts)
    if row["n"] < limit:
        return 0.0
    oldest_age: float = row["oldest_age"]
    if refused_counts:
        left: float | None = await conn.fetchval(query("windows.trim"), key)
        return max(1.0, window_seconds - left) if left is not None else window_seconds
    return max(0.001, window_seconds - oldest_age)
