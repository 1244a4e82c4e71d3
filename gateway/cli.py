"""The ``clawgate`` command: ``serve``, ``migrate``, ``doctor``, ``api-key create|list|revoke``, ``chat``,
``cron list|runs``.

``migrate``, ``api-key`` and ``cron`` work on the database directly (embedded or ``CLAWGATE_POSTGRES_DSN``),
without a running server; ``api-key`` acts as the owner of the master tenant. Exit codes are
``EXIT_CODES`` (printed by ``clawgate --help`` and listed in the README).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from clawgate import __version__
from clawgate.config import Settings, load_settings, worker_count
from clawgate.errors import ConfigError, GatewayError

if TYPE_CHECKING:
    from clawgate.principal import Principal
    from clawgate.services.api_keys import ApiKeyCreated, ApiKeyOut, ApiKeyService
    from clawgate.services.tenants import TenantService

__all__ = ["EXIT_CODES", "build_parser", "example_config", "main"]

EXIT_CODES = """exit codes:
  0    success
  1    a failed check (doctor), a refused request (api-key), or serve failed while starting
       (database, migrations; with --workers: a worker failed before serving)
  2    unusable configuration or command line: an invalid setting, no token on a public host,
       the data directory held by another gateway, or the port already in use (see --port)
  3    serve: the port was taken between that check and binding it (uvicorn's startup failure)
  130  serve stopped by SIGINT (Ctrl-C), after its graceful shutdown
  143  serve stopped by SIGTERM, after its graceful shutdown"""


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    if getattr(args, "host", None):
        overrides["gateway.host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["gateway.port"] = args.port
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    if getattr(args, "workers", None):
        overrides["gateway.workers"] = args.workers
    return overrides


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config, overrides=_overrides(args))


def _quiet_logging(settings: Settings) -> None:
    """One-shot commands print their own output on stdout; log lines (warnings up) go to stderr."""
    from clawgate.logging import configure_logging

    level = settings.log.level if settings.log.level in {"warning", "error"} else "warning"
    configure_logging(msgspec.structs.replace(settings.log, level=level), stream=sys.stderr)


# -- serve, migrate, doctor ------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    from clawgate.app import check_startup, create_app
    from clawgate.logging import configure_logging
    from clawgate.server import GatewayServer, check_port, uvicorn_config

    settings = _settings(args)
    configure_logging(settings.log)
    check_startup(settings)
    check_port(settings.gateway.host, settings.gateway.port)  # before PostgreSQL starts and migrates
    if (count := worker_count(settings.gateway.workers)) > 1:
        from clawgate.workers import serve_workers

        return serve_workers(settings, count)
    server = GatewayServer(uvicorn_config(create_app(settings), settings))
    server.tune_gc = True
    server.run()
    return 0 if server.started else 1


async def _migrate(settings: Settings) -> list[str]:
    from clawgate.app import open_database_migrated

    _dsn, embedded, applied = await open_database_migrated(settings, attach=True)
    if embedded is not None:
        await embedded.stop()
    return applied


def cmd_migrate(args: argparse.Namespace) -> int:
    from clawgate.sql import MIGRATIONS

    settings = _settings(args)
    _quiet_logging(settings)
    applied = asyncio.run(_migrate(settings))
    for name in applied:
        print(f"applied {name}")
    if not applied:
        print("no pending migrations")
    print(f"database schema is at version {MIGRATIONS[-1].version}")
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from clawgate.doctor import run_doctor

    checks = run_doctor(args.config, _overrides(args), lambda check: print(check.line(), flush=True))
    return 1 if any(check.status == "FAIL" for check in checks) else 0


def example_config() -> bytes:
    """``config.example.json``: every setting with its built-in default, in the file's format."""
    import orjson

    document = msgspec.to_builtins(Settings())
    document.pop("config_path")  # where the settings came from; not part of the file format
    return orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n"


def cmd_config_example(_args: argparse.Namespace) -> int:
    sys.stdout.buffer.write(example_config())
    return 0


# -- api-key ---------------------------------------------------------------------------------------


@asynccontextmanager
async def _owner_services(
    settings: Settings,
) -> AsyncIterator[tuple[ApiKeyService, TenantService, Principal]]:
    """The API key and tenant services on the configured database, and the owner principal of the
    master tenant to call them as. Built as ``build_gateway`` does, without bus listener or HTTP."""
    from clawgate.app import open_database
    from clawgate.bus import EventBus
    from clawgate.principal import Principal, Role
    from clawgate.services.api_keys import ApiKeyService
    from clawgate.services.auth import AuthService
    from clawgate.services.tenants import TenantService
    from clawgate.store import create_database
    from clawgate.store.tenants import MASTER_TENANT_ID

    dsn, embedded = await open_database(settings, attach=True)
    try:
        db = await create_database(dsn, min_size=1, max_size=2, command_timeout=30.0)
        try:
            # Not started (no listener), but publishing still notifies other processes, so a
            # running server drops its cached key at once on `api-key revoke`.
            auth = AuthService(settings, db, EventBus(db))
            owner = (settings.gateway.owner_ids or ["system"])[0]
            who = Principal(
                role=Role.OWNER, user_id=owner, tenant_id=MASTER_TENANT_ID, tenant_slug="master",
                is_owner=True, cross_tenant=True, via="cli",
            )  # fmt: skip
            yield ApiKeyService(db, auth), TenantService(db, auth), who
        finally:
            await db.close()
    finally:
        if embedded is not None:
            await embedded.stop()


def _when(value: datetime | None, never: str = "never") -> str:
    return value.isoformat(timespec="seconds") if value is not None else never


async def _create_key(settings: Settings, args: argparse.Namespace) -> ApiKeyCreated:
    from clawgate.services.api_keys import ApiKeyCreate

    scopes = [s.strip() for s in args.scopes.split(",") if s.strip()]
    fields: dict[str, Any] = {"name": args.name, "scopes": scopes}
    if args.expires_in is not None:
        fields["expires_in"] = args.expires_in
    if args.owner:
        fields["owner_id"] = args.owner
    if args.tenant is not None:
        fields["tenant_id"] = args.tenant
    try:
        body = msgspec.convert(fields, ApiKeyCreate)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid api key: {exc}") from None
    async with _owner_services(settings) as (keys, _tenants, who):
        return await keys.create(who, body)


def cmd_api_key_create(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _quiet_logging(settings)
    created = asyncio.run(_create_key(settings, args))
    if args.json:
        print(msgspec.json.encode(created).decode())
        return 0
    from clawgate.store.tenants import MASTER_TENANT_ID

    tenant = "all tenants (system key)" if created.tenant_id is None else str(created.tenant_id)
    if created.tenant_id == MASTER_TENANT_ID:
        tenant = f"master ({tenant})"
    print(f"created API key {created.name!r}")
    print(f"  id:      {created.id}")
    print(f"  scopes:  {', '.join(created.scopes)}")
    print(f"  tenant:  {tenant}")
    print(f"  owner:   {created.owner_id or '-'}")
    print(f"  expires: {_when(created.expires_at)}")
    print()
    print(created.key)
    print()
    print("This is the only time the key is shown: store it now.")
    return 0


async def _list_keys(settings: Settings, tenant: str | None) -> list[ApiKeyOut]:
    from clawgate.services.api_keys import key_out

    async with _owner_services(settings) as (keys, tenants, who):
        if tenant:
            row = await tenants.get(who, tenant)
            who = msgspec.structs.replace(who, tenant_id=row.id, tenant_slug=row.slug)
        return [key_out(row) for row in await keys.list_keys(who)]


def cmd_api_key_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _quiet_logging(settings)
    rows = asyncio.run(_list_keys(settings, args.tenant))
    if args.json:
        print(msgspec.json.encode(rows).decode())
        return 0
    if not rows:
        print("no API keys")
        return 0
    table = [("ID", "NAME", "PREFIX", "SCOPES", "EXPIRES", "LAST USED", "STATUS")]
    for key in rows:
        status = "revoked" if key.revoked else "active"
        table.append(
            (str(key.id), key.name, key.prefix, ",".join(key.scopes), _when(key.expires_at),
             _when(key.last_used_at, "-"), status)
        )  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for row in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return 0


async def _revoke_key(settings: Settings, key_id: str) -> None:
    async with _owner_services(settings) as (keys, _tenants, who):
        await keys.revoke(who, key_id)


def cmd_api_key_revoke(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _quiet_logging(settings)
    asyncio.run(_revoke_key(settings, args.id))
    print(f"revoked {args.id}")
    return 0


def cmd_cron_list(args: argparse.Namespace) -> int:
    from clawgate import cron_cli

    settings = _settings(args)
    _quiet_logging(settings)
    jobs = asyncio.run(cron_cli.list_jobs(settings, args.tenant))
    if args.json:
        print(msgspec.json.encode(jobs).decode())
    else:
        print(cron_cli.jobs_table(jobs) if jobs else "no cron jobs")
    return 0


def cmd_cron_runs(args: argparse.Namespace) -> int:
    from clawgate import cron_cli

    settings = _settings(args)
    _quiet_logging(settings)
    runs = asyncio.run(cron_cli.list_runs(settings, args.job, args.tenant, args.limit))
    if args.json:
        print(msgspec.json.encode(runs).decode())
    else:
        print(cron_cli.runs_table(runs) if runs.entries else "no run records")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    import websockets

    from clawgate import chat_cli

    settings = _settings(args)
    _quiet_logging(settings)
    url = chat_cli.ws_url(settings, args.url)
    token = settings.gateway.token if args.token is None else args.token
    try:
        key = asyncio.run(
            chat_cli.chat(url, token, args.agent, args.message, user_id=args.user, session_key=args.session,
                          out=sys.stdout)
        )  # fmt: skip
    except chat_cli.ChatFailed as exc:
        print(f"clawgate: {exc}", file=sys.stderr)
        return 1
    except (OSError, websockets.WebSocketException) as exc:
        print(f"clawgate: cannot talk to the gateway at {url}: {exc or type(exc).__name__}", file=sys.stderr)
        return 1
    chat_cli.report(key)
    return 0


# -- parser ----------------------------------------------------------------------------------------


def _workers_arg(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"expected a number of processes >= 1 or auto, got {value!r}")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clawgate", description="ClawGate, an async gateway for AI agents.", epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    parser.add_argument("--version", action="version", version=f"clawgate {__version__}")
    parser.add_argument("--config", help="path to config.json (default: $CLAWGATE_CONFIG or ./config.json)")
    data = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a --config given before the command when none follows it.
    data.add_argument("--config", default=argparse.SUPPRESS, help="path to config.json")
    data.add_argument("--data-dir", help="data directory (embedded database, key file)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[data], help="run the gateway", description="Run the gateway.")
    serve.add_argument(
        "--host", help="address to listen on (default 127.0.0.1; another needs a gateway token)"
    )
    serve.add_argument(
        "--port", type=int, help="port for HTTP and WebSocket (default 18790; 0: any free port)"
    )
    serve.add_argument(
        "--workers", type=_workers_arg, metavar="N|auto",
        help="gateway processes on the port, sharing one database (default 1; auto: one per CPU)",
    )  # fmt: skip
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser(
        "migrate", parents=[data], help="apply database migrations and exit",
        description="Apply pending database migrations and exit (serve also does this at start).",
    )  # fmt: skip
    migrate.set_defaults(func=cmd_migrate)
    doctor = sub.add_parser(
        "doctor", parents=[data], help="check configuration, database, key and port (exit 1 on FAIL)",
        description="Check that serve would start and run safely; changes nothing. Exit 1 on a FAIL.",
    )  # fmt: skip
    doctor.add_argument(
        "--host",
        help="the address serve would listen on, checked for the token rule and the port (default 127.0.0.1)",
    )
    doctor.add_argument(
        "--port", type=int, help="the port serve would listen on, checked to be free (default 18790)"
    )
    doctor.set_defaults(func=cmd_doctor)

    example = sub.add_parser(
        "config-example", help="print every setting with its default (config.example.json)"
    )
    example.set_defaults(func=cmd_config_example)

    keys = sub.add_parser("api-key", help="create, list and revoke API keys (no server needed)")
    key_sub = keys.add_subparsers(dest="key_command", required=True, metavar="ACTION")
    create = key_sub.add_parser("create", parents=[data], help="create a key and print it once")
    create.add_argument("--name", required=True, help="a label for the key, shown in lists (required)")
    create.add_argument(
        "--scopes", required=True,
        help="comma-separated, e.g. operator.read,operator.write (operator.admin for an admin key)",
    )  # fmt: skip
    create.add_argument(
        "--expires-in", type=int, metavar="SECONDS", help="lifetime in seconds (default: never expires)"
    )
    create.add_argument("--owner", help="bind the key to this user id")
    create.add_argument("--tenant", help='tenant id or slug (default master; "" makes a system key)')
    create.add_argument("--json", action="store_true", help="print the created key as JSON")
    create.set_defaults(func=cmd_api_key_create)
    listing = key_sub.add_parser("list", parents=[data], help="list keys (masked)")
    listing.add_argument("--tenant", help="tenant id or slug (default master)")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(func=cmd_api_key_list)
    revoke = key_sub.add_parser(
        "revoke", parents=[data], help="revoke a key by id",
        description="Revoke an API key; a running gateway refuses it at once.",
    )  # fmt: skip
    revoke.add_argument("id", metavar="ID", help="the key's id, as printed by create or list")
    revoke.set_defaults(func=cmd_api_key_revoke)

    from clawgate import chat_cli, cron_cli

    chat_cli.add_parser(sub).set_defaults(func=cmd_chat)
    cron_list, cron_runs = cron_cli.add_parser(sub, data)
    cron_list.set_defaults(func=cmd_cron_list)
    cron_runs.set_defaults(func=cmd_cron_runs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"clawgate: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"clawgate: {exc.message()}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
