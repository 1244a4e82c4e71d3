"""Tenants and tenant users. Reads need viewer; writes admin, and creating tenants or adding
users additionally needs an owner or the ``operator.provision`` scope (GoClaw)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from msgspec import Meta, Struct

from clawgate.errors import Forbidden, NotFound
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.services.auth import AuthService
from clawgate.store import Database, tenants
from clawgate.store.types import TenantRow, TenantUserRow

__all__ = ["TenantCreate", "TenantOut", "TenantPatch", "TenantService", "TenantUserAdd", "TenantUserOut"]

Slug = Annotated[str, Meta(pattern=r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")]


class TenantCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    slug: Slug
    settings: dict[str, Any] = {}


class TenantPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    status: Literal["active", "suspended"] | None = None
    settings: dict[str, Any] | None = None


class TenantUserAdd(Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: Annotated[str, Meta(min_length=1, max_length=255)]
    role: Literal["admin", "operator", "viewer"] = "operator"
    display_name: str = ""


class TenantOut(Struct, kw_only=True):
    id: UUID
    name: str
    slug: str
    status: str
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class TenantUserOut(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    user_id: str
    role: str
    display_name: str
    created_at: datetime


def tenant_out(row: TenantRow) -> TenantOut:
    return TenantOut(**{f: getattr(row, f) for f in TenantOut.__struct_fields__})


def user_out(row: TenantUserRow) -> TenantUserOut:
    return TenantUserOut(**{f: getattr(row, f) for f in TenantUserOut.__struct_fields__})


def _require_admin(who: Principal, action: str, *, provision: bool) -> None:
    """Raises: Forbidden below admin, or (``provision``) without owner or ``operator.provision``."""
    require(who, Role.ADMIN, action)
    if provision and not who.can_provision:
        raise Forbidden(action=action, role="owner")


def _require_gateway_wide(who: Principal, action: str) -> None:
    """Which tenants exist and which are suspended is gateway-wide state: a tenant-bound key,
    even one holding ``operator.provision``, may not create tenants (it could never see them) nor
    suspend or reactivate one. Raises: Forbidden unless ``who.manages_gateway``."""
    if not who.manages_gateway:
        raise Forbidden(action=action, role="owner")


class TenantService:
    def __init__(self, db: Database, auth: AuthService) -> None:
        self._db = db
        self._auth = auth

    def _may_manage(self, who: Principal, tenant_id: UUID) -> bool:
        return who.cross_tenant or who.tenant_id == tenant_id

    async def list_tenants(self, who: Principal) -> list[TenantRow]:
        """Owners and system keys see every tenant; others the one they act in and the memberships
        of ``who.member_id`` (none for a tenant-bound key)."""
        async with self._db.connection() as conn:
            if who.cross_tenant:
                return await tenants.list_all(conn)
            rows = await tenants.list_for_user(conn, who.member_id) if who.member_id else []
            current = await tenants.get(conn, who.tenant_id)
        if current is not None and all(r.id != current.id for r in rows):
            rows.insert(0, current)
        return rows

    async def mine(self, who: Principal) -> TenantRow:
        return await self.get(who, str(who.tenant_id))

    async def memberships(self, who: Principal) -> list[tuple[TenantRow, str]]:
        """The tenants the caller may act in, each with the caller's role there (GoClaw's
        ``tenants.mine``): every tenant as ``owner`` for owners; otherwise the tenant of the current
        credential with the credential's role, and the active memberships of ``who.member_id``."""
        if who.is_owner:
            async with self._db.connection() as conn:
                return [(row, "owner") for row in await tenants.list_all(conn)]
        out: list[tuple[TenantRow, str]] = []
        async with self._db.connection() as conn:
            current = await tenants.get(conn, who.tenant_id)
            if current is not None:
                out.append((current, who.role.label))
            for row in await tenants.list_for_user(conn, who.member_id) if who.member_id else []:
                member = await tenants.get_user(conn, row.id, who.member_id)
                if row.id != who.tenant_id and row.status == "active" and member is not None:
                    out.append((row, member.role))
        return out

    async def get(self, who: Principal, ref: str) -> TenantRow:
        """The tenant the caller acts in, any for owners and system keys, or one that
        ``who.member_id`` is a member of. Raises: NotFound, also for a tenant the caller may not see."""
        async with self._db.connection() as conn:
            row = await tenants.get_by_ref(conn, ref)
            visible = row is not None and (
                self._may_manage(who, row.id)
                or (who.member_id and await tenants.get_user(conn, row.id, who.member_id) is not None)
            )
        if row is None or not visible:
            raise NotFound(kind="tenant", id=ref)
        return row

    @staticmethod
    def check_create(who: Principal) -> None:
        """Raises: Forbidden unless ``who`` may create tenants (an admin that provisions, gateway-wide)."""
        _require_admin(who, "tenants.create", provision=True)
        _require_gateway_wide(who, "tenants.create")

    async def create(self, who: Principal, body: TenantCreate) -> TenantRow:
        self.check_create(who)
        async with self._db.transaction() as conn:
            return await tenants.insert(conn, body.name, body.slug, body.settings)

    async def update(self, who: Principal, ref: str, patch: TenantPatch) -> TenantRow:
        row = await self._managed(who, ref, "tenants.update")
        if patch.status is not None and patch.status != row.status:
            _require_gateway_wide(who, "changing a tenant's status")
        async with self._db.transaction() as conn:
            updated = await tenants.update(
                conn, row.id, name=patch.name, status=patch.status, settings=patch.settings
            )
        if updated is None:
            raise NotFound(kind="tenant", id=ref)
        await self._auth.invalidate("tenants")
        return updated

    async def _managed(self, who: Principal, ref: str, action: str, *, provision: bool = False) -> TenantRow:
        """The tenant ``ref`` for a write: ``who`` is an admin (who may also provision, with
        ``provision``) acting in it or across tenants. Raises: Forbidden; NotFound, also for a
        tenant ``who`` may see but not manage."""
        _require_admin(who, action, provision=provision)
        row = await self.get(who, ref)
        if not self._may_manage(who, row.id):
            raise NotFound(kind="tenant", id=ref)
        return row

    async def list_users(self, who: Principal, ref: str) -> list[TenantUserRow]:
        row = await self.get(who, ref)
        async with self._db.connection() as conn:
            return await tenants.list_users(conn, row.id)

    async def add_user(self, who: Principal, ref: str, body: TenantUserAdd) -> TenantUserRow:
        row = await self._managed(who, ref, "tenants.users.add", provision=True)
        async with self._db.transaction() as conn:
            return await tenants.upsert_user(conn, row.id, body.user_id, body.role, body.display_name)

    async def remove_user(self, who: Principal, ref: str, user_id: str) -> None:
        row = await self._managed(who, ref, "tenants.users.remove")
        async with self._db.transaction() as conn:
            if not await tenants.delete_user(conn, row.id, user_id):
                raise NotFound(kind="tenant user", id=user_id)
