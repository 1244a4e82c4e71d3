"""``/v1/tenants``: tenants and their users."""

from __future__ import annotations

from msgspec import Struct

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

from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class TenantList(Struct):
    tenants: list[TenantOut]


class UserList(Struct):
    users: list[TenantUserOut]


async def list_tenants(ctx: HttpContext, _: None) -> TenantList:
    return TenantList(tenants=[tenant_out(r) for r in await ctx.gateway.tenants.list_tenants(ctx.who)])


async def create_tenant(ctx: HttpContext, body: TenantCreate) -> TenantOut:
    return tenant_out(await ctx.gateway.tenants.create(ctx.who, body))


async def get_tenant(ctx: HttpContext, _: None) -> TenantOut:
    return tenant_out(await ctx.gateway.tenants.get(ctx.who, ctx.path["id"]))


async def update_tenant(ctx: HttpContext, body: TenantPatch) -> TenantOut:
    return tenant_out(await ctx.gateway.tenants.update(ctx.who, ctx.path["id"], body))


async def list_users(ctx: HttpContext, _: None) -> UserList:
    rows = await ctx.gateway.tenants.list_users(ctx.who, ctx.path["id"])
    return UserList(users=[user_out(r) for r in rows])


async def add_user(ctx: HttpContext, body: TenantUserAdd) -> TenantUserOut:
    return user_out(await ctx.gateway.tenants.add_user(ctx.who, ctx.path["id"], body))


async def remove_user(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.tenants.remove_user(ctx.who, ctx.path["id"], ctx.path["user_id"])
    return Ok()


ROUTES = [
    Api("GET", "/v1/tenants", list_tenants, Role.VIEWER, "List tenants visible to the caller",
        response=TenantList, tag="tenants"),
    Api("POST", "/v1/tenants", create_tenant, Role.ADMIN, "Create a tenant (operator.provision, and an owner or a system key)",
        body=TenantCreate, response=TenantOut, status=201, tag="tenants"),
    Api("GET", "/v1/tenants/{id}", get_tenant, Role.VIEWER, "Get a tenant by id or slug", response=TenantOut,
        tag="tenants"),
    Api("PATCH", "/v1/tenants/{id}", update_tenant, Role.ADMIN, "Update a tenant", body=TenantPatch,
        response=TenantOut, tag="tenants"),
    Api("GET", "/v1/tenants/{id}/users", list_users, Role.VIEWER, "List tenant users", response=UserList,
        tag="tenants"),
    Api("POST", "/v1/tenants/{id}/users", add_user, Role.ADMIN, "Add (or update) a tenant user",
        body=TenantUserAdd, response=TenantUserOut, status=201, tag="tenants"),
    Api("DELETE", "/v1/tenants/{id}/users/{user_id}", remove_user, Role.ADMIN, "Remove a tenant user",
        response=Ok, tag="tenants"),
]  # fmt: skip
