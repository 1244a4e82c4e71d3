"""What the gateway says once it listens (issue 10, item 2): a banner on a TTY, one ``gateway.ready``
event otherwise; both with the URLs, the auth mode, the data directory and the next step."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path
from typing import Any

import httpx
from structlog.testing import capture_logs

from tests.conftest import ServerFactory
from tests.gateway.test_cli import CLAWGATE, clean_env
from tests.support import GATEWAY_TOKEN, free_port


async def ready_event(logs: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``gateway.ready`` event, logged just after uvicorn reports the server started."""
    for _ in range(500):
        if found := [entry for entry in logs if entry["event"] == "gateway.ready"]:
            [ready] = found
            return ready
        await asyncio.sleep(0.02)
    raise AssertionError("no gateway.ready event")


class TestReadyEvent:
    async def test_event_names_urls_mode_and_next_step(
        self, make_server: ServerFactory, tmp_path: Path
    ) -> None:
        """Off a TTY the gateway logs ``gateway.ready`` with the bound port's URLs, development
        mode and, with no provider yet, the next step."""
        with capture_logs() as logs:
            server = await make_server()
            ready = await ready_event(logs)
        base = f"http://127.0.0.1:{server.port}"
        assert ready["home"] == f"{base}/"
        assert ready["docs"] == f"{base}/docs"
        assert ready["websocket"] == f"ws://127.0.0.1:{server.port}/ws"
        assert ready["openai_base_url"] == f"{base}/v1"
        assert "every local client is admin" in ready["auth"]
        assert ready["data_dir"] == str((tmp_path / "data").resolve())
        assert "add a provider" in ready["next_step"]

    async def test_with_token_and_a_provider_the_next_step_is_an_agent(
        self, make_server: ServerFactory
    ) -> None:
        """With a token the mode says so; with a provider but no agent the next step is an agent."""
        with capture_logs() as logs:
            await make_server(gateway__token=GATEWAY_TOKEN, providers={"openai": {"api_key": "sk-test"}})
            ready = await ready_event(logs)
        assert "token required" in ready["auth"]
        assert ready["next_step"].startswith("create an agent")


class TestBanner:
    async def test_serve_on_a_tty_prints_the_banner_without_uvicorns_startup_lines(
        self, tmp_path: Path
    ) -> None:
        """``clawgate serve`` with a terminal prints the banner (URLs, mode, data dir, next step)
        and leaves out uvicorn's startup lines."""
        port = free_port()
        main, child = os.openpty()
        proc = await asyncio.create_subprocess_exec(
            *CLAWGATE, "serve", "--data-dir", str(tmp_path / "data"), "--port", str(port),
            cwd=tmp_path, env=clean_env(), stdin=child, stdout=child, stderr=child,
        )  # fmt: skip
        os.close(child)
        output = b""
        try:
            async with asyncio.timeout(90):
                while b"next " not in output:
                    output += await asyncio.to_thread(os.read, main, 65536)
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        finally:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 30)
            os.close(main)
        text = re.sub(r"\x1b\[[0-9;]*m", "", output.decode(errors="replace"))
        assert " is ready" in text
        assert f"home       http://127.0.0.1:{port}/" in text
        assert f"docs       http://127.0.0.1:{port}/docs" in text
        assert f"websocket  ws://127.0.0.1:{port}/ws" in text
        assert f"openai     http://127.0.0.1:{port}/v1" in text
        assert "every local client is admin" in text
        assert str((tmp_path / "data").resolve()) in text
        assert "add a provider" in text
        assert "Uvicorn running on" not in text
        assert "Waiting for application startup" not in text
