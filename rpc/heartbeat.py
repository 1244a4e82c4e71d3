"""Heartbeat methods (GoClaw shapes): ``heartbeat.get|set|toggle|test|logs|checklist.get|checklist.set|targets``.
``agentId`` is the agent's key or UUID; another tenant's agent is ``NOT_FOUND``."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

from clawgate.principal import Role
from clawgate.services.heartbeat import Heartbeat, HeartbeatLogs, HeartbeatSetParams, HeartbeatTarget

from .types import CallContext, Method

__all__ = ["METHODS"]

AgentRef = Annotated[str, Meta(min_length=1, max_length=100, description="Agent key or UUID")]


class AgentParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: AgentRef


class ToggleParams(AgentParams, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class LogsParams(AgentParams, kw_only=True, forbid_unknown_fields=True):
    limit: Annotated[int, Meta(ge=1, le=500)] | None = None
    offset: Annotated[int, Meta(ge=0, le=2**31 - 1)] | None = None


class ChecklistSetParams(AgentParams, kw_only=True, forbid_unknown_fields=True):
    content: Annotated[str, Meta(max_length=100_000)]


class TargetsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: AgentRef | None = None


class HeartbeatResult(Struct, kw_only=True):
    heartbeat: Heartbeat | None


class Toggled(Struct, kw_only=True):
    agentId: str
    enabled: bool


class Ok(Struct, kw_only=True):
    ok: bool = True


class Checklist(Struct, kw_only=True):
    content: str


class ChecklistSaved(Struct, kw_only=True):
    ok: bool = True
    length: int


class Targets(Struct, kw_only=True):
    targets: list[HeartbeatTarget]


async def get(ctx: CallContext, params: AgentParams) -> HeartbeatResult:
    """The agent's heartbeat (``null`` until set)."""
    return HeartbeatResult(heartbeat=await ctx.gateway.heartbeat.get(ctx.who, params.agentId))


async def set_(ctx: CallContext, params: HeartbeatSetParams) -> HeartbeatResult:
    """Create or change the agent's heartbeat (intervalSec >= 300; active hours HH:MM in an IANA zone)."""
    return HeartbeatResult(heartbeat=await ctx.gateway.heartbeat.set(ctx.who, params))


async def toggle(ctx: CallContext, params: ToggleParams) -> Toggled:
    hb = await ctx.gateway.heartbeat.set(
        ctx.who, HeartbeatSetParams(agentId=params.agentId, enabled=params.enabled)
    )
    return Toggled(agentId=params.agentId, enabled=hb.enabled)


async def test(ctx: CallContext, params: AgentParams) -> Ok:
    """Make the heartbeat due now; it runs (or is skipped, with why) in the background."""
    await ctx.gateway.heartbeat.test(ctx.who, params.agentId)
    return Ok()


async def logs(ctx: CallContext, params: LogsParams) -> HeartbeatLogs:
    """One record per due time: ok, suppressed, error, skipped (with ``skipReason``), interrupted."""
    return await ctx.gateway.heartbeat.logs(ctx.who, params.agentId, params.limit or 20, params.offset or 0)


async def checklist_get(ctx: CallContext, params: AgentParams) -> Checklist:
    return Checklist(content=await ctx.gateway.heartbeat.checklist(ctx.who, params.agentId))


async def checklist_set(ctx: CallContext, params: ChecklistSetParams) -> ChecklistSaved:
    length = await ctx.gateway.heartbeat.set_checklist(ctx.who, params.agentId, params.content)
    return ChecklistSaved(length=length)


async def targets(ctx: CallContext, params: TargetsParams) -> Targets:
    """Sessions of the agent a heartbeat may deliver to (``chatId`` is the session key)."""
    return Targets(targets=await ctx.gateway.heartbeat.targets(ctx.who, params.agentId))


METHODS = {
    "heartbeat.get": Method(AgentParams, get, Role.VIEWER),
    "heartbeat.set": Method(HeartbeatSetParams, set_, Role.ADMIN),
    "heartbeat.toggle": Method(ToggleParams, toggle, Role.ADMIN),
    "heartbeat.test": Method(AgentParams, test, Role.ADMIN),
    "heartbeat.logs": Method(LogsParams, logs, Role.VIEWER),
    "heartbeat.checklist.get": Method(AgentParams, checklist_get, Role.VIEWER),
    "heartbeat.checklist.set": Method(ChecklistSetParams, checklist_set, Role.ADMIN),
    "heartbeat.targets": Method(TargetsParams, targets, Role.VIEWER),
}
