"""Every named query against the migrated schema, and the schema's tenancy invariant."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from clawgate.sql import QUERIES, query
from clawgate.store.db import register_codecs

# Tables that are not tenant data: the tenants themselves and the migration ledger.
# window_hits: the rate limits' hits decided in PostgreSQL (store/windows.py), keyed by client IP (and
# tenant where one is known): MC's agent auth counts before any tenant is known.
_NOT_TENANT_DATA = {"tenants", "schema_migrations", "window_hits"}


@pytest.fixture(name="conn")
async def _conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    await register_codecs(conn)
    try:
        yield conn
    finally:
        await conn.close()


class TestNamedQueries:
    async def test_there_are_queries_in_every_namespace(self) -> None:
        """The loader found the query files (a broken loader would make the next test vacuous)."""
        namespaces = {name.split(".", 1)[0] for name in QUERIES}
        assert {"agents", "api_keys", "providers", "tenants", "system_configs", "bus"} <= namespaces
        assert all(sql.strip() for sql in QUERIES.values())

    async def test_every_query_prepares_against_the_schema(self, conn: asyncpg.Connection) -> None:
        """Each named query parses and type-checks against the migrated schema. One database for all
        of them (a database per query cost 1.4 s each, a fifth of the suite); a failure names every
        query that does not prepare, with PostgreSQL's message."""
        failed: dict[str, str] = {}
        for name in sorted(QUERIES):
            try:
                await conn.prepare(QUERIES[name])
            except asyncpg.PostgresError as exc:
                failed[name] = f"{exc.__class__.__name__}: {exc}"
        assert failed == {}
        assert len(QUERIES) > 300  # every file was loaded

    async def test_unknown_query_name_fails_loudly(self) -> None:
        """A typo in a query name is a KeyError at the call site, never an empty query."""
        with pytest.raises(KeyError):
            query("agents.no_such_query")


class TestSchemaInvariants:
    async def test_every_tenant_table_has_a_non_null_tenant_id(self, conn: asyncpg.Connection) -> None:
        """Every table of tenant data carries ``tenant_id NOT NULL`` (docs/architecture.md: "The store")."""
        rows = await conn.fetch(
            """
            SELECT t.tablename, c.is_nullable
              FROM pg_tables AS t
              LEFT JOIN information_schema.columns AS c
                ON c.table_schema = t.schemaname
               AND c.table_name   = t.tablename
               AND c.column_name  = 'tenant_id'
             WHERE t.schemaname = 'public'
            """
        )
        offenders = [
            r["tablename"]
            for r in rows
            if r["tablename"] not in _NOT_TENANT_DATA and r["is_nullable"] != "NO"
        ]
        assert offenders == []
        assert len(rows) > len(_NOT_TENANT_DATA)
