"""A gateway killed while it re-embeds memory after an embedder switch: started again, it resumes and
every chunk ends up embedded by the new embedder (issue 11, "a gateway killed while re-embedding")."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.runtime.test_crash import _serve
from tests.support import GATEWAY_TOKEN, free_port
from tests.upstream import stand_in

DOCS = 12


def _config(tmp_path: Path, model: str) -> dict[str, str]:
    """The environment of a gateway embedding memory with the stand-in's ``model``, its background
    pass every 0.2 s."""
    path = tmp_path / f"config-{model}.json"
    memory = {"embedding_provider": "up", "embedding_model": model, "reindex_interval_seconds": 0.2}
    path.write_text(json.dumps({"memory": memory}))
    return {"CLAWGATE_CONFIG": str(path)}


async def _documents(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    res = await http.get("/v1/agents/helper/memory/documents", params={"limit": 100})
    assert res.status_code == 200, res.text
    docs: list[dict[str, Any]] = res.json()["documents"]
    return docs


async def _until(check: Any, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_a_gateway_killed_while_re_embedding_resumes(dsn: str, tmp_path: Path) -> None:
    """Twelve documents embedded by model m1; the gateway restarted on m2 re-embeds them slowly in
    the background and is killed (SIGKILL) part way; started again on m2, it finishes: every
    document and every chunk is embedded by m2, none by m1."""
    port, data = free_port(), tmp_path / "data"
    headers = {"Authorization": f"Bearer {GATEWAY_TOKEN}"}
    async with stand_in("openai") as up:
        proc = await _serve(dsn, data, port, _config(tmp_path, "m1"))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:
                res = await http.post("/v1/providers", json={"name": "up", "provider_type": "openai_compat",
                                                             "api_base": up.base_url, "api_key": "k"})  # fmt: skip
                assert res.status_code == 201, res.text
                res = await http.post(
                    "/v1/agents", json={"agent_key": "helper", "provider": "up", "model": "m"}
                )
                assert res.status_code == 201, res.text
                for n in range(DOCS):
                    res = await http.put(f"/v1/agents/helper/memory/documents/notes/n{n}.md",
                                         json={"content": f"Note {n}: the release train number {n} left on time."})  # fmt: skip
                    assert res.status_code == 200, res.text
                old = {d["embedder"] for d in await _documents(http)}
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        assert len(old) == 1
        assert "" not in old

        up.embed_delay = 1.0  # one document a call: a few are done when the gateway is killed
        proc = await _serve(dsn, data, port, _config(tmp_path, "m2"))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:

                async def some_done() -> bool:
                    return any(d["embedder"] not in old | {""} for d in await _documents(http))

                await _until(some_done)
                partial = await _documents(http)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        new = {d["embedder"] for d in partial} - old - {""}
        assert len(new) == 1
        assert sum(d["embedder"] in old for d in partial) > 0  # killed part way

        up.embed_delay = 0.0
        proc = await _serve(dsn, data, port, _config(tmp_path, "m2"))
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers) as http:

                async def all_done() -> bool:
                    return all(
                        d["embedder"] in new and d["index_status"] == "indexed"
                        for d in await _documents(http)
                    )

                await _until(all_done)
        finally:
            proc.send_signal(signal.SIGTERM)
            await proc.wait()
    conn = await asyncpg.connect(dsn)
    try:
        chunks = await conn.fetch("SELECT embedder, embedding IS NOT NULL AS embedded FROM memory_chunks")
    finally:
        await conn.close()
    assert len(chunks) == DOCS
    assert {(r["embedder"], r["embedded"]) for r in chunks} == {(next(iter(new)), True)}
