"""The migration runner: applies ``clawgate.sql.MIGRATIONS`` in order under an advisory lock,
recording each version with its checksum. A changed applied migration stops startup."""

from __future__ import annotations

import asyncpg

from clawgate.errors import ConfigError
from clawgate.sql import MIGRATIONS

__all__ = ["applied_versions", "migrate", "pgvector_available"]

# pg_advisory_lock key: any constant that other applications are unlikely to use.
_LOCK_KEY = 0x636C617767617465  # "clawgate"

_CREATE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


async def pgvector_available(conn: asyncpg.Connection) -> bool:
    """True when the server can ``CREATE EXTENSION vector``."""
    return bool(await conn.fetchval("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"))


async def applied_versions(conn: asyncpg.Connection) -> dict[int, str]:
    """Applied versions and their checksums (empty before the first migration)."""
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations ORDER BY version")
    return {int(r["version"]): str(r["checksum"]) for r in rows}


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied.

    Safe to run from several processes at once: the advisory lock serialises them and the
    second finds nothing to do.

    Raises:
        ConfigError: an applied migration's file changed, or the database is newer than this code.
    """
    applied_names: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(_CREATE)
        applied = await applied_versions(conn)
        known = {m.version for m in MIGRATIONS}
        unknown = sorted(set(applied) - known)
        if unknown:
            raise ConfigError(
                f"the database has migrations {unknown} that this ClawGate does not know; upgrade ClawGate"
            )
        for migration in MIGRATIONS:
            checksum = applied.get(migration.version)
            if checksum is not None:
                if checksum != migration.checksum:
                    raise ConfigError(
                        f"migration {migration.version:04d}_{migration.name}.sql changed after it was "
                        "applied; applied migrations are immutable: restore the file and add a new one"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            applied_names.append(f"{migration.version:04d}_{migration.name}")
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_names
