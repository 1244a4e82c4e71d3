"""The WebSocket RPC protocol (GoClaw protocol v3, spec/ws-protocol.md).

``protocol`` is the sans-I/O core (bytes -> calls -> bytes) and loads without the app, so this
package imports nothing when it loads. The method table is ``clawgate.rpc.methods.METHODS`` (and
``EVENTS``); ``endpoint`` is the WebSocket adapter.
"""
