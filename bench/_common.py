"""Shared by the benchmarks: free ports, starting and stopping the servers under test, process
memory and CPU from /proc, and printing a figure against its baseline and target.

Servers always run as separate processes, so the load generator never shares their event loop.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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


def migrate(data: Path) -> None:
    """Create the embedded database in ``data`` (so later starts find an existing data dir)."""
    subprocess.run(
        clawgate_command("migrate"), env=clean_env(CLAWGATE_DATA_DIR=str(data)), check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


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


def postgres_pids(pgdata: Path) -> list[int]:
    """The postmaster of ``pgdata`` and its children (it is not a child of the gateway)."""
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return []
    postmaster = int(pid_file.read_text().split()[0])
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == postmaster:
                    pids.append(int(entry.name))
    return pids


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
