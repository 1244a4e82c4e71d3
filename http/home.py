"""``/``: a small page for whoever opens the gateway in a browser. Version, health, auth mode, what the
caller may count (nothing of a tenant's without a credential when a token is configured), links to
the references, and snippets (curl, the ``openai`` SDK, a WebSocket client) filled in with this
server's URL. Plain HTML: no script, no outside host, it renders with JavaScript off."""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse, Response

from clawgate import __version__
from clawgate.errors import GatewayError
from clawgate.principal import Principal, Role
from clawgate.services.overview import Counts, count_for

from .routing import authenticate
from .types import Api, HttpContext

__all__ = ["ROUTES"]

_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:52rem;padding:0 1rem;color:#222}"
    "pre{background:#f5f5f5;padding:.7rem;overflow:auto;font-size:.85em}td{padding:.15rem .8rem .15rem 0}"
    ".ok{color:#080}.bad{color:#b00}"
)


async def _caller(ctx: HttpContext) -> tuple[Principal | None, str]:
    """The caller if its credential (or development mode) is accepted, else why not."""
    try:
        return await authenticate(ctx.request, ctx.gateway, Role.ADMIN), ""
    except GatewayError as exc:
        return None, exc.message(ctx.locale)


async def home(ctx: HttpContext, _: None) -> Response:
    """The landing page."""
    gateway = ctx.gateway
    healthy = await gateway.db.healthy()
    who, refusal = await _caller(ctx)
    counts = None
    if who is not None and healthy:
        counts = await count_for(who, gateway.agents, gateway.providers, gateway.sessions)
    base = str(ctx.request.base_url).rstrip("/")
    dev = gateway.auth.dev_mode
    return HTMLResponse(_page(base, healthy, dev, who, refusal, counts))


def _page(
    base: str, healthy: bool, dev: bool, who: Principal | None, refusal: str, counts: Counts | None
) -> str:
    mode = (
        "development mode: no gateway token is configured, every local client is admin"
        if dev
        else "token required: send the gateway token or an API key"
    )
    health = "<span class='ok'>ok</span>" if healthy else "<span class='bad'>database unavailable</span>"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width'><title>ClawGate {__version__}</title>"
        f"<style>{_STYLE}</style></head><body><h1>ClawGate {__version__}</h1>"
        f"<table><tr><td>health</td><td>{health}</td></tr>"
        f"<tr><td>auth</td><td>{html.escape(mode)}</td></tr>"
        f"<tr><td>you</td><td>{html.escape(_you(who, refusal))}</td></tr>"
        f"{_count_rows(counts)}</table>"
        "<p><a href='/docs'>API reference</a> · <a href='/v1/openapi.json'>OpenAPI document</a> · "
        "<a href='/docs/websocket'>WebSocket methods</a> · <a href='/health'>/health</a> · "
        "<a href='/readyz'>/readyz</a></p>"
        f"{_snippets(base, dev)}</body></html>"
    )


def _you(who: Principal | None, refusal: str) -> str:
    if who is None:
        return f"not signed in ({refusal}); tenant data is hidden"
    via = {"dev": "development mode", "token": "gateway token", "api_key": "API key"}.get(who.via, who.via)
    return f"{who.role.label} in tenant {who.tenant_slug or who.tenant_id}, by {via}"


def _count_rows(counts: Counts | None) -> str:
    if counts is None:
        return ""
    providers = "not visible to your role" if counts.providers is None else str(counts.providers)
    return (
        f"<tr><td>agents</td><td>{counts.agents}</td></tr><tr><td>providers</td><td>{providers}</td></tr>"
        f"<tr><td>sessions</td><td>{counts.sessions}</td></tr>"
    )


def _snippets(base: str, dev: bool) -> str:
    ws = "ws" + base.removeprefix("http")
    if dev:
        header, key, token = "", '"dev"', '""'
    else:
        header = ' -H "Authorization: Bearer $CLAWGATE_GATEWAY_TOKEN"'
        key, token = 'os.environ["CLAWGATE_GATEWAY_TOKEN"]', 'os.environ["CLAWGATE_GATEWAY_TOKEN"]'
    curl = (
        f"curl{header} {base}/v1/agents\n"
        f'curl{header} --json \'{{"agent_key":"helper","provider":"openai","model":"gpt-4o-mini"}}\' '
        f"{base}/v1/agents"
    )
    note = "# development mode: any api_key is accepted\n" if dev else ""
    sdk = (
        f"import os\nfrom openai import OpenAI\n\n{note}"
        f'client = OpenAI(base_url="{base}/v1", api_key={key})\n'
        'reply = client.chat.completions.create(model="helper", messages=[{"role": "user", "content": "hi"}])\n'
        "print(reply.choices[0].message.content)"
    )
    socket = (
        "import asyncio, json, os\nfrom websockets.asyncio.client import connect\n\n\nasync def main():\n"
        f'    async with connect("{ws}/ws") as ws:\n'
        f'        await ws.send(json.dumps({{"type": "req", "id": "1", "method": "connect", '
        f'"params": {{"token": {token}, "protocol": 3}}}}))\n'
        "        print(await ws.recv())\n"
        '        await ws.send(json.dumps({"type": "req", "id": "2", "method": "chat.send", '
        '"params": {"agentId": "helper", "message": "hi"}}))\n'
        "        async for frame in ws:\n            print(frame)\n\n\nasyncio.run(main())"
    )
    blocks = [
        ("curl", curl),
        ("the openai SDK (Python)", sdk),
        ("a WebSocket client (Python websockets)", socket),
    ]
    return "<h2>Try it</h2>" + "".join(
        f"<h3>{html.escape(title)}</h3><pre><code>{html.escape(text)}</code></pre>" for title, text in blocks
    )


ROUTES = [
    Api("GET", "/", home, None, "This gateway at a glance: health, auth mode, counts, snippets", tag="docs",
        family="plain", media_type="text/html"),
]  # fmt: skip
