"""WebSocket round trips: ClawGate's ``health`` method against a bare Starlette echo, 32 connections.

    .venv/bin/python bench/ws.py [--duration 10] [--connections 32] [--procs 2] [--window 8]

The load comes from separate processes (``--procs``), each with its own event loop and its share of
the connections; every connection keeps ``--window`` requests in flight (pipelined), sending the next
as each answer arrives. The server's CPU use during the measurement is printed too: near 100 % of one
core means the server, not the load generator, was the limit. Target: ClawGate >= 0.7x the echo.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from typing import Any

from _common import TOKEN, Server, bare_app, clawgate, cpu_seconds, data_dir, free_port, machine_note, report
from websockets.asyncio.client import connect

TARGET = 0.7
_REQUEST = '{"type":"req","id":"%d","method":"health"}'


async def _connection(url: str, login: bool, window: int, counter: list[int], stop: asyncio.Event,
                      connected: asyncio.Event) -> None:  # fmt: skip
    async with connect(url, compression=None, max_size=None) as ws:
        if login:
            await ws.send(json.dumps({"type": "req", "id": "c", "method": "connect",
                                      "params": {"token": TOKEN, "user_id": "bench"}}))  # fmt: skip
            answer = json.loads(await ws.recv())
            if not answer.get("ok"):
                raise RuntimeError(f"connect failed: {answer}")
        connected.set()
        for n in range(window):
            await ws.send(_REQUEST % n)
        n = window
        while not stop.is_set():
            frame = await ws.recv()
            if '"type":"event"' in str(frame):
                continue
            counter[0] += 1
            n += 1
            await ws.send(_REQUEST % n)


async def _drive(
    url: str, login: bool, conns: int, window: int, measure_from: float, measure_to: float
) -> float:
    counter = [0]
    stop = asyncio.Event()
    ready = [asyncio.Event() for _ in range(conns)]
    tasks = [
        asyncio.create_task(_connection(url, login, window, counter, stop, ready[i])) for i in range(conns)
    ]
    await asyncio.sleep(max(0.0, measure_from - time.time()))
    if not all(event.is_set() for event in ready):
        raise RuntimeError("connections were not ready when the measurement began; raise the warm-up")
    first = counter[0]
    await asyncio.sleep(max(0.0, measure_to - time.time()))
    last = counter[0]
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return (last - first) / (measure_to - measure_from)


def _worker(url: str, login: bool, conns: int, window: int, start: float, end: float, out: Any) -> None:
    out.put(asyncio.run(_drive(url, login, conns, window, start, end)))


def measure(server: Server, login: bool, args: argparse.Namespace) -> tuple[float, float]:
    """Round trips/s over all connections, and the server's CPU use (fraction of one core)."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start = time.time() + args.warmup
    end = start + args.duration
    shares = [args.connections // args.procs + (i < args.connections % args.procs) for i in range(args.procs)]
    procs = [ctx.Process(target=_worker, args=(server.ws_url, login, n, args.window, start, end, out))
             for n in shares]  # fmt: skip
    for proc in procs:
        proc.start()
    time.sleep(max(0.0, start - time.time()))
    cpu_before = cpu_seconds(server.proc.pid)
    time.sleep(max(0.0, end - time.time()))
    cpu = (cpu_seconds(server.proc.pid) - cpu_before) / args.duration
    rates = [out.get(timeout=args.duration + 60) for _ in procs]
    for proc in procs:
        proc.join()
    return sum(rates), cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument(
        "--warmup", type=float, default=3.0, help="seconds before measuring (connect, warm up)"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--window", type=int, default=8, help="requests in flight per connection")
    args = parser.parse_args()
    machine_note()
    print(f"{args.connections} connections over {args.procs} load processes, {args.window} in flight each, "
          f"{args.duration:.0f} s")  # fmt: skip
    with data_dir() as data, bare_app(free_port()) as bare, clawgate(free_port(), data) as gate:
        base, base_cpu = measure(bare, False, args)
        rate, cpu = measure(gate, True, args)
    report("bare starlette echo", base, "rt/s")
    print(f"    server CPU {base_cpu:.0%} of one core")
    report("clawgate health", rate, "rt/s", baseline=base, target=f">= {TARGET}x", ok=rate / base >= TARGET)
    print(f"    server CPU {cpu:.0%} of one core")


if __name__ == "__main__":
    main()
