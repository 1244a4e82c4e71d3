"""The sans-I/O protocol core: bytes in -> calls; results, errors and events -> bytes out.

Nothing here touches a socket or the event loop. One ``Protocol`` per connection; it decides the
framing from the first frame (native ``req/res/event`` or JSON-RPC 2.0, spec section 1) and keeps
the per-connection event ``seq`` (1, 2, 3 ... without gaps).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal

import msgspec

from clawgate import wire
from clawgate.errors import GatewayError, InvalidRequest

from .messages import (
    ErrorBody,
    EventFrame,
    JsonRpcError,
    JsonRpcEvent,
    JsonRpcRequest,
    JsonRpcResponse,
    Request,
    ResponseFrame,
    is_jsonrpc,
)
from .types import Method

__all__ = ["Call", "Protocol", "Reply", "decode_params"]

Mode = Literal["native", "jsonrpc"]

# JSON-RPC numbers for errors whose string code is shared (INVALID_REQUEST covers four cases).
_RPC_NUMBERS: Final[Mapping[str, int]] = {
    "invalid_json": -32700,
    "invalid_frame": -32600,
    "unknown_method": -32601,
    "first_request_connect": -32001,
}

_encoder = msgspec.json.Encoder()
_native = msgspec.json.Decoder(Request)
# A frame is one request object or a batch; batch elements are decoded one by one so that an invalid
# element gets its own error answer.
_jsonrpc_one = msgspec.json.Decoder(JsonRpcRequest)
_jsonrpc_batch = msgspec.json.Decoder(list[msgspec.Raw])


class _Id(msgspec.Struct):
    """Just the id of a frame whose envelope did not decode (unknown fields are skipped)."""

    id: str | wire.Int64 | msgspec.UnsetType | None = msgspec.UNSET


_lenient_id = msgspec.json.Decoder(_Id)
_lenient_ids = msgspec.json.Decoder(list[_Id])


class Call(msgspec.Struct, frozen=True):
    """One decoded request. ``notify`` is a JSON-RPC notification: run it, answer nothing.

    (A Struct, not a dataclass, as ``Reply``: built once per frame, and a frozen dataclass's
    ``__init__`` costs about 1 us more, measured.)"""

    id: Any
    method: str
    params: msgspec.Raw
    notify: bool = False
    error: bytes | None = None  # a batch element that was invalid: its answer is already decided


class Reply(msgspec.Struct, frozen=True):
    """What ``Protocol.receive`` produced: calls to run, or an error frame to send at once."""

    calls: list[Call]
    error: bytes | None = None
    batch: bool = False


def decode_params(method: Method, raw: msgspec.Raw) -> Any:
    """Decode ``params`` with the method's cached decoder (``clawgate.wire``: no NUL outside chat
    text, 64-bit integers, bounded nesting).

    Raises: InvalidRequest with ``details`` naming the offending field path (``$.name``).
    """
    if method.params is None:
        return None
    data = bytes(raw) if raw else b"{}"
    if data.strip() in {b"null", b""}:
        data = b"{}"
    return wire.decode(data, method.params)


def _envelope_error(data: bytes, exc: Exception, jsonrpc: bool) -> InvalidRequest:
    """The error for a frame whose envelope did not decode."""
    if isinstance(exc, RecursionError):
        return wire.too_deep()
    if isinstance(exc, msgspec.ValidationError):
        return InvalidRequest("invalid_frame" if jsonrpc else "invalid_request", detail=str(exc))
    assert isinstance(exc, msgspec.DecodeError)
    return wire.malformed(exc, data)


def _salvaged_id(data: bytes, jsonrpc: bool) -> Any:
    """The id to answer a broken frame under, read leniently (unknown fields skipped, the frame
    salvaged) so that the caller's call resolves; None when it cannot be read (or, in native
    framing, is not a string)."""
    call_id = next(iter(_lenient(data, _lenient_id)), None)
    if not jsonrpc and not isinstance(call_id, str):
        return None
    return call_id


def _lenient(data: bytes, decoder: msgspec.json.Decoder[Any]) -> list[Any]:
    """The ids readable in ``data`` (one frame, or a batch with ``_lenient_ids``), salvaging it if
    need be; requests without an id (notifications) are left out. A batch is read whole or not at
    all: answering some of its requests would leave the others waiting."""
    salvaged, whole = wire.salvage(data)
    for attempt in (data, salvaged):
        try:
            found = decoder.decode(attempt)
        except (msgspec.DecodeError, RecursionError):
            continue
        if isinstance(found, list) and not whole and attempt is salvaged:
            return []
        return [e.id for e in (found if isinstance(found, list) else [found]) if e.id is not msgspec.UNSET]
    return []


class Protocol:
    """Frame codec and per-connection counters for one connection."""

    __slots__ = ("mode", "seq")

    def __init__(self) -> None:
        self.mode: Mode | None = None
        self.seq = 0

    # -- inbound ------------------------------------------------------------------------------

    def receive(self, data: bytes) -> Reply:
        """Decode one frame. Malformed input yields an error frame; the connection stays open."""
        if self.mode is None:
            self.mode = "jsonrpc" if is_jsonrpc(data) else "native"
        if self.mode == "native":
            try:
                req = _native.decode(data)
            except (msgspec.DecodeError, RecursionError) as exc:
                error = _envelope_error(data, exc, jsonrpc=False)
                return Reply([], self.error(_salvaged_id(data, jsonrpc=False), error))
            return Reply([Call(req.id, req.method, req.params)])
        try:
            if data.lstrip()[:1] != b"[":
                return Reply([self._jsonrpc_call(_jsonrpc_one.decode(data))])
            elements = _jsonrpc_batch.decode(data)
        except (msgspec.DecodeError, RecursionError) as exc:
            error = _envelope_error(data, exc, jsonrpc=True)
            if data.lstrip()[:1] == b"[":
                # A batch that does not decode: each request in it gets the error (read once).
                if ids := _lenient(data, _lenient_ids):
                    return Reply([], self.batch([self.error(i, error) for i in ids]))
                return Reply([], self.error(None, error))
            return Reply([], self.error(_salvaged_id(data, jsonrpc=True), error))
        if not elements:
            return Reply([], self.error(None, InvalidRequest("invalid_frame", detail="empty batch")))
        return Reply([self._element(raw) for raw in elements], batch=True)

    def _element(self, raw: msgspec.Raw) -> Call:
        """One batch element; an invalid one gets its own error answer (JSON-RPC 2.0 section 6)."""
        try:
            return self._jsonrpc_call(_jsonrpc_one.decode(raw))
        except msgspec.DecodeError as exc:
            data = bytes(raw)
            error = self.error(_salvaged_id(data, jsonrpc=True), _envelope_error(data, exc, jsonrpc=True))
            return Call(None, "", raw, error=error)

    @staticmethod
    def _jsonrpc_call(req: JsonRpcRequest) -> Call:
        notify = req.id is msgspec.UNSET
        return Call(None if notify else req.id, req.method, req.params, notify=notify)

    # -- outbound -----------------------------------------------------------------------------

    def result(self, call_id: Any, payload: Any) -> bytes:
        if self.mode == "jsonrpc":
            return _encoder.encode(JsonRpcResponse(jsonrpc="2.0", id=call_id, result=payload))
        return _encoder.encode(ResponseFrame(id=str(call_id), ok=True, payload=payload))

    def error(self, call_id: Any, exc: GatewayError, locale: str = "en") -> bytes:
        message = exc.message(locale)
        if self.mode == "jsonrpc":
            data: dict[str, Any] = {"code": exc.code}
            if exc.details is not None:
                data["details"] = exc.details
            if exc.retry_after_ms is not None:
                data["retryable"], data["retryAfterMs"] = True, exc.retry_after_ms
            number = _RPC_NUMBERS.get(exc.key, exc.rpc_code)
            return _encoder.encode(
                JsonRpcResponse(
                    jsonrpc="2.0", id=call_id, error=JsonRpcError(code=number, message=message, data=data)
                )
            )
        body = ErrorBody(
            code=exc.code,
            message=message,
            details=exc.details,
            retryable=exc.retryable,
            retryAfterMs=exc.retry_after_ms,
        )
        return _encoder.encode(
            ResponseFrame(id="" if call_id is None else str(call_id), ok=False, error=body)
        )

    def batch(self, frames: list[bytes]) -> bytes:
        """Join JSON-RPC responses of one batch into an array frame."""
        return b"[" + b",".join(frames) + b"]"

    def event(self, name: str, payload: Any) -> bytes:
        """Encode an event with the next ``seq``. Call in the order frames are queued."""
        self.seq += 1
        if self.mode == "jsonrpc":
            return _encoder.encode(JsonRpcEvent(params={"event": name, "payload": payload, "seq": self.seq}))
        return _encoder.encode(EventFrame(event=name, seq=self.seq, payload=payload))
