"""The embedded server's own settings (``clawgate.conf`` in its data directory)."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from clawgate.embedded_pg import EmbeddedPostgres, shared_buffers_for


@pytest.fixture(name="root")
def _root() -> Iterator[Path]:
    # Outside pytest's temporary folders: another pytest run resets their permissions.
    root = Path(tempfile.mkdtemp(prefix="clawgate-test-conf-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


async def _shared_buffers(root: Path, mb: int) -> str:
    server = EmbeddedPostgres(root, shared_buffers_mb=mb)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dsn = await asyncio.to_thread(server.start_blocking)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CREATE TABLE IF NOT EXISTS kept (n int); INSERT INTO kept VALUES (1)")
            value = str(await conn.fetchval("SHOW shared_buffers"))
            kept = await conn.fetchval("SELECT count(*) FROM kept")
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(server.stop_blocking)
    return f"{value} {kept}"


async def test_shared_buffers_apply_from_the_first_start_and_follow_the_setting(root: Path) -> None:
    """A new data directory's server runs with the configured ``shared_buffers`` from its first
    start; a changed setting applies at the next start; the data stays."""
    first = await _shared_buffers(root, 160)
    second = await _shared_buffers(root, 192)
    assert (first, second) == ("160MB 1", "192MB 2")
    assert (root / "pg" / "postgresql.conf").read_text().count("include_if_exists = 'clawgate.conf'") == 1


def test_automatic_shared_buffers_are_a_quarter_of_memory_within_bounds() -> None:
    assert 128 <= shared_buffers_for(0) <= 1024
    assert shared_buffers_for(300) == 300
