"""Streamed chat runs over WebSocket against the OpenAI-compatible path, with an upstream that streams
like a model (20 tokens, 20 ms apart, by default).

    .venv/bin/python bench/ws_chat.py [--clients 100] [--duration 30] [--intervals 3]
                                      [--tokens 20] [--token-ms 20] [--long 1000] [--length-seconds 15]

One run of it prints, with the upstream's own time to first token measured in the same run (the same
number of clients streaming from it directly). The time added to the first token is taken request by
request: the upstream stamps its own time from the request to the first token in that token
(``_upstream.py``), and the client subtracts it from what it waited, so that what is left is the way
there and back (client, gateway, upstream's socket), whatever the upstream's own delays under the load;
the TTFT less the direct p50, as measured before, is printed too:
- WebSocket: ``--clients`` connections, each its own user and session, looping ``chat.send
  {stream:true}``: runs/s, time to the first ``chunk`` event added over the upstream's own (p50 and p99)
  and the gateway's CPU per run, per interval of the measurement (``--intervals``; a trend shows there)
  and over all of it                                     targets: CPU <= 2 ms per run; added TTFT
                                                          p50 <= 5 ms, p99 <= 20 ms
- the same for streamed ``/v1/chat/completions`` (a persisted session per client via ``user``);
- the floor, with the same clients: a bare Starlette relay under the same uvicorn (``bench/_bare.py``
  ``/relay``: each message streamed from the upstream through aiohttp, every chunk sent on as a frame;
  no authentication, session or database): its CPU per run is what relaying 20 chunks costs any
  Python process on this machine (socket reads and writes mostly), so ClawGate's is shown against it;
- the gateway's CPU per run in sessions of 10 against ``--long`` (1,000) messages (sessions filled with
  ``chat.inject``, then looping ``chat.send``)            target: the same at both lengths
``--duration 300`` runs it for 5 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from _common import (
    TOKEN,
    Server,
    bare_app,
    bench_agent,
    clawgate,
    cpu_seconds,
    data_dir,
    free_port,
    machine_note,
    report,
    upstream,
)
from websockets.asyncio.client import ClientConnection, connect


@dataclass
class Tally:
    """What the clients saw during one interval."""

    ttft: list[float] = field(default_factory=list)
    added: list[float] = field(default_factory=list)  # ms, request by request (``own_time``)
    done: int = 0
    errors: int = 0


def own_time(content: str) -> float:
    """The upstream's own seconds to its first token, from the stamp it puts in it
    (``t0@<request in>@<first token out>``, ``_upstream.py``); NaN without one."""
    parts = content.split("@")
    return float(parts[2]) - float(parts[1]) if len(parts) == 3 else float("nan")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def operator_key(gate: Server) -> str:
    """An API key with the operator role: each connection sees only its own user's runs (the gateway
    token is admin, and an admin sees the whole tenant's events)."""
    with httpx.Client(base_url=gate.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        res = http.post("/v1/api-keys", json={"name": "bench", "scopes": ["operator.write"]})
        res.raise_for_status()
        key: str = res.json()["key"]
    return key


class WsUser:
    """One connection: its own user and session, one request at a time."""

    def __init__(self, ws: ClientConnection, session_key: str) -> None:
        self.ws = ws
        self.session_key = session_key
        self.ids = 0

    @classmethod
    async def open(cls, gate: Server, key: str, user: str) -> WsUser:
        ws = await connect(gate.ws_url, compression=None, max_size=None)
        self = cls(ws, f"agent:bench:ws:{user}")
        await self.call("connect", {"token": key, "user_id": user})
        return self

    async def call(
        self, method: str, params: dict[str, object]
    ) -> tuple[dict[str, object], tuple[float, float]]:
        """Send a request, read until its answer; returns it, the seconds to the first chunk and the
        seconds the way there and back added to the upstream's own time to it."""
        self.ids += 1
        rid = str(self.ids)
        started = time.monotonic()
        first = (float("nan"), float("nan"))
        await self.ws.send(json.dumps({"type": "req", "id": rid, "method": method, "params": params}))
        while True:
            frame = json.loads(await self.ws.recv())
            if frame.get("type") == "res" and frame.get("id") == rid:
                if not frame.get("ok"):
                    raise RuntimeError(f"{method}: {frame}")
                return frame, first
            if first[0] != first[0] and frame.get("event") == "agent" and frame["payload"]["type"] == "chunk":
                ttft = time.monotonic() - started
                chunk = frame["payload"].get("payload") or frame["payload"]  # ClawGate's, the relay's
                first = (ttft, ttft - own_time(chunk["content"]))

    async def run(self) -> tuple[float, float]:
        """One streamed run to its end; the seconds to its first chunk, and those added to the
        upstream's own."""
        params = {"message": "hello", "agentId": "bench", "sessionKey": self.session_key, "stream": True}
        return (await self.call("chat.send", params))[1]


class RelayUser(WsUser):
    """One connection to the bare relay: the same frames, no ``connect``."""

    @classmethod
    async def open_relay(cls, bare: Server, up: Server) -> RelayUser:
        return cls(await connect(f"ws://127.0.0.1:{bare.port}/relay?upstream={up.url}", compression=None), "")


async def loop(
    one: Callable[[], Awaitable[tuple[float, float]]], tallies: list[Tally], bounds: list[float]
) -> None:
    """Call ``one`` (a request; returns its seconds to the first token, and those added to the
    upstream's own) until the last bound, each
    result counted in the interval it ended in (the CPU is sampled at the bounds: a steady state
    counts the runs that ended in an interval against the CPU used in it)."""
    while time.time() < bounds[-1]:
        try:
            ttft, added = await one()
            error = None
        except Exception as exc:  # counted and shown: a benchmark reports errors, it does not stop
            error = exc
        now = time.time()
        if now >= bounds[-1]:
            return
        tally = tallies[sum(1 for b in bounds if now >= b)]
        if error is not None:
            tally.errors += 1
            print(f"  error: {error!r}"[:200])
        elif now >= bounds[0]:
            tally.ttft.append(ttft * 1000)
            tally.added.append(added * 1000)
            tally.done += 1


async def loop_ws(user: WsUser, tallies: list[Tally], bounds: list[float]) -> None:
    await loop(user.run, tallies, bounds)


async def loop_http(url: str, body: dict[str, object], headers: dict[str, str], tallies: list[Tally],
                    bounds: list[float]) -> None:  # fmt: skip
    """Streamed chat completions in a loop (the upstream directly, or through the gateway)."""
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:

        async def one() -> tuple[float, float]:
            started, first = time.monotonic(), (float("nan"), float("nan"))
            async with http.stream("POST", url, json={**body, "stream": True}) as response:
                response.raise_for_status()
                async for line in response.aiter_lines():
                    if first[0] != first[0] and '"content":"t0@' in line.replace(" ", ""):
                        ttft = time.monotonic() - started
                        stamp = line.split('"content":', 1)[1].split('"')[1]
                        first = (ttft, ttft - own_time(stamp))
            return first

        await loop(one, tallies, bounds)


async def measure(gate: Server | None, clients: list[object], args: argparse.Namespace,
                  loop: object) -> tuple[list[Tally], list[float]]:  # fmt: skip
    """Run ``loop`` for every client over a 2 s warm-up and ``--duration`` seconds in ``--intervals``;
    returns each interval's tally and the gateway's CPU seconds in it."""
    start = time.time() + 2
    step = args.duration / args.intervals
    bounds = [start + i * step for i in range(args.intervals + 1)]
    tallies = [Tally() for _ in range(args.intervals + 1)]  # [0] is the warm-up
    cpu: list[float] = []

    async def sample() -> None:
        for edge in bounds:
            await asyncio.sleep(max(0.0, edge - time.time()))
            cpu.append(cpu_seconds(gate.proc.pid) if gate is not None else 0.0)

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(loop(c, tallies, bounds) for c in clients))  # type: ignore[operator]
    await sampler
    return tallies[1:], [b - a for a, b in itertools.pairwise(cpu)]


def show(
    label: str, tallies: list[Tally], cpu: list[float], step: float, base_ttft: float
) -> dict[str, float]:
    """Per-interval lines, then the whole measurement; returns the whole's figures."""
    for n, (tally, seconds) in enumerate(zip(tallies, cpu, strict=True), 1):
        per_run = seconds * 1000 / tally.done if tally.done else float("nan")
        print(f"  {label} interval {n}: {tally.done / step:7.1f} runs/s  TTFT p50 {pct(tally.ttft, 0.5):7.1f} ms"
              f"  p99 {pct(tally.ttft, 0.99):7.1f} ms  added p50 {pct(tally.added, 0.5):6.1f} ms"
              f"  p99 {pct(tally.added, 0.99):6.1f} ms  CPU {per_run:5.2f} ms/run  errors {tally.errors}")  # fmt: skip
    ttft = [t for tally in tallies for t in tally.ttft]
    added = [t for tally in tallies for t in tally.added]
    done = sum(t.done for t in tallies)
    return {
        "rate": done / (step * len(tallies)),
        "p50": pct(added, 0.5),
        "p99": pct(added, 0.99),
        "over_p50": pct(ttft, 0.5) - base_ttft,
        "over_p99": pct(ttft, 0.99) - base_ttft,
        "cpu": sum(cpu) * 1000 / done if done else float("nan"),
        "errors": float(sum(t.errors for t in tallies)),
    }


async def fill(user: WsUser, messages: int) -> None:
    """Bring the user's session to ``messages`` messages: one run, then injected answers."""
    await user.run()
    for n in range(messages - 2):
        await user.call("chat.inject", {"sessionKey": user.session_key, "message": f"filler {n} " * 4})


async def main_async(args: argparse.Namespace) -> None:
    machine_note()
    with (
        data_dir() as data,
        upstream(free_port(), args.tokens, args.token_ms) as up,
        clawgate(free_port(), data, CLAWGATE_RATE_LIMIT_RPM="0", CLAWGATE_MAX_MESSAGE_CHARS="100000") as gate,
    ):
        bench_agent(gate, up)
        key = operator_key(gate)
        step = args.duration / args.intervals
        print(f"{args.clients} clients, upstream streams {args.tokens} tokens {args.token_ms} ms apart; "
              f"{args.duration} s per path in {args.intervals} intervals")  # fmt: skip

        direct = [None] * args.clients
        body = {"model": "bench-model", "messages": [{"role": "user", "content": "hello"}]}
        url = f"{up.url}/v1/chat/completions"
        tallies, _ = await measure(None, direct, args, lambda _c, t, b: loop_http(url, body, {}, t, b))
        base = pct([t for tally in tallies for t in tally.ttft], 0.5)
        base99 = pct([t for tally in tallies for t in tally.ttft], 0.99)
        report("upstream directly: TTFT p50", base, "ms")
        report("upstream directly: TTFT p99", base99, "ms")

        with bare_app(free_port()) as bare:
            relays = [await RelayUser.open_relay(bare, up) for _ in range(args.clients)]
            tallies, cpu = await measure(bare, relays, args, loop_ws)
            floor = show("bare relay", tallies, cpu, step, base)
            for relay in relays:
                await relay.ws.close()

        users = [await WsUser.open(gate, key, f"u{i}") for i in range(args.clients)]
        tallies, cpu = await measure(gate, users, args, loop_ws)
        ws = show("ws", tallies, cpu, step, base)

        gate_url = f"{gate.url}/v1/chat/completions"
        oa_headers = {"Authorization": f"Bearer {key}"}
        bodies = [{"model": "bench", "messages": [{"role": "user", "content": "hello"}], "user": f"oa{i}"}
                  for i in range(args.clients)]  # fmt: skip
        tallies, cpu = await measure(
            gate, bodies, args, lambda b, t, bounds: loop_http(gate_url, b, oa_headers, t, bounds)
        )
        oa = show("openai", tallies, cpu, step, base)
        for user in users:
            await user.ws.close()

        print(f"sessions of 10 and of {args.long} messages ({args.length_clients} sessions each, "
              f"{args.length_seconds} s each, 2 rounds alternating)")  # fmt: skip
        short = [await WsUser.open(gate, key, f"s{i}") for i in range(args.length_clients)]
        long = [await WsUser.open(gate, key, f"l{i}") for i in range(args.length_clients)]
        await asyncio.gather(*(fill(u, 10) for u in short), *(fill(u, args.long) for u in long))
        length_args = argparse.Namespace(duration=args.length_seconds, intervals=1)
        per_run: dict[str, list[float]] = {"short": [], "long": []}
        for _ in range(2):
            for name, group in (("short", short), ("long", long)):
                tallies, cpu = await measure(gate, group, length_args, loop_ws)
                per_run[name].append(cpu[0] * 1000 / max(1, tallies[0].done))

    print("over the whole measurement (added TTFT: request by request, the time to the first chunk less the "
          "upstream's own time to it, which it stamps in the chunk)")  # fmt: skip
    report("ws runs/s", ws["rate"], "runs/s", baseline=oa["rate"])
    report("ws added TTFT p50", ws["p50"], "ms", target="<= 5 ms", ok=ws["p50"] <= 5)
    report("ws added TTFT p99", ws["p99"], "ms", target="<= 20 ms", ok=ws["p99"] <= 20)
    report("ws TTFT p50 less the upstream's direct p50", ws["over_p50"], "ms")
    report("ws TTFT p99 less the upstream's direct p50", ws["over_p99"], "ms")
    report("bare relay added TTFT p99 (the floor)", floor["p99"], "ms")
    report("ws gateway CPU per run", ws["cpu"], "ms", baseline=oa["cpu"], target="<= 2 ms", ok=ws["cpu"] <= 2)
    report("ws CPU per run vs the bare relay", ws["cpu"], "ms", baseline=floor["cpu"])
    report("bare relay CPU per run (the floor)", floor["cpu"], "ms")
    report("bare relay added TTFT p50", floor["p50"], "ms")
    report("openai requests/s", oa["rate"], "req/s")
    report("openai added TTFT p50", oa["p50"], "ms")
    report("openai added TTFT p99", oa["p99"], "ms")
    report("openai gateway CPU per request", oa["cpu"], "ms")
    short_cpu, long_cpu = statistics.median(per_run["short"]), statistics.median(per_run["long"])
    report("CPU per run, 10-message sessions", short_cpu, "ms")
    report(f"CPU per run, {args.long}-message sessions", long_cpu, "ms", baseline=short_cpu,
           target="same (<= 1.2x)", ok=long_cpu <= 1.2 * short_cpu)  # fmt: skip
    print(f"  errors: ws {ws['errors']:.0f}, openai {oa['errors']:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100, help="streaming clients per path")
    parser.add_argument("--duration", type=float, default=30, help="seconds per path (300: 5 minutes)")
    parser.add_argument("--intervals", type=int, default=3, help="intervals reported within --duration")
    parser.add_argument("--tokens", type=int, default=20, help="tokens per streamed answer")
    parser.add_argument("--token-ms", type=int, default=20, help="milliseconds between tokens")
    parser.add_argument("--long", type=int, default=1000, help="messages in the long sessions")
    parser.add_argument("--length-clients", type=int, default=10, help="sessions of each length")
    parser.add_argument("--length-seconds", type=float, default=15, help="seconds per length round")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
