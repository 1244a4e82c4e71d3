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


class TestWebSocketResultTypes:
    def test_no_method_result_is_an_untyped_dict(self) -> None:
        """Each WebSocket method's result in ``x-websocket-methods`` (what ``/docs/websocket`` shows)
        is a described type: properties, items, a union of types, or a map of described values; a bare
        ``{"type": "object"}`` is what ``dict[str, Any]`` (or no annotation) publishes."""
        spec = build_spec(ROUTES)
        components = spec["components"]["schemas"]

        def described(schema: dict[str, Any]) -> bool:
            ref = schema.get("$ref", "")
            target = components.get(ref.rsplit("/", 1)[-1], {}) if ref else schema
            if "anyOf" in target:
                return all(described(member) for member in target["anyOf"])
            return bool(target.get("properties") or target.get("items") or target.get("additionalProperties"))

        untyped = {m["name"] for m in spec["x-websocket-methods"] if not described(m["result"])}
        assert not untyped, untyped

    def test_chat_send_documents_both_answers(self) -> None:
        """``chat.send`` answers a run's result or what happened to the active run: both are listed."""
        spec = build_spec(ROUTES)
        send = next(m for m in spec["x-websocket-methods"] if m["name"] == "chat.send")
        names = {ref["$ref"].rsplit("/", 1)[-1] for ref in send["result"]["anyOf"]}
        assert names == {"RunAnswer", "ActiveRunAnswer"}
