"""Cron across gateway processes on one database (issue 12): each due time fires exactly once, and a
run cut short by a killed process is recorded ``interrupted`` when a gateway starts again."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from tests.conftest import ServerFactory
from tests.runtime.conftest import chat_setup
from tests.runtime.test_crash import _serve
from tests.support import GATEWAY_TOKEN, RunningServer, free_port, ws_connect
from tests.upstream import Reply


async def _rows(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


class TestSeveralProcesses:
    async def test_two_gateways_fire_each_due_time_exactly_once(
        self, make_server: ServerFactory, dsn: str
    ) -> None:
        """40 one-second jobs on two gateways for about three seconds: every due time from each job's
        first to its last has exactly one record and one model call; both gateways claim some."""
        # Ten runs at a time each: 40 jobs due at once need both gateways (one would take all otherwise).
        async with chat_setup(make_server, scheduler__max_concurrent_runs=10) as chat:
            second = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
                                       scheduler__max_concurrent_runs=10)  # fmt: skip
            async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                ids = []
                for n in range(40):
                    body = {"name": f"tick-{n}", "agentId": "helper", "message": f"tick {n}",
                            "schedule": {"kind": "every", "everyMs": 1000}}  # fmt: skip
                    ids.append((await ws.ok("cron.create", body))["job"]["id"])
                await asyncio.sleep(3.5)
                for job_id in ids:
                    await ws.ok("cron.toggle", {"jobId": job_id, "enabled": False})
            deadline = time.monotonic() + 10
            while await _rows(dsn, "SELECT 1 FROM cron_runs WHERE status = 'running'"):
                assert time.monotonic() < deadline, "runs did not end"
                await asyncio.sleep(0.1)
            rows = await _rows(dsn, "SELECT job_id, scheduled_at, status, process_id, run_id FROM cron_runs")
            processes = {chat.server.gateway.scheduler.process_id, second.gateway.scheduler.process_id}
        per_due = Counter((r["job_id"], r["scheduled_at"]) for r in rows)
        assert max(per_due.values()) == 1
        for job_id in {r["job_id"] for r in rows}:
            times = sorted(r["scheduled_at"].timestamp() for r in rows if r["job_id"] == job_id)
            assert [round(b - a, 3) for a, b in itertools.pairwise(times)] == [1.0] * (len(times) - 1)
        ok = [r for r in rows if r["status"] == "ok"]
        assert len(ok) >= 40 * 2
        assert len({r["run_id"] for r in ok}) == len(ok)
        assert len([t for t in chat.upstream.turns if "tick" in str(t)]) == len(ok)
        assert {r["process_id"] for r in rows} == processes


class TestKilledMidRun:
    async def test_run_cut_by_a_kill_is_recorded_interrupted(
        self, make_server: ServerFactory, dsn: str, tmp_path: Path
    ) -> None:
        """A gateway process is killed (SIGKILL) while a cron run waits on the model; the gateway
        started next marks the record ``interrupted``, and the job's last status says so."""
        async with chat_setup(make_server, scheduler__enabled=False) as chat:
            chat.upstream.script(Reply(content="too late", delay=4))
            port = free_port()
            proc = await _serve(dsn, tmp_path / "victim", port)
            try:
                victim = RunningServer(chat.server.settings, chat.server.server, chat.server.task, port)
                async with ws_connect(victim, token=GATEWAY_TOKEN, user_id="alice") as ws:
                    at = int(time.time() * 1000) + 300
                    body = {"name": "slow", "agentId": "helper", "message": "take your time",
                            "schedule": {"kind": "at", "atMs": at}}  # fmt: skip
                    job = (await ws.ok("cron.create", body))["job"]
                    await ws.wait_for(lambda e: e["event"] == "cron" and e["payload"]["action"] == "running")
                for _ in range(100):
                    if chat.upstream.turns:
                        break
                    await asyncio.sleep(0.05)
                proc.send_signal(signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), 10)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            [running] = await _rows(dsn, "SELECT status FROM cron_runs WHERE job_id = $1::uuid", job["id"])
            assert running["status"] == "running"
            restarted = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
            async with ws_connect(restarted, token=GATEWAY_TOKEN, user_id="alice") as ws:
                for _ in range(100):
                    entries = (await ws.ok("cron.runs", {"jobId": job["id"]}))["entries"]
                    if entries[0]["status"] != "running":
                        break
                    await asyncio.sleep(0.1)
                listed = (await ws.ok("cron.list"))["jobs"]
        [entry] = entries
        assert entry["status"] == "interrupted"
        assert "stopped" in entry["error"]
        assert entry["scheduledAtMs"] == at
        # Not deleted: an interrupted run is not the run its deleteAfterRun waited for.
        assert listed[0]["state"]["lastStatus"] == "interrupted"
