"""Background rounds across gateways on one database (gateway/services/background.py): each pass runs
in one process at a time, so a document waiting for its embedding is embedded once."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from tests.conftest import ServerFactory
from tests.runtime.conftest import chat_setup
from tests.support import GATEWAY_TOKEN

EMBED = {"memory__embedding_provider": "up", "memory__embedding_model": "embed-model",
         "memory__reindex_interval_seconds": 0.1}  # fmt: skip


async def test_two_gateways_embed_a_waiting_document_once(make_server: ServerFactory) -> None:
    """Six memory documents are written while the embedder is down; once it is back (slow: 0.3 s a
    call), two gateways' rounds run every 0.1 s and every document is embedded by one call only."""
    async with chat_setup(make_server, **EMBED) as chat:
        second = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], **EMBED)
        texts = [f"Note number {n}: the {n}th deploy went fine." for n in range(6)]
        chat.upstream.embeddings_down = True
        async with chat.admin() as http:
            for n, text in enumerate(texts):
                res = await http.put(f"/v1/agents/helper/memory/documents/n{n}.md", json={"content": text})
                assert res.status_code == 200, res.text
                assert res.json()["index_status"] == "pending"
            chat.upstream.embed_delay = 0.3
            chat.upstream.embeddings_down = False
            deadline = time.monotonic() + 30
            while True:
                docs = (await http.get("/v1/agents/helper/memory/documents")).json()["documents"]
                if all(d["index_status"] == "indexed" for d in docs):
                    break
                assert time.monotonic() < deadline, docs
                await asyncio.sleep(0.1)
            await asyncio.sleep(0.5)  # a pass that would embed them again has had its chance
        assert second.gateway.memory is not chat.server.gateway.memory
    calls = Counter(text for inputs in chat.upstream.embedding_inputs for text in inputs)
    assert {text: calls[text] for text in texts} == dict.fromkeys(texts, 1)
