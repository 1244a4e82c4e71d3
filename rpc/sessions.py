"""Session methods: ``sessions.list|preview|patch|delete|reset|compact``, plus ``usage.get|summary`` and ``quota.usage``."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.sessions import (
    Compacted,
    CompactParams,
    SessionDone,
    SessionList,
    SessionListParams,
    SessionPatched,
    SessionPatchParams,
    SessionPreview,
)
from clawgate.services.traces import QuotaUsage, Timeline, TimelineParams, UsagePage, UsageSummary
from clawgate.wire import NonNegative

from .types import CallContext, Method

__all__ = ["METHODS"]


class KeyParams(Struct, kw_only=True, forbid_unknown_fields=True):
    key: str


class UsageParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: str = ""
    limit: Annotated[int, Meta(ge=1, le=1000)] = 50
    offset: NonNegative = 0


async def list_sessions(ctx: CallContext, params: SessionListParams) -> SessionList:
    return await ctx.gateway.sessions.list_sessions(ctx.who, params)


async def preview(ctx: CallContext, params: KeyParams) -> SessionPreview:
    return await ctx.gateway.sessions.preview(ctx.who, params.key)


async def patch(ctx: CallContext, params: SessionPatchParams) -> SessionPatched:
    return await ctx.gateway.sessions.patch(ctx.who, params)


async def delete(ctx: CallContext, params: KeyParams) -> SessionDone:
    return await ctx.gateway.sessions.delete(ctx.who, params.key)


async def reset(ctx: CallContext, params: KeyParams) -> SessionDone:
    return await ctx.gateway.sessions.reset(ctx.who, params.key)


async def compact(ctx: CallContext, params: CompactParams) -> Compacted:
    return await ctx.gateway.sessions.compact(ctx.who, params)


async def usage_get(ctx: CallContext, params: UsageParams) -> UsagePage:
    return await ctx.gateway.traces.usage(ctx.who, params.agentId, params.limit, params.offset)


async def usage_summary(ctx: CallContext, _: None) -> UsageSummary:
    return await ctx.gateway.traces.usage_summary(ctx.who)


async def quota_usage(ctx: CallContext, _: None) -> QuotaUsage:
    """Today's requests, tokens and users (GoClaw's dashboard Overview cards)."""
    return await ctx.gateway.traces.quota_usage(ctx.who)


async def timeline(ctx: CallContext, params: TimelineParams) -> Timeline:
    return await ctx.gateway.traces.timeline(ctx.who, params)


METHODS = {
    "run.timeline.get": Method(TimelineParams, timeline, Role.VIEWER),
    "sessions.list": Method(SessionListParams, list_sessions, Role.VIEWER),
    "sessions.preview": Method(KeyParams, preview, Role.VIEWER),
    "sessions.patch": Method(SessionPatchParams, patch, Role.OPERATOR),
    "sessions.delete": Method(KeyParams, delete, Role.OPERATOR),
    "sessions.reset": Method(KeyParams, reset, Role.OPERATOR),
    "sessions.compact": Method(CompactParams, compact, Role.OPERATOR),
    "usage.get": Method(UsageParams, usage_get, Role.VIEWER),
    "usage.summary": Method(None, usage_summary, Role.VIEWER),
    "quota.usage": Method(None, quota_usage, Role.VIEWER),
}
