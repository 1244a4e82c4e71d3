"""structlog setup: JSON lines in production, a console renderer on a TTY.

``request_id``, ``conn_id``, ``run_id`` and ``tenant_id`` travel as bound context; secrets are
never logged (the ``redact`` processor masks fields whose names say they hold one).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from clawgate.config import LogSettings

__all__ = ["configure_logging"]

_SECRET_WORDS = ("token", "api_key", "apikey", "password", "secret", "authorization", "dsn")


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask values of fields whose name says they hold a secret."""
    for key in list(event):
        if any(word in key.lower() for word in _SECRET_WORDS) and isinstance(event[key], str) and event[key]:
            event[key] = "***"
    return event


def configure_logging(settings: LogSettings, *, stream: Any = None) -> None:
    """Configure structlog and the standard library root logger once, at process start."""
    level = getattr(logging, settings.level.upper())
    out = stream or sys.stdout
    as_json = settings.format == "json" or (settings.format == "auto" and not out.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact,
    ]
    if as_json:
        renderer: Any = structlog.processors.JSONRenderer(serializer=orjson.dumps)
        binary: Any = out.buffer if hasattr(out, "buffer") else out
        factory: Any = structlog.BytesLoggerFactory(binary)
        processors = [*shared, structlog.processors.format_exc_info, renderer]
    else:
        factory = structlog.PrintLoggerFactory(out)
        processors = [*shared, structlog.dev.ConsoleRenderer()]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard library (uvicorn errors, asyncpg) go through one handler.
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO))
    logging.getLogger("uvicorn.access").disabled = True
