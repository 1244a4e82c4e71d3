"""Store fixtures: an empty database (nothing migrated) beside the per-test migrated ``dsn``."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from clawgate.embedded_pg import EmbeddedPostgres
from tests.conftest import scratch_database


@pytest.fixture(name="empty_dsn")
async def _empty_dsn(pg: tuple[EmbeddedPostgres, str]) -> AsyncIterator[str]:
    """A brand-new database with no tables at all, dropped afterwards."""
    async with scratch_database(pg[1], "empty", "template0") as dsn:
        yield dsn
