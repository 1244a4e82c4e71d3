"""Mission Control's task stream fan-out (issue 14).

``clawgate serve`` on an embedded PostgreSQL; one board; ``--subscribers`` (200) clients following
``GET /api/v1/boards/{id}/tasks/stream`` (httpx, in this process); then ``--updates`` (30) task
PATCHes, ``--gap`` (0.3 s) apart. For each update and subscriber: the time from sending the PATCH
(an upper bound of its commit) to the frame's arrival, and from the PATCH's answer (which follows
the commit); prints p50/p99/max, the PATCH's own round trip, and how many frames arrived of those
due.

    .venv/bin/python bench/coord_sse.py --subscribers 200 --updates 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TOKEN, clawgate, data_dir, free_port, machine_note, report


async def follow(http: httpx.AsyncClient, url: str, arrivals: dict[str, list[float]], ready: asyncio.Event,
                 count: list[int]) -> None:  # fmt: skip
    async with http.stream("GET", url) as res:
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        async for line in res.aiter_lines():
            if line.startswith("data: "):
                title = json.loads(line[6:]).get("task", {}).get("title", "")
                arrivals.setdefault(title, []).append(time.perf_counter())


async def run(base: str, subscribers: int, updates: int, gap: float) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=subscribers + 10, max_keepalive_connections=subscribers + 10)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as http:
        board = (await http.post("/api/v1/boards", json={"name": "bench", "description": "d"})).json()["id"]
        task = (await http.post(f"/api/v1/boards/{board}/tasks", json={"title": "start"})).json()["id"]
        arrivals: dict[str, list[float]] = {}
        ready, count = asyncio.Event(), [0, subscribers]
        url = f"/api/v1/boards/{board}/tasks/stream"
        followers = [
            asyncio.create_task(follow(http, url, arrivals, ready, count)) for _ in range(subscribers)
        ]
        await asyncio.wait_for(ready.wait(), 60)
        await asyncio.sleep(1.0)
        sent: dict[str, float] = {}
        answered: dict[str, float] = {}
        for n in range(updates):
            title = f"update {n}"
            sent[title] = time.perf_counter()
            await http.patch(f"/api/v1/boards/{board}/tasks/{task}", json={"title": title})
            answered[title] = time.perf_counter()
            await asyncio.sleep(gap)
        await asyncio.sleep(2.0)
        for f in followers:
            f.cancel()
    lags = sorted(
        (t - sent[title]) * 1000 for title, times in arrivals.items() if title in sent for t in times
    )
    due = subscribers * updates
    print(f"frames received {len(lags)} of {due}")
    if lags:
        report("stream lag p50 (PATCH sent -> frame)", statistics.median(lags), "ms")
        report("stream lag p99", lags[int(len(lags) * 0.99) - 1], "ms", target="<= 100 ms",
               ok=lags[int(len(lags) * 0.99) - 1] <= 100)  # fmt: skip
        report("stream lag max", lags[-1], "ms")
        after = sorted(
            (t - answered[k]) * 1000 for k, times in arrivals.items() if k in answered for t in times
        )
        report("lag after the PATCH's answer p50", statistics.median(after), "ms")
        report("lag after the PATCH's answer p99", after[int(len(after) * 0.99) - 1], "ms")
        patch = sorted((answered[k] - sent[k]) * 1000 for k in sent)
        report("PATCH round trip p50", statistics.median(patch), "ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=200)
    parser.add_argument("--updates", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.3)
    args = parser.parse_args()
    machine_note()
    with data_dir() as data, clawgate(free_port(), data) as gate:
        asyncio.run(run(gate.url, args.subscribers, args.updates, args.gap))


if __name__ == "__main__":
    main()
