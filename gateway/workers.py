"""``clawgate serve --workers N``: N gateway processes serving one port, one embedded PostgreSQL.

The process you start is the supervisor. It does what one ``serve`` does before serving: it takes the
data directory (the ``flock``), starts and supervises the embedded PostgreSQL, applies migrations and
creates the key file; then it binds one listening socket per worker on the port, each with
``SO_REUSEPORT`` (the kernel spreads new connections over them), and starts each worker (a fresh
interpreter, ``spawn``) with its socket and the settings with ``database.dsn`` set to the database's
DSN, so that no worker tries to own the data directory. With an external DSN the workers share it.

Every worker is a whole gateway (pool, bus listener, run manager, caches); what they share goes
through PostgreSQL (runs, idempotency, cache invalidation and events over ``LISTEN/NOTIFY``).

A worker that dies is started again on the same socket (connections the kernel queued on it wait
for the new one), after a second when it lived less than ten. A worker that fails before serving
(bad configuration, port or database trouble) stops the supervisor, exit code 1. SIGINT or SIGTERM
to the supervisor sends SIGTERM to every worker (each drains as one ``serve`` does), waits for them,
stops PostgreSQL and exits with 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import socket
from multiprocessing.process import BaseProcess

import msgspec
import structlog

from clawgate.config import Settings

__all__ = ["serve_workers"]

log = structlog.get_logger("clawgate.workers")

STARTUP_FAILURE = 3  # a worker's exit code when its server never started (uvicorn uses the same)
_POLL_SECONDS = 0.25
_QUICK_DEATH_SECONDS = 10.0  # a worker that lived less than this is restarted after a pause
_RESTART_PAUSE_SECONDS = 1.0


def serve_workers(settings: Settings, count: int) -> int:
    """Run ``count`` workers until SIGINT/SIGTERM; the exit code."""
    return asyncio.run(_supervise(settings, count))


async def _supervise(settings: Settings, count: int) -> int:
    from clawgate.app import open_database
    from clawgate.crypto import load_or_create_key

    dsn, embedded = await open_database(settings)
    try:
        if embedded is not None:
            embedded.supervise()
        load_or_create_key(settings.encryption_key, settings.data_path)  # created once, here
        shared = msgspec.structs.replace(
            settings, database=msgspec.structs.replace(settings.database, dsn=dsn)
        )
        sockets = _listen(settings.gateway.host, settings.gateway.port, count)
        try:
            # The workers inherit it; prometheus-client picks its multiprocess mode when first imported.
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = _metrics_dir(settings)
            return await _WorkerPool(shared, sockets).run()
        finally:
            for sock in sockets:
                sock.close()
    finally:
        if embedded is not None:
            await embedded.stop()


def _listen(host: str, port: int, count: int) -> list[socket.socket]:
    """``count`` listening sockets on one address, each with ``SO_REUSEPORT`` (port 0: the first
    one's port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            port = sock.getsockname()[1]
            sock.listen(2048)
    except OSError as exc:
        for sock in sockets:
            sock.close()
        from clawgate.errors import ConfigError

        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sockets


def _metrics_dir(settings: Settings) -> str:
    """``<data_dir>/metrics``, emptied: where the workers' ``prometheus-client`` (multiprocess mode)
    keeps its figures, so that any worker's ``/metrics`` answers the sum of all of them."""
    path = settings.data_path / "metrics"
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # a previous run's figures: counting starts again with the gateway
        stale.unlink()
    return str(path)


class _WorkerPool:
    def __init__(self, settings: Settings, sockets: list[socket.socket]) -> None:
        self.settings = settings
        self.sockets = sockets
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[BaseProcess | None] = [None] * len(sockets)
        self.started_at = [0.0] * len(sockets)
        self.stop = asyncio.Event()
        self.signal: int | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        failed = False
        try:
            for slot in range(len(self.sockets)):
                self._start(slot)
            log.info(
                "workers.started", supervisor=os.getpid(), workers=[w.pid for w in self.workers if w],
                host=self.settings.gateway.host, port=self.sockets[0].getsockname()[1],
            )  # fmt: skip
            failed = await self._watch()
        finally:
            await self._stop_all()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
        log.info("workers.stopped", signal=self.signal, failed=failed)
        if failed:
            return 1
        return 128 + self.signal if self.signal is not None else 0

    def _on_signal(self, sig: int) -> None:
        if self.signal is None:
            self.signal = sig
        self.stop.set()

    def _start(self, slot: int) -> int | None:
        worker = self.context.Process(
            target=_worker,
            args=(self.settings, self.sockets[slot], slot == 0),
            name=f"clawgate-worker-{slot}",
        )
        worker.start()
        self.workers[slot] = worker
        self.started_at[slot] = asyncio.get_running_loop().time()
        return worker.pid

    async def _watch(self) -> bool:
        """Restart workers that die until asked to stop; True when one failed to start."""
        loop = asyncio.get_running_loop()
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), _POLL_SECONDS)
            for slot, worker in enumerate(self.workers):
                if self.stop.is_set() or worker is None or worker.is_alive():
                    continue
                worker.join()
                lived = loop.time() - self.started_at[slot]
                if worker.exitcode == STARTUP_FAILURE:
                    log.error("workers.start_failed", pid=worker.pid, exit_code=worker.exitcode)
                    return True
                log.error("workers.died", pid=worker.pid, exit_code=worker.exitcode, seconds=round(lived, 3))
                if lived < _QUICK_DEATH_SECONDS:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop.wait(), _RESTART_PAUSE_SECONDS)
                    if self.stop.is_set():
                        break
                log.warning("workers.restarted", pid=self._start(slot), replaces=worker.pid)
        return False

    async def _stop_all(self) -> None:
        """SIGTERM to every worker, then wait for them (SIGKILL after the grace period and more)."""
        running = [w for w in self.workers if w is not None and w.is_alive()]
        for worker in running:
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = self.settings.gateway.shutdown_grace_seconds + 15
        for worker in running:
            await asyncio.to_thread(worker.join, deadline)
            if worker.is_alive():
                log.error("workers.kill", pid=worker.pid)
                worker.kill()
                await asyncio.to_thread(worker.join, 5)


def _worker(settings: Settings, sock: socket.socket, announce: bool) -> None:
    """One worker process: the gateway app under ``GatewayServer`` on the supervisor's socket; the
    first one ``announce``s the gateway (one banner, not one per worker)."""
    from clawgate.app import create_app
    from clawgate.logging import configure_logging
    from clawgate.server import GatewayServer, uvicorn_config

    configure_logging(settings.log)
    structlog.contextvars.bind_contextvars(worker=os.getpid())
    server = GatewayServer(uvicorn_config(create_app(settings), settings))
    server.announce = announce
    server.tune_gc = True
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises the SIGINT it drained for again
        server.run(sockets=[sock])
    if not server.started:
        raise SystemExit(STARTUP_FAILURE)
