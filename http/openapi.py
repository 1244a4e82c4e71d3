"""``/v1/openapi.json``, generated from the route table, the WebSocket method table and the msgspec
types, and the documentation routes that render it (``clawgate.http.docs``: no CDN, it works
offline)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

import msgspec
from starlette.responses import HTMLResponse, Response

from clawgate import __version__
from clawgate.errors import InvalidRequest
from clawgate.rpc.types import Method

from . import docs
from .errors import family_for_path
from .examples import REQUESTS, RESPONSES
from .routing import QUERY_TOKEN, decode_body
from .types import Api, HttpContext
from .wsdoc import WS_EVENTS, result_members, result_type, websocket_page, ws_method

__all__ = ["build_spec", "openapi_routes", "short_names"]

_CONVERTER = re.compile(r"\{([a-zA-Z_]+):[a-z]+\}")
AGENT_API = "/api/v1/agent/"
"""Mission Control's agent API: no user credential; an ``X-Agent-Token`` (``http/mc_agent.py``)."""
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
    "CTError": {
        "description": "ClawTasker's error envelope",
        "type": "object",
        "properties": {"error": {"type": "string"}},
        "required": ["error"],
    },
}
_FAMILY_ERROR = {"openai": "OpenAIError", "mc": "MCError", "ct": "CTError", "goclaw": "Error"}
_BODY_ERRORS = {
    "413": "The body is larger than limits.max_body_bytes (ClawTasker's writes: 160 KB)",
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


def build_spec(routes: list[Api], methods: Mapping[str, Method] | None = None) -> dict[str, Any]:
    """An OpenAPI 3.1 document for ``routes``, with the WebSocket ``methods`` (default: every
    method) described under ``x-websocket-methods`` and their events under ``x-websocket-events``."""
    from clawgate.rpc.methods import METHODS

    methods = METHODS if methods is None else methods
    kinds: list[Any] = []
    for api in routes:
        kinds += [k for k in (api.body, api.query, api.response, api.form) if k is not None]
    ws_kinds = {name: (method.params, result_type(method)) for name, method in methods.items()}
    for params, result in ws_kinds.values():
        kinds += [k for k in (params, *result_members(result)) if k is not None]
    schemas, components = msgspec.json.schema_components(kinds, ref_template="#/components/schemas/{name}")
    names = short_names(components)
    schemas, components = (
        _renamed(schemas, names),
        {names[k]: _renamed(v, names) for k, v in components.items()},
    )
    refs = dict(zip(kinds, schemas, strict=True))
    components.update(_ERROR_SCHEMAS)
    paths: dict[str, dict[str, Any]] = {}
    for api in routes:
        path = _CONVERTER.sub(r"{\1}", api.path)
        paths.setdefault(path, {})[api.method.lower()] = _operation(api, path, refs, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ClawGate", "version": __version__, "description": _DESCRIPTION},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "Gateway token or API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                           "description": "Gateway token or API key (Anthropic-style clients)"},
                "agentToken": {"type": "apiKey", "in": "header", "name": "X-Agent-Token",
                               "description": "A Mission Control agent token (the /api/v1/agent/ routes)"},
                "queryToken": {"type": "apiKey", "in": "query", "name": QUERY_TOKEN,
                               "description": "Gateway token or API key in the query (RFC 6750 2.3), for a "
                                              "browser's EventSource: only on the event streams that say so"},
            },
        },
        "x-websocket-methods": [
            ws_method(name, methods[name], *ws_kinds[name], refs) for name in sorted(methods)
        ],
        "x-websocket-events": [{"name": name, "description": WS_EVENTS[name]} for name in sorted(WS_EVENTS)],
    }  # fmt: skip


_DESCRIPTION = (
    "GoClaw-compatible /v1 REST API and OpenAI-compatible endpoints of the ClawGate gateway. "
    "The WebSocket protocol v3 at /ws is described under x-websocket-methods and x-websocket-events "
    "(readable at /docs/websocket)."
)


def _operation(api: Api, path: str, refs: dict[Any, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI operation of one route, with its examples (``clawgate.http.examples``)."""
    key = f"{api.method} {api.path}"
    # Errors are rendered in the envelope of the path's family (``render_exception``).
    shape = _FAMILY_ERROR[family_for_path(path)]
    error = {"application/json": {"schema": {"$ref": f"#/components/schemas/{shape}"}}}
    answer = refs.get(api.response, {}) if api.media_type == "application/json" else {"type": "string"}
    content: dict[str, Any] = {api.media_type: {"schema": answer}}
    if key in RESPONSES:
        content[api.media_type]["example"] = RESPONSES[key]
    if api.streams:
        content["text/event-stream"] = {"schema": {"type": "string", "description": _SSE}}
    op: dict[str, Any] = {
        "summary": api.summary,
        "operationId": f"{api.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}",
        "tags": [t for t in (api.tag, *api.role_tags) if t],
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
        query = components.get(refs[api.query].get("$ref", "").rsplit("/", 1)[-1], {})
        for name, spec in query.get("properties", {}).items():
            params.append({"name": name, "in": "query", "required": False, "schema": spec})
    if params:
        op["parameters"] = params
    if api.body is not None:
        body: dict[str, Any] = {"schema": refs[api.body]}
        if key in REQUESTS:
            body["example"] = REQUESTS[key]
        op["requestBody"] = {"required": _body_required(api.body), "content": {"application/json": body}}
        for status, description in _BODY_ERRORS.items():
            if status != "415" or not api.own_body:  # a handler reading its own body takes any type
                op["responses"][status] = {"description": description, "content": error}
    if api.form is not None:
        files = {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "array", "items": {"type": "string", "format": "binary"}}}}  # fmt: skip
        form = {"schema": {"allOf": [refs[api.form], files]}}
        op["requestBody"] = {"required": True, "content": {"multipart/form-data": form}}
        for status, description in {**_BODY_ERRORS, "415": "The body is not multipart/form-data"}.items():
            op["responses"][status] = {"description": description, "content": error}
    op.update(api.extensions)
    if api.role is not None:
        op["security"] = [
            {"bearer": []}, {"apiKey": []},
            *([{"agentToken": []}] if api.agents else []),
            *([{"queryToken": []}] if api.query_token else []),
        ]  # fmt: skip
        op["x-min-role"] = api.role.label
    elif api.path.startswith(AGENT_API):
        op["security"] = [{"agentToken": []}]
    return op


_ACRONYMS = {"openai": "OpenAI", "api": "API", "rpc": "RPC", "http": "HTTP"}


def short_names(components: Mapping[str, Any]) -> dict[str, str]:
    """Component names without module paths: msgspec names a type by its module path when two
    share a name (``clawgate.http.openai.ModelList``); those become the module's last part plus
    the name (``OpenAIModelList``, ``ProvidersModelList``), unique."""
    names = {name: name for name in components if "." not in name}
    for name in sorted(n for n in components if "." in n):
        module, _, short = name.rpartition(".")
        part = module.rsplit(".", 1)[-1]
        prefix = "".join(_ACRONYMS.get(w, w.capitalize()) for w in part.split("_"))
        candidate = f"{prefix}{short}"
        while candidate in names.values():
            candidate += "_"
        names[name] = candidate
    return names


def _renamed(value: Any, names: Mapping[str, str]) -> Any:
    """``value`` with every ``$ref`` to a renamed component rewritten."""
    if isinstance(value, dict):
        out = {k: _renamed(v, names) for k, v in value.items()}
        ref = out.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF):
            out["$ref"] = _REF + names.get(ref[len(_REF) :], ref[len(_REF) :])
        return out
    if isinstance(value, list | tuple):
        return [_renamed(v, names) for v in value]
    return value


_REF = "#/components/schemas/"


def openapi_routes(all_routes: list[Api]) -> list[Api]:
    """The documentation routes, closing over the full route table: the OpenAPI document, the
    interactive reference at ``/docs`` and its assets, and the WebSocket reference."""

    @cache
    def spec() -> dict[str, Any]:
        return build_spec(all_routes)

    @cache
    def spec_bytes() -> bytes:
        return msgspec.json.encode(spec())

    @cache
    def websocket_bytes() -> bytes:
        return websocket_page(spec()).encode()

    @cache
    def reference_bytes() -> bytes:
        return docs.docs_page(all_routes).encode()

    async def openapi(ctx: HttpContext, _: None) -> Response:
        return Response(spec_bytes(), media_type="application/json")

    async def reference(ctx: HttpContext, _: None) -> Response:
        return HTMLResponse(reference_bytes())

    async def websocket(ctx: HttpContext, _: None) -> Response:
        return HTMLResponse(websocket_bytes())

    async def asset(ctx: HttpContext, _: None) -> Response:
        return docs.asset(ctx.path["name"])

    return [
        Api("GET", "/v1/openapi.json", openapi, None, "This OpenAPI document", tag="docs", family="plain"),
        Api("GET", "/docs", reference, None, "Interactive API reference (Swagger UI, served locally)",
            tag="docs", family="plain", media_type="text/html"),
        Api("GET", "/docs/websocket", websocket, None, "WebSocket methods and events", tag="docs",
            family="plain", media_type="text/html"),
        Api("GET", "/docs/assets/{name}", asset, None, "A static file of the API reference (Swagger UI)",
            tag="docs", family="plain", media_type="application/octet-stream"),
    ]  # fmt: skip
