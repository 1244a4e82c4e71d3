"""structlog setup: JSON lines (ours and the standard library's), bound context, no secrets; and the
context a real server binds: the ids of a WebSocket call, a REST request and a run on their lines."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog
from structlog.testing import capture_logs

from clawgate.config import LogSettings
from clawgate.logging import configure_logging, merge_context, redact
from tests.conftest import ServerFactory
from tests.runtime.conftest import chat_setup
from tests.support import GATEWAY_TOKEN, ws_connect

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


# -- the context a running gateway binds ------------------------------------------------------------

CALL_IDS = {"conn_id", "rpc_id", "method", "request_id"}


def lines(logs: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [line for line in logs if line["event"] == event]


class Seen:
    """A processor noting that ``event`` was logged, to wait for a line logged after the answer
    (a run's end)."""

    def __init__(self, event: str) -> None:
        self.event = event
        self.logged = asyncio.Event()

    def __call__(self, _logger: Any, _name: str, event_dict: Any) -> Any:
        if event_dict["event"] == self.event:
            self.logged.set()
        return event_dict

    async def wait(self) -> None:
        await asyncio.wait_for(self.logged.wait(), 5)


class TestBoundContext:
    async def test_lines_of_a_websocket_call_carry_its_ids(self, make_server: ServerFactory) -> None:
        """The lines of a chat.send call, including one logged deep inside it, carry conn_id, rpc_id,
        method, tenant_id and user_id; the run it starts logs under its own run_id and tenant, not
        under the ids of the call."""
        async with chat_setup(make_server) as chat:
            end = Seen("run.finished")
            with capture_logs(processors=[merge_context, end]) as logs:
                async with ws_connect(chat.server, _skip=True) as ws:
                    hello = await ws.ok("connect", {"token": GATEWAY_TOKEN, "user_id": "alice"})
                    await ws.ok("health")  # a quick call: handled in the connection's reader itself
                    rpc_id = await ws.send("chat.send", {"message": "hi", "agentId": "helper"})
                    res = (await ws.response(rpc_id))["payload"]
                    await end.wait()
        tenant, conn_id = hello["tenant_id"], hello["conn_id"]
        [connect] = [line for line in lines(logs, "rpc.call") if line["method"] == "connect"]
        [call] = [line for line in lines(logs, "rpc.call") if line["method"] == "chat.send"]
        [started] = lines(logs, "run.started")
        [finished] = lines(logs, "run.finished")
        [health] = [line for line in lines(logs, "rpc.call") if line["method"] == "health"]
        assert connect["conn_id"] == conn_id
        assert connect["rpc_id"] == "1"
        assert (health["conn_id"], health["rpc_id"], health["tenant_id"]) == (conn_id, "2", tenant)
        for line in (call, started):  # run.started is logged by the run manager, inside the call
            assert line["conn_id"] == conn_id
            assert line["rpc_id"] == rpc_id
            assert line["method"] == "chat.send"
            assert line["tenant_id"] == tenant
            assert line["user_id"] == "alice"
        assert started["run_id"] == res["runId"]
        assert finished["run_id"] == res["runId"]
        assert finished["tenant_id"] == tenant
        assert finished["user_id"] == "alice"
        assert finished["status"] == "completed"
        assert not CALL_IDS & finished.keys()

    async def test_lines_of_a_rest_request_carry_its_ids(self, make_server: ServerFactory) -> None:
        """The lines of a REST request (its http.request line and those logged inside it) carry its
        request_id, tenant_id and user_id; the run it starts logs under its own run_id."""
        async with chat_setup(make_server) as chat:
            end = Seen("run.finished")
            with capture_logs(processors=[merge_context, end]) as logs:
                async with chat.admin("bob") as http:
                    res = await http.post(
                        "/v1/agents/helper/wake",
                        json={"message": "wake up"},
                        headers={"X-Request-Id": "req-ctx-1"},
                    )
                    await end.wait()
                    tenant = (await http.get("/v1/agents/helper")).json()["tenant_id"]
        assert res.status_code == 200, res.text
        [request] = [line for line in lines(logs, "http.request") if line["path"] == "/v1/agents/helper/wake"]
        [started] = lines(logs, "run.started")
        [finished] = lines(logs, "run.finished")
        for line in (request, started):
            assert line["request_id"] == "req-ctx-1"
            assert line["tenant_id"] == tenant
            assert line["user_id"] == "bob"
        assert started["run_id"] == finished["run_id"] == res.json()["run_id"]
        assert finished["tenant_id"] == tenant
        assert finished["user_id"] == "bob"
        assert not CALL_IDS & finished.keys()

    async def test_a_request_never_carries_the_previous_requests_caller(
        self, make_server: ServerFactory
    ) -> None:
        """On a kept-alive connection, an anonymous request after an authenticated one with a large
        body logs no tenant: asyncio hands the reading context of one request to the next request's
        task (cpython#140947), and each request starts from a clean context."""
        async with chat_setup(make_server) as chat:
            with capture_logs(processors=[merge_context]) as logs:
                async with httpx.AsyncClient(base_url=chat.server.url) as http:
                    big = {
                        "agent_key": "big",
                        "provider": "up",
                        "model": "model-a",
                        "description": "x" * 300_000,
                    }
                    first = await http.post(
                        "/v1/agents", json=big, headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"}
                    )
                    second = await http.get("/v1/agents", headers={"X-Request-Id": "anonymous"})
        assert first.status_code != 401, first.text
        assert second.status_code == 401
        [anonymous] = [line for line in lines(logs, "http.request") if line["request_id"] == "anonymous"]
        assert "tenant_id" not in anonymous
