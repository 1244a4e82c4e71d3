"""The OpenAI-compatible path: the same chat completion sent to a loopback upstream directly and
through ClawGate (``/v1/chat/completions``, one process, a persisted session via ``user``).

    .venv/bin/python bench/openai.py [--duration 10] [--rounds 3] [--litellm PATH]

Prints, against the upstream measured in the same run (each measurement taken in rounds that
alternate the upstream and ClawGate; medians, with the throughput's range):
- added latency p50 / p99, sequential (wrk, 1 connection)          targets <= 3 ms / <= 10 ms
- added time to first token when streaming (sequential, httpx)      target  <= 3 ms
- throughput through ClawGate at 32 connections (wrk)               target  >= 1200 req/s
If LiteLLM's proxy is installed (``pip install 'litellm[proxy]'``) it is measured the same way.
Needs wrk (``apt-get install -y wrk``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx
from _common import (
    BODY,
    TOKEN,
    alternate,
    bench_agent,
    clawgate,
    clean_env,
    cpu_seconds,
    data_dir,
    free_port,
    machine_note,
    report,
    running,
    upstream,
    wrk_post,
)


def ttft_ms(url: str, body: dict[str, object], headers: dict[str, str], count: int) -> float:
    """Median time from sending a streaming request to its first content delta, sequential."""
    times = []
    with httpx.Client(headers=headers, timeout=10) as http:
        for _ in range(count):
            started = time.perf_counter()
            with http.stream("POST", url, json={**body, "stream": True}) as response:
                first = None
                for line in response.iter_lines():
                    compact = line.replace(" ", "")
                    if first is None and '"content":"' in compact and '"content":""' not in compact:
                        first = (time.perf_counter() - started) * 1000
                times.append(first if first is not None else float("nan"))
    return statistics.median(times)


def median(values: list[float]) -> float:
    return statistics.median(values)


def litellm_binary(given: str) -> str | None:
    return given or shutil.which("litellm")


def litellm(binary: str, port: int, upstream_url: str, workdir: Path):  # type: ignore[no-untyped-def]
    """LiteLLM's proxy (one worker) routing model ``bench`` to the same upstream."""
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n  - model_name: bench\n    litellm_params:\n      model: openai/bench-model\n"
        f"      api_base: {upstream_url}/v1\n      api_key: sk-bench\n"
        f"general_settings:\n  master_key: {TOKEN}\n"
    )
    env = clean_env(LITELLM_LOCAL_MODEL_COST_MAP="True", LITELLM_LOG="ERROR", LITELLM_TELEMETRY="False")
    command = [
        binary,
        "--config",
        str(config),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        "--num_workers",
        "1",
    ]
    return running("litellm", command, port, env, "/health/liveliness", timeout=180)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk measurement")
    parser.add_argument("--ttft-requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per measurement (medians)")
    parser.add_argument("--litellm", default="", help="path of the litellm executable (default: on PATH)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; install it with: apt-get install -y wrk   (then run this again)")
    machine_note()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    up_port = free_port()
    with (
        data_dir() as data,
        upstream(up_port) as up,
        clawgate(free_port(), data, CLAWGATE_RATE_LIMIT_RPM="100000000") as gate,
    ):
        bench_agent(gate, up)
        direct_url, gate_url = f"{up.url}/v1/chat/completions", f"{gate.url}/v1/chat/completions"
        upstream_body = {**BODY, "model": "bench-model"}
        wrk_post(direct_url, upstream_body, 2, 1, {})  # warm-up
        wrk_post(gate_url, BODY, 2, 1, auth)
        rounds = args.rounds
        print(f"sequential latency (wrk, 1 connection, {args.duration} s each, {rounds} rounds alternating)")
        base_seq, gate_seq = alternate(rounds, lambda: wrk_post(direct_url, upstream_body, args.duration, 1, {}),
                                     lambda: wrk_post(gate_url, BODY, args.duration, 1, auth))  # fmt: skip
        print(
            f"time to first token, streaming ({args.ttft_requests} sequential requests each, {rounds} rounds)"
        )
        base_ttft, gate_ttft = alternate(rounds, lambda: {"ttft": ttft_ms(direct_url, upstream_body, {}, args.ttft_requests)},
                                       lambda: {"ttft": ttft_ms(gate_url, BODY, auth, args.ttft_requests)})  # fmt: skip
        print(f"throughput (wrk, 32 connections, {args.duration} s each, {rounds} rounds alternating)")
        cpu: list[float] = []

        def through_gateway() -> dict[str, float]:
            before = cpu_seconds(gate.proc.pid)
            result = wrk_post(gate_url, BODY, args.duration, 32, auth)
            cpu.append((cpu_seconds(gate.proc.pid) - before) * 1000 / (result["rps"] * args.duration))
            return result

        base_tp, gate_tp = alternate(rounds, lambda: wrk_post(direct_url, upstream_body, args.duration, 32, {}),
                                   through_gateway)  # fmt: skip
    added_p50 = median(gate_seq["p50"]) - median(base_seq["p50"])
    added_p99 = median(gate_seq["p99"]) - median(base_seq["p99"])
    added_ttft = median(gate_ttft["ttft"]) - median(base_ttft["ttft"])
    rps = median(gate_tp["rps"])
    print(f"medians of {rounds} rounds (range in brackets)")
    report("upstream direct p50", median(base_seq["p50"]), "ms")
    report("upstream direct p99", median(base_seq["p99"]), "ms")
    report("added latency p50 (sequential)", added_p50, "ms", target="<= 3 ms", ok=added_p50 <= 3)
    report("added latency p99 (sequential)", added_p99, "ms", target="<= 10 ms", ok=added_p99 <= 10)
    report("upstream TTFT (streaming)", median(base_ttft["ttft"]), "ms")
    report("added TTFT (streaming)", added_ttft, "ms", target="<= 3 ms", ok=added_ttft <= 3)
    report("upstream direct, 32 connections", median(base_tp["rps"]), "req/s")
    report("clawgate, 32 connections", rps, "req/s", baseline=median(base_tp["rps"]), target=">= 1200 req/s",
           ok=rps >= 1200)  # fmt: skip
    print(f"  {'':<38} [{min(gate_tp['rps']):.0f} .. {max(gate_tp['rps']):.0f}] req/s over the rounds")
    report("gateway CPU per request (32 conns)", median(cpu), "ms")
    binary = litellm_binary(args.litellm)
    if binary is None:
        print("  LiteLLM proxy not installed (pip install 'litellm[proxy]'); skipped the side-by-side run")
        return
    print("LiteLLM proxy, same measurements")
    with (
        data_dir() as work,
        upstream(free_port()) as up2,
        litellm(binary, free_port(), up2.url, work) as lite,
    ):
        lite_url = f"{lite.url}/v1/chat/completions"
        wrk_post(lite_url, BODY, 2, 1, auth)
        lite_seq = wrk_post(lite_url, BODY, args.duration, 1, auth)
        lite_ttft = ttft_ms(lite_url, BODY, auth, max(20, args.ttft_requests // 4))
        lite_tp = wrk_post(lite_url, BODY, args.duration, 32, auth)
    report("litellm added latency p50", lite_seq["p50"] - median(base_seq["p50"]), "ms")
    report("litellm added latency p99", lite_seq["p99"] - median(base_seq["p99"]), "ms")
    report("litellm added TTFT", lite_ttft - median(base_ttft["ttft"]), "ms")
    report("litellm, 32 connections", lite_tp["rps"], "req/s")
    report("clawgate vs litellm throughput", rps, "req/s", baseline=lite_tp["rps"])


if __name__ == "__main__":
    main()
