"""API keys: create (raw key shown once), list (masked), revoke. Admin only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated
from uuid import UUID

from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.crypto import new_api_key
from clawgate.errors import Forbidden, InvalidRequest, NotFound
from clawgate.principal import SCOPES, Principal, Role
from clawgate.services import parse_id, require
from clawgate.services.auth import AuthService
from clawgate.store import Database, api_keys, tenants
from clawgate.store.types import ApiKeyRow

__all__ = ["ApiKeyCreate", "ApiKeyCreated", "ApiKeyOut", "ApiKeyService", "key_out"]

MAX_LIFETIME = 100 * 366 * 86400
"""The longest ``expires_in`` (100 years, seconds): an expiry date must be a date."""


class ApiKeyCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=100)]
    scopes: list[str]
    expires_in: Annotated[int, Meta(gt=0, le=MAX_LIFETIME, description="Lifetime in seconds.")] | None = None
    owner_id: Annotated[str, Meta(max_length=255)] | None = None
    # A tenant id or slug to bind the key to; "" makes a system key; null or absent: the creator's.
    tenant_id: str | UnsetType | None = UNSET
    rate_limit_rpm: (
        Annotated[
            int,
            Meta(
                ge=0,
                le=1_000_000,
                description="The key's own chat limit per minute (0: none); null: the gateway's",
            ),
        ]
        | None
    ) = None


class ApiKeyOut(Struct, kw_only=True):
    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    tenant_id: UUID | None
    owner_id: str | None
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool
    created_at: datetime
    rate_limit_rpm: int | None


class ApiKeyCreated(ApiKeyOut, kw_only=True):
    key: str  # the raw key, shown once


def key_out(row: ApiKeyRow) -> ApiKeyOut:
    return ApiKeyOut(
        id=row.id, name=row.name, prefix=row.prefix, scopes=row.scopes,
        tenant_id=None if row.is_system else row.tenant_id, owner_id=row.owner_id,
        created_by=row.created_by, expires_at=row.expires_at, last_used_at=row.last_used_at,
        revoked=row.revoked, created_at=row.created_at, rate_limit_rpm=row.rate_limit_rpm,
    )  # fmt: skip


class ApiKeyService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self._db = db
        self._auth = auth

    async def create(self, who: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
        """Mint a key. Its scopes must be ones the creator holds (``Principal.held_scopes``); a
        key bound to another tenant needs the owner or a system key (``Principal.cross_tenant``);
        a system key (``tenant_id: ""``) can only be made by an owner; ``null`` is unset (the creator's
        tenant).

        Raises: Forbidden, InvalidRequest (unknown scope), NotFound (unknown tenant).
        """
        require(who, Role.ADMIN, "api_keys.create")
        unknown = sorted(set(body.scopes) - SCOPES)
        if unknown or not body.scopes:
            raise InvalidRequest(detail=f"scopes must be a non-empty subset of {sorted(SCOPES)}")
        lacking = sorted(set(body.scopes) - who.held_scopes)
        if lacking:
            raise Forbidden("scopes_not_held", scopes=", ".join(lacking))
        tenant_id, is_system = who.tenant_id, False
        if body.tenant_id is not UNSET and body.tenant_id is not None:
            if body.tenant_id == "":
                if not who.is_owner:
                    raise Forbidden(action="creating a system API key", role="owner")
                is_system = True
            else:
                tenant_id = await self._tenant_id(who, str(body.tenant_id))
        raw, prefix, digest = new_api_key()
        expires = datetime.now(UTC) + timedelta(seconds=body.expires_in) if body.expires_in else None
        async with self._db.transaction() as conn:
            row = await api_keys.insert(
                conn, tenant_id=tenant_id, is_system=is_system, name=body.name, prefix=prefix,
                key_hash=digest, scopes=sorted(set(body.scopes)), owner_id=body.owner_id or None,
                created_by=who.user_id, expires_at=expires, rate_limit_rpm=body.rate_limit_rpm,
            )  # fmt: skip
        out = key_out(row)
        return ApiKeyCreated(**{f: getattr(out, f) for f in ApiKeyOut.__struct_fields__}, key=raw)

    async def _tenant_id(self, who: Principal, ref: str) -> UUID:
        async with self._db.connection() as conn:
            row = await tenants.get_by_ref(conn, ref)
        if row is None:
            raise NotFound(kind="tenant", id=ref)
        if row.id != who.tenant_id and not who.cross_tenant:
            raise Forbidden(action="creating a key for another tenant", role="owner")
        return row.id

    async def list_keys(self, who: Principal) -> list[ApiKeyRow]:
        require(who, Role.ADMIN, "api_keys.list")
        async with self._db.connection() as conn:
            return await api_keys.list_keys(conn, who.tenant_id)

    async def revoke(self, who: Principal, key_id: str) -> None:
        """Revoke at once, in every process. Raises: NotFound (also for another tenant's key)."""
        require(who, Role.ADMIN, "api_keys.revoke")
        ident = parse_id(key_id, "api key")
        async with self._db.transaction() as conn:
            if not await api_keys.revoke(conn, who.tenant_id, ident):
                raise NotFound(kind="api key", id=key_id)
        await self._auth.invalidate("api_keys")
