"""MCP: the overhead of an MCP tool call over an already-open streamable-HTTP session, and the idle
CPU cost of registered MCP servers.

    .venv/bin/python bench/mcp.py [--calls 2000] [--servers 100] [--idle 30]

1. Call overhead. The SDK-built stand-in (tests/mcp_servers/stand_in.py) serves streamable HTTP in
   a process of its own. In this process, alternating rounds call its ``echo`` tool ``--calls``
   times each way: directly with the SDK's ``Client`` (the baseline), and through the gateway's
   tool path (``clawgate.mcp_pool.Connection.call`` and the rendering for the model, what a run's
   MCP tool does), both on a session opened beforehand. The overhead is the gateway path's p50
   minus the direct p50. Target: <= 5 ms.
2. Idle cost. ``clawgate serve`` (embedded PostgreSQL); its CPU (with its children) over ``--idle``
   seconds with no MCP server, then again after ``--servers`` stdio servers are registered across
   four tenants and granted to their agents. Connections open on first use, so none is open: the
   target is no more CPU than without them (within the noise of a few ms), and no server process.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

import httpx
from _common import (
    BENCH,
    TOKEN,
    children,
    clawgate,
    cpu_seconds,
    data_dir,
    free_port,
    machine_note,
    report,
)

# This file is named like the SDK's package: with bench/ first on sys.path, ``import mcp`` would
# import this script again. _common is imported by now, so bench/ makes way for the repository root.
sys.path[0] = str(BENCH.parent)
from mcp import Client  # noqa: E402

from clawgate.mcp_pool import Connection, ServerSpec, render_result  # noqa: E402

OVERHEAD_TARGET_MS = 5.0
_SERVE = (
    "import sys, uvicorn; sys.path.insert(0, {root!r}); from tests.mcp_servers.stand_in import build; "
    "uvicorn.run(build().streamable_http_app(), host='127.0.0.1', port={port}, log_level='warning')"
)


async def _overhead(url: str, calls: int) -> tuple[float, float]:
    """p50 (ms) of a call directly with the SDK client and through the gateway's tool path."""
    direct: list[float] = []
    gateway: list[float] = []
    connection = Connection(ServerSpec(name="bench", transport="streamable-http", url=url, timeout=30))
    async with Client(url, cache=None) as client:
        await connection.tools()
        for _ in range(50):  # warm both paths
            await client.call_tool("echo", {"text": "warm"})
            render_result(await connection.call("echo", {"text": "warm"}))
        for _ in range(calls // 100):
            for _ in range(50):
                t = time.perf_counter()
                await client.call_tool("echo", {"text": "hello"})
                direct.append(time.perf_counter() - t)
            for _ in range(50):
                t = time.perf_counter()
                render_result(await connection.call("echo", {"text": "hello"}))
                gateway.append(time.perf_counter() - t)
    await connection.close()
    return statistics.median(direct) * 1000, statistics.median(gateway) * 1000


def _register(url: str, servers: int) -> None:
    """``servers`` stdio MCP servers across four tenants, each granted to its tenant's agent."""
    owner = {"Authorization": f"Bearer {TOKEN}", "X-GoClaw-User-Id": "owner"}
    with httpx.Client(base_url=url, headers=owner, timeout=30) as http:
        tenants = [""]
        for n in range(3):
            res = http.post("/v1/tenants", json={"name": f"Bench {n}", "slug": f"bench-{n}"})
            res.raise_for_status()
            tenants.append(res.json()["id"])
        for index in range(servers):
            tenant = tenants[index % len(tenants)]
            headers = {"X-GoClaw-Tenant-Id": tenant} if tenant else {}
            if index < len(tenants):
                http.post("/v1/providers", headers=headers, json={
                    "name": "up", "provider_type": "openai_compat", "api_base": "http://127.0.0.1:9/v1",
                    "api_key": "sk-bench"}).raise_for_status()  # fmt: skip
                http.post("/v1/agents", headers=headers, json={"agent_key": "bench", "provider": "up",
                                                               "model": "m"}).raise_for_status()  # fmt: skip
            made = http.post("/v1/mcp/servers", headers=headers, json={
                "name": f"srv-{index}", "transport": "stdio", "command": sys.executable,
                "args": [str(BENCH.parent / "tests/mcp_servers/stand_in.py")]})  # fmt: skip
            made.raise_for_status()
            http.post(f"/v1/mcp/servers/{made.json()['id']}/grants/agent", headers=headers,
                      json={"agent_id": "bench"}).raise_for_status()  # fmt: skip


def _idle_cpu_ms(pid: int, seconds: float) -> float:
    before = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--servers", type=int, default=100)
    parser.add_argument("--idle", type=float, default=30.0)
    args = parser.parse_args()
    machine_note()

    print("MCP tool call over an open streamable-HTTP session (p50)")
    proc_port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", _SERVE.format(root=str(BENCH.parent), port=proc_port)])
    try:
        url = f"http://127.0.0.1:{proc_port}/mcp"
        for _ in range(300):  # the stand-in has no health route: wait for its endpoint to answer
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        direct, gateway = asyncio.run(_overhead(url, args.calls))
    finally:
        proc.terminate()
        proc.wait(10)
    report("SDK client directly", direct, "ms")
    report("gateway tool path", gateway, "ms", baseline=direct)
    overhead = gateway - direct
    report("overhead per call", overhead, "ms", target=f"<= {OVERHEAD_TARGET_MS:g} ms",
           ok=overhead <= OVERHEAD_TARGET_MS)  # fmt: skip

    print(f"Idle CPU over {args.idle:g} s, before and after registering {args.servers} MCP servers")
    with data_dir() as data, clawgate(free_port(), data, CLAWGATE_OWNER_IDS="owner") as gate:
        time.sleep(3)  # startup work settles
        baseline = _idle_cpu_ms(gate.proc.pid, args.idle)
        _register(gate.url, args.servers)
        time.sleep(3)
        loaded = _idle_cpu_ms(gate.proc.pid, args.idle)
        spawned = [p for p in children(gate.proc.pid) if "stand_in" in _cmdline(p)]
    report("idle CPU, no MCP server", baseline, "ms")
    report(f"idle CPU, {args.servers} MCP servers", loaded, "ms", baseline=baseline or None,
           target="no more", ok=loaded <= baseline + 50 and not spawned)  # fmt: skip
    report("MCP server processes started", len(spawned), "", target="0", ok=not spawned)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return ""


if __name__ == "__main__":
    main()
