"""Background rounds' claims: a job (memory's embedding pass, the vault's, ...) runs in one process
at a time across every process on the database."""

from __future__ import annotations

import asyncpg

from clawgate.sql import query

__all__ = ["claim_job"]

_JOBS = 0x434C4A42  # "CLJB": the advisory lock namespace of background jobs


async def claim_job(conn: asyncpg.Connection, name: str) -> bool:
    """Take job ``name``'s lock until the transaction ``conn`` is in ends (a process that dies
    drops it with its connection). Returns: False when another session holds it."""
    return bool(await conn.fetchval(query("background.claim_job"), _JOBS, name))
