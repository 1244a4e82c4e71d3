"""Clerk JWTs for Mission Control's user routes (``mission_control.auth_mode = clerk``; reference
1.1, 2.1): a session token signed RS256 by one of the keys Clerk publishes at its JWKS URL.

- **Keys**: fetched (aiohttp, the gateway's client) on first use, kept ``jwks_cache_seconds``, and
  fetched again at once when a token names an unknown ``kid`` (key rotation); an unknown ``kid`` is
  looked up at most every ``REFETCH_SECONDS``, so tokens with made-up ids cannot make the gateway
  hammer Clerk. Concurrent misses share one fetch.
- **Claims** (PyJWT): the signature, ``exp`` (required), ``nbf`` when present, ``iss`` equal to
  ``clerk.issuer``, ``aud`` only when ``clerk.audience`` is set; ``sub`` (the Clerk user id) is
  required. Any failure is 401.
- **Who**: the Clerk user id is a user of the tenant ``clerk.tenant`` (``tenant_users.user_id``,
  managed with ``/v1/tenants/{id}/users``), with that row's role (owner and admin: admin; operator;
  viewer). A valid token of someone who is no user of the tenant is 403.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final

import aiohttp
import jwt
import structlog

from clawgate.config import ClerkSettings
from clawgate.errors import Forbidden, TenantAccessRevoked, Unauthorized, Unavailable
from clawgate.principal import Principal, Role
from clawgate.store import Database, tenants

__all__ = ["REFETCH_SECONDS", "ClerkAuth", "looks_like_jwt"]

log = structlog.get_logger("clawgate.clerk")

REFETCH_SECONDS: Final = 10.0
"""The least time between two fetches of the keys caused by an unknown ``kid``."""
_ROLES: Final = {"owner": Role.ADMIN, "admin": Role.ADMIN, "operator": Role.OPERATOR, "viewer": Role.VIEWER}


_REASONS: Final[tuple[tuple[type[jwt.PyJWTError], str], ...]] = (
    (jwt.ExpiredSignatureError, "Token expired."),
    (jwt.ImmatureSignatureError, "Token not valid yet."),
    (jwt.InvalidIssuerError, "Invalid token issuer."),
    (jwt.InvalidAudienceError, "Invalid token audience."),
    (jwt.InvalidSignatureError, "Invalid token signature."),
)
"""What a 401 says of a token PyJWT refused (anything else: "Invalid token.")."""


def looks_like_jwt(token: str) -> bool:
    """A compact JWS: three base64url parts, a JSON header first (``eyJ``). The gateway token and
    API keys never look like one."""
    return token.startswith("eyJ") and token.count(".") == 2


def _refused(detail: str) -> Unauthorized:
    return Unauthorized("failed_precondition", detail=detail)


class ClerkAuth:
    """Verifies Clerk session tokens and maps their user to a principal of the configured tenant."""

    def __init__(self, settings: ClerkSettings, db: Database, http: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._db = db
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -1e18
        self._missed_at = -1e18
        self._fetching: asyncio.Task[None] | None = None

    async def authenticate(self, token: str) -> Principal:
        """The principal behind a Clerk JWT. Raises: Unauthorized (bad token), Forbidden (not a
        user of the tenant), TenantAccessRevoked (the tenant is suspended), Unavailable (no key
        could be fetched)."""
        claims = await self.verify(token)
        user_id = claims["sub"]
        async with self._db.connection() as conn:
            tenant = await tenants.get_by_ref(conn, self._settings.tenant)
            member = await tenants.get_user(conn, tenant.id, user_id) if tenant is not None else None
        if tenant is None or member is None:
            raise Forbidden(
                "failed_precondition", detail="This Clerk user is not a member of the organization."
            )
        if tenant.status != "active":
            raise TenantAccessRevoked(tenant=tenant.slug)
        return Principal(
            role=_ROLES.get(member.role, Role.VIEWER), user_id=user_id, tenant_id=tenant.id, tenant_slug=tenant.slug,
            tenant_name=tenant.name, via="clerk",
        )  # fmt: skip

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature and ``exp``/``nbf``/``iss``/``aud`` hold.
        Raises: Unauthorized, Unavailable."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _refused("Invalid token.") from None
        kid = header.get("kid")
        if header.get("alg") != "RS256" or not isinstance(kid, str) or not kid:
            raise _refused("Invalid token: an RS256 token with a key id is required.")
        key = await self._key(kid)
        audience = self._settings.audience or None
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key.key, algorithms=["RS256"], issuer=self._settings.issuer, audience=audience,
                leeway=self._settings.leeway_seconds,
                options={"require": ["exp", "iss", "sub"], "verify_aud": audience is not None},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            reason = next((text for kind, text in _REASONS if isinstance(exc, kind)), "Invalid token.")
            raise _refused(reason) from None
        if not isinstance(claims.get("sub"), str) or not 1 <= len(claims["sub"]) <= 255:
            raise _refused("Invalid token: no user.")
        return claims

    async def _key(self, kid: str) -> jwt.PyJWK:
        now = time.monotonic()
        stale = now - self._fetched_at > self._settings.jwks_cache_seconds
        if kid not in self._keys and not stale and now - self._missed_at >= REFETCH_SECONDS:
            self._missed_at = now
            stale = True  # key rotation: a kid we do not know yet
        if stale:
            await self._refresh()
        found = self._keys.get(kid)
        if found is None:
            raise _refused("Invalid token: unknown signing key.")
        return found

    async def _refresh(self) -> None:
        """Fetch the keys once for every caller waiting now. Without any key afterwards: Unavailable."""
        if self._fetching is None or self._fetching.done():
            self._fetching = asyncio.ensure_future(self._fetch())
        try:
            await asyncio.shield(self._fetching)
        except Exception as exc:  # unreachable, not JSON, no usable key: the old keys (if any) stay
            log.warning("clerk.jwks_fetch_failed", url=self._settings.jwks_url, error=str(exc))
            if not self._keys:
                raise Unavailable(
                    "failed_precondition", detail="Cannot fetch Clerk's signing keys."
                ) from None

    async def _fetch(self) -> None:
        timeout = aiohttp.ClientTimeout(total=10)
        async with self._http.get(self._settings.jwks_url, timeout=timeout) as res:
            res.raise_for_status()
            data = await res.json(content_type=None)
        keys: dict[str, jwt.PyJWK] = {}
        for item in data.get("keys", []) if isinstance(data, dict) else []:
            if not isinstance(item, dict) or item.get("kty") != "RSA" or not isinstance(item.get("kid"), str):
                continue
            try:
                keys[item["kid"]] = jwt.PyJWK(item, algorithm="RS256")
            except jwt.PyJWTError:
                continue
        if not keys:
            raise ValueError("no RSA key in the JWKS")
        self._keys = keys
        self._fetched_at = time.monotonic()
