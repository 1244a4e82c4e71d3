"""``clawgate doctor``: checks that ``clawgate serve`` would start and run safely, one plain line each.

Every check yields ``OK``, ``WARN`` (works, but look at it) or ``FAIL`` (serve would refuse to start or
would misbehave). Doctor changes nothing: it never creates the data directory, generates a key,
initialises the embedded database or applies migrations. It starts an embedded server that already
exists and stops it again, or uses the one of the running ``clawgate serve`` that owns the data
directory; a server left running by a gateway that died is stopped first (and said so).
"""

from __future__ import annotations

import asyncio
import os
import stat
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, NamedTuple

import httpx

from clawgate.config import Settings, load_settings
from clawgate.crypto import SecretBox, parse_key
from clawgate.embedded_pg import EmbeddedPostgres
from clawgate.errors import ConfigError
from clawgate.server import PortInUse, check_port
from clawgate.services.auth import is_loopback_host
from clawgate.sql import MIGRATIONS
from clawgate.store import DbConnection, providers, tenants
from clawgate.store.db import Unreachable, connect, register_codecs
from clawgate.store.migrate import applied_versions, pgvector_available

__all__ = ["Check", "Status", "run_doctor"]

Status = Literal["OK", "WARN", "FAIL"]
_ENCRYPTED_PREFIX = "aes-gcm:"


class Check(NamedTuple):
    """The outcome of one check."""

    status: Status
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4} {self.name}: {self.detail}"


Report = Callable[[Check], None]


def run_doctor(
    config_path: str | None,
    overrides: Mapping[str, Any],
    report: Report,
    environ: Mapping[str, str] | None = None,
) -> list[Check]:
    """Run every check, passing each to ``report`` as soon as it is known.

    Returns: all checks, in order. The caller decides the exit code (any ``FAIL`` means 1).
    """
    done: list[Check] = []

    def emit(check: Check) -> None:
        done.append(check)
        report(check)

    try:
        settings = load_settings(config_path, environ=environ, overrides=overrides)
    except ConfigError as exc:
        emit(Check("FAIL", "config", str(exc)))
        return done
    where = settings.config_path or "no config file, built-in defaults and environment"
    emit(Check("OK", "config", f"valid ({where})"))
    emit(_auth(settings))
    emit(_data_dir(settings.data_path))
    key_check, key = _encryption_key(settings)
    emit(key_check)
    asyncio.run(_database(settings, key, emit))
    emit(_port(settings.gateway.host, settings.gateway.port))
    return done


# -- checks that need no database ------------------------------------------------------------------


def _auth(settings: Settings) -> Check:
    gw = settings.gateway
    if gw.token:
        if len(gw.token) < 16:
            return Check(
                "WARN", "auth", f"the gateway token is short ({len(gw.token)} characters); use 32 or more"
            )
        return Check("OK", "auth", f"gateway token set; listening on {gw.host}")
    if is_loopback_host(gw.host):
        return Check(
            "WARN",
            "auth",
            f"no gateway token: development mode on {gw.host}, every local client is admin "
            "(set CLAWGATE_GATEWAY_TOKEN before exposing the gateway)",
        )
    if gw.allow_insecure_no_auth:
        return Check(
            "WARN",
            "auth",
            f"no gateway token on {gw.host} and allow_insecure_no_auth is set: anyone who can reach "
            "the port controls the gateway",
        )
    return Check(
        "FAIL",
        "auth",
        f"serve will refuse to start: listening on {gw.host} without a gateway token; set "
        "CLAWGATE_GATEWAY_TOKEN or listen on 127.0.0.1",
    )


def _data_dir(path: Path) -> Check:
    if path.exists():
        if not path.is_dir():
            return Check("FAIL", "data dir", f"{path} exists but is not a directory")
        try:
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError as exc:
            return Check("FAIL", "data dir", f"{path} is not writable: {exc.strerror}")
        return Check("OK", "data dir", f"{path} is writable")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.is_dir() and os.access(parent, os.W_OK | os.X_OK):
        return Check("OK", "data dir", f"{path} does not exist yet; serve creates it ({parent} is writable)")
    return Check("FAIL", "data dir", f"{path} does not exist and {parent} is not writable")


def _encryption_key(settings: Settings) -> tuple[Check, bytes | None]:
    """The key check and the key itself (None when there is none yet or it is invalid)."""
    name = "encryption key"
    if settings.encryption_key:
        try:
            key = parse_key(settings.encryption_key)
        except ConfigError as exc:
            return Check("FAIL", name, f"CLAWGATE_ENCRYPTION_KEY / encryption_key is invalid: {exc}"), None
        return Check("OK", name, "from CLAWGATE_ENCRYPTION_KEY / encryption_key (valid AES-256 key)"), key
    path = settings.data_path / "encryption.key"
    if not path.is_file():
        return (
            Check("OK", name, f"none yet; serve generates {path} (mode 0600) on first start: back it up"),
            None,
        )
    try:
        key = parse_key(path.read_text())
    except (OSError, ConfigError) as exc:
        return Check("FAIL", name, f"{path} is unreadable or invalid: {exc}"), None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        return Check(
            "WARN", name, f"{path} is readable by others (mode {mode:04o}); run: chmod 600 {path}"
        ), key
    return Check("OK", name, f"generated key file {path} (mode {mode:04o})"), key


def _port(host: str, port: int) -> Check:
    if port == 0:
        return Check("OK", "port", "0: the system picks a free port at start")
    try:
        check_port(host, port)
    except PortInUse:
        version = _clawgate_on(host, port)
        if version:
            return Check("WARN", "port", f"{host}:{port} is in use by a running ClawGate {version}")
        return Check(
            "FAIL",
            "port",
            f"{host}:{port} is in use by another program; pick another with --port or CLAWGATE_PORT",
        )
    except ConfigError as exc:
        return Check("FAIL", "port", str(exc))
    return Check("OK", "port", f"{host}:{port} is free")


def _clawgate_on(host: str, port: int) -> str:
    """The version of the ClawGate answering on ``host:port``, or "" when something else is there."""
    probe = "127.0.0.1" if host in {"0.0.0.0", "", "localhost"} else host
    probe = "[::1]" if probe == "::" else (f"[{probe}]" if ":" in probe else probe)
    try:
        body = httpx.get(f"http://{probe}:{port}/health", timeout=0.5).json()
    except (httpx.HTTPError, ValueError):
        return ""
    if isinstance(body, dict) and body.get("protocol") == 3 and "version" in body:
        return str(body["version"])
    return ""


# -- checks that need the database -----------------------------------------------------------------


async def _database(settings: Settings, key: bytes | None, emit: Report) -> None:
    """database, pgvector, migrations and provider secrets."""
    embedded: EmbeddedPostgres | None = None
    dsn = settings.database.dsn
    if dsn:
        where = "external PostgreSQL (CLAWGATE_POSTGRES_DSN / database.dsn)"
    else:
        pgdata = settings.data_path / "pg"
        if not (pgdata / "PG_VERSION").is_file():
            emit(
                Check(
                    "WARN",
                    "database",
                    f"embedded PostgreSQL not created yet in {pgdata}; serve "
                    "or `clawgate migrate` creates it",
                )
            )
            emit(Check("OK", "pgvector", "bundled with the embedded PostgreSQL"))
            emit(Check("WARN", "migrations", f"none applied yet; {len(MIGRATIONS)} to apply at first start"))
            emit(Check("OK", "provider secrets", "none stored yet"))
            return  # fmt: skip
        embedded = EmbeddedPostgres(settings.data_path, attach=True)
        where = f"embedded PostgreSQL in {pgdata}"
        try:
            dsn = await embedded.start()
        except Exception as exc:
            emit(Check("FAIL", "database", f"cannot start the {where}: {exc}"))
            return
        if embedded.orphan_stopped is not None:
            where += (
                f" (stopped its orphaned server, pid {embedded.orphan_stopped}, left by a clawgate that died)"
            )
    try:
        await _on_server(dsn, where, settings, key, emit)
    finally:
        if embedded is not None:
            await embedded.stop()


async def _on_server(dsn: str, where: str, settings: Settings, key: bytes | None, emit: Report) -> None:
    try:
        conn = await connect(dsn, timeout=5)
    except Unreachable as exc:
        emit(Check("FAIL", "database", f"cannot connect to the {where}: {exc}"))
        return
    try:
        await register_codecs(conn)
        version = ".".join(str(part) for part in conn.get_server_version()[:2])
        emit(Check("OK", "database", f"{where}, server {version}, reachable"))
        if await pgvector_available(conn):
            emit(Check("OK", "pgvector", "the vector extension is available"))
        else:
            emit(Check("FAIL", "pgvector", "the server has no vector extension; install pgvector "
                       "(https://github.com/pgvector/pgvector)"))  # fmt: skip
        migrations = await _migrations(conn)
        emit(migrations)
        if migrations.status == "OK":
            emit(await _provider_secrets(conn, settings, key))
    finally:
        await conn.close()


async def _migrations(conn: DbConnection) -> Check:
    applied = await applied_versions(conn)
    known = {m.version: m for m in MIGRATIONS}
    unknown = sorted(set(applied) - set(known))
    if unknown:
        return Check(
            "FAIL", "migrations", f"the database has migrations {unknown} this ClawGate does not know"
        )
    changed = [f"{v:04d}_{known[v].name}" for v, checksum in applied.items() if known[v].checksum != checksum]
    if changed:
        return Check("FAIL", "migrations", f"applied migrations changed since: {', '.join(changed)}")
    pending = [f"{m.version:04d}_{m.name}" for m in MIGRATIONS if m.version not in applied]
    if pending:
        return Check(
            "WARN",
            "migrations",
            f"{len(pending)} pending ({', '.join(pending)}); serve or `clawgate migrate` applies them",
        )
    return Check("OK", "migrations", f"up to date ({len(applied)} applied)")


async def _provider_secrets(conn: DbConnection, settings: Settings, key: bytes | None) -> Check:
    name = "provider secrets"
    secrets: list[tuple[str, str]] = []  # (tenant/provider, stored secret)
    for tenant in await tenants.list_all(conn):
        for row in await providers.list_providers(conn, tenant.id):
            if row.api_key.startswith(_ENCRYPTED_PREFIX):
                secrets.append((f"{tenant.slug}/{row.name}", row.api_key))
    if not secrets:
        return Check("OK", name, "none stored yet")
    if key is None:
        return Check(
            "FAIL", name, f"{len(secrets)} stored, but there is no valid encryption key to decrypt them; "
            "set CLAWGATE_ENCRYPTION_KEY to the key they were written with"
        )  # fmt: skip
    box = SecretBox(key)
    failed = []
    for label, secret in secrets:
        try:
            box.decrypt(secret)
        except ValueError:
            failed.append(label)
    if failed:
        return Check(
            "FAIL", name, f"cannot decrypt {len(failed)} of {len(secrets)} ({', '.join(failed[:5])}): "
            "the encryption key is not the one they were written with"
        )  # fmt: skip
    source = "the configured key" if settings.encryption_key else "the key file"
    return Check("OK", name, f"all {len(secrets)} decrypt with {source}")
