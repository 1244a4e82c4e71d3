"""API key methods (all admin): ``api_keys.list|create|revoke``. The raw key is returned once,
by ``create``; lists show only its prefix."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, key_out

from .types import CallContext, Method

__all__ = ["METHODS"]


class RevokeParams(Struct, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, max_length=64)]


async def list_keys(ctx: CallContext, _: None) -> dict[str, list[ApiKeyOut]]:
    """The tenant's keys, newest first, masked."""
    return {"keys": [key_out(r) for r in await ctx.gateway.api_keys.list_keys(ctx.who)]}


async def create(ctx: CallContext, params: ApiKeyCreate) -> ApiKeyCreated:
    """Mint a key: ``{id, name, prefix, key, scopes, expires_at, created_at, ...}``.
    Raises: InvalidRequest (unknown scope), Forbidden (another tenant), NotFound (tenant)."""
    return await ctx.gateway.api_keys.create(ctx.who, params)


async def revoke(ctx: CallContext, params: RevokeParams) -> dict[str, str]:
    """Revoke at once in every process: ``{status: "revoked"}``. Raises: NotFound."""
    await ctx.gateway.api_keys.revoke(ctx.who, params.id)
    return {"status": "revoked"}


METHODS = {
    "api_keys.list": Method(None, list_keys, Role.ADMIN),
    "api_keys.create": Method(ApiKeyCreate, create, Role.ADMIN),
    "api_keys.revoke": Method(RevokeParams, revoke, Role.ADMIN),
}
