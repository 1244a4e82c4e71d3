"""The WebSocket RPC protocol (GoClaw protocol v3, spec/ws-protocol.md).

``protocol`` is the sans-I/O core (bytes -> calls -> bytes) and loads without the app, so this
package imports nothing when it loads. The method table is ``clawgate.rpc.methods.METHODS`` (and
``EVENTS``); ``endpoint`` is the WebSocket adapter.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EVENTS", "METHODS"]


def __getattr__(name: str) -> Any:
    # ``from clawgate.rpc import METHODS`` (the older spelling) still works, loading the table (and
    # with it every namespace module and the app) only when asked for.
    if name in __all__:
        from . import methods

        return getattr(methods, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
