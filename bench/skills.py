"""Skills (issue 13, item 2): what they add to each run, and what an archive costs to check.

Fills an embedded PostgreSQL (migrated as the gateway does) with ``--skills`` skills granted to one
agent, then measures:

- the per-run cost of the skills: ``SkillCatalog.prompt_section`` + ``run_tools`` (what the run
  manager asks once per run), p50/p99 over ``--runs`` calls, answered from memory after the first
  (which loads the tenant with one query, also timed);
- over HTTP, against ``clawgate serve``: uploading a 19 MB skill (``POST /v1/skills/upload``, the
  multipart parse, the checks and the insert), and the latency of ``GET /health`` meanwhile (whether
  the upload holds the event loop);
- the archive checks of ``clawgate.services.skill_archive``: unpacking a 19 MB zip of random bytes,
  refusing a zip bomb (30 MB of zeros: its declared ratio), a zip that lies about its size, and a
  gzip bomb (a tar.gz of 1 GB of zeros, refused once 64 MB are inflated), and storing a 100-file
  skill (``store.skills.add_version``).

    .venv/bin/python bench/skills.py --skills 50 --runs 20000
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tarfile
import time
import uuid
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TOKEN, clawgate, data_dir, free_port, machine_note, migrated_database, report
from _common import migrate as make_data

from clawgate.bus import EventBus
from clawgate.errors import InvalidRequest
from clawgate.services.skill_archive import parse_skill_md, unpack_zip
from clawgate.services.skill_catalog import SkillCatalog
from clawgate.store import create_database
from clawgate.store import skills as store
from clawgate.store.types import AgentRow
from clawgate.tools import ToolContext


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _md(i: int) -> bytes:
    return f"---\nname: Skill {i}\ndescription: What skill {i} does, in a sentence or two.\n---\nBody {i}\n".encode()


def _version(i: int, files: dict[str, bytes]) -> store.NewVersion:
    meta = parse_skill_md(files["SKILL.md"])
    return store.NewVersion(slug=meta.slug, name=meta.name, description=meta.description, tags=[],
                            frontmatter=meta.fields, file_hash=f"h{i}", file_size=0, files=files)  # fmt: skip


def _timed(fn: object, *args: object) -> tuple[float, str]:
    started = time.perf_counter()
    try:
        fn(*args)  # type: ignore[operator]
        outcome = "accepted"
    except InvalidRequest as exc:
        outcome = f"refused: {str(exc)[:60]}"
    return (time.perf_counter() - started) * 1000, outcome


async def per_run(dsn: str, skills: int, runs: int) -> None:
    conn = await asyncpg.connect(dsn)
    tenant = await conn.fetchval("INSERT INTO tenants (name, slug) VALUES ('bs', 'bs') RETURNING id")
    agent_id = await conn.fetchval(
        "INSERT INTO agents (tenant_id, agent_key) VALUES ($1, 'a') RETURNING id", tenant
    )
    await conn.close()
    db = await create_database(dsn, min_size=1, max_size=2)
    async with db.transaction() as tx:
        for i in range(skills):
            skill_id, _, _ = await store.add_version(
                tx, tenant, "bench", "internal", _version(i, {"SKILL.md": _md(i)})
            )
            await store.grant_agent(tx, tenant, skill_id, agent_id, None, False, "bench")
    catalog = SkillCatalog(db, EventBus())
    ctx = ToolContext(tenant_id=tenant, agent_id=agent_id, agent_key="a", session_key="s", user_id="alice",
                      run_id=uuid.uuid4())  # fmt: skip
    now = datetime.now(UTC)
    agent = AgentRow(agent_key="a", id=agent_id, tenant_id=tenant, created_at=now, updated_at=now)
    started = time.perf_counter()
    section = await catalog.prompt_section(agent, ctx, [])
    tools = await catalog.run_tools(agent, ctx)
    first = (time.perf_counter() - started) * 1000
    assert section.count("\n- ") == min(skills, 50)
    assert len(tools) == 1
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await catalog.prompt_section(agent, ctx, [])
        await catalog.run_tools(agent, ctx)
        times.append((time.perf_counter() - started) * 1e6)
    times.sort()
    print(f"per run, {skills} skills granted ({catalog.loads} load):", flush=True)
    report("first run (loads the tenant: 1 query)", first, "ms")
    report(
        "later runs p50",
        statistics.median(times),
        "us",
        target="<= 2000 us",
        ok=statistics.median(times) <= 2000,
    )
    report("later runs p99", times[int(len(times) * 0.99)], "us")

    hundred = {"SKILL.md": _md(0), **{f"ref/{i}.md": os.urandom(2048) for i in range(99)}}
    async with db.transaction() as tx:
        started = time.perf_counter()
        await store.add_version(tx, tenant, "bench", "internal", _version(10_000, hundred))
        stored = (time.perf_counter() - started) * 1000
    report("store a 100-file skill (200 KB)", stored, "ms")
    await db.close()


def archives() -> None:
    print("archive checks:", flush=True)
    big = _zip({"SKILL.md": _md(0), "blob.bin": os.urandom(19 << 20)})
    bomb = _zip({"SKILL.md": _md(0), "zeros.bin": bytes(30 << 20)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("SKILL.md", _md(0))
        archive.writestr("data.bin", bytes(8 << 20))
        archive.filelist[-1].file_size = 1 << 20  # under the ratio check, and a lie
    liar = buffer.getvalue()
    gz = io.BytesIO()
    with tarfile.open(fileobj=gz, mode="w:gz") as tar:
        info = tarfile.TarInfo("skills/x/files/zeros")
        info.size = 1 << 30
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    from clawgate.services.skill_archive import read_tar

    for label, fn, data in (
        ("unpack a 19 MB zip", unpack_zip, big),
        ("zip bomb (30 MB of zeros)", unpack_zip, bomb),
        ("zip lying about a size", unpack_zip, liar),
        (f"gzip bomb ({len(gz.getvalue()) >> 10} KB -> 1 GB)", read_tar, gz.getvalue()),
    ):
        ms, outcome = _timed(fn, data)
        report(label, ms, "ms")
        print(f"    {outcome}", flush=True)


def over_http() -> None:
    import threading

    import httpx

    blob = _zip({"SKILL.md": _md(0), "blob.bin": os.urandom(19 << 20)})
    with data_dir() as data:
        make_data(data)
        with clawgate(free_port(), data) as gate, httpx.Client(base_url=gate.url, timeout=60) as http:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            lags: list[float] = []
            done = threading.Event()

            def probe() -> None:
                with httpx.Client(base_url=gate.url) as probe_http:
                    while not done.is_set():
                        started = time.perf_counter()
                        probe_http.get("/health")
                        lags.append((time.perf_counter() - started) * 1000)
                        time.sleep(0.002)

            quiet: list[float] = []
            for _ in range(200):
                started = time.perf_counter()
                http.get("/health")
                quiet.append((time.perf_counter() - started) * 1000)
            thread = threading.Thread(target=probe)
            thread.start()
            started = time.perf_counter()
            res = http.post("/v1/skills/upload", headers=headers, files={"file": ("s.zip", blob)})
            took = (time.perf_counter() - started) * 1000
            done.set()
            thread.join()
            assert res.status_code == 201, res.text
    quiet.sort()
    lags.sort()
    print("over HTTP (clawgate serve, embedded PostgreSQL):", flush=True)
    report("upload a 19 MB skill", took, "ms")
    report("GET /health p50 while idle", statistics.median(quiet), "ms")
    report("GET /health p50 during the upload", statistics.median(lags), "ms")
    report(f"GET /health max during it ({len(lags)} probes)", lags[-1], "ms")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skills", type=int, default=50)
    parser.add_argument("--runs", type=int, default=20000)
    args = parser.parse_args()
    machine_note()
    over_http()
    archives()
    with data_dir() as root:
        async with migrated_database(root) as dsn:
            await per_run(dsn, args.skills, args.runs)


if __name__ == "__main__":
    asyncio.run(main())
