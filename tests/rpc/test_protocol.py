"""The sans-I/O protocol core: bytes in, bytes out; no socket, no event loop, no database."""

from __future__ import annotations

import json
from typing import Annotated, Any

import pytest
from msgspec import Meta, Raw, Struct

from clawgate.errors import AlreadyExists, InvalidRequest, NotFound, ResourceExhausted, Unauthorized
from clawgate.principal import Role
from clawgate.rpc.methods import METHODS
from clawgate.rpc.protocol import Protocol, decode_params
from clawgate.rpc.types import CallContext, Method


class _Inner(Struct, forbid_unknown_fields=True):
    size: Annotated[int, Meta(ge=1)]


class _Params(Struct, kw_only=True, forbid_unknown_fields=True):
    name: str
    inner: _Inner | None = None


async def _handler(ctx: CallContext, params: _Params) -> None:
    return None


_METHOD = Method(_Params, _handler, Role.VIEWER)


def _frame(data: bytes) -> Any:
    return json.loads(data)


def _native(**fields: Any) -> bytes:
    return json.dumps({"type": "req", **fields}).encode()


class TestNativeFraming:
    def test_request_decodes_to_call(self) -> None:
        """A native request yields one call with its id, method and raw params."""
        proto = Protocol()
        reply = proto.receive(_native(id="7", method="health", params={"a": 1}))
        assert reply.error is None
        assert len(reply.calls) == 1
        call = reply.calls[0]
        assert (call.id, call.method, call.notify) == ("7", "health", False)
        assert json.loads(bytes(call.params)) == {"a": 1}
        assert proto.mode == "native"

    def test_result_frame_echoes_id(self) -> None:
        """A result is ``{type:"res", id, ok:true, payload}``."""
        proto = Protocol()
        proto.receive(_native(id="1", method="health"))
        assert _frame(proto.result("1", {"x": 1})) == {
            "type": "res",
            "id": "1",
            "ok": True,
            "payload": {"x": 1},
        }

    def test_malformed_json_answers_empty_id_invalid_request(self) -> None:
        """Malformed JSON yields an error frame with id "" and INVALID_REQUEST, and no calls."""
        proto = Protocol()
        reply = proto.receive(b"{not json")
        assert reply.calls == []
        assert reply.error is not None
        frame = _frame(reply.error)
        assert frame["type"] == "res"
        assert frame["id"] == ""
        assert frame["ok"] is False
        assert frame["error"]["code"] == "INVALID_REQUEST"

    def test_unknown_frame_type_is_invalid_request(self) -> None:
        """A frame whose ``type`` is not ``req`` is refused with INVALID_REQUEST, under its id."""
        reply = Protocol().receive(json.dumps({"type": "ping", "id": "1", "method": "x"}).encode())
        assert reply.error is not None
        frame = _frame(reply.error)
        assert frame["error"]["code"] == "INVALID_REQUEST"
        assert frame["id"] == "1"

    def test_unknown_envelope_field_is_invalid_request(self) -> None:
        """An extra field in the envelope is refused, naming the field."""
        reply = Protocol().receive(_native(id="1", method="health", extra=True))
        assert reply.error is not None
        frame = _frame(reply.error)
        assert frame["error"]["code"] == "INVALID_REQUEST"
        assert "extra" in frame["error"]["message"]

    def test_connection_survives_bad_frame(self) -> None:
        """After a malformed frame the same protocol still decodes a good one."""
        proto = Protocol()
        proto.receive(b"[[[")
        reply = proto.receive(_native(id="2", method="status"))
        assert reply.error is None
        assert reply.calls[0].method == "status"

    def test_error_frame_carries_retry_fields(self) -> None:
        """A rate-limit error is retryable and carries ``retryAfterMs``."""
        proto = Protocol()
        proto.receive(_native(id="1", method="x"))
        frame = _frame(proto.error("1", ResourceExhausted(seconds=2, retry_after_ms=2000)))
        assert frame["error"]["code"] == "RESOURCE_EXHAUSTED"
        assert frame["error"]["retryable"] is True
        assert frame["error"]["retryAfterMs"] == 2000

    def test_error_message_is_localised(self) -> None:
        """The error message follows the connection's locale."""
        proto = Protocol()
        proto.receive(_native(id="1", method="x"))
        vi = _frame(proto.error("1", Unauthorized("first_request_connect"), "vi"))
        zh = _frame(proto.error("1", Unauthorized("first_request_connect"), "zh"))
        assert vi["error"]["message"] == "yêu cầu đầu tiên phải là connect"
        assert zh["error"]["message"] == "第一个请求必须是 connect"


class TestParams:
    def test_valid_params_decode_to_struct(self) -> None:
        """Params decode with the method's type."""
        params = decode_params(_METHOD, Raw(b'{"name":"a","inner":{"size":2}}'))
        assert params == _Params(name="a", inner=_Inner(size=2))

    def test_missing_params_mean_empty_object(self) -> None:
        """Absent or null params decode as ``{}`` (and so name a missing required field)."""
        with pytest.raises(InvalidRequest) as info:
            decode_params(_METHOD, Raw(b"null"))
        assert info.value.details["field"] == "$.name"

    def test_wrong_type_names_nested_field_path(self) -> None:
        """A type error names the path of the offending field."""
        with pytest.raises(InvalidRequest) as info:
            decode_params(_METHOD, Raw(b'{"name":"a","inner":{"size":0}}'))
        assert info.value.code == "INVALID_REQUEST"
        assert info.value.details["field"] == "$.inner.size"

    def test_unknown_param_names_its_path(self) -> None:
        """An unknown field is refused and named."""
        with pytest.raises(InvalidRequest) as info:
            decode_params(_METHOD, Raw(b'{"name":"a","bogus":1}'))
        assert info.value.details["field"] == "$.bogus"

    def test_every_method_but_connect_forbids_unknown_fields(self) -> None:
        """Params structs refuse unknown fields; connect is the documented exception."""
        for name, method in METHODS.items():
            if method.params is None or name == "connect":
                continue
            config = method.params.__struct_config__
            assert config.forbid_unknown_fields, name


class TestEvents:
    def test_seq_counts_from_one_without_gaps(self) -> None:
        """Event ``seq`` is 1, 2, 3 ... per protocol instance."""
        proto = Protocol()
        proto.receive(_native(id="1", method="x"))
        seqs = [_frame(proto.event("tick", {"ts": i}))["seq"] for i in range(5)]
        assert seqs == [1, 2, 3, 4, 5]
        assert _frame(proto.event("tick", None)) == {"type": "event", "event": "tick", "seq": 6}

    def test_new_protocol_starts_again_at_one(self) -> None:
        """A new connection (protocol) starts its own sequence."""
        first, second = Protocol(), Protocol()
        first.event("tick", {})
        first.event("tick", {})
        assert _frame(second.event("tick", {}))["seq"] == 1


def _rpc(**fields: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", **fields}


class TestJsonRpc:
    def _proto(self) -> Protocol:
        proto = Protocol()
        reply = proto.receive(json.dumps(_rpc(id=1, method="connect", params={})).encode())
        assert proto.mode == "jsonrpc"
        assert reply.calls[0].id == 1
        return proto

    def test_result_shape(self) -> None:
        """A JSON-RPC result echoes the id with its type."""
        proto = self._proto()
        assert _frame(proto.result(1, {"a": 1})) == {"jsonrpc": "2.0", "id": 1, "result": {"a": 1}}
        assert _frame(proto.result("x", None)) == {"jsonrpc": "2.0", "id": "x", "result": None}

    def test_parse_error_is_32700(self) -> None:
        """Malformed JSON on a JSON-RPC connection answers -32700 with id null."""
        proto = self._proto()
        reply = proto.receive(b"{oops")
        assert reply.error is not None
        frame = _frame(reply.error)
        assert frame["id"] is None
        assert frame["error"]["code"] == -32700
        assert frame["error"]["data"]["code"] == "INVALID_REQUEST"

    def test_invalid_request_is_32600(self) -> None:
        """A request without a method answers -32600."""
        reply = self._proto().receive(json.dumps(_rpc(id=2)).encode())
        assert reply.error is not None
        assert _frame(reply.error)["error"]["code"] == -32600

    @pytest.mark.parametrize(
        ("error", "number", "code"),
        [
            (InvalidRequest("unknown_method", method="nope"), -32601, "INVALID_REQUEST"),
            (InvalidRequest(detail="bad", details={"field": "$.x"}), -32602, "INVALID_REQUEST"),
            (Unauthorized(), -32001, "UNAUTHORIZED"),
            (Unauthorized("first_request_connect"), -32001, "UNAUTHORIZED"),
            (NotFound(kind="agent", id="x"), -32004, "NOT_FOUND"),
            (AlreadyExists(kind="agent", id="x"), -32009, "ALREADY_EXISTS"),
            (ResourceExhausted(seconds=1, retry_after_ms=1000), -32029, "RESOURCE_EXHAUSTED"),
        ],
    )
    def test_error_numbers_carry_string_code(self, error: Exception, number: int, code: str) -> None:
        """Each error maps to its JSON-RPC number; the string code travels in ``data.code``."""
        assert isinstance(error, InvalidRequest | Unauthorized | NotFound | AlreadyExists | ResourceExhausted)
        frame = _frame(self._proto().error(5, error))
        assert frame["id"] == 5
        assert frame["error"]["code"] == number
        assert frame["error"]["data"]["code"] == code

    def test_invalid_params_details_travel_in_data(self) -> None:
        """Validation details (the field path) are in ``error.data.details``."""
        frame = _frame(self._proto().error(3, InvalidRequest(detail="x", details={"field": "$.name"})))
        assert frame["error"]["data"]["details"] == {"field": "$.name"}

    def test_notification_has_no_id(self) -> None:
        """A request without ``id`` is a notification; ``id: null`` is a real request."""
        proto = self._proto()
        note = proto.receive(json.dumps(_rpc(method="health")).encode()).calls[0]
        real = proto.receive(json.dumps(_rpc(method="health", id=None)).encode()).calls[0]
        assert note.notify is True
        assert real.notify is False
        assert real.id is None

    def test_batch_yields_calls_in_order(self) -> None:
        """An array is a batch: one call per element, answers joined into one array."""
        proto = self._proto()
        batch = [_rpc(id=1, method="health"), _rpc(method="status"), _rpc(id="z", method="agents.list")]
        reply = proto.receive(json.dumps(batch).encode())
        assert reply.batch is True
        assert [c.method for c in reply.calls] == ["health", "status", "agents.list"]
        assert [c.notify for c in reply.calls] == [False, True, False]
        joined = proto.batch([proto.result(1, 1), proto.result("z", 2)])
        assert [r["id"] for r in _frame(joined)] == [1, "z"]

    def test_invalid_batch_element_gets_its_own_error(self) -> None:
        """One malformed element of a batch is answered -32600 on its own; the others still run."""
        proto = self._proto()
        reply = proto.receive(json.dumps([_rpc(id=1, method="health"), {"bogus": 1}, 7]).encode())
        assert reply.batch is True
        assert reply.error is None
        good, bad, worse = reply.calls
        assert good.method == "health"
        assert good.error is None
        for call in (bad, worse):
            assert call.error is not None
            answer = _frame(call.error)
            assert answer["id"] is None
            assert answer["error"]["code"] == -32600

    def test_empty_batch_is_invalid(self) -> None:
        """An empty array is an invalid request."""
        reply = self._proto().receive(b"[]")
        assert reply.error is not None
        assert _frame(reply.error)["error"]["code"] == -32600

    def test_events_are_notifications_with_seq(self) -> None:
        """Events are ``method:"event"`` notifications carrying name, payload and seq."""
        proto = self._proto()
        frames = [_frame(proto.event("tick", {"ts": n})) for n in range(3)]
        assert frames[0] == {
            "jsonrpc": "2.0",
            "method": "event",
            "params": {"event": "tick", "payload": {"ts": 0}, "seq": 1},
        }
        assert [f["params"]["seq"] for f in frames] == [1, 2, 3]
        assert all("id" not in f for f in frames)
