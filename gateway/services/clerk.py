"""Clerk JWTs for Mission Control's user routes (``mission_control.auth_mode = clerk``; reference
1.1, 2.1): a session token signed RS256 by one of the keys Clerk publishes at its JWKS URL.

- **Keys**: fetched (aiohttp, the gateway's client) on first use, kept ``jwks_cache_seconds``, and
  fetched again at once when a token names an unknown ``kid`` (key rotation); an unknown ``kid`` is
  looked up at most every ``REFETCH_SECONDS``, so tokens with made-up ids cannot make the gateway
  hammer Clerk. Concurrent misses share one fetch.
- **Claims** (PyJWT): the signature, ``exp`` (required), ``nbf`` when present, ``iss`` equal to
  ``clerk.issuer``, ``aud`` only when ``clerk.audience`` is set, ``azp`` one of
  ``clerk.authorized_parties`` when that is set (a token without ``azp`` is refused then too);
  ``sub`` (the Clerk user id) is required. Any failure is 401.
- **Where**: the Clerk user id is a user of one or more tenants (``tenant_users.user_id``, managed
  with ``/v1/tenants/{id}/users``, or added by an accepted invite). A request acts in the user's
  active tenant (``clerk_active_tenants``, set by ``PATCH /api/v1/organizations/me/active``), else
  in ``clerk.tenant`` when the user is a user of it, else in its oldest membership; a stored choice
  the user is no longer a member of (or whose tenant is suspended) is passed over. Nothing the
  request sends (``X-GoClaw-Tenant-Id``, ids) chooses another. It acts with that membership's role
  (owner and admin: admin; operator; viewer). A valid token of someone who is no user of any tenant
  is 403; of someone whose tenants are all suspended, the suspension's 403.
- **Profile**: ``email``, ``name`` (else ``given_name``/``first_name`` with
  ``family_name``/``last_name``) and ``preferred_name`` (else ``nickname``) claims, when the token
  carries them, make the user's member row of the tenant on first sight with those fields; a row
  that exists is never written (what the user set stays).
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
from clawgate.store import Database
from clawgate.store import clerk as store
from clawgate.store.clerk import Membership
from clawgate.store.mc_org import Profile

__all__ = ["REFETCH_SECONDS", "ClerkAuth", "choose", "looks_like_jwt", "profile_of"]

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


def choose(found: list[Membership], default_ref: str) -> Membership | None:
    """The membership a request acts in: the stored active one, else the tenant ``default_ref``
    (slug or id), else the oldest; only tenants that are active count (a suspended one is passed
    over, so its user can still reach the others and switch). None when no tenant is active."""
    usable = [m for m in found if m.status == "active"]
    picks = (
        (m for m in usable if m.is_active),
        (m for m in usable if default_ref in (m.slug, str(m.tenant_id))),
        iter(usable),
    )
    return next((m for pick in picks for m in pick), None)


def _claim(claims: dict[str, Any], *names: str, limit: int = 2_000) -> str | None:
    for name in names:
        value = claims.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()[:limit]
    return None


def profile_of(claims: dict[str, Any]) -> Profile | None:
    """The profile fields a Clerk token carries (custom session claims: ``email``; ``name``, else
    given and family names; ``preferred_name``, else ``nickname``); None when it carries none."""
    email = _claim(claims, "email", "email_address", "primary_email_address", limit=320)
    email = (
        email.lower() if email and "@" in email.strip("@") and not any(c.isspace() for c in email) else None
    )
    parts = [_claim(claims, "given_name", "first_name"), _claim(claims, "family_name", "last_name")]
    name = _claim(claims, "name") or " ".join(p for p in parts if p) or None
    preferred = _claim(claims, "preferred_name", "nickname")
    if email is None and name is None and preferred is None:
        return None
    return Profile(email=email, name=name, preferred_name=preferred, pronouns=None, timezone=None, notes=None,
                   context=None)  # fmt: skip


class ClerkAuth:
    """Verifies Clerk session tokens and maps their user to a principal of its active tenant."""

    def __init__(self, settings: ClerkSettings, db: Database, http: aiohttp.ClientSession) -> None:
        self._settings = settings
        self._db = db
        self._http = http
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -1e18
        self._missed_at = -1e18
        self._fetching: asyncio.Task[None] | None = None

    async def authenticate(self, token: str) -> Principal:
        """The principal behind a Clerk JWT, in the user's active tenant (``choose``). Raises:
        Unauthorized (bad token), Forbidden (a user of no tenant), TenantAccessRevoked (every
        tenant of the user is suspended), Unavailable (no key could be fetched)."""
        claims = await self.verify(token)
        user_id = claims["sub"]
        async with self._db.connection() as conn:
            found = await store.memberships(conn, user_id)
            member = choose(found, self._settings.tenant)
            profile = profile_of(claims)
            if member is not None and profile is not None and member.member_role is None:
                await store.seed_profile(conn, user_id, member.tenant_id, profile)
        if not found:
            raise Forbidden(
                "failed_precondition", detail="This Clerk user is not a member of the organization."
            )
        if member is None:
            raise TenantAccessRevoked(tenant=found[0].slug)
        return Principal(
            role=_ROLES.get(member.role, Role.VIEWER), user_id=user_id, tenant_id=member.tenant_id,
            tenant_slug=member.slug, tenant_name=member.name, via="clerk",
        )  # fmt: skip

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature and ``exp``/``nbf``/``iss``/``aud``/``azp`` hold.
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
        parties = self._settings.authorized_parties
        if parties and claims.get("azp") not in parties:
            raise _refused("Invalid token: unauthorized party.")
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
