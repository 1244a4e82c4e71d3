"""The event bus: in-process fan-out to subscribers (WebSocket connections, SSE streams, caches)
and PostgreSQL ``LISTEN/NOTIFY`` between processes, so a client connected to process B sees what
process A publishes.

NOTIFY payloads must stay under 8000 bytes: larger bodies are spilled to ``bus_spill`` and the
notification carries only the row id. Events whose name starts with ``cache.`` are internal and
are never delivered to clients (the RPC filter drops them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

import msgspec
import structlog

from clawgate.store import Database, DbConnection
from clawgate.store import bus as store
from clawgate.store.db import Unreachable, connect

__all__ = ["CHANNEL", "BusEvent", "EventBus", "Subscriber", "invalidates", "invalidation"]

CHANNEL = "clawgate_bus"
_NOTIFY_LIMIT = 7500
log = structlog.get_logger("clawgate.bus")


class BusEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One event. ``tenant_id`` None means system-wide; ``user_id`` None means every user."""

    name: str
    payload: Any = None
    tenant_id: UUID | None = None
    user_id: str | None = None


def invalidation(kind: str, tenant_id: UUID | None = None, **detail: Any) -> BusEvent:
    """The event that drops the caches of ``kind`` in every process (``invalidates`` tells them)."""
    return BusEvent(name="cache.invalidate", payload={"kind": kind, **detail}, tenant_id=tenant_id)


def invalidates(event: BusEvent, kind: str) -> bool:
    """Whether ``event`` drops the caches of ``kind``: an invalidation of that kind, or of every kind
    (no kind named)."""
    if event.name != "cache.invalidate":
        return False
    named = event.payload.get("kind") if isinstance(event.payload, dict) else None
    return named is None or named == kind


class _Envelope(msgspec.Struct, frozen=True, kw_only=True):
    origin: str
    event: BusEvent | None = None
    spill_id: int | None = None


Subscriber = Callable[[BusEvent], None]
_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Envelope)


class EventBus:
    """Publish/subscribe across connections and processes.

    Subscribers are plain callables run synchronously in ``publish``; they must not block (a
    WebSocket subscriber only enqueues a frame).
    """

    def __init__(self, db: Database | None = None) -> None:
        self._db = db
        self._subscribers: dict[int, Subscriber] = {}
        self._next = 0
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._listener: asyncio.Task[None] | None = None
        self._fetches: set[asyncio.Task[None]] = set()  # spilled events being read (a reference each)
        self._conn: DbConnection | None = None
        self._lost = asyncio.Event()
        self.listening = asyncio.Event()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unsubscribes it."""
        token = self._next
        self._next += 1
        self._subscribers[token] = callback
        return lambda: self._subscribers.pop(token, None) and None

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def deliver_local(self, event: BusEvent) -> None:
        """Fan ``event`` out to this process's subscribers only."""
        for callback in list(self._subscribers.values()):
            try:
                callback(event)
            except Exception:
                log.exception("bus.subscriber_failed", event_name=event.name)

    async def publish(self, event: BusEvent) -> None:
        """Deliver locally, then to other processes. A lost database only loses the remote part,
        which is logged; local delivery has already happened."""
        self.deliver_local(event)
        if self._db is None:
            return
        try:
            body = _encoder.encode(_Envelope(origin=self.origin, event=event))
            async with self._db.connection() as conn:
                if len(body) > _NOTIFY_LIMIT:
                    spill_id = await store.spill(conn, event.tenant_id or uuid.UUID(int=0), body)
                    body = _encoder.encode(_Envelope(origin=self.origin, spill_id=spill_id))
                await store.notify(conn, CHANNEL, body.decode())
        except Exception as exc:
            log.warning("bus.notify_failed", event_name=event.name, error=str(exc))

    # -- cross-process listening ----------------------------------------------------------------

    async def start(self) -> None:
        """Start listening for other processes' events (reconnects by itself)."""
        if self._db is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="bus-listener")

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        for fetch in list(self._fetches):
            fetch.cancel()
        await asyncio.gather(*self._fetches, return_exceptions=True)

    async def _listen_forever(self) -> None:
        assert self._db is not None
        delay = 0.2
        while True:
            conn: DbConnection | None = None
            try:
                conn = await connect(self._db.dsn)
                self._lost.clear()
                await store.listen(conn, CHANNEL, self._on_notify, self._lost.set)
                self._conn = conn
                self.listening.set()
                delay = 0.2
                await self._lost.wait()
                log.warning("bus.listener_lost")
            except asyncio.CancelledError:
                raise
            except Unreachable as exc:
                log.debug("bus.listener_connect_failed", error=str(exc))
            finally:
                self.listening.clear()
                self._conn = None
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _on_notify(self, payload: str) -> None:
        try:
            envelope = _decoder.decode(payload)
        except msgspec.DecodeError:
            log.warning("bus.bad_notification")
            return
        if envelope.origin == self.origin:
            return
        if envelope.event is not None:
            self.deliver_local(envelope.event)
        elif envelope.spill_id is not None:
            fetch = asyncio.get_running_loop().create_task(self._fetch_spill(envelope.spill_id))
            self._fetches.add(fetch)
            fetch.add_done_callback(self._fetches.discard)

    async def _fetch_spill(self, spill_id: int) -> None:
        assert self._db is not None
        try:
            async with self._db.connection() as conn:
                body = await store.fetch_spill(conn, spill_id)
            if body is not None:
                envelope = _decoder.decode(body)
                if envelope.event is not None:
                    self.deliver_local(envelope.event)
        except Exception as exc:
            log.warning("bus.spill_fetch_failed", spill_id=spill_id, error=str(exc))
