"""``clawgate serve --workers N`` against one process: the same loads, measured in one run.

    .venv/bin/python bench/workers.py [--workers 2] [--duration 10] [--rounds 3]

Two gateways run side by side, each on its own embedded PostgreSQL: ``--workers 1`` (the baseline) and
``--workers N``, both with an agent on a loopback upstream (``_upstream.py``). In rounds that alternate
the two, it measures
- ``/v1/chat/completions`` requests/s at 32 connections (wrk, as ``openai.py``, a persisted session);
- WebSocket ``health`` round trips/s at 32 connections (as ``ws.py``: 2 load processes, 8 in flight);
and prints medians, the ratio N workers / 1 worker, and the gateways' CPU (all their processes, in cores).
On a machine with few cores the load generator and PostgreSQL take their share: compare the ratio with
the number of cores left to the gateway. Needs wrk (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from collections.abc import Callable

from _common import (
    BODY,
    TOKEN,
    Server,
    alternate,
    bench_agent,
    clawgate,
    cpu_seconds,
    data_dir,
    free_port,
    machine_note,
    report,
    upstream,
    wrk_post,
)
from ws import measure

AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _with_cpu(gate: Server, seconds: float, run: Callable[[], float]) -> dict[str, float]:
    """``run``'s rate and the cores the gateway (supervisor and workers) used meanwhile."""
    before, started = cpu_seconds(gate.proc.pid), time.perf_counter()
    rate = run()
    elapsed = time.perf_counter() - started
    return {"rate": rate, "cores": (cpu_seconds(gate.proc.pid) - before) / max(elapsed, seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="workers of the gateway compared with one")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per measurement (medians)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; install it with: apt-get install -y wrk   (then run this again)")
    machine_note()
    ws_args = argparse.Namespace(duration=float(args.duration), warmup=3.0, connections=32, procs=2, window=8)
    unlimited = {"CLAWGATE_RATE_LIMIT_RPM": "100000000"}  # runs on every request, never refuses
    with (
        data_dir() as one_data,
        data_dir() as many_data,
        upstream(free_port()) as up,
        clawgate(free_port(), one_data, CLAWGATE_WORKERS="1", **unlimited) as one,
        clawgate(free_port(), many_data, CLAWGATE_WORKERS=str(args.workers), **unlimited) as many,
    ):
        for gate in (one, many):
            bench_agent(gate, up)
            wrk_post(f"{gate.url}/v1/chat/completions", BODY, 2, 32, AUTH)  # warm-up (every worker)

        def chat(gate: Server) -> dict[str, float]:
            url = f"{gate.url}/v1/chat/completions"
            return _with_cpu(gate, args.duration, lambda: wrk_post(url, BODY, args.duration, 32, AUTH)["rps"])

        def health(gate: Server) -> dict[str, float]:
            return _with_cpu(gate, args.duration, lambda: measure(gate, True, ws_args)[0])

        print(
            f"/v1/chat/completions, wrk 32 connections, {args.duration} s, {args.rounds} rounds alternating"
        )
        chat_one, chat_many = alternate(args.rounds, lambda: chat(one), lambda: chat(many))
        print(f"WebSocket health, 32 connections, {args.duration} s, {args.rounds} rounds alternating")
        ws_one, ws_many = alternate(args.rounds, lambda: health(one), lambda: health(many))
    med = statistics.median
    print(f"medians of {args.rounds} rounds; gateway CPU in cores (all its processes)")
    for label, unit, base, seen in (
        ("/v1/chat/completions", "req/s", chat_one, chat_many),
        ("WebSocket health", "rt/s", ws_one, ws_many),
    ):
        report(f"{label}, 1 worker", med(base["rate"]), unit)
        print(f"    [{min(base['rate']):.0f} .. {max(base['rate']):.0f}], {med(base['cores']):.2f} cores")
        report(f"{label}, {args.workers} workers", med(seen["rate"]), unit, baseline=med(base["rate"]))
        print(f"    [{min(seen['rate']):.0f} .. {max(seen['rate']):.0f}], {med(seen['cores']):.2f} cores")


if __name__ == "__main__":
    main()
