"""``/v1/openapi.json``, generated from the route table and the msgspec types, and ``/docs``, a
self-contained HTML reference rendered from it (no CDN: it works offline)."""

from __future__ import annotations

import html
import re
from functools import cache
from typing import Any

import msgspec
from starlette.responses import HTMLResponse, Response

from clawgate import __version__
from clawgate.errors import InvalidRequest

from .errors import family_for_path
from .routing import decode_body
from .types import Api, HttpContext

__all__ = ["build_spec", "openapi_routes"]

_CONVERTER = re.compile(r"\{([a-zA-Z_]+):[a-z]+\}")
_ERROR_SCHEMAS: dict[str, Any] = {
    "Error": {
        "description": "GoClaw's error envelope",
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
            },
            "request_id": {"type": "string"},
        },
        "required": ["error"],
    },
    "OpenAIError": {
        "description": "OpenAI's error object",
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                    "param": {"type": ["string", "null"]},
                    "code": {"type": ["string", "null"]},
                },
                "required": ["message", "type"],
            }
        },
        "required": ["error"],
    },
    "MCError": {
        "description": "Mission Control's error envelope",
        "type": "object",
        "properties": {
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "request_id": {"type": "string"},
        },
        "required": ["detail"],
    },
}
_FAMILY_ERROR = {"openai": "OpenAIError", "mc": "MCError", "goclaw": "Error"}
_BODY_ERRORS = {
    "413": "The body is larger than limits.max_body_bytes",
    "415": "The body is not JSON (Content-Type other than application/json or application/*+json)",
}


_SSE = (
    "With stream: true, server-sent events: one JSON object per data: line, ending with data: [DONE] "
    "(chat completions) or response.completed / response.failed (responses)"
)


def _body_required(kind: type[Any]) -> bool:
    """Whether a request without a body is refused: it is read as ``{}`` (``decode_body``)."""
    try:
        decode_body(b"", kind)
    except InvalidRequest:
        return True
    return False


def build_spec(routes: list[Api]) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``routes``."""
    kinds: list[Any] = []
    for api in routes:
        kinds += [k for k in (api.body, api.query, api.response) if k is not None]
    schemas, components = msgspec.json.schema_components(kinds, ref_template="#/components/schemas/{name}")
    refs = dict(zip(kinds, schemas, strict=True))
    components.update(_ERROR_SCHEMAS)
    paths: dict[str, dict[str, Any]] = {}
    for api in routes:
        path = _CONVERTER.sub(r"{\1}", api.path)
        # Errors are rendered in the envelope of the path's family (``render_exception``).
        shape = _FAMILY_ERROR[family_for_path(path)]
        error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}}
        answer = refs.get(api.response, {}) if api.media_type == "application/json" else {"type": "string"}
        content: dict[str, Any] = {api.media_type: {"schema": answer}}
        if api.streams:
            content["text/event-stream"] = {"schema": {"type": "string", "description": _SSE}}
        op: dict[str, Any] = {
            "summary": api.summary,
            "operationId": f"{api.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
            "tags": [api.tag] if api.tag else [],
            "responses": {
                str(api.status): {"description": "OK", "content": content},
                "default": {"description": "Error", "content": error},
            },
        }
        params = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"\{([a-zA-Z_]+)\}", path)
        ]
        if api.query is not None:
            for name, spec in components.get(api.query.__name__, {}).get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": False, "schema": spec})
        if params:
            op["parameters"] = params
        if api.body is not None:
            op["requestBody"] = {
                "required": _body_required(api.body),
                "content": {"application/json": {"schema": refs[api.body]}},
            }
            for status, description in _BODY_ERRORS.items():
                op["responses"][status] = {"description": description, "content": error}
        if api.role is not None:
            op["security"] = [{"bearer": []}]
            op["x-min-role"] = api.role.label
        paths.setdefault(path, {})[api.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "ClawGate", "version": __version__,
                 "description": "GoClaw-compatible /v1 REST API of the ClawGate gateway."},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "Gateway token or API key"}},
        },
    }  # fmt: skip


def openapi_routes(all_routes: list[Api]) -> list[Api]:
    """The two documentation routes, closing over the full route table."""

    @cache
    def spec_bytes() -> bytes:
        return msgspec.json.encode(build_spec(all_routes))

    async def openapi(ctx: HttpContext, _: None) -> Response:
        return Response(spec_bytes(), media_type="application/json")

    async def docs(ctx: HttpContext, _: None) -> Response:
        rows = []
        for api in all_routes:
            role = api.role.label if api.role is not None else "public"
            rows.append(
                f"<tr><td><code>{api.method}</code></td><td><code>{html.escape(api.path)}</code></td>"
                f"<td>{html.escape(api.summary)}</td><td>{role}</td></tr>"
            )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>ClawGate API</title>"
            "<style>body{font-family:system-ui,sans-serif;margin:2rem}td,th{padding:.3rem .8rem;"
            "text-align:left;border-bottom:1px solid #ddd}code{font-size:.95em}</style></head><body>"
            f"<h1>ClawGate {__version__} REST API</h1><p>Machine-readable: "
            "<a href='/v1/openapi.json'>/v1/openapi.json</a>. Authenticate with "
            "<code>Authorization: Bearer &lt;gateway token or API key&gt;</code>.</p>"
            "<table><tr><th>method</th><th>path</th><th>what</th><th>min role</th></tr>"
            + "".join(rows)
            + "</table></body></html>"
        )
        return HTMLResponse(page)

    return [
        Api("GET", "/v1/openapi.json", openapi, None, "This OpenAPI document", tag="docs", family="plain"),
        Api(
            "GET",
            "/docs",
            docs,
            None,
            "Human-readable API reference",
            tag="docs",
            family="plain",
            media_type="text/html",
        ),
    ]
