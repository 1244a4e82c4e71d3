"""GoClaw's agent teams (issue 14, build item 5) on the shared coordination model: a team is a
Mission Control board and a ClawTasker project too, its members are ClawGate agents (one lead), its
tasks the shared tasks (``clawgate.services.tasks``) shown with GoClaw's names and statuses.

Who sees a team: admins (and owners) every team of their tenant; others the teams they were given
access to (``team_access``) or made. A team they may not see is ``NOT_FOUND``, as GoClaw answers.
Writes by non-admins need write access to the team. Every change is appended to the event log and
announced with GoClaw's event names (``team.*``) to the tenant's WebSocket clients that may read the
team (``Principal.reads_team``: the same rule as ``teams.get``), as GoClaw's event filter does.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Final
from uuid import UUID

from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.bus import BusEvent, EventBus
from clawgate.errors import FailedPrecondition, Forbidden, NotFound, invalid_field
from clawgate.principal import Principal
from clawgate.services import board_loop as notify
from clawgate.services.agents import AgentService
from clawgate.services.board_loop import Notice, Notifying
from clawgate.services.tasks import ACTIVE, TERMINAL, TaskService, goclaw_status, now
from clawgate.store import Database
from clawgate.store import coord_events as events
from clawgate.store import tasks as task_store
from clawgate.store import teams as store
from clawgate.store.coord_events import EventRow, NewEvent
from clawgate.store.tasks import TaskRow, TaskState
from clawgate.store.teams import MemberRow, TeamRow

__all__ = [
    "ActiveTask",
    "ExportPreview",
    "Team",
    "TeamEvent",
    "TeamMember",
    "TeamScope",
    "TeamService",
    "TeamTask",
    "TeamTaskComment",
    "TeamTaskEvent",
    "event_out",
    "slug_of",
]

MAX_TEXT: Final = 10_000
"""GoClaw's cap on a comment, a reason or a description."""
LIST_LIMIT: Final = 200
TEAM_EVENT_KINDS: Final = ("team.created", "team.updated", "team.member_added", "team.member_removed")

Name = Annotated[str, Meta(min_length=1, max_length=255)]
Text = Annotated[str, Meta(max_length=MAX_TEXT)]


# -- GoClaw's shapes --------------------------------------------------------------------------------


TeamMember = MemberRow
"""A member as GoClaw sends it (``TeamMemberData``): the row itself (UUIDs go out as strings)."""


class Team(Struct, kw_only=True):
    """A team as GoClaw sends it (``TeamData``); ``members`` only where GoClaw lists them."""

    id: str
    created_at: datetime
    updated_at: datetime
    name: str
    lead_agent_id: str | None
    description: str
    status: str
    settings: dict[str, Any]
    created_by: str
    lead_agent_key: str
    lead_display_name: str
    member_count: int
    members: list[TeamMember] | UnsetType = UNSET


class TeamTask(Struct, kw_only=True):
    """A task as GoClaw sends it (``TeamTaskData``): ``subject`` is the title, ``owner_agent_id``
    the assignee, ``blocked_by`` the dependencies not done."""

    id: str
    created_at: datetime
    updated_at: datetime
    team_id: str
    tenant_id: str
    subject: str
    description: str
    status: str
    owner_agent_id: str | None
    blocked_by: list[str]
    priority: int
    result: str | None
    metadata: dict[str, Any]
    user_id: str
    channel: str
    chat_id: str
    task_type: str
    task_number: int
    identifier: str
    created_by_agent_id: str | None
    parent_id: str | None
    progress_percent: int
    progress_step: str
    comment_count: int
    attachment_count: int
    owner_agent_key: str
    created_by_agent_key: str


class ActiveTask(Struct, kw_only=True, omit_defaults=True):
    """``teams.tasks.active-by-session``: the chat sidebar's light shape (camelCase, as GoClaw)."""

    taskId: str
    taskNumber: int
    subject: str
    status: str
    ownerAgentKey: str = ""
    ownerDisplayName: str = ""
    progressPercent: int = 0
    progressStep: str = ""
    commentCount: int = 0
    attachmentCount: int = 0


class TeamTaskComment(Struct, kw_only=True):
    id: str
    task_id: str
    agent_id: str | None
    user_id: str
    content: str
    created_at: datetime


class TeamTaskEvent(Struct, kw_only=True):
    """One entry of a task's or a team's history (``TeamTaskEventData``)."""

    id: str
    seq: int
    team_id: str | None
    task_id: str | None
    event_type: str
    actor_type: str
    actor_id: str
    data: dict[str, Any]
    created_at: datetime


TeamEvent = TeamTaskEvent


class ExportPreview(Struct, kw_only=True):
    """``GET /v1/teams/{id}/export/preview``: GoClaw's counts (agent links are not modelled: 0) and
    the other sections of the archive (``clawgate.services.team_archive``)."""

    team_name: str
    members: int
    tasks: int
    agent_links: int = 0
    comments: int = 0
    events: int = 0
    attachments: int = 0
    workspace_files: int = 0


class TeamScope(Struct, kw_only=True):
    channel: str
    chat_id: str
    task_count: int


# -- params -----------------------------------------------------------------------------------------


class TeamCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    """``teams.create``: a lead and at least one member (agent keys or UUIDs)."""

    name: Name
    lead: Annotated[str, Meta(min_length=1, max_length=100)]
    members: Annotated[
        list[Annotated[str, Meta(min_length=1, max_length=100)]], Meta(min_length=1, max_length=100)
    ]
    description: Text | None = None
    settings: dict[str, Any] | None = None


class TeamPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """``teams.update``: absent or null fields keep their value."""

    teamId: str
    name: Annotated[str, Meta(max_length=255)] | None = None
    description: Text | None = None
    settings: dict[str, Any] | None = None


class TaskCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    """``teams.tasks.create``: GoClaw's fields; ``assignTo`` (an agent UUID or key) starts it at once."""

    teamId: str
    subject: Annotated[str, Meta(min_length=1, max_length=500)]
    description: Text | None = None
    priority: Annotated[int, Meta(ge=-1000, le=1000)] | None = None
    taskType: Annotated[str, Meta(max_length=64)] | None = None
    assignTo: Annotated[str, Meta(max_length=100)] | None = None
    channel: Annotated[str, Meta(max_length=100)] | None = None
    chatId: Annotated[str, Meta(max_length=512)] | None = None


def _team(row: TeamRow, members: list[MemberRow] | None = None) -> Team:
    return Team(
        id=str(row.id), created_at=row.created_at, updated_at=row.updated_at, name=row.name,
        lead_agent_id=_s(row.lead_agent_id), description=row.description, status=row.status,
        settings=row.settings, created_by=row.created_by, lead_agent_key=row.lead_agent_key or "",
        lead_display_name=row.lead_display_name or "", member_count=row.member_count,
        members=UNSET if members is None else members,
    )  # fmt: skip


def task_out(t: TaskRow) -> TeamTask:
    """A shared task in GoClaw's shape."""
    return TeamTask(
        id=str(t.id), created_at=t.created_at, updated_at=t.updated_at, team_id=str(t.team_id),
        tenant_id=str(t.tenant_id), subject=t.title, description=t.description,
        status=goclaw_status(t.status, t.is_blocked), owner_agent_id=_s(t.assignee_agent_id),
        blocked_by=[str(b) for b in t.blocked_by], priority=int(t.metadata.get("goclaw_priority", 0) or 0),
        result=t.result, metadata=t.metadata, user_id=t.user_id, channel=t.channel, chat_id=t.chat_id,
        task_type=t.task_type, task_number=t.number, identifier=f"T-{t.number}",
        created_by_agent_id=_s(t.created_by_agent_id), parent_id=_s(t.parent_id), progress_percent=t.progress,
        progress_step=t.progress_step, comment_count=t.comment_count, attachment_count=0,
        owner_agent_key=t.assignee_agent_key or "", created_by_agent_key=t.created_by_agent_key or "",
    )  # fmt: skip


def event_out(e: EventRow) -> TeamTaskEvent:
    actor_type, actor_id = ("agent", str(e.agent_id)) if e.agent_id else ("human", e.user_id or "")
    data = dict(e.data)
    if e.message:
        data.setdefault("message", e.message)
    return TeamTaskEvent(
        id=str(e.id), seq=e.seq, team_id=_s(e.team_id), task_id=_s(e.task_id), event_type=e.kind,
        actor_type=actor_type, actor_id=actor_id, data=data, created_at=e.created_at,
    )  # fmt: skip


def _active(r: task_store.TaskBrief) -> ActiveTask:
    return ActiveTask(
        taskId=str(r.id), taskNumber=r.number, subject=r.title, status=goclaw_status(r.status, r.blocked or r.waiting),
        ownerAgentKey=r.assignee_agent_key or "", ownerDisplayName=r.assignee_display_name or "",
        progressPercent=r.progress, progressStep=r.progress_step, commentCount=r.comment_count,
    )  # fmt: skip


def _s(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def slug_of(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:100]


def team_id_of(value: str, field: str = "teamId") -> UUID:
    """A team id from params. Raises: InvalidRequest (not a UUID, as GoClaw: "invalid teamId")."""
    try:
        return UUID(value)
    except ValueError:
        raise invalid_field(f"$.{field}", f"invalid {field}") from None


class TeamService(Notifying):
    """GoClaw's ``teams.*`` on the shared model. A task given to an agent wakes it with a run
    (``Notifying``: through ``loop``), as Mission Control's assignments do."""

    def __init__(self, db: Database, bus: EventBus, agents: AgentService, tasks: TaskService) -> None:
        self._db = db
        self._bus = bus
        self._agents = agents
        self._tasks = tasks

    # -- access -----------------------------------------------------------------------------------

    @staticmethod
    def _reader(who: Principal) -> str | None:
        """None: sees every team of the tenant; else the user whose access rows count."""
        return None if who.sees_all else who.coord_user

    async def _team(self, who: Principal, team_id: UUID) -> TeamRow:
        """The team as the caller may see it. Raises: NotFound."""
        async with self._db.connection() as conn:
            row = await store.get_team(conn, who.tenant_id, team_id)
            if row is not None and not who.sees_all:
                row = row if who.reads_team(await store.readers(conn, who.tenant_id, team_id)) else None
        if row is None:
            raise NotFound(kind="team", id=str(team_id))
        return row

    async def reachable(self, who: Principal, team_id: UUID, *, write: bool = False) -> TeamRow:
        """The team as the caller may see it (``write``: change it). Raises: NotFound, Forbidden."""
        return await (self._writable(who, team_id) if write else self._team(who, team_id))

    async def _writable(self, who: Principal, team_id: UUID) -> TeamRow:
        """The team, when the caller may change it (admins; others with write access or its
        author). Raises: NotFound (a team it may not see), Forbidden (one it may only read)."""
        row = await self._team(who, team_id)
        if not who.sees_all:
            async with self._db.connection() as conn:
                if not await store.can_write(conn, who.tenant_id, team_id, who.coord_user):
                    raise Forbidden(action="changing this team's tasks", role="team write access")
        return row

    async def _announce(
        self, who: Principal, team_id: UUID, name: str, payload: dict[str, Any], appended: list[EventRow]
    ) -> frozenset[str]:
        """Wake the coordination streams (``appended``), then ``_publish`` the ``team.*`` event."""
        await self._tasks.announce(appended)
        return await self._publish(who, team_id, [(name, payload)])

    async def _publish(
        self,
        who: Principal,
        team_id: UUID,
        named: list[tuple[str, dict[str, Any]]],
        readers: frozenset[str] | None = None,
    ) -> frozenset[str]:
        """Send the team's ``team.*`` events (name, payload) to the WebSocket clients that may read
        the team: its readers, resolved here once (one query, unless given: a deleted team's are
        read before it goes) and carried by each event (``BusEvent.readers``), so every process
        filters in memory (``visible_to``). The readers."""
        if readers is None:
            async with self._db.connection() as conn:
                readers = await store.readers(conn, who.tenant_id, team_id)
        for name, payload in named:
            await self._bus.publish(
                BusEvent(name=name, payload=payload, tenant_id=who.tenant_id, readers=readers)
            )
        return readers

    # -- teams ------------------------------------------------------------------------------------

    async def list_teams(self, who: Principal) -> list[Team]:
        async with self._db.connection() as conn:
            rows = await store.list_teams(conn, who.tenant_id, self._reader(who))
        return [_team(r) for r in rows]

    async def get_team(self, who: Principal, team_id: UUID) -> tuple[Team, list[TeamMember]]:
        row = await self._team(who, team_id)
        async with self._db.connection() as conn:
            members = await store.list_members(conn, who.tenant_id, team_id)
        return _team(row), members

    async def create_team(self, who: Principal, params: TeamCreate) -> Team:
        """A team with its lead and members. Raises: InvalidRequest (an unknown agent, or a lead
        that leads another team already)."""
        lead = await self._agent(who, params.lead, "lead")
        members = [await self._agent(who, ref, "members") for ref in params.members]
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            if (led := await store.led_by(conn, who.tenant_id, lead)) is not None:
                raise invalid_field("$.lead", f"agent {params.lead!r} already leads team {led[1]!r}")
            team_id = await store.insert_team(
                conn, who.tenant_id, kind="team", name=params.name, slug=slug_of(params.name),
                description=params.description or "", settings=params.settings or {}, created_by=who.coord_user,
            )  # fmt: skip
            await store.put_member(conn, who.tenant_id, team_id, lead, "lead")
            for agent_id in dict.fromkeys(members):
                if agent_id != lead:
                    await store.put_member(conn, who.tenant_id, team_id, agent_id, "member")
            await TaskService.record(
                conn,
                who.tenant_id,
                NewEvent(kind="team.created", team_id=team_id, user_id=who.coord_user),
                out,
            )
        return await self.created(who, team_id, out)

    async def created(self, who: Principal, team_id: UUID, appended: list[EventRow]) -> Team:
        """After a team's creation committed (``teams.create``, ``teams.import``): wake the
        coordination streams (``appended``) and publish ``team.created`` to its readers. The team."""
        async with self._db.connection() as conn:
            row = await store.get_team(conn, who.tenant_id, team_id)
        assert row is not None
        team = _team(row)
        await self._announce(
            who, team_id, "team.created",
            {"team_id": team.id, "team_name": team.name, "lead_agent_key": team.lead_agent_key,
             "lead_display_name": team.lead_display_name, "member_count": team.member_count},
            appended,
        )  # fmt: skip
        return team

    async def update_team(self, who: Principal, params: TeamPatch) -> None:
        team_id = team_id_of(params.teamId)
        row = await self._team(who, team_id)
        changes = [k for k in ("name", "description", "settings") if getattr(params, k) not in (None, "")]
        if not changes:
            return
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            await store.update_team(
                conn, who.tenant_id, team_id, name=params.name or None, description=params.description,
                settings=params.settings,
            )  # fmt: skip
            await TaskService.record(
                conn, who.tenant_id,
                NewEvent(kind="team.updated", team_id=team_id, user_id=who.coord_user, data={"changes": changes}),
                out,
            )  # fmt: skip
        name = params.name or row.name
        await self._announce(
            who,
            team_id,
            "team.updated",
            {"team_id": str(team_id), "team_name": name, "changes": changes},
            out,
        )

    async def delete_team(self, who: Principal, team_id: UUID) -> None:
        row = await self._team(who, team_id)
        async with self._db.transaction() as conn:
            readers = await store.readers(conn, who.tenant_id, team_id)  # its access rows go with it
            await store.delete_team(conn, who.tenant_id, team_id)
        await self._publish(
            who, team_id, [("team.deleted", {"team_id": str(team_id), "team_name": row.name})], readers
        )

    async def _agent(self, who: Principal, ref: str, field: str) -> UUID:
        try:
            return (await self._agents.get(who, ref)).id
        except NotFound:
            raise invalid_field(f"$.{field}", f"agent not found: {ref}") from None

    async def add_member(self, who: Principal, team_id: UUID, agent_ref: str, role: str) -> None:
        """Add an agent as ``member`` or ``reviewer``. Raises: NotFound (team), InvalidRequest
        (an unknown agent; the lead's role cannot be changed here)."""
        row = await self._team(who, team_id)
        agent_id = await self._agent(who, agent_ref, "agent")
        if agent_id == row.lead_agent_id:
            raise invalid_field("$.agent", "the lead is a member already")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            await store.put_member(conn, who.tenant_id, team_id, agent_id, role)
            await TaskService.record(
                conn, who.tenant_id,
                NewEvent(kind="team.member_added", team_id=team_id, agent_id=agent_id, user_id=who.coord_user,
                         data={"role": role}),
                out,
            )  # fmt: skip
        await self._announce(
            who,
            team_id,
            "team.member.added",
            {"team_id": str(team_id), "agent_id": str(agent_id), "role": role},
            out,
        )

    async def remove_member(self, who: Principal, team_id: UUID, agent_ref: str) -> None:
        """Remove an agent. Raises: NotFound (team, or not a member), FailedPrecondition (the lead)."""
        row = await self._team(who, team_id)
        agent_id = await self._agent(who, agent_ref, "agent")
        if agent_id == row.lead_agent_id:
            raise FailedPrecondition(detail="the team lead cannot be removed; make another agent lead first")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            if await store.remove_member(conn, who.tenant_id, team_id, agent_id) is None:
                raise NotFound(kind="team member", id=agent_ref)
            await TaskService.record(
                conn, who.tenant_id,
                NewEvent(kind="team.member_removed", team_id=team_id, agent_id=agent_id, user_id=who.coord_user),
                out,
            )  # fmt: skip
        await self._announce(
            who, team_id, "team.member.removed", {"team_id": str(team_id), "agent_id": str(agent_id)}, out
        )

    async def known_users(self, who: Principal, team_id: UUID) -> list[str]:
        await self._team(who, team_id)
        async with self._db.connection() as conn:
            return await store.known_users(conn, who.tenant_id, team_id, 100)

    async def scopes(self, who: Principal, team_id: UUID) -> list[TeamScope]:
        await self._team(who, team_id)
        async with self._db.connection() as conn:
            rows = await store.scopes(conn, who.tenant_id, team_id)
        return [TeamScope(channel=r.channel, chat_id=r.chat_id, task_count=r.task_count) for r in rows]

    async def events(self, who: Principal, team_id: UUID, limit: int, offset: int) -> list[TeamEvent]:
        await self._team(who, team_id)
        page = await self._tasks.events_page(who.tenant_id, events.Where(team_id=team_id), limit, offset)
        return [event_out(e) for e in page]

    # -- tasks ------------------------------------------------------------------------------------

    async def list_tasks(
        self, who: Principal, team_id: UUID, status: str, channel: str | None, chat_id: str | None
    ) -> list[TeamTask]:
        """GoClaw's dashboard list: ``status`` "" = active, ``in_review``, ``completed``, ``all``;
        newest first, at most 200."""
        await self._team(who, team_id)
        statuses = _STATUS_FILTERS.get(status)
        if status not in _STATUS_FILTERS:
            raise invalid_field("$.status", f"unknown status filter {status!r}")
        where = task_store.TaskFilter(
            team_id=team_id, statuses=statuses, channel=channel or None, chat_id=chat_id or None
        )
        tasks = [task_out(t) for t in await self._tasks.list_tasks(who.tenant_id, where, LIST_LIMIT)]
        if tasks:
            async with self._db.connection() as conn:
                counts = await store.attachment_counts(conn, who.tenant_id, team_id)
            for task in tasks:
                task.attachment_count = counts.get(UUID(task.id), 0)
        return tasks

    async def active_by_session(self, who: Principal, session_key: str) -> list[ActiveTask]:
        """The open tasks started from chat ``session_key`` (one indexed read; asked on every chat)."""
        if not session_key:
            return []
        rows = await self._tasks.active_by_chat(who.tenant_id, session_key)
        if not who.sees_all and rows:
            readable = {t.id for t in await self._readable(who)}
            rows = [r for r in rows if r.team_id in readable]
        return [_active(r) for r in rows]

    async def _readable(self, who: Principal) -> list[TeamRow]:
        async with self._db.connection() as conn:
            return await store.list_teams(conn, who.tenant_id, self._reader(who))

    async def get_task(self, who: Principal, team_id: UUID, task_id: UUID) -> TaskRow:
        await self._team(who, team_id)
        return await self._tasks.get(who.tenant_id, task_id, team_id)

    async def task_history(
        self, who: Principal, team_id: UUID, task_id: UUID
    ) -> tuple[TeamTask, list[TeamTaskComment], list[TeamTaskEvent]]:
        task = await self.get_task(who, team_id, task_id)
        rows = await self._tasks.events_page(who.tenant_id, events.Where(task_id=task_id), 1000, 0)
        rows.reverse()
        comments = [
            TeamTaskComment(id=str(e.id), task_id=str(task_id), agent_id=_s(e.agent_id), user_id=e.user_id or "",
                            content=e.message or "", created_at=e.created_at)
            for e in rows if e.kind == "task.comment"
        ]  # fmt: skip
        return task_out(task), comments, [event_out(e) for e in rows if e.kind != "task.comment"]

    async def create_task(self, who: Principal, params: TaskCreate) -> TeamTask:
        """A pending task; with ``assignTo`` (a member of the team) it starts at once, in progress.
        Raises: NotFound (team), InvalidRequest (``assignTo`` not a member)."""
        team_id = team_id_of(params.teamId)
        await self._writable(who, team_id)
        assignee = await self._member(who, team_id, params.assignTo, "assignTo") if params.assignTo else None
        started = now() if assignee else None
        new = task_store.NewTask(
            team_id=team_id, title=params.subject, description=params.description or "",
            task_type=params.taskType or "general", status="in_progress" if assignee else "backlog",
            assignee_agent_id=assignee, in_progress_at=started, created_by_user=who.coord_user,
            channel=params.channel or "dashboard", chat_id=params.chatId or str(team_id), user_id=who.coord_user,
            metadata={"goclaw_priority": params.priority or 0},
        )  # fmt: skip
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            task_id = await self._tasks.create(conn, who.tenant_id, new, out)
            if assignee:
                notice = notify.assigned(assignee, new.title, task_id, team_id, new.description, False)
                await self._queue(conn, who, team_id, out, [notice], ids)
        task = task_out(await self._tasks.get(who.tenant_id, task_id))
        payload = _task_event(task, who)
        readers = await self._announce(who, team_id, "team.task.created", payload, out)
        await self._deliver(ids)
        if assignee:
            assigned = {**payload, "owner_agent_key": task.owner_agent_key}
            await self._publish(who, team_id, [("team.task.assigned", assigned)], readers)
        return task

    async def _member(self, who: Principal, team_id: UUID, ref: str, field: str) -> UUID:
        """The agent ``ref`` (key or UUID), a member of the team. Raises: InvalidRequest."""
        agent_id = await self._agent(who, ref, field)
        async with self._db.connection() as conn:
            members = await store.list_members(conn, who.tenant_id, team_id)
        if all(m.agent_id != agent_id for m in members):
            raise invalid_field(f"$.{field}", f"agent {ref} is not a member of the team")
        return agent_id

    async def _change(
        self, who: Principal, team_id: UUID, task_id: UUID, event_name: str, change: Any, **extra: Any
    ) -> TeamTask:
        """Lock the task, let ``change(row, state)`` edit its state (or raise) and return the notices
        it makes, save, queue them, announce, deliver."""
        await self._writable(who, team_id)
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            if await task_store.lock_task(conn, who.tenant_id, task_id) != team_id:
                raise NotFound(kind="task", id=str(task_id))
            row = await task_store.get_task(conn, who.tenant_id, task_id)
            assert row is not None
            state = TaskState.of(row)
            notices: list[Notice] = change(row, state) or []
            await self._tasks.save(conn, who.tenant_id, row, state, out, user_id=who.coord_user, data=extra)
            if comment := extra.get("comment"):
                await self._tasks.comment(conn, who.tenant_id, row, comment, out, user_id=who.coord_user)
            await self._queue(conn, who, team_id, out, notices, ids)
        task = task_out(await self._tasks.get(who.tenant_id, task_id))
        await self._announce(who, team_id, event_name, {**_task_event(task, who), **extra}, out)
        await self._deliver(ids)
        return task

    async def assign(self, who: Principal, team_id: UUID, task_id: UUID, agent_ref: str) -> TeamTask:
        """Give the task to a member and start it. Raises: NotFound, InvalidRequest (not a member),
        FailedPrecondition (a finished task)."""
        agent_id = await self._member(who, team_id, agent_ref, "agentId")

        def change(row: TaskRow, state: TaskState) -> list[Notice]:
            if row.status in TERMINAL:
                raise FailedPrecondition(detail=f"task is {goclaw_status(row.status, False)}")
            state.assignee_agent_id, state.status = agent_id, "in_progress"
            state.in_progress_at = row.in_progress_at or now()
            if row.assignee_agent_id == agent_id:
                return notify.started(row, agent_id, state.status, None)  # already its task: a wake at most
            return [notify.assigned(agent_id, row.title, row.id, team_id, row.description, False)]

        return await self._change(who, team_id, task_id, "team.task.assigned", change)

    async def approve(self, who: Principal, team_id: UUID, task_id: UUID, comment: str) -> TeamTask:
        """A task in review becomes completed. Raises: FailedPrecondition (not in review)."""

        def change(row: TaskRow, state: TaskState) -> None:
            if row.status != "review":
                raise FailedPrecondition(detail="only a task in review can be approved")
            state.status, state.progress = "done", 100

        return await self._change(who, team_id, task_id, "team.task.approved", change, comment=comment)

    async def reject(self, who: Principal, team_id: UUID, task_id: UUID, reason: str) -> TeamTask:
        """A task in review (or still open) is cancelled with ``reason``. Raises: FailedPrecondition."""
        reason = reason or "Rejected by human"

        def change(row: TaskRow, state: TaskState) -> None:
            if row.status in TERMINAL:
                raise FailedPrecondition(detail=f"task is {goclaw_status(row.status, False)}")
            state.status, state.result = "cancelled", reason

        return await self._change(who, team_id, task_id, "team.task.rejected", change, reason=reason)

    async def comment(self, who: Principal, team_id: UUID, task_id: UUID, content: str) -> None:
        await self._writable(who, team_id)
        task = await self._tasks.get(who.tenant_id, task_id, team_id)
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            await self._tasks.comment(conn, who.tenant_id, task, content, out, user_id=who.coord_user)
        await self._announce(who, team_id, "team.task.commented", _task_event(task_out(task), who), out)

    async def attach(self, who: Principal, task: TaskRow, file: store.NewAttachment) -> UUID:
        """Link a file of the team's workspace to ``task`` (the same path again: the same attachment,
        refreshed) with a ``task.attachment_added`` event in the same transaction, then GoClaw's
        ``team.task.attachment_added`` (the task fields and the attachment's) to the tenant's clients.
        The caller has checked that ``task`` is one of a team it may write. The attachment's id."""
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            found = await store.put_attachment(
                conn, who.tenant_id, task.team_id, task.id, file, who.coord_user
            )
            data = {"attachment_id": str(found), "file_name": file.file_name, "path": file.path,
                    "chat_id": file.chat_id, "mime_type": file.mime_type, "size": file.size}  # fmt: skip
            await self._tasks.record(
                conn, who.tenant_id,
                NewEvent(kind="task.attachment_added", team_id=task.team_id, task_id=task.id, user_id=who.coord_user,
                         message=f"Attachment added: {file.file_name}.", data=data),
                out,
            )  # fmt: skip
        await self._announce(
            who, task.team_id, "team.task.attachment_added", {**_task_event(task_out(task), who), **data}, out
        )
        return found

    async def delete_tasks(self, who: Principal, team_id: UUID, task_ids: list[UUID]) -> list[UUID]:
        """Delete finished tasks (completed, cancelled); open ones stay. The ids deleted."""
        await self._writable(who, team_id)
        gone = await self._tasks.delete(who.tenant_id, team_id, task_ids, TERMINAL, who.coord_user)
        deleted = [
            (
                "team.task.deleted",
                {"team_id": str(team_id), "task_id": str(task_id), "user_id": who.coord_user},
            )
            for task_id in gone
        ]
        if deleted:
            await self._publish(who, team_id, deleted)
        return gone


_STATUS_FILTERS: Final[dict[str, tuple[str, ...] | None]] = {
    "": ACTIVE,
    "active": ACTIVE,
    "in_review": ("review",),
    "completed": ("done",),
    "all": None,
}


def _task_event(task: TeamTask, who: Principal) -> dict[str, Any]:
    """GoClaw's ``TeamTaskEventPayload``."""
    return {
        "team_id": task.team_id, "task_id": task.id, "task_number": task.task_number, "subject": task.subject,
        "status": task.status, "user_id": who.coord_user, "channel": task.channel, "chat_id": task.chat_id,
        "timestamp": now().strftime("%Y-%m-%dT%H:%M:%SZ"), "actor_type": "human", "actor_id": who.coord_user,
    }  # fmt: skip
