"""The agent's ``cron`` and ``heartbeat`` tools (issue 12): an agent manages its own schedules.

Both act on the running agent only, in its tenant (``ToolContext``). ``cron`` acts as the run's user,
an operator: the jobs it creates belong to that user (who sees them in ``cron.list``), and it reaches
only that user's jobs of this agent. ``heartbeat`` acts on this agent's heartbeat and checklist; its
changes are the agent's own (GoClaw's agent tool may change its heartbeat too).
"""

from __future__ import annotations

from typing import Any

import msgspec

from clawgate.errors import GatewayError
from clawgate.principal import Principal, Role
from clawgate.services.cron import CronCreateParams, CronPatch, CronService
from clawgate.services.heartbeat import HeartbeatService, HeartbeatSetParams
from clawgate.tools import ToolContext, ToolError, register

__all__ = ["cron_tool", "heartbeat_tool"]

_SCHEDULE = {
    "type": "object",
    "description": "kind at (atMs: epoch ms), every (everyMs >= 1000) or cron (expr: 5 fields, tz: IANA zone)",
    "properties": {"kind": {"type": "string", "enum": ["at", "every", "cron"]}, "atMs": {"type": "integer"},
                   "everyMs": {"type": "integer"}, "expr": {"type": "string"}, "tz": {"type": "string"}},
}  # fmt: skip


def _cron(ctx: ToolContext) -> CronService:
    if ctx.cron is None:
        raise ToolError("cron is not available in this run")
    return ctx.cron


def _heartbeat(ctx: ToolContext) -> HeartbeatService:
    if ctx.heartbeat is None:
        raise ToolError("heartbeats are not available in this run")
    return ctx.heartbeat


def _who(ctx: ToolContext, role: Role = Role.OPERATOR) -> Principal:
    return Principal(role=role, user_id=ctx.user_id or f"agent:{ctx.agent_key}", tenant_id=ctx.tenant_id,
                     via="tool")  # fmt: skip


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def _job_id(args: dict[str, Any]) -> str:
    job_id = args.get("jobId")
    if not isinstance(job_id, str) or not job_id:
        raise ToolError("jobId is required (cron list shows the ids)")
    return job_id


async def _own_job(ctx: ToolContext, job_id: str) -> None:
    """A job of this agent the run's user may touch. Raises: ToolError."""
    job = await _cron(ctx).get(_who(ctx), job_id)
    if job.agentId != str(ctx.agent_id):
        raise ToolError(f"job {job_id} belongs to another agent")


@register(
    "cron",
    "Manage your scheduled jobs: action list, create (name, message, schedule), update (jobId, patch), "
    "delete, toggle (jobId, enabled), run (jobId) or runs (jobId: the record of each due time).",
    {"type": "object", "required": ["action"], "properties": {
        "action": {"type": "string", "enum": ["list", "create", "update", "delete", "toggle", "run", "runs"]},
        "jobId": {"type": "string"}, "name": {"type": "string", "description": "lowercase slug"},
        "message": {"type": "string", "description": "what you will be asked at each due time"},
        "schedule": _SCHEDULE, "enabled": {"type": "boolean"},
        "patch": {"type": "object", "description": "fields to change: name, message, schedule, enabled"}}},
)  # fmt: skip
async def cron_tool(ctx: ToolContext, args: dict[str, Any]) -> str:
    service, who, action = _cron(ctx), _who(ctx), args.get("action")
    try:
        if action == "list":
            listed = await service.list_jobs(who, agent_ref=str(ctx.agent_id))
            return _json(listed.jobs) if listed.jobs else "no jobs"
        if action == "create":
            fields: dict[str, Any] = {k: args[k] for k in ("name", "message", "schedule") if k in args}
            params = msgspec.convert({**fields, "agentId": str(ctx.agent_id)}, CronCreateParams)
            return _json(await service.create(who, params))
        job_id = _job_id(args)
        await _own_job(ctx, job_id)
        if action == "update":
            changes: dict[str, Any] = dict(args.get("patch") or {})
            patch = msgspec.convert({**changes, "agentId": None}, CronPatch)
            return _json(await service.update(who, job_id, patch))
        if action == "delete":
            await service.delete(who, job_id)
            return f"deleted {job_id}"
        if action == "toggle":
            return _json(await service.toggle(who, job_id, bool(args.get("enabled"))))
        if action == "run":
            return "started" if await service.run(who, job_id, "force") else "not started"
        if action == "runs":
            return _json((await service.runs(who, job_id, 20, 0)).entries)
    except msgspec.ValidationError as exc:
        raise ToolError(str(exc)) from exc
    except GatewayError as exc:
        raise ToolError(str(exc)) from exc
    raise ToolError(f"unknown action {action!r}")


@register(
    "heartbeat",
    "Your heartbeat (a periodic wake-up to work through your HEARTBEAT.md checklist; answer HEARTBEAT_OK "
    "when nothing needs attention): action get, set (intervalSec >= 300, enabled, activeHoursStart, "
    "activeHoursEnd, timezone, prompt), toggle (enabled), get_checklist, set_checklist (content), test, logs.",
    {"type": "object", "required": ["action"], "properties": {
        "action": {"type": "string",
                   "enum": ["get", "set", "toggle", "get_checklist", "set_checklist", "test", "logs"]},
        "enabled": {"type": "boolean"}, "intervalSec": {"type": "integer", "minimum": 300},
        "activeHoursStart": {"type": "string"}, "activeHoursEnd": {"type": "string"},
        "timezone": {"type": "string"}, "prompt": {"type": "string"}, "content": {"type": "string"}}},
)  # fmt: skip
async def heartbeat_tool(ctx: ToolContext, args: dict[str, Any]) -> str:
    service, action, agent = _heartbeat(ctx), args.get("action"), str(ctx.agent_id)
    # Its own heartbeat only: the agent id is never taken from the model.
    who = _who(ctx, Role.ADMIN)
    try:
        if action == "get":
            return _json(await service.get(who, agent))
        if action == "logs":
            return _json((await service.logs(who, agent, 20, 0)).logs)
        if action == "get_checklist":
            return await service.checklist(who, agent) or "(empty)"
        if action == "set_checklist":
            content = args.get("content")
            if not isinstance(content, str):
                raise ToolError("content must be a string")
            return f"saved ({await service.set_checklist(who, agent, content)} characters)"
        if action == "test":
            await service.test(who, agent)
            return "the heartbeat runs now"
        if action in {"set", "toggle"}:
            keys = ("enabled",) if action == "toggle" else (
                "enabled", "intervalSec", "activeHoursStart", "activeHoursEnd", "timezone", "prompt")  # fmt: skip
            params = msgspec.convert(
                {"agentId": agent, **{k: args[k] for k in keys if k in args}}, HeartbeatSetParams
            )
            return _json(await service.set(who, params))
    except msgspec.ValidationError as exc:
        raise ToolError(str(exc)) from exc
    except GatewayError as exc:
        raise ToolError(str(exc)) from exc
    raise ToolError(f"unknown action {action!r}")
