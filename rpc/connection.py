"""One WebSocket connection: its state machine, identity, bounded send queue and event filter.

States: ``CONNECTING`` (accepted, no successful ``connect`` yet) -> ``OPEN`` -> ``CLOSING`` ->
``CLOSED``. Frames are queued in order; the per-connection event ``seq`` is assigned when a frame
is queued, so the client sees 1, 2, 3 ... with no gaps. When the queue holds more than
``max_buffered_bytes`` the connection is closed as a slow consumer: frames are never dropped.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any, Final

from clawgate.bus import Audience, BusEvent
from clawgate.principal import Principal, Role

from .protocol import Protocol
from .types import ConnId

__all__ = ["Connection", "State", "audience", "visible_to"]

SYSTEM_EVENTS: Final = frozenset({"tick", "shutdown", "health", "presence", "heartbeat", "cron"})
ADMIN_EVENTS: Final = frozenset(
    {"device.pair.requested", "device.pair.resolved", "background.error", "workspace.file.changed"}
)


class State(enum.Enum):
    CONNECTING = "connecting"
    OPEN = "open"
    CLOSING = "closing"
    CLOSED = "closed"


def visible_to(event: BusEvent, who: Principal) -> bool:
    """GoClaw's per-client event filter (``event_filter.go``), fail-closed.

    Internal ``cache.*`` events never leave the process. Events of another tenant never reach a
    client; tenant-less events reach only owners (system events excepted). Within a tenant, admins
    see everything; others only events without a user or addressed to them, and a team's events
    (``readers`` set) only when they may read that team (``Principal.reads_team``, the rule of
    ``teams.get``), checked in memory: the readers travel with the event (a ``team.*`` event without
    them reaches admins only).
    """
    if event.name.startswith(("cache.", "internal.")) or event.name == "audit.log":
        return False
    if event.tenant_id is None:
        return event.name in SYSTEM_EVENTS or who.is_owner
    if event.tenant_id != who.tenant_id:
        return False
    if who.role >= Role.ADMIN:
        return True
    if event.name in ADMIN_EVENTS:
        return False
    if event.user_id is not None:
        return event.user_id == who.user_id
    if event.readers is not None:
        return who.reads_team(event.readers)
    return not event.name.startswith("team.")  # a team's event without its readers: admins only


def audience(who: Principal) -> Audience | None:
    """The user whose events ``who`` may see (``visible_to``): admins see the tenant's every event
    (None: no narrowing), others only their own and those addressed to no user."""
    return None if who.role >= Role.ADMIN else (who.tenant_id, who.user_id)


class Connection:
    """Per-connection state shared by the connection loop and handlers.

    Idle connections are many, so this holds no asyncio primitives: the loop that owns the socket
    sets ``on_ready`` (called when a frame is queued on an empty queue), ``on_overflow``, and
    ``on_open`` (called with the principal of each successful ``connect``).
    """

    __slots__ = (
        "_buffered", "_queue", "close_reason", "id", "locale", "max_buffered", "on_open", "on_overflow", "on_ready",
        "overflowed", "principal", "protocol", "remote", "state", "tags",
    )  # fmt: skip

    def __init__(self, conn_id: ConnId, remote: str, max_buffered: int) -> None:
        self.id = conn_id
        self.remote = remote
        self.state = State.CONNECTING
        self.principal: Principal | None = None
        self.locale = "en"
        self.protocol = Protocol()
        self.max_buffered = max_buffered
        self._queue: list[bytes] = []
        # Bytes queued and not yet handed to the socket (including frames the writer has taken).
        self._buffered = 0
        self.overflowed = False
        self.close_reason = ""
        self.tags: dict[str, Any] = {}
        self.on_ready: Callable[[], None] | None = None
        self.on_overflow: Callable[[], None] | None = None
        self.on_open: Callable[[Principal], None] | None = None

    # -- state --------------------------------------------------------------------------------

    def open(self, principal: Principal, locale: str) -> None:
        if self.state not in {State.CONNECTING, State.OPEN}:
            raise RuntimeError(f"cannot open a connection in state {self.state.name}, expected CONNECTING")
        self.principal = principal
        self.locale = locale
        self.state = State.OPEN
        if self.on_open is not None:
            self.on_open(principal)

    @property
    def is_open(self) -> bool:
        return self.state is State.OPEN

    # -- outbound queue -----------------------------------------------------------------------

    def send(self, frame: bytes) -> bool:
        """Queue a frame. Returns False (and flags overflow) when the queue bound is exceeded."""
        if self.state is State.CLOSED or self.overflowed:
            return False
        # The bound is on the backlog: one frame larger than the bound still goes out when
        # nothing is waiting, or a fast client could never receive a large response.
        if self._buffered and self._buffered + len(frame) > self.max_buffered:
            self.close_reason = "slow consumer"
            self.overflowed = True
            if self.on_overflow is not None:
                self.on_overflow()
            return False
        self._queue.append(frame)
        self._buffered += len(frame)
        if len(self._queue) == 1 and self.on_ready is not None:
            self.on_ready()
        return True

    def send_event(self, name: str, payload: Any) -> bool:
        return self.send(self.protocol.event(name, payload))

    def offer(self, event: BusEvent) -> None:
        """Bus subscriber: queue ``event`` if this connection may see it."""
        if self.state is State.OPEN and self.principal is not None and visible_to(event, self.principal):
            self.send_event(event.name, event.payload)

    def take(self) -> list[bytes]:
        """Every queued frame, oldest first (the writer's side). Each counts towards the bound
        until the writer calls ``sent`` for it."""
        frames, self._queue = self._queue, []
        return frames

    def put_back(self, frames: list[bytes]) -> None:
        """Return frames from ``take`` that could not be written yet: they stay first in line."""
        self._queue[:0] = frames

    def sent(self, frame: bytes) -> None:
        """The writer handed ``frame`` (from ``take``) to the socket."""
        self._buffered -= len(frame)

    @property
    def pending(self) -> int:
        """Frames queued and not yet taken by a writer."""
        return len(self._queue)
