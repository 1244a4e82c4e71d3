"""Credentials over HTTP and ``connect`` (issue 10, items 1 and 10): each 401 names its case, the
README's examples work as written with and without a gateway token, and ``x-api-key`` is a
credential header too."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from pathlib import Path

import openai
import pytest

from tests.conftest import ServerFactory
from tests.http.helpers import assert_error, db, mint_key
from tests.support import GATEWAY_TOKEN, RunningServer, ws_connect

NEVER_ISSUED = "clawgate_" + "0" * 32
README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def readme_curl(port: int) -> str:
    """The README's provider-creating curl command, as written, aimed at ``port``."""
    found = re.search(r"^ *(curl localhost:18790/v1/providers .*\\\n.*)$", README, re.M)
    assert found, "the README's provider example is gone"
    return found.group(1).replace("localhost:18790", f"127.0.0.1:{port}")


def readme_sdk(port: int) -> str:
    """The README's ``openai`` SDK client line, as written, aimed at ``port``."""
    found = re.search(r"^ *(client = OpenAI\(.*\))$", README, re.M)
    assert found, "the README's SDK example is gone"
    return found.group(1).replace("localhost:18790", f"127.0.0.1:{port}")


async def run(*args: str, token: str | None) -> tuple[int, str]:
    """Run ``args`` with ``CLAWGATE_GATEWAY_TOKEN`` set to ``token`` (unset for None)."""
    env = {k: v for k, v in os.environ.items() if k != "CLAWGATE_GATEWAY_TOKEN"}
    if token is not None:
        env["CLAWGATE_GATEWAY_TOKEN"] = token
    proc = await asyncio.create_subprocess_exec(
        *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


class TestUnauthorizedSaysWhy:
    @pytest.mark.parametrize(
        ("headers", "words"),
        [
            ({}, "no credential"),
            ({"Authorization": f"Basic {GATEWAY_TOKEN}"}, "holds no bearer token"),
            ({"Authorization": "Bearer"}, "holds no bearer token"),
            ({"Authorization": "Bearer wrong-token"}, "neither the gateway token nor a known API key"),
            ({"Authorization": f"Bearer {NEVER_ISSUED}"}, "neither the gateway token nor a known API key"),
            ({"x-api-key": "wrong-token"}, "neither the gateway token nor a known API key"),
        ],
    )
    async def test_each_case_has_its_message(
        self, server: RunningServer, headers: dict[str, str], words: str
    ) -> None:
        """With a token configured, the 401 says whether the credential is missing, not a bearer or
        unknown."""
        async with server.client(**headers) as http:
            res = await http.get("/v1/agents")
        assert words in assert_error(res, 401, "UNAUTHORIZED")["message"]

    async def test_openai_route_names_the_case_in_openai_shape(self, server: RunningServer) -> None:
        """The OpenAI routes give the same text in OpenAI's error object."""
        async with server.client() as http:
            res = await http.get("/v1/models")
        assert res.status_code == 401
        assert "no credential" in res.json()["error"]["message"]

    async def test_connect_without_token_names_the_case(self, server: RunningServer) -> None:
        """``connect`` without a token says that none was sent."""
        async with ws_connect(server, _skip=True) as ws:
            res = await ws.call("connect", {"user_id": "alice"})
        assert "no credential" in res["error"]["message"]

    async def test_revoked_key_in_development_mode_says_so(self, dev_server: RunningServer) -> None:
        """A revoked key is refused even in development mode, and the 401 says that no token is
        configured and how to act as the local admin."""
        created = await mint_key_dev(dev_server)
        async with dev_server.client() as admin:
            assert (await admin.post(f"/v1/api-keys/{created['id']}/revoke")).status_code == 200
        async with dev_server.client(created["key"]) as http:
            res = await http.get("/v1/agents")
        message = assert_error(res, 401, "UNAUTHORIZED")["message"]
        assert "revoked" in message
        assert "no gateway token is configured" in message

    async def test_expired_key_in_development_mode_says_so(self, dev_server: RunningServer) -> None:
        """An expired key's 401 in development mode says expired and development mode."""
        created = await mint_key_dev(dev_server)
        async with db(dev_server) as conn:
            await conn.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
                               created["id"])  # fmt: skip
        async with dev_server.client(created["key"]) as http:
            res = await http.get("/v1/agents")
        message = assert_error(res, 401, "UNAUTHORIZED")["message"]
        assert "expired" in message
        assert "development mode" in message


async def mint_key_dev(server: RunningServer) -> dict[str, object]:
    async with server.client() as http:
        res = await http.post("/v1/api-keys", json={"name": "dev key", "scopes": ["operator.read"]})
    assert res.status_code == 201, res.text
    data: dict[str, object] = res.json()
    return data


class TestXApiKey:
    async def test_x_api_key_carries_an_api_key(self, server: RunningServer) -> None:
        """An API key in ``x-api-key`` authenticates with the key's role."""
        created = await mint_key(server, "operator.read")
        async with server.client(**{"x-api-key": created["key"]}) as http:
            listed = await http.get("/v1/agents")
            refused = await http.post("/v1/agents", json={"agent_key": "x"})
        assert listed.status_code == 200, listed.text
        assert_error(refused, 403, "UNAUTHORIZED")

    async def test_x_api_key_carries_the_gateway_token(self, server: RunningServer) -> None:
        """The gateway token in ``x-api-key`` is admin (it may list API keys, which needs admin)."""
        async with server.client(**{"x-api-key": GATEWAY_TOKEN}) as http:
            res = await http.get("/v1/api-keys")
        async with server.client(**{"x-api-key": "wrong"}) as http:
            refused = await http.get("/v1/api-keys")
        assert res.status_code == 200, res.text
        assert_error(refused, 401, "UNAUTHORIZED")


class TestReadmeExamplesInBothModes:
    @pytest.mark.parametrize("token", ["TOKEN", "clawgate_...", NEVER_ISSUED])
    async def test_placeholder_bearer_works_in_development_mode(
        self, dev_server: RunningServer, token: str
    ) -> None:
        """With no token configured, the README's ``Authorization: Bearer TOKEN`` acts as the local
        admin, as GoClaw's development mode does."""
        async with dev_server.client(Authorization=f"Bearer {token}") as http:
            res = await http.post(
                "/v1/providers", json={"name": "local", "api_base": "http://127.0.0.1:9/v1"}
            )
        assert res.status_code == 201, res.text

    async def test_openai_sdk_example_works_in_development_mode(self, dev_server: RunningServer) -> None:
        """``OpenAI(base_url=..., api_key="clawgate_...")`` lists models with no token configured."""
        async with openai.AsyncOpenAI(
            base_url=dev_server.url + "/v1", api_key="clawgate_...", max_retries=0
        ) as client:
            models = await client.models.list()
        assert models.data == []

    async def test_openai_sdk_example_works_with_a_token(self, make_server: ServerFactory) -> None:
        """The same example with the configured token."""
        server = await make_server(gateway__token=GATEWAY_TOKEN)
        async with openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=GATEWAY_TOKEN, max_retries=0) as c:
            models = await c.models.list()
        assert models.data == []

    async def test_connect_with_placeholder_token_in_development_mode(
        self, dev_server: RunningServer
    ) -> None:
        """``connect {token: "TOKEN"}`` is the local operator in development mode."""
        async with ws_connect(dev_server, token="TOKEN", user_id="me") as ws:
            payload = await ws.ok("health")
        assert payload["status"] == "ok"

    @pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")
    @pytest.mark.parametrize("mode", ["development", "token"])
    async def test_readme_curl_example_as_written(self, make_server: ServerFactory, mode: str) -> None:
        """The README's curl command creates the provider in development mode (the variable unset)
        and with a token (the variable exported)."""
        token = GATEWAY_TOKEN if mode == "token" else None
        server = await make_server(**({"gateway__token": GATEWAY_TOKEN} if token else {}))
        command = readme_curl(server.port) + " -s -o /dev/null -w '%{http_code}'"
        code, out = await run("bash", "-c", command, token=token)
        assert (code, out) == (0, "201")

    @pytest.mark.parametrize("mode", ["development", "token"])
    async def test_readme_sdk_example_as_written(self, make_server: ServerFactory, mode: str) -> None:
        """The README's ``OpenAI(...)`` line lists the models in both modes."""
        token = GATEWAY_TOKEN if mode == "token" else None
        server = await make_server(**({"gateway__token": GATEWAY_TOKEN} if token else {}))
        script = f"import os\nfrom openai import OpenAI\n{readme_sdk(server.port)}\nprint(client.models.list().data)"
        code, out = await run(sys.executable, "-c", script, token=token)
        assert (code, out.strip()) == (0, "[]")
