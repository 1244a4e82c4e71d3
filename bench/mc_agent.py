"""Mission Control's agent auth cost (issue 14): the agent API's per-request work (the per-IP limit
decided in PostgreSQL, then the token looked up by its indexed prefix and compared in constant time)
against a user route with the gateway token, one request at a time over keep-alive.

    .venv/bin/python bench/mc_agent.py [--requests 400] [--agents 1000]

Prints p50/p99 of ``GET /api/v1/agent/healthz`` (X-Agent-Token; 19 requests per client IP, under
the 20/60 s limit) and of ``GET /api/v1/boards`` (gateway token), with the ratio. ``--agents``
tokens are minted first, so a lookup among many tokens is what is measured (MC's scan is O(n)).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import httpx
from _common import TOKEN, clawgate, data_dir, free_port, machine_note, report


def timed(http: httpx.Client, path: str, n: int, headers: Callable[[int], dict[str, str]]) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        res = http.get(path, headers=headers(i))
        out.append((time.perf_counter() - start) * 1000)
        assert res.status_code == 200, res.text
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--agents", type=int, default=1000)
    args = parser.parse_args()
    machine_note()
    with data_dir() as data, clawgate(free_port(), data) as gate:
        owner = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=gate.url, headers=owner, timeout=30) as http:
            http.post("/v1/providers", json={"name": "stub", "provider_type": "openai_compat",
                                             "api_base": "http://127.0.0.1:9/v1", "api_key": "sk"}).raise_for_status()  # fmt: skip
            token = ""
            for i in range(args.agents):
                made = http.post("/v1/agents", json={"agent_key": f"a{i}", "provider": "stub", "model": "m"})
                made.raise_for_status()
                minted = http.post(f"/api/v1/agents/{made.json()['id']}/token")
                minted.raise_for_status()
                token = minted.json()["token"]
            for _ in range(20):  # warm-up
                http.get("/api/v1/boards").raise_for_status()
            user = timed(http, "/api/v1/boards", args.requests, lambda i: owner)
        with httpx.Client(base_url=gate.url, timeout=30) as http:
            agent = timed(http, "/api/v1/agent/healthz", args.requests,
                          lambda i: {"X-Agent-Token": token, "X-Real-IP": f"10.{i // 19 // 250}.{i // 19 % 250}.1"})  # fmt: skip
    for label, values, base in (("user GET /api/v1/boards", user, None),
                                ("agent GET /api/v1/agent/healthz", agent, statistics.median(user))):  # fmt: skip
        q = statistics.quantiles(values, n=100)
        report(f"{label} p50", statistics.median(values), "ms", baseline=base)
        report(f"{label} p99", q[98], "ms")


if __name__ == "__main__":
    main()
