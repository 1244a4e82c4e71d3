"""Property-based fuzzing of the REST surface from the server's own ``/v1/openapi.json``: schemathesis
generates valid (positive) and invalid (negative) requests for every operation, sent to a real server
(the owner's credential, the LLM upstream a loopback stand-in); none may answer 5xx or INTERNAL.

Generation is deterministic (``derandomize``) so that the suite does not flake; a failure lists each
offending request and its answer. Bounded by ``EXAMPLES`` per operation and mode; the operations are
dealt into ``SHARDS`` tests so that the test workers share the generation (Hypothesis' work, most of
the time), and each shard runs on a server of its own."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests.conftest import ServerFactory
from tests.runtime.conftest import chat_setup
from tests.upstream import Reply

EXAMPLES = 12
SHARDS = 4


def _cases(doc: dict[str, Any], shard: int) -> list[schemathesis.Case]:
    """``EXAMPLES`` positive and negative cases of every ``SHARDS``-th operation of the OpenAPI document,
    from the ``shard``-th on."""
    schema = schemathesis.openapi.from_dict(doc)
    out: list[schemathesis.Case] = []
    for index, result in enumerate(schema.get_all_operations()):
        if index % SHARDS != shard:
            continue
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode)

            @settings(max_examples=EXAMPLES, database=None, deadline=None, derandomize=True,
                      phases=[Phase.generate], suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=strategy)
            def collect(case: schemathesis.Case) -> None:
                out.append(case)

            try:
                collect()
            except Unsatisfiable:
                continue  # no invalid request expressible for this operation (e.g. no parameters)
    return out


def _request(case: schemathesis.Case, base_url: str, headers: dict[str, str]) -> dict[str, Any]:
    """The case as ``httpx`` request arguments (schemathesis gives ``requests`` arguments)."""
    kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
    request: dict[str, Any] = {
        "method": kwargs["method"],
        "url": kwargs["url"],
        "headers": kwargs.get("headers") or {},
        "params": kwargs.get("params"),
    }
    if "json" in kwargs:
        request["content"] = json.dumps(kwargs["json"])
        request["headers"].setdefault("Content-Type", "application/json")
    elif kwargs.get("data") is not None:
        data = kwargs["data"]
        request["content"] = data if isinstance(data, (bytes, str)) else json.dumps(data)
    return request


@pytest.mark.parametrize("shard", range(SHARDS))
async def test_no_operation_answers_5xx_or_internal(make_server: ServerFactory, shard: int) -> None:
    async with chat_setup(make_server, rate_limits__per_ip_rpm=0, rate_limits__per_key_rpm=0) as chat:
        chat.upstream.script(*[Reply(content="ok") for _ in range(2000)])
        async with chat.admin() as http:
            doc = (await http.get("/v1/openapi.json")).json()
            cases = _cases(doc, shard)
            failures: list[str] = []
            statuses: dict[int, int] = {}
            for case in cases:
                request = _request(case, chat.server.url, dict(http.headers))
                async with http.stream(**request) as res:
                    # An open event stream never ends: its head is the answer (a 200 of text/event-stream).
                    text = ""
                    if not res.headers.get("content-type", "").startswith("text/event-stream"):
                        text = (await res.aread()).decode(errors="replace")
                statuses[res.status_code] = statuses.get(res.status_code, 0) + 1
                # The code, not the word: a generated path segment "INTERNAL" comes back in a 404's message.
                if res.status_code >= 500 or '"code":"INTERNAL"' in text[:300] or '"internal"' in text[:300]:
                    sent = {k: request[k] for k in ("method", "url", "params", "content") if request.get(k)}
                    failures.append(f"{sent} -> {res.status_code} {text[:300]}")
    print(
        f"openapi fuzz: {len(cases)} requests over {len(doc['paths'])} paths, statuses {sorted(statuses.items())}"
    )
    assert len(cases) > 200 // SHARDS
    assert failures == [], "\n".join(failures)
