"""Shared by the benchmarks: free ports, starting and stopping the servers under test, process
memory and CPU from /proc, and printing a figure against its baseline and target.

Servers always run as separate processes, so the load generator never shares their event loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

BENCH = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
TOKEN = "bench-gateway-token-0123456789abcdef"
# Generous limits: the limiter runs on every request but never refuses one.
GENEROUS_RATE_LIMITS = {
    "CLAWGATE_RATE_LIMIT_PER_IP_RPM": "100000000",
    "CLAWGATE_RATE_LIMIT_PER_KEY_RPM": "100000000",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without ClawGate/GoClaw settings of the caller, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWGATE_", "GOCLAW_"))}
    env.update(extra)
    return env


def clawgate_command(*args: str) -> list[str]:
    script = BIN / "clawgate"
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "clawgate.cli", *args]


@dataclass
class Server:
    """A server process under test."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    ready_seconds: float

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float) -> float:
    """Poll ``url`` until it answers 200; returns the seconds it took. Raises if the process dies."""
    started = time.perf_counter()
    with httpx.Client(timeout=2.0) as http:
        while time.perf_counter() - started < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before it was ready")
            with contextlib.suppress(httpx.TransportError):
                if http.get(url).status_code == 200:
                    return time.perf_counter() - started
            time.sleep(0.01)
    raise RuntimeError(f"{url} was not ready within {timeout} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT (graceful), then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def running(name: str, command: list[str], port: int, env: dict[str, str], ready_path: str,
            timeout: float = 90.0) -> Iterator[Server]:  # fmt: skip
    """Start ``command``, wait until ``ready_path`` answers 200, stop it on exit. Its output goes to a
    temporary file (never a pipe that could fill up and stall it) and is shown if it fails to start."""
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(command, env=env, stdout=errors, stderr=subprocess.STDOUT)
        try:
            try:
                wait_ready(proc, f"http://127.0.0.1:{port}{ready_path}", timeout)
            except RuntimeError as exc:
                stop(proc)
                errors.seek(0)
                sys.exit(f"{name} did not start: {exc}\n{errors.read().decode(errors='replace')[-3000:]}")
            yield Server(name, proc, port, time.perf_counter() - started)
        finally:
            stop(proc)


def bare_app(port: int) -> contextlib.AbstractContextManager[Server]:
    """The baseline: a bare Starlette app (``bench/_bare.py``) under uvicorn with ClawGate's
    uvicorn options (same HTTP and WebSocket implementations, no access log)."""
    command = [
        sys.executable, "-m", "uvicorn", "_bare:app", "--app-dir", str(BENCH), "--host", "127.0.0.1",
        "--port", str(port), "--log-level", "warning", "--no-access-log", "--ws", "websockets-sansio",
        "--no-server-header",
    ]  # fmt: skip
    return running("bare starlette", command, port, clean_env(), "/health")


def upstream(port: int, tokens: int = 0, delay_ms: int = 0) -> contextlib.AbstractContextManager[Server]:
    """The loopback OpenAI-compatible upstream (``_upstream.py``), answering at once; with ``tokens``,
    a streamed answer is that many tokens ``delay_ms`` apart."""
    command = [sys.executable, "-m", "uvicorn", "_upstream:app", "--app-dir", str(BENCH), "--host", "127.0.0.1",
               "--port", str(port), "--log-level", "warning", "--no-access-log"]  # fmt: skip
    env = clean_env(BENCH_STREAM_TOKENS=str(tokens), BENCH_STREAM_DELAY_MS=str(delay_ms))
    return running("upstream", command, port, env, "/health")


BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello."}], "user": "bench-user"}
"""The chat completion the benchmarks send: agent ``bench``, a persisted session (``user``)."""


def bench_agent(gate: Server, upstream: Server) -> None:
    """Provider ``up`` on ``upstream`` and agent ``bench`` on it, checked with one ``BODY`` request."""
    with httpx.Client(base_url=gate.url, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
        http.post("/v1/providers", json={"name": "up", "provider_type": "openai_compat",
                                         "api_base": f"{upstream.url}/v1", "api_key": "sk-bench"}).raise_for_status()  # fmt: skip
        http.post(
            "/v1/agents", json={"agent_key": "bench", "provider": "up", "model": "bench-model"}
        ).raise_for_status()
        check = http.post("/v1/chat/completions", json=BODY)
        check.raise_for_status()
        assert check.json()["choices"][0]["message"]["content"] == "Hello from the upstream."


@contextlib.contextmanager
def data_dir() -> Iterator[Path]:
    """A temporary data directory (embedded PostgreSQL lives inside it)."""
    path = Path(tempfile.mkdtemp(prefix="clawgate-bench-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def clawgate(port: int, data: Path, **env: str) -> contextlib.AbstractContextManager[Server]:
    """``clawgate serve`` on the embedded PostgreSQL in ``data``, log level warning, gateway token set."""
    settings = {
        "CLAWGATE_DATA_DIR": str(data), "CLAWGATE_GATEWAY_TOKEN": TOKEN, "CLAWGATE_LOG_LEVEL": "warning",
        "CLAWGATE_LOG_FORMAT": "json", **GENEROUS_RATE_LIMITS, **env,
    }  # fmt: skip
    return running(
        "clawgate", clawgate_command("serve", "--port", str(port)), port, clean_env(**settings), "/readyz"
    )


@contextlib.asynccontextmanager
async def migrated_database(root: Path) -> AsyncIterator[str]:
    """An embedded PostgreSQL in ``root``, migrated as the gateway does: its DSN. Stopped on exit."""
    import asyncio
    import warnings

    import asyncpg

    from clawgate.embedded_pg import EmbeddedPostgres
    from clawgate.store.migrate import migrate as apply_migrations

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = EmbeddedPostgres(root)
        dsn = await asyncio.to_thread(server.start_blocking)
    try:
        conn = await asyncpg.connect(dsn)
        await apply_migrations(conn)
        await conn.close()
        yield dsn
    finally:
        await asyncio.to_thread(server.stop_blocking)


def migrate(data: Path) -> None:
    """Create the embedded database in ``data`` (so later starts find an existing data dir)."""
    subprocess.run(
        clawgate_command("migrate"), env=clean_env(CLAWGATE_DATA_DIR=str(data)), check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def wrk_post(
    url: str, body: dict[str, object], seconds: int, connections: int, headers: dict[str, str]
) -> dict[str, float]:
    """wrk with a POST body; returns req/s and latency percentiles in ms."""
    lua = "wrk.method = 'POST'\nwrk.body = [[" + json.dumps(body) + "]]\n"
    for name, value in {"Content-Type": "application/json", **headers}.items():
        lua += f"wrk.headers['{name}'] = '{value}'\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua)
    threads = "1" if connections == 1 else "2"
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        script.name,
        url,
    ]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    Path(script.name).unlink()
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rate is None:
        sys.exit(f"could not read wrk's output:\n{out}")
    result = {"rps": float(rate.group(1))}
    for pct in ("50", "99"):
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)", out, re.MULTILINE)
        if match:
            value, unit = float(match.group(1)), match.group(2)
            result[f"p{pct}"] = value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
    failed = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if failed:
        print(f"  warning: {failed.group(1)} non-2xx answers from {url}")
    return result


def alternate(
    rounds: int, baseline: Callable[[], dict[str, float]], measured: Callable[[], dict[str, float]]
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Alternate ``baseline`` and ``measured`` ``rounds`` times (so that a slow spell of the shared
    machine hits both); each figure collected per round, for medians and ranges."""
    base: dict[str, list[float]] = {}
    seen: dict[str, list[float]] = {}
    for _ in range(rounds):
        for sink, run in ((base, baseline), (seen, measured)):
            for key, value in run().items():
                sink.setdefault(key, []).append(value)
    return base, seen


# -- /proc -----------------------------------------------------------------------------------------


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_mb(pid: int) -> float:
    """Resident set size of one process, in MB."""
    return _status_kb(pid, "VmRSS") / 1024


def pss_mb(pid: int) -> float:
    """Proportional set size (shared pages split among their users), in MB."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def postgres_pids(pgdata: Path) -> list[int]:
    """The postmaster of ``pgdata`` and its children (it is not a child of the gateway)."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return []
    postmaster = int(pid_file.read_text().split()[0])
    return [postmaster, *children(postmaster)]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its children (``--workers``) have used so far."""
    total = 0.0
    for one in (pid, *children(pid)):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


# -- output ----------------------------------------------------------------------------------------


def report(label: str, value: float, unit: str, *, baseline: float | None = None, target: str = "",
           ok: bool | None = None) -> None:  # fmt: skip
    """One result line: value, ratio to the baseline when given, target and whether it is met."""
    ratio = f"{value / baseline:5.2f}x" if baseline else "      "
    verdict = "" if ok is None else ("meets" if ok else "BELOW")
    target_text = f"target {target}" if target else ""
    shown = f"{value:>10.1f}" if value >= 100 else f"{value:>10.2f}"
    print(f"  {label:<38} {shown} {unit:<6} {ratio}  {target_text:<16} {verdict}".rstrip(), flush=True)


def machine_note() -> None:
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; figures are indicative "
          "when other work shares the machine", flush=True)  # fmt: skip
