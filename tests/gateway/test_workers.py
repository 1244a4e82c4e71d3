"""``clawgate serve --workers 2`` as a real subprocess: two gateway processes on one port and one embedded
PostgreSQL owned by the supervisor. Clients reach each worker (told apart by the kernel: which process
holds the accepted socket) and see one gateway: a run started on one streams to the other, an idempotency
key answered by one is not run again by the other, a key revoked through one is refused by the other. A
worker killed is started again; SIGTERM stops them all and PostgreSQL with them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import websockets

from clawgate.embedded_pg import data_dir_holder
from tests.gateway.test_cli import run_cli
from tests.gateway.test_embedded_supervision import Serve, _root, postmaster_pid, serve  # noqa: F401 (fixture)
from tests.support import GATEWAY_TOKEN, WsClient, free_port
from tests.upstream import Reply, Upstream, stand_in

OWNER = {"token": GATEWAY_TOKEN, "user_id": "owner"}


def workers(gw: Serve) -> set[int]:
    """The supervisor's children listening on the gateway's port."""
    found = set()
    for child in psutil.Process(gw.pid).children():
        with contextlib.suppress(psutil.Error):
            if any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == gw.port for c in child.net_connections()
            ):
                found.add(child.pid)
    return found


def worker_of(gw: Serve, client: WsClient) -> int:
    """The worker holding the server end of ``client``'s connection."""
    mine = client.ws.local_address[1]
    for pid in workers(gw):
        with contextlib.suppress(psutil.Error):
            if any(c.raddr and c.raddr.port == mine for c in psutil.Process(pid).net_connections()):
                return pid
    raise AssertionError(f"no worker holds the connection from port {mine}")


@contextlib.asynccontextmanager
async def ws_on(gw: Serve, pid: int, **connect: Any) -> AsyncIterator[WsClient]:
    """A WebSocket that the kernel gave to worker ``pid`` (new connections until one lands there),
    with ``connect`` sent unless ``connect`` is empty."""
    for _ in range(64):
        ws = await websockets.connect(f"ws://127.0.0.1:{gw.port}/ws", max_size=None)
        client = WsClient(ws)
        if worker_of(gw, client) != pid:
            await ws.close()
            continue
        try:
            if connect:
                assert (await client.call("connect", connect))["ok"]
            yield client
        finally:
            await ws.close()
        return
    raise AssertionError(f"64 connections and none reached worker {pid}")


@pytest.fixture(name="two")
async def _two(root: Path) -> AsyncIterator[tuple[Serve, int, int]]:
    """``clawgate serve --workers 2`` on its own data directory, and its two worker pids."""
    running: list[Serve] = []
    gw = await serve(running, root / "data", "serve.log", "--workers", "2")
    try:
        for _ in range(200):  # /readyz answered once one worker was up
            if len(found := workers(gw)) == 2:
                break
            await asyncio.sleep(0.05)
        assert len(found) == 2, gw.log.read_text()
        first, second = sorted(found)
        yield gw, first, second
    finally:
        await gw.interrupt()


async def _agent(gw: Serve, up: Upstream) -> None:
    async with gw.client() as http:
        headers = {"X-GoClaw-User-Id": "owner"}
        res = await http.post("/v1/providers", headers=headers, json={
            "name": "up", "provider_type": "openai_compat", "api_base": up.base_url, "api_key": "sk-test"})  # fmt: skip
        assert res.status_code == 201, res.text
        res = await http.post("/v1/agents", headers=headers, json={
            "agent_key": "helper", "provider": "up", "model": "model-a"})  # fmt: skip
        assert res.status_code == 201, res.text


def _completed(events: list[dict[str, Any]]) -> set[str]:
    """The ids of the runs whose ``run.completed`` is among ``events``."""
    return {ev["payload"]["runId"] for ev in events
            if ev.get("event") == "agent" and ev["payload"]["type"] == "run.completed"}  # fmt: skip


def _gone(process: psutil.Process) -> bool:
    """Exited (a zombie not yet reaped by its parent counts)."""
    try:
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


class TestTwoWorkers:
    async def test_supervisor_owns_the_one_database(self, two: tuple[Serve, int, int]) -> None:
        """The supervisor holds the data directory and runs the only postmaster; the workers use its
        DSN (they log ``embedded_db: false``) and each serves. Another ``serve`` on the directory is
        refused, naming the supervisor. The first worker alone announces the gateway."""
        gw, first, second = two
        assert data_dir_holder(gw.data) == gw.pid
        assert psutil.Process(postmaster_pid(gw.data)).is_running()
        started = await gw.logged("workers.started")
        assert sorted(started[0]["workers"]) == [first, second]
        for pid in (first, second):
            async with ws_on(gw, pid, **OWNER) as ws:
                await ws.ok("health")
        for _ in range(100):
            lines = [e for e in gw.events("gateway.started") if e.get("worker") in (first, second)]
            if len(lines) == 2:
                break
            await asyncio.sleep(0.05)
        assert {e["worker"] for e in lines} == {first, second}
        assert all(e["embedded_db"] is False for e in lines)
        # One announcement for the gateway, not one per worker.
        [ready] = await gw.logged("gateway.ready")
        assert ready["home"] == f"http://127.0.0.1:{gw.port}/"
        second_serve = await run_cli("serve", "--data-dir", str(gw.data), "--port", str(free_port()),
                                     cwd=gw.data.parent)  # fmt: skip
        assert second_serve.code == 2
        assert f"is in use by another clawgate (pid {gw.pid}" in second_serve.err

    async def test_run_on_one_worker_streams_to_the_other_and_runs_once(
        self, two: tuple[Serve, int, int]
    ) -> None:
        """A run started through worker A reaches a client of worker B (LISTEN/NOTIFY); B sending the
        same idempotency key waits for A's run and gets its answer instead of starting another."""
        gw, first, second = two
        async with stand_in() as up:
            await _agent(gw, up)
            up.script(Reply(content="one two three four five six", chunk_delay=0.1))
            async with ws_on(gw, first, **OWNER) as on_a, ws_on(gw, second, **OWNER) as on_b:
                started = await on_a.ok("chat.send", {
                    "message": "hi", "agentId": "helper", "wait": False, "idempotencyKey": "once"})  # fmt: skip
                run_id = started["runId"]
                chunk = await on_b.wait_for(
                    lambda ev: ev.get("event") == "agent" and ev["payload"]["type"] == "chunk"
                    and ev["payload"]["runId"] == run_id, timeout=10,
                )  # fmt: skip
                assert chunk["payload"]["runId"] == run_id
                again = await on_b.ok("chat.send", {
                    "message": "hi", "agentId": "helper", "idempotencyKey": "once"}, timeout=20)  # fmt: skip
                done = await on_b.wait_for(
                    lambda ev: ev.get("event") == "agent" and ev["payload"]["type"] == "run.completed"
                    and ev["payload"]["runId"] == run_id, timeout=10,
                )  # fmt: skip
        assert again["runId"] == run_id
        assert again["content"] == "one two three four five six"
        assert done["payload"]["runId"] == run_id
        assert len(up.turns) == 1

    async def test_client_of_the_other_worker_sees_every_event_in_order(
        self, two: tuple[Serve, int, int]
    ) -> None:
        """Run events travel to the other process in batches: a client there still gets each of them,
        in order, with no ``seq`` gap, for a fast stream of 150 chunks and for chunks too large for
        a notification (spilled), and its frames' own ``seq`` has no gap either."""
        gw, first, second = two
        async with stand_in() as up:
            await _agent(gw, up)
            up.script(
                Reply(content=" ".join(f"w{i}" for i in range(150))),
                Reply(content="".join(f"{i % 10}" * 9000 for i in range(3)), chunks=3),
            )
            async with ws_on(gw, first, **OWNER) as on_a, ws_on(gw, second, **OWNER) as on_b:
                answers = [
                    await on_a.ok("chat.send", {"message": f"go {n}", "agentId": "helper"}, timeout=30)
                    for n in range(2)
                ]
                ids = {answer["runId"] for answer in answers}
                async with asyncio.timeout(20):
                    while len(ids & _completed(on_b.events)) < 2:
                        await on_b._pump(20)
                frames = [ev for ev in on_b.events if ev.get("event") == "agent"]
        for answer in answers:
            run = [ev["payload"] for ev in frames if ev["payload"]["runId"] == answer["runId"]]
            assert [e["seq"] for e in run] == list(range(1, len(run) + 1)), [e["type"] for e in run]
            assert run[0]["type"] == "run.started"
            assert "".join(e["payload"]["content"] for e in run if e["type"] == "chunk") == answer["content"]
        assert len(answers[1]["content"]) == 27_000
        seqs = [ev["seq"] for ev in on_b.events]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

    async def test_key_revoked_through_one_worker_is_refused_by_the_other(
        self, two: tuple[Serve, int, int]
    ) -> None:
        """Worker B has authenticated (and cached) a key; revoking it through worker A makes B refuse it."""
        gw, first, second = two
        async with gw.client() as http:
            res = await http.post("/v1/api-keys", headers={"X-GoClaw-User-Id": "owner"},
                                  json={"name": "shared", "scopes": ["operator.read"]})  # fmt: skip
        assert res.status_code == 201, res.text
        key = res.json()
        async with ws_on(gw, second, token=key["key"], user_id="u") as on_b:
            assert (await on_b.ok("health")) is not None
        async with ws_on(gw, first, **OWNER) as on_a:
            await on_a.ok("api_keys.revoke", {"id": key["id"]})
        async with ws_on(gw, second) as on_b:
            refused = await on_b.call("connect", {"token": key["key"], "user_id": "u"})
        assert refused["ok"] is False
        assert refused["error"]["code"] == "UNAUTHORIZED"


class TestSupervision:
    async def test_killed_worker_is_replaced_and_sigterm_stops_everything(
        self, two: tuple[Serve, int, int]
    ) -> None:
        """kill -9 of a worker: the supervisor starts another on the same port. SIGTERM to the
        supervisor stops the workers and PostgreSQL and exits with 143."""
        gw, first, second = two
        postmaster = psutil.Process(postmaster_pid(gw.data))
        os.kill(first, signal.SIGKILL)
        restarted = await gw.logged("workers.restarted")
        assert restarted[0]["replaces"] == first
        replacement = restarted[0]["pid"]
        for _ in range(200):
            if workers(gw) == {second, replacement}:
                break
            await asyncio.sleep(0.05)
        assert workers(gw) == {second, replacement}
        async with ws_on(gw, replacement, **OWNER) as ws:
            await ws.ok("health")
        assert gw.proc is not None
        gw.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(gw.proc.wait(), 60) == 143
        assert _gone(psutil.Process(second)) if psutil.pid_exists(second) else True
        assert _gone(postmaster)
        assert data_dir_holder(gw.data) is None
        assert json.loads(gw.log.read_text().splitlines()[-1])["event"] == "workers.stopped"


class TestMetrics:
    async def test_any_worker_answers_the_sum_of_all(self, two: tuple[Serve, int, int]) -> None:
        """``/metrics`` of either worker counts the calls both served (``prometheus-client``'s
        multiprocess mode): 3 ``health`` calls on one worker and 5 on the other read as 8 from every
        scrape, whichever worker takes it."""
        from prometheus_client.parser import text_string_to_metric_families

        gw, first, second = two
        for pid, calls in ((first, 3), (second, 5)):
            async with ws_on(gw, pid, **OWNER) as ws:
                for _ in range(calls):
                    await ws.ok("health")
        seen = []
        for _ in range(6):
            async with gw.client() as http:  # a new connection: the kernel picks a worker each time
                res = await http.get("/metrics")
            assert res.status_code == 200, res.text
            seen.append(
                sum(
                    s.value
                    for family in text_string_to_metric_families(res.text)
                    for s in family.samples
                    if s.name == "clawgate_rpc_calls_total"
                    and s.labels == {"method": "health", "outcome": "ok"}
                )
            )
        assert seen == [8] * 6
