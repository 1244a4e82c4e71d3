"""Cron across real processes: ``clawgate serve --workers 3`` runs three gateway processes on the
supervisor's embedded PostgreSQL, each with its own scheduler. Every due time fires exactly once."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import Counter
from pathlib import Path

import asyncpg

from clawgate.embedded_pg import EmbeddedPostgres
from tests.gateway.test_embedded_supervision import Serve, _root, serve  # noqa: F401 (fixture)
from tests.gateway.test_workers import _agent, workers
from tests.upstream import stand_in

OWNER = {"X-GoClaw-User-Id": "owner"}


async def _rows(gw: Serve, sql: str) -> list[asyncpg.Record]:
    """Rows read from the running gateway's embedded PostgreSQL (borrowed, left running)."""
    dsn = await EmbeddedPostgres(gw.data, attach=True).start()
    conn = await asyncpg.connect(dsn)
    try:
        return list(await conn.fetch(sql))
    finally:
        await conn.close()


async def test_three_processes_fire_each_due_time_exactly_once(root: Path) -> None:
    """30 one-second jobs for about three seconds on three worker processes (at most four runs at a
    time each, so that no one process takes them all): every due time from each job's first to its
    last has exactly one record, one apart, each an ``ok`` run of its own; several processes claimed."""
    (root / "config.json").write_text(json.dumps({"scheduler": {"max_concurrent_runs": 4}}))
    running: list[Serve] = []
    async with stand_in("openai") as up:
        gw = await serve(running, root / "data", "serve.log", "--workers", "3")
        try:
            deadline = time.monotonic() + 30
            while len(workers(gw)) < 3:
                assert time.monotonic() < deadline, gw.log.read_text()
                await asyncio.sleep(0.05)
            await _agent(gw, up)
            async with gw.client() as http:
                ids = []
                for n in range(30):
                    res = await http.post("/v1/cron/jobs", headers=OWNER, json={
                        "name": f"tick-{n}", "agentId": "helper", "message": f"tick {n}",
                        "schedule": {"kind": "every", "everyMs": 1000}})  # fmt: skip
                    assert res.status_code == 201, res.text
                    ids.append(res.json()["id"])
                await asyncio.sleep(3.5)
                for job_id in ids:
                    res = await http.post(
                        f"/v1/cron/jobs/{job_id}/toggle", headers=OWNER, json={"enabled": False}
                    )
                    assert res.status_code == 200, res.text
            deadline = time.monotonic() + 20
            while await _rows(gw, "SELECT 1 FROM cron_runs WHERE status = 'running'"):
                assert time.monotonic() < deadline, "runs did not end"
                await asyncio.sleep(0.1)
            rows = await _rows(gw, "SELECT job_id, scheduled_at, status, process_id, run_id FROM cron_runs")
        finally:
            await gw.interrupt()
    per_due = Counter((r["job_id"], r["scheduled_at"]) for r in rows)
    assert max(per_due.values()) == 1
    for job_id in {r["job_id"] for r in rows}:
        times = sorted(r["scheduled_at"].timestamp() for r in rows if r["job_id"] == job_id)
        assert [round(b - a, 3) for a, b in itertools.pairwise(times)] == [1.0] * (len(times) - 1)
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) >= 30 * 2
    assert len({r["run_id"] for r in ok}) == len(ok)
    assert len({r["process_id"] for r in rows}) >= 2
