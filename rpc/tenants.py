"""Tenant methods: ``tenants.list|get|mine|users.list`` (viewer) and
``tenants.create|update|users.add|users.remove`` (admin; ``create`` and ``users.add`` also need an
owner or the ``operator.provision`` scope, which the service checks). A tenant the caller may not
see is ``NOT_FOUND``."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.tenants import (
    TenantCreate,
    TenantOut,
    TenantPatch,
    TenantUserAdd,
    TenantUserOut,
    tenant_out,
    user_out,
)

from .types import CallContext, Method

__all__ = ["METHODS"]

TenantRef = Annotated[str, Meta(max_length=100, description="Tenant UUID or slug")]


class TenantRefParams(Struct, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, max_length=100)]


class TenantUpdateParams(TenantPatch, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, max_length=100)]


class UsersListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """``tenant_id`` (GoClaw) or ``id``; neither means the caller's tenant."""

    tenant_id: TenantRef = ""
    id: TenantRef = ""


class UsersAddParams(TenantUserAdd, kw_only=True, forbid_unknown_fields=True):
    tenant_id: Annotated[str, Meta(min_length=1, max_length=100)]


class UsersRemoveParams(Struct, kw_only=True, forbid_unknown_fields=True):
    tenant_id: Annotated[str, Meta(min_length=1, max_length=100)]
    user_id: Annotated[str, Meta(min_length=1, max_length=255)]


class TenantUpdated(TenantOut, kw_only=True):
    ok: bool = True


class UserAdded(TenantUserOut, kw_only=True):
    ok: bool = True


class Membership(Struct, kw_only=True):
    """A tenant the caller belongs to, with the caller's role in it."""

    id: str
    name: str
    slug: str
    role: str
    status: str


class Memberships(Struct, kw_only=True):
    """``tenants.mine``: the caller's tenants and the connection's current one."""

    tenants: list[Membership]
    current: str


async def list_tenants(ctx: CallContext, _: None) -> dict[str, list[TenantOut]]:
    """Tenants visible to the caller: all for owners and system keys."""
    return {"tenants": [tenant_out(r) for r in await ctx.gateway.tenants.list_tenants(ctx.who)]}


async def get(ctx: CallContext, params: TenantRefParams) -> TenantOut:
    """A tenant by UUID or slug. Raises: NotFound."""
    return tenant_out(await ctx.gateway.tenants.get(ctx.who, params.id))


async def mine(ctx: CallContext, _: None) -> Memberships:
    """``{tenants: [{id, name, slug, role, status}], current}``."""
    rows = await ctx.gateway.tenants.memberships(ctx.who)
    return Memberships(
        tenants=[
            Membership(id=str(t.id), name=t.name, slug=t.slug, role=role, status=t.status) for t, role in rows
        ],
        current=str(ctx.who.tenant_id),
    )


async def create(ctx: CallContext, params: TenantCreate) -> TenantOut:
    """Create a tenant. Raises: Forbidden (not owner/provision), AlreadyExists (slug)."""
    return tenant_out(await ctx.gateway.tenants.create(ctx.who, params))


async def update(ctx: CallContext, params: TenantUpdateParams) -> TenantUpdated:
    """Change name, status or settings. Raises: NotFound."""
    row = tenant_out(await ctx.gateway.tenants.update(ctx.who, params.id, params))
    return TenantUpdated(**{f: getattr(row, f) for f in TenantOut.__struct_fields__})


async def users_list(ctx: CallContext, params: UsersListParams) -> dict[str, list[TenantUserOut]]:
    """Members of a tenant. Raises: NotFound."""
    ref = params.tenant_id or params.id or str(ctx.who.tenant_id)
    return {"users": [user_out(r) for r in await ctx.gateway.tenants.list_users(ctx.who, ref)]}


async def users_add(ctx: CallContext, params: UsersAddParams) -> UserAdded:
    """Add (or update) a member. Raises: Forbidden, NotFound."""
    row = user_out(await ctx.gateway.tenants.add_user(ctx.who, params.tenant_id, params))
    return UserAdded(**{f: getattr(row, f) for f in TenantUserOut.__struct_fields__})


async def users_remove(ctx: CallContext, params: UsersRemoveParams) -> dict[str, bool]:
    """Remove a member. Raises: NotFound."""
    await ctx.gateway.tenants.remove_user(ctx.who, params.tenant_id, params.user_id)
    return {"ok": True}


METHODS = {
    "tenants.list": Method(None, list_tenants, Role.VIEWER),
    "tenants.get": Method(TenantRefParams, get, Role.VIEWER),
    "tenants.mine": Method(None, mine, Role.VIEWER),
    "tenants.users.list": Method(UsersListParams, users_list, Role.VIEWER),
    "tenants.create": Method(TenantCreate, create, Role.ADMIN),
    "tenants.update": Method(TenantUpdateParams, update, Role.ADMIN),
    "tenants.users.add": Method(UsersAddParams, users_add, Role.ADMIN),
    "tenants.users.remove": Method(UsersRemoveParams, users_remove, Role.ADMIN),
}
