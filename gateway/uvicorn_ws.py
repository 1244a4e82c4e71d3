"""uvicorn's sans-I/O WebSocket protocol with one write per turn of the event loop, not per frame.

Stock uvicorn writes every ``websocket.send`` to the socket at once: one ``write`` system call per
frame, about 40 % of the gateway's time under many small round trips (``bench/ws.py``). Here a data
frame is encoded into the connection's send buffer at once (so the order of frames, and of the close
and ping frames uvicorn writes itself, is kept), and the buffer is written by one callback scheduled
for the next turn of the loop: the answers to the requests of one read, and the events queued
meanwhile, leave in one ``write``. Flow control is uvicorn's: ``send`` waits while the transport is
paused.

Two shortcuts for many small round trips: a text frame with no extension negotiated (no
per-message deflate) is framed here (a two- to ten-byte header before the payload, what
``websockets`` builds through a ``Frame`` and a ``BytesIO``); and the scope announces the extension
``clawgate.websocket.send_frames``, a send event ``{"type": "clawgate.websocket.send_frames",
"frames": [bytes, ...]}`` carrying several text frames already encoded as UTF-8, so that an app
hands over everything it has queued in one ``send`` without decoding it to ``str`` first; the
extension's ``push`` queues such frames without awaiting anything when the transport is not paused.
Apps that do not use it see plain ASGI (``clawgate.server`` selects the class).
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterable
from typing import Any, cast

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.http11 import Request
from websockets.protocol import State

__all__ = ["PUSH_LIMIT", "SEND_FRAMES", "CoalescingWebSocketProtocol"]

PUSH_LIMIT = 65536
"""Bytes ``push_frames`` takes per write at most (uvicorn's default high-water mark of a transport)."""
SEND_FRAMES = "clawgate.websocket.send_frames"
"""The scope extension, and the send event's type, of several UTF-8 text frames sent at once."""

# What uvicorn is handed for a bulk send it must refuse (past our close, before the handshake): it
# raises as for any data frame then.
_REFUSED: ASGISendEvent = {"type": "websocket.send", "bytes": b"", "text": None}
_FIN_TEXT = 0x81  # FIN and the text opcode
_HEAD16 = struct.Struct("!BBH")
_HEAD64 = struct.Struct("!BBQ")


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` writing the data frames sent in one loop turn together."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flush_handle: asyncio.Handle | None = None
        self._pushed = 0  # bytes pushed since the last write

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][SEND_FRAMES] = {"push": self.push_frames}

    def push_frames(self, frames: list[bytes]) -> bool:
        """Queue UTF-8 text frames for the next write without waiting (the extension's ``push``): for
        frames queued outside any call, such as a run's events, which would otherwise each need a
        task to await ``send``. False, with nothing queued, when they must wait: the transport is
        paused or holds unsent data, ``PUSH_LIMIT`` bytes are already waiting for this turn's write
        (the app's own queue then stays the backlog its bound applies to), or the connection is
        closing or gone."""
        if (
            self.disconnected
            or self._pushed >= PUSH_LIMIT
            or not self.writable.is_set()
            or self.transport.get_write_buffer_size()
            or not self._sending()
        ):
            return False
        try:
            self._send_texts(frames)
        except InvalidState:
            return False
        self._pushed += sum(len(frame) for frame in frames)
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)
        return True

    async def send(self, message: ASGISendEvent) -> None:
        """Data frames after the handshake are buffered and flushed on the next loop turn; the
        rest (accept, close, HTTP denial) is uvicorn's, which writes the buffer first.

        Raises: ClientDisconnected once the socket is gone, as uvicorn's ``send`` does.
        """
        kind = message["type"]
        bulk = kind == SEND_FRAMES
        if not (bulk or kind == "websocket.send") or not self._sending():
            await super().send(_REFUSED if bulk else message)
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if not self._sending():  # closed while the transport drained: uvicorn answers that
            await super().send(_REFUSED if bulk else message)
            return
        event = cast("dict[str, Any]", message)  # ours is not among uvicorn's typed events
        try:
            if bulk:
                self._send_texts(event["frames"])
            else:
                data, text = event.get("bytes"), event.get("text")
                if data is not None:
                    self.conn.send_binary(data)
                elif text is not None:
                    self._send_texts((text.encode(),))
        except InvalidState:
            raise ClientDisconnected() from None
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _send_texts(self, frames: Iterable[bytes]) -> None:
        """Text frames (UTF-8 payloads) into the connection's output, framed here when nothing can
        change them on the way (no extension, no fragmented message going, the connection open);
        else by ``websockets``. Raises: InvalidState once the connection is closing."""
        conn = self.conn
        if conn.extensions or conn.expect_continuation_frame or conn.state is not State.OPEN or conn.debug:
            for frame in frames:
                conn.send_text(frame)
            return
        writes = conn.writes
        for frame in frames:
            size = len(frame)
            if size < 126:
                writes.append(bytes((_FIN_TEXT, size)) + frame)
            elif size < 65536:
                writes.append(_HEAD16.pack(_FIN_TEXT, 126, size) + frame)
            else:
                writes.append(_HEAD64.pack(_FIN_TEXT, 127, size))
                writes.append(frame)

    def _sending(self) -> bool:
        """Past the handshake and before our close frame: data frames may go out."""
        return self.handshake_complete and not self.close_sent and self.initial_response is None

    def _flush(self) -> None:
        self._flush_handle = None
        self._pushed = 0
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(b"".join(output))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        super().connection_lost(exc)
