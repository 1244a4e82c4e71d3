"""A gateway process killed during a run: on restart the run is marked failed and the user's
message is still in history."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import websockets

from tests.conftest import ServerFactory
from tests.runtime.conftest import make_setup
from tests.support import GATEWAY_TOKEN, TEST_KEY, RunningServer, WsClient, free_port, ws_connect
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


async def _serve(
    dsn: str, data_dir: Path, port: int, extra_env: dict[str, str] | None = None
) -> asyncio.subprocess.Process:
    """``clawgate serve`` as a subprocess on ``dsn``, ready (``extra_env`` over the test's)."""
    env = {
        **os.environ,
        "CLAWGATE_POSTGRES_DSN": dsn,
        "CLAWGATE_ENCRYPTION_KEY": TEST_KEY,
        "CLAWGATE_GATEWAY_TOKEN": GATEWAY_TOKEN,
        "CLAWGATE_DATA_DIR": str(data_dir),
        "CLAWGATE_LOG_LEVEL": "warning",
        "CLAWGATE_RATE_LIMIT_RPM": "0",
        **(extra_env or {}),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "clawgate.cli", "serve", "--port", str(port),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await _wait_ready(f"http://127.0.0.1:{port}", proc)
    except RuntimeError:
        proc.kill()
        await proc.wait()
        raise
    return proc


class _Sender:
    """One client looping ``chat.send`` (streamed, ``wait: false``) in its own session until its
    connection dies; remembers what the gateway acknowledged and what it completed."""

    def __init__(self, ws: WsClient, n: int, completed: list[int], enough: asyncio.Event) -> None:
        self.ws = ws
        self.completed = completed  # runs completed by all the senders
        self.enough = enough  # set at 40 of them
        self.key = f"agent:helper:ws:crash-{n}"
        self.n = n
        self.acked: list[str] = []
        self.answers: list[str] = []

    async def loop(self) -> None:
        try:
            for m in range(10_000):
                text = f"client {self.n} message {m}"
                ack = await self.ws.ok("chat.send", {"message": text, "agentId": "helper",
                                                     "sessionKey": self.key, "wait": False})  # fmt: skip
                self.acked.append(text)
                done = await self.ws.wait_for(
                    lambda ev, run=ack["runId"]: ev.get("event") == "agent"
                    and ev["payload"]["runId"] == run and ev["payload"]["type"] == "run.completed",
                    timeout=30,
                )  # fmt: skip
                self.answers.append(done["payload"]["payload"]["content"])
                self.completed[0] += 1
                if self.completed[0] >= 40:
                    self.enough.set()
        except (websockets.ConnectionClosed, TimeoutError):
            return  # the gateway was killed


class TestProcessKilled:
    async def test_every_acknowledged_message_survives_a_kill_under_load(
        self, make_server: ServerFactory, dsn: str, tmp_path: Path
    ) -> None:
        """20 clients stream runs in their own sessions; the gateway is killed (SIGKILL) mid-stream.
        Every message whose ``chat.send`` was acknowledged, and every answer whose ``run.completed``
        was published, is read back from a new gateway on the same database."""
        async for chat in make_setup(make_server):
            words = " ".join(f"w{i}" for i in range(20))
            chat.upstream.script(*(Reply(content=words, chunk_delay=0.02) for _ in range(2000)))
            port = free_port()
            proc = await _serve(dsn, tmp_path / "victim", port)
            victim = RunningServer(chat.server.settings, chat.server.server, chat.server.task, port)
            key = await chat.user_key()  # an operator: each client sees its own runs only
            senders: list[_Sender] = []
            completed, enough = [0], asyncio.Event()
            try:
                async with contextlib.AsyncExitStack() as stack:
                    for n in range(20):
                        ws = await stack.enter_async_context(
                            ws_connect(victim, token=key, user_id=f"user-{n}")
                        )
                        senders.append(_Sender(ws, n, completed, enough))
                    loops = [asyncio.create_task(s.loop()) for s in senders]
                    await asyncio.wait_for(enough.wait(), 60)  # under load: each client through a run or two
                    proc.send_signal(signal.SIGKILL)
                    await asyncio.wait_for(proc.wait(), 10)
                    await asyncio.wait_for(asyncio.gather(*loops), 40)
            finally:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            acked = sum(len(s.acked) for s in senders)
            assert acked > completed[0], "nothing was in flight when the gateway was killed"
            survivor = await make_server(gateway__token=GATEWAY_TOKEN)
            async with ws_connect(survivor, token=GATEWAY_TOKEN, user_id="owner") as reader:
                for sender in senders:
                    history: dict[str, Any] = await reader.ok(
                        "chat.history", {"sessionKey": sender.key, "limit": 1000}
                    )
                    stored = [(m["role"], m["content"]) for m in history["messages"]]
                    missing = [t for t in sender.acked if ("user", t) not in stored]
                    assert missing == [], f"acknowledged and lost: {missing}"
                    answers = [c for r, c in stored if r == "assistant"]
                    assert len(answers) >= len(sender.answers)
                    assert all(a == words for a in sender.answers)

    async def test_run_of_a_killed_process_is_failed_on_restart(
        self, make_server: ServerFactory, dsn: str, tmp_path: Path
    ) -> None:
        """kill -9 during a streaming run; the next gateway start fails the orphaned run."""
        async for chat in make_setup(make_server):
            chat.upstream.script(Reply(content=" ".join(f"w{i}" for i in range(200)), chunk_delay=0.05))
            port = free_port()
            proc = await _serve(dsn, tmp_path / "victim", port)
            try:
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
