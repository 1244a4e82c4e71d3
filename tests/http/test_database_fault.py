"""The database stops (or is killed) and comes back while the gateway runs: requests answer 503
UNAVAILABLE meanwhile (never 500), and succeed again without restarting the gateway."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from clawgate.embedded_pg import EmbeddedPostgres
from tests.http.helpers import assert_error
from tests.support import (
    GATEWAY_TOKEN,
    RUNNABLE,
    RunningServer,
    add_stub_provider,
    make_settings,
    start_server,
)


@pytest.fixture(name="own_pg")
async def _own_pg() -> AsyncIterator[EmbeddedPostgres]:
    """A separate embedded server (not the session one), so this test may stop or kill it. Its data
    lives outside pytest's temporary folders, whose permissions another pytest run resets."""
    root = Path(tempfile.mkdtemp(prefix="clawgate-test-fault-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = EmbeddedPostgres(root / "faultdb")
        await server.start()
    yield server
    await server.stop()
    shutil.rmtree(root, ignore_errors=True)


async def _gateway_on(own_pg: EmbeddedPostgres, tmp_path: Path) -> tuple[str, RunningServer]:
    """A gateway (token ``GATEWAY_TOKEN``, 3 s command timeout) on ``own_pg``, and its DSN."""
    dsn = await own_pg.start()
    settings = make_settings(
        dsn, tmp_path / "data", **{"gateway.token": GATEWAY_TOKEN, "database.command_timeout_seconds": 3}
    )
    return dsn, await start_server(settings)


async def _until_ok(http: httpx.AsyncClient, path: str, within: float = 10.0) -> httpx.Response:
    """Poll ``path`` until it answers 200; every answer meanwhile must be a 503 UNAVAILABLE."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        res = await http.get(path)
        if res.status_code == 200:
            return res
        assert_error(res, 503, "UNAVAILABLE")
        assert asyncio.get_running_loop().time() < deadline, f"{path} did not recover in {within} s"
        await asyncio.sleep(0.1)


async def _until_down(http: httpx.AsyncClient, path: str, within: float = 10.0) -> httpx.Response:
    """Poll ``path`` until it answers 503 (returned); every answer before must be a 200 (a backend
    may answer a moment after its postmaster died)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        res = await http.get(path)
        if res.status_code != 200:
            return res
        assert asyncio.get_running_loop().time() < deadline, f"{path} still answers after {within} s"
        await asyncio.sleep(0.02)


class TestDatabaseRestart:
    async def test_stopped_database_is_503_and_recovery_needs_no_restart(
        self, own_pg: EmbeddedPostgres, tmp_path: Path
    ) -> None:
        """With PG stopped, /v1/agents and /readyz answer 503 UNAVAILABLE; after PG restarts on the
        same data directory, the same gateway serves the data written before the outage and accepts
        an API key that could not be checked during it."""
        dsn, srv = await _gateway_on(own_pg, tmp_path)
        await add_stub_provider(srv)
        try:
            async with srv.client(GATEWAY_TOKEN) as http:
                created = await http.post("/v1/agents", json={"agent_key": "survivor", **RUNNABLE})
                assert created.status_code == 201
                assert (await http.get("/readyz")).status_code == 200
                minted = await http.post("/v1/api-keys", json={"name": "k", "scopes": ["operator.read"]})
                key = minted.json()["key"]

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    await own_pg.stop()
                # An agent list read in the last 5 s may still be served from the process's cache
                # (clawgate.services.agents, dropped on every change); past that, reads need PG.
                await asyncio.sleep(5.2)

                for path in ("/v1/agents", "/readyz", "/v1/agents/survivor"):
                    res = await http.get(path)
                    err = assert_error(res, 503, "UNAVAILABLE")
                    assert err["retryable"] is True
                    # When to try again, for clients that read the header (the SDKs) and the body.
                    assert res.headers["retry-after"] == "1"
                    assert err["retryAfterMs"] == 1000
                write = await http.post("/v1/agents", json={"agent_key": "during-outage", **RUNNABLE})
                assert_error(write, 503, "UNAVAILABLE")
                # A key never seen before cannot be checked now: that is 503, not "invalid key".
                unknown = await http.get("/v1/agents", headers={"Authorization": f"Bearer {key}"})
                assert_error(unknown, 503, "UNAVAILABLE")

                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    assert await own_pg.start() == dsn

                ready = await _until_ok(http, "/readyz")
                agents = await _until_ok(http, "/v1/agents")
                again = await http.post("/v1/agents", json={"agent_key": "after-outage", **RUNNABLE})
                with_key = await http.get("/v1/agents", headers={"Authorization": f"Bearer {key}"})
        finally:
            await srv.stop()
        assert ready.json()["database"] == "ok"
        assert [a["agent_key"] for a in agents.json()["agents"]] == ["survivor"]
        assert again.status_code == 201
        assert with_key.status_code == 200

    async def test_killed_database_is_503_and_recovery_needs_no_restart(
        self, own_pg: EmbeddedPostgres, tmp_path: Path
    ) -> None:
        """kill -9 of the PostgreSQL the gateway reaches by DSN: answers are 503 UNAVAILABLE (never
        500) until the server is back (started again here by its own supervisor, as an operator's
        would), then the same gateway serves the data written before and takes writes again."""
        _dsn, srv = await _gateway_on(own_pg, tmp_path)
        await add_stub_provider(srv)
        try:
            async with srv.client(GATEWAY_TOKEN) as http:
                assert (
                    await http.post("/v1/agents", json={"agent_key": "survivor", **RUNNABLE})
                ).status_code == 201
                assert own_pg.pid is not None
                os.kill(own_pg.pid, signal.SIGKILL)
                down = await _until_down(http, "/v1/agents")
                own_pg.supervise()
                ready = await _until_ok(http, "/readyz")
                agents = await _until_ok(http, "/v1/agents")
                again = await http.post("/v1/agents", json={"agent_key": "after-crash", **RUNNABLE})
        finally:
            await srv.stop()
        assert_error(down, 503, "UNAVAILABLE")
        assert ready.json()["database"] == "ok"
        assert [a["agent_key"] for a in agents.json()["agents"]] == ["survivor"]
        assert again.status_code == 201
