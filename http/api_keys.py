"""``/v1/api-keys``: create (raw key shown once), list (masked), revoke."""

from __future__ import annotations

from msgspec import Struct

from clawgate.principal import Role
from clawgate.services.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, key_out

from .types import Api, HttpContext

__all__ = ["ROUTES"]


class Revoked(Struct):
    status: str = "revoked"


async def list_keys(ctx: HttpContext, _: None) -> list[ApiKeyOut]:
    """A bare array, as GoClaw answers (its dashboard's API Keys page reads it so)."""
    return [key_out(r) for r in await ctx.gateway.api_keys.list_keys(ctx.who)]


async def create_key(ctx: HttpContext, body: ApiKeyCreate) -> ApiKeyCreated:
    return await ctx.gateway.api_keys.create(ctx.who, body)


async def revoke_key(ctx: HttpContext, _: None) -> Revoked:
    await ctx.gateway.api_keys.revoke(ctx.who, ctx.path["id"])
    return Revoked()


ROUTES = [
    Api("GET", "/v1/api-keys", list_keys, Role.ADMIN, "List API keys (masked)", response=list[ApiKeyOut],
        tag="api-keys"),
    Api("POST", "/v1/api-keys", create_key, Role.ADMIN, "Create an API key (the raw key is returned once)",
        body=ApiKeyCreate, response=ApiKeyCreated, status=201, tag="api-keys"),
    Api("POST", "/v1/api-keys/{id}/revoke", revoke_key, Role.ADMIN, "Revoke an API key", response=Revoked,
        tag="api-keys"),
]  # fmt: skip
