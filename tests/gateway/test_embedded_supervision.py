"""The embedded PostgreSQL under a real ``clawgate serve``: a killed postmaster is started again without
restarting the gateway, the data directory belongs to one gateway at a time, and a server orphaned by a
killed gateway is stopped by the next start. Each test runs its own gateway on its own data directory
and embedded server (never the test session's shared one)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.gateway.test_cli import CLAWGATE, clean_env, run_cli
from tests.http.helpers import assert_error
from tests.support import GATEWAY_TOKEN, RUNNABLE, STUB_PROVIDER, free_port

AUTH = {"Authorization": f"Bearer {GATEWAY_TOKEN}"}


class Serve:
    """One ``clawgate serve *args`` subprocess on ``data``, logging JSON lines to a file."""

    def __init__(self, data: Path, log: Path, *args: str) -> None:
        self.data = data
        self.log = log
        self.args = args
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> Serve:
        env = clean_env(CLAWGATE_LOG_FORMAT="json", CLAWGATE_GATEWAY_TOKEN=GATEWAY_TOKEN)
        with self.log.open("ab") as out:
            self.proc = await asyncio.create_subprocess_exec(
                *CLAWGATE, "serve", "--data-dir", str(self.data), "--port", str(self.port), *self.args,
                cwd=self.data.parent, env=env, stdout=out, stderr=out,
            )  # fmt: skip
        async with self.client() as http:
            for _ in range(1200):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                assert self.proc.returncode is None, self.log.read_text()
                await asyncio.sleep(0.05)
        raise AssertionError(f"serve never became ready:\n{self.log.read_text()}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=f"http://127.0.0.1:{self.port}", headers=AUTH, timeout=10)

    def events(self, name: str) -> list[dict[str, Any]]:
        """This gateway's log lines whose event is ``name``."""
        found = []
        for line in self.log.read_text().splitlines():
            if line.startswith("{") and (entry := json.loads(line)).get("event") == name:
                found.append(entry)
        return found

    async def logged(self, name: str) -> list[dict[str, Any]]:
        """``events(name)`` once there is one (the server may answer before its restart is logged)."""
        for _ in range(600):
            if found := self.events(name):
                return found
            await asyncio.sleep(0.05)
        raise AssertionError(f"no {name} in:\n{self.log.read_text()}")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def interrupt(self) -> int:
        """SIGINT (graceful stop); the exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
        return await asyncio.wait_for(self.proc.wait(), 60)


def postmaster_pid(data: Path) -> int:
    return int((data / "pg" / "postmaster.pid").read_text().split("\n", 1)[0])


@pytest.fixture(name="root")
def _root() -> Iterator[Path]:
    """A folder for this test's data directory and logs, outside pytest's temporary folders: another
    pytest run on the machine resets their permissions, which the server's user needs."""
    root = Path(tempfile.mkdtemp(prefix="clawgate-test-sup-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(name="gateways")
async def _gateways(root: Path) -> AsyncIterator[list[Serve]]:
    """Gateways a test starts; each is stopped (and its embedded server with it) at the end."""
    running: list[Serve] = []
    yield running
    for gw in running:
        if gw.proc is not None and gw.proc.returncode is None:
            await gw.interrupt()
    for data in {gw.data for gw in running}:  # a server a killed gateway left behind
        if (data / "pg" / "postmaster.pid").exists():
            with contextlib.suppress(psutil.Error):
                left = psutil.Process(postmaster_pid(data))
                left.send_signal(signal.SIGINT)  # fast shutdown
                left.wait(30)


async def serve(gateways: list[Serve], data: Path, log: str = "serve.log", *args: str) -> Serve:
    gw = Serve(data, data.parent / log, *args)
    gateways.append(gw)
    return await gw.start()


class TestPostmasterSupervision:
    async def test_killed_postmaster_is_restarted_and_data_kept(
        self, gateways: list[Serve], root: Path
    ) -> None:
        """kill -9 of the embedded postmaster: requests answer 503 UNAVAILABLE, then the gateway
        starts the server again by itself and answers 200 with the data written before."""
        gw = await serve(gateways, root / "data")
        async with gw.client() as http:
            await http.post("/v1/providers", json=STUB_PROVIDER)
            assert (
                await http.post("/v1/agents", json={"agent_key": "survivor", **RUNNABLE})
            ).status_code == 201
            killed = postmaster_pid(gw.data)
            os.kill(killed, signal.SIGKILL)
            # /readyz asks the database each time (an agent may be answered from the cache).
            statuses: list[int] = []
            for _ in range(3000):
                res = await http.get("/readyz")
                statuses.append(res.status_code)
                if res.status_code == 503:
                    assert_error(res, 503, "UNAVAILABLE")
                elif 503 in statuses:
                    break
                await asyncio.sleep(0.02)
            written = await http.post("/v1/agents", json={"agent_key": "after-restart", **RUNNABLE})
            agents = await http.get("/v1/agents")
        assert 503 in statuses
        assert set(statuses) <= {200, 503}
        assert statuses[-1] == 200
        assert written.status_code == 201
        assert sorted(a["agent_key"] for a in agents.json()["agents"]) == ["after-restart", "survivor"]
        assert [e["pid"] for e in gw.events("embedded_pg.died")] == [killed]
        [restarted] = await gw.logged("embedded_pg.restarted")
        assert restarted["pid"] == postmaster_pid(gw.data) != killed
        assert gw.proc is not None
        assert gw.proc.returncode is None  # the same gateway throughout

        assert await gw.interrupt() == 130
        assert not (gw.data / "pg" / "postmaster.pid").exists()  # its owner stopped it


class TestDataDirLock:
    async def test_second_serve_on_the_same_data_dir_refuses(self, gateways: list[Serve], root: Path) -> None:
        """A second serve on a data dir a gateway holds exits non-zero naming the dir and the holder's
        pid; a one-shot command uses the running gateway's server and leaves it running."""
        gw = await serve(gateways, root / "data")
        before = postmaster_pid(gw.data)
        second = await run_cli(
            "serve", "--data-dir", str(gw.data), "--port", str(free_port()), cwd=root, timeout=30
        )
        assert second.code == 2, second
        assert (
            f"the data directory {gw.data.resolve()} is in use by another clawgate (pid {gw.pid}"
            in second.err
        )
        assert "Traceback" not in second.err
        listed = await run_cli("api-key", "list", "--data-dir", str(gw.data), cwd=root)
        assert listed.code == 0, listed
        async with gw.client() as http:
            assert (await http.get("/readyz")).status_code == 200
        assert postmaster_pid(gw.data) == before

    async def test_start_after_killed_gateway_stops_the_orphan(
        self, gateways: list[Serve], root: Path
    ) -> None:
        """After kill -9 of a gateway its postmaster runs on, orphaned; the next serve says so, stops
        it and starts the server afresh, with the data written before."""
        first = await serve(gateways, root / "data", "first.log")
        async with first.client() as http:
            await http.post("/v1/providers", json=STUB_PROVIDER)
            assert (await http.post("/v1/agents", json={"agent_key": "kept", **RUNNABLE})).status_code == 201
        orphan = postmaster_pid(first.data)
        await first.kill()
        assert psutil.Process(orphan).status() != psutil.STATUS_ZOMBIE  # still serving, no owner

        second = await serve(gateways, first.data, "second.log")
        async with second.client() as http:
            kept = await http.get("/v1/agents/kept")
        assert kept.status_code == 200
        assert [e["pid"] for e in second.events("embedded_pg.orphan_found")] == [orphan]
        assert [e["pid"] for e in second.events("embedded_pg.orphan_stopped")] == [orphan]
        assert postmaster_pid(second.data) != orphan

    async def test_doctor_stops_an_orphan(self, gateways: list[Serve], root: Path) -> None:
        """doctor on the data dir of a killed gateway stops the orphaned server and says so."""
        gw = await serve(gateways, root / "data")
        orphan = postmaster_pid(gw.data)
        await gw.kill()
        res = await run_cli(
            "doctor", "--data-dir", str(gw.data), "--port", str(free_port()), cwd=root,
            CLAWGATE_GATEWAY_TOKEN=GATEWAY_TOKEN,
        )  # fmt: skip
        assert res.checks()["database"] == "OK", res.out
        assert f"stopped its orphaned server, pid {orphan}" in res.out
        assert not (gw.data / "pg" / "postmaster.pid").exists()
