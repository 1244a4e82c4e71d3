"""A gateway process killed during a run: on restart the run is marked failed and the user's
message is still in history."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import asyncpg
import httpx

from tests.conftest import ServerFactory
from tests.runtime.conftest import make_setup
from tests.support import GATEWAY_TOKEN, TEST_KEY, RunningServer, free_port, ws_connect
from tests.upstream import Reply


async def _wait_ready(url: str, proc: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(200):
            if proc.returncode is not None:
                raise RuntimeError(f"gateway exited with {proc.returncode}")
            try:
                if (await http.get(url + "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("gateway did not become ready")


class TestProcessKilled:
    async def test_run_of_a_killed_process_is_failed_on_restart(
        self, make_server: ServerFactory, dsn: str, tmp_path: Path
    ) -> None:
        """kill -9 during a streaming run; the next gateway start fails the orphaned run."""
        async for chat in make_setup(make_server):
            chat.upstream.script(Reply(content=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.05))
            port = free_port()
            env = {
                **os.environ,
                "CLAWGATE_POSTGRES_DSN": dsn,
                "CLAWGATE_ENCRYPTION_KEY": TEST_KEY,
                "CLAWGATE_GATEWAY_TOKEN": GATEWAY_TOKEN,
                "CLAWGATE_DATA_DIR": str(tmp_path / "victim"),
                "CLAWGATE_LOG_LEVEL": "warning",
            }
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "clawgate.cli", "serve", "--port", str(port),
                env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            try:
                await _wait_ready(f"http://127.0.0.1:{port}", proc)
                victim = RunningServer(chat.server.settings, chat.server.server, chat.server.task, port)
                async with ws_connect(victim, token=GATEWAY_TOKEN, user_id="alice") as ws:
                    ack = await ws.ok(
                        "chat.send", {"message": "long story", "agentId": "helper", "wait": False}
                    )
                    await ws.run_event("chunk")
                    proc.send_signal(signal.SIGKILL)
                    await asyncio.wait_for(proc.wait(), 10)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            # Whichever process sweeps the orphan, its run.failed reaches alice like any event of the
            # run: agentId is the agent's key, as in every other event.
            async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as watcher:
                restarted = await make_server(gateway__token=GATEWAY_TOKEN)
                failed = await watcher.run_event("run.failed", timeout=15)
            assert failed["payload"]["runId"] == ack["runId"]
            assert failed["payload"]["agentId"] == "helper"
            conn = await asyncpg.connect(dsn)
            try:
                status, error = await conn.fetchrow(
                    "SELECT status, error FROM runs WHERE id = $1", ack["runId"]
                )
            finally:
                await conn.close()
            assert status == "failed"
            assert "stopped" in error
            async with ws_connect(restarted, token=GATEWAY_TOKEN, user_id="alice") as ws:
                history = await ws.ok("chat.history", {"sessionKey": ack["sessionKey"]})
                state = await ws.ok("chat.session.status", {"sessionKey": ack["sessionKey"]})
            assert history["messages"][0]["role"] == "user"
            assert history["messages"][0]["content"] == "long story"
            assert state["isRunning"] is False
