"""The WebSocket RPC protocol (GoClaw protocol v3, spec/ws-protocol.md).

``protocol`` is the sans-I/O core (bytes -> calls -> bytes) and loads without the app: this package
imports nothing on its own. The method table is ``clawgate.rpc.methods.METHODS``; ``endpoint`` is
the WebSocket adapter.
"""

from __future__ import annotations

__all__: list[str] = []
