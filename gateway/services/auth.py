"""Authentication: a bearer (gateway token or API key) plus the claimed user and tenant become a
``Principal``. Shared by REST (``Authorization`` + ``X-GoClaw-*`` headers) and WebSocket ``connect``.

Resolution order (protocol spec section 2, GoClaw ``router.go``):
1. the gateway token (constant-time compare): admin, or owner when the user is in ``owner_ids``;
2. a valid, unrevoked, unexpired API key: role from its scopes, owner and tenant bindings applied;
3. no gateway token configured and listening on loopback only: development mode, whatever else was
   sent (as GoClaw does), so that examples with a placeholder token work as written; only a known
   API key that is revoked or expired is still refused;
4. otherwise ``Unauthorized``, naming the case: no credential, a header that is not a bearer, a
   token that is neither the gateway token nor a known key, a revoked or an expired key.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from datetime import UTC, datetime
from uuid import UUID

import structlog

from clawgate.bus import INVALIDATE, BusEvent, EventBus, invalidates, invalidation
from clawgate.config import Settings
from clawgate.crypto import constant_time_equals, hash_api_key, key_prefix
from clawgate.errors import NotFound, TenantAccessRevoked, Unauthorized
from clawgate.principal import Principal, Role, role_from_scopes
from clawgate.store import Database, api_keys, tenants
from clawgate.store.types import ApiKeySecretRow, TenantRow

__all__ = ["AuthService", "is_loopback_host"]

log = structlog.get_logger("clawgate.auth")

_KEY_CACHE_TTL = 30.0
_TOUCH_EVERY = 60.0
_TENANT_CACHE_TTL = 30.0


def is_loopback_host(host: str) -> bool:
    """True when ``host`` (a bind address) only accepts connections from this machine."""
    if host in {"localhost", ""}:
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class AuthService:
    """Turns credentials into principals; caches API keys briefly and drops the cache on revoke,
    in every process, through the bus (``cache.invalidate``)."""

    def __init__(self, settings: Settings, db: Database, bus: EventBus) -> None:
        self._settings = settings
        self._db = db
        self._bus = bus
        self._token = settings.gateway.token
        self._owners = frozenset(settings.gateway.owner_ids or ["system"])
        self.dev_mode = not self._token and (
            is_loopback_host(settings.gateway.host) or settings.gateway.allow_insecure_no_auth
        )
        self._keys: dict[str, tuple[float, ApiKeySecretRow | None]] = {}
        self._tenants: dict[str, tuple[float, TenantRow | None]] = {}
        self._touched: dict[UUID, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        bus.subscribe(self._on_event, names=[INVALIDATE])

    def reconfigure(self, settings: Settings) -> None:
        """Apply live config changes (owner ids)."""
        self._settings = settings
        self._owners = frozenset(settings.gateway.owner_ids or ["system"])

    def _on_event(self, event: BusEvent) -> None:
        if invalidates(event, "api_keys"):
            self._keys.clear()
        if invalidates(event, "tenants"):
            self._tenants.clear()

    async def invalidate(self, kind: str, tenant_id: UUID | None = None) -> None:
        """Drop cached credentials or tenants here and in every other process."""
        await self._bus.publish(invalidation(kind, tenant_id))

    # -- public API -------------------------------------------------------------------------------

    def is_operator_bearer(self, token: str) -> bool:
        """Whether a bearer (``""`` when none was sent) is the operator's, checked before the request is
        authenticated (the per-IP limit): the gateway token; in development mode also no credential or
        one that is no API key (``authenticate`` treats it as none). Something shaped like an API key may
        be a known key, whose holder is not the operator, so it is not exempt."""
        if self.dev_mode:
            return key_prefix(token) is None
        return bool(token) and bool(self._token) and constant_time_equals(token, self._token)

    async def authenticate(
        self,
        token: str,
        *,
        user_id: str = "",
        tenant_hint: str = "",
        dev_role: Role = Role.OPERATOR,
        malformed: bool = False,
    ) -> Principal:
        """Resolve a bearer and claimed identity into a principal.

        Args:
            token: gateway token or API key ("" when none was sent).
            user_id: the claimed user (``connect.user_id`` / ``X-GoClaw-User-Id``), at most 255 chars.
            tenant_hint: tenant UUID or slug to act in, where the credential allows choosing.
            dev_role: the role granted in development mode (operator on WS, admin on REST).
            malformed: a credential header was sent but held no bearer (named in the 401).

        Raises:
            Unauthorized: no valid credential (none, not a bearer, wrong token, unknown/expired/revoked
                key); its message key says which.
            TenantAccessRevoked: the tenant named is not one this caller may act in.
            NotFound: an owner named a tenant that does not exist.
        """
        if len(user_id) > 255:
            user_id = ""
        if token and self._token and constant_time_equals(token, self._token):
            return await self._gateway_principal(user_id, tenant_hint)
        if token and key_prefix(token) is not None and (row := await self._lookup_key(token)) is not None:
            return await self._key_principal(row, user_id, tenant_hint)
        if self.dev_mode:
            tenant = await self._tenant(str(tenants.MASTER_TENANT_ID))
            assert tenant is not None, "the master tenant exists from the first migration"
            return Principal(
                role=dev_role, user_id=user_id or "system", tenant_id=tenant.id, tenant_slug=tenant.slug,
                tenant_name=tenant.name, via="dev",
            )  # fmt: skip
        if token:
            raise Unauthorized("unknown_credential")
        raise Unauthorized("not_bearer" if malformed else "no_credential")

    # -- branches -------------------------------------------------------------------------------

    async def _gateway_principal(self, user_id: str, hint: str) -> Principal:
        is_owner = bool(user_id) and user_id in self._owners
        tenant = await self._scoped_tenant(hint, user_id, may_choose=is_owner)
        return Principal(
            role=Role.OWNER if is_owner else Role.ADMIN, user_id=user_id, tenant_id=tenant.id,
            tenant_slug=tenant.slug, tenant_name=tenant.name, is_owner=is_owner,
            cross_tenant=is_owner, via="token",
        )  # fmt: skip

    async def _key_principal(self, row: ApiKeySecretRow, user_id: str, hint: str) -> Principal:
        dev = "_dev" if self.dev_mode else ""
        if row.revoked:
            raise Unauthorized(f"key_revoked{dev}")
        if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
            raise Unauthorized(f"key_expired{dev}")
        self._touch(row.id)
        if row.owner_id:
            user_id = row.owner_id
        if row.is_system:
            tenant = await self._scoped_tenant(hint, user_id, may_choose=True)
        else:
            found = await self._tenant(str(row.tenant_id))
            if found is None or found.status != "active":
                raise TenantAccessRevoked(tenant=str(row.tenant_id))
            tenant = found
        return Principal(
            role=role_from_scopes(row.scopes), user_id=user_id, tenant_id=tenant.id,
            tenant_slug=tenant.slug, tenant_name=tenant.name, cross_tenant=row.is_system, key_id=row.id,
            scopes=tuple(row.scopes), via="api_key", rate_limit_rpm=row.rate_limit_rpm,
        )  # fmt: skip

    async def _scoped_tenant(self, hint: str, user_id: str, *, may_choose: bool) -> TenantRow:
        """The tenant a caller acts in: master by default; a hint must name a tenant the caller
        may choose freely (owners, system keys) or is a member of."""
        if not hint:
            master = await self._tenant(str(tenants.MASTER_TENANT_ID))
            assert master is not None
            return master
        tenant = await self._tenant(hint)
        if may_choose:
            if tenant is None:
                raise NotFound(kind="tenant", id=hint)
            return tenant
        if tenant is None:
            raise TenantAccessRevoked("unknown_tenant", tenant=hint)
        if tenant.status != "active":
            raise TenantAccessRevoked(tenant=hint)
        if tenant.id == tenants.MASTER_TENANT_ID:
            return tenant
        async with self._db.connection() as conn:
            member = await tenants.get_user(conn, tenant.id, user_id) if user_id else None
        if member is None:
            raise TenantAccessRevoked("not_a_member", tenant=hint)
        return tenant

    # -- caches ---------------------------------------------------------------------------------

    async def _lookup_key(self, raw: str) -> ApiKeySecretRow | None:
        digest = hash_api_key(raw)
        now = time.monotonic()
        cached = self._keys.get(digest)
        if cached is not None and now - cached[0] < _KEY_CACHE_TTL:
            return cached[1]
        prefix = key_prefix(raw)
        assert prefix is not None
        async with self._db.connection() as conn:
            candidates = await api_keys.candidates(conn, prefix)
        match = None
        for candidate in candidates:
            # Compare every candidate, in constant time each, so timing says nothing about which.
            if constant_time_equals(candidate.key_hash, digest):
                match = candidate
        if len(self._keys) > 10_000:
            self._keys.clear()
        self._keys[digest] = (now, match)
        return match

    async def _tenant(self, ref: str) -> TenantRow | None:
        now = time.monotonic()
        cached = self._tenants.get(ref)
        if cached is not None and now - cached[0] < _TENANT_CACHE_TTL:
            return cached[1]
        async with self._db.connection() as conn:
            row = await tenants.get_by_ref(conn, ref)
        if len(self._tenants) > 10_000:
            self._tenants.clear()
        self._tenants[ref] = (now, row)
        return row

    def _touch(self, key_id: UUID) -> None:
        now = time.monotonic()
        if now - self._touched.get(key_id, 0.0) < _TOUCH_EVERY:
            return
        self._touched[key_id] = now
        task = asyncio.get_running_loop().create_task(self._do_touch(key_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _do_touch(self, key_id: UUID) -> None:
        try:
            async with self._db.connection() as conn:
                await api_keys.touch(conn, key_id)
        except Exception as exc:
            log.debug("auth.touch_failed", error=str(exc))
