"""Mission Control's boards, board tasks (with comments and dependencies) and approvals, for users
(``/api/v1/boards/...``), on the shared coordination model: a board is a team (``kind = board``),
a task the shared task with MC's statuses (``inbox`` = backlog or ready) and priorities, a comment a
``task.comment`` event. The task rules are ``clawgate.services.board_rules``; they run under the
task's row lock, with the facts read in the same transaction.

Access: admins (the gateway token, admin keys) reach every board of their tenant; other callers the
boards they were given (``team_access``, read or write, or their member row's all-boards flags) or
made, as the MC user ``Principal.coord_user`` names. A board they cannot read is 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.errors import FailedPrecondition, Forbidden, InvalidRequest, NotFound, invalid_field
from clawgate.principal import Principal
from clawgate.services import board_loop as notify
from clawgate.services.board_loop import BoardLoop, Notice, Notifying
from clawgate.services.board_rules import (
    Actor,
    Change,
    Current,
    Facts,
    Rules,
    blocked_error,
    check_comment,
    decide,
    forbidden,
)
from clawgate.services.tags import check_values, slugify
from clawgate.services.tasks import TaskService, mc_status, now
from clawgate.store import Database, DbConnection
from clawgate.store import agent_api as agent_store
from clawgate.store import board_groups as group_store
from clawgate.store import mc_org as org_store
from clawgate.store import tags as tag_store
from clawgate.store import tasks as task_store
from clawgate.store import teams as store
from clawgate.store.coord_events import EventRow, NewEvent, Where
from clawgate.store.tasks import ApprovalRow, TagRef, TaskRow, TaskState
from clawgate.store.teams import BoardFields, TeamRow

__all__ = [
    "ApprovalCreate",
    "ApprovalPatch",
    "ApprovalRead",
    "BoardCreate",
    "BoardPatch",
    "BoardRead",
    "BoardService",
    "CommentCreate",
    "CommentRead",
    "TaskCreate",
    "TaskRead",
    "TaskUpdate",
    "mc_task",
]

PRIORITY_TO_P: Final = {"urgent": 0, "high": 1, "medium": 2, "low": 3}
P_TO_PRIORITY: Final = {0: "high", 1: "high", 2: "medium", 3: "low"}
McStatus = Literal["inbox", "in_progress", "review", "done"]
Title = Annotated[str, Meta(min_length=1, max_length=500)]
Long = Annotated[str, Meta(max_length=20_000)]
USER: Final = Actor("user")
"""A user with write access (the ``/api/v1/boards`` routes); the agent API passes the lead or a worker."""


class BoardRead(BoardFields, kw_only=True):
    """MC's ``BoardRead``: the board's fields with its organisation (the tenant)."""

    id: UUID
    organization_id: UUID
    created_at: datetime
    updated_at: datetime


class BoardCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``BoardCreate``; ``gateway_id`` may be left out (this ClawGate is the gateway)."""

    name: Annotated[str, Meta(min_length=1, max_length=255)]
    slug: Annotated[str, Meta(max_length=255)] | None = None
    description: Annotated[str, Meta(max_length=20_000)]
    gateway_id: UUID | None = None
    board_group_id: UUID | None = None
    board_type: Literal["goal", "general"] = "goal"
    objective: Long | None = None
    success_metrics: dict[str, Any] | None = None
    target_date: datetime | None = None
    goal_confirmed: bool = False
    goal_source: Annotated[str, Meta(max_length=255)] | None = None
    require_approval_for_done: bool = True
    require_review_before_done: bool = False
    comment_required_for_review: bool = False
    block_status_changes_with_pending_approval: bool = False
    only_lead_can_change_status: bool = False
    max_agents: Annotated[int, Meta(ge=0, le=10_000)] = 1


class BoardPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field optional; absent keeps the value (``gateway_id`` may not be nulled)."""

    name: Annotated[str, Meta(min_length=1, max_length=255)] | UnsetType = UNSET
    slug: Annotated[str, Meta(max_length=255)] | UnsetType = UNSET
    description: Annotated[str, Meta(max_length=20_000)] | UnsetType = UNSET
    gateway_id: UUID | UnsetType = UNSET
    board_group_id: UUID | UnsetType | None = UNSET
    board_type: Literal["goal", "general"] | UnsetType = UNSET
    objective: Long | UnsetType | None = UNSET
    success_metrics: dict[str, Any] | UnsetType | None = UNSET
    target_date: datetime | UnsetType | None = UNSET
    goal_confirmed: bool | UnsetType = UNSET
    goal_source: Annotated[str, Meta(max_length=255)] | UnsetType | None = UNSET
    require_approval_for_done: bool | UnsetType = UNSET
    require_review_before_done: bool | UnsetType = UNSET
    comment_required_for_review: bool | UnsetType = UNSET
    block_status_changes_with_pending_approval: bool | UnsetType = UNSET
    only_lead_can_change_status: bool | UnsetType = UNSET
    max_agents: Annotated[int, Meta(ge=0, le=10_000)] | UnsetType = UNSET


class TaskRead(Struct, kw_only=True):
    """MC's ``TaskRead``: blocked = a dependency not done (a done task never is)."""

    id: UUID
    board_id: UUID
    title: str
    description: str | None
    status: str
    priority: str
    due_at: datetime | None
    in_progress_at: datetime | None
    created_by_user_id: str | None
    assigned_agent_id: UUID | None
    auto_created: bool
    auto_reason: str | None
    created_at: datetime
    updated_at: datetime
    depends_on_task_ids: list[UUID]
    blocked_by_task_ids: list[UUID]
    is_blocked: bool
    tag_ids: list[UUID]
    tags: list[TagRef]
    custom_field_values: dict[str, Any]


class TaskCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    title: Title
    description: Long | None = None
    status: McStatus = "inbox"
    priority: Annotated[str, Meta(max_length=32)] = "medium"
    due_at: datetime | None = None
    assigned_agent_id: UUID | None = None
    depends_on_task_ids: Annotated[list[UUID], Meta(max_length=200)] = msgspec.field(default_factory=list)
    tag_ids: Annotated[list[UUID], Meta(max_length=200)] = msgspec.field(default_factory=list)
    created_by_user_id: str | None = None
    custom_field_values: dict[str, Any] = msgspec.field(default_factory=dict)


class TaskUpdate(Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field optional; ``status: null`` is refused; a blank ``comment`` is none."""

    title: Title | UnsetType = UNSET
    description: Long | UnsetType | None = UNSET
    status: McStatus | UnsetType | None = UNSET
    priority: Annotated[str, Meta(max_length=32)] | UnsetType = UNSET
    due_at: datetime | UnsetType | None = UNSET
    assigned_agent_id: UUID | UnsetType | None = UNSET
    depends_on_task_ids: Annotated[list[UUID], Meta(max_length=200)] | UnsetType = UNSET
    tag_ids: Annotated[list[UUID], Meta(max_length=200)] | UnsetType = UNSET
    custom_field_values: dict[str, Any] | UnsetType = UNSET
    comment: Annotated[str, Meta(max_length=20000)] | UnsetType | None = UNSET


class CommentRead(Struct, kw_only=True):
    id: UUID
    message: str | None
    agent_id: UUID | None
    task_id: UUID | None
    created_at: datetime


class CommentCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    message: Annotated[str, Meta(min_length=1, max_length=20_000)]


class ApprovalRead(Struct, kw_only=True):
    id: UUID
    board_id: UUID
    task_id: UUID | None
    task_ids: list[UUID]
    task_titles: list[str]
    agent_id: UUID | None
    action_type: str
    payload: Any
    confidence: float
    rubric_scores: Any
    status: str
    created_at: datetime
    resolved_at: datetime | None


class ApprovalCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``ApprovalCreate``: a reason is required (``payload.reason``, ``payload.decision.reason``
    or ``lead_reasoning``); task ids merge from ``task_id``, ``task_ids`` and the payload's keys."""

    action_type: Annotated[str, Meta(min_length=1, max_length=200)]
    task_id: UUID | None = None
    task_ids: Annotated[list[UUID], Meta(max_length=200)] = msgspec.field(default_factory=list)
    payload: dict[str, Any] | None = None
    confidence: Annotated[float, Meta(ge=0, le=100)]
    rubric_scores: dict[str, Any] | None = None  # {name: integer score}
    status: Literal["pending", "approved", "rejected"] = "pending"
    agent_id: UUID | None = None
    lead_reasoning: Annotated[str, Meta(max_length=20_000)] | None = None


class ApprovalPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    status: Literal["pending", "approved", "rejected"]


def board_out(row: TeamRow) -> BoardRead:
    fields = {f: getattr(row, f) for f in BoardFields.__struct_fields__}
    return BoardRead(**fields, id=row.id, organization_id=row.tenant_id, created_at=row.created_at,
                     updated_at=row.updated_at)  # fmt: skip


def mc_task(t: TaskRow) -> TaskRead:
    """A shared task in Mission Control's shape."""
    priority = t.metadata.get("mc_priority") or P_TO_PRIORITY.get(t.priority, "medium")
    return TaskRead(
        id=t.id, board_id=t.team_id, title=t.title, description=t.description or None, status=mc_status(t.status),
        priority=priority, due_at=t.due_at, in_progress_at=t.in_progress_at,
        created_by_user_id=t.created_by_user or None, assigned_agent_id=t.assignee_agent_id,
        auto_created=t.auto_created, auto_reason=t.auto_reason, created_at=t.created_at, updated_at=t.updated_at,
        depends_on_task_ids=t.depends_on, blocked_by_task_ids=[] if t.status == "done" else t.blocked_by,
        is_blocked=t.is_blocked, tag_ids=[g.id for g in t.tags], tags=t.tags, custom_field_values=t.custom_fields,
    )  # fmt: skip


def comment_out(e: EventRow) -> CommentRead:
    return CommentRead(
        id=e.id, message=e.message, agent_id=e.agent_id, task_id=e.task_id, created_at=e.created_at
    )


def _canonical(status: str, assignee: UUID | None) -> str:
    """MC's status written: ``inbox`` is ``ready`` with an assignee, else ``backlog``."""
    if status == "inbox":
        return "ready" if assignee is not None else "backlog"
    return status


def _priority(value: str) -> tuple[int, dict[str, Any]]:
    """MC's free priority: high/medium/low map to P1-P3; any other string is kept as sent."""
    key = value.strip().lower()
    if key in PRIORITY_TO_P:
        return PRIORITY_TO_P[key], {}
    return 2, {"mc_priority": value}


def _blank(text: str) -> None:
    if not text.strip():
        raise invalid_field("$.description", "description must not be blank")


class BoardService(Notifying):
    """Mission Control's user-facing boards, tasks, comments and approvals."""

    def __init__(self, db: Database, tasks: TaskService) -> None:
        self._db = db
        self._tasks = tasks
        # Notifications into agents' sessions (set by the composition root).
        self.loop: BoardLoop | None = None

    async def after_commit(self, out: list[EventRow], ids: list[UUID]) -> None:
        """After a change committed: announce its events, then deliver its notifications."""
        await self._tasks.announce(out)
        await self._deliver(ids)

    @staticmethod
    async def _members(conn: DbConnection, who: Principal, board_id: UUID) -> list[notify.Member]:
        return notify.members_of(await store.list_members(conn, who.tenant_id, board_id))

    # -- boards -----------------------------------------------------------------------------------

    async def board(self, who: Principal, board_id: UUID, write: bool = False) -> TeamRow:
        """The board as the caller reaches it. Raises: NotFound, Forbidden (read-only access)."""
        async with self._db.connection() as conn:
            row = await store.get_team(conn, who.tenant_id, board_id)
            if row is not None and not who.sees_all:
                readable = {t.id for t in await store.list_teams(conn, who.tenant_id, who.coord_user)}
                if row.id not in readable:
                    row = None
                elif write and not await store.can_write(conn, who.tenant_id, board_id, who.coord_user):
                    raise Forbidden("failed_precondition", detail="Board write access required.")
        if row is None:
            raise NotFound(kind="board", id=str(board_id))
        return row

    async def list_boards(self, who: Principal, limit: int, offset: int) -> tuple[list[BoardRead], int]:
        async with self._db.connection() as conn:
            rows = await store.list_teams(
                conn, who.tenant_id, None if who.sees_all else who.coord_user, 100_000
            )
        return [board_out(r) for r in rows[offset : offset + limit]], len(rows)

    async def readable(self, who: Principal) -> list[UUID] | None:
        """The ids of the boards the caller reads; None for an admin (every board of the tenant)."""
        if who.sees_all:
            return None
        async with self._db.connection() as conn:
            return [t.id for t in await store.list_teams(conn, who.tenant_id, who.coord_user, 100_000)]

    async def create_board(self, who: Principal, body: BoardCreate) -> BoardRead:
        _blank(body.description)
        if (
            body.board_type == "goal"
            and body.goal_confirmed
            and not (body.objective and body.success_metrics)
        ):
            raise invalid_field(
                "$.objective", "a confirmed goal board needs an objective and success metrics"
            )
        fields = msgspec.structs.asdict(body)
        fields["slug"] = body.slug or slugify(body.name)
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            await _gateway(conn, who, body.gateway_id)
            board_id = await store.insert_team(
                conn, who.tenant_id, kind="board", name=body.name, slug=fields["slug"], description=body.description,
                settings={}, created_by=who.coord_user,
            )  # fmt: skip
            await store.set_board(conn, who.tenant_id, board_id, msgspec.convert(fields, BoardFields))
            await TaskService.record(
                conn,
                who.tenant_id,
                NewEvent(kind="board.created", team_id=board_id, user_id=who.coord_user),
                out,
            )
            row = await store.get_team(conn, who.tenant_id, board_id)
        await self._tasks.announce(out)
        assert row is not None
        return board_out(row)

    async def update_board(self, who: Principal, board_id: UUID, body: BoardPatch) -> BoardRead:
        row = await self.board(who, board_id, write=True)
        patch = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
        if "description" in patch:
            _blank(patch["description"])
        current = msgspec.structs.asdict(board_out(row))
        before = dict(current)
        current.update(patch)
        fields = msgspec.convert(current, BoardFields, from_attributes=False, strict=False)
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            await _gateway(conn, who, patch.get("gateway_id"))
            await store.set_board(conn, who.tenant_id, board_id, fields)
            await TaskService.record(
                conn, who.tenant_id,
                NewEvent(kind="board.updated", team_id=board_id, user_id=who.coord_user,
                         data={"changes": sorted(patch)}),
                out,
            )  # fmt: skip
            notices = []
            if fields.board_group_id != row.board_group_id:
                notices = await self._group_notices(conn, who, row, fields.board_group_id)
            notices += await self._lead_notices(conn, who, row, before, patch)
            await self._queue(conn, who, board_id, out, notices, ids)
            updated = await store.get_team(conn, who.tenant_id, board_id)
        await self.after_commit(out, ids)
        assert updated is not None
        return board_out(updated)

    async def _lead_notices(
        self, conn: DbConnection, who: Principal, board: TeamRow, before: dict[str, Any], patch: dict[str, Any]
    ) -> list[Notice]:  # fmt: skip
        """The board's lead hears of the fields a PATCH changed (MC's ``board.lead_notified``);
        a group move is the group notices' (every agent of the board hears of it)."""
        changes = [
            (k, before[k], v) for k, v in sorted(patch.items()) if k != "board_group_id" and before[k] != v
        ]
        lead = next((m for m in await self._members(conn, who, board.id) if m.role == "lead"), None)
        if lead is None or not changes:
            return []
        return [notify.board_updated(lead.agent_id, board.id, str(patch.get("name", board.name)), changes)]

    async def _group_notices(
        self, conn: DbConnection, who: Principal, board: TeamRow, joined: UUID | None
    ) -> list[Notice]:
        """Every agent of a board that left a group or joined one hears of it (MC's
        ``board.group.join|leave``)."""
        members = await self._members(conn, who, board.id)
        out: list[Notice] = []
        for group_id, join in ((board.board_group_id, False), (joined, True)):
            group = None if group_id is None else await group_store.get_group(conn, who.tenant_id, group_id)
            if group is not None:
                out += [notify.board_group(m.agent_id, board.id, board.name, group.id, group.name, join)
                        for m in members]  # fmt: skip
        return out

    async def delete_board(self, who: Principal, board_id: UUID) -> None:
        """The board goes (its tasks with it), and ``board.deleted`` tells the log's followers."""
        row = await self.board(who, board_id, write=True)
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            await store.delete_team(conn, who.tenant_id, board_id)
            await TaskService.record(
                conn, who.tenant_id,
                NewEvent(kind="board.deleted", team_id=board_id, user_id=who.coord_user, data={"name": row.name}),
                out,
            )  # fmt: skip
        await self._tasks.announce(out)

    # -- tasks ------------------------------------------------------------------------------------

    async def list_tasks(
        self, who: Principal, board_id: UUID, statuses: list[str] | None, assignee: UUID | None, limit: int,
        offset: int, unassigned: bool = False,
    ) -> tuple[list[TaskRead], int]:  # fmt: skip
        await self.board(who, board_id)
        wanted = None
        if statuses:
            wanted = [s for m in statuses for s in (("backlog", "ready") if m == "inbox" else (m,))]
            if "done" in statuses:
                wanted.append("cancelled")
        where = task_store.TaskFilter(
            team_id=board_id, statuses=wanted, assignee_agent_id=assignee, unassigned=unassigned
        )
        rows = await self._tasks.list_tasks(who.tenant_id, where, limit, offset)
        return [mc_task(r) for r in rows], rows[0].total if rows else 0

    async def _assignee(self, conn: DbConnection, who: Principal, board_id: UUID, agent_id: UUID) -> bool:
        """Whether the agent leads the board. Raises: NotFound (no such agent), FailedPrecondition
        (an agent of another board)."""
        members = {m.agent_id: m.role for m in await store.list_members(conn, who.tenant_id, board_id)}
        if agent_id not in members:
            if not await store.agent_exists(conn, who.tenant_id, agent_id):
                raise NotFound(kind="agent", id=str(agent_id))
            message = "Assigned agent must be on the same board."
            raise FailedPrecondition(detail=message, details={"message": message})
        return members[agent_id] == "lead"

    async def create_task(
        self, who: Principal, board_id: UUID, body: TaskCreate, actor: Actor = USER
    ) -> TaskRead:
        """A user (or the board's lead agent: ``auto_created``) creates a task. Raises: NotFound
        (board, a dependency), FailedPrecondition (blocked while assigned or started; an assignee of
        another board; a cycle), Forbidden (a lead assigning a lead)."""
        board = await self.board(who, board_id, write=True)
        priority, extra = _priority(body.priority)
        started = now() if body.status == "in_progress" else None
        out: list[EventRow] = []
        ids: list[UUID] = []
        by_lead = actor.kind == "lead"
        async with self._db.transaction() as conn:
            to_lead = False
            if body.assigned_agent_id is not None:
                to_lead = await self._assignee(conn, who, board_id, body.assigned_agent_id)
                if by_lead and to_lead:
                    raise forbidden("Board leads cannot assign tasks to themselves or another lead.",
                                    "lead_assign_forbidden")  # fmt: skip
            values = check_values(
                await tag_store.list_fields(conn, who.tenant_id, board_id=board_id),
                body.custom_field_values,
                None,
            )
            new = task_store.NewTask(
                team_id=board_id, title=body.title, description=body.description or "",
                status=_canonical(body.status, body.assigned_agent_id), priority=priority,
                assignee_agent_id=body.assigned_agent_id, created_by_user=who.coord_user, in_progress_at=started,
                due_at=body.due_at, channel="mission_control", chat_id=str(board_id), user_id=who.coord_user,
                custom_fields=values, metadata=extra, created_by_agent_id=actor.agent_id,
                auto_created=by_lead, auto_reason=f"lead_agent:{actor.agent_id}" if by_lead else None,
            )  # fmt: skip
            task_id = await self._tasks.create(conn, who.tenant_id, new, out, body.depends_on_task_ids)
            await _tags(conn, who, task_id, body.tag_ids)
            row = await task_store.get_task(conn, who.tenant_id, task_id)
            assert row is not None
            if row.blocked_by and (body.assigned_agent_id is not None or body.status != "inbox"):
                raise blocked_error(tuple(row.blocked_by))
            notices: list[Notice] = []
            to = body.assigned_agent_id
            if to is not None and to != actor.agent_id:
                review = body.status == "review" and to_lead
                notices.append(notify.assigned(to, row.title, task_id, board_id, row.description, review))
            if actor.kind == "user" and board.lead_agent_id is not None and board.lead_agent_id != to:
                notices.append(
                    notify.new_task(board.lead_agent_id, row.title, task_id, board_id, row.description)
                )
            await self._queue(conn, who, board_id, out, notices, ids)
        await self.after_commit(out, ids)
        return mc_task(row)

    async def update_task(
        self, who: Principal, board_id: UUID, task_id: UUID, body: TaskUpdate, actor: Actor = USER
    ) -> TaskRead:
        """A user (MC's "admin rules"), the lead or a worker agent (reference 2.3) changes a task, then
        the board's gates. Raises: NotFound, Forbidden (403), FailedPrecondition (409),
        InvalidRequest (422)."""
        board = await self.board(who, board_id, write=True)
        sent = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
        if "status" in sent and sent["status"] is None:
            raise invalid_field("$.status", "status may not be null")
        comment = (sent.pop("comment", None) or "").strip() or None
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            if await task_store.lock_task(conn, who.tenant_id, task_id) != board_id:
                raise NotFound(kind="task", id=str(task_id))
            before = await task_store.get_task(conn, who.tenant_id, task_id)
            assert before is not None
            deps_changed = "depends_on_task_ids" in sent and set(sent["depends_on_task_ids"]) != set(
                before.depends_on
            )
            if deps_changed and before.status == "done":
                raise FailedPrecondition(detail="Cannot change dependencies of a done task.",
                                         details={"message": "Cannot change dependencies of a done task."})  # fmt: skip
            if deps_changed:
                await self._tasks.set_dependencies(
                    conn, who.tenant_id, board_id, task_id, sent["depends_on_task_ids"]
                )
            current = await task_store.get_task(conn, who.tenant_id, task_id)
            assert current is not None
            assignee = sent.get("assigned_agent_id")
            is_lead = assignee is not None and await self._assignee(conn, who, board_id, assignee)
            pending, approved = await task_store.approval_states(conn, who.tenant_id, task_id)
            submitter, commented = None, False
            if actor.kind == "lead":
                submitter = await agent_store.last_submitter(conn, who.tenant_id, task_id, actor.agent_id)
            elif actor.agent_id is not None:
                since = before.in_progress_at or before.previous_in_progress_at
                commented = await agent_store.commented_since(
                    conn, who.tenant_id, task_id, actor.agent_id, since
                )
            decision = decide(
                actor,
                Current(mc_status(before.status), before.assignee_agent_id, before.in_progress_at,
                        before.previous_in_progress_at),
                Change(sent=frozenset(sent) | ({"comment"} if comment else set()), status=sent.get("status"),
                       assignee=assignee, comment=comment),
                _rules(board),
                Facts(blocked_by=tuple(current.blocked_by), lead=board.lead_agent_id, pending_approval=pending,
                      approved=approved, assignee_is_lead=is_lead, deps_changed=deps_changed,
                      assignee_commented=commented, last_submitter=submitter),
                now(),
            )  # fmt: skip
            state = TaskState.of(before)
            state.status = _canonical(decision.status, decision.assignee)
            state.assignee_agent_id = decision.assignee
            state.in_progress_at, state.previous_in_progress_at = (
                decision.in_progress_at,
                decision.previous_in_progress_at,
            )
            if "title" in sent:
                state.title = sent["title"]
            if "description" in sent:
                state.description = sent["description"] or ""
            if "due_at" in sent:
                state.due_at = sent["due_at"]
            if "priority" in sent:
                state.priority, extra = _priority(sent["priority"])
                state.metadata = {k: v for k, v in state.metadata.items() if k != "mc_priority"} | extra
            if "tag_ids" in sent:
                await _tags(conn, who, task_id, sent["tag_ids"])
            if "custom_field_values" in sent:
                defs = await tag_store.list_fields(conn, who.tenant_id, board_id=board_id)
                state.custom_fields = check_values(defs, sent["custom_field_values"], state.custom_fields)
            if comment:
                await self._tasks.comment(
                    conn,
                    who.tenant_id,
                    before,
                    comment,
                    out,
                    agent_id=actor.agent_id,
                    user_id=who.coord_user,
                )
            await self._tasks.save(conn, who.tenant_id, before, state, out, agent_id=actor.agent_id,
                                   user_id=who.coord_user,
                                   data={"notes": decision.notes} if decision.notes else None)  # fmt: skip
            row = await task_store.get_task(conn, who.tenant_id, task_id)
            assert row is not None
            notices = await self._update_notices(
                conn, who, board, actor, before, row, comment, decision.notes
            )
            await self._queue(conn, who, board_id, out, notices, ids)
        await self.after_commit(out, ids)
        return mc_task(row)

    async def _update_notices(
        self, conn: DbConnection, who: Principal, board: TeamRow, actor: Actor, before: TaskRow, after: TaskRow,
        comment: str | None, notes: list[str],
    ) -> list[Notice]:  # fmt: skip
        """Who hears of a task change (reference 2.6)."""
        out: list[Notice] = []
        to, lead = after.assignee_agent_id, board.lead_agent_id
        if to is not None and to != before.assignee_agent_id and to != actor.agent_id:
            if "changes_requested" in notes:
                texts = await agent_store.comment_texts(conn, who.tenant_id, after.id)
                out.append(
                    notify.changes_requested(to, after.title, after.id, board.id, texts[-1] if texts else "")
                )
            else:
                review = mc_status(after.status) == "review" and to == lead
                out.append(notify.assigned(to, after.title, after.id, board.id, after.description, review))
        out += notify.started(before, to, after.status, actor.agent_id)
        was_waiting = mc_status(before.status) == "inbox" and before.assignee_agent_id is None
        if (
            mc_status(after.status) == "inbox"
            and to is None
            and not was_waiting
            and lead not in (None, actor.agent_id)
        ):
            assert lead is not None
            out.append(notify.back_in_inbox(lead, after.title, after.id, board.id))
        if comment:
            members = await self._members(conn, who, board.id)
            out += notify.comment_notices(
                comment, actor.agent_id, to, members, after.title, after.id, board.id
            )
        return out

    async def delete_task(self, who: Principal, board_id: UUID, task_id: UUID) -> None:
        await self.board(who, board_id, write=True)
        await self._tasks.get(who.tenant_id, task_id, board_id)
        await self._tasks.delete(who.tenant_id, board_id, [task_id], ("backlog", "ready", "in_progress", "review",
                                                                       "done", "cancelled"), who.coord_user)  # fmt: skip

    async def get_task(self, who: Principal, board_id: UUID, task_id: UUID) -> TaskRead:
        await self.board(who, board_id)
        return mc_task(await self._tasks.get(who.tenant_id, task_id, board_id))

    # -- comments ---------------------------------------------------------------------------------

    async def comments(
        self, who: Principal, board_id: UUID, task_id: UUID, limit: int, offset: int
    ) -> tuple[list[CommentRead], int]:
        await self.get_task(who, board_id, task_id)
        rows = await self._tasks.events_page(
            who.tenant_id, Where(task_id=task_id, kinds=["task.comment"]), 10_000, 0
        )
        rows.reverse()
        return [comment_out(e) for e in rows[offset : offset + limit]], len(rows)

    async def add_comment(
        self, who: Principal, board_id: UUID, task_id: UUID, message: str, actor: Actor = USER
    ) -> CommentRead:
        """A comment; a lead agent only where reference 2.5 allows (``check_comment``); the
        mentioned agents (else the assignee) hear of it. Raises: NotFound, Forbidden."""
        if not message.strip():
            raise invalid_field("$.message", "message must not be blank")
        await self.board(who, board_id, write=True)
        task = await self._tasks.get(who.tenant_id, task_id, board_id)
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            members = await self._members(conn, who, board_id)
            if actor.kind == "lead":
                texts = await agent_store.comment_texts(conn, who.tenant_id, task_id)
                named = any(actor.agent_id in notify.mentioned(t, members) for t in texts)
                check_comment(
                    actor, mc_status(task.status), named, task.created_by_agent_id == actor.agent_id
                )
            event = await self._tasks.comment(
                conn, who.tenant_id, task, message, out, agent_id=actor.agent_id, user_id=who.coord_user
            )
            notices = notify.comment_notices(message, actor.agent_id, task.assignee_agent_id, members, task.title,
                                             task.id, board_id)  # fmt: skip
            await self._queue(conn, who, board_id, out, notices, ids)
        await self.after_commit(out, ids)
        return comment_out(event)

    # -- approvals --------------------------------------------------------------------------------

    async def _approval_out(self, conn: DbConnection, who: Principal, row: ApprovalRow) -> ApprovalRead:
        titles = []
        for task_id in row.task_ids:
            task = await task_store.get_task(conn, who.tenant_id, task_id)
            titles.append(task.title if task else "")
        return ApprovalRead(
            id=row.id, board_id=row.team_id, task_id=row.task_id, task_ids=row.task_ids, task_titles=titles,
            agent_id=row.agent_id, action_type=row.action_type, payload=row.payload, confidence=row.confidence,
            rubric_scores=row.rubric_scores, status=row.status, created_at=row.created_at,
            resolved_at=row.resolved_at,
        )  # fmt: skip

    async def list_approvals(
        self, who: Principal, board_id: UUID, status: str | None, limit: int, offset: int
    ) -> tuple[list[ApprovalRead], int]:
        await self.board(who, board_id)
        async with self._db.connection() as conn:
            rows = await task_store.list_approvals(conn, who.tenant_id, board_id, status, limit, offset)
            return [await self._approval_out(conn, who, r) for r in rows], rows[0].total if rows else 0

    async def create_approval(
        self, who: Principal, board_id: UUID, body: ApprovalCreate, actor: Actor = USER
    ) -> ApprovalRead:
        """Raises: InvalidRequest (no reason), NotFound (a task), FailedPrecondition (a task has a
        pending approval: ``conflicts``)."""
        await self.board(who, board_id, write=True)
        payload = dict(body.payload or {})
        decision = payload.get("decision")
        reason = payload.get("reason") or (decision.get("reason") if isinstance(decision, dict) else None)
        if not (isinstance(reason, str) and reason.strip()):
            if not (body.lead_reasoning or "").strip():
                raise InvalidRequest("failed_precondition", detail="lead reasoning is required")
            payload["reason"] = body.lead_reasoning
        for name, score in (body.rubric_scores or {}).items():
            if isinstance(score, bool) or not isinstance(score, int) or abs(score) > 1_000_000:
                raise invalid_field(f"$.rubric_scores.{name}", "a rubric score is an integer")
        ids = _approval_task_ids(body, payload)
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            approval_id = await self._tasks.request_approval(
                conn, who.tenant_id, board_id, ids, out, agent_id=actor.agent_id or body.agent_id,
                action_type=body.action_type,
                payload=payload, confidence=body.confidence, rubric_scores=body.rubric_scores, status=body.status,
            )  # fmt: skip
            row = await task_store.get_approval(conn, who.tenant_id, approval_id)
            assert row is not None
            read = await self._approval_out(conn, who, row)
        await self._tasks.announce(out)
        return read

    async def resolve_approval(
        self, who: Principal, board_id: UUID, approval_id: UUID, status: str
    ) -> ApprovalRead:
        """Users only (agents never reach this); the lead hears of an approval approved or
        rejected. Raises: NotFound, FailedPrecondition."""
        board = await self.board(who, board_id, write=True)
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            row = await task_store.get_approval(conn, who.tenant_id, approval_id)
            if row is None or row.team_id != board_id:
                raise NotFound(kind="approval", id=str(approval_id))
            was = row.status
            await self._tasks.resolve_approval(conn, who.tenant_id, row, status, who.coord_user, out)
            row = await task_store.get_approval(conn, who.tenant_id, approval_id)
            assert row is not None
            read = await self._approval_out(conn, who, row)
            if status in ("approved", "rejected") and status != was and board.lead_agent_id is not None:
                notice = notify.approval_resolved(board.lead_agent_id, row.id, row.action_type, status,
                                                  row.confidence, row.task_ids, board_id)  # fmt: skip
                await self._queue(conn, who, board_id, out, [notice], ids)
        await self.after_commit(out, ids)
        return read


async def _gateway(conn: DbConnection, who: Principal, gateway_id: UUID | None) -> None:
    """A board's gateway must be a gateway record of the caller's tenant (MC: 422 ``gateway_id is
    invalid``; another tenant's is the same as none). None: this ClawGate, nothing to check."""
    if gateway_id is not None and await org_store.gateway(conn, who.tenant_id, gateway_id) is None:
        raise invalid_field("$.gateway_id", "gateway_id is invalid")


async def _tags(conn: DbConnection, who: Principal, task_id: UUID, tag_ids: list[UUID]) -> None:
    """Raises: NotFound (tags that are not the tenant's: ``missing_tag_ids``)."""
    if missing := await task_store.set_tags(conn, who.tenant_id, task_id, tag_ids):
        message = "One or more tags were not found."
        raise NotFound("not_found", kind="tag", id=", ".join(map(str, missing)),
                       details={"message": message, "missing_tag_ids": [str(m) for m in missing]})  # fmt: skip


def _approval_task_ids(body: ApprovalCreate, payload: dict[str, Any]) -> list[UUID]:
    """``task_id``, ``task_ids`` and the payload's task keys, in order, once each."""
    found: list[UUID] = [*([body.task_id] if body.task_id else []), *body.task_ids]
    for key in ("task_id", "taskId", "taskID", "task_ids", "taskIds", "taskIDs"):
        value = payload.get(key)
        for item in value if isinstance(value, list) else [value] if value else []:
            try:
                found.append(UUID(str(item)))
            except ValueError:
                raise invalid_field(f"$.payload.{key}", "not a task id") from None
    return list(dict.fromkeys(found))


def _rules(board: TeamRow) -> Rules:
    return Rules(
        require_approval_for_done=board.require_approval_for_done,
        require_review_before_done=board.require_review_before_done,
        comment_required_for_review=board.comment_required_for_review,
        block_status_changes_with_pending_approval=board.block_status_changes_with_pending_approval,
        only_lead_can_change_status=board.only_lead_can_change_status,
    )
