"""Where a streamed WebSocket run's gateway CPU goes: ``bench/ws_chat.py``'s WebSocket load alone, with
py-spy recording the gateway process in the steady state (after a warm-up in which every session got
its title), then the stacks folded into shares by function.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/ws_profile.py [--clients 100] [--warmup 15] [--seconds 20] [--top 60] [--native | --perf]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import bench_agent, clawgate, cpu_seconds, data_dir, free_port, machine_note, upstream
from ws_chat import Tally, WsUser, loop_ws, operator_key


def fold(raw: Path, top: int) -> None:
    """Print each function's inclusive and own share of the samples."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = [re.sub(r":\d+\)", ")", f) for f in stack.split(";")]
        own[frames[-1]] += n
        for name in set(frames):
            inclusive[name] += n
    print(f"{total} samples; inclusive share, own share, function")
    for name, n in inclusive.most_common(top):
        print(f"  {100 * n / total:5.1f}% {100 * own[name] / total:5.1f}%  {name[:140]}")


async def main_async(args: argparse.Namespace) -> None:
    machine_note()
    with (
        data_dir() as data,
        upstream(free_port(), 20, 20) as up,
        clawgate(free_port(), data, CLAWGATE_RATE_LIMIT_RPM="0") as gate,
    ):
        bench_agent(gate, up)
        key = operator_key(gate)
        users = [await WsUser.open(gate, key, f"u{i}") for i in range(args.clients)]
        start = time.time()
        bounds = [start + args.warmup, start + args.warmup + args.seconds + 2]
        tallies = [Tally(), Tally()]
        clients = asyncio.gather(*(loop_ws(u, tallies, bounds) for u in users))
        await asyncio.sleep(args.warmup)
        raw = Path(tempfile.mkdtemp()) / "profile.raw"
        cpu0 = cpu_seconds(gate.proc.pid)
        if args.perf:
            perf = await asyncio.create_subprocess_exec(
                "perf", "record", "-F", "999", "-p", str(gate.proc.pid), "-o", str(raw.with_suffix(".perf")),
                "--", "sleep", str(args.seconds), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            await perf.wait()
            await clients
            report = await asyncio.create_subprocess_exec(
                "perf", "report", "-i", str(raw.with_suffix(".perf")), "--no-children", "--sort", "dso,sym",
                "--stdio", "--percent-limit", "0.4", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            out, _ = await report.communicate()
            print("\n".join(line for line in out.decode().splitlines() if line and not line.startswith("#")))
            return
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(gate.proc.pid),
            "--duration", str(args.seconds), "--rate", "250", "--format", "raw", *(["--native"] if args.native else ["--nonblocking"]),
            "-o", str(raw), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await spy.wait()
        cpu = cpu_seconds(gate.proc.pid) - cpu0
        await clients
        done = tallies[1].done
        print(f"{done} runs in the recorded {args.seconds} s and after; gateway CPU while recording "
              f"{cpu:.1f} s ({1000 * cpu / max(1, done * args.seconds / (args.seconds + 2)):.2f} ms per run, "
              "py-spy's own cost included)")  # fmt: skip
        fold(raw, args.top)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--warmup", type=float, default=15)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--top", type=int, default=60)
    parser.add_argument("--perf", action="store_true", help="perf record (user and kernel) instead of py-spy")
    parser.add_argument("--native", action="store_true", help="C frames too (py-spy --native)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
