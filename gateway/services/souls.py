"""Mission Control's souls directory (``/api/v1/souls-directory``): SOUL.md templates to give an agent.

MC proxies https://souls.directory; ClawGate must work offline, so it ships a few SOULs inside the
package (``clawgate/souls/<handle>/<slug>.md``), searched by ``handle/slug``. With
``mission_control.souls_directory_url`` set, a SOUL not shipped is fetched from that directory's
``/api/souls/<handle>/<slug>.md`` (its failure is 502, as MC's). Handles and slugs are checked as
MC checks them: a letter or digit, then letters, digits, ``_`` and ``-`` (422 otherwise), so a
path can never leave the directory. Org admins and MC agents (``allow``; the transport
authenticates an agent by its token).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Final
from urllib.parse import quote

import aiohttp
from msgspec import Meta, Struct

from clawgate.errors import NotFound, UpstreamError, invalid_field
from clawgate.principal import Principal
from clawgate.services.org import OrgService
from clawgate.store import Database

__all__ = ["SoulMarkdown", "SoulRef", "SoulSearch", "SoulsDirectory", "SoulsQuery"]

SHIPPED: Final = Path(__file__).resolve().parent.parent / "souls"
_SEGMENT: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_PREFIX: Final = "/api/v1/souls-directory"
MAX_BYTES: Final = 200_000


class SoulsQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    q: Annotated[str, Meta(max_length=200)] = ""
    limit: Annotated[int, Meta(ge=1, le=100)] = 20


class SoulRef(Struct, kw_only=True):
    handle: str
    slug: str
    page_url: str
    raw_md_url: str


class SoulSearch(Struct, kw_only=True):
    """MC's ``SoulsDirectorySearchResponse``."""

    items: list[SoulRef]


class SoulMarkdown(Struct, kw_only=True):
    """MC's ``SoulsDirectoryMarkdownResponse``."""

    handle: str
    slug: str
    content: str


def _segment(value: str, field: str) -> str:
    cleaned = value.strip().strip("/")
    if not cleaned:
        raise invalid_field(f"$.{field}", f"{field} is required")
    if not _SEGMENT.match(cleaned) or len(cleaned) > 100:
        raise invalid_field(f"$.{field}", f"{field} contains unsupported characters")
    return cleaned


def _ref(handle: str, slug: str) -> SoulRef:
    page = f"{_PREFIX}/{handle}/{slug}"
    return SoulRef(handle=handle, slug=slug, page_url=page, raw_md_url=page + ".md")


class SoulsDirectory:
    """The shipped SOULs, and an optional upstream directory for the others."""

    def __init__(self, db: Database, org: OrgService, http: aiohttp.ClientSession, upstream: str) -> None:
        self._db = db
        self._org = org
        self._http = http
        self._upstream = upstream.rstrip("/")
        self._refs = sorted(
            (p.parent.name, p.stem) for p in SHIPPED.glob("*/*.md") if _SEGMENT.match(p.parent.name)
        )

    async def allow(self, who: Principal) -> None:
        """A user reads the directory when it is an org admin (MC's ``require_admin_or_agent``; an
        agent, authenticated by its token, needs nothing more). Raises: Forbidden."""
        async with self._db.transaction() as conn:
            await self._org.admin(conn, who)

    async def search(self, query: SoulsQuery) -> SoulSearch:
        """The shipped SOULs whose ``handle/slug`` contains ``q`` (case-insensitive), ``limit`` at most."""
        wanted = query.q.strip().lower()
        found = [_ref(h, s) for h, s in self._refs if wanted in f"{h}/{s}".lower()]
        return SoulSearch(items=found[: query.limit])

    async def markdown(self, handle: str, slug: str) -> SoulMarkdown:
        """A SOUL's markdown. Raises: InvalidRequest (handle, slug), NotFound, UpstreamError."""
        safe_handle = _segment(handle, "handle")
        safe_slug = _segment(slug.strip().removesuffix(".md"), "slug")
        if (safe_handle, safe_slug) in self._refs:
            content = (SHIPPED / safe_handle / f"{safe_slug}.md").read_text(encoding="utf-8")
            return SoulMarkdown(handle=safe_handle, slug=safe_slug, content=content)
        if not self._upstream:
            raise NotFound(kind="soul", id=f"{safe_handle}/{safe_slug}")
        url = f"{self._upstream}/api/souls/{quote(safe_handle)}/{quote(safe_slug)}.md"
        try:
            async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=15)) as res:
                if res.status == 404:
                    raise NotFound(kind="soul", id=f"{safe_handle}/{safe_slug}")
                if res.status != 200:
                    raise UpstreamError(
                        "failed_precondition", detail=f"souls directory answered {res.status}"
                    )
                body = await res.content.read(MAX_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamError("failed_precondition", detail=f"souls directory unreachable: {exc}") from None
        if len(body) > MAX_BYTES:
            raise UpstreamError("failed_precondition", detail="souls directory answer too large")
        return SoulMarkdown(handle=safe_handle, slug=safe_slug, content=body.decode("utf-8", "replace"))
