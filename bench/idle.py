"""Idle WebSocket connections: the gateway's RSS per idle authenticated socket, ``health`` latency
while they are open, and the RSS after they close.

    .venv/bin/python bench/idle.py [--sockets 5000] [--procs 2] [--probes 300]

The gateway's RSS is read once it has served a warm-up connection (the baseline), again with
``--sockets`` idle sockets open (each sent ``connect`` with the gateway token, then nothing) and a
second after they are closed. The sockets come from ``--procs`` separate processes (loopback only;
the file limit is raised for them and for the server). Meanwhile an admin connection calls ``health``
``--probes`` times, one at a time; its reply counts every client. Targets: <= 30 KB per idle socket,
``health`` p99 < 20 ms with them open.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import statistics
import time
from typing import Any

from _common import TOKEN, clawgate, data_dir, free_port, machine_note, report, rss_mb
from websockets.asyncio.client import ClientConnection, connect

KB_TARGET = 30
P99_TARGET_MS = 20
_CONNECT = json.dumps({"type": "req", "id": "c", "method": "connect", "params": {"token": TOKEN}})


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, needed))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < needed:
        raise SystemExit(f"the file limit is {hard}; {needed} sockets need more (ulimit -Hn)")


async def _open(url: str) -> ClientConnection:
    ws = await connect(url, compression=None, max_queue=4, open_timeout=60)
    await ws.send(_CONNECT)
    while True:
        answer = json.loads(await ws.recv())
        if answer.get("type") == "res":
            break
    if not answer.get("ok"):
        raise RuntimeError(f"connect failed: {answer}")
    return ws


async def _hold(url: str, count: int, opened: Any, release: Any) -> None:
    sockets: list[ClientConnection] = []
    gate = asyncio.Semaphore(64)

    async def one() -> None:
        async with gate:
            sockets.append(await _open(url))

    await asyncio.gather(*(one() for _ in range(count)))
    opened.put(len(sockets))
    await asyncio.to_thread(release.get)  # the sockets' own tasks answer pings and ticks meanwhile
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def _holder(url: str, count: int, opened: Any, release: Any) -> None:
    _raise_fd_limit(count + 100)
    asyncio.run(_hold(url, count, opened, release))


async def _probe(url: str, probes: int) -> tuple[list[float], int]:
    """``probes`` sequential ``health`` calls: latencies (ms) and the client count of the last."""
    ws = await _open(url)
    latencies: list[float] = []
    payload: dict[str, Any] = {}
    for n in range(probes):
        started = time.perf_counter()
        await ws.send(json.dumps({"type": "req", "id": f"h{n}", "method": "health"}))
        while True:
            frame = json.loads(await ws.recv())
            if frame.get("type") == "res":
                break
        latencies.append((time.perf_counter() - started) * 1000)
        payload = frame["payload"]
    await ws.close()
    count = payload.get("clientCount", len(payload.get("clients", [])))
    return latencies, int(count)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sockets", type=int, default=5000)
    parser.add_argument("--procs", type=int, default=2, help="processes holding the sockets")
    parser.add_argument("--probes", type=int, default=300, help="health calls while the sockets are open")
    args = parser.parse_args()
    machine_note()
    _raise_fd_limit(args.sockets + 1000)  # inherited by the server
    ctx = multiprocessing.get_context("fork")
    with data_dir() as data, clawgate(free_port(), data) as gate:
        asyncio.run(_probe(gate.ws_url, 50))
        time.sleep(1.0)
        before = rss_mb(gate.proc.pid)
        opened, release = ctx.Queue(), ctx.Queue()
        shares = [args.sockets // args.procs + (i < args.sockets % args.procs) for i in range(args.procs)]
        started = time.perf_counter()
        procs = [ctx.Process(target=_holder, args=(gate.ws_url, n, opened, release)) for n in shares]
        for proc in procs:
            proc.start()
        total = sum(opened.get(timeout=120) for _ in procs)
        open_seconds = time.perf_counter() - started
        time.sleep(1.0)
        latencies, clients = asyncio.run(_probe(gate.ws_url, args.probes))
        during = rss_mb(gate.proc.pid)
        for _ in procs:
            release.put(True)
        for proc in procs:
            proc.join(60)
        time.sleep(2.0)
        after = rss_mb(gate.proc.pid)
    per_socket_kb = (during - before) * 1024 / total
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"{total} idle authenticated sockets opened in {open_seconds:.1f} s; health saw {clients} clients")
    report("gateway RSS before", before, "MB")
    report(f"gateway RSS with {total} idle sockets", during, "MB", baseline=before)
    report("RSS per idle socket", per_socket_kb, "KB", target=f"<= {KB_TARGET} KB",
           ok=per_socket_kb <= KB_TARGET)  # fmt: skip
    report("health p50 meanwhile (admin)", p50, "ms")
    report("health p99 meanwhile (admin)", p99, "ms", target=f"< {P99_TARGET_MS} ms", ok=p99 < P99_TARGET_MS)
    report("gateway RSS 2 s after they closed", after, "MB", baseline=before)


if __name__ == "__main__":
    main()
