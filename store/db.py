"""The connection pool and the one place where a lost database becomes ``Unavailable``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeAlias

import asyncpg
import orjson
from asyncpg.transaction import Transaction
from pgvector.asyncpg import register_vector

from clawgate.errors import Unavailable

__all__ = [
    "CONNECTION_ERRORS",
    "Database",
    "DbConnection",
    "Unreachable",
    "connect",
    "create_database",
    "read_snapshot",
]

DbConnection: TypeAlias = asyncpg.Connection
"""A database connection as the rest of the gateway names it: a handle to pass to ``clawgate.store``."""

# Errors that mean "the database is not reachable right now", as opposed to a bad query.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    # A connection whose server vanished mid-exchange (kill -9 of the postmaster) can be left in a
    # protocol state its next use trips over ("cannot switch to state 11; another operation (2) is
    # in progress"): the connection is gone, not the query wrong.
    asyncpg.InternalClientError,
)


class Unreachable(Exception):
    """A connection of its own could not be opened or used: the server is down, refused it or
    rejected the login. ``str()`` is the driver's message."""


async def connect(dsn: str, *, timeout: float = 60.0) -> DbConnection:
    """A connection of its own, outside the pool and without our codecs: for session state that
    must outlive a transaction (LISTEN, the process liveness lock), the migrator and the doctor.

    Raises: Unreachable.
    """
    try:
        return await asyncpg.connect(dsn, timeout=timeout)
    except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
        raise Unreachable(str(exc)) from exc


def read_snapshot(conn: DbConnection) -> Transaction:
    """A read-only transaction on ``conn`` (``async with``) whose reads all see one snapshot
    (repeatable read): a rendering read in several statements is of one moment."""
    return conn.transaction(isolation="repeatable_read", readonly=True)


def _dumps(value: Any) -> str:
    # default=str covers asyncpg's own UUID type, which orjson does not know.
    return orjson.dumps(value, default=str).decode()


async def register_codecs(conn: asyncpg.Connection) -> None:
    """jsonb/json as Python objects via orjson, and pgvector's ``vector`` type."""
    for name in ("jsonb", "json"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")
    await register_vector(conn)


class Database:
    """A pool plus context managers that turn a lost connection into ``Unavailable`` (503)."""

    def __init__(self, pool: asyncpg.Pool, dsn: str) -> None:
        self.pool = pool
        self.dsn = dsn
        self._status: tuple[float, bool] = (-1e9, False)
        self._probe: asyncio.Task[bool] | None = None

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """Acquire a pooled connection (no transaction)."""
        try:
            async with self.pool.acquire() as conn:
                yield conn
        except CONNECTION_ERRORS as exc:
            raise Unavailable("database_unavailable") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """Acquire a connection and open a transaction, committed when the block exits cleanly.

        Cancellation inside the block rolls the transaction back.
        """
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn
        except CONNECTION_ERRORS as exc:
            raise Unavailable("database_unavailable") from exc

    async def ping(self, timeout: float = 2.0) -> bool:
        """True when ``SELECT 1`` answers within ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout), self.pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT 1"))
        except (*CONNECTION_ERRORS, asyncpg.PostgresError):
            return False

    async def healthy(self, max_age: float = 1.0) -> bool:
        """``ping`` at most once per ``max_age`` seconds; concurrent callers share one probe.

        For frequent status reads (the ``health`` RPC), so that they never load the database.
        """
        loop = asyncio.get_running_loop()
        checked, ok = self._status
        if loop.time() - checked < max_age:
            return ok
        if self._probe is None or self._probe.done():
            self._probe = loop.create_task(self._remember())
        return await asyncio.shield(self._probe)

    async def _remember(self) -> bool:
        ok = await self.ping()
        self._status = (asyncio.get_running_loop().time(), ok)
        return ok

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.pool.close(), timeout=5)
        except CONNECTION_ERRORS:
            self.pool.terminate()


async def _keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset: nothing to send. asyncpg's default runs ``pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL`` on every release: four statements and a round trip per use of a
    connection. Pooled connections never carry session state here:
    settings are ``SET LOCAL``/``set_config(.., true)``, advisory locks on them are transaction-scoped,
    and LISTEN and the process liveness lock use connections of their own. An unfinished transaction
    is still rolled back by asyncpg before this is called."""


async def create_database(
    dsn: str, *, min_size: int = 1, max_size: int = 10, command_timeout: float = 30.0
) -> Database:
    """Open a pool on ``dsn`` with our codecs; the ``vector`` extension must already exist."""
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        command_timeout=command_timeout,
        init=register_codecs,
        max_inactive_connection_lifetime=300,
        reset=_keep_session,
    )
    return Database(pool, dsn)
