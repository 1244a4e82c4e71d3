"""A hand-written stdio MCP server that handshakes and lists one tool, ``reply``, correctly, then
answers every call to it with a line that is not JSON-RPC (the SDK-built stand-in cannot: its
transport keeps stray output off the protocol stream)."""

from __future__ import annotations

import json
import sys


def _send(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        method, rid = request.get("method"), request.get("id")
        if rid is None:
            continue  # a notification
        if method == "initialize":
            version = request["params"]["protocolVersion"]
            _send({"jsonrpc": "2.0", "id": rid, "result": {
                "protocolVersion": version, "capabilities": {"tools": {}},
                "serverInfo": {"name": "garbled", "version": "1"}}})  # fmt: skip
        elif method == "tools/list":
            tool = {"name": "reply", "description": "Answers garbage.", "inputSchema": {"type": "object"}}
            _send({"jsonrpc": "2.0", "id": rid, "result": {"tools": [tool]}})
        elif method == "tools/call":
            sys.stdout.write('{"jsonrpc": "2.0", "id": ' + json.dumps(rid) + ', "result": oops\n')
            sys.stdout.flush()
        else:
            _send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"no method {method}"}})


if __name__ == "__main__":
    main()
