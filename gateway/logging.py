"""structlog setup: JSON lines in production, a console renderer on a TTY.

``request_id``, ``conn_id``, ``run_id`` and ``tenant_id`` travel as bound context; secrets are
never logged (the ``redact`` processor masks fields whose names say they hold one, and values
shaped like our API keys wherever they appear). Records of libraries that log through the standard
library (uvicorn, asyncpg) go through the same processors and renderer, so with JSON output every
line of the process is one JSON object.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import orjson
import structlog

from clawgate.config import LogSettings

__all__ = ["configure_logging", "redact"]

_SECRET_WORDS = ("token", "api_key", "apikey", "password", "secret", "authorization", "dsn", "encryption_key")
_MASK = "***"
# Raw API keys (ours and GoClaw's) and bearer credentials, wherever they occur in a string value.
_SECRET_VALUE = re.compile(r"\b(?:clawgate|goclaw)_[0-9a-f]{32}\b|(?i:bearer)\s+\S+")


def _is_secret_field(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _SECRET_VALUE.sub(_MASK, value) if ("_" in value or " " in value) else value
    if isinstance(value, dict) and depth < 4:
        return {
            k: _MASK if isinstance(k, str) and _is_secret_field(k) and v else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple) and depth < 4:
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask values of fields whose name says they hold a secret, and secret-shaped values."""
    for key in list(event):
        value = event[key]
        if _is_secret_field(key) and isinstance(value, str) and value:
            event[key] = _MASK
        elif isinstance(value, str | dict | list | tuple):
            event[key] = _scrub(value)
    return event


def _dumps_str(obj: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj, **kwargs).decode()


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
        foreign: Any = structlog.processors.JSONRenderer(serializer=_dumps_str)
    else:
        factory = structlog.PrintLoggerFactory(out)
        processors = [*shared, structlog.dev.ConsoleRenderer()]
        foreign = structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )
    # Libraries that use the standard library (uvicorn, asyncpg) go through one handler that
    # renders their records like ours.
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([structlog.processors.format_exc_info] if as_json else []),
                foreign,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO))
    logging.getLogger("uvicorn.access").disabled = True
