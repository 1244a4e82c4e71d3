"""``clawgate chat AGENT MESSAGE``: one message to an agent over the WebSocket protocol, the answer
streamed to stdout as the model writes it.

It is a client of a running gateway (``clawgate serve``), like any other: ``connect`` with the token,
``chat.send`` with ``wait: false``, then the run's ``agent`` events (``chunk`` text as it comes,
until ``run.completed``, ``run.failed`` or ``run.cancelled``). Events of other runs (an admin hears
its tenant's) are skipped by ``runId``. The session key goes to stderr, so that ``--session`` can
carry on the conversation.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from typing import Any, TextIO

import msgspec
import websockets

from clawgate.config import Settings

__all__ = ["add_parser", "chat"]

_ENDS = {"run.completed", "run.failed", "run.cancelled"}
_LOOPBACK = {"", "0.0.0.0", "::"}  # listening wildcards: the client dials loopback
_decode = msgspec.json.Decoder()


class ChatFailed(Exception):
    """The gateway refused the call or the run failed; the message says which."""


def ws_url(settings: Settings, url: str | None) -> str:
    """``--url`` (``http(s)://`` or ``ws(s)://``, with or without ``/ws``), else this configuration's
    host and port."""
    if not url:
        host = settings.gateway.host
        host = "127.0.0.1" if host in _LOOPBACK else host
        url = (
            f"ws://[{host}]:{settings.gateway.port}"
            if ":" in host
            else f"ws://{host}:{settings.gateway.port}"
        )
    url = url.rstrip("/")
    if url.startswith(("http://", "https://")):
        url = "ws" + url[4:]
    return url if url.endswith("/ws") else url + "/ws"


class _Session:
    """Requests with increasing ids over one connection; events kept until they are read."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def recv(self) -> dict[str, Any]:
        frame: dict[str, Any] = _decode.decode(await self._ws.recv())
        return frame

    async def call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The payload of ``method``'s response. Raises: ChatFailed with the gateway's error."""
        rid = str(next(self._ids))
        await self._ws.send(
            msgspec.json.encode({"type": "req", "id": rid, "method": method, "params": params})
        )
        while True:
            frame = await self.recv()
            if frame.get("type") == "event":
                self.events.append(frame)
            elif frame.get("id") == rid:
                if not frame.get("ok"):
                    error = frame.get("error") or {}
                    raise ChatFailed(f"{method}: {error.get('code', 'ERROR')}: {error.get('message', '')}")
                payload: dict[str, Any] = frame.get("payload") or {}
                return payload

    async def next_event(self) -> dict[str, Any]:
        if self.events:
            return self.events.pop(0)
        while True:
            frame = await self.recv()
            if frame.get("type") == "event":
                return frame


async def chat(
    url: str, token: str, agent: str, message: str, *, user_id: str, session_key: str, out: TextIO
) -> str:
    """Send ``message`` to ``agent`` and write the answer to ``out`` as it streams.

    Returns: the session key. Raises: ChatFailed (refused call, failed or cancelled run),
    OSError / ``websockets`` errors when the gateway cannot be reached or closes the connection.
    Cancellation closes the connection; the run goes on in the gateway (``chat.abort`` stops it).
    """
    async with websockets.connect(url, max_size=None) as ws:
        session = _Session(ws)
        await session.call("connect", {"token": token, "user_id": user_id, "protocol": 3})
        params: dict[str, Any] = {"message": message, "agentId": agent, "wait": False, "stream": True}
        if session_key:
            params["sessionKey"] = session_key
        started = await session.call("chat.send", params)
        key = str(started.get("sessionKey") or session_key)
        if started.get("injected") or started.get("cancelled"):
            out.write("(the session's running answer took the message)\n" if started.get("injected") else "")
            return key
        await _stream(session, str(started["runId"]), out)
        return key


async def _stream(session: _Session, run_id: str, out: TextIO) -> None:
    """Write the run's chunks; when it streamed none, the final content. Raises: ChatFailed."""
    streamed = False
    while True:
        frame = await session.next_event()
        event = frame.get("payload") or {}
        if frame.get("event") != "agent" or event.get("runId") != run_id:
            continue
        kind, data = event.get("type"), event.get("payload") or {}
        if kind == "chunk" and data.get("content"):
            out.write(str(data["content"]))
            out.flush()
            streamed = True
        elif kind in _ENDS:
            if kind == "run.completed" and not streamed:
                out.write(str(data.get("content") or ""))
            out.write("\n")
            out.flush()
            if kind != "run.completed":
                raise ChatFailed(f"{kind}: {data.get('error') or 'cancelled'}")
            return


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """The ``chat`` subcommand on ``sub`` (``cmd_chat`` in ``clawgate.cli`` runs it)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        "chat",
        help="send one message to an agent and stream its answer (needs a running gateway)",
        description=(
            "Send MESSAGE to AGENT through a running gateway's WebSocket and print the answer as it "
            "streams. The session key is printed on stderr: pass it to --session to continue."
        ),
    )
    parser.add_argument("agent", metavar="AGENT", help="agent key (or id)")
    # SUPPRESS keeps a --config given before the command when none follows it.
    parser.add_argument("--config", default=argparse.SUPPRESS, help="path to config.json (host, port, token)")
    parser.add_argument("--host", help="gateway address (default: gateway.host, loopback for 0.0.0.0)")
    parser.add_argument("--port", type=int, help="gateway port (default: gateway.port, 18790)")
    parser.add_argument("message", metavar="MESSAGE", help="the message to send")
    parser.add_argument("--url", help="gateway URL, http(s):// or ws(s):// (default: ws://HOST:PORT/ws)")
    parser.add_argument(
        "--token",
        help="gateway token or API key (default: $CLAWGATE_GATEWAY_TOKEN; none in development mode)",
    )
    parser.add_argument("--user", default="cli", help="user id to chat as (default: cli)")
    parser.add_argument("--session", default="", help="session key to continue (default: a new one)")
    return parser


def report(key: str, err: TextIO = sys.stderr) -> None:
    print(f"session: {key}", file=err)
