"""Mission Control's task stream fan-out (issue 14).

``clawgate serve`` on an embedded PostgreSQL; one board; ``--subscribers`` (200) clients following
``GET /api/v1/boards/{id}/tasks/stream`` (in this process: each a bare HTTP/1.1 connection reading
the stream's lines, so that 200 clients' parsing in one Python process does not stand in the
measured lag; ``--client httpx`` follows with httpx instead); then ``--updates`` (30) task
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


async def follow_raw(base: str, path: str, arrivals: dict[str, list[float]], ready: asyncio.Event,
                     count: list[int]) -> None:  # fmt: skip
    """The stream over a bare connection: frames arrive whole, one chunk each, so its lines are read
    as they come (the chunk-size lines are skipped: they never start with ``data: ``)."""
    host, port = base.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())  # fmt: skip
    try:
        while (line := await reader.readline()) not in (b"\r\n", b""):
            pass  # the answer's head
        count[0] += 1
        if count[0] == count[1]:
            ready.set()
        while line := await reader.readline():
            if line.startswith(b"data: "):
                title = json.loads(line[6:]).get("task", {}).get("title", "")
                arrivals.setdefault(title, []).append(time.perf_counter())
    finally:
        writer.close()


async def run(base: str, subscribers: int, updates: int, gap: float, client: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=subscribers + 10, max_keepalive_connections=subscribers + 10)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60, limits=limits) as http:
        board = (await http.post("/api/v1/boards", json={"name": "bench", "description": "d"})).json()["id"]
        task = (await http.post(f"/api/v1/boards/{board}/tasks", json={"title": "start"})).json()["id"]
        arrivals: dict[str, list[float]] = {}
        ready, count = asyncio.Event(), [0, subscribers]
        url = f"/api/v1/boards/{board}/tasks/stream"
        followers = [
            asyncio.create_task(
                follow(http, url, arrivals, ready, count) if client == "httpx"
                else follow_raw(base, url, arrivals, ready, count)
            )
            for _ in range(subscribers)
        ]  # fmt: skip
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
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    args = parser.parse_args()
    machine_note()
    with data_dir() as data, clawgate(free_port(), data) as gate:
        asyncio.run(run(gate.url, args.subscribers, args.updates, args.gap, args.client))


if __name__ == "__main__":
    main()
