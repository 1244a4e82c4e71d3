"""The WebSocket methods and events, described from the method table (``clawgate.rpc.methods.METHODS``) for
the OpenAPI document (``x-websocket-methods``, ``x-websocket-events``) and ``/docs/websocket``: each
method's name, minimum role, params and result schemas, and the events it leads to."""

from __future__ import annotations

import html
import inspect
import types
import typing
from typing import Any, Final

import msgspec

from clawgate.rpc.types import Method

__all__ = ["WS_EVENTS", "result_members", "result_type", "websocket_page", "ws_method"]

WS_EVENTS: Final[dict[str, str]] = {
    "agent": "A run's progress, each with the run's seq: run.started, chunk, thinking, tool.call, tool.result, "
    "block.reply, activity, run.retrying, then run.completed, run.failed or run.cancelled",
    "session.updated": "A session changed (its generated title, a patch)",
    "tick": "Liveness, every limits.tick_interval_ms: {ts}",
    "shutdown": "The gateway is stopping: in-flight calls still answer, then the socket closes with 1001",
    "health": "Gateway health changed (GoClaw's event; reserved)",
    "trace.status": "A trace changed status (GoClaw's event; reserved)",
    "cron": "A cron run's lifecycle: {action: running|completed|error, jobId, jobName, userId, status "
    "(running, ok, error, missed, skipped, interrupted), error?} to the job's owner and the tenant's admins",
    "heartbeat": "An agent heartbeat: {action: running|ok|suppressed|error|skipped, agentId, agentKey, status, "
    "error, reason (active_hours, queue_busy, empty_checklist)} to the tenant's clients",
    "log": "A log line streamed to the client (GoClaw's event; reserved)",
    "vault.enrich.progress": "The background embedding of the tenant's vault embedded documents: "
    "{embedder, done, embedded, total, pending}",
    "team.created": "A team was created: {team_id, team_name, lead_agent_key, lead_display_name, member_count}",
    "team.updated": "A team changed: {team_id, team_name, changes}",
    "team.deleted": "A team was deleted: {team_id, team_name}",
    "team.member.added": "An agent joined a team: {team_id, agent_id, role}",
    "team.member.removed": "An agent left a team: {team_id, agent_id}",
    "team.task.created": "A team task was created: {team_id, task_id, task_number, subject, status, user_id, channel, "
    "chat_id, timestamp, actor_type, actor_id}",
    "team.task.assigned": "A team task was given to an agent and started (the task fields, owner_agent_key)",
    "team.task.approved": "A team task in review was approved: completed (the task fields, comment)",
    "team.task.rejected": "A team task was rejected: cancelled (the task fields, reason)",
    "team.task.commented": "A team task got a comment (the task fields)",
    "team.task.deleted": "A finished team task was deleted: {team_id, task_id, user_id}",
    "team.task.attachment_added": "A file of the team's workspace was linked to a team task (an upload with task_id): "
    "the task fields and {attachment_id, file_name, path, chat_id, mime_type, size}",
}
"""Every event a connection may receive (``clawgate.rpc.methods.EVENTS``; a test keeps them equal)."""

_METHOD_EVENTS: Final[dict[str, list[str]]] = {
    "chat.send": ["agent", "session.updated"],
    "chat.inject": ["agent"],
    "chat.abort": ["agent"],
    "connect": ["tick", "shutdown"],
    "cron.run": ["cron", "agent"],
    "heartbeat.test": ["heartbeat", "agent"],
}


def result_type(method: Method) -> Any:
    """The handler's declared result type, or None when it declares none we can describe."""
    try:
        hints = typing.get_type_hints(method.handler)
    except NameError:  # an annotation only importable for type checkers
        return None
    result = hints.get("return")
    return None if result in (None, type(None), Any) else result


def result_members(result: Any) -> tuple[Any, ...]:
    """The types to describe for a result: each member of a union (a union of untagged Structs has
    no schema of its own, ``chat.send``'s has two), else the result itself."""
    if isinstance(result, types.UnionType) or typing.get_origin(result) is typing.Union:
        return typing.get_args(result)
    return () if result is None else (result,)


def ws_method(name: str, method: Method, params: Any, result: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    """One method as the OpenAPI extension lists it."""
    if method.public:
        role = "public (before connect)"
    else:
        role = method.role.label if method.role is not None else "any connected client"
    doc = inspect.getdoc(method.handler) or ""
    return {
        "name": name,
        "minRole": role,
        "description": doc.split("\n\n", 1)[0].replace("\n", " "),
        "params": refs[params] if params is not None else None,
        "result": _result_schema(result, refs),
        "events": _METHOD_EVENTS.get(name, []),
    }


def _result_schema(result: Any, refs: dict[Any, Any]) -> dict[str, Any]:
    found = [refs[member] for member in result_members(result)]
    if not found:
        return {"type": "object"}
    return found[0] if len(found) == 1 else {"anyOf": found}


def websocket_page(spec: dict[str, Any]) -> str:
    """``/docs/websocket``: the methods and events of ``spec`` as a page that needs no JavaScript."""
    schemas = spec["components"]["schemas"]
    rows = []
    for entry in spec["x-websocket-methods"]:
        rows.append(
            f"<section id='{html.escape(entry['name'])}'><h3><code>{html.escape(entry['name'])}</code> "
            f"<small>{html.escape(entry['minRole'])}</small></h3><p>{html.escape(entry['description'])}</p>"
            f"<p>events: {html.escape(', '.join(entry['events']) or '-')}</p>"
            f"{_schema_block('params', entry['params'], schemas)}{_schema_block('result', entry['result'], schemas)}"
            "</section>"
        )
    events = "".join(
        f"<tr><td><code>{html.escape(e['name'])}</code></td><td>{html.escape(e['description'])}</td></tr>"
        for e in spec["x-websocket-events"]
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>ClawGate WebSocket protocol</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem}pre{background:#f5f5f5;"
        "padding:.6rem;overflow:auto;font-size:.85em}td{padding:.2rem .6rem;vertical-align:top}"
        "small{color:#666;font-weight:normal}</style></head><body>"
        "<h1>ClawGate WebSocket protocol v3</h1>"
        "<p>Connect to <code>/ws</code>; the first request must be <code>connect</code>. Frames: request "
        '<code>{"type":"req","id","method","params"}</code>, response '
        '<code>{"type":"res","id","ok","payload"|"error"}</code>, event '
        '<code>{"type":"event","event","payload","seq"}</code>. '
        "<a href='/docs'>REST reference</a> · <a href='/v1/openapi.json'>OpenAPI document</a> "
        "(<code>x-websocket-methods</code>)</p>"
        f"<h2>Events</h2><table>{events}</table><h2>Methods</h2>{''.join(rows)}</body></html>"
    )


def _schema_block(label: str, schema: Any, schemas: dict[str, Any]) -> str:
    if schema is None:
        return f"<p>{label}: none</p>"
    ref = schema.get("$ref", "")
    shown = schemas.get(ref.rsplit("/", 1)[-1], schema) if ref else schema
    text = msgspec.json.format(msgspec.json.encode(shown), indent=2).decode()
    return f"<details><summary>{label}</summary><pre>{html.escape(text)}</pre></details>"
