"""structlog setup: JSON lines in production, a console renderer on a TTY, and the bound context.

The ids of what is being done travel in structlog's context variables, bound where they become
known, so that every line logged meanwhile carries them without passing them by hand:

- ``request_id``: per REST request (``http.middleware.EdgeMiddleware``);
- ``conn_id``: per WebSocket connection, at accept (``rpc.endpoint``);
- ``rpc_id`` and ``method``: per RPC call (``rpc.dispatch``), in one context variable of our own set
  once per call (``enter_call``: one ``ContextVar.set``, about 0.1 us, where binding two structlog
  variables and resetting them cost about 2 us a call) and added to a line only when one is logged
  (``merge_context``, the processor that also merges structlog's bound variables);
- ``tenant_id`` and ``user_id``: once the caller is authenticated (``bind_caller``: the rest of a
  REST request; every call of a WebSocket connection after ``connect``);
- ``run_id``: a run's own lines (``bind_run``), which carry its tenant and user but not the ids of
  the call that started it (a run outlives that call); an OpenAI exchange, which lives and dies with
  its request, carries the request's ids and its ``run_id``.

Secrets are never logged (the ``redact`` processor masks fields whose names say they hold one, and
values shaped like our API keys wherever they appear). Records of libraries that log through the
standard library (uvicorn, asyncpg) go through the same processors and renderer, so with JSON output
every line of the process is one JSON object.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any
from uuid import UUID

import orjson
import structlog

from clawgate.config import LogSettings
from clawgate.principal import Principal

__all__ = [
    "bind_caller",
    "bind_run",
    "configure_logging",
    "enter_call",
    "info_enabled",
    "leave_call",
    "merge_context",
    "redact",
    "uses_console",
]

_CALL: ContextVar[tuple[str, str] | None] = ContextVar("clawgate_call", default=None)
"""The RPC call being handled in this context: (``rpc_id``, ``method``)."""
_INFO = [True]  # whether info lines pass the configured level (``configure_logging``)

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


def enter_call(rpc_id: str, method: str) -> Token[tuple[str, str] | None]:
    """Mark the current context as handling the call ``rpc_id`` of ``method`` until ``leave_call``:
    every line logged meanwhile (and by tasks created meanwhile) carries both."""
    return _CALL.set((rpc_id, method))


def leave_call(token: Token[tuple[str, str] | None]) -> None:
    _CALL.reset(token)


def info_enabled() -> bool:
    """Whether an info line would be written (checked before building a line logged per call)."""
    return _INFO[0]


def merge_context(logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog's bound context variables, and the ids of the RPC call being handled (the first
    processor; tests that capture lines use it too)."""
    event = structlog.contextvars.merge_contextvars(logger, name, event)
    call = _CALL.get()
    if call is not None:
        event.setdefault("rpc_id", call[0])
        event.setdefault("method", call[1])
    return event


def bind_caller(who: Principal) -> None:
    """Bind the authenticated caller (``tenant_id``, ``user_id``) for the rest of the current task.

    Tasks copy the context when they are created: those a WebSocket connection creates for its calls
    after ``connect`` carry the caller too.
    """
    structlog.contextvars.bind_contextvars(tenant_id=str(who.tenant_id), user_id=who.user_id)


def bind_run(run_id: UUID, tenant_id: UUID, user_id: str) -> None:
    """Make the current task's bound context a run's own: ``run_id``, ``tenant_id``, ``user_id``.

    Call it first thing in the run's task. The task copied the context of the call that started it
    (``conn_id``, ``rpc_id``, ``request_id``...); the run outlives that call, so those are dropped.
    """
    structlog.contextvars.clear_contextvars()
    _CALL.set(None)
    structlog.contextvars.bind_contextvars(run_id=str(run_id), tenant_id=str(tenant_id), user_id=user_id)


def _dumps_str(obj: Any, **kwargs: Any) -> str:
    return orjson.dumps(obj, **kwargs).decode()


def uses_console(settings: LogSettings, out: Any) -> bool:
    """Whether output to ``out`` is for a person: ``console``, or ``auto`` on a TTY."""
    return settings.format == "console" or (settings.format == "auto" and bool(out.isatty()))


def configure_logging(settings: LogSettings, *, stream: Any = None) -> None:
    """Configure structlog and the standard library root logger once, at process start. On a
    console uvicorn's own startup lines are left out (the gateway's banner says where it listens);
    its warnings and errors, and everything in JSON output, still come through."""
    level = getattr(logging, settings.level.upper())
    _INFO[0] = level <= logging.INFO
    out = stream or sys.stdout
    as_json = not uses_console(settings, out)
    shared: list[Any] = [
        merge_context,
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
    logging.getLogger("uvicorn.error").setLevel(logging.NOTSET if as_json else logging.WARNING)
