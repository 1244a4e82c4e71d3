"""The bodies of ClawTasker's writes (``/api``), as the service reads them: the OpenAPI document's
request bodies of the CT routes and CT's own ``GET /api/schema/{name}`` come from these types.

They document, they do not decode: a CT handler parses its body itself (``Api.own_body``), in CT's
order (parse, authenticate, count the write) and with CT's messages (``title must be text``). So
every field is optional here, texts are cut rather than refused (each says at what length), and
where CT takes a nested object or the same fields flat (``{task: {...}}`` or ``{...}``), both are
listed. ``write_token`` may carry the credential instead of the Bearer on every write.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta, Struct

from clawgate.wire import Int64

__all__ = ["CT_BODY_SCHEMAS", "WRITE_BODIES", "json_schema"]

TaskRef = Annotated[str | Int64, Meta(description="A task: T-<n>, or the number alone")]
Texts = Annotated[
    list[str], Meta(description="Texts; de-duplicated and capped (a single text is a list of one)")
]
Status = Literal["backlog", "ready", "in_progress", "validation", "done"]
Priority = Literal["P0", "P1", "P2", "P3"]
Horizon = Literal["Today", "This Week", "This Month", "Later"]


def _cut(n: int, what: str = "") -> Meta:
    return Meta(description=f"{what}{' ' if what else ''}(cut at {n} characters)".strip())


class CtWrite(Struct, kw_only=True):
    """Any write: the credential may come in the body instead of the Bearer."""

    write_token: (
        Annotated[str, Meta(description="The gateway token or an API key (instead of the Bearer)")] | None
    ) = None


class CtTaskFields(Struct, kw_only=True):
    """A task's fields: ``title`` is required on create, ``id`` (or ``task_id``) on update; only the
    fields sent change on update."""

    id: TaskRef | None = None
    task_id: TaskRef | None = None
    title: Annotated[str, _cut(120)] | None = None
    description: Annotated[str, _cut(500)] | None = None
    project_id: (
        Annotated[str, Meta(description="A project key or a team's uuid (default ceo-console)")] | None
    ) = None
    mission_id: str | None = None
    sprint_id: str | None = None
    status: Status | None = None
    owner: Annotated[str, Meta(description="ceo or an agent's id")] | None = None
    validation_owner: (
        Annotated[str, Meta(description="ceo or an agent's id (default ralph when it exists)")] | None
    ) = None
    priority: Priority | None = None
    horizon: Horizon | None = None
    type: Literal["bug", "story", "task", "spike", "epic"] | None = None
    progress: Annotated[Int64 | float, Meta(description="0-100, clamped")] | None = None
    blocked: bool | None = None
    story_points: Literal[1, 2, 3, 5, 8, 13] | None = None
    due_date: Annotated[str, Meta(description="An ISO date")] | None = None
    depends_on: Annotated[list[str], Meta(description="Task ids of the same project")] | None = None
    reporter: Annotated[str, _cut(64)] | None = None
    specialist: Annotated[str, _cut(64)] | None = None
    labels: Texts | None = None
    acceptance_criteria: Texts | None = None
    definition_of_done: Texts | None = None
    validation_steps: Texts | None = None
    artifacts: Texts | None = None
    collaborators: Texts | None = None
    issue_ref: Annotated[str, _cut(200)] | None = None
    branch_name: Annotated[str, _cut(200)] | None = None
    pr_status: Annotated[str, _cut(32)] | None = None


class CtTaskBody(CtTaskFields, kw_only=True):
    """``tasks/create`` and ``tasks/update``: the task flat, or under ``task``."""

    task: CtTaskFields | None = None
    note: Annotated[str, _cut(500, "update: a comment by the author")] | None = None
    updated_by: Annotated[str, Meta(description="update: the author (default ceo)")] | None = None
    agent_id: Annotated[str, Meta(description="update: the author, when updated_by is absent")] | None = None
    write_token: str | None = None


class CtTaskRef(CtWrite, kw_only=True):
    task_id: TaskRef | None = None
    id: TaskRef | None = None


class CtLinkBody(CtWrite, kw_only=True):
    source_id: TaskRef | None = None
    target_id: TaskRef | None = None
    link_type: (
        Literal["relates-to", "duplicates", "blocks", "is-blocked-by", "parent-of", "child-of"] | None
    ) = None


class CtCommentBody(CtWrite, kw_only=True):
    task_id: TaskRef | None = None
    text: Annotated[str, _cut(500, "required")] | None = None
    author: Annotated[str, Meta(description="ceo (default) or an agent's id")] | None = None


class CtTaskEventBody(CtWrite, kw_only=True):
    type: Literal["started", "needs-validation", "done", "blocked"] | None = None
    task_id: TaskRef | None = None
    agent_id: str | None = None
    note: Annotated[str, _cut(500, "the comment (a canned one when absent)")] | None = None


class CtAgentFields(Struct, kw_only=True):
    """An agent's roster card: ``name``, ``role`` and one of the skill fields are required to
    register; only the fields sent change on update."""

    id: Annotated[str, Meta(description="Default: the slug of name; never ceo")] | None = None
    agent_id: str | None = None
    name: Annotated[str, _cut(80)] | None = None
    role: Annotated[str, _cut(80)] | None = None
    emoji: Annotated[str, _cut(16)] | None = None
    status: (
        Literal["idle", "working", "blocked", "validating", "validation", "paused", "error", "offline"] | None
    ) = None
    skills: Texts | None = None
    core_skills: Texts | None = None
    specialists: Texts | None = None
    specialist: str | None = None
    home_specialist: str | None = None
    allowed_tools: Texts | None = None
    collaborating_with: Texts | None = None
    manager: Annotated[str, Meta(description="ceo or an agent's id")] | None = None
    project_id: str | None = None
    profile_hue: str | Int64 | None = None
    department: str | None = None
    org_level: str | None = None
    team_id: str | None = None
    team_name: str | None = None
    coordination_scope: str | None = None
    manager_title: str | None = None
    avatar_ref: str | None = None
    note: Annotated[str, _cut(300)] | None = None
    session_key: str | None = None
    publish_kind: str | None = None
    run_id: str | None = None


class CtAgentBody(CtAgentFields, kw_only=True):
    """``agents/register`` and ``agents/update``: the agent flat, or under ``agent``."""

    agent: CtAgentFields | None = None
    write_token: str | None = None


class CtSummaries(Struct, kw_only=True):
    done_summary: Annotated[str, _cut(300)] | None = None
    doing_summary: Annotated[str, _cut(300)] | None = None
    next_summary: Annotated[str, _cut(300)] | None = None


class CtHeartbeatFields(CtAgentFields, kw_only=True):
    current_task_id: TaskRef | None = None
    blockers: Annotated[list[str], Meta(description="At most 6, each cut at 100 characters")] | None = None
    speaking: bool | None = None
    done_summary: Annotated[str, _cut(300)] | None = None
    doing_summary: Annotated[str, _cut(300)] | None = None
    next_summary: Annotated[str, _cut(300)] | None = None
    metadata: CtSummaries | None = None


class CtHeartbeatBody(CtHeartbeatFields, kw_only=True):
    """``agents/heartbeat``: the agent (``id``, ``agent_id`` or ``name``) flat, or under ``agent``."""

    agent: CtHeartbeatFields | None = None
    write_token: str | None = None


class CtAgentRef(CtWrite, kw_only=True):
    agent_id: str | None = None
    reason: Annotated[str, _cut(300)] | None = None


class CtRetireBody(CtAgentRef, kw_only=True):
    successor_id: Annotated[str, Meta(description="Takes the open work; absent: it is unassigned")] | None = (
        None
    )


class CtReplaceBody(CtWrite, kw_only=True):
    old_agent_id: str | None = None
    new_agent_id: str | None = None
    reason: Annotated[str, _cut(300)] | None = None


class CtMergeBody(CtWrite, kw_only=True):
    source_agent_id: str | None = None
    target_agent_id: str | None = None


class CtRoster(Struct, kw_only=True):
    agents: Annotated[list[CtAgentFields], Meta(description="At most 200")] | None = None
    replace_missing: Annotated[bool, Meta(description="Take the agents not listed offline")] | None = None


class CtSyncBody(CtRoster, kw_only=True):
    """``agents/sync`` and ``openclaw/roster_sync``: the roster flat, or under ``roster``."""

    roster: CtRoster | None = None
    write_token: str | None = None


class CtMissionFields(Struct, kw_only=True):
    id: Annotated[str, Meta(description="Default: the slug of title")] | None = None
    mission_id: str | None = None
    title: Annotated[str, _cut(160, "required")] | None = None
    objective: Annotated[str, _cut(320)] | None = None
    status: Literal["draft", "planned", "active", "blocked", "review", "done"] | None = None
    priority: Priority | None = None
    horizon: Horizon | None = None
    owner: Annotated[str, Meta(description="An agent's id (default the chief agent)")] | None = None
    project_id: str | None = None
    project_ids: Texts | None = None
    task_ids: Annotated[list[str], Meta(description="Tasks stamped with the mission (at most 16)")] | None = (
        None
    )
    tasks: Annotated[list[CtTaskFields], Meta(description="Tasks created for it (at most 16)")] | None = None
    summary: Annotated[str, _cut(500)] | None = None
    source: str | None = None
    required_specialists: Texts | None = None
    assigned_agents: Texts | None = None
    next_actions: Texts | None = None
    success_criteria: Texts | None = None
    dependencies: list[dict[str, Any]] | None = None
    risks: list[dict[str, Any]] | None = None
    milestones: list[dict[str, Any]] | None = None


class CtMissionBody(CtMissionFields, kw_only=True):
    """``missions/plan``: the mission flat, or under ``mission``."""

    mission: CtMissionFields | None = None
    write_token: str | None = None


class CtMissionRef(CtWrite, kw_only=True):
    mission_id: str | None = None
    id: str | None = None


class CtSprintBody(CtWrite, kw_only=True):
    """``sprints/create`` (``name`` required) and ``sprints/update`` (``sprint_id``)."""

    sprint_id: str | None = None
    id: str | None = None
    name: Annotated[str, _cut(120)] | None = None
    project_id: str | None = None
    goal: Annotated[str, _cut(300)] | None = None
    start_date: Annotated[str, Meta(description="An ISO date")] | None = None
    end_date: Annotated[str, Meta(description="An ISO date")] | None = None
    status: Literal["planning", "active", "closed"] | None = None
    velocity: Int64 | None = None


class CtSprintRef(CtWrite, kw_only=True):
    sprint_id: str | None = None
    id: str | None = None


class CtProjectFields(Struct, kw_only=True):
    project_id: Annotated[str, Meta(description="Required: lower-case letters, digits, - and _")] | None = (
        None
    )
    id: str | None = None
    name: Annotated[str, _cut(120)] | None = None
    type: Literal["software", "manual", "business", "coaching", "plan", "launch", "custom"] | None = None
    tagline: str | None = None
    repo: str | None = None
    github_project: str | None = None
    workspace_root: str | None = None
    default_branch: str | None = None
    visibility: str | None = None
    increment_policy: str | None = None
    allowed_agents: Texts | None = None
    focus: Texts | None = None
    relevant_specialists: Texts | None = None


class CtProjectBody(CtProjectFields, kw_only=True):
    """``projects/configure``: the project flat, or under ``project``."""

    project: CtProjectFields | None = None
    write_token: str | None = None


class CtProjectRef(CtWrite, kw_only=True):
    project_id: str | None = None
    id: str | None = None


class CtMessageBody(CtWrite, kw_only=True):
    """``conversations/message``: into the thread named, else the thread of the two participants
    (``sender`` and ``target``, or ``participants``)."""

    thread_id: str | None = None
    sender: Annotated[str, Meta(description="ceo (default) or an agent's id")] | None = None
    target: str | None = None
    participants: Annotated[list[str], Meta(description="Two actor ids")] | None = None
    text: Annotated[str, _cut(400, "required")] | None = None
    category: Literal["directive", "discussion", "summary", "status", "ack", "system"] | None = None
    source: str | None = None
    mode: str | None = None
    project_id: str | None = None
    create_task: Annotated[bool, Meta(description="Also a backlog task from the text")] | None = None


class CtDirectiveBody(CtWrite, kw_only=True):
    target: Annotated[str, Meta(description="An agent's id (default orion)")] | None = None
    text: Annotated[str, _cut(400, "required")] | None = None
    specialist: str | None = None
    project_id: str | None = None
    create_task: Annotated[bool, Meta(description="A backlog task for the target (default true)")] | None = (
        None
    )


class CtDismissBody(CtWrite, kw_only=True):
    id: str | None = None
    notification_ids: list[str] | None = None
    all: bool | None = None


class CtRunBody(CtWrite, kw_only=True):
    agent_id: str | None = None
    task_id: TaskRef | None = None
    title: Annotated[str, _cut(160)] | None = None
    outcome: Literal["working", "needs_attention", "blocked", "validation"] | None = None
    summary: Annotated[str, _cut(500)] | None = None
    artifacts: Texts | None = None


class CtPublishFields(Struct, kw_only=True):
    """OpenClaw's publish, camelCase (snake_case is read too)."""

    agentId: str | None = None
    event: (
        Annotated[
            str,
            Meta(
                description="heartbeat (default), task_update, validation, mission_plan, "
                "mission_update, conversation_note, note, run"
            ),
        ]
        | None
    ) = None
    status: Annotated[str, Meta(description="The agent's status (default working)")] | None = None
    taskId: TaskRef | None = None
    taskStatus: Status | None = None
    owner: str | None = None
    validationOwner: str | None = None
    progress: Int64 | float | None = None
    blocked: bool | None = None
    labels: Texts | None = None
    artifacts: Texts | None = None
    branch: str | None = None
    issueRef: str | None = None
    prStatus: str | None = None
    projectId: str | None = None
    missionId: str | None = None
    missionStatus: str | None = None
    note: Annotated[str, _cut(320)] | None = None
    category: str | None = None
    source: str | None = None
    runId: str | None = None
    sessionKey: str | None = None
    doneSummary: str | None = None
    doingSummary: str | None = None
    nextSummary: str | None = None
    blockers: list[str] | None = None
    speaking: bool | None = None
    task: CtTaskFields | None = None
    metadata: dict[str, Any] | None = None


class CtPublishBody(CtPublishFields, kw_only=True):
    """``openclaw/publish``: the publish flat, or under ``publish``."""

    publish: CtPublishFields | None = None
    write_token: str | None = None


class CtOrgBody(CtWrite, kw_only=True):
    chief_agent_id: str | None = None
    company_name: Annotated[str, _cut(120)] | None = None
    ceo_name: Annotated[str, _cut(120)] | None = None
    ceo_role: Annotated[str, _cut(120)] | None = None
    tagline: Annotated[str, _cut(120)] | None = None
    ui_settings: dict[str, Any] | None = None


class CtBootstrapBody(CtWrite, kw_only=True):
    company_name: Annotated[str, _cut(120)] | None = None
    ceo_name: Annotated[str, _cut(120)] | None = None
    ceo_role: Annotated[str, _cut(120)] | None = None
    tagline: Annotated[str, _cut(120)] | None = None
    projects: list[CtProjectFields] | None = None
    agents: list[CtAgentFields] | None = None


WRITE_BODIES: Final[dict[str, type]] = {
    "tasks/create": CtTaskBody, "tasks/update": CtTaskBody, "tasks/delete": CtTaskRef, "tasks/link": CtLinkBody,
    "tasks/comment": CtCommentBody, "tasks/event": CtTaskEventBody, "agents/register": CtAgentBody,
    "agents/heartbeat": CtHeartbeatBody, "agents/update": CtAgentBody, "agents/decommission": CtAgentRef,
    "agents/retire": CtRetireBody, "agents/replace": CtReplaceBody, "agents/merge": CtMergeBody,
    "agents/delete": CtAgentRef, "agents/sync": CtSyncBody, "openclaw/roster_sync": CtSyncBody,
    "missions/plan": CtMissionBody, "missions/delete": CtMissionRef, "sprints/create": CtSprintBody,
    "sprints/update": CtSprintBody, "sprints/delete": CtSprintRef, "projects/configure": CtProjectBody,
    "projects/delete": CtProjectRef, "conversations/message": CtMessageBody, "ceo/directive": CtDirectiveBody,
    "notifications/dismiss": CtDismissBody, "runs/publish": CtRunBody, "openclaw/publish": CtPublishBody,
    "org/configure": CtOrgBody, "org/bootstrap": CtBootstrapBody, "demo/reset": CtWrite, "blank/reset": CtWrite,
}  # fmt: skip
"""Each write route (the path after ``/api/``) and its body."""

CT_BODY_SCHEMAS: Final[dict[str, type]] = {
    "task": CtTaskBody, "agent-register": CtAgentBody, "mission-plan": CtMissionBody,
    "heartbeat": CtHeartbeatBody, "message": CtMessageBody,
}  # fmt: skip
"""CT's ``GET /api/schema/{name}``: the body of tasks/update, agents/register, missions/plan,
agents/heartbeat and conversations/message."""


def json_schema(kind: type) -> dict[str, Any]:
    """``kind`` as a standalone JSON Schema: its own object at the top, the types it uses in ``$defs``."""
    name = kind.__name__
    found = msgspec.json.schema(kind, ref_template="#/$defs/{name}")
    defs: dict[str, Any] = dict(found.get("$defs", {}))
    top: dict[str, Any] = defs.pop(name)
    return {**top, "$defs": defs} if defs else top
