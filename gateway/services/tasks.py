"""Tasks on the shared coordination model (issue 14): the rules every surface shares. GoClaw's
team tasks (``clawgate.services.teams``) and Mission Control's board tasks use these functions, each
mapping statuses on its own edge (``goclaw_status``, ``mc_status``).

- One canonical status per task: ``backlog | ready | in_progress | review | done | cancelled``.
  "Blocked" is not a status: the manual flag, or a dependency not done.
- Dependencies stay inside one team and never form a cycle: edits of one team's graph take turns
  under a transaction-scoped advisory lock (every process), and the cycle check reads the graph
  after that lock.
- At most one pending approval per task: a partial unique index decides, so two requests racing in
  two processes cannot both win; the loser gets the conflicts.
- Everything that happens is appended to the event log in the same transaction (``coord_events``);
  after the commit an ``internal.coord`` bus event (every process) wakes the streams, which read the
  log after their cursor.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final
from uuid import UUID

import structlog

from clawgate.bus import BusEvent, EventBus
from clawgate.errors import FailedPrecondition, NotFound
from clawgate.store import Database, DbConnection
from clawgate.store import coord_events as events
from clawgate.store import tasks as store
from clawgate.store.coord_events import EventRow, NewEvent
from clawgate.store.tasks import ApprovalRow, TaskRow

__all__ = [
    "ACTIVE",
    "COORD_EVENT",
    "OPEN",
    "STATUSES",
    "TaskService",
    "goclaw_status",
    "mc_status",
    "now",
]

log = structlog.get_logger("clawgate.tasks")

STATUSES: Final = ("backlog", "ready", "in_progress", "review", "done", "cancelled")
OPEN: Final = ("backlog", "ready", "in_progress", "review")
ACTIVE: Final = ("backlog", "ready", "in_progress")
"""GoClaw's "active" list: pending (backlog, ready), in progress, and blocked ones among them."""
TERMINAL: Final = ("done", "cancelled")
COORD_EVENT: Final = "internal.coord"
"""The bus event after a commit that appended to the log: ``{seq, team_id, task_id, kind}``; it
never reaches a WebSocket client (``internal.`` events stay inside the gateway)."""


HELD_FIRST: Final = 0.005
HELD_LAST: Final = 0.05
"""A stream woken with nothing readable looks again after 5 ms, doubling up to 50 ms."""


def now() -> datetime:
    return datetime.now(UTC)


def goclaw_status(status: str, blocked: bool) -> str:
    """A canonical status as GoClaw names it: pending, in_progress, in_review, completed, cancelled;
    an open task that is not started and blocked is ``blocked``."""
    if status in ("backlog", "ready"):
        return "blocked" if blocked else "pending"
    return {"in_progress": "in_progress", "review": "in_review", "done": "completed"}.get(status, status)


def mc_status(status: str) -> str:
    """A canonical status as Mission Control names it: inbox, in_progress, review, done (a cancelled
    task reads as done: MC has no such status)."""
    if status in ("backlog", "ready"):
        return "inbox"
    return "done" if status == "cancelled" else status


class TaskService:
    """Reads and writes of tasks, their edges and approvals, with the event log."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._bus = bus
        # Reads of the log in flight, shared by the streams that ask the same thing at once (after a
        # wake, every follower of a board asks for the events after the same cursor: one query).
        self._reads: dict[tuple[Any, ...], asyncio.Future[list[EventRow]]] = {}

    # -- events -----------------------------------------------------------------------------------

    @staticmethod
    async def record(conn: DbConnection, tenant_id: UUID, event: NewEvent, out: list[EventRow]) -> EventRow:
        """Append ``event`` in the caller's transaction and keep it in ``out`` for ``announce``."""
        row = await events.append(conn, tenant_id, event)
        out.append(row)
        return row

    async def announce(self, appended: Iterable[EventRow]) -> None:
        """After the commit: wake the streams of every process (``COORD_EVENT``)."""
        for row in appended:
            payload = {
                "seq": row.seq,
                "kind": row.kind,
                "team_id": _s(row.team_id),
                "task_id": _s(row.task_id),
            }
            await self._bus.publish(BusEvent(name=COORD_EVENT, payload=payload, tenant_id=row.tenant_id))

    async def events_after(
        self, tenant_id: UUID, cursor: int, where: events.Where, limit: int = 500
    ) -> list[EventRow]:
        """Committed events after ``cursor``, oldest first (the streams' read)."""
        async with self._db.connection() as conn:
            return await events.after(conn, tenant_id, cursor, where, limit)

    async def _shared_after(self, tenant_id: UUID, cursor: int, where: events.Where) -> list[EventRow]:
        """``events_after``, one query for every caller asking the same at the same time. A caller
        cancelled (its client left) does not cancel the read the others wait for."""
        kinds = tuple(where.kinds) if where.kinds is not None else None
        key = (tenant_id, cursor, where.team_id, where.task_id, kinds, where.group_id)
        read = self._reads.get(key)
        if read is None:
            read = asyncio.ensure_future(self.events_after(tenant_id, cursor, where))
            self._reads[key] = read
            read.add_done_callback(lambda _: self._reads.pop(key, None))
        return await asyncio.shield(read)

    async def cursor_at(self, tenant_id: UUID, when: datetime | None) -> int:
        async with self._db.connection() as conn:
            return await events.cursor_at(conn, tenant_id, when)

    async def follow(
        self, tenant_id: UUID, cursor: int, where: events.Where, ping_seconds: float
    ) -> AsyncIterator[EventRow | None]:
        """The committed events after ``cursor`` as they come (``None`` when ``ping_seconds`` passed
        without one): woken by ``COORD_EVENT`` from any process, then reading the log, so nothing
        is lost between a wake and a read, and a dropped client resumes from its last seq.

        Cancellation (the client went away) ends it and drops the subscription."""
        wake = asyncio.Event()

        def heard(event: BusEvent) -> None:
            if event.name == COORD_EVENT and event.tenant_id == tenant_id:
                wake.set()

        unsubscribe = self._bus.subscribe(heard, names=[COORD_EVENT])
        held = HELD_FIRST
        try:
            while True:
                wake.clear()
                rows = await self._shared_after(tenant_id, cursor, where)
                for row in rows:
                    cursor = row.seq
                    yield row
                if rows:
                    held = HELD_FIRST
                    continue
                if wake.is_set():
                    # Woken with nothing readable yet: an older transaction still open holds the
                    # horizon (store.coord_events.after), most often for a few ms; look again
                    # soon, then less often.
                    await asyncio.sleep(held)
                    held = min(held * 2, HELD_LAST)
                    continue
                try:
                    await asyncio.wait_for(wake.wait(), timeout=ping_seconds)
                except TimeoutError:
                    yield None
        finally:
            unsubscribe()

    async def events_page(
        self, tenant_id: UUID, where: events.Where, limit: int, offset: int
    ) -> list[EventRow]:
        async with self._db.connection() as conn:
            return await events.page(conn, tenant_id, where, limit, offset)

    # -- reads ------------------------------------------------------------------------------------

    async def get(self, tenant_id: UUID, task_id: UUID, team_id: UUID | None = None) -> TaskRow:
        """A task (of ``team_id`` when given). Raises: NotFound (also another tenant's or team's)."""
        async with self._db.connection() as conn:
            row = await store.get_task(conn, tenant_id, task_id)
        if row is None or (team_id is not None and row.team_id != team_id):
            raise NotFound(kind="task", id=str(task_id))
        return row

    async def list_tasks(
        self, tenant_id: UUID, where: store.TaskFilter, limit: int, offset: int = 0
    ) -> list[TaskRow]:
        async with self._db.connection() as conn:
            return await store.list_tasks(conn, tenant_id, where, limit, offset)

    async def active_by_chat(self, tenant_id: UUID, chat_id: str) -> list[store.TaskBrief]:
        async with self._db.connection() as conn:
            return await store.list_active_by_chat(conn, tenant_id, chat_id)

    # -- writes -----------------------------------------------------------------------------------

    async def create(
        self,
        conn: DbConnection,
        tenant_id: UUID,
        new: store.NewTask,
        out: list[EventRow],
        depends_on: Sequence[UUID] = (),
    ) -> UUID:
        """Create a task (in the caller's transaction) with its dependencies; records
        ``task.created``. Raises: NotFound (an unknown dependency, ``details.missing_task_ids``)."""
        number = await store.next_number(conn, tenant_id)
        task_id = await store.insert_task(conn, tenant_id, number, new)
        if depends_on:
            await self.set_dependencies(conn, tenant_id, new.team_id, task_id, depends_on)
        await self.record(
            conn, tenant_id,
            NewEvent(kind="task.created", team_id=new.team_id, task_id=task_id, agent_id=new.created_by_agent_id,
                     user_id=new.created_by_user or None, message=f"Task created: {new.title}.",
                     data={"number": number, "status": new.status}),
            out,
        )  # fmt: skip
        await self.check_load(conn, tenant_id, new.assignee_agent_id)
        return task_id

    @staticmethod
    async def check_load(conn: DbConnection, tenant_id: UUID, agent_id: UUID | None) -> bool:
        """The assignee's load, as ClawTasker judges it, after a task write of any surface (``create``
        and ``save`` ask it, so Mission Control's, GoClaw's and ClawTasker's writes alike): more
        than 4 active tasks (ready, in progress, review) makes CT's ``overloaded`` console
        notification, once while it is not dismissed. Returns: whether one was made."""
        if agent_id is None:
            return False
        return await store.overloaded(conn, tenant_id, agent_id)

    async def set_dependencies(
        self, conn: DbConnection, tenant_id: UUID, team_id: UUID, task_id: UUID, depends_on: Sequence[UUID]
    ) -> None:
        """Task ``task_id`` now depends on exactly ``depends_on`` (in the caller's transaction).

        Raises: NotFound (unknown ids or another team's, ``details.missing_task_ids``),
        FailedPrecondition (a self-dependency or a cycle, ``details.code = dependency_cycle``).
        """
        wanted = list(dict.fromkeys(depends_on))
        if task_id in wanted:
            raise FailedPrecondition(
                detail="A task cannot depend on itself.", details={"code": "dependency_cycle"}
            )
        await store.lock_graph(conn, tenant_id, team_id)
        known = await store.tasks_of_team(conn, tenant_id, team_id, wanted)
        missing = [str(t) for t in wanted if t not in known]
        if missing:
            raise NotFound(
                "not_found", kind="dependency task", id=", ".join(missing),
                details={"message": "One or more dependency tasks were not found.", "missing_task_ids": missing},
            )  # fmt: skip
        if wanted and await store.reaches(conn, tenant_id, wanted, task_id):
            raise FailedPrecondition(
                detail="Dependency cycle detected.", details={"code": "dependency_cycle"}
            )
        await store.replace_dependencies(conn, tenant_id, team_id, task_id, wanted)

    async def save(
        self,
        conn: DbConnection,
        tenant_id: UUID,
        before: TaskRow,
        after: store.TaskState,
        out: list[EventRow],
        *,
        agent_id: UUID | None = None,
        user_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Write the state ``after`` of task ``before`` and record ``task.status_changed`` (with
        ``{from, to}``) or ``task.updated``."""
        await store.set_task(conn, tenant_id, before.id, after)
        if after.status != before.status:
            event = NewEvent(
                kind="task.status_changed", team_id=before.team_id, task_id=before.id, agent_id=agent_id,
                user_id=user_id, message=f"Task moved to {after.status}: {after.title}.",
                data={"from": before.status, "to": after.status, **(data or {})},
            )  # fmt: skip
        else:
            event = NewEvent(
                kind="task.updated", team_id=before.team_id, task_id=before.id, agent_id=agent_id, user_id=user_id,
                message=f"Task updated: {after.title}.", data=data or {},
            )  # fmt: skip
        await self.record(conn, tenant_id, event, out)
        await self.check_load(conn, tenant_id, after.assignee_agent_id)

    async def comment(
        self,
        conn: DbConnection,
        tenant_id: UUID,
        task: TaskRow,
        message: str,
        out: list[EventRow],
        *,
        agent_id: UUID | None = None,
        user_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> EventRow:
        """A comment on the task: a ``task.comment`` event (as Mission Control keeps them), with
        ``data`` beside it (ClawTasker's author key)."""
        await store.count_comment(conn, tenant_id, task.id)
        return await self.record(
            conn, tenant_id,
            NewEvent(kind="task.comment", team_id=task.team_id, task_id=task.id, agent_id=agent_id, user_id=user_id,
                     message=message, data=data),
            out,
        )  # fmt: skip

    async def delete(
        self, tenant_id: UUID, team_id: UUID, task_ids: Sequence[UUID], statuses: Sequence[str], user_id: str
    ) -> list[UUID]:
        """Delete those of ``task_ids`` in the team whose status is one of ``statuses``; records
        ``task.deleted`` for each. The ids deleted."""
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            gone = await store.delete_tasks(conn, tenant_id, team_id, task_ids, statuses)
            for task_id in gone:
                await self.record(
                    conn, tenant_id,
                    NewEvent(kind="task.deleted", team_id=team_id, user_id=user_id or None,
                             data={"task_id": str(task_id)}),
                    out,
                )  # fmt: skip
        await self.announce(out)
        return gone

    # -- approvals --------------------------------------------------------------------------------

    async def request_approval(
        self,
        conn: DbConnection,
        tenant_id: UUID,
        team_id: UUID,
        task_ids: Sequence[UUID],
        out: list[EventRow],
        *,
        agent_id: UUID | None,
        action_type: str,
        payload: Any,
        confidence: float,
        rubric_scores: Any,
        status: str = "pending",
    ) -> UUID:
        """A new approval covering ``task_ids`` (tasks of the team). Raises: NotFound (a task),
        FailedPrecondition (a task has a pending approval: ``details.conflicts``)."""
        ids = list(dict.fromkeys(task_ids))
        known = await store.tasks_of_team(conn, tenant_id, team_id, ids)
        if missing := [str(t) for t in ids if t not in known]:
            raise NotFound(kind="task", id=", ".join(missing))
        approval_id = await store.insert_approval(
            conn, tenant_id, team_id, task_ids=ids, agent_id=agent_id, action_type=action_type, payload=payload,
            confidence=confidence, rubric_scores=rubric_scores, status=status,
        )  # fmt: skip
        if approval_id is None:
            raise _one_pending(await store.pending_conflicts(conn, tenant_id, ids))
        await self.record(
            conn, tenant_id,
            NewEvent(kind="approval.created", team_id=team_id, task_id=ids[0] if ids else None, agent_id=agent_id,
                     data={"approval_id": str(approval_id), "status": status}),
            out,
        )  # fmt: skip
        return approval_id

    async def resolve_approval(
        self,
        conn: DbConnection,
        tenant_id: UUID,
        approval: ApprovalRow,
        status: str,
        by: str,
        out: list[EventRow],
    ) -> None:
        """Set an approval's status. Raises: FailedPrecondition (re-opening it to pending while one
        of its tasks has another pending approval)."""
        if not await store.resolve_approval(conn, tenant_id, approval.id, status, by):
            raise _one_pending(await store.pending_conflicts(conn, tenant_id, approval.task_ids, approval.id))
        await self.record(
            conn, tenant_id,
            NewEvent(kind="approval.updated", team_id=approval.team_id, task_id=approval.task_id, user_id=by or None,
                     data={"approval_id": str(approval.id), "from": approval.status, "to": status}),
            out,
        )  # fmt: skip


def _one_pending(conflicts: list[tuple[UUID, UUID]]) -> FailedPrecondition:
    return FailedPrecondition(
        detail="Each task can have only one pending approval.",
        details={
            "message": "Each task can have only one pending approval.",
            "conflicts": [{"task_id": str(t), "approval_id": str(a)} for t, a in conflicts],
        },
    )


def _s(value: UUID | None) -> str | None:
    return None if value is None else str(value)
