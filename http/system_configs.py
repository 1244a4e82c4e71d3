"""``/v1/system-configs`` (per-tenant key/value settings) and ``/v1/edition``."""

from __future__ import annotations

from msgspec import Struct

from clawgate import __version__
from clawgate.principal import Role
from clawgate.services.system_configs import ConfigValue
from clawgate.store.types import ConfigEntry

from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class ConfigList(Struct):
    configs: list[ConfigEntry]


class Edition(Struct):
    edition: str
    name: str
    version: str
    limits: dict[str, int]
    features: dict[str, bool]


async def list_configs(ctx: HttpContext, _: None) -> ConfigList:
    return ConfigList(configs=await ctx.gateway.system_configs.list_entries(ctx.who))


async def get_config(ctx: HttpContext, _: None) -> ConfigEntry:
    return await ctx.gateway.system_configs.get(ctx.who, ctx.path["key"])


async def put_config(ctx: HttpContext, body: ConfigValue) -> ConfigEntry:
    return await ctx.gateway.system_configs.put(ctx.who, ctx.path["key"], body)


async def delete_config(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.system_configs.delete(ctx.who, ctx.path["key"])
    return Ok()


async def edition(ctx: HttpContext, _: None) -> Edition:
    """Edition info. ClawGate has one edition with no artificial limits (0 = unlimited)."""
    name = ctx.gateway.settings.edition
    return Edition(
        edition=name,
        name="ClawGate",
        version=__version__,
        limits={"max_agents": 0, "max_tenants": 0, "max_channels": 0},
        features={"multi_tenant": True, "pgvector": True, "websocket_rpc": True, "openai_compat": True},
    )


ROUTES = [
    Api("GET", "/v1/system-configs", list_configs, Role.VIEWER, "List the tenant's config entries",
        response=ConfigList, tag="system-configs"),
    Api("GET", "/v1/system-configs/{key}", get_config, Role.VIEWER, "Get one config entry",
        response=ConfigEntry, tag="system-configs"),
    Api("PUT", "/v1/system-configs/{key}", put_config, Role.ADMIN, "Set a config entry", body=ConfigValue,
        response=ConfigEntry, tag="system-configs"),
    Api("DELETE", "/v1/system-configs/{key}", delete_config, Role.ADMIN, "Delete a config entry",
        response=Ok, tag="system-configs"),
    Api("GET", "/v1/edition", edition, Role.VIEWER, "Edition and feature limits", response=Edition,
        tag="system"),
]  # fmt: skip
