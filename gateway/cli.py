"""The ``clawgate`` command: ``serve``, ``migrate``, ``doctor``, ``api-key``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from typing import Any

from clawgate import __version__
from clawgate.config import Settings, load_settings
from clawgate.errors import ConfigError

__all__ = ["main"]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "host", None):
        overrides["gateway.host"] = args.host
    if getattr(args, "port", None) is not None:
        overrides["gateway.port"] = args.port
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return load_settings(args.config, overrides=overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from clawgate.app import check_startup, create_app
    from clawgate.logging import configure_logging
    from clawgate.server import GatewayServer, uvicorn_config

    settings = _settings(args)
    configure_logging(settings.log)
    check_startup(settings)
    server = GatewayServer(uvicorn_config(create_app(settings), settings))
    server.run()
    return 0 if server.started else 1


async def _migrate(settings: Settings) -> list[str]:
    from clawgate.app import open_database

    _dsn, embedded = await open_database(settings)
    if embedded is not None:
        await embedded.stop()
    return []


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    asyncio.run(_migrate(settings))
    print("migrations are up to date")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clawgate", description="ClawGate, an async gateway for AI agents.")
    parser.add_argument("--version", action="version", version=f"clawgate {__version__}")
    parser.add_argument("--config", help="path to config.json (default: $CLAWGATE_CONFIG or ./config.json)")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--data-dir")
    serve.set_defaults(func=cmd_serve)
    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    migrate.add_argument("--data-dir")
    migrate.set_defaults(func=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.func(args)
    except ConfigError as exc:
        print(f"clawgate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


if __name__ == "__main__":
    raise SystemExit(main())
