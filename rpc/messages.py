"""Wire frames as msgspec Structs, decoded in two steps: the envelope first (``params`` kept raw),
then ``params`` with the method's own cached decoder."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, Raw, Struct, UnsetType

from clawgate.wire import Int64, salvage

__all__ = [
    "ErrorBody",
    "EventFrame",
    "JsonRpcError",
    "JsonRpcEvent",
    "JsonRpcRequest",
    "JsonRpcResponse",
    "Request",
    "ResponseFrame",
]

_EMPTY = Raw(b"{}")


class Request(Struct, frozen=True, forbid_unknown_fields=True):
    """``{"type":"req", "id", "method", "params"?}``."""

    type: Literal["req"]
    id: str
    method: str
    params: Raw = _EMPTY


class JsonRpcRequest(Struct, frozen=True, forbid_unknown_fields=True):
    """JSON-RPC 2.0: ``id`` UNSET is a notification (no response); ``None`` is a real null id."""

    jsonrpc: Literal["2.0"]
    method: str
    params: Raw = _EMPTY
    id: Int64 | str | UnsetType | None = UNSET


class ErrorBody(Struct, frozen=True, omit_defaults=True):
    code: str
    message: str
    details: Any = None
    retryable: bool = False
    retryAfterMs: int | None = None


class ResponseFrame(Struct, frozen=True, omit_defaults=True, tag_field="type", tag="res"):
    id: str
    ok: bool
    payload: Any = None
    error: ErrorBody | None = None


class EventFrame(Struct, frozen=True, omit_defaults=True, tag_field="type", tag="event"):
    event: str
    seq: int
    payload: Any = None


class JsonRpcError(Struct, frozen=True, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class JsonRpcResponse(Struct, frozen=True, omit_defaults=True):
    jsonrpc: Literal["2.0"]
    id: int | str | None
    result: Any = UNSET
    error: JsonRpcError | UnsetType = UNSET


class JsonRpcEvent(Struct, frozen=True):
    params: dict[str, Any]
    jsonrpc: str = "2.0"
    method: str = "event"


def is_jsonrpc(data: bytes) -> bool:
    """Cheap sniff of the first frame: does it carry ``"jsonrpc"``? (Decided once per connection.)"""
    try:
        probe = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError):
        try:  # too deep, or a lone surrogate escape: the envelope may still be readable
            probe = msgspec.json.decode(salvage(data)[0])
        except msgspec.DecodeError:
            return False
    if isinstance(probe, list):
        return any(isinstance(item, dict) and item.get("jsonrpc") == "2.0" for item in probe)
    return isinstance(probe, dict) and probe.get("jsonrpc") == "2.0"
