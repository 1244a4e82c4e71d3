"""GoClaw's agent-team methods (``teams.*``, reference goclaw.md 1.7) on the shared coordination
model (``clawgate.services.teams``). Ids that are not UUIDs are ``INVALID_REQUEST`` ("invalid
teamId"), as in GoClaw; a team or task the caller may not see is ``NOT_FOUND``."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from msgspec import Meta, Struct

from clawgate.errors import invalid_field
from clawgate.principal import Role
from clawgate.services.team_workspace import WorkspaceFile
from clawgate.services.teams import (
    MAX_TEXT,
    ActiveTask,
    TaskCreate,
    Team,
    TeamCreate,
    TeamEvent,
    TeamMember,
    TeamPatch,
    TeamScope,
    TeamTask,
    TeamTaskComment,
    TeamTaskEvent,
    task_out,
    team_id_of,
)
from clawgate.store.teams import AttachmentRow

from .types import CallContext, Method

__all__ = ["METHODS"]

Ref = Annotated[str, Meta(max_length=100)]
Text = Annotated[str, Meta(max_length=MAX_TEXT)]


class TeamRef(Struct, kw_only=True, forbid_unknown_fields=True):
    teamId: str


class MemberAdd(Struct, kw_only=True, forbid_unknown_fields=True):
    """``{teamId, agent, role?}``: ``role`` member (default) or reviewer."""

    teamId: str
    agent: Ref
    role: Annotated[str, Meta(pattern="^(member|reviewer)$")] | None = None


class MemberRemove(Struct, kw_only=True, forbid_unknown_fields=True):
    """``{teamId, agentId}`` (``agent`` accepted too)."""

    teamId: str
    agentId: Ref | None = None
    agent: Ref | None = None


class TaskListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """``status``: "" (active), ``in_review``, ``completed`` or ``all``; ``channel``/``chatId`` a scope."""

    teamId: str
    status: Annotated[str, Meta(max_length=32)] | None = None
    channel: Annotated[str, Meta(max_length=100)] | None = None
    chatId: Annotated[str, Meta(max_length=512)] | None = None


class TaskRef(Struct, kw_only=True, forbid_unknown_fields=True):
    teamId: str
    taskId: str


class ApproveParams(TaskRef, kw_only=True, forbid_unknown_fields=True):
    comment: Text | None = None


class RejectParams(TaskRef, kw_only=True, forbid_unknown_fields=True):
    reason: Text | None = None


class CommentParams(TaskRef, kw_only=True, forbid_unknown_fields=True):
    content: Annotated[str, Meta(min_length=1, max_length=MAX_TEXT)]


class AssignParams(TaskRef, kw_only=True, forbid_unknown_fields=True):
    agentId: Ref


class DeleteBulkParams(Struct, kw_only=True, forbid_unknown_fields=True):
    teamId: str
    taskIds: Annotated[list[str], Meta(min_length=1, max_length=1000)]


class SessionParams(Struct, kw_only=True, forbid_unknown_fields=True):
    sessionKey: Annotated[str, Meta(max_length=512)] | None = None


class EventsParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """``teams.events.list`` takes ``team_id`` (snake case, as GoClaw)."""

    team_id: str
    limit: Annotated[int, Meta(ge=0, le=500)] | None = None
    offset: Annotated[int, Meta(ge=0, le=1_000_000)] | None = None


class WorkspaceParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """``teams.workspace.list``: ``team_id``, and ``chat_id`` for one chat's files (GoClaw's snake case)."""

    team_id: str
    chat_id: Annotated[str, Meta(max_length=128)] = ""


class WorkspaceFileParams(WorkspaceParams, kw_only=True, forbid_unknown_fields=True):
    """``teams.workspace.read|delete``: a file of the team's workspace (``chat_id`` unless shared)."""

    file_name: Annotated[str, Meta(min_length=1, max_length=1024)]


class WorkspaceList(Struct, kw_only=True):
    files: list[WorkspaceFile]
    count: int


class WorkspaceRead(Struct, kw_only=True):
    file: WorkspaceFile
    content: str


class WorkspaceDeleted(Struct, kw_only=True):
    deleted: str


class TeamList(Struct, kw_only=True):
    teams: list[Team]
    count: int


class TeamDetail(Struct, kw_only=True):
    team: Team
    members: list[TeamMember]


class TeamCreated(Struct, kw_only=True):
    team: Team


class Done(Struct, kw_only=True):
    ok: bool = True


class TaskList(Struct, kw_only=True):
    tasks: list[TeamTask]
    count: int


class TaskOne(Struct, kw_only=True):
    task: TeamTask


class TaskDetail(Struct, kw_only=True):
    task: TeamTask
    comments: list[TeamTaskComment]
    events: list[TeamTaskEvent]
    attachments: list[AttachmentRow]  # GoClaw's team_task_attachments: workspace files linked to the task


class CommentList(Struct, kw_only=True):
    comments: list[TeamTaskComment]


class TaskEventList(Struct, kw_only=True):
    events: list[TeamTaskEvent]


class ActiveList(Struct, kw_only=True):
    tasks: list[ActiveTask]


class EventList(Struct, kw_only=True):
    events: list[TeamEvent]
    count: int


class Deleted(Struct, kw_only=True):
    deleted: int


class KnownUsers(Struct, kw_only=True):
    users: list[str]


class ScopeList(Struct, kw_only=True):
    scopes: list[TeamScope]


def _task_id(value: str) -> UUID:
    try:
        return UUID(value)
    except ValueError:
        raise invalid_field("$.taskId", "invalid taskId") from None


def _ids(params: TaskRef) -> tuple[UUID, UUID]:
    return team_id_of(params.teamId), _task_id(params.taskId)


async def list_teams(ctx: CallContext, _: None) -> TeamList:
    """The teams the caller may see (admins: all of the tenant's), oldest first."""
    teams = await ctx.gateway.teams.list_teams(ctx.who)
    return TeamList(teams=teams, count=len(teams))


async def get(ctx: CallContext, params: TeamRef) -> TeamDetail:
    """A team and its members, the lead first. Raises: NotFound, InvalidRequest."""
    team, members = await ctx.gateway.teams.get_team(ctx.who, team_id_of(params.teamId))
    return TeamDetail(team=team, members=members)


async def create(ctx: CallContext, params: TeamCreate) -> TeamCreated:
    """A team with its lead and members. Raises: InvalidRequest (unknown agent, lead of another team)."""
    return TeamCreated(team=await ctx.gateway.teams.create_team(ctx.who, params))


async def update(ctx: CallContext, params: TeamPatch) -> Done:
    """Rename, describe or set the settings of a team; nothing sent is a no-op. Raises: NotFound."""
    await ctx.gateway.teams.update_team(ctx.who, params)
    return Done()


async def delete(ctx: CallContext, params: TeamRef) -> Done:
    """Delete a team with its tasks, approvals and threads. Raises: NotFound."""
    await ctx.gateway.teams.delete_team(ctx.who, team_id_of(params.teamId))
    return Done()


async def members_add(ctx: CallContext, params: MemberAdd) -> Done:
    await ctx.gateway.teams.add_member(
        ctx.who, team_id_of(params.teamId), params.agent, params.role or "member"
    )
    return Done()


async def members_remove(ctx: CallContext, params: MemberRemove) -> Done:
    agent = params.agentId or params.agent
    if not agent:
        raise invalid_field("$.agentId", "agentId is required")
    await ctx.gateway.teams.remove_member(ctx.who, team_id_of(params.teamId), agent)
    return Done()


async def tasks_list(ctx: CallContext, params: TaskListParams) -> TaskList:
    tasks = await ctx.gateway.teams.list_tasks(
        ctx.who, team_id_of(params.teamId), params.status or "", params.channel, params.chatId
    )
    return TaskList(tasks=tasks, count=len(tasks))


async def tasks_get(ctx: CallContext, params: TaskRef) -> TaskDetail:
    team_id, task_id = _ids(params)
    task, comments, events = await ctx.gateway.teams.task_history(ctx.who, team_id, task_id)
    attachments = await ctx.gateway.team_workspace.attachments(ctx.who, team_id, task_id)
    task.attachment_count = len(attachments)
    return TaskDetail(task=task, comments=comments, events=events, attachments=attachments)


async def tasks_get_light(ctx: CallContext, params: TaskRef) -> TaskOne:
    return TaskOne(task=task_out(await ctx.gateway.teams.get_task(ctx.who, *_ids(params))))


async def tasks_comments(ctx: CallContext, params: TaskRef) -> CommentList:
    _, comments, _ = await ctx.gateway.teams.task_history(ctx.who, *_ids(params))
    return CommentList(comments=comments)


async def tasks_events(ctx: CallContext, params: TaskRef) -> TaskEventList:
    _, _, events = await ctx.gateway.teams.task_history(ctx.who, *_ids(params))
    return TaskEventList(events=events)


async def tasks_active_by_session(ctx: CallContext, params: SessionParams | None) -> ActiveList:
    """The open tasks started from a chat (GoClaw's chat sidebar, asked on every chat)."""
    key = params.sessionKey if params is not None else None
    return ActiveList(tasks=await ctx.gateway.teams.active_by_session(ctx.who, key or ""))


async def tasks_approve(ctx: CallContext, params: ApproveParams) -> Done:
    await ctx.gateway.teams.approve(ctx.who, *_ids(params), params.comment or "")
    return Done()


async def tasks_reject(ctx: CallContext, params: RejectParams) -> Done:
    await ctx.gateway.teams.reject(ctx.who, *_ids(params), params.reason or "")
    return Done()


async def tasks_comment(ctx: CallContext, params: CommentParams) -> Done:
    await ctx.gateway.teams.comment(ctx.who, *_ids(params), params.content)
    return Done()


async def tasks_create(ctx: CallContext, params: TaskCreate) -> TaskOne:
    return TaskOne(task=await ctx.gateway.teams.create_task(ctx.who, params))


async def tasks_assign(ctx: CallContext, params: AssignParams) -> Done:
    await ctx.gateway.teams.assign(ctx.who, *_ids(params), params.agentId)
    return Done()


async def tasks_delete(ctx: CallContext, params: TaskRef) -> Done:
    """Delete a finished task. Raises: NotFound, InvalidRequest (an open task is not deletable)."""
    team_id, task_id = _ids(params)
    await ctx.gateway.teams.get_task(ctx.who, team_id, task_id)
    if not await ctx.gateway.teams.delete_tasks(ctx.who, team_id, [task_id]):
        raise invalid_field("$.taskId", "task is not in a deletable state")
    return Done()


async def tasks_delete_bulk(ctx: CallContext, params: DeleteBulkParams) -> Deleted:
    """Delete the finished tasks among ``taskIds`` (ids that are not UUIDs are skipped, as GoClaw)."""
    ids = []
    for raw in params.taskIds:
        try:
            ids.append(UUID(raw))
        except ValueError:
            continue
    if not ids:
        raise invalid_field("$.taskIds", "no valid taskIds")
    return Deleted(deleted=len(await ctx.gateway.teams.delete_tasks(ctx.who, team_id_of(params.teamId), ids)))


async def events_list(ctx: CallContext, params: EventsParams) -> EventList:
    """A team's history, newest first (``limit`` default 50)."""
    events = await ctx.gateway.teams.events(
        ctx.who, team_id_of(params.team_id, "team_id"), params.limit or 50, params.offset or 0
    )
    return EventList(events=events, count=len(events))


async def known_users(ctx: CallContext, params: TeamRef) -> KnownUsers:
    return KnownUsers(users=await ctx.gateway.teams.known_users(ctx.who, team_id_of(params.teamId)))


async def scopes(ctx: CallContext, params: TeamRef) -> ScopeList:
    return ScopeList(scopes=await ctx.gateway.teams.scopes(ctx.who, team_id_of(params.teamId)))


async def workspace_list(ctx: CallContext, params: WorkspaceParams) -> WorkspaceList:
    files = await ctx.gateway.team_workspace.list(
        ctx.who, team_id_of(params.team_id, "team_id"), params.chat_id
    )
    return WorkspaceList(files=files, count=len(files))


async def workspace_read(ctx: CallContext, params: WorkspaceFileParams) -> WorkspaceRead:
    file, content = await ctx.gateway.team_workspace.read(
        ctx.who, team_id_of(params.team_id, "team_id"), params.chat_id, params.file_name
    )
    return WorkspaceRead(file=file, content=content)


async def workspace_delete(ctx: CallContext, params: WorkspaceFileParams) -> WorkspaceDeleted:
    name = await ctx.gateway.team_workspace.delete(
        ctx.who, team_id_of(params.team_id, "team_id"), params.chat_id, params.file_name
    )
    return WorkspaceDeleted(deleted=name)


METHODS = {
    "teams.list": Method(None, list_teams, Role.VIEWER),
    "teams.get": Method(TeamRef, get, Role.VIEWER),
    "teams.create": Method(TeamCreate, create, Role.ADMIN),
    "teams.update": Method(TeamPatch, update, Role.ADMIN),
    "teams.delete": Method(TeamRef, delete, Role.ADMIN),
    "teams.members.add": Method(MemberAdd, members_add, Role.ADMIN),
    "teams.members.remove": Method(MemberRemove, members_remove, Role.ADMIN),
    "teams.tasks.list": Method(TaskListParams, tasks_list, Role.VIEWER),
    "teams.tasks.get": Method(TaskRef, tasks_get, Role.VIEWER),
    "teams.tasks.get-light": Method(TaskRef, tasks_get_light, Role.VIEWER),
    "teams.tasks.comments": Method(TaskRef, tasks_comments, Role.VIEWER),
    "teams.tasks.events": Method(TaskRef, tasks_events, Role.VIEWER),
    "teams.tasks.active-by-session": Method(SessionParams, tasks_active_by_session, Role.VIEWER),
    "teams.tasks.approve": Method(ApproveParams, tasks_approve, Role.OPERATOR),
    "teams.tasks.reject": Method(RejectParams, tasks_reject, Role.OPERATOR),
    "teams.tasks.comment": Method(CommentParams, tasks_comment, Role.OPERATOR),
    "teams.tasks.create": Method(TaskCreate, tasks_create, Role.OPERATOR),
    "teams.tasks.assign": Method(AssignParams, tasks_assign, Role.OPERATOR),
    "teams.tasks.delete": Method(TaskRef, tasks_delete, Role.ADMIN),
    "teams.tasks.delete-bulk": Method(DeleteBulkParams, tasks_delete_bulk, Role.ADMIN),
    "teams.events.list": Method(EventsParams, events_list, Role.VIEWER),
    "teams.known_users": Method(TeamRef, known_users, Role.VIEWER),
    "teams.scopes": Method(TeamRef, scopes, Role.VIEWER),
    "teams.workspace.list": Method(WorkspaceParams, workspace_list, Role.VIEWER),
    "teams.workspace.read": Method(WorkspaceFileParams, workspace_read, Role.VIEWER),
    "teams.workspace.delete": Method(WorkspaceFileParams, workspace_delete, Role.OPERATOR),
}
