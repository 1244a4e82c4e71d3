"""REST throughput: ClawGate against a bare Starlette app, both driven by wrk at 64 connections.

    .venv/bin/python bench/rest.py [--duration 10] [--connections 64]

Prints requests/s for the bare app's GET /health, ClawGate's GET /health and an authenticated
GET /v1/agents (gateway token, a few agents created first), with ratios to the bare app.
Targets: /health >= 0.6x, /v1/agents >= 0.35x. Needs wrk (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

import httpx
from _common import TOKEN, bare_app, clawgate, data_dir, free_port, machine_note, report

TARGETS = {"health": 0.6, "agents": 0.35}


def wrk(url: str, seconds: int, connections: int, *headers: str) -> tuple[float, int]:
    """Requests/s and the count of non-2xx answers for ``url``."""
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    for header in headers:
        command += ["-H", header]
    out = subprocess.run([*command, url], check=True, capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if match is None:
        sys.exit(f"could not read wrk's output:\n{out}")
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return float(match.group(1)), int(failed.group(1)) if failed else 0


def measure(label: str, url: str, args: argparse.Namespace, *headers: str) -> float:
    wrk(url, 2, args.connections, *headers)  # warm-up
    rate, failed = wrk(url, args.duration, args.connections, *headers)
    if failed:
        print(f"  warning: {failed} non-2xx answers for {label} (rate limited or failing)")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; install it with: apt-get install -y wrk   (then run this again)")
    machine_note()
    auth = f"Authorization: Bearer {TOKEN}"
    with data_dir() as data, bare_app(free_port()) as bare, clawgate(free_port(), data) as gate:
        with httpx.Client(base_url=gate.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            # Agents must name a provider that exists and a model; nothing is called here.
            http.post(
                "/v1/providers", json={"name": "bench", "api_base": "http://127.0.0.1:9/v1"}
            ).raise_for_status()
            for n in range(5):
                agent = {
                    "agent_key": f"bench-{n}",
                    "display_name": f"Bench {n}",
                    "provider": "bench",
                    "model": "m",
                }
                http.post("/v1/agents", json=agent).raise_for_status()
            assert len(http.get("/v1/agents").json()["agents"]) == 5
        print(f"wrk, {args.connections} connections, {args.duration} s per figure")
        base = measure("bare /health", f"{bare.url}/health", args)
        health = measure("clawgate /health", f"{gate.url}/health", args)
        agents = measure("clawgate /v1/agents", f"{gate.url}/v1/agents", args, auth)
    report("bare starlette GET /health", base, "req/s")
    report("clawgate GET /health", health, "req/s", baseline=base, target=">= 0.6x",
           ok=health / base >= TARGETS["health"])  # fmt: skip
    report("clawgate GET /v1/agents (5 agents)", agents, "req/s", baseline=base, target=">= 0.35x",
           ok=agents / base >= TARGETS["agents"])  # fmt: skip


if __name__ == "__main__":
    main()
