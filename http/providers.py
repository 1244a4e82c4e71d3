"""``/v1/providers``: LLM providers (API keys encrypted at rest, shown masked), models, verify."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from clawgate.principal import Role
from clawgate.services.providers import (
    ProviderCreate,
    ProviderOut,
    ProviderPatch,
    VerifyRequest,
    VerifyResult,
)

from .types import Api, HttpContext, Ok

__all__ = ["ROUTES"]


class ProviderList(Struct):
    providers: list[ProviderOut]


class ModelList(Struct):
    models: list[dict[str, Any]]
    data: list[dict[str, Any]]


async def list_providers(ctx: HttpContext, _: None) -> ProviderList:
    svc = ctx.gateway.providers
    return ProviderList(providers=[svc.out(r) for r in await svc.list_providers(ctx.who)])


async def create_provider(ctx: HttpContext, body: ProviderCreate) -> ProviderOut:
    svc = ctx.gateway.providers
    return svc.out(await svc.create(ctx.who, body))


async def get_provider(ctx: HttpContext, _: None) -> ProviderOut:
    svc = ctx.gateway.providers
    return svc.out(await svc.get(ctx.who, ctx.path["id"]))


async def update_provider(ctx: HttpContext, body: ProviderPatch) -> ProviderOut:
    svc = ctx.gateway.providers
    return svc.out(await svc.update(ctx.who, ctx.path["id"], body))


async def delete_provider(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.providers.delete(ctx.who, ctx.path["id"])
    return Ok()


async def provider_models(ctx: HttpContext, _: None) -> ModelList:
    models = await ctx.gateway.providers.models(ctx.who, ctx.path["id"])
    return ModelList(models=models, data=models)


async def verify_provider(ctx: HttpContext, body: VerifyRequest) -> VerifyResult:
    return await ctx.gateway.providers.verify(ctx.who, ctx.path["id"], body)


ROUTES = [
    Api("GET", "/v1/providers", list_providers, Role.OPERATOR, "List LLM providers (keys masked)",
        response=ProviderList, tag="providers"),
    Api("POST", "/v1/providers", create_provider, Role.ADMIN, "Create an LLM provider", body=ProviderCreate,
        response=ProviderOut, status=201, tag="providers"),
    Api("GET", "/v1/providers/{id}", get_provider, Role.OPERATOR, "Get a provider by id or name",
        response=ProviderOut, tag="providers"),
    Api("PUT", "/v1/providers/{id}", update_provider, Role.ADMIN, "Update a provider", body=ProviderPatch,
        response=ProviderOut, tag="providers"),
    Api("PATCH", "/v1/providers/{id}", update_provider, Role.ADMIN, "Update a provider (alias of PUT)",
        body=ProviderPatch, response=ProviderOut, tag="providers"),
    Api("DELETE", "/v1/providers/{id}", delete_provider, Role.ADMIN, "Delete a provider", response=Ok,
        tag="providers"),
    Api("GET", "/v1/providers/{id}/models", provider_models, Role.OPERATOR,
        "List the models the upstream offers (calls the upstream)", response=ModelList, tag="providers"),
    Api("POST", "/v1/providers/{id}/verify", verify_provider, Role.ADMIN,
        "Verify connectivity (no body) or a model (one-token chat)", body=VerifyRequest,
        response=VerifyResult, tag="providers"),
]  # fmt: skip
