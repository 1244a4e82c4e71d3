"""The event bus: in-process fan-out to subscribers (WebSocket connections, SSE streams, caches)
and PostgreSQL ``LISTEN/NOTIFY`` between processes, so a client connected to process B sees what
process A publishes.

NOTIFY payloads must stay under 8000 bytes: larger bodies are spilled to ``bus_spill`` and the
notification carries only the row id. Events whose name starts with ``cache.`` are internal and
are never delivered to clients (the RPC filter drops them).

High-rate events (a run's stream: one per chunk) go out with ``publish_batched``: delivered in this
process at once, and to the others in batches, one transaction of notifications every few
milliseconds (one statement) for everything published meanwhile, never one commit per event. A listener delivers
what it hears in the order it was sent, a spilled body included (later ones wait for its fetch).

A process alone on its database (``alone``: the liveness sweep found no other gateway process) sends
no batched notifications at all. A process that starts listening says so (``announce``); whoever
hears it notifies again at once, starting with what it published in the last ``_REPLAY_SECONDS``,
so that nothing published after the newcomer began to listen is missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any
from uuid import UUID

import msgspec
import structlog

from clawgate.store import Database, DbConnection
from clawgate.store import bus as store
from clawgate.store.db import Unreachable, connect

__all__ = [
    "CHANNEL",
    "Audience",
    "BusEvent",
    "EventBus",
    "Subscriber",
    "Subscription",
    "invalidates",
    "invalidation",
]

CHANNEL = "clawgate_bus"
_NOTIFY_LIMIT = 7500
_BATCH_SECONDS = 0.01
"""How long ``publish_batched`` gathers events before it notifies the other processes."""
_REPLAY_SECONDS = 2.0
"""How far back a process alone sends its batched events again when another one announces itself."""
log = structlog.get_logger("clawgate.bus")


class BusEvent(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event. ``tenant_id`` None means system-wide; ``user_id`` None means every user.

    ``readers``: an event of one team (GoClaw's ``team.*``) carries the users who may read that team,
    resolved once when it is published, so that every process filters it in memory
    (``Principal.reads_team``) and never a query per connection. None: not a team's event. Never
    sent to a client (only the payload is). Fields at their default are not encoded: a run's chunk
    crossing processes pays nothing for it."""

    name: str
    payload: Any = None
    tenant_id: UUID | None = None
    user_id: str | None = None
    readers: frozenset[str] | None = None


INVALIDATE = "cache.invalidate"
"""The name of the events that drop caches (``invalidation``); a cache subscribes to it alone."""


def invalidation(kind: str, tenant_id: UUID | None = None, **detail: Any) -> BusEvent:
    """The event that drops the caches of ``kind`` in every process (``invalidates`` tells them)."""
    return BusEvent(name=INVALIDATE, payload={"kind": kind, **detail}, tenant_id=tenant_id)


def invalidates(event: BusEvent, kind: str) -> bool:
    """Whether ``event`` drops the caches of ``kind``: an invalidation of that kind, or of every kind
    (no kind named)."""
    if event.name != "cache.invalidate":
        return False
    named = event.payload.get("kind") if isinstance(event.payload, dict) else None
    return named is None or named == kind


class _Envelope(msgspec.Struct, frozen=True, kw_only=True):
    """One notification: an event, a batch of events in order, or the id of a spilled body."""

    origin: str
    event: BusEvent | None = None
    events: list[BusEvent] | None = None
    spill_id: int | None = None
    n: int = 0  # a batch's number: PostgreSQL folds identical payloads of one transaction into one
    hello: bool = False  # a process began to listen (``EventBus.announce``)


class _BatchOut(msgspec.Struct, frozen=True, kw_only=True):
    """A batch as sent: the events encoded one by one beforehand (to pack them under the limit)."""

    origin: str
    events: list[msgspec.Raw]
    n: int


Subscriber = Callable[[BusEvent], None]
Audience = tuple[UUID, str]
"""A tenant and a user id: the events a subscriber narrowed to it receives are those addressed to that
user of that tenant, and those addressed to no user."""


class Subscription:
    """A subscriber's registration. Call it to unsubscribe."""

    __slots__ = ("_bus", "_token")

    def __init__(self, bus: EventBus, token: int) -> None:
        self._bus = bus
        self._token = token

    def __call__(self) -> None:
        self._bus._unsubscribe(self._token)

    def narrow(self, audience: Audience | None) -> None:
        """Receive only events addressed to ``audience`` or to no user (None: every event again),
        so that an event for one user is not offered to every connection of the process."""
        self._bus._narrow(self._token, audience)


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
        # Subscribers narrowed to one user's events (``Subscription.narrow``), by audience, and the rest.
        self._everything: dict[int, Subscriber] = {}
        self._audiences: dict[int, Audience] = {}
        self._by_audience: dict[Audience, dict[int, Subscriber]] = {}
        # Subscribers of some event names only (``subscribe(names=...)``: a cache's invalidations), by
        # name; those not in here take every event their audience allows (``_unnamed``).
        self._by_name: dict[str, dict[int, Subscriber]] = {}
        self._names: dict[int, frozenset[str]] = {}
        self._unnamed: dict[int, Subscriber] = {}
        self._next = 0
        self.origin = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._listener: asyncio.Task[None] | None = None
        # Notifications heard while a spilled body is being fetched wait here, to keep their order.
        self._inbox: deque[_Envelope] = deque()
        self._fetcher: asyncio.Task[None] | None = None
        self._outbox: list[BusEvent] = []  # batched events not yet notified
        self._sender: asyncio.Task[None] | None = None
        self._numbers = itertools.count(1)
        self._conn: DbConnection | None = None
        self._lost = asyncio.Event()
        self.listening = asyncio.Event()
        # Whether batched events go to other processes; False only while the liveness sweep finds
        # none (``alone``). Meanwhile the recent ones are kept, to be sent if one announces itself.
        self.peers = True
        self._recent: deque[tuple[float, BusEvent]] = deque()
        self._hello_at = 0.0  # when another process last announced itself (monotonic)

    def subscribe(self, callback: Subscriber, names: Iterable[str] | None = None) -> Subscription:
        """Register ``callback`` for every event, or only for events called one of ``names`` (a
        run's stream of events then passes it by: a cache that listens for ``cache.invalidate`` is
        not called for every chunk); returns its subscription (call it to unsubscribe)."""
        token = self._next
        self._next += 1
        self._subscribers[token] = callback
        if names is None:
            self._everything[token] = callback
            self._unnamed[token] = callback
        else:
            self._names[token] = frozenset(names)
            for name in self._names[token]:
                self._by_name.setdefault(name, {})[token] = callback
        return Subscription(self, token)

    def _narrow(self, token: int, audience: Audience | None) -> None:
        callback = self._subscribers.get(token)
        if callback is None or token in self._names:
            return
        self._forget_audience(token)
        if audience is None:
            self._everything[token] = callback
            return
        self._everything.pop(token, None)
        self._audiences[token] = audience
        self._by_audience.setdefault(audience, {})[token] = callback

    def _unsubscribe(self, token: int) -> None:
        self._subscribers.pop(token, None)
        self._everything.pop(token, None)
        self._unnamed.pop(token, None)
        self._forget_audience(token)
        for name in self._names.pop(token, ()):
            group = self._by_name[name]
            group.pop(token, None)
            if not group:
                del self._by_name[name]

    def _forget_audience(self, token: int) -> None:
        audience = self._audiences.pop(token, None)
        if audience is not None:
            group = self._by_audience[audience]
            group.pop(token, None)
            if not group:
                del self._by_audience[audience]

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def deliver_local(self, event: BusEvent) -> None:
        """Fan ``event`` out to this process's subscribers only: an event addressed to a user goes
        to the subscribers of that audience and to those that take everything, not to the others."""
        if event.user_id is not None and event.tenant_id is not None:
            mine = self._by_audience.get((event.tenant_id, event.user_id))
            callbacks = (
                [*self._everything.values(), *mine.values()] if mine else list(self._everything.values())
            )
        else:
            callbacks = list(self._unnamed.values())
        named = self._by_name.get(event.name)
        if named:
            callbacks.extend(named.values())
        for callback in callbacks:
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

    def publish_batched(self, event: BusEvent) -> None:
        """Deliver ``event`` locally now; to other processes with the next batch (within
        ``_BATCH_SECONDS``, in the order published). A lost database loses only the remote part,
        which is logged."""
        self.deliver_local(event)
        if self._db is None:
            return
        if not self.peers:
            now = time.monotonic()
            recent = self._recent
            recent.append((now, event))
            while recent[0][0] < now - _REPLAY_SECONDS:
                recent.popleft()
            return
        self._outbox.append(event)
        if self._sender is None or self._sender.done():
            self._sender = asyncio.get_running_loop().create_task(self._send_batches())

    def alone(self, since: float) -> None:
        """No other process was alive on the database when a check that began at ``since``
        (``time.monotonic()``) looked: stop notifying batched events, unless one announced itself
        after the check began."""
        if self._hello_at < since and self.peers:
            log.info("bus.alone")
            self.peers = False

    def joined(self) -> None:
        """Another process is alive: notify batched events again, from the ones published in the
        last ``_REPLAY_SECONDS`` on (it may have begun to listen meanwhile)."""
        self._hello_at = time.monotonic()
        if self.peers:
            return
        log.info("bus.peers_joined", replayed=len(self._recent))
        self.peers = True
        replay = [event for _, event in self._recent]
        self._recent.clear()
        if replay and self._db is not None:
            self._outbox.extend(replay)  # after any still waiting from before, which are older
            if self._sender is None or self._sender.done():
                self._sender = asyncio.get_running_loop().create_task(self._send_batches())

    async def announce(self, timeout: float = 5.0) -> None:
        """Once listening (waits up to ``timeout``), tell the other processes that this one is alive,
        so that one alone on the database notifies again (``joined``)."""
        if self._db is None:
            return
        try:
            await asyncio.wait_for(self.listening.wait(), timeout)
            async with self._db.connection() as conn:
                await store.notify(
                    conn, CHANNEL, _encoder.encode(_Envelope(origin=self.origin, hello=True)).decode()
                )
        except Exception as exc:  # the others find this process by its liveness lock at their next sweep
            log.warning("bus.announce_failed", error=str(exc))

    async def flush(self) -> None:
        """Wait until the batched events published so far have been notified."""
        if self._sender is not None:
            await asyncio.shield(self._sender)

    async def _send_batches(self) -> None:
        """One statement of notifications per ``_BATCH_SECONDS`` at most, while events come."""
        assert self._db is not None
        while self._outbox:
            await asyncio.sleep(_BATCH_SECONDS)
            events, self._outbox = self._outbox, []
            try:
                async with self._db.connection() as conn:
                    await store.notify_all(conn, CHANNEL, await self._bodies(conn, events))
            except Exception as exc:
                log.warning("bus.notify_failed", events=len(events), error=str(exc))

    async def _bodies(self, conn: DbConnection, events: list[BusEvent]) -> list[str]:
        """``events`` as notification payloads under the limit, in order; an event too large for
        one on its own is spilled."""
        bodies: list[str] = []
        group: list[msgspec.Raw] = []
        size = 0
        room = _NOTIFY_LIMIT - 100 - len(self.origin)  # the envelope around the events
        for event in events:
            encoded = _encoder.encode(event)
            if len(encoded) > room:
                spill_id = await store.spill(conn, event.tenant_id or uuid.UUID(int=0),
                                             _encoder.encode(_Envelope(origin=self.origin, event=event)))  # fmt: skip
                encoded_spill = _Envelope(origin=self.origin, spill_id=spill_id, n=next(self._numbers))
                bodies += [self._batch(group)] if group else []
                bodies.append(_encoder.encode(encoded_spill).decode())
                group, size = [], 0
                continue
            if size + len(encoded) + 1 > room:
                bodies.append(self._batch(group))
                group, size = [], 0
            group.append(msgspec.Raw(encoded))
            size += len(encoded) + 1
        if group:
            bodies.append(self._batch(group))
        return bodies

    def _batch(self, group: list[msgspec.Raw]) -> str:
        return _encoder.encode(_BatchOut(origin=self.origin, events=group, n=next(self._numbers))).decode()

    # -- cross-process listening ----------------------------------------------------------------

    async def start(self) -> None:
        """Start listening for other processes' events (reconnects by itself)."""
        if self._db is not None and self._listener is None:
            self._listener = asyncio.create_task(self._listen_forever(), name="bus-listener")

    async def stop(self) -> None:
        """Send the batched events still waiting (for up to 2 s), then stop listening."""
        if self._sender is not None and not self._sender.done():
            await asyncio.wait([self._sender], timeout=2)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        tasks = [t for t in (self._fetcher, self._sender) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

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
                # A peer's hello may come while this listener is away: notify again (and the last
                # seconds' events) until a sweep that begins after the reconnect finds none alive.
                self.joined()
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
        if envelope.hello:
            self.joined()
            return
        if envelope.spill_id is None and (self._fetcher is None or self._fetcher.done()):
            self._deliver_envelope(envelope)
            return
        self._inbox.append(envelope)
        if self._fetcher is None or self._fetcher.done():
            self._fetcher = asyncio.get_running_loop().create_task(self._drain_inbox())

    def _deliver_envelope(self, envelope: _Envelope) -> None:
        if envelope.event is not None:
            self.deliver_local(envelope.event)
        for event in envelope.events or ():
            self.deliver_local(event)

    async def _drain_inbox(self) -> None:
        """Deliver the waiting notifications in order, fetching spilled bodies as they come."""
        while self._inbox:
            envelope: _Envelope | None = self._inbox.popleft()
            if envelope is not None and envelope.spill_id is not None:
                envelope = await self._fetch_spill(envelope.spill_id)
            if envelope is not None:
                self._deliver_envelope(envelope)

    async def _fetch_spill(self, spill_id: int) -> _Envelope | None:
        assert self._db is not None
        try:
            async with self._db.connection() as conn:
                body = await store.fetch_spill(conn, spill_id)
            return _decoder.decode(body) if body is not None else None
        except Exception as exc:
            log.warning("bus.spill_fetch_failed", spill_id=spill_id, error=str(exc))
            return None
