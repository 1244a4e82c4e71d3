"""Store fixtures: an empty database (nothing migrated) beside the per-test migrated ``dsn``, and a
connection to the latter with the gateway's codecs."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from clawgate.embedded_pg import EmbeddedPostgres
from clawgate.store import DbConnection
from clawgate.store.db import connect, register_codecs
from tests.conftest import scratch_database


@pytest.fixture(name="empty_dsn")
async def _empty_dsn(pg: tuple[EmbeddedPostgres, str]) -> AsyncIterator[str]:
    """A brand-new database with no tables at all, dropped afterwards."""
    async with scratch_database(pg[1], "empty", "template0") as dsn:
        yield dsn


@pytest.fixture(name="conn")
async def _conn(dsn: str) -> AsyncIterator[DbConnection]:
    conn = await connect(dsn)
    await register_codecs(conn)
    try:
        yield conn
    finally:
        await conn.close()
