"""Tasks (one canonical status each), their edges (depends_on forms a DAG per team; relates_to,
duplicates, parent_of), and approvals linked to tasks (at most one pending approval per task: a
partial unique index, so concurrent requests in any process cannot both win). Every query takes
the tenant id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many, maybe, one

__all__ = [
    "ApprovalRow",
    "NewTask",
    "TagRef",
    "TaskBrief",
    "TaskFilter",
    "TaskRow",
    "TaskState",
    "approval_states",
    "count_comment",
    "delete_tasks",
    "dependents",
    "get_approval",
    "get_task",
    "insert_approval",
    "insert_link",
    "insert_task",
    "list_active_by_chat",
    "list_approvals",
    "list_tasks",
    "lock_graph",
    "lock_task",
    "move_task",
    "next_number",
    "overloaded",
    "pending_conflicts",
    "reaches",
    "replace_dependencies",
    "resolve_approval",
    "set_tags",
    "set_task",
    "tasks_of_team",
]

JSON = dict[str, Any]


class TaskRow(Struct, kw_only=True):
    """A task with its assignee's and author's keys, its depends_on targets and, of those, the ones
    not done (``blocked_by``). ``total``: the matches of the list it came from."""

    id: UUID
    tenant_id: UUID
    team_id: UUID
    number: int
    mission_id: UUID | None
    sprint_id: UUID | None
    parent_id: UUID | None
    title: str
    description: str
    task_type: str
    status: str
    priority: int
    blocked: bool
    blocked_reason: str
    assignee_agent_id: UUID | None
    assignee_user_id: str | None
    validator_agent_id: UUID | None
    created_by_user: str
    created_by_agent_id: UUID | None
    auto_created: bool
    auto_reason: str | None
    in_progress_at: datetime | None
    previous_in_progress_at: datetime | None
    due_at: datetime | None
    progress: int
    progress_step: str
    result: str | None
    channel: str
    chat_id: str
    user_id: str
    custom_fields: JSON
    metadata: JSON
    comment_count: int
    created_at: datetime
    updated_at: datetime
    assignee_agent_key: str | None
    assignee_display_name: str | None
    created_by_agent_key: str | None
    depends_on: list[UUID]
    blocked_by: list[UUID]
    tags: list[TagRef]
    total: int = 0

    @property
    def is_blocked(self) -> bool:
        """Blocked: the manual flag, or a dependency not done (a done task never is)."""
        return self.status != "done" and (self.blocked or bool(self.blocked_by))


class TagRef(Struct, kw_only=True):
    """MC's ``TagRef``."""

    id: UUID
    name: str
    slug: str
    color: str


class TaskBrief(Struct, kw_only=True):
    """An open task as the chat sidebar lists it (``active_by_chat``)."""

    id: UUID
    team_id: UUID
    number: int
    title: str
    status: str
    blocked: bool
    waiting: bool
    progress: int
    progress_step: str
    comment_count: int
    assignee_agent_key: str | None
    assignee_display_name: str | None


class ApprovalRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    team_id: UUID
    task_id: UUID | None
    agent_id: UUID | None
    action_type: str
    payload: Any
    confidence: float
    rubric_scores: Any
    status: str
    resolved_by: str | None
    created_at: datetime
    resolved_at: datetime | None
    task_ids: list[UUID]
    total: int = 0


class _Dependent(Struct, kw_only=True):
    id: UUID
    status: str
    assignee_agent_id: UUID | None
    in_progress_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewTask:
    """A task's fields as created."""

    team_id: UUID
    title: str
    description: str = ""
    task_type: str = "general"
    status: str = "backlog"
    priority: int = 2
    assignee_agent_id: UUID | None = None
    created_by_user: str = ""
    created_by_agent_id: UUID | None = None
    auto_created: bool = False
    auto_reason: str | None = None
    in_progress_at: datetime | None = None
    due_at: datetime | None = None
    channel: str = ""
    chat_id: str = ""
    user_id: str = ""
    custom_fields: JSON | None = None
    metadata: JSON | None = None


@dataclass(slots=True)
class TaskState:
    """The mutable fields of a task, as a service computes them before ``set_task``."""

    title: str
    description: str
    status: str
    priority: int
    blocked: bool
    blocked_reason: str
    assignee_agent_id: UUID | None
    in_progress_at: datetime | None
    previous_in_progress_at: datetime | None
    due_at: datetime | None
    progress: int
    progress_step: str
    result: str | None
    custom_fields: JSON
    metadata: JSON

    @classmethod
    def of(cls, row: TaskRow) -> TaskState:
        return cls(
            title=row.title, description=row.description, status=row.status, priority=row.priority,
            blocked=row.blocked, blocked_reason=row.blocked_reason, assignee_agent_id=row.assignee_agent_id,
            in_progress_at=row.in_progress_at, previous_in_progress_at=row.previous_in_progress_at,
            due_at=row.due_at, progress=row.progress, progress_step=row.progress_step, result=row.result,
            custom_fields=dict(row.custom_fields), metadata=dict(row.metadata),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class TaskFilter:
    """Which tasks a list returns (None: any)."""

    team_id: UUID | None = None
    statuses: Sequence[str] | None = None
    channel: str | None = None
    chat_id: str | None = None
    assignee_agent_id: UUID | None = None
    unassigned: bool = False  # only the tasks without an assignee agent


async def next_number(conn: asyncpg.Connection, tenant_id: UUID) -> int:
    """The tenant's next task number (GoClaw ``task_number``, CT ``T-<n>``); taken in the caller's
    transaction, so it is never handed out twice."""
    found: int = await conn.fetchval(query("tasks.next_number"), tenant_id)
    return found


async def insert_task(conn: asyncpg.Connection, tenant_id: UUID, number: int, new: NewTask) -> UUID:
    found: UUID = await conn.fetchval(
        query("tasks.task_insert"), tenant_id, new.team_id, number, new.title, new.description, new.task_type,
        new.status, new.priority, new.assignee_agent_id, new.created_by_user, new.created_by_agent_id,
        new.auto_created, new.auto_reason, new.in_progress_at, new.due_at, new.channel, new.chat_id, new.user_id,
        new.custom_fields or {}, new.metadata or {},
    )  # fmt: skip
    return found


async def get_task(conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID) -> TaskRow | None:
    row = await conn.fetchrow(
        query("tasks.tasks_select"), tenant_id, None, task_id, None, None, None, None, 1, 0, False
    )
    return maybe(row, TaskRow)


async def list_tasks(
    conn: asyncpg.Connection, tenant_id: UUID, where: TaskFilter, limit: int, offset: int = 0
) -> list[TaskRow]:
    """Tasks matching ``where``, newest first (each row's ``total`` counts every match)."""
    statuses = list(where.statuses) if where.statuses is not None else None
    rows = await conn.fetch(
        query("tasks.tasks_select"), tenant_id, where.team_id, None, statuses, where.channel, where.chat_id,
        where.assignee_agent_id, limit, offset, where.unassigned,
    )  # fmt: skip
    return many(rows, TaskRow)


async def list_active_by_chat(conn: asyncpg.Connection, tenant_id: UUID, chat_id: str) -> list[TaskBrief]:
    """The open tasks started from chat ``chat_id`` (at most 50, newest first)."""
    return many(await conn.fetch(query("tasks.active_by_chat"), tenant_id, chat_id), TaskBrief)


async def lock_task(conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID) -> UUID | None:
    """Lock the task's row for the transaction; its team id, or None when it does not exist."""
    row = await conn.fetchrow(query("tasks.task_lock"), tenant_id, task_id)
    return None if row is None else row["team_id"]


async def set_task(conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID, state: TaskState) -> None:
    await conn.execute(
        query("tasks.task_set"), tenant_id, task_id, state.title, state.description, state.status, state.priority,
        state.blocked, state.blocked_reason, state.assignee_agent_id, state.in_progress_at,
        state.previous_in_progress_at, state.due_at, state.progress, state.progress_step, state.result,
        state.custom_fields, state.metadata,
    )  # fmt: skip


async def count_comment(conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID) -> None:
    await conn.execute(query("tasks.task_count_comment"), tenant_id, task_id)


async def delete_tasks(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    team_id: UUID,
    task_ids: Sequence[UUID],
    statuses: Sequence[str],
) -> list[UUID]:
    """Delete those of ``task_ids`` in team ``team_id`` whose status is one of ``statuses``; the ids deleted."""
    rows = await conn.fetch(query("tasks.tasks_delete"), tenant_id, team_id, list(task_ids), list(statuses))
    return [r["id"] for r in rows]


async def tasks_of_team(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, task_ids: Sequence[UUID]
) -> set[UUID]:
    """Which of ``task_ids`` are tasks of the team."""
    return {
        r["id"] for r in await conn.fetch(query("tasks.tasks_of_team"), tenant_id, team_id, list(task_ids))
    }


async def lock_graph(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID) -> None:
    """Serialise dependency edits of one team until the transaction ends (a transaction-scoped
    advisory lock: every process takes turns)."""
    await conn.execute(query("tasks.team_graph_lock"), tenant_id, team_id)


async def move_task(conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID, team_id: UUID) -> bool:
    """Move the task to ``team_id``; False (nothing moved) when a dependency, a link or a pending
    approval ties it to its team. The caller holds the task's row lock and its team's graph lock."""
    return await conn.fetchval(query("tasks.task_move"), tenant_id, task_id, team_id) is not None


async def reaches(conn: asyncpg.Connection, tenant_id: UUID, starts: Sequence[UUID], target: UUID) -> bool:
    """Whether ``target`` is reachable from any of ``starts`` along depends_on edges."""
    return bool(await conn.fetchval(query("tasks.reaches"), tenant_id, list(starts), target))


async def replace_dependencies(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, task_id: UUID, depends_on: Sequence[UUID]
) -> None:
    """Task ``task_id`` now depends on exactly ``depends_on`` (checked by the caller)."""
    await conn.execute(query("tasks.deps_replace"), tenant_id, team_id, task_id, list(depends_on))


async def insert_link(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, src: UUID, dst: UUID, kind: str
) -> bool:
    """Add an edge; False when it existed already."""
    return await conn.fetchval(query("tasks.link_insert"), tenant_id, team_id, src, dst, kind) is not None


async def dependents(conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID) -> list[_Dependent]:
    """The tasks that depend on ``task_id`` and are not done."""
    return many(await conn.fetch(query("tasks.dependents"), tenant_id, task_id), _Dependent)


async def insert_approval(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    team_id: UUID,
    *,
    task_ids: Sequence[UUID],
    agent_id: UUID | None,
    action_type: str,
    payload: Any,
    confidence: float,
    rubric_scores: Any,
    status: str,
) -> UUID | None:
    """A new approval linked to ``task_ids`` (the first is its ``task_id``). None when one of the
    tasks has a pending approval already and this one is pending (nothing is written then: the
    caller's transaction is left usable through a savepoint)."""
    try:
        async with conn.transaction():
            approval_id: UUID = await conn.fetchval(
                query("tasks.approval_insert"), tenant_id, team_id, task_ids[0] if task_ids else None, agent_id,
                action_type, payload, confidence, rubric_scores, status,
            )  # fmt: skip
            if task_ids:
                await conn.execute(
                    query("tasks.approval_link"), tenant_id, approval_id, list(task_ids), status == "pending"
                )
    except asyncpg.UniqueViolationError:
        return None
    return approval_id


async def pending_conflicts(
    conn: asyncpg.Connection, tenant_id: UUID, task_ids: Sequence[UUID], except_approval: UUID | None = None
) -> list[tuple[UUID, UUID]]:
    """(task id, approval id) of the pending approvals covering any of ``task_ids``."""
    rows = await conn.fetch(query("tasks.pending_conflicts"), tenant_id, list(task_ids), except_approval)
    return [(r["task_id"], r["approval_id"]) for r in rows]


async def get_approval(conn: asyncpg.Connection, tenant_id: UUID, approval_id: UUID) -> ApprovalRow | None:
    row = await conn.fetchrow(query("tasks.approvals_select"), tenant_id, None, approval_id, None, 1, 0)
    return maybe(row, ApprovalRow)


async def list_approvals(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, status: str | None, limit: int, offset: int
) -> list[ApprovalRow]:
    rows = await conn.fetch(query("tasks.approvals_select"), tenant_id, team_id, None, status, limit, offset)
    return many(rows, ApprovalRow)


async def resolve_approval(
    conn: asyncpg.Connection, tenant_id: UUID, approval_id: UUID, status: str, by: str
) -> bool:
    """Set the approval's status (and its task links' ``pending``). False when re-opening it to
    pending collides with another pending approval of one of its tasks."""
    try:
        async with conn.transaction():
            await conn.execute(query("tasks.approval_resolve"), tenant_id, approval_id, status, by)
    except asyncpg.UniqueViolationError:
        return False
    return True


class _ApprovalStates(Struct, kw_only=True):
    pending: bool
    approved: bool


async def approval_states(conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID) -> tuple[bool, bool]:
    """(has a pending approval, has an approved one) of the task."""
    found = one(await conn.fetchrow(query("tasks.approval_states"), tenant_id, task_id), _ApprovalStates)
    return found.pending, found.approved


async def set_tags(
    conn: asyncpg.Connection, tenant_id: UUID, task_id: UUID, tag_ids: Sequence[UUID]
) -> list[UUID]:
    """The task now carries exactly ``tag_ids``; returns those that are not the tenant's (nothing
    is written then)."""
    wanted = list(dict.fromkeys(tag_ids))
    known = {r["id"] for r in await conn.fetch(query("tasks.tags_known"), tenant_id, wanted)}
    if missing := [t for t in wanted if t not in known]:
        return missing
    await conn.execute(query("tasks.tags_replace"), tenant_id, task_id, wanted)
    return []


async def overloaded(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> bool:
    """ClawTasker's ``overloaded`` notification for the agent when it owns more than 4 active tasks,
    once while not dismissed (a unique index decides). Returns: whether one was made."""
    return await conn.fetchval(query("tasks.overloaded_insert"), tenant_id, agent_id) is not None
