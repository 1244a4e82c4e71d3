"""The overhead of a built-in tool round trip inside a run.

    .venv/bin/python bench/tools.py [--clients 4] [--runs 300] [--rounds 3]

Runs over WebSocket (``chat.send``, streamed) against the loopback upstream, in the same gateway
process, alternating in rounds: plain runs (one upstream call, an answer), and tool runs (the upstream
asks for ``session_info``, a no-op-like built-in, then answers: one tool call and one more upstream
call). Each client starts a new session of each kind every 20 runs (``SESSION_RUNS``), so that
both kinds carry a history of the same bounded length. A third kind in each round is the upstream's
own time for that second call: the same number of clients (httpx, keep-alive) sending it a streamed
request shaped like the gateway's second one (half a session's history, the tool call and its
result in the messages) and reading the answer to its end.

Reported: each kind's time (p50, p99) and the gateway's CPU per run; the difference per tool call,
and the gateway's added time per tool call: that difference less the upstream's own p50 for the
second call (a tool call costs that call in any gateway). Target: gateway-added p50 <= 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import time

import httpx
from _common import (
    TOKEN,
    Server,
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


def operator_key(gate: Server) -> str:
    with httpx.Client(base_url=gate.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        res = http.post("/v1/api-keys", json={"name": "bench", "scopes": ["operator.write"]})
        res.raise_for_status()
        key: str = res.json()["key"]
    return key


SESSION_RUNS = 20
"""Runs per session (of each kind, per client) before the next run starts a new session."""


class Client:
    def __init__(self, ws: ClientConnection, user: str) -> None:
        self.ws, self.user, self.ids = ws, user, 0

    async def call(self, method: str, params: dict[str, object]) -> dict[str, object]:
        self.ids += 1
        rid = str(self.ids)
        await self.ws.send(json.dumps({"type": "req", "id": rid, "method": method, "params": params}))
        while True:
            frame = json.loads(await self.ws.recv())
            if frame.get("type") == "res" and frame.get("id") == rid:
                if not frame.get("ok"):
                    raise RuntimeError(f"{method}: {frame}")
                return frame

    async def run(self, tool: bool, n: int) -> float:
        """One run to its end (``chat.send`` waits for it): its seconds. Each kind in its own
        sessions per client, a new one every ``SESSION_RUNS`` runs: a session of tool runs grows
        twice as fast as one of plain runs (four messages a run against two), and each request
        carries the history, so unbounded sessions would count the history's growth as the tool
        call's cost."""
        message = "use-tool please" if tool else "hello"
        key = f"agent:bench:tools:{self.user}:{tool}:{n // SESSION_RUNS}"
        started = time.perf_counter()
        await self.call(
            "chat.send", {"message": message, "agentId": "bench", "stream": True, "sessionKey": key}
        )
        return time.perf_counter() - started


async def measure(
    gate: Server, clients: list[Client], tool: bool, runs: int, offset: int
) -> tuple[list[float], float]:
    """``runs`` runs spread over the clients; their times (ms) and the gateway's CPU ms per run."""
    times: list[float] = []
    per = runs // len(clients)
    cpu0 = cpu_seconds(gate.proc.pid)

    async def one(c: Client) -> None:
        for i in range(per):
            times.append(await c.run(tool, offset + i) * 1000)

    await asyncio.gather(*(one(c) for c in clients))
    return times, (cpu_seconds(gate.proc.pid) - cpu0) * 1000 / max(1, len(times))


def second_call_body() -> dict[str, object]:
    """A request shaped like the gateway's second call of a tool run: the history of half a
    session's runs, the user message, the model's tool call and the tool's result (the stand-in
    answers it with its usual streamed answer)."""
    call = {"id": "call_bench", "type": "function", "function": {"name": "session_info", "arguments": "{}"}}
    run = [
        {"role": "user", "content": "use-tool please"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_bench", "content": '{"session_key": "agent:bench:tools"}'},
    ]
    history = [*run, {"role": "assistant", "content": "Hello from the upstream."}] * (SESSION_RUNS // 2)
    return {
        "model": "bench-model", "stream": True, "stream_options": {"include_usage": True},
        "messages": [{"role": "system", "content": "You are a bench agent."}, *history, *run],
        "tools": [{"type": "function", "function": {"name": "session_info", "description": "info",
                                                   "parameters": {"type": "object", "properties": {}}}}],
    }  # fmt: skip


async def measure_upstream(up: Server, clients: int, runs: int) -> list[float]:
    """``runs`` second calls sent to the upstream directly by ``clients`` keep-alive clients: their
    times (ms), each from sending the request to the end of the streamed answer."""
    body = second_call_body()
    times: list[float] = []

    async def one(http: httpx.AsyncClient) -> None:
        for _ in range(runs // clients):
            started = time.perf_counter()
            async with http.stream("POST", f"{up.url}/v1/chat/completions", json=body) as res:
                res.raise_for_status()
                async for _chunk in res.aiter_bytes():
                    pass
            times.append((time.perf_counter() - started) * 1000)

    async with contextlib.AsyncExitStack() as stack:
        https = [await stack.enter_async_context(httpx.AsyncClient(timeout=30)) for _ in range(clients)]
        await asyncio.gather(*(one(h) for h in https))
    return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main_async(args: argparse.Namespace) -> None:
    machine_note()
    with (
        data_dir() as data,
        upstream(free_port()) as up,
        clawgate(free_port(), data, CLAWGATE_RATE_LIMIT_RPM="0") as gate,
    ):
        bench_agent(gate, up)
        key = operator_key(gate)
        clients = []
        for i in range(args.clients):
            ws = await connect(gate.ws_url, compression=None, max_size=None)
            client = Client(ws, f"u{i}")
            await client.call("connect", {"token": key, "user_id": client.user})
            clients.append(client)
        first = await clients[0].call("chat.send", {"message": "use-tool", "agentId": "bench", "stream": True,
                                                    "sessionKey": "agent:bench:tools:check"})  # fmt: skip
        print(f"check: {str(first)[:160]}")
        await measure(gate, clients, False, args.clients * 20, 10_000_000)  # warm-up
        await measure(gate, clients, True, args.clients * 20, 20_000_000)
        await measure_upstream(up, args.clients, args.clients * 20)
        plain: list[float] = []
        tools: list[float] = []
        direct: list[float] = []
        cpu_plain: list[float] = []
        cpu_tools: list[float] = []
        offset = 0
        for r in range(args.rounds):
            for kind in (False, True):
                offset += args.runs
                times, cpu = await measure(gate, clients, kind, args.runs, offset)
                (tools if kind else plain).extend(times)
                (cpu_tools if kind else cpu_plain).append(cpu)
                print(f"  round {r + 1} {'tool ' if kind else 'plain'}: p50 {pct(times, 0.5):6.2f} ms  "
                      f"p99 {pct(times, 0.99):6.2f} ms  gateway CPU {cpu:5.2f} ms/run")  # fmt: skip
            times = await measure_upstream(up, args.clients, args.runs)
            direct.extend(times)
            print(f"  round {r + 1} upstream second call directly: p50 {pct(times, 0.5):6.2f} ms  "
                  f"p99 {pct(times, 0.99):6.2f} ms")  # fmt: skip
        for c in clients:
            await c.ws.close()
    print(f"{args.clients} clients, {args.rounds} rounds of {args.runs} runs of each kind; "
          f"load average at the end {os.getloadavg()[0]:.2f}")  # fmt: skip
    p50_plain, p50_tools = pct(plain, 0.5), pct(tools, 0.5)
    report("plain run p50", p50_plain, "ms")
    report("run with one tool call p50", p50_tools, "ms", baseline=p50_plain)
    report("run with one tool call p99", pct(tools, 0.99), "ms", baseline=pct(plain, 0.99))
    added = p50_tools - p50_plain
    report("added per tool call, p50", added, "ms")
    own = pct(direct, 0.5)
    report("upstream's own second call, p50", own, "ms")
    gateway = added - own
    report("gateway-added per tool call, p50", gateway, "ms", target="<= 2 ms", ok=gateway <= 2)
    cp, ct = statistics.median(cpu_plain), statistics.median(cpu_tools)
    report("gateway CPU per plain run", cp, "ms")
    report("gateway CPU per tool run", ct, "ms", baseline=cp)
    report("gateway CPU added per tool call", ct - cp, "ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent WebSocket clients")
    parser.add_argument("--runs", type=int, default=300, help="runs of each kind per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
