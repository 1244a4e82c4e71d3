"""Bad input over REST is a 400 naming the field, never a 500: NUL characters, integers beyond 64 bits,
deep nesting and malformed JSON, on every route of the route table (bodies, queries, path parameters)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from clawgate.http.routes import ROUTES
from clawgate.http.types import Api
from tests.conftest import ServerFactory
from tests.http.helpers import as_owner, db
from tests.runtime.conftest import chat_setup
from tests.samples import dict_fields, int_fields, sample, text_fields
from tests.support import RunningServer, add_stub_provider
from tests.upstream import Reply

# Chat text: NUL is stripped there instead of refused.
CHAT_TEXT = {("POST", "/v1/responses", "input"), ("POST", "/v1/agents/{id}/wake", "message"),
             ("POST", "/api/v1/gateways/sessions/{session_id}/message", "content")}  # fmt: skip
BIG = 2**64
_PARAM = r"\{([^}:]+)(?::[^}]*)?\}"  # a path parameter's name, without its converter ({path:path})


def _path(api: Api, value: str = "x", param: str = "") -> str:
    """``api.path`` with ``x`` in its parameters, or ``value`` in ``param``."""
    return re.sub(_PARAM, lambda m: quote(value if m[1] == param else "x", safe=""), api.path)


def _field_of(res: httpx.Response) -> str | None:
    """The field a 400 names, in each envelope (GoClaw ``details.field``, OpenAI ``param``; Mission
    Control's 422 ``detail[0].loc``; ClawTasker's message)."""
    if res.status_code == 422 and res.url.path.startswith("/api/"):
        return "$." + ".".join(res.json()["detail"][0]["loc"])
    if res.status_code != 400:
        return None
    error = res.json()["error"]
    if isinstance(error, str):  # ClawTasker's {"error": "<message>"}: the field is named in the text
        found = re.search(r"at `(\$[^`]*)`", error)
        return found[1] if found else None
    if "param" in error:
        return f"$.{error['param']}"
    return str(error.get("details", {}).get("field"))


async def _send(
    http: httpx.AsyncClient, api: Api, body: Any = None, path: str | None = None
) -> httpx.Response:
    return await http.request(
        api.method, path or _path(api), content=json.dumps(body) if body is not None else None,
        headers={"content-type": "application/json"},
    )  # fmt: skip


def _summary(res: httpx.Response) -> str:
    return f"{res.status_code} {res.text[:200]}"


class TestNul:
    async def test_nul_in_any_text_is_refused_naming_the_field(self, unthrottled: RunningServer) -> None:
        """Every text field of every body, query and path parameter: ``a\\u0000b`` is a 400 naming
        the field (PostgreSQL refuses NUL); chat text is the exception, stripped instead."""
        wrong: list[str] = []
        cases = 0
        async with as_owner(unthrottled) as http:
            for api in ROUTES:
                for name in re.findall(_PARAM, api.path):
                    cases += 1
                    path = _path(api, "a\x00b", name)
                    res = await _send(http, api, sample(api.body) if api.body else None, path)
                    if _field_of(res) != f"$.{name}":
                        wrong.append(f"{api.method} {api.path} path {name}: {_summary(res)}")
                for name in text_fields(api.query) if api.query else []:
                    cases += 1
                    res = await http.request(api.method, _path(api), params={name: "a\x00b"})
                    if _field_of(res) != f"$.{name}":
                        wrong.append(f"{api.method} {api.path} query {name}: {_summary(res)}")
                for name in text_fields(api.body) if api.body else []:
                    cases += 1
                    body = {**sample(api.body), name: "a\x00b"}
                    res = await _send(http, api, body)
                    if (api.method, api.path, name) in CHAT_TEXT:
                        if res.status_code >= 500 or _field_of(res) == f"$.{name}":
                            wrong.append(f"{api.method} {api.path} chat text {name}: {_summary(res)}")
                    elif _field_of(res) != f"$.{name}":
                        wrong.append(f"{api.method} {api.path} body {name}: {_summary(res)}")
                for name in dict_fields(api.body) if api.body else []:
                    cases += 1
                    res = await _send(http, api, {**sample(api.body), name: {"k": "a\x00b"}})
                    if _field_of(res) != f"$.{name}.k":
                        wrong.append(f"{api.method} {api.path} object {name}: {_summary(res)}")
        assert cases > 60
        assert wrong == []

    async def test_the_issue_examples_are_400_and_nothing_is_stored(self, unthrottled: RunningServer) -> None:
        """``POST /v1/agents`` with a NUL display name, ``GET /v1/providers/%00``,
        ``GET /v1/sessions?channel=%00``: 400 naming the field; no agent row is written."""
        async with as_owner(unthrottled) as http:
            created = await http.post("/v1/agents", json={"agent_key": "nul-a", "display_name": "a\u0000b"})
            provider = await http.get("/v1/providers/%00")
            sessions = await http.get("/v1/sessions?channel=%00")
        assert _field_of(created) == "$.display_name"
        assert created.json()["error"]["code"] == "INVALID_REQUEST"
        assert "NUL" in created.json()["error"]["message"]
        assert _field_of(provider) == "$.id"
        assert _field_of(sessions) == "$.channel"
        async with db(unthrottled) as conn:
            assert await conn.fetchval("SELECT count(*) FROM agents WHERE agent_key = 'nul-a'") == 0

    async def test_nul_in_chat_text_is_stripped(self, make_server: ServerFactory) -> None:
        """OpenAI messages' content (string and parts) and Responses input reach the model and the
        session without NUL; other OpenAI text (``model``) is refused naming its param."""
        async with chat_setup(make_server) as chat, chat.admin() as http:
            chat.upstream.script(Reply(content="one"), Reply(content="two"))
            res = await http.post("/v1/chat/completions", json={
                "model": "helper", "user": "u1",
                "messages": [{"role": "system", "content": [{"type": "text", "text": "be\u0000 brief"}]},
                             {"role": "user", "content": "a\u0000b"}]})  # fmt: skip
            assert res.status_code == 200, res.text
            res = await http.post("/v1/responses", json={"model": "helper", "input": "c\u0000d"})
            assert res.status_code == 200, res.text
            refused = await http.post(
                "/v1/chat/completions",
                json={"model": "hel\u0000per", "messages": [{"role": "user", "content": "x"}]},
            )
        sent = [json.dumps(turn) for turn in chat.upstream.turns]
        assert len(sent) == 2
        assert "\\u0000" not in "".join(sent)
        assert '"ab"' in sent[0]
        assert "be brief" in sent[0]
        assert '"cd"' in sent[1]
        assert refused.status_code == 400
        assert refused.json()["error"]["param"] == "model"


class TestIntegers:
    async def test_integers_beyond_64_bits_are_refused_naming_the_field(
        self, unthrottled: RunningServer
    ) -> None:
        """Every integer field of every body and query, and any integer in a free-form object:
        2**64 (and -2**64 in objects) is a 400 naming the field."""
        wrong: list[str] = []
        cases = 0
        async with as_owner(unthrottled) as http:
            for api in ROUTES:
                for name in int_fields(api.query) if api.query else []:
                    cases += 1
                    res = await http.request(api.method, _path(api), params={name: str(2**63)})
                    if _field_of(res) != f"$.{name}":
                        wrong.append(f"{api.method} {api.path} query {name}: {_summary(res)}")
                for name in int_fields(api.body) if api.body else []:
                    cases += 1
                    res = await _send(http, api, {**sample(api.body), name: BIG})
                    if _field_of(res) != f"$.{name}":
                        wrong.append(f"{api.method} {api.path} body {name}: {_summary(res)}")
                for name in dict_fields(api.body) if api.body else []:
                    for value in (BIG, -BIG, [1, {"m": BIG}]):
                        cases += 1
                        res = await _send(http, api, {**sample(api.body), name: {"n": value}})
                        # A typed object (dict[str, str]) is refused by type: msgspec names no key.
                        if not (_field_of(res) or "").startswith(f"$.{name}"):
                            wrong.append(f"{api.method} {api.path} object {name}={value}: {_summary(res)}")
        assert cases > 40
        assert wrong == []

    async def test_the_issue_examples_are_400(self, unthrottled: RunningServer) -> None:
        """tools_config, offset on traces and sessions, max_tokens, and an API key lifetime."""
        async with as_owner(unthrottled) as http:
            agent = await http.post("/v1/agents", json={"agent_key": "big", "tools_config": {"n": BIG}})
            traces = await http.get("/v1/traces?offset=9223372036854775808")
            sessions = await http.get("/v1/sessions?offset=9223372036854775808")
            completion = await http.post(
                "/v1/chat/completions",
                json={"model": "x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10**30},
            )
            # Fits in 64 bits, but no expiry date is 10**15 seconds away.
            key = await http.post(
                "/v1/api-keys", json={"name": "k", "scopes": ["operator.read"], "expires_in": 10**15}
            )
        assert _field_of(agent) == "$.tools_config.n"
        assert "64 bits" in agent.json()["error"]["message"]
        assert _field_of(traces) == _field_of(sessions) == "$.offset"
        assert _field_of(completion) == "$.max_tokens"
        assert _field_of(key) == "$.expires_in"


class TestNesting:
    async def test_deep_nesting_is_400_on_every_body_route(self, unthrottled: RunningServer) -> None:
        """Arrays nested 100 or 5,000 levels deep in an object field (or the first field when there
        is none) are a 400 on every route with a body."""
        wrong: list[str] = []
        async with as_owner(unthrottled) as http:
            for api in ROUTES:
                if api.body is None:
                    continue
                for name in dict_fields(api.body) or text_fields(api.body)[:1]:
                    for depth in (100, 5000):
                        body = json.dumps({**sample(api.body), name: {"k": "@deep@"}})
                        raw = body.replace('"@deep@"', "[" * depth + "]" * depth)
                        res = await http.request(api.method, _path(api), content=raw)
                        if res.status_code != (422 if api.family == "mc" else 400):
                            wrong.append(f"{api.method} {api.path} {name} depth {depth}: {_summary(res)}")
        assert wrong == []

    @pytest.mark.parametrize("depth", [63, 100, 900, 5000])
    async def test_deep_free_form_value_is_refused_saying_why(
        self, unthrottled: RunningServer, depth: int
    ) -> None:
        """A body nests at most 64 levels: 62 arrays inside ``tools_config`` fit, 63 (or any more:
        msgspec alone raises RecursionError from about 1,000) are refused as too deep."""

        def body(key: str, arrays: int) -> str:
            return (f'{{"agent_key":"{key}","provider":"stub","model":"m","tools_config":{{"n":'
                    + "[" * arrays + "]" * arrays + "}}")  # fmt: skip

        await add_stub_provider(unthrottled)
        async with as_owner(unthrottled) as http:
            res = await http.post("/v1/agents", content=body("deep", depth))
            fits = await http.post("/v1/agents", content=body("fits", 62))
        assert res.status_code == 400, res.text
        assert "nested deeper than 64 levels" in res.json()["error"]["message"]
        assert fits.status_code == 201, fits.text


class TestMalformed:
    async def test_lone_surrogate_is_named_as_such(self, unthrottled: RunningServer) -> None:
        """``"\\ud800"`` is malformed JSON, reported as a lone surrogate, not as truncated input."""
        async with as_owner(unthrottled) as http:
            res = await http.post("/v1/agents", content=b'{"agent_key":"s","display_name":"\\ud800"}')
        assert res.status_code == 400
        message = res.json()["error"]["message"]
        assert "lone UTF-16 surrogate" in message
        assert "truncated" not in message
