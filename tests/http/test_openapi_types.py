"""Every answer in ``/v1/openapi.json`` is described by its type (no route publishes a bare object)."""

from __future__ import annotations

from typing import Any

from clawgate.http.openapi import build_spec
from clawgate.http.routes import ROUTES


def _success_schemas() -> list[tuple[str, dict[str, Any]]]:
    spec = build_spec(ROUTES)
    found = []
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            for status, answer in op["responses"].items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                if status != "default" and schema is not None:
                    found.append((f"{method.upper()} {path} {status}", schema))
    return found


class TestOpenAPITypes:
    def test_every_json_answer_is_a_named_type(self) -> None:
        """A JSON success answer refers to a component with its properties, never a bare
        ``{"type": "object"}`` (what ``dict[str, Any]`` publishes)."""
        components = build_spec(ROUTES)["components"]["schemas"]
        untyped = []
        for name, schema in _success_schemas():
            ref = schema.get("$ref", "")
            target = components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema
            if not (target.get("properties") or target.get("items") or target.get("anyOf")):
                untyped.append(name)
        assert not untyped

    def test_openai_answers_have_their_sdk_fields(self) -> None:
        """The chat completion and the response object publish the fields the openai SDK reads."""
        components = build_spec(ROUTES)["components"]["schemas"]
        completion = components["ChatCompletion"]
        assert {"id", "object", "created", "model", "choices", "usage"} <= set(completion["properties"])
        assert {"id", "created", "model", "choices", "usage"} <= set(completion["required"])
        response = components["ResponseObject"]
        assert {"id", "created_at", "status", "model"} <= set(response["required"])
        assert "output" in response["properties"]
