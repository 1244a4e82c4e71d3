"""``web_fetch``: an HTTP(S) GET whose page comes back as readable text, behind an SSRF guard.

The guard resolves every host name itself (``GuardedResolver``, the connector's only resolver) and
hands aiohttp only the addresses it checked, so the connection goes to a checked address (no second
lookup to rebind). A URL's IP literal is checked before the request; redirects are followed by hand,
each hop checked again. Refused: every address that is not globally routable (loopback, private,
link-local, CGNAT, multicast, unspecified, reserved, ULA), IPv4-mapped forms of them, and the cloud
metadata addresses, unless the tenant's ``allowed_hosts`` names the host (the metadata addresses
never). The connector keeps no connection alive and caches no lookup: a connection or an answer
allowed for one tenant is never reused for another.

HTML is reduced to text by selectolax (the Lexbor parser: one small wheel without dependencies,
about 10x faster than BeautifulSoup, maintained): scripts, styles and the like dropped, one line per
text block.
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
import socket
from typing import Annotated, Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from msgspec import Meta, Struct
from selectolax.lexbor import LexborHTMLParser

from clawgate.tools import ToolContext, ToolError, register, text_arg

__all__ = [
    "GuardedResolver",
    "WebFetchSettings",
    "blocked_address",
    "fetch_session",
    "html_text",
    "web_fetch",
]


class WebFetchSettings(Struct, kw_only=True, forbid_unknown_fields=True):
    """A tenant's ``web_fetch`` settings. ``allowed_hosts``: host names or addresses that may be
    private (a test server, an intranet wiki); set by the gateway's owner only."""

    allowed_hosts: list[Annotated[str, Meta(min_length=1, max_length=253)]] = []
    max_bytes: Annotated[int, Meta(ge=1024, le=5_000_000)] = 750_000
    max_chars: Annotated[int, Meta(ge=100, le=200_000)] = 50_000
    timeout_seconds: Annotated[float, Meta(gt=0, le=120)] = 30.0
    max_redirects: Annotated[int, Meta(ge=0, le=10)] = 3


_METADATA = frozenset({ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")})
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
# The hosts the request being made may reach although private (set around each request).
_allowed: contextvars.ContextVar[frozenset[str]] = contextvars.ContextVar(
    "web_fetch_allowed", default=frozenset()
)


def blocked_address(address: str, allowed: bool = False) -> bool:
    """Whether ``address`` must not be reached: metadata always, the rest unless ``allowed``."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in _METADATA:
        return True
    if allowed:
        return False
    return not ip.is_global or ip.is_multicast or (ip.version == 4 and ip in _CGNAT)


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver that drops refused addresses (and fails when none is left)."""

    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        allowed = host.lower().rstrip(".") in _allowed.get()
        kept = [r for r in found if not blocked_address(r["host"], allowed)]
        if not kept:
            raise OSError(f"{host} resolves to a private or reserved address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def fetch_session() -> aiohttp.ClientSession:
    """The client of ``web_fetch``: aiohttp like the providers' (``clawgate.app``), with the guarded
    resolver, no DNS cache, no keep-alive, no cookies, no automatic redirects."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            resolver=GuardedResolver(), use_dns_cache=False, force_close=True, limit=64
        ),
        cookie_jar=aiohttp.DummyCookieJar(),
        auto_decompress=True,
        raise_for_status=False,
    )


_DROP = ("script", "style", "noscript", "template", "svg", "iframe", "object", "head")
_BLANKS = re.compile(r"\n{3,}")


def html_text(html: str) -> str:
    """The readable text of an HTML page: its title, then one line per block of text."""
    tree = LexborHTMLParser(html)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else ""
    tree.strip_tags(list(_DROP))
    root = tree.body or tree.root
    body = root.text(separator="\n", strip=True) if root is not None else ""
    body = _BLANKS.sub("\n\n", body)
    return f"{title}\n\n{body}" if title else body


def _check_url(url: str, allowed: frozenset[str]) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ToolError("only http and https URLs with a host can be fetched")
    host = parts.hostname.lower().rstrip(".")
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host  # a name: the resolver checks each of its addresses
    if blocked_address(host, host in allowed):
        raise ToolError(f"{host} is a private or reserved address; web_fetch refuses it")
    return host


async def fetch_text(
    session: aiohttp.ClientSession, url: str, conf: WebFetchSettings
) -> tuple[str, int, str]:
    """GET ``url`` with the guard: (final URL, status, text). Raises: ToolError."""
    allowed = frozenset(h.lower().rstrip(".") for h in conf.allowed_hosts)
    token = _allowed.set(allowed)
    try:
        timeout = aiohttp.ClientTimeout(total=conf.timeout_seconds)
        for _hop in range(conf.max_redirects + 1):
            _check_url(url, allowed)
            try:
                async with session.get(url, allow_redirects=False, timeout=timeout,
                                       headers={"User-Agent": "ClawGate-web_fetch/1"}) as res:  # fmt: skip
                    if res.status in (301, 302, 303, 307, 308) and "Location" in res.headers:
                        url = urljoin(url, res.headers["Location"])
                        continue
                    body = bytearray()
                    async for chunk in res.content.iter_chunked(65536):
                        body += chunk
                        if len(body) >= conf.max_bytes:
                            del body[conf.max_bytes :]
                            break
                    kind = res.headers.get("Content-Type", "")
                    try:
                        text = bytes(body).decode(res.charset or "utf-8", "replace")
                    except LookupError:  # a charset Python does not know
                        text = bytes(body).decode("utf-8", "replace")
                    return url, res.status, html_text(text) if "html" in kind.lower() else text
            except TimeoutError:  # before OSError, of which it is a subclass
                raise ToolError(f"{url} did not answer within {conf.timeout_seconds:g} s") from None
            except (aiohttp.ClientConnectorError, OSError) as exc:
                raise ToolError(f"cannot fetch {urlsplit(url).hostname}: {_reason(exc)}") from None
            except aiohttp.ClientError as exc:
                raise ToolError(f"fetching {url} failed: {type(exc).__name__}") from None
        raise ToolError(f"more than {conf.max_redirects} redirects")
    finally:
        _allowed.reset(token)


def _reason(exc: BaseException) -> str:
    while exc.__cause__ is not None or getattr(exc, "os_error", None) is not None:
        nxt = exc.__cause__ or getattr(exc, "os_error", None)
        if nxt is None or nxt is exc:
            break
        exc = nxt
    text = str(exc)
    return text if "private or reserved" in text else "the host cannot be reached"


@register(
    "web_fetch",
    "Fetch a web page (HTTP(S) GET) and return its readable text. Private and local addresses are refused.",
    {"type": "object", "required": ["url"], "properties": {
        "url": {"type": "string", "description": "http:// or https:// URL"},
        "max_chars": {"type": "integer", "minimum": 100, "description": "Cut the text to this many characters"}}},
)  # fmt: skip
async def web_fetch(ctx: ToolContext, args: dict[str, Any]) -> str:
    url = text_arg(args, "url").strip()
    if ctx.builtin is None:
        raise ToolError("web_fetch is not available here")
    conf = await ctx.builtin.settings_of(ctx.tenant_id, "web_fetch", WebFetchSettings)
    final, status, text = await fetch_text(ctx.builtin.web, url, conf)
    limit = args.get("max_chars")
    limit = min(limit, conf.max_chars) if isinstance(limit, int) and limit >= 100 else conf.max_chars
    cut = len(text) > limit
    return f"URL: {final}\nStatus: {status}\n\n{text[:limit]}" + ("\n[truncated]" if cut else "")
