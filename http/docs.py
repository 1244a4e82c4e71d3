"""``/docs``: Swagger UI over ``/v1/openapi.json``, its files served from the ``swagger-ui-bundle-v2``
package (no CDN, no outside host: it works offline), with the route table inside ``<noscript>`` for
a browser without JavaScript."""

from __future__ import annotations

import html
from functools import cache
from typing import Final

import swagger_ui_bundle
from starlette.responses import Response

from clawgate import __version__
from clawgate.errors import NotFound

from .types import Api

__all__ = ["ASSETS", "asset", "docs_page"]

_INIT = b"""window.ui = SwaggerUIBundle({
  url: "/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  defaultModelsExpandDepth: 0,
  displayRequestDuration: true
});
"""
"""Our own initializer: the package's one points at an outside demo document, and its validator
badge would call an outside host (``validatorUrl: null`` turns it off)."""

ASSETS: Final[dict[str, str]] = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "init.js": "text/javascript; charset=utf-8",
}
"""The files ``/docs/assets/{name}`` serves, with their media types (nothing else of the package)."""


@cache
def _asset_bytes(name: str) -> bytes:
    if name == "init.js":
        return _INIT
    data: bytes = (swagger_ui_bundle.swagger_ui_path / name).read_bytes()
    return data


def asset(name: str) -> Response:
    """One of ``ASSETS``. Raises: NotFound for any other name."""
    media = ASSETS.get(name)
    if media is None:
        raise NotFound(kind="docs asset", id=name)
    return Response(_asset_bytes(name), media_type=media, headers={"Cache-Control": "public, max-age=86400"})


def docs_page(routes: list[Api]) -> str:
    """The ``/docs`` page: Swagger UI, and the table of routes for a browser without JavaScript."""
    rows = []
    for api in routes:
        role = api.role.label if api.role is not None else "public"
        rows.append(
            f"<tr><td><code>{api.method}</code></td><td><code>{html.escape(api.path)}</code></td>"
            f"<td>{html.escape(api.summary)}</td><td>{role}</td></tr>"
        )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ClawGate API</title>"
        "<link rel='icon' href='/docs/assets/favicon-32x32.png'>"
        "<link rel='stylesheet' href='/docs/assets/swagger-ui.css'>"
        "<style>body{margin:0;font-family:system-ui,sans-serif}.intro{margin:1rem 2rem}"
        "td,th{padding:.3rem .8rem;text-align:left;border-bottom:1px solid #ddd}</style></head><body>"
        f"<p class='intro'>ClawGate {__version__}: <a href='/'>home</a> · "
        "<a href='/v1/openapi.json'>OpenAPI document</a> · <a href='/docs/websocket'>WebSocket methods</a>. "
        "Authenticate with <code>Authorization: Bearer &lt;gateway token or API key&gt;</code> "
        "(or <code>x-api-key</code>).</p>"
        "<div id='swagger-ui'></div>"
        f"<noscript><div class='intro'><h1>ClawGate {__version__} REST API</h1>"
        "<table><tr><th>method</th><th>path</th><th>what</th><th>min role</th></tr>"
        + "".join(rows)
        + "</table></div></noscript>"
        "<script src='/docs/assets/swagger-ui-bundle.js'></script>"
        "<script src='/docs/assets/init.js'></script></body></html>"
    )
