"""The migration runner against real PostgreSQL: a fresh apply, idempotence, immutability of
applied migrations (checked at startup), and concurrent runners serialised by the advisory lock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from clawgate.app import open_database
from clawgate.errors import ConfigError
from clawgate.sql import MIGRATIONS
from clawgate.store.migrate import applied_versions, migrate
from tests.support import make_settings


class TestMigrate:
    async def test_fresh_database_gets_every_migration_recorded(self, empty_dsn: str) -> None:
        """On an empty database every migration is applied and recorded with its checksum."""
        conn = await asyncpg.connect(empty_dsn)
        try:
            applied = await migrate(conn)
            versions = await applied_versions(conn)
            tables = {
                r["tablename"]
                for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            }
            master = await conn.fetchval(
                "SELECT slug FROM tenants WHERE id = '0193a5b0-7000-7000-8000-000000000001'"
            )
        finally:
            await conn.close()
        assert applied == [f"{m.version:04d}_{m.name}" for m in MIGRATIONS]
        assert versions == {m.version: m.checksum for m in MIGRATIONS}
        assert {"tenants", "agents", "api_keys", "llm_providers", "schema_migrations"} <= tables
        assert master == "master"

    async def test_second_run_applies_nothing(self, empty_dsn: str) -> None:
        """Running the migrations again is a no-op and leaves the records unchanged."""
        conn = await asyncpg.connect(empty_dsn)
        try:
            await migrate(conn)
            before = await conn.fetch(
                "SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1"
            )
            again = await migrate(conn)
            after = await conn.fetch("SELECT version, checksum, applied_at FROM schema_migrations ORDER BY 1")
        finally:
            await conn.close()
        assert again == []
        assert before == after

    async def test_concurrent_runners_both_succeed_once(self, empty_dsn: str) -> None:
        """Two migrate() calls racing on a fresh database both succeed; each migration runs once."""
        first, second = await asyncpg.connect(empty_dsn), await asyncpg.connect(empty_dsn)
        try:
            results = await asyncio.gather(migrate(first), migrate(second))
            count = await first.fetchval("SELECT count(*) FROM schema_migrations")
        finally:
            await first.close()
            await second.close()
        assert sorted(results, key=len) == [[], [f"{m.version:04d}_{m.name}" for m in MIGRATIONS]]
        assert count == len(MIGRATIONS)

    async def test_lock_is_released_after_a_failure(self, empty_dsn: str) -> None:
        """A runner that fails on a changed migration releases the advisory lock for the next one."""
        conn = await asyncpg.connect(empty_dsn)
        try:
            await migrate(conn)
            await conn.execute("UPDATE schema_migrations SET checksum = 'x' WHERE version = 1")
            with pytest.raises(ConfigError):
                await migrate(conn)
            await conn.execute(
                "UPDATE schema_migrations SET checksum = $1 WHERE version = 1", MIGRATIONS[0].checksum
            )
            other = await asyncpg.connect(empty_dsn)
            try:
                assert await asyncio.wait_for(migrate(other), 5) == []
            finally:
                await other.close()
        finally:
            await conn.close()


class TestImmutability:
    async def test_changed_applied_migration_stops_startup(self, dsn: str, tmp_path: Path) -> None:
        """A checksum that no longer matches an applied migration stops startup with ConfigError
        naming the file and what to do."""
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
        finally:
            await conn.close()
        settings = make_settings(dsn, tmp_path / "data")
        with pytest.raises(ConfigError, match=r"0001_.*\.sql changed after it was applied"):
            await open_database(settings)

    async def test_unknown_newer_migration_stops_startup(self, dsn: str, tmp_path: Path) -> None:
        """A database migrated by a newer ClawGate (unknown version) stops startup with ConfigError."""
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (9999, 'future', 'x')"
            )
        finally:
            await conn.close()
        with pytest.raises(ConfigError, match="upgrade ClawGate"):
            await open_database(make_settings(dsn, tmp_path / "data"))

    async def test_startup_on_a_current_database_succeeds(self, dsn: str, tmp_path: Path) -> None:
        """The same startup path accepts an up-to-date database (the two failures above are specific)."""
        resolved, embedded = await open_database(make_settings(dsn, tmp_path / "data"))
        assert resolved == dsn
        assert embedded is None
