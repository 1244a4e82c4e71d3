"""Store fixtures: an empty database (nothing migrated) beside the per-test migrated ``dsn``."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator

import asyncpg
import pytest

from clawgate.embedded_pg import EmbeddedPostgres
from tests.conftest import _dsn_for

_counter = itertools.count()


@pytest.fixture(name="empty_dsn")
async def _empty_dsn(pg: tuple[EmbeddedPostgres, str]) -> AsyncIterator[str]:
    """A brand-new database with no tables at all, dropped afterwards."""
    base = pg[1]
    name = f"empty_{next(_counter)}"
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE template0")
    finally:
        await conn.close()
    yield _dsn_for(base, name)
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()
