"""The HTTP foundation through a real server: probes, request ids, security headers, CORS, body
limits, JSON errors, localisation, rate limits, routing errors, OpenAPI and docs, and the 500
path for our own bugs."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import openai
import pytest

from clawgate.bus import invalidation
from clawgate.http.routes import ROUTES
from tests.conftest import ServerFactory
from tests.http.helpers import as_owner, assert_error, db, mint_key, with_key
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, add_stub_provider

ORIGIN = "https://app.example"


def _documented(path: str) -> str:
    """A route path as OpenAPI writes it: ``{path:path}`` becomes ``{path}``."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


class TestProbes:
    async def test_health_and_healthz_answer_ok(self, server: RunningServer) -> None:
        """/health and /healthz answer GoClaw's shape without a credential."""
        async with server.client() as http:
            for path in ("/health", "/healthz"):
                res = await http.get(path)
                assert res.status_code == 200
                assert res.json()["status"] == "ok"
                assert res.json()["protocol"] == 3

    async def test_readyz_checks_the_database(self, server: RunningServer) -> None:
        """/readyz answers ready with the database ok."""
        async with server.client() as http:
            res = await http.get("/readyz")
        assert res.status_code == 200
        assert res.json() == {"status": "ready", "database": "ok"}


class TestRequestIdAndHeaders:
    async def test_sent_request_id_is_echoed(self, server: RunningServer) -> None:
        """A well-formed X-Request-Id comes back unchanged, also inside error bodies."""
        async with server.client() as http:
            ok = await http.get("/health", headers={"X-Request-Id": "req-abc.123"})
            err = await http.get("/v1/agents", headers={"X-Request-Id": "req-err-1"})
        assert ok.headers["x-request-id"] == "req-abc.123"
        assert err.headers["x-request-id"] == "req-err-1"
        assert err.json()["request_id"] == "req-err-1"

    async def test_missing_or_bad_request_id_is_generated(self, server: RunningServer) -> None:
        """Without (or with a malformed) X-Request-Id the server makes a fresh one per request."""
        async with server.client() as http:
            first = await http.get("/health")
            second = await http.get("/health", headers={"X-Request-Id": "bad id with spaces"})
        ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
        assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
        assert ids[0] != ids[1]

    async def test_security_headers_on_success_and_error(self, server: RunningServer) -> None:
        """nosniff, X-Frame-Options DENY and a Referrer-Policy are on every response."""
        async with server.client() as http:
            for res in (await http.get("/health"), await http.get("/v1/nothing-here")):
                assert res.headers["x-content-type-options"] == "nosniff"
                assert res.headers["x-frame-options"] == "DENY"
                assert res.headers["referrer-policy"] == "strict-origin-when-cross-origin"


class TestCors:
    async def test_preflight_from_an_allowed_origin_is_allowed(self, make_server: ServerFactory) -> None:
        """A preflight from a configured origin gets Access-Control-Allow-Origin for it."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, gateway__allowed_origins=[ORIGIN])
        async with srv.client() as http:
            res = await http.options(
                "/v1/agents",
                headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                         "Access-Control-Request-Headers": "authorization,content-type"},
            )  # fmt: skip
            simple = await http.get("/health", headers={"Origin": ORIGIN})
        assert res.status_code == 200
        assert res.headers["access-control-allow-origin"] == ORIGIN
        assert "POST" in res.headers["access-control-allow-methods"]
        assert simple.headers["access-control-allow-origin"] == ORIGIN
        assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()

    async def test_preflight_from_another_origin_is_refused(self, make_server: ServerFactory) -> None:
        """A preflight from an origin not configured gets no Access-Control-Allow-Origin."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, gateway__allowed_origins=[ORIGIN])
        async with srv.client() as http:
            res = await http.options(
                "/v1/agents",
                headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
            )
            simple = await http.get("/health", headers={"Origin": "https://evil.example"})
        assert res.status_code == 400
        assert "access-control-allow-origin" not in res.headers
        assert "access-control-allow-origin" not in simple.headers


class TestBodies:
    async def test_two_mib_body_with_length_is_413(self, server: RunningServer) -> None:
        """A 2 MiB body with Content-Length answers 413 in the GoClaw envelope."""
        big = b'{"agent_key": "' + b"a" * (2 << 20) + b'"}'
        async with as_owner(server) as http:
            res = await http.post("/v1/agents", content=big, headers={"Content-Type": "application/json"})
        err = assert_error(res, 413, "INVALID_REQUEST")
        assert str(1 << 20) in err["message"]

    async def test_two_mib_chunked_body_without_length_is_413(self, server: RunningServer) -> None:
        """A 2 MiB chunked body (no Content-Length) is cut off while reading: 413, no agent created."""

        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"agent_key": "big", "agent_description": "'
            for _ in range(32):
                yield b"x" * (64 << 10)
            yield b'"}'

        async with as_owner(server) as http:
            res = await http.post(
                "/v1/agents", content=chunks(), headers={"Content-Type": "application/json"}
            )
            listed = await http.get("/v1/agents")
        assert "content-length" not in res.request.headers
        assert res.request.headers["transfer-encoding"] == "chunked"
        assert_error(res, 413, "INVALID_REQUEST")
        assert listed.json()["agents"] == []

    @pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
    async def test_body_over_the_limit_still_being_sent_gets_a_readable_413(
        self, server: RunningServer, length: bool
    ) -> None:
        """1.5 MiB sent in pieces, the refusal coming while the client still sends: the client reads
        the 413 in the GoClaw envelope (the rest of the body is read and dropped, not reset)."""
        size = 3 << 19

        async def paced() -> AsyncIterator[bytes]:
            for _ in range(size >> 16):
                await asyncio.sleep(0.005)
                yield b"x" * (1 << 16)

        headers = {"Content-Type": "application/json"} | ({"Content-Length": str(size)} if length else {})
        async with as_owner(server) as http:
            res = await http.post("/v1/agents", content=paced(), headers=headers)
        assert ("content-length" in res.request.headers) is length
        err = assert_error(res, 413, "INVALID_REQUEST")
        assert str(1 << 20) in err["message"]

    async def test_client_waiting_for_100_continue_gets_the_413_without_sending(
        self, server: RunningServer
    ) -> None:
        """With ``Expect: 100-continue`` and an over-limit length, the 413 comes at once: the body
        is neither asked for (no 100 Continue) nor waited for."""
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(
            b"POST /v1/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 2097152\r\nExpect: 100-continue\r\n\r\n"
        )
        await writer.drain()
        async with asyncio.timeout(10):  # a hang fails the test instead of blocking it
            answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 413 ")
        assert b"100 Continue" not in answer

    async def test_openai_sdk_reads_the_413_of_a_large_body(self, server: RunningServer) -> None:
        """The openai SDK sending a 12 MiB message gets the 413 as OpenAI's error object, not a
        connection error."""
        async with openai.AsyncOpenAI(
            base_url=server.url + "/v1", api_key=GATEWAY_TOKEN, max_retries=0
        ) as client:
            with pytest.raises(openai.APIStatusError) as info:
                await client.chat.completions.create(
                    model="helper", messages=[{"role": "user", "content": "x" * (12 << 20)}]
                )
        assert info.value.status_code == 413
        assert info.value.body["type"] == "invalid_request_error"  # type: ignore[index]
        assert str(1 << 20) in info.value.body["message"]  # type: ignore[index]

    async def test_malformed_json_is_invalid_request(self, server: RunningServer) -> None:
        """A body that is not JSON answers 400 'malformed JSON'."""
        async with as_owner(server) as http:
            res = await http.post(
                "/v1/agents", content=b'{"agent_key": ', headers={"Content-Type": "application/json"}
            )
        assert "malformed JSON" in assert_error(res, 400, "INVALID_REQUEST")["message"]

    async def test_json_that_is_not_an_object_is_invalid_request(self, server: RunningServer) -> None:
        """A JSON array where an object is expected answers 400."""
        async with as_owner(server) as http:
            res = await http.post("/v1/agents", json=["agent_key"])
        assert_error(res, 400, "INVALID_REQUEST")


class TestContentType:
    @pytest.mark.parametrize(
        "ctype",
        [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/xml",
            "multipart/form-data; boundary=b",
        ],
    )
    async def test_non_json_body_is_415_saying_what_to_send(self, server: RunningServer, ctype: str) -> None:
        """JSON text sent as another media type (curl -d sends a form) is refused with 415 in the
        GoClaw envelope, the message naming the type to send; nothing is created."""
        async with as_owner(server) as http:
            res = await http.post(
                "/v1/agents", content=b'{"agent_key": "typed"}', headers={"Content-Type": ctype}
            )
            listed = await http.get("/v1/agents")
        err = assert_error(res, 415, "INVALID_REQUEST")
        assert ctype in err["message"]
        assert "Content-Type: application/json" in err["message"]
        assert listed.json()["agents"] == []

    @pytest.mark.parametrize(
        "ctype",
        ["application/json", "Application/JSON; charset=UTF-8", "application/merge-patch+json", None],
        ids=["json", "json-charset", "plus-json", "none"],
    )
    async def test_json_media_types_and_no_type_are_accepted(
        self, server: RunningServer, ctype: str | None
    ) -> None:
        """application/json and application/*+json, with parameters, any case; and no Content-Type."""
        headers = {} if ctype is None else {"Content-Type": ctype}
        await add_stub_provider(server)
        body = b'{"agent_key": "typed", "provider": "stub", "model": "m"}'
        async with as_owner(server) as http:
            res = await http.post("/v1/agents", content=body, headers=headers)
        assert ("content-type" in res.request.headers) is (ctype is not None)
        assert res.status_code == 201, res.text

    async def test_openai_route_answers_415_as_openai_error_localised(self, server: RunningServer) -> None:
        """On /v1/chat/completions the 415 is OpenAI's error object, in the caller's language."""
        body = b'{"model": "helper", "messages": [{"role": "user", "content": "hi"}]}'
        async with server.client(GATEWAY_TOKEN) as http:
            res = await http.post(
                "/v1/chat/completions",
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept-Language": "vi"},
            )
        assert res.status_code == 415
        error = res.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["code"] == "invalid_request"
        assert error["message"].startswith("Content-Type application/x-www-form-urlencoded không")


class TestEchoBounds:
    async def test_long_path_is_not_echoed_whole(self, server: RunningServer) -> None:
        """A 10 KB unknown path gets its 404 with a bounded message."""
        async with server.client() as http:
            res = await http.get("/v1/" + "p" * 10240)
        err = assert_error(res, 404, "NOT_FOUND")
        assert "/v1/ppp" in err["message"]
        assert len(err["message"]) < 600
        assert len(res.content) < 1024

    async def test_long_unknown_field_is_not_echoed_whole(self, server: RunningServer) -> None:
        """A 10 KB unknown field name: 400 naming (the start of) it, message and details bounded."""
        async with as_owner(server) as http:
            res = await http.post("/v1/agents", json={"agent_key": "a", "f" * 10240: 1})
        err = assert_error(res, 400, "INVALID_REQUEST")
        assert "unknown field `fff" in err["message"]
        assert len(res.content) < 2048


class TestLocalisation:
    async def test_accept_language_localises_messages(self, server: RunningServer) -> None:
        """The same error reads in Vietnamese or Chinese by Accept-Language, English by default."""
        async with as_owner(server) as http:
            en = await http.get("/v1/agents/ghost")
            vi = await http.get("/v1/agents/ghost", headers={"Accept-Language": "vi-VN,vi;q=0.9,en;q=0.5"})
            zh = await http.get("/v1/agents/ghost", headers={"Accept-Language": "zh-CN"})
        assert assert_error(en, 404, "NOT_FOUND")["message"] == "agent not found: ghost"
        assert "không tìm thấy" in assert_error(vi, 404, "NOT_FOUND")["message"]
        assert "未找到" in assert_error(zh, 404, "NOT_FOUND")["message"]

    async def test_unauthenticated_message_is_localised(self, server: RunningServer) -> None:
        """Even a 401 before authentication is localised."""
        async with server.client() as http:
            res = await http.get("/v1/agents", headers={"Accept-Language": "vi"})
        assert assert_error(res, 401, "UNAUTHORIZED")["message"].startswith("thiếu thông tin xác thực")


class TestRateLimits:
    async def test_per_ip_limit_answers_429_with_retry_after(self, make_server: ServerFactory) -> None:
        """Past the per-IP burst a request gets 429 RESOURCE_EXHAUSTED and Retry-After; probes stay exempt."""
        srv = await make_server(
            gateway__token=GATEWAY_TOKEN, rate_limits__per_ip_rpm=6, rate_limits__burst=2,
            rate_limits__exempt_operator=False,
        )  # fmt: skip
        async with srv.client(GATEWAY_TOKEN) as http:
            first = [await http.get("/v1/agents") for _ in range(2)]
            limited = await http.get("/v1/agents")
            probe = await http.get("/health")
        assert [r.status_code for r in first] == [200, 200]
        err = assert_error(limited, 429, "RESOURCE_EXHAUSTED")
        assert int(limited.headers["retry-after"]) >= 1
        assert err["retryable"] is True
        assert err["retryAfterMs"] >= 1000
        assert probe.status_code == 200

    async def test_operator_exempt_however_the_token_comes(self, make_server: ServerFactory) -> None:
        """The per-IP limit's operator exemption reads the credential as authentication does: the
        gateway token as ``x-api-key``, or as ``?access_token=`` on the route that takes one (CT's
        events stream), is exempt; a wrong token or a token in the query of another route is not."""
        srv = await make_server(gateway__token=GATEWAY_TOKEN, rate_limits__per_ip_rpm=6, rate_limits__burst=2)
        async with srv.client() as http:
            keyed = [(await http.get("/v1/agents", headers={"x-api-key": GATEWAY_TOKEN})).status_code
                     for _ in range(4)]  # fmt: skip
            streamed = []
            for _ in range(4):
                async with http.stream(
                    "GET", "/api/events/stream", params={"access_token": GATEWAY_TOKEN}
                ) as res:
                    streamed.append(res.status_code)
            elsewhere = [(await http.get("/v1/agents", params={"access_token": GATEWAY_TOKEN})).status_code
                         for _ in range(3)]  # fmt: skip
        assert keyed == streamed == [200] * 4
        assert elsewhere[-1] == 429

    async def test_per_key_limit_is_per_credential(self, make_server: ServerFactory) -> None:
        """Past the per-key burst one key gets 429 while another key from the same IP still works."""
        srv = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
            rate_limits__per_ip_rpm=0, rate_limits__per_key_rpm=6, rate_limits__burst=3,
        )  # fmt: skip
        hot = (await mint_key(srv, "operator.read", name="hot"))["key"]
        cold = (await mint_key(srv, "operator.read", name="cold"))["key"]
        async with with_key(srv, hot) as http:
            statuses = [(await http.get("/v1/agents")).status_code for _ in range(3)]
            limited = await http.get("/v1/agents")
        async with with_key(srv, cold) as http:
            other = await http.get("/v1/agents")
        assert statuses == [200, 200, 200]
        assert_error(limited, 429, "RESOURCE_EXHAUSTED")
        assert "retry-after" in limited.headers
        assert other.status_code == 200


class TestRouting:
    async def test_unknown_route_is_404_envelope(self, server: RunningServer) -> None:
        """An unknown path answers 404 NOT_FOUND in the envelope, naming the path."""
        async with server.client() as http:
            res = await http.get("/v1/no-such-thing")
        assert "/v1/no-such-thing" in assert_error(res, 404, "NOT_FOUND")["message"]

    async def test_wrong_method_is_405_envelope(self, server: RunningServer) -> None:
        """A known path with the wrong method answers 405 in the envelope."""
        async with server.client(GATEWAY_TOKEN) as http:
            res = await http.post("/v1/edition", json={})
        assert "POST" in assert_error(res, 405, "INVALID_REQUEST")["message"]
        assert "GET" in res.headers["allow"]

    async def test_head_and_trailing_slash_go_through_the_router(self, server: RunningServer) -> None:
        """Exact (method, path) pairs take the direct lookup; HEAD of a GET route and a path with a
        trailing slash still get the router's answers (200 without a body, a redirect)."""
        async with server.client(GATEWAY_TOKEN) as http:
            head = await http.head("/v1/edition")
            get = await http.get("/v1/edition")
            slash = await http.get("/v1/edition/", follow_redirects=False)
        assert head.status_code == 200
        assert head.content == b""
        assert get.status_code == 200
        assert get.json()
        assert slash.status_code == 307
        assert slash.headers["location"].endswith("/v1/edition")


class TestDocs:
    async def test_openapi_lists_every_route_with_schemas(self, server: RunningServer) -> None:
        """/v1/openapi.json is OpenAPI 3.1 with every route of the table, its body and response schemas."""
        async with server.client() as http:
            res = await http.get("/v1/openapi.json")
        spec = res.json()
        assert res.status_code == 200
        assert spec["openapi"].startswith("3.1")
        assert spec["info"]["title"]
        schemas = spec["components"]["schemas"]
        for api in ROUTES:
            path = _documented(api.path)
            op = spec["paths"][path][api.method.lower()]
            assert op["summary"] == api.summary
            assert op["operationId"]
            ok = op["responses"][str(api.status)]["content"][api.media_type]["schema"]
            assert ok, f"{api.method} {api.path} has no response schema"
            if api.body is not None:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in schemas
            if "{" in api.path:
                assert {p["name"] for p in op["parameters"] if p["in"] == "path"} == set(
                    re.findall(r"\{(\w+)\}", path)
                )
        agent = schemas["AgentCreate"]
        assert "agent_key" in agent["properties"]
        assert agent.get("additionalProperties") is False

    async def test_every_ref_resolves(self, server: RunningServer) -> None:
        """Every ``$ref`` in the document points at a defined component."""
        async with server.client() as http:
            text = (await http.get("/v1/openapi.json")).text
        refs = set(re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', text))
        async with server.client() as http:
            schemas = (await http.get("/v1/openapi.json")).json()["components"]["schemas"]
        assert refs
        assert refs <= set(schemas)

    async def test_docs_page_is_html_listing_the_routes(self, server: RunningServer) -> None:
        """/docs is an HTML page naming each route."""
        async with server.client() as http:
            res = await http.get("/docs")
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/html")
        for api in ROUTES:
            assert api.path in res.text


class TestDocsAreTrue:
    async def test_docs_page_is_documented_as_html(self, server: RunningServer) -> None:
        """/docs is declared as the text/html it serves."""
        async with server.client() as http:
            spec = (await http.get("/v1/openapi.json")).json()
            page = await http.get("/docs")
        content = spec["paths"]["/docs"]["get"]["responses"]["200"]["content"]
        assert list(content) == ["text/html"]
        assert page.headers["content-type"].startswith("text/html")

    async def test_streamed_answers_are_documented_as_event_streams(self, server: RunningServer) -> None:
        """The OpenAI routes that stream with ``stream: true`` declare ``text/event-stream`` beside
        their JSON answer; routes that never stream declare JSON only."""
        async with server.client() as http:
            spec = (await http.get("/v1/openapi.json")).json()

        def answers(path: str, method: str) -> list[str]:
            return list(spec["paths"][path][method]["responses"]["200"]["content"])

        for path in ("/v1/chat/completions", "/v1/responses"):
            assert answers(path, "post") == ["application/json", "text/event-stream"], path
        assert answers("/v1/models", "get") == ["application/json"]
        assert answers("/v1/agents", "get") == ["application/json"]

    async def test_body_is_required_exactly_where_omitting_it_is_refused(self, server: RunningServer) -> None:
        """``requestBody.required`` says what the server does with no body: required where it is
        refused (400), optional where it is read as ``{}`` (a patch without fields)."""
        await add_stub_provider(server)
        async with as_owner(server) as http:
            spec = (await http.get("/v1/openapi.json")).json()
            await http.post("/v1/agents", json={"agent_key": "docs", **RUNNABLE})
            no_key_body = await http.post("/v1/api-keys")
            no_agent_body = await http.post("/v1/agents")
            no_patch_body = await http.patch("/v1/agents/docs")
        assert spec["paths"]["/v1/api-keys"]["post"]["requestBody"]["required"] is True
        assert_error(no_key_body, 400, "INVALID_REQUEST")
        assert spec["paths"]["/v1/agents"]["post"]["requestBody"]["required"] is True
        assert "agent_key" in assert_error(no_agent_body, 400, "INVALID_REQUEST")["message"]
        assert spec["paths"]["/v1/agents/{id}"]["patch"]["requestBody"]["required"] is False
        assert no_patch_body.status_code == 200, no_patch_body.text

    async def test_413_and_415_are_documented_in_each_familys_envelope(self, server: RunningServer) -> None:
        """Every operation with a body documents 413 and 415, with the error shape its family answers
        (OpenAI's error object on the OpenAI routes, MC's and CT's on theirs, GoClaw's elsewhere);
        each shape is defined. A handler reading its own body (CT's writes) takes any type: no 415."""
        async with server.client() as http:
            spec = (await http.get("/v1/openapi.json")).json()
        schemas = spec["components"]["schemas"]
        assert set(schemas["OpenAIError"]["properties"]["error"]["properties"]) == {
            "message",
            "type",
            "param",
            "code",
        }
        with_body = [api for api in ROUTES if api.body is not None]
        assert with_body
        for api in with_body:
            responses = spec["paths"][_documented(api.path)][api.method.lower()]["responses"]
            shape = {"openai": "OpenAIError", "mc": "MCError", "ct": "CTError"}.get(api.family, "Error")
            assert ("415" in responses) is not api.own_body, api.path
            for status in ("413", "415", "default") if not api.own_body else ("413", "default"):
                ref = responses[status]["content"]["application/json"]["schema"]["$ref"]
                assert ref == f"#/components/schemas/{shape}", (api.path, status)


class TestInternalErrors:
    async def test_our_bug_is_500_internal_with_request_id_and_no_traceback(
        self, server: RunningServer
    ) -> None:
        """A row the code cannot read (a real bug surface) answers 500 INTERNAL with the request id only."""
        await add_stub_provider(server)
        async with as_owner(server) as http:
            await http.post("/v1/agents", json={"agent_key": "broken", **RUNNABLE})
        async with db(server) as conn:
            await conn.execute("UPDATE agents SET tools_config = '[1, 2]'::jsonb WHERE agent_key = 'broken'")
        # Changed behind the services' back: drop the agent caches as a change through them would (a
        # background round may have cached the row before the update).
        await server.gateway.bus.publish(invalidation("agent"))
        async with as_owner(server) as http:
            res = await http.get("/v1/agents/broken", headers={"X-Request-Id": "bug-42"})
            listing = await http.get("/v1/agents")
        err = assert_error(res, 500, "INTERNAL")
        assert "bug-42" in err["message"]
        assert res.json()["request_id"] == "bug-42"
        for text in (res.text, listing.text):
            assert "Traceback" not in text
            assert "tools_config" not in text
            assert "Expected" not in text
        assert_error(listing, 500, "INTERNAL")
