"""Usage analytics and embedding status, in GoClaw's shapes (its dashboard's Overview and Usage
pages): ``/v1/usage/timeseries``, ``/v1/usage/breakdown``, ``/v1/usage/summary``,
``/v1/embedding/status``."""

from __future__ import annotations

from typing import Any

from clawgate.principal import Role
from clawgate.services import embeddings
from clawgate.services.embeddings import EmbeddingStatus
from clawgate.services.traces import UsageQuery

from .types import Api, HttpContext, JSONObject

__all__ = ["ROUTES"]


async def timeseries(ctx: HttpContext, query: UsageQuery) -> dict[str, Any]:
    return await ctx.gateway.traces.usage_timeseries(ctx.who, query)


async def breakdown(ctx: HttpContext, query: UsageQuery) -> dict[str, Any]:
    return await ctx.gateway.traces.usage_breakdown(ctx.who, query)


async def summary(ctx: HttpContext, query: UsageQuery) -> dict[str, Any]:
    return await ctx.gateway.traces.usage_period(ctx.who, query)


async def embedding_status(ctx: HttpContext, _: None) -> EmbeddingStatus:
    return embeddings.status()


ROUTES = [
    Api("GET", "/v1/usage/timeseries", timeseries, Role.VIEWER,
        "Requests, tokens, errors and users per hour or day of [from, to) (non-admins: their own)",
        query=UsageQuery, response=JSONObject, tag="usage"),
    Api("GET", "/v1/usage/breakdown", breakdown, Role.VIEWER,
        "Requests, LLM calls and tokens of [from, to) by provider, model or channel", query=UsageQuery,
        response=JSONObject, tag="usage"),
    Api("GET", "/v1/usage/summary", summary, Role.VIEWER,
        "Totals of a period up to now and of the period before it", query=UsageQuery, response=JSONObject,
        tag="usage"),
    Api("GET", "/v1/embedding/status", embedding_status, Role.VIEWER, "Whether an embedder is configured",
        response=EmbeddingStatus, tag="usage"),
]  # fmt: skip
