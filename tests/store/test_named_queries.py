"""Every named query in sql/queries prepares against the migrated schema."""

from __future__ import annotations

import asyncpg

from clawgate.sql import QUERIES


class TestNamedQueries:
    async def test_every_query_prepares_against_the_schema(self, dsn: str) -> None:
        """Typos, schema drift and ambiguous parameter types fail here, not at run time."""
        conn = await asyncpg.connect(dsn)
        failures: list[str] = []
        try:
            for name, sql in QUERIES.items():
                try:
                    await conn.prepare(sql)
                except asyncpg.PostgresError as exc:
                    failures.append(f"{name}: {exc.__class__.__name__}: {exc}")
        finally:
            await conn.close()
        assert failures == []
        assert len(QUERIES) > 0
