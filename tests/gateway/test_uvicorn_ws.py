"""The WebSocket transport writes the frames of one loop turn at once (``clawgate.uvicorn_ws``).

The client here is a raw TCP socket framed by the ``websockets`` library's sans-I/O client, so that
the test decides how requests are written, and reads the kernel's count of TCP segments received.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame
from websockets.http11 import Response
from websockets.uri import parse_uri

from tests.support import GATEWAY_TOKEN, RunningServer

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads Linux's TCP_INFO")

_SEGS_IN = 140
"""Offset of ``tcpi_segs_in`` (u32) in Linux's ``struct tcp_info``."""


class _RawClient:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, proto: ClientProtocol
    ) -> None:
        self.reader, self.writer, self.proto = reader, writer, proto

    @classmethod
    async def open(cls, url: str) -> _RawClient:
        wsuri = parse_uri(url)
        reader, writer = await asyncio.open_connection(wsuri.host, wsuri.port)
        client = cls(reader, writer, ClientProtocol(wsuri))
        client.proto.send_request(client.proto.connect())
        client.flush()
        await client.events(lambda e: isinstance(e, Response))
        return client

    def flush(self) -> None:
        self.writer.write(b"".join(self.proto.data_to_send()))

    async def events(self, done: Any) -> list[Any]:
        """Read until ``done(event)`` holds for the last event; returns all events read."""
        seen: list[Any] = []
        async with asyncio.timeout(5):
            while not (seen and done(seen[-1])):
                self.proto.receive_data(await self.reader.read(65536))
                seen += self.proto.events_received()
        return seen

    async def replies(self, count: int) -> list[dict[str, Any]]:
        """The next ``count`` response frames (events are skipped)."""
        out: list[dict[str, Any]] = []
        while len(out) < count:
            for event in await self.events(lambda e: isinstance(e, Frame)):
                if isinstance(event, Frame):
                    frame = json.loads(event.data)
                    if frame.get("type") == "res":
                        out.append(frame)
        return out

    def segments_in(self) -> int:
        sock: socket.socket = self.writer.get_extra_info("socket")
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
        if len(info) < _SEGS_IN + 4:
            pytest.skip("this kernel's tcp_info has no segment counts")
        count: int = struct.unpack_from("I", info, _SEGS_IN)[0]
        return count


class TestCoalescedWrites:
    async def test_answers_to_one_read_arrive_in_one_segment(self, server: RunningServer) -> None:
        """Eight ``health`` requests written at once are answered in order, complete, in at most two
        TCP segments (one write, and possibly a bare ACK), not one segment per answer."""
        client = await _RawClient.open(server.ws_url)
        try:
            client.proto.send_text(json.dumps({"type": "req", "id": "c", "method": "connect",
                                               "params": {"token": GATEWAY_TOKEN, "user_id": "owner"}}).encode())  # fmt: skip
            client.flush()
            assert (await client.replies(1))[0]["ok"] is True
            await asyncio.sleep(0.2)  # the ACKs of the connect exchange settle
            before = client.segments_in()
            for n in range(8):
                client.proto.send_text(json.dumps({"type": "req", "id": str(n), "method": "health"}).encode())
            client.flush()  # one write: the server reads all eight at once
            answers = await client.replies(8)
            received = client.segments_in() - before
        finally:
            client.writer.close()
        assert [a["id"] for a in answers] == [str(n) for n in range(8)]
        assert all(a["ok"] and a["payload"]["status"] == "ok" for a in answers)
        assert received <= 2
