"""ClawTasker's ``POST /api/openclaw/publish`` (reference 3.6): one call from an OpenClaw agent that
is a heartbeat, optionally a task update, a mission upsert and a conversation note, in CT's loose
shapes (camelCase or snake_case, flat or under ``publish``).

A publish repeated within ``PUBLISH_WINDOW`` (45 s) with the same signature (agent, event, status,
task, project, note, run) is a duplicate, decided in PostgreSQL (``ClawTaskerService.first_publish``):
as in CT it still refreshes the agent and applies the task and mission fields, but logs no heartbeat
event and posts no note. The note goes to the chief agent's thread (``orion``; the chief's own to the
CEO) as a ``summary`` / ``status`` line, which wakes nobody: it is a report, not a request."""

from __future__ import annotations

from typing import Any, Final

from clawgate.principal import Principal
from clawgate.services.clawtasker import ClawTaskerService, bad, obj, text, texts

__all__ = ["publish"]

JSON = dict[str, Any]
NOTE_EVENTS: Final = ("conversation_note", "note", "run", "mission_plan", "mission_update")
MISSION_EVENTS: Final = ("mission_plan", "mission_update")
TASK_FIELDS: Final = {
    "taskStatus": "status", "owner": "owner", "validationOwner": "validation_owner", "progress": "progress",
    "blocked": "blocked", "labels": "labels", "artifacts": "artifacts", "branch": "branch_name",
    "issueRef": "issue_ref", "prStatus": "pr_status",
}  # fmt: skip
"""A publish's camelCase task fields -> CT's task fields (the task object's own names win over none)."""
MISSION_FIELDS: Final = (
    "title", "objective", "priority", "horizon", "owner", "project_ids", "task_ids", "required_specialists",
    "assigned_agents", "summary", "next_actions", "success_criteria", "dependencies", "risks", "milestones",
)  # fmt: skip


def _pick(body: JSON, *names: str) -> Any:
    """The first of ``names`` that ``body`` has and is not empty."""
    for name in names:
        value = body.get(name)
        if value not in (None, "", [], {}):
            return value
    return None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def publish(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    """``POST /api/openclaw/publish``: heartbeat, then the task, the mission and the note it carries.

    Returns: CT's ``{agent, task, mission, thread_message, publish, duplicate_publish}``.
    Raises: InvalidRequest (no agent, an unknown agent or task, a bad field), as CT's 400.
    """
    given = obj(body.get("publish", body), "publish")
    meta = obj(given.get("metadata"), "metadata")
    agent = text(_pick(given, "agentId", "agent_id", "agent"), 64, "agentId")
    if not agent:
        raise bad("agentId is required")
    event = (text(_pick(given, "event", "kind"), 32, "event") or "heartbeat").lower()
    status = text(_pick(given, "status", "agentStatus"), 32, "status") or "working"
    task_id = text(_pick(given, "taskId", "task_id"), 32, "taskId")
    mission_id = text(_pick(given, "missionId", "mission_id"), 80, "missionId")
    project = text(_pick(given, "projectId", "project_id"), 64, "projectId")
    note = text(_pick(given, "note", "message", "summary"), 320, "note")
    run_id = text(_pick(given, "runId", "run_id"), 96, "runId")
    session_key = text(_pick(given, "sessionKey", "session_key"), 160, "sessionKey")
    source = text(_pick(given, "source", "channel") or _pick(meta, "source", "channel"), 32, "source") or (
        "internal_session" if event in ("conversation_note", "run", "note") else "webhook")  # fmt: skip
    category = text(_pick(given, "category") or meta.get("category"), 32, "category") or (
        "summary" if source == "internal_session" else "status")  # fmt: skip
    signature = "|".join((agent, event, status, task_id, project, note, run_id))
    duplicate = not await ct.first_publish(who, signature)

    beat = {
        "id": agent, "status": status, "current_task_id": task_id or None, "note": note,
        "blockers": texts(given.get("blockers") or meta.get("blockers"), 6, 100, "blockers"),
        "collaborating_with": texts(_pick(given, "collaboratingWith", "collaborating_with"), 8, 64,
                                    "collaboratingWith"),
        "speaking": bool(given.get("speaking") or meta.get("speaking")),
        "metadata": {
            "done_summary": _pick(given, "doneSummary") or meta.get("done_summary") or "",
            "doing_summary": _pick(given, "doingSummary") or meta.get("doing_summary") or note,
            "next_summary": _pick(given, "nextSummary") or meta.get("next_summary") or "",
            "session_key": session_key, "publish_kind": event, "run_id": run_id,
        },
    }  # fmt: skip
    card = (await ct.heartbeat(who, {"agent": beat}, logged=not duplicate))["agent"]

    task = None
    source_task = obj(given.get("task"), "task")
    if task_id or source_task:
        fields: JSON = {"id": task_id or source_task.get("id")}
        for camel, name in TASK_FIELDS.items():
            value = _pick(given, camel) if camel not in ("progress", "blocked") else given.get(camel)
            value = value if value is not None else _pick(source_task, name, _camel(name))
            if value is not None:
                fields[name] = value
        if "status" not in fields and event == "validation":
            fields["status"] = "validation"
        fields.setdefault("owner", agent)
        if project or _pick(source_task, "project_id", "projectId"):
            fields["project_id"] = project or _pick(source_task, "project_id", "projectId")
        if mission_id or _pick(source_task, "mission_id", "missionId"):
            fields["mission_id"] = mission_id or _pick(source_task, "mission_id", "missionId")
        task = await ct.update_task(who, {"task": fields, "note": "" if duplicate else note}, author=agent)

    mission = None
    if event in MISSION_EVENTS:
        nested = obj(meta.get("mission"), "metadata.mission")
        plan: JSON = {"id": mission_id or nested.get("id") or meta.get("mission_id") or None,
                      "status": _pick(given, "missionStatus", "mission_status") or nested.get("status") or "active",
                      "source": nested.get("source") or source}  # fmt: skip
        for name in MISSION_FIELDS:
            value = _pick(given, _camel(name), name)
            plan[name] = value if value is not None else _pick(nested, name) or _pick(meta, name)
        plan["title"] = plan["title"] or note or f"Mission from {agent}"
        plan["objective"] = plan["objective"] or note or "Mission update published from OpenClaw."
        plan["owner"] = plan["owner"] or agent
        plan["project_ids"] = plan["project_ids"] or ([project] if project else [])
        plan["task_ids"] = plan["task_ids"] or ([task["id"]] if task else [task_id] if task_id else [])
        plan["assigned_agents"] = plan["assigned_agents"] or [agent]
        plan["summary"] = plan["summary"] or note
        mission = await ct.plan_mission(who, {"source": source, "mission": {k: v for k, v in plan.items()
                                                                            if v is not None}})  # fmt: skip

    thread_message = None
    if not duplicate and (event in NOTE_EVENTS or given.get("conversation") or note):
        chief = "orion" if agent != "orion" else "ceo"
        sent = await ct.post_message(who, {
            "participants": [agent, chief], "sender": agent, "text": note or f"Published {event}",
            "category": category, "source": source, "mode": "chief-specialist" if chief == "orion" else "ceo-chief",
        }, wake=False)  # fmt: skip
        thread_message = {**sent["message"], "thread_id": sent["thread"]["id"]}

    last = {
        "agent_id": agent, "event": event, "task_id": task["id"] if task else task_id or None,
        "mission_id": mission["mission"]["id"] if mission else mission_id or None,
        "project_id": (task or {}).get("project_id") or project or None, "session_key": session_key or None,
        "run_id": run_id or None, "source": source, "category": category, "duplicate": duplicate,
    }  # fmt: skip
    return {"agent": card, "task": task, "mission": mission, "thread_message": thread_message,
            "publish": last, "duplicate_publish": duplicate}  # fmt: skip
