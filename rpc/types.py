"""Contracts of the WebSocket RPC layer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NewType

from clawgate.principal import Principal, Role

if TYPE_CHECKING:
    # For types only: the protocol core (``protocol.py`` -> here) must load without the app.
    from clawgate.rpc.connection import Connection
    from clawgate.state import Gateway

__all__ = ["CallContext", "ConnId", "Handler", "Method", "RpcId"]

ConnId = NewType("ConnId", str)
"""A connection's id, a uuid4 hex assigned at accept."""
RpcId = NewType("RpcId", str)
"""The client's request id, echoed on the response."""


@dataclass(slots=True)
class CallContext:
    """What a method handler gets. Handlers never see the socket or the frame envelope."""

    gateway: Gateway
    conn: Connection
    rpc_id: RpcId

    @property
    def who(self) -> Principal:
        """The authenticated caller; the dispatcher guarantees one outside ``connect``."""
        assert self.conn.principal is not None, "handler called before connect"
        return self.conn.principal

    @property
    def locale(self) -> str:
        return self.conn.locale


Handler = Callable[[CallContext, Any], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Method:
    """One RPC method: its params type (decoded with a cached decoder), handler and minimum role.

    ``role=None`` means any authenticated connection (``health``); ``public=True`` means callable
    before ``connect`` (only ``connect`` itself). ``quick=True`` means the handler answers from
    memory (at most a shared, cached probe): the connection's reader awaits it itself instead of
    giving it a task, so it holds up the next frame of that connection while it runs.
    """

    params: type | None
    handler: Handler
    role: Role | None
    public: bool = False
    quick: bool = False
