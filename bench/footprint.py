"""Footprint: idle memory of the gateway process, and time from ``clawgate serve`` to /readyz 200.

    .venv/bin/python bench/footprint.py [--starts 3]

The data directory is created first (``clawgate migrate``), so every start finds an existing one, as a
restart does. The gateway's RSS is measured after a few requests and a second of idleness; the
embedded PostgreSQL processes are not children of the gateway and are reported separately (PSS, so
shared buffers are not counted once per backend). The baseline is the bare Starlette app's RSS.
Targets: gateway RSS <= 120 MB; start to ready <= 2 s.
"""

from __future__ import annotations

import argparse
import statistics
import time

import httpx
from _common import (
    TOKEN,
    bare_app,
    clawgate,
    data_dir,
    free_port,
    machine_note,
    migrate,
    postgres_pids,
    pss_mb,
    report,
    rss_mb,
)

RSS_TARGET_MB = 120
READY_TARGET_S = 2.0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--starts", type=int, default=3, help="timed starts (the median is reported)")
    args = parser.parse_args()
    machine_note()
    with bare_app(free_port()) as bare:
        time.sleep(1.0)
        bare_rss = rss_mb(bare.proc.pid)
    with data_dir() as data:
        migrate(data)
        ready: list[float] = []
        for _ in range(args.starts):
            with clawgate(free_port(), data) as gate:
                ready.append(gate.ready_seconds)
        with clawgate(free_port(), data) as gate:
            with httpx.Client(base_url=gate.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                for path in ("/health", "/readyz", "/v1/agents", "/v1/providers", "/v1/openapi.json"):
                    http.get(path).raise_for_status()
            time.sleep(1.0)
            gateway_rss = rss_mb(gate.proc.pid)
            pg = postgres_pids(data / "pg")
            pg_pss = sum(pss_mb(pid) for pid in pg)
    median = statistics.median(ready)
    report("bare starlette idle RSS", bare_rss, "MB")
    report("clawgate idle RSS (gateway process)", gateway_rss, "MB", baseline=bare_rss, target="<= 120 MB",
           ok=gateway_rss <= RSS_TARGET_MB)  # fmt: skip
    report(f"embedded postgres PSS ({len(pg)} processes)", pg_pss, "MB")
    report(f"serve to /readyz 200 (median of {len(ready)})", median, "s", target="<= 2 s",
           ok=median <= READY_TARGET_S)  # fmt: skip
    print(f"    each start: {', '.join(f'{s:.2f} s' for s in ready)}")


if __name__ == "__main__":
    main()
