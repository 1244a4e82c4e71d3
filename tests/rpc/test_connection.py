"""The connection loop through a real server: ticks, event ``seq``, slow consumers, graceful
shutdown and JSON-RPC 2.0 framing."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

import asyncpg
import pytest
import websockets

from clawgate.bus import BusEvent
from clawgate.state import HEALTH_CLIENTS_LISTED
from tests.conftest import ServerFactory
from tests.rpc.helpers import close_of, drain
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, WsClient, add_stub_provider, ws_connect


async def _events(ws: WsClient, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The next ``count`` event frames (responses in between are dropped)."""
    out: list[dict[str, Any]] = []
    while len(out) < count:
        frame = await ws.recv(timeout)
        if frame.get("type") == "event":
            out.append(frame)
    return out


class TestTick:
    async def test_ticks_arrive_with_increasing_seq(self, make_server: ServerFactory) -> None:
        """With a 100 ms interval, tick events carry ``{ts}`` and seq 1, 2, 3."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__tick_interval_ms=100)
        async with ws_connect(srv, token=GATEWAY_TOKEN) as ws:
            ticks = await _events(ws, 3, timeout=2)
        assert [t["event"] for t in ticks] == ["tick"] * 3
        assert [t["seq"] for t in ticks] == [1, 2, 3]
        assert all(isinstance(t["payload"]["ts"], int) for t in ticks)
        assert ticks[0]["payload"]["ts"] <= ticks[2]["payload"]["ts"]

    async def test_no_tick_before_connect(self, make_server: ServerFactory) -> None:
        """A connection that has not connected receives no tick."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__tick_interval_ms=100)
        async with ws_connect(srv, _skip=True) as ws:
            await asyncio.sleep(0.35)
            payload = await ws.ok("connect", {"token": GATEWAY_TOKEN})
            first = await _events(ws, 1, timeout=2)
        assert payload["policy"]["tick_interval_ms"] == 100
        assert ws.events == []
        assert first[0]["seq"] == 1


def _server_tasks() -> int:
    """Tasks of this event loop that are not the websockets client's (the test server runs here)."""
    return sum(
        1 for task in asyncio.all_tasks()
        if "site-packages/websockets/" not in getattr(getattr(task.get_coro(), "cr_code", None), "co_filename", "")
    )  # fmt: skip


async def _settled_tasks() -> int:
    """``_server_tasks()`` once it holds still for 0.2 s: short-lived tasks (a writer draining its
    last frame, an upkeep tick) may be alive for a moment on a loaded machine."""
    samples = [_server_tasks()]
    for _ in range(100):
        await asyncio.sleep(0.05)
        samples.append(_server_tasks())
        if len(set(samples[-4:])) == 1 and len(samples) >= 4:
            break
    return samples[-1]


class TestIdle:
    async def test_idle_connection_costs_one_task(self, make_server: ServerFactory) -> None:
        """An idle authenticated connection runs one task on the server (its reader): nothing is
        written, so no writer; ticks and shutdown come from one task for all connections."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN)
        async with contextlib.AsyncExitStack() as stack:
            first = await stack.enter_async_context(ws_connect(srv, token=GATEWAY_TOKEN))
            await first.ok("health")
            before = await _settled_tasks()
            idle = [await stack.enter_async_context(ws_connect(srv, token=GATEWAY_TOKEN)) for _ in range(10)]
            for ws in idle:
                await ws.ok("health")
            after = await _settled_tasks()
        assert after - before == 10

    async def test_health_counts_all_clients_and_lists_a_bounded_number(
        self, make_server: ServerFactory
    ) -> None:
        """``health`` lists every client as GoClaw does while they are few; past
        ``HEALTH_CLIENTS_LISTED`` it lists that many (the longest connected) and counts them all."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN)
        async with contextlib.AsyncExitStack() as stack:
            first = await stack.enter_async_context(ws_connect(srv, token=GATEWAY_TOKEN))
            few = await first.ok("health")
            for _ in range(HEALTH_CLIENTS_LISTED):
                await stack.enter_async_context(ws_connect(srv, token=GATEWAY_TOKEN))
            many = await first.ok("health")
        assert few["clientCount"] == 1
        assert [c["id"] for c in few["clients"]] == [few["currentId"]]
        assert set(few["clients"][0]) == {"id", "remoteAddr", "userId", "role", "connectedAt"}  # GoClaw's
        assert many["clientCount"] == HEALTH_CLIENTS_LISTED + 1
        assert len(many["clients"]) == HEALTH_CLIENTS_LISTED
        assert many["clients"][0]["id"] == few["currentId"]


class TestSeq:
    async def test_seq_per_connection_without_gaps(self, make_server: ServerFactory) -> None:
        """Ticks and bus events share one per-connection sequence without gaps; each connection
        starts at 1 and responses do not consume numbers."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__tick_interval_ms=100)
        async with ws_connect(srv, token=GATEWAY_TOKEN) as first:
            await _events(first, 2, timeout=2)
            async with ws_connect(srv, token=GATEWAY_TOKEN) as second:
                for n in range(5):
                    await srv.gateway.bus.publish(BusEvent(name="health", payload={"n": n}))
                    await second.ok("health")
                seen_first = await _events(first, 8)
                seen_second = await _events(second, 6)
        seqs_first = [e["seq"] for e in seen_first]
        seqs_second = [e["seq"] for e in [*second.events, *seen_second]]
        assert seqs_first == list(range(3, 11))
        assert seqs_second[:6] == list(range(1, 7))
        assert [e["payload"]["n"] for e in [*second.events, *seen_second] if e["event"] == "health"][:5] == [
            0, 1, 2, 3, 4,
        ]  # fmt: skip


class TestSlowConsumer:
    async def test_flooding_without_reading_closes_1008(self, make_server: ServerFactory) -> None:
        """A client that sends requests but does not read is closed with 1008 "slow consumer"."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__ws_max_buffered_bytes=1024)
        await add_stub_provider(srv)
        async with ws_connect(srv, token=GATEWAY_TOKEN) as admin:
            await admin.ok("agents.create", {"agent_key": "big", **RUNNABLE})
            await admin.ok("agents.files.set", {"agentId": "big", "name": "BIG.md", "content": "x" * 60_000})
        # A small receive buffer and a one-frame client queue make the backlog reach the server.
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", srv.port))
        sock.setblocking(False)
        async with websockets.connect(srv.ws_url, sock=sock, max_size=None, max_queue=1) as raw:
            ws = WsClient(raw)
            await ws.ok("connect", {"token": GATEWAY_TOKEN})
            request = {
                "type": "req",
                "method": "agents.files.get",
                "params": {"agentId": "big", "name": "BIG.md"},
            }
            for n in range(300):
                await raw.send(json.dumps({**request, "id": f"f{n}"}))
            code, reason = await close_of(ws, timeout=10)
        assert code == 1008
        assert reason == "slow consumer"

    async def test_large_response_to_reading_client_is_delivered(self, make_server: ServerFactory) -> None:
        """A single response larger than the bound reaches a client that reads."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__ws_max_buffered_bytes=1024)
        await add_stub_provider(srv)
        async with ws_connect(srv, token=GATEWAY_TOKEN) as ws:
            await ws.ok("agents.create", {"agent_key": "big", **RUNNABLE})
            await ws.ok("agents.files.set", {"agentId": "big", "name": "BIG.md", "content": "y" * 5000})
            got = await ws.ok("agents.files.get", {"agentId": "big", "name": "BIG.md"})
        assert len(got["file"]["content"]) == 5000


class TestShutdown:
    async def test_shutdown_event_answer_then_1001(self, make_server: ServerFactory, dsn: str) -> None:
        """Stopping the server sends ``shutdown``, lets an in-flight call answer within the
        grace period, ignores later requests, then closes with 1001."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, gateway__shutdown_grace_seconds=3)
        await add_stub_provider(srv)
        blocker = await asyncpg.connect(dsn)
        try:
            async with ws_connect(srv, token=GATEWAY_TOKEN) as ws:
                await ws.ok("agents.create", {"agent_key": "slow", **RUNNABLE})
                tx = blocker.transaction()
                await tx.start()
                await blocker.execute("SELECT 1 FROM agents WHERE agent_key = 'slow' FOR UPDATE")
                await ws.send_raw(json.dumps({"type": "req", "id": "u1", "method": "agents.update",
                                              "params": {"agentId": "slow", "model": "m2"}}))  # fmt: skip
                await _wait_for_lock_waiter(blocker)
                stopping = asyncio.create_task(srv.stop())
                event = await ws.next_event("shutdown")
                await ws.send_raw(json.dumps({"type": "req", "id": "late", "method": "health"}))
                await tx.commit()
                frames, close_code, _ = await drain(ws)
                await stopping
        finally:
            await blocker.close()
        assert event["payload"]["reason"]
        assert [f["id"] for f in frames if f.get("type") == "res"] == ["u1"]
        assert frames[0]["ok"] is True
        assert frames[0]["payload"]["model"] == "m2"
        assert close_code == 1001

    async def test_new_connections_refused_while_stopping(self, make_server: ServerFactory) -> None:
        """Once shutdown has begun, a new WebSocket handshake is refused (closed before accept)."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN)
        srv.gateway.shutting_down.set()
        with pytest.raises(websockets.InvalidStatus) as info:
            async with websockets.connect(srv.ws_url):
                pass
        assert info.value.response.status_code == 403


async def _wait_for_lock_waiter(conn: asyncpg.Connection) -> None:
    """Wait until another session of this database waits on a lock (the in-flight call)."""
    for _ in range(200):
        waiting = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        )
        if waiting:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the call never reached the lock")


def _rpc(method: str, params: Any = None, **extra: Any) -> str:
    frame: dict[str, Any] = {"jsonrpc": "2.0", "method": method, **extra}
    if params is not None:
        frame["params"] = params
    return json.dumps(frame)


async def _next_non_event(ws: WsClient) -> Any:
    while True:
        raw = json.loads(await asyncio.wait_for(ws.ws.recv(), 5))
        if isinstance(raw, dict) and raw.get("method") == "event":
            ws.events.append(raw)
            continue
        return raw


class TestJsonRpc:
    async def test_jsonrpc_connection_end_to_end(self, make_server: ServerFactory) -> None:
        """A connection whose first frame is JSON-RPC 2.0 speaks it throughout: results, numeric
        errors with ``data.code``, notifications without answers, batches and events."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, limits__tick_interval_ms=100)
        async with websockets.connect(srv.ws_url) as raw:
            ws = WsClient(raw)
            await raw.send(_rpc("connect", {"token": GATEWAY_TOKEN, "user_id": "j"}, id=1))
            connected = await _next_non_event(ws)
            await raw.send(_rpc("health"))  # notification: no answer
            await raw.send(_rpc("agents.list", id="two"))
            listed = await _next_non_event(ws)
            await raw.send(_rpc("no.such", id=3))
            unknown = await _next_non_event(ws)
            await raw.send(_rpc("agents.files.get", {"agentId": "a", "name": "b", "extra": 1}, id=4))
            bad_params = await _next_non_event(ws)
            await raw.send(_rpc("agent.identity.get", {"agentId": "ghost"}, id=5))
            missing = await _next_non_event(ws)
            await raw.send(b"{broken")
            parse = await _next_non_event(ws)
            await raw.send(json.dumps([json.loads(_rpc("health", id=6)), json.loads(_rpc("health")),
                                       json.loads(_rpc("agents.list", id=7))]))  # fmt: skip
            batch = await _next_non_event(ws)
            while len(ws.events) < 2:
                ws.events.append(json.loads(await asyncio.wait_for(raw.recv(), 2)))
        assert connected["jsonrpc"] == "2.0"
        assert connected["id"] == 1
        assert connected["result"]["role"] == "admin"
        assert listed == {"jsonrpc": "2.0", "id": "two", "result": {"agents": []}}
        assert unknown["error"]["code"] == -32601
        assert unknown["error"]["data"]["code"] == "INVALID_REQUEST"
        assert bad_params["error"]["code"] == -32602
        assert bad_params["error"]["data"]["details"]["field"] == "$.extra"
        assert missing["error"]["code"] == -32004
        assert missing["error"]["data"]["code"] == "NOT_FOUND"
        assert parse["id"] is None
        assert parse["error"]["code"] == -32700
        assert [r["id"] for r in batch] == [6, 7]
        assert batch[0]["result"]["status"] == "ok"
        ticks = [e for e in ws.events if e.get("method") == "event"]
        assert ticks[0]["params"]["event"] == "tick"
        assert [t["params"]["seq"] for t in ticks[:2]] == [1, 2]

    async def test_jsonrpc_first_request_must_be_connect(self, server: RunningServer) -> None:
        """Before connect, JSON-RPC calls answer -32001 with ``data.code`` UNAUTHORIZED."""
        async with websockets.connect(server.ws_url) as raw:
            await raw.send(_rpc("agents.list", id=9))
            res = json.loads(await asyncio.wait_for(raw.recv(), 5))
        assert res["id"] == 9
        assert res["error"]["code"] == -32001
        assert res["error"]["data"]["code"] == "UNAUTHORIZED"
        assert res["error"]["message"] == "first request must be connect"

    async def test_jsonrpc_wrong_token_closes_1008(self, server: RunningServer) -> None:
        """A refused JSON-RPC connect answers -32001, then the server closes with 1008."""
        async with websockets.connect(server.ws_url) as raw:
            await raw.send(_rpc("connect", {"token": "bad"}, id=1))
            res = json.loads(await asyncio.wait_for(raw.recv(), 5))
            code, _ = await close_of(WsClient(raw))
        assert res["error"]["code"] == -32001
        assert code == 1008
