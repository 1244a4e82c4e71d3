"""The WebSocket adapter: the only module that touches ``starlette.websockets.WebSocket``.

Idle connections are many, so each costs as little as possible: the endpoint's own task reads
frames (``Protocol.receive`` -> dispatch); calls of ``quick`` methods are awaited by the reader,
others get a task each (at most 64 in flight). Replies and events go to the connection's bounded
send queue; the reader writes what a frame produced itself, and a writer task exists only while
frames queued from elsewhere (events, slow calls) are being written. One task per gateway
(``ConnectionHub``, kept on ``Gateway.ws_hub``) sends the ``tick`` events of every connection and stops the readers on shutdown. Pings
and the 60-second silence timeout are uvicorn's (``ws_ping_interval``/``ws_ping_timeout``, set by
``clawgate.server``). Closing the socket cancels only the calls waiting on it, never a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import time
import uuid
from collections.abc import Callable
from typing import Literal

import structlog
from starlette import status
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from clawgate.logging import bind_caller
from clawgate.state import ClientInfo, Gateway
from clawgate.uvicorn_ws import SEND_FRAMES

from .connection import Connection, State, audience
from .dispatch import dispatch
from .methods import METHODS
from .protocol import Call
from .types import ConnId

__all__ = ["ConnectionHub", "websocket_app", "websocket_endpoint"]

log = structlog.get_logger("clawgate.rpc")

_MAX_IN_FLIGHT = 64
# The hub looks for due ticks this many times per tick interval, so ticks spread over time
# instead of reaching every connection at once.
_TICK_STEPS = 8
# When this many connections have closed since the peak (and at least half of them), freed heap is
# handed back to the OS: glibc keeps it otherwise, and a burst of connections would cost its peak
# memory for the life of the process.
_TRIM_AFTER = 1000
_malloc_trim: Callable[[int], int] | None
try:
    _malloc_trim = ctypes.CDLL(None).malloc_trim
except (OSError, AttributeError):  # not glibc
    _malloc_trim = None

Stop = Literal["overflow", "shutdown"]
_Phase = Literal["receive", "call", "flush", "done"]
_DISCONNECTED = (WebSocketDisconnect, RuntimeError, OSError)


async def websocket_app(scope: Scope, receive: Receive, send: Send) -> None:
    """``GET /ws`` as a plain ASGI app (``clawgate.http.middleware.StaticRoutes`` calls it): frames
    go straight to the server's ``receive`` and ``send``, not through Starlette's router, its
    exception middleware and ``WebSocket``, each a layer of calls on every frame. ``WebSocket``
    still does the handshake and the close."""
    await websocket_endpoint(WebSocket(scope, receive, send), receive, send)


async def websocket_endpoint(ws: WebSocket, receive: Receive, send: Send) -> None:
    """One connection: ``ws`` for the handshake and the close, ``receive``/``send`` for its frames."""
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
    # The reader runs in this task and its call tasks copy this context: their lines carry conn_id.
    # A clean slate first, as for a REST request (``http.middleware``).
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(conn_id=conn.id)
    try:
        await _ConnectionLoop(gateway, ws, conn, task, receive, send).run()
    finally:
        gateway.drains.discard(task)


class ConnectionHub:
    """The connections of one gateway: one task sends every connection's ``tick`` when it is due
    and, when shutdown begins, stops them all. It runs while there are connections."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.loops: set[_ConnectionLoop] = set()
        self.task: asyncio.Task[None] | None = None
        self.peak = 0

    def add(self, conn_loop: _ConnectionLoop) -> None:
        self.loops.add(conn_loop)
        self.peak = max(self.peak, len(self.loops))
        if self.task is None:
            # Its own (empty) context: not that of the connection that happens to start it.
            self.task = asyncio.create_task(self._run(), name="ws-hub", context=contextvars.Context())

    def discard(self, conn_loop: _ConnectionLoop) -> None:
        self.loops.discard(conn_loop)
        count = len(self.loops)
        if self.peak - count >= _TRIM_AFTER and count <= self.peak // 2:
            self.peak = count
            if _malloc_trim is not None:
                asyncio.get_running_loop().call_soon(_malloc_trim, 0)
        if not self.loops and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        gateway = self.gateway
        loop = asyncio.get_running_loop()
        while self.loops:
            step = gateway.settings.limits.tick_interval_ms / 1000 / _TICK_STEPS
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(step):
                    await gateway.shutting_down.wait()
            if gateway.shutting_down.is_set():
                for conn_loop in list(self.loops):
                    conn_loop.stop("shutdown")
                self.task = None
                return
            now = loop.time()
            ts = int(time.time() * 1000)
            for conn_loop in list(self.loops):
                conn_loop.tick(now, ts)


def _hub(gateway: Gateway) -> ConnectionHub:
    """The gateway's hub, made by its first connection."""
    if gateway.ws_hub is None:
        gateway.ws_hub = ConnectionHub(gateway)
    return gateway.ws_hub


class _ConnectionLoop:
    """One accepted WebSocket: reads frames, runs their calls, writes the queued frames, closes."""

    __slots__ = (
        "bulk", "closed", "conn", "gateway", "in_flight", "interrupted", "limits", "next_tick", "phase", "push",
        "receive", "send", "slots", "stopping", "task", "writer", "ws",
    )  # fmt: skip

    def __init__(
        self, gateway: Gateway, ws: WebSocket, conn: Connection, task: asyncio.Task[None], receive: Receive,
        send: Send,
    ) -> None:  # fmt: skip
        self.gateway = gateway
        self.ws = ws
        self.receive = receive
        self.send = send
        # Our server's extension (``clawgate.uvicorn_ws``): frames sent in bulk, or pushed without a task.
        extension = (ws.scope.get("extensions") or {}).get(SEND_FRAMES)
        self.bulk = extension is not None
        self.push: Callable[[list[bytes]], bool] | None = extension.get("push") if extension else None
        self.conn = conn
        self.task = task
        self.limits = gateway.settings.limits
        self.in_flight: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(_MAX_IN_FLIGHT)
        self.closed = False
        self.writer: asyncio.Task[None] | None = None
        # What the reader is doing: it writes what it queued itself while not in "receive".
        self.phase: _Phase = "receive"
        self.stopping: Stop | None = None
        self.interrupted = False
        self.next_tick = 0.0

    async def run(self) -> None:
        conn, gateway = self.conn, self.gateway
        conn.on_ready = self._wake
        conn.on_overflow = lambda: self.stop("overflow")
        subscription = gateway.bus.subscribe(conn.offer)
        conn.on_open = lambda who: subscription.narrow(audience(who))  # one user's events, not all
        hub = _hub(gateway)
        hub.add(self)
        try:
            try:
                await self._reader()
            except Exception as exc:
                # Our bug: never end silently. Log it, let the calls in flight answer, close 1011.
                log.error("ws.reader_failed", exc_info=exc)
                self.phase = "done"
                await self._wind_down(status.WS_1011_INTERNAL_ERROR, "internal error")
                return
            self.phase = "done"
            if self.stopping == "overflow":
                if self.writer is not None:
                    self.writer.cancel()
                await self._close(status.WS_1008_POLICY_VIOLATION, "slow consumer")
            elif self.stopping == "shutdown":
                conn.send_event("shutdown", {"reason": "server shutting down", "restartExpectedMs": None})
                await self._wind_down(status.WS_1001_GOING_AWAY, "server shutting down")
        finally:
            hub.discard(self)
            conn.on_ready = conn.on_overflow = conn.on_open = None
            pending = [t for t in (self.writer, *self.in_flight) if t is not None]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            subscription()
            gateway.clients.remove(conn.id)
            conn.state = State.CLOSED

    def stop(self, reason: Stop) -> None:
        """Stop reading (slow consumer, shutdown). A reader inside a call finishes the call and
        writes its answer first; one writing is interrupted only for a slow consumer."""
        if self.stopping is None or reason == "overflow":
            self.stopping = reason
        interruptible = self.phase == "receive" or (self.phase == "flush" and reason == "overflow")
        if interruptible and not self.interrupted:
            self.interrupted = True
            self.task.cancel()

    def is_stopping(self) -> bool:
        return self.stopping is not None

    def tick(self, now: float, ts: int) -> None:
        """Send ``tick`` if it is due (the hub calls this every step)."""
        interval = self.limits.tick_interval_ms / 1000
        if not self.next_tick:
            self.next_tick = now + interval
        elif now >= self.next_tick:
            self.next_tick = now + interval
            if self.conn.is_open:
                self.conn.send_event("tick", {"ts": ts})

    # -- reading ------------------------------------------------------------------------------

    async def _reader(self) -> None:
        conn = self.conn
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.ws_connect_timeout_seconds
        try:
            while not self.is_stopping():
                self.phase = "receive"
                try:
                    if conn.is_open:
                        message = await self.receive()
                    else:
                        async with asyncio.timeout(max(0.0, deadline - loop.time())):
                            message = await self.receive()
                except TimeoutError:
                    await self._close(status.WS_1008_POLICY_VIOLATION, "connect timeout")
                    return
                except _DISCONNECTED:
                    return
                if message["type"] == "websocket.disconnect":
                    return
                data: bytes = message.get("bytes") or message.get("text", "").encode()
                self.phase = "call"
                if not await self._frame(data):
                    return
                if self.is_stopping():
                    return
                self.phase = "flush"
                if self.writer is None and not await self._write():
                    return
        except asyncio.CancelledError:
            if self.stopping is None:
                raise
            self.task.uncancel()

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
            await self._run_calls(reply.calls, reply.batch)
            if conn.is_open:
                self._register()
            elif any(call.method == "connect" for call in reply.calls):
                await self._flush()
                await self._close(status.WS_1008_POLICY_VIOLATION, "unauthorized")
                return False
            return True
        if self._all_quick(reply.calls):
            await self._run_calls(reply.calls, reply.batch)
            return True
        self.phase = "receive"  # nothing of this frame is lost if stopping interrupts the wait
        await self.slots.acquire()
        self.phase = "call"
        task = asyncio.create_task(self._run_calls(reply.calls, reply.batch))
        self.in_flight.add(task)
        task.add_done_callback(self._done)
        return True

    @classmethod
    def _all_quick(cls, calls: list[Call]) -> bool:
        if len(calls) == 1:  # the common case, without a generator
            return cls._quick(calls[0])
        return all(cls._quick(call) for call in calls)

    @staticmethod
    def _quick(call: Call) -> bool:
        method = METHODS.get(call.method)
        return call.error is not None or method is None or method.quick

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

    # -- writing ------------------------------------------------------------------------------

    def _wake(self) -> None:
        """A frame was queued on an empty queue: write it, unless the reader is about to."""
        if self.writer is None and self.phase in {"receive", "done"}:
            if self._push():
                return
            # Called by whoever queued the frame (another connection's call, a run, the hub): the
            # writer gets an empty context rather than theirs, and logs its conn_id itself.
            self.writer = asyncio.create_task(self._writer(), context=contextvars.Context())

    async def _writer(self) -> None:
        try:
            await self._write()
        except Exception:
            log.exception("ws.writer_failed", conn_id=self.conn.id)
            await self._close(status.WS_1011_INTERNAL_ERROR, "internal error")
        finally:
            self.writer = None

    async def _write(self) -> bool:
        """Write every queued frame, including those queued meanwhile; False if the socket is gone.
        Our server (``clawgate.uvicorn_ws``) takes them all in one send, as UTF-8; another gets
        them one ``websocket.send`` each."""
        if self._push():
            return True
        conn, send, bulk = self.conn, self.send, self.bulk
        while frames := conn.take():
            try:
                if bulk:
                    await send({"type": SEND_FRAMES, "frames": frames})
                    for frame in frames:
                        conn.sent(frame)
                    continue
                for frame in frames:
                    conn.sent(frame)
                    await send({"type": "websocket.send", "text": frame.decode()})
            except _DISCONNECTED:
                return False
        return True

    def _push(self) -> bool:
        """Hand every queued frame to the server without waiting, when it can take them now."""
        push, conn = self.push, self.conn
        if push is None:
            return False
        frames = conn.take()
        if not frames:
            return True
        if not push(frames):
            conn.put_back(frames)
            return False
        for frame in frames:
            conn.sent(frame)
        return True

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
        """Write everything queued (bounded); the writer task does it so that a timeout leaves no
        frame half-handled."""
        if self.writer is None and self.conn.pending:
            self.writer = asyncio.create_task(self._writer())
        if self.writer is not None:
            await asyncio.wait({self.writer}, timeout=timeout)

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
            connectedAt=int(time.time() * 1000),
        )  # fmt: skip
        self.gateway.clients.add(info, str(who.tenant_id))
        # In the reader's context, which the tasks of later calls copy.
        bind_caller(who)
