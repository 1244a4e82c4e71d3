"""The WebSocket adapter: the only module that touches ``starlette.websockets.WebSocket``.

Per connection it runs a reader (frames -> ``Protocol.receive`` -> dispatch), a writer (the bounded
send queue -> socket), and a ticker (``tick`` events for browsers that cannot see pings). Pings
and the 60-second silence timeout are uvicorn's (``ws_ping_interval``/``ws_ping_timeout``, set by
``clawgate.server``). Closing the socket cancels only the calls waiting on it, never a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import structlog
from starlette import status
from starlette.websockets import WebSocket, WebSocketDisconnect

from clawgate.logging import bind_caller
from clawgate.state import ClientInfo, Gateway

from . import METHODS
from .dispatch import dispatch
from .protocol import Call
from .session import Connection, State
from .types import ConnId

__all__ = ["websocket_endpoint"]

log = structlog.get_logger("clawgate.rpc")

_MAX_IN_FLIGHT = 64


async def websocket_endpoint(ws: WebSocket) -> None:
    gateway: Gateway = ws.state.gateway
    allowed = gateway.settings.gateway.allowed_origins
    origin = ws.headers.get("origin", "")
    if allowed and origin and "*" not in allowed and origin not in allowed:
        await ws.close(status.WS_1008_POLICY_VIOLATION, reason="origin not allowed")
        return
    if gateway.shutting_down.is_set():
        await ws.close(status.WS_1001_GOING_AWAY, reason="server shutting down")
        return
    await ws.accept()
    client = ws.client
    conn = Connection(
        ConnId(uuid.uuid4().hex),
        f"{client.host}:{client.port}" if client else "",
        gateway.settings.limits.ws_max_buffered_bytes,
    )
    task = asyncio.current_task()
    assert task is not None
    gateway.drains.add(task)
    # The connection's tasks (reader, writer, calls) copy this context: their lines carry conn_id.
    # A clean slate first, as for a REST request (``http.middleware``).
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(conn_id=conn.id)
    try:
        await _Session(gateway, ws, conn).run()
    finally:
        gateway.drains.discard(task)


class _Session:
    def __init__(self, gateway: Gateway, ws: WebSocket, conn: Connection) -> None:
        self.gateway = gateway
        self.ws = ws
        self.conn = conn
        self.limits = gateway.settings.limits
        self.in_flight: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self.closed = False

    async def run(self) -> None:
        conn, gateway = self.conn, self.gateway
        unsubscribe = gateway.bus.subscribe(conn.offer)
        reader = asyncio.create_task(self._reader(), name=f"ws-reader-{conn.id}")
        writer = asyncio.create_task(self._writer(), name=f"ws-writer-{conn.id}")
        ticker = asyncio.create_task(self._ticker(), name=f"ws-ticker-{conn.id}")
        overflow = asyncio.create_task(conn.overflow.wait())
        shutdown = asyncio.create_task(gateway.shutting_down.wait())
        try:
            done, _ = await asyncio.wait(
                {reader, writer, overflow, shutdown}, return_when=asyncio.FIRST_COMPLETED
            )
            if overflow in done:
                reader.cancel()
                writer.cancel()
                await self._close(status.WS_1008_POLICY_VIOLATION, "slow consumer")
            elif reader in done and not reader.cancelled() and reader.exception() is not None:
                # Our bug: never end silently. Log it, let the calls in flight answer, close 1011.
                log.error("ws.reader_failed", exc_info=reader.exception())
                await self._wind_down(status.WS_1011_INTERNAL_ERROR, "internal error")
            elif shutdown in done and not reader.done():
                reader.cancel()
                conn.send_event("shutdown", {"reason": "server shutting down", "restartExpectedMs": None})
                await self._wind_down(status.WS_1001_GOING_AWAY, "server shutting down")
            elif writer in done:
                reader.cancel()
        finally:
            for pending in (reader, writer, ticker, overflow, shutdown, *self.in_flight):
                pending.cancel()
            await asyncio.gather(reader, writer, ticker, *self.in_flight, return_exceptions=True)
            unsubscribe()
            gateway.clients.remove(conn.id)
            conn.state = State.CLOSED

    # -- tasks --------------------------------------------------------------------------------

    async def _reader(self) -> None:
        conn = self.conn
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.ws_connect_timeout_seconds
        while True:
            try:
                if conn.is_open:
                    message = await self.ws.receive()
                else:
                    async with asyncio.timeout(max(0.0, deadline - loop.time())):
                        message = await self.ws.receive()
            except TimeoutError:
                await self._close(status.WS_1008_POLICY_VIOLATION, "connect timeout")
                return
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            data: bytes = message.get("bytes") or message.get("text", "").encode()
            if not await self._frame(data):
                return

    async def _frame(self, data: bytes) -> bool:
        """Handle one frame; False when the connection must end."""
        conn = self.conn
        was_open = conn.is_open
        limit = self.limits.ws_max_payload if was_open else self.limits.ws_preauth_max_payload
        if len(data) > limit:
            if was_open:
                await self._close(status.WS_1009_MESSAGE_TOO_BIG, f"frame exceeds {limit} bytes")
            else:
                await self._close(
                    status.WS_1008_POLICY_VIOLATION, f"frame exceeds {limit} bytes before connect"
                )
            return False
        reply = conn.protocol.receive(data)
        if reply.error is not None:
            conn.send(reply.error)
            return True
        if not was_open:
            # Before connect, frames are handled one at a time so connect settles the state.
            frames = [await dispatch(self.gateway, conn, call, METHODS) for call in reply.calls]
            self._send_replies([f for f in frames if f is not None], reply.batch)
            if conn.is_open:
                self._register()
            elif any(call.method == "connect" for call in reply.calls):
                await self._flush()
                await self._close(status.WS_1008_POLICY_VIOLATION, "unauthorized")
                return False
            return True
        await self.slots.acquire()
        task = asyncio.create_task(self._run_calls(reply.calls, reply.batch))
        self.in_flight.add(task)
        task.add_done_callback(self._done)
        return True

    def _done(self, task: asyncio.Task[None]) -> None:
        self.in_flight.discard(task)
        self.slots.release()

    async def _run_calls(self, calls: list[Call], batch: bool) -> None:
        if len(calls) == 1:
            frames = [await dispatch(self.gateway, self.conn, calls[0], METHODS)]
        else:
            frames = list(
                await asyncio.gather(*(dispatch(self.gateway, self.conn, c, METHODS) for c in calls))
            )
        self._send_replies([f for f in frames if f is not None], batch)

    def _send_replies(self, frames: list[bytes], batch: bool) -> None:
        if batch and frames:
            self.conn.send(self.conn.protocol.batch(frames))
        else:
            for frame in frames:
                self.conn.send(frame)

    async def _writer(self) -> None:
        conn = self.conn
        while True:
            frame = await conn.next_frame()
            await self.ws.send({"type": "websocket.send", "text": frame.decode()})
            if not conn.pending:
                conn.idle.set()

    async def _ticker(self) -> None:
        interval = self.limits.tick_interval_ms / 1000
        while True:
            await asyncio.sleep(interval)
            if self.conn.is_open:
                self.conn.send_event("tick", {"ts": int(time.time() * 1000)})

    # -- closing ------------------------------------------------------------------------------

    async def _wind_down(self, code: int, reason: str) -> None:
        """With reading stopped: let in-flight calls answer (within the shutdown grace), send
        what is queued, close with ``code``."""
        self.conn.state = State.CLOSING
        if self.in_flight:
            await asyncio.wait(
                set(self.in_flight), timeout=self.gateway.settings.gateway.shutdown_grace_seconds
            )
        await self._flush()
        await self._close(code, reason)

    async def _flush(self, timeout: float = 2.0) -> None:
        """Wait until the writer has sent everything queued (bounded)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self.conn.idle.wait()

    async def _close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.conn.state = State.CLOSING
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self.ws.close(code, reason=reason)

    def _register(self) -> None:
        who = self.conn.principal
        assert who is not None
        info = ClientInfo(
            id=self.conn.id, remoteAddr=self.conn.remote, userId=who.user_id, role=who.role.label,
            connectedAt=int(time.time() * 1000), tenantId=str(who.tenant_id),
        )  # fmt: skip
        self.gateway.clients.add(info)
        # In the reader's context, which the tasks of later calls copy.
        bind_caller(who)
