"""The pages a newcomer opens in a browser (issue 10, items 3 and 4): ``/``, the interactive reference
at ``/docs`` with its locally served assets, ``/docs/websocket``, and the OpenAPI document behind
them (examples, the WebSocket methods, schema names without module paths). Pages never point at
another host."""

from __future__ import annotations

import html
import re
from typing import Any

import httpx
import msgspec

from clawgate import __version__, wire
from clawgate.http.docs import ASSETS
from clawgate.http.examples import REQUESTS, RESPONSES
from clawgate.http.routes import all_apis
from clawgate.rpc.methods import EVENTS, METHODS
from tests.conftest import ServerFactory
from tests.http.helpers import mint_key
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, add_stub_provider

_URL = re.compile(r"""(?:https?|wss?)://[^\s"'<>)]+""")
_LINKS = re.compile(r"""(?:href|src)=['"]([^'"]+)['"]""")


def assert_only_local(server: RunningServer, page: str) -> None:
    """Every absolute URL in ``page`` is this server's; every link and script is a local path."""
    for url in _URL.findall(page):
        assert httpx.URL(url).host == "127.0.0.1", url
    for link in _LINKS.findall(page):
        assert link.startswith("/"), link


class TestHome:
    async def test_development_mode_shows_counts_mode_and_snippets(self, dev_server: RunningServer) -> None:
        """In development mode ``/`` names the mode, counts the master tenant's agents, links the
        references and fills the snippets with this server's URL; it is plain HTML, all local."""
        await add_stub_provider(dev_server, None)
        async with dev_server.client() as http:
            assert (
                await http.post("/v1/agents", json={"agent_key": "helper", **RUNNABLE})
            ).status_code == 201
            res = await http.get("/")
        assert res.status_code == 200
        assert res.headers["content-type"].startswith("text/html")
        page = html.unescape(res.text)
        assert f"ClawGate {__version__}" in page
        assert "development mode" in page
        assert "every local client is admin" in page
        assert "<td>agents</td><td>1</td>" in page
        assert "<td>providers</td><td>1</td>" in page
        assert "href='/docs'" in page
        assert "href='/v1/openapi.json'" in page
        assert f"curl {dev_server.url}/v1/agents" in page
        assert f'base_url="{dev_server.url}/v1"' in page
        assert f"ws://127.0.0.1:{dev_server.port}/ws" in page
        assert "<script" not in page
        assert_only_local(dev_server, page)

    async def test_token_mode_without_credential_shows_no_tenant_data(self, server: RunningServer) -> None:
        """With a token configured and none sent, ``/`` shows version, health and mode, no counts."""
        await add_stub_provider(server)
        async with server.client(GATEWAY_TOKEN) as admin:
            made = await admin.post("/v1/agents", json={"agent_key": "secret-agent", **RUNNABLE})
        assert made.status_code == 201, made.text
        async with server.client() as http:
            page = html.unescape((await http.get("/")).text)
        assert "token required" in page
        assert "tenant data is hidden" in page
        assert "<td>agents</td>" not in page
        assert "secret-agent" not in page
        assert "Authorization: Bearer $CLAWGATE_GATEWAY_TOKEN" in page
        assert_only_local(server, page)

    async def test_credentials_see_their_own_counts(self, server: RunningServer) -> None:
        """The gateway token sees its tenant's counts; a viewer key is not shown the provider count."""
        viewer = await mint_key(server, "operator.read")
        await add_stub_provider(server)
        async with server.client(GATEWAY_TOKEN) as admin:
            made = await admin.post("/v1/agents", json={"agent_key": "one", **RUNNABLE})
            assert made.status_code == 201, made.text
            as_admin = (await admin.get("/")).text
        async with server.client(viewer["key"]) as http:
            as_viewer = (await http.get("/")).text
        assert "<td>agents</td><td>1</td>" in as_admin
        assert "admin in tenant master, by gateway token" in as_admin
        assert "<td>providers</td><td>not visible to your role</td>" in as_viewer


class TestDocsPage:
    async def test_docs_is_swagger_ui_from_local_assets_with_a_noscript_table(
        self, server: RunningServer
    ) -> None:
        """``/docs`` loads Swagger UI from ``/docs/assets``, links the WebSocket reference, and keeps
        the route table inside ``<noscript>``; nothing points at another host."""
        async with server.client() as http:
            page = (await http.get("/docs")).text
        assert "src='/docs/assets/swagger-ui-bundle.js'" in page
        assert "href='/docs/assets/swagger-ui.css'" in page
        assert "href='/docs/websocket'" in page
        fallback = page.split("<noscript>", 1)[1].split("</noscript>", 1)[0]
        for api in all_apis():
            assert api.path in fallback, api.path
        assert_only_local(server, page)

    async def test_every_asset_is_served_locally(self, server: RunningServer) -> None:
        """Each asset the page loads answers 200 with its media type; the initializer reads our
        document and turns off the outside validator; other names are 404."""
        async with server.client() as http:
            answers = {name: await http.get(f"/docs/assets/{name}") for name in ASSETS}
            missing = await http.get("/docs/assets/index.html")
        for name, res in answers.items():
            assert res.status_code == 200, name
            assert res.headers["content-type"] == ASSETS[name], name
            assert res.content, name
        assert b"SwaggerUIBundle" in answers["swagger-ui-bundle.js"].content
        init = answers["init.js"].text
        assert '"/v1/openapi.json"' in init
        assert "validatorUrl: null" in init
        assert missing.status_code == 404

    async def test_websocket_reference_names_every_method_and_event(self, server: RunningServer) -> None:
        """``/docs/websocket`` is plain HTML naming every method with its role, and every event."""
        async with server.client() as http:
            page = (await http.get("/docs/websocket")).text
        for name in METHODS:
            assert f"<code>{name}</code>" in page, name
        for name in EVENTS:
            assert f"<code>{name}</code>" in page, name
        assert "<script" not in page
        assert_only_local(server, page)


class TestOpenApiDocument:
    async def _spec(self, server: RunningServer) -> dict[str, Any]:
        async with server.client() as http:
            spec: dict[str, Any] = (await http.get("/v1/openapi.json")).json()
        return spec

    async def test_schema_names_carry_no_module_path(self, server: RunningServer) -> None:
        """No component is named by a module path; the two ``ModelList`` types get distinct names."""
        spec = await self._spec(server)
        schemas = spec["components"]["schemas"]
        assert not [name for name in schemas if "." in name]
        assert {"OpenAIModelList", "ProvidersModelList"} <= set(schemas)
        refs = re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', msgspec.json.encode(spec).decode())
        assert refs
        assert not [ref for ref in refs if "." in ref]
        models = spec["paths"]["/v1/models"]["get"]["responses"]["200"]["content"]["application/json"]
        assert models["schema"] == {"$ref": "#/components/schemas/OpenAIModelList"}

    async def test_websocket_methods_come_from_the_method_table(self, server: RunningServer) -> None:
        """``x-websocket-methods`` lists every method with its minimum role and schemas;
        ``x-websocket-events`` every event."""
        spec = await self._spec(server)
        listed = {entry["name"]: entry for entry in spec["x-websocket-methods"]}
        assert set(listed) == set(METHODS)
        assert listed["agents.create"]["minRole"] == "admin"
        assert listed["connect"]["minRole"] == "public (before connect)"
        assert listed["agents.create"]["params"] == {"$ref": "#/components/schemas/AgentCreate"}
        assert listed["chat.send"]["events"] == ["agent", "session.updated"]
        assert {e["name"] for e in spec["x-websocket-events"]} == set(EVENTS)

    async def test_examples_are_shown_and_true_to_the_wire_types(self, server: RunningServer) -> None:
        """The main routes carry a request example (and some an answer); each request example decodes
        with its route's body type, each answer converts to its response type."""
        spec = await self._spec(server)
        apis = {f"{api.method} {api.path}": api for api in all_apis()}
        for key, example in REQUESTS.items():
            api = apis[key]
            wire.decode(msgspec.json.encode(example), api.body)
            op = spec["paths"][api.path][api.method.lower()]
            assert op["requestBody"]["content"]["application/json"]["example"] == example
        for key, example in RESPONSES.items():
            api = apis[key]
            msgspec.convert(example, api.response)
            op = spec["paths"][api.path][api.method.lower()]
            assert op["responses"][str(api.status)]["content"]["application/json"]["example"] == example

    async def test_x_api_key_is_a_documented_scheme(self, make_server: ServerFactory) -> None:
        """Authenticated operations accept the bearer or ``x-api-key``."""
        server = await make_server(gateway__token=GATEWAY_TOKEN)
        spec = await self._spec(server)
        assert spec["paths"]["/v1/agents"]["get"]["security"] == [{"bearer": []}, {"apiKey": []}]
        assert spec["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"
