"""structlog setup: JSON lines (ours and the standard library's), bound context, no secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from clawgate.config import LogSettings
from clawgate.logging import configure_logging, redact

RAW_KEY = "clawgate_" + "0123456789abcdef" * 2


class Stream(io.TextIOWrapper):
    """A text stream over bytes, like sys.stdout when it is a pipe (not a TTY)."""

    def __init__(self) -> None:
        super().__init__(io.BytesIO(), encoding="utf-8", write_through=True)

    def lines(self) -> list[dict[str, Any]]:
        self.flush()
        raw = self.buffer.getvalue().decode()  # type: ignore[attr-defined]
        return [json.loads(line) for line in raw.splitlines()]


@pytest.fixture(name="stream")
def _stream() -> Iterator[Stream]:
    """A fresh output stream; structlog and the root logger are restored afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    access_disabled = logging.getLogger("uvicorn.access").disabled
    stream = Stream()
    yield stream
    structlog.reset_defaults()
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = access_disabled


class TestJsonOutput:
    def test_event_is_one_json_line_with_bound_context(self, stream: Stream) -> None:
        """An event renders as one JSON object with level, timestamp and the bound request_id."""
        configure_logging(LogSettings(level="info", format="json"), stream=stream)
        structlog.contextvars.bind_contextvars(request_id="req-123")
        structlog.get_logger("test").info("http.request", path="/v1/agents", status=200)
        [line] = stream.lines()
        assert line["event"] == "http.request"
        assert line["request_id"] == "req-123"
        assert line["level"] == "info"
        assert line["status"] == 200
        assert line["timestamp"].endswith("Z")

    def test_standard_library_records_are_json_too(self, stream: Stream) -> None:
        """uvicorn's records (standard logging) come out as JSON lines with the logger name."""
        configure_logging(LogSettings(level="info", format="json"), stream=stream)
        logging.getLogger("uvicorn.error").warning("Started server process [%d]", 42)
        [line] = stream.lines()
        assert line["event"] == "Started server process [42]"
        assert line["logger"] == "uvicorn.error"
        assert line["level"] == "warning"

    def test_level_filters_events(self, stream: Stream) -> None:
        """Events below the configured level are dropped."""
        configure_logging(LogSettings(level="warning", format="json"), stream=stream)
        log = structlog.get_logger("test")
        log.info("quiet")
        log.warning("loud")
        assert [line["event"] for line in stream.lines()] == ["loud"]

    def test_auto_format_on_a_pipe_is_json(self, stream: Stream) -> None:
        """format=auto writes JSON when the stream is not a terminal."""
        configure_logging(LogSettings(level="info", format="auto"), stream=stream)
        structlog.get_logger("test").info("piped")
        assert stream.lines()[0]["event"] == "piped"

    def test_secrets_never_reach_the_output(self, stream: Stream) -> None:
        """Secret-named fields and secret-shaped values are masked, in our events and library records."""
        configure_logging(LogSettings(level="info", format="json"), stream=stream)
        structlog.get_logger("test").info(
            "auth.attempt",
            token="gw-token-value",
            api_key=RAW_KEY,
            headers={"Authorization": "Bearer hunter2", "accept": "json"},
            note=f"client sent {RAW_KEY}",
        )
        logging.getLogger("asyncpg").warning("retrying with Bearer hunter2")
        raw = stream.buffer.getvalue().decode()  # type: ignore[attr-defined]
        for secret in ("gw-token-value", RAW_KEY, "hunter2"):
            assert secret not in raw
        first, second = stream.lines()
        assert first["token"] == "***"
        assert first["headers"] == {"Authorization": "***", "accept": "json"}
        assert first["note"] == "client sent ***"
        assert "***" in second["event"]


class TestRedact:
    def test_only_secret_fields_and_values_change(self) -> None:
        """Ordinary fields, numbers and token counts are left alone."""
        event = {
            "event": "run.completed",
            "prompt_tokens": 12,
            "password": "pw",
            "dsn": "postgresql://u:p@h/db",
            "path": "/v1/api-keys",
            "items": ["ok", RAW_KEY],
        }
        out = redact(None, "info", event)
        assert out["prompt_tokens"] == 12
        assert out["password"] == "***"
        assert out["dsn"] == "***"
        assert out["path"] == "/v1/api-keys"
        assert out["items"] == ["ok", "***"]
