"""uvicorn's sans-I/O WebSocket protocol with one write per turn of the event loop, not per frame.

Stock uvicorn writes every ``websocket.send`` to the socket at once: one ``write`` system call per
frame, about 40 % of the gateway's time under many small round trips (``bench/ws.py``). Here a data
frame is encoded into the connection's send buffer at once (so the order of frames, and of the close
and ping frames uvicorn writes itself, is kept), and the buffer is written by one callback scheduled
for the next turn of the loop: the answers to the requests of one read, and the events queued
meanwhile, leave in one ``write``. The ASGI contract is unchanged (``clawgate.server`` selects the
class; nothing in the app knows about it). Flow control is uvicorn's: ``send`` waits while the
transport is paused.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

__all__ = ["CoalescingWebSocketProtocol"]


class CoalescingWebSocketProtocol(WebSocketsSansIOProtocol):
    """``WebSocketsSansIOProtocol`` writing the data frames sent in one loop turn together."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._flush_handle: asyncio.Handle | None = None

    async def send(self, message: ASGISendEvent) -> None:
        """Data frames after the handshake are buffered and flushed on the next loop turn; the
        rest (accept, close, HTTP denial) is uvicorn's, which writes the buffer first.

        Raises: ClientDisconnected once the socket is gone, as uvicorn's ``send`` does.
        """
        if message["type"] != "websocket.send" or not self._sending():
            await super().send(message)
            return
        await self.writable.wait()
        if self.disconnected:
            raise ClientDisconnected()
        if not self._sending():  # closed while the transport drained: uvicorn answers that
            await super().send(message)
            return
        try:
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                self.conn.send_binary(data)
            elif text is not None:
                self.conn.send_text(text.encode())
        except InvalidState:
            raise ClientDisconnected() from None
        if self._flush_handle is None:
            self._flush_handle = self.loop.call_soon(self._flush)

    def _sending(self) -> bool:
        """Past the handshake and before our close frame: data frames may go out."""
        return self.handshake_complete and not self.close_sent and self.initial_response is None

    def _flush(self) -> None:
        self._flush_handle = None
        output = self.conn.data_to_send()
        if output and not self.transport.is_closing():
            self.transport.write(b"".join(output))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        super().connection_lost(exc)
