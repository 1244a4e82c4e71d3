"""Bad input over the WebSocket is an INVALID_REQUEST answered under the caller's id, never INTERNAL,
never a dropped connection: NUL characters and integers beyond 64 bits in the params of every
method of the method table, deep nesting, and envelopes that do not decode."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from clawgate.rpc.methods import METHODS
from tests.conftest import ServerFactory
from tests.runtime.conftest import chat_setup
from tests.samples import dict_fields, int_fields, sample, text_fields
from tests.support import GATEWAY_TOKEN, RunningServer, ws_connect

# Chat text: NUL is stripped there instead of refused.
CHAT_TEXT = {("chat.send", "message"), ("chat.inject", "message")}
BIG = 2**64
DEEP = "[" * 5000 + "]" * 5000


def _field_of(res: dict[str, Any]) -> str | None:
    if res["ok"] or res["error"]["code"] != "INVALID_REQUEST":
        return None
    return str((res["error"].get("details") or {}).get("field"))


def _methods() -> list[tuple[str, type]]:
    return [(name, m.params) for name, m in METHODS.items() if m.params is not None and name != "connect"]


class TestNul:
    async def test_nul_in_any_text_param_is_refused_naming_it(self, unthrottled: RunningServer) -> None:
        """Every text param and every free-form object of every method: NUL is INVALID_REQUEST
        naming the field; in chat text it is stripped instead. The connection stays usable."""
        wrong: list[str] = []
        cases = 0
        async with ws_connect(unthrottled, token=GATEWAY_TOKEN, user_id="owner") as ws:
            for method, kind in _methods():
                for name in text_fields(kind):
                    cases += 1
                    res = await ws.call(method, {**sample(kind), name: "a\x00b"})
                    if (method, name) in CHAT_TEXT:
                        if _field_of(res) == f"$.{name}" or res.get("error", {}).get("code") == "INTERNAL":
                            wrong.append(f"{method} chat text {name}: {res}")
                    elif _field_of(res) != f"$.{name}":
                        wrong.append(f"{method} {name}: {res}")
                for name in dict_fields(kind):
                    cases += 1
                    res = await ws.call(method, {**sample(kind), name: {"k": "a\x00b"}})
                    if not (_field_of(res) or "").startswith(f"$.{name}"):
                        wrong.append(f"{method} object {name}: {res}")
            assert (await ws.ok("health"))["status"] == "ok"
        assert cases > 50
        assert wrong == []

    async def test_connect_refuses_nul_naming_the_param(self, unthrottled: RunningServer) -> None:
        async with ws_connect(unthrottled, _skip=True) as ws:
            res = await ws.call("connect", {"token": GATEWAY_TOKEN, "user_id": "a\x00b"})
        assert _field_of(res) == "$.user_id"

    async def test_chat_send_strips_nul_from_the_message(self, make_server: ServerFactory) -> None:
        """``chat.send`` with ``a\\u0000b``: the model and the stored history see ``ab``; a NUL
        idempotency key is refused naming it."""
        async with (
            chat_setup(make_server) as chat,
            ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="u") as ws,
        ):
            res = await ws.ok("chat.send", {"message": "a\u0000b", "agentId": "helper"})
            history = await ws.ok("chat.history", {"sessionKey": res["sessionKey"]})
            keyed = await ws.call(
                "chat.send", {"message": "x", "agentId": "helper", "idempotencyKey": "k\u0000"}
            )
        assert history["messages"][0]["content"] == "ab"
        assert "\\u0000" not in json.dumps(chat.upstream.requests)
        assert _field_of(keyed) == "$.idempotencyKey"


class TestIntegers:
    async def test_integers_beyond_64_bits_are_refused_naming_the_param(
        self, unthrottled: RunningServer
    ) -> None:
        """Every integer param and any integer in a free-form object of every method: 2**64 is
        INVALID_REQUEST naming the field."""
        wrong: list[str] = []
        cases = 0
        async with ws_connect(unthrottled, token=GATEWAY_TOKEN, user_id="owner") as ws:
            for method, kind in _methods():
                for name in int_fields(kind):
                    cases += 1
                    res = await ws.call(method, {**sample(kind), name: BIG})
                    if _field_of(res) != f"$.{name}":
                        wrong.append(f"{method} {name}: {res}")
                for name in dict_fields(kind):
                    cases += 1
                    res = await ws.call(method, {**sample(kind), name: {"n": [-BIG]}})
                    if not (_field_of(res) or "").startswith(f"$.{name}"):
                        wrong.append(f"{method} object {name}: {res}")
        assert cases > 20
        assert wrong == []

    async def test_message_indexes_fit_the_integer_column(self, make_server: ServerFactory) -> None:
        """Message indexes are stored as 32-bit ``integer``: ``chat.history`` with ``afterIndex``
        2**31 on an existing session is INVALID_REQUEST naming it (it was INTERNAL), and the REST
        cursor read and branch refuse 2**31 the same way."""
        async with (
            chat_setup(make_server) as chat,
            ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="u") as ws,
        ):
            key = (await ws.ok("chat.send", {"message": "hi", "agentId": "helper"}))["sessionKey"]
            history = await ws.call("chat.history", {"sessionKey": key, "afterIndex": 2**31})
            last = await ws.ok("chat.history", {"sessionKey": key, "afterIndex": 2**31 - 2})
            async with chat.admin() as http:
                follow = await http.get(f"/v1/chat/sessions/{key}/history/follow", params={"cursor": 2**31})
                branch = await http.post(f"/v1/chat/sessions/{key}/branch", json={"up_to_index": 2**31})
        assert _field_of(history) == "$.afterIndex"
        assert last["messages"] == []
        assert follow.json()["error"]["details"]["field"] == "$.cursor"
        assert branch.json()["error"]["details"]["field"] == "$.up_to_index"


class TestNesting:
    async def test_deep_frame_is_answered_under_its_id_and_the_connection_lives(
        self, unthrottled: RunningServer
    ) -> None:
        """A frame nested 5,000 deep is INVALID_REQUEST under its id; a call sent just before it
        and one sent after are answered; the connection stays open."""
        async with ws_connect(unthrottled, token=GATEWAY_TOKEN) as ws:
            before = await ws.send("status")
            await ws.send_raw('{"type":"req","id":"x","method":"health","params":' + DEEP + "}")
            deep = await ws.response("x")
            assert (await ws.response(before))["ok"]
            assert (await ws.ok("health"))["status"] == "ok"
        assert deep["error"]["code"] == "INVALID_REQUEST"
        assert "nested deeper than 64 levels" in deep["error"]["message"]

    async def test_deep_params_are_refused_saying_why(self, unthrottled: RunningServer) -> None:
        """Params nested past 64 levels in a free-form object are refused naming the field."""
        async with ws_connect(unthrottled, token=GATEWAY_TOKEN, user_id="owner") as ws:
            res = await ws.call(
                "agents.create", {"agent_key": "d", "tools_config": {"n": json.loads("[" * 80 + "]" * 80)}}
            )
        assert "nested deeper than 64 levels" in res["error"]["message"]
        assert (_field_of(res) or "").startswith("$.tools_config.n")

    async def test_deep_first_frame_before_connect_is_answered(self, unthrottled: RunningServer) -> None:
        """Even as the first frame (where the framing is sniffed), a deep frame is answered."""
        async with ws_connect(unthrottled, _skip=True) as ws:
            await ws.send_raw('{"type":"req","id":"first","method":"connect","params":' + DEEP + "}")
            res = await ws.response("first")
            again = await ws.call("connect", {"token": GATEWAY_TOKEN})
        assert res["error"]["code"] == "INVALID_REQUEST"
        assert again["ok"]

    async def test_deep_jsonrpc_first_frame_sets_jsonrpc_framing(self, unthrottled: RunningServer) -> None:
        """The framing is sniffed from the first frame even when it is too deep to decode."""
        async with websockets.connect(unthrottled.ws_url, max_size=None) as raw:
            await raw.send('{"jsonrpc":"2.0","id":1,"method":"connect","params":' + DEEP + "}")
            res = json.loads(await asyncio.wait_for(raw.recv(), 5))
        assert res["jsonrpc"] == "2.0"
        assert res["id"] == 1
        assert res["error"]["data"]["code"] == "INVALID_REQUEST"

    async def test_deep_jsonrpc_frame_is_answered_under_its_id(self, unthrottled: RunningServer) -> None:
        async with websockets.connect(unthrottled.ws_url, max_size=None) as raw:
            await raw.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": 1, "method": "connect", "params": {"token": GATEWAY_TOKEN}}
                )
            )
            connected = json.loads(await asyncio.wait_for(raw.recv(), 5))
            await raw.send('{"jsonrpc":"2.0","id":7,"method":"health","params":' + DEEP + "}")
            res = json.loads(await asyncio.wait_for(raw.recv(), 5))
        assert connected["id"] == 1
        assert res["id"] == 7
        assert res["error"]["data"]["code"] == "INVALID_REQUEST"


class TestEnvelope:
    @pytest.mark.parametrize(
        ("frame", "says"),
        [
            (r'{"type":"req","id":"s1","method":"health","params":{"a":"\ud800"}}', "lone UTF-16 surrogate"),
            (r'{"type":"req","id":"s1","method":"health","params":"\udc00"}', "surrogate"),
            ('{"type":"req","id":"s1","method":5}', "$.method"),
            ('{"type":"req","id":"s1","method":"health","zzz":1}', "zzz"),
            ('{"type":"nope","id":"s1","method":"health"}', "$.type"),
        ],
    )
    async def test_undecodable_envelope_is_answered_under_its_id(
        self, unthrottled: RunningServer, frame: str, says: str
    ) -> None:
        """The call resolves: the error comes back under the frame's id, with a correct message."""
        async with ws_connect(unthrottled, token=GATEWAY_TOKEN) as ws:
            await ws.send_raw(frame)
            res = await ws.response("s1")
        assert res["error"]["code"] == "INVALID_REQUEST"
        assert says in res["error"]["message"]
        assert "truncated" not in res["error"]["message"]

    async def test_unreadable_id_is_answered_under_empty_id(self, unthrottled: RunningServer) -> None:
        async with ws_connect(unthrottled, token=GATEWAY_TOKEN) as ws:
            await ws.send_raw('{"type":"req","id":5,"method":"health"}')
            res = await ws.recv()
        assert res["id"] == ""
        assert res["error"]["code"] == "INVALID_REQUEST"

    async def test_jsonrpc_undecodable_envelope_is_answered_under_its_id(
        self, unthrottled: RunningServer
    ) -> None:
        async with websockets.connect(unthrottled.ws_url) as raw:
            await raw.send(
                json.dumps(
                    {"jsonrpc": "2.0", "id": 1, "method": "connect", "params": {"token": GATEWAY_TOKEN}}
                )
            )
            await asyncio.wait_for(raw.recv(), 5)
            await raw.send(r'{"jsonrpc":"2.0","id":8,"method":"health","params":"\ud800"}')
            surrogate = json.loads(await asyncio.wait_for(raw.recv(), 5))
            await raw.send('{"jsonrpc":"2.0","id":9,"method":["health"]}')
            typed = json.loads(await asyncio.wait_for(raw.recv(), 5))
        assert surrogate["id"] == 8
        assert surrogate["error"]["code"] == -32700
        assert "lone UTF-16 surrogate" in surrogate["error"]["message"]
        assert typed["id"] == 9
        assert typed["error"]["code"] == -32600

    async def test_jsonrpc_batch_that_does_not_parse_answers_each_request(
        self, unthrottled: RunningServer
    ) -> None:
        """A lone surrogate in one element: every request of the batch gets the parse error under
        its id (a notification none); a batch nested too deep is one parse error, id null."""
        async with websockets.connect(unthrottled.ws_url, max_size=None) as raw:
            connect = {"jsonrpc": "2.0", "id": 1, "method": "connect", "params": {"token": GATEWAY_TOKEN}}
            await raw.send(json.dumps(connect))
            await asyncio.wait_for(raw.recv(), 5)
            await raw.send(
                r'[{"jsonrpc":"2.0","id":2,"method":"health","params":"\ud800"},'
                r'{"jsonrpc":"2.0","method":"health"},{"jsonrpc":"2.0","id":"3","method":"status"}]'
            )
            surrogate = json.loads(await asyncio.wait_for(raw.recv(), 5))
            await raw.send('[{"jsonrpc":"2.0","id":4,"method":"health","params":' + DEEP + "}]")
            deep = json.loads(await asyncio.wait_for(raw.recv(), 5))
        assert [r["id"] for r in surrogate] == [2, "3"]
        assert {r["error"]["code"] for r in surrogate} == {-32700}
        assert deep["id"] is None
        assert deep["error"]["data"]["code"] == "INVALID_REQUEST"
