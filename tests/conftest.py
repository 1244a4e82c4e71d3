"""Session fixtures: one embedded PostgreSQL for the whole run, a migrated template database, and
a fresh database per test cloned from it; real gateway servers on loopback ports."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import structlog

from clawgate.embedded_pg import EmbeddedPostgres
from clawgate.store.migrate import migrate
from tests.support import GATEWAY_TOKEN, RunningServer, make_settings, start_server

_counter = itertools.count()


def _dsn_for(base: str, database: str) -> str:
    # base is postgresql://postgres:@/postgres?host=/socket/dir
    head, _, query = base.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{database}?{query}"


@pytest.fixture(name="pg", scope="session")
def _pg() -> Iterator[tuple[EmbeddedPostgres, str]]:
    """The embedded server (started once) and the DSN of a migrated template database.

    Its data lives outside pytest's temporary folders, which pytest prunes while other pytest runs
    on the machine may still use them."""
    root = Path(tempfile.mkdtemp(prefix="clawgate-test-pg-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = EmbeddedPostgres(root)
        base = server.start_blocking()

    async def prepare() -> None:
        conn = await asyncpg.connect(base)
        try:
            # A throwaway server: no flush to disk (a database per test cost 269 ms to create and drop
            # with it, 48 ms without). Tests that kill a PostgreSQL server start their own.
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                await conn.execute(f"ALTER SYSTEM SET {setting} = off")
            await conn.execute("SELECT pg_reload_conf()")
            await conn.execute("DROP DATABASE IF EXISTS clawgate_tpl")
            await conn.execute("CREATE DATABASE clawgate_tpl")
        finally:
            await conn.close()
        tpl = await asyncpg.connect(_dsn_for(base, "clawgate_tpl"))
        try:
            await migrate(tpl)
        finally:
            await tpl.close()

    asyncio.run(prepare())
    yield server, base
    server.stop_blocking()
    shutil.rmtree(root, ignore_errors=True)


@contextlib.asynccontextmanager
async def scratch_database(base: str, prefix: str, template: str) -> AsyncIterator[str]:
    """A database cloned from ``template`` for one test, dropped (even if in use) afterwards."""
    name = f"{prefix}_{next(_counter)}"
    conn = await asyncpg.connect(base)
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {template} STRATEGY FILE_COPY")
    finally:
        await conn.close()
    try:
        yield _dsn_for(base, name)
    finally:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        finally:
            await conn.close()


@pytest.fixture(name="dsn")
async def _dsn(pg: tuple[EmbeddedPostgres, str]) -> AsyncIterator[str]:
    """A fresh, migrated database for this test (cloned from the template), dropped afterwards."""
    async with scratch_database(pg[1], "t", "clawgate_tpl") as dsn:
        yield dsn


ServerFactory = Callable[..., Awaitable[RunningServer]]


@pytest.fixture(name="make_server")
async def _make_server(dsn: str, tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start real gateway servers on this test's database; ``overrides`` are dotted settings."""
    running: list[RunningServer] = []

    async def factory(**overrides: Any) -> RunningServer:
        opts = {k.replace("__", "."): v for k, v in overrides.items()}
        srv = await start_server(make_settings(dsn, tmp_path / "data", **opts))
        running.append(srv)
        return srv

    yield factory
    for srv in reversed(running):
        await srv.stop()


@pytest.fixture(name="server")
async def _server(make_server: ServerFactory) -> RunningServer:
    """A gateway with a gateway token; owner id ``owner``."""
    return await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])


@pytest.fixture(name="unthrottled")
async def _unthrottled(make_server: ServerFactory) -> RunningServer:
    """The ``server`` fixture without rate limits, for tests that send hundreds of requests."""
    return await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], gateway__rate_limit_rpm=0,
        rate_limits__per_ip_rpm=0, rate_limits__per_key_rpm=0,
    )  # fmt: skip


@pytest.fixture(name="dev_server")
async def _dev_server(make_server: ServerFactory) -> RunningServer:
    """A gateway with no token on loopback (development mode)."""
    return await make_server()


@pytest.fixture(autouse=True)
def _reset_context() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
