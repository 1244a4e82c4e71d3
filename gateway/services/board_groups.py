"""Mission Control's board groups (reference 1.2, 1.5, 2.6): the groups, the board and group read
models (snapshots), the group heartbeat, and group memory with its chat notifications.

- A group is a ``team_groups`` row; a board joins one through its ``board_group_id``.
- Access follows the boards: admins reach every group of their tenant; other callers a group with
  a board they may read (else 404), and write its memory when they may write one of its boards.
- Group memory is the group's thread. A chat (tag ``chat``), a broadcast (tag ``broadcast``) or an
  ``@all`` reaches agents as runs through the board loop: a broadcast every agent of the group's
  boards, otherwise the boards' leads and the @mentioned agents; never the author.
- The group heartbeat sets ``every`` on each agent's MC heartbeat config and turns the agent's
  ClawGate heartbeat (``clawgate.services.heartbeat``) on at that interval, so the scheduler really
  runs it that often.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from uuid import UUID

from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.errors import GatewayError, NotFound, invalid_field
from clawgate.principal import Principal, Role
from clawgate.services import board_loop as notify
from clawgate.services import require
from clawgate.services.agent_api import (
    AgentCaller,
    AgentRead,
    MemoryCreate,
    MemoryRead,
    agent_out,
    chat_tags,
    memory_out,
)
from clawgate.services.board_loop import BoardLoop, Member, Notice
from clawgate.services.boards import ApprovalRead, BoardRead, BoardService, TaskRead, board_out
from clawgate.services.heartbeat import HeartbeatService, HeartbeatSetParams
from clawgate.services.tags import slugify
from clawgate.services.tasks import TaskService
from clawgate.store import Database, DbConnection
from clawgate.store import agent_api as agent_store
from clawgate.store import board_groups as store
from clawgate.store import teams as team_store
from clawgate.store.agent_api import MemoryFields, MemoryRow
from clawgate.store.board_groups import GroupAgent, GroupRow
from clawgate.store.coord_events import EventRow, NewEvent

__all__ = [
    "BoardGroupCreate",
    "BoardGroupPatch",
    "BoardGroupRead",
    "BoardGroupService",
    "BoardSnapshot",
    "GroupMemoryRead",
    "GroupSnapshot",
    "HeartbeatApplied",
    "HeartbeatApply",
]

Name = Annotated[str, Meta(min_length=1, max_length=255)]
_EVERY: Final = re.compile(r"^(\d{1,6})(s|m|h|d)$")
_UNIT: Final = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
GROUP: Final = "team_group"
"""The scope of a board group's memory thread."""
MIN_EVERY: Final = 300
"""ClawGate's heartbeat floor (GoClaw's ``intervalSec`` minimum): a shorter ``every`` is 422."""
STATUS_ORDER: Final = {"in_progress": 0, "review": 1, "inbox": 2, "done": 3}
PRIORITY_ORDER: Final = {"high": 0, "medium": 1, "low": 2}
_HEADS: Final = {"broadcast": "GROUP BROADCAST", "chat_mention": "GROUP CHAT MENTION", "chat": "GROUP CHAT"}
SNAPSHOT_TASKS: Final = 1000
"""A board snapshot lists this many tasks at most (newest first)."""


class BoardGroupRead(Struct, kw_only=True):
    id: UUID
    organization_id: UUID
    name: str
    slug: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class BoardGroupCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    slug: Annotated[str, Meta(max_length=255)] | None = None
    description: Annotated[str, Meta(max_length=20_000)] | None = None


class BoardGroupPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """Absent keeps a field; a blank ``slug`` is made again from the name."""

    name: Name | UnsetType = UNSET
    slug: Annotated[str, Meta(max_length=255)] | UnsetType | None = UNSET
    description: Annotated[str, Meta(max_length=20_000)] | UnsetType | None = UNSET


class GroupMemoryRead(MemoryFields, kw_only=True):
    """MC's ``BoardGroupMemoryRead``."""

    board_group_id: UUID


class HeartbeatApply(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``BoardGroupHeartbeatApply``: ``every`` as ``10m`` (s, m, h or d; at least 5 minutes)."""

    every: Annotated[str, Meta(min_length=2, max_length=16)]
    include_board_leads: bool = False
    target: Annotated[str, Meta(max_length=64)] | None = None


class HeartbeatApplied(Struct, kw_only=True):
    board_group_id: UUID
    requested: dict[str, Any]
    updated_agent_ids: list[UUID]
    failed_agent_ids: list[UUID]


class TaskCardRead(TaskRead, kw_only=True):
    """MC's ``TaskCardRead``: a task with its assignee's name and approval counts."""

    assignee: str | None
    approvals_count: int
    approvals_pending_count: int


class BoardSnapshot(Struct, kw_only=True):
    board: BoardRead
    tasks: list[TaskCardRead]
    agents: list[AgentRead]
    approvals: list[ApprovalRead]
    chat_messages: list[MemoryRead]
    pending_approvals_count: int


class GroupTaskSummary(Struct, kw_only=True):
    id: UUID
    board_id: UUID
    board_name: str
    title: str
    status: str
    priority: str
    assigned_agent_id: UUID | None
    assignee: str | None
    due_at: datetime | None
    in_progress_at: datetime | None
    created_at: datetime
    updated_at: datetime


class GroupBoardSnapshot(Struct, kw_only=True):
    board: BoardRead
    task_counts: dict[str, int]
    tasks: list[GroupTaskSummary]


class GroupSnapshot(Struct, kw_only=True):
    group: BoardGroupRead | None
    boards: list[GroupBoardSnapshot]


def group_out(row: GroupRow) -> BoardGroupRead:
    return BoardGroupRead(id=row.id, organization_id=row.tenant_id, name=row.name, slug=row.slug,
                          description=row.description or None, created_at=row.created_at,
                          updated_at=row.updated_at)  # fmt: skip


def group_memory_out(group_id: UUID, row: MemoryRow) -> GroupMemoryRead:
    fields = {f: getattr(row, f) for f in MemoryFields.__struct_fields__}
    return GroupMemoryRead(**fields, board_group_id=group_id)


def every_seconds(every: str) -> int:
    """MC's ``every`` (``10m``) in seconds. Raises: InvalidRequest (malformed, under 5 minutes)."""
    found = _EVERY.match(every.strip())
    if found is None:
        raise invalid_field("$.every", "every is a number and a unit: s, m, h or d (10m)")
    seconds = int(found.group(1)) * _UNIT[found.group(2)]
    if not MIN_EVERY <= seconds <= 30 * 86_400:
        raise invalid_field("$.every", "every must be between 5m and 30d")
    return seconds


def group_notices(
    text: str, tags: list[str], author: UUID | None, agents: list[GroupAgent], group: GroupRow, author_name: str
) -> list[tuple[UUID, Notice]]:  # fmt: skip
    """Who hears of a group memory entry (reference 2.6), each with the board it is heard on: a
    broadcast (tag ``broadcast`` or ``@all``) every agent of the group's boards; a chat the leads
    and the @mentioned agents; never the author; an agent on several boards once."""
    members = [Member(a.agent_id, a.display_name or a.agent_key, a.role, a.agent_key) for a in agents]
    named = notify.mentioned(text, members)
    broadcast = "broadcast" in tags or re.search(r"(?<![\w@])@all\b", text, re.IGNORECASE) is not None
    out: dict[UUID, tuple[UUID, Notice]] = {}
    for a in agents:
        if a.agent_id == author or a.agent_id in out:
            continue
        if not (broadcast or a.role == "lead" or a.agent_id in named):
            continue
        kind = "broadcast" if broadcast else "chat_mention" if a.agent_id in named else "chat"
        head = _HEADS[kind]
        body = (f"{head}\nGroup: {group.name}\nGroup ID: {group.id}\nFrom: {author_name}\n\n"
                f"{notify.cut(text.strip(), notify.CHAT_SNIPPET)}\n\n"
                f"Reply via group chat (shared across the group's boards): POST "
                f"/api/v1/agent/boards/{a.board_id}/group-memory with tags [\"chat\"].")  # fmt: skip
        out[a.agent_id] = (a.board_id, Notice(a.agent_id, f"group.{kind}", head, body, by_agent=author))
    return list(out.values())


class BoardGroupService:
    """Board groups, snapshots, the group heartbeat and group memory."""

    def __init__(
        self, db: Database, boards: BoardService, tasks: TaskService, heartbeat: HeartbeatService
    ) -> None:
        self._db = db
        self._boards = boards
        self._tasks = tasks
        self._heartbeat = heartbeat

    # -- groups -----------------------------------------------------------------------------------

    async def _group(self, conn: DbConnection, who: Principal, group_id: UUID) -> GroupRow:
        row = await store.get_group(conn, who.tenant_id, group_id, None if who.sees_all else who.coord_user)
        if row is None:
            raise NotFound(kind="board group", id=str(group_id))
        return row

    async def group(self, who: Principal, group_id: UUID) -> BoardGroupRead:
        """Raises: NotFound (not the tenant's, or no board of it the caller may read)."""
        async with self._db.connection() as conn:
            return group_out(await self._group(conn, who, group_id))

    async def list_groups(self, who: Principal, limit: int, offset: int) -> tuple[list[BoardGroupRead], int]:
        async with self._db.connection() as conn:
            rows = await store.list_groups(
                conn, who.tenant_id, None if who.sees_all else who.coord_user, limit, offset
            )
        return [group_out(r) for r in rows], rows[0].total if rows else 0

    async def create_group(self, who: Principal, body: BoardGroupCreate) -> BoardGroupRead:
        require(who, Role.ADMIN, "create a board group")
        slug = (body.slug or "").strip() or slugify(body.name, "group")
        async with self._db.transaction() as conn:
            row = await store.insert_group(conn, who.tenant_id, body.name, slug, body.description or "")
        return group_out(row)

    async def update_group(self, who: Principal, group_id: UUID, body: BoardGroupPatch) -> BoardGroupRead:
        require(who, Role.ADMIN, "change a board group")
        async with self._db.transaction() as conn:
            row = await self._group(conn, who, group_id)
            name = row.name if body.name is UNSET else body.name
            slug = row.slug if body.slug is UNSET else (body.slug or "").strip() or slugify(name, "group")
            description = row.description if body.description is UNSET else body.description or ""
            updated = await store.update_group(conn, who.tenant_id, group_id, name, slug, description)
        assert updated is not None
        return group_out(updated)

    async def delete_group(self, who: Principal, group_id: UUID) -> None:
        """Its boards leave it (they stay); its memory goes."""
        require(who, Role.ADMIN, "delete a board group")
        async with self._db.transaction() as conn:
            await self._group(conn, who, group_id)
            await store.delete_group(conn, who.tenant_id, group_id)

    # -- read models ------------------------------------------------------------------------------

    async def board_snapshot(self, who: Principal, board_id: UUID) -> BoardSnapshot:
        """MC's board view model: the board, its tasks as cards, agents, approvals, chat."""
        board = await self._boards.board(who, board_id)
        tasks, _ = await self._boards.list_tasks(who, board_id, None, None, SNAPSHOT_TASKS, 0)
        approvals, _ = await self._boards.list_approvals(who, board_id, None, 200, 0)
        async with self._db.connection() as conn:
            agents = await agent_store.board_agents(conn, who.tenant_id, [board_id])
            chat = await agent_store.list_memory(conn, who.tenant_id, board_id, True, 200, 0)
        now = datetime.now(UTC)
        names = {a.id: a.display_name or a.agent_key for a in agents}
        cards = []
        for t in tasks:
            linked = [a for a in approvals if t.id in a.task_ids]
            cards.append(TaskCardRead(**{f: getattr(t, f) for f in TaskRead.__struct_fields__},
                                      assignee=names.get(t.assigned_agent_id) if t.assigned_agent_id else None,
                                      approvals_count=len(linked),
                                      approvals_pending_count=sum(a.status == "pending" for a in linked)))  # fmt: skip
        return BoardSnapshot(
            board=board_out(board), tasks=cards,
            agents=[agent_out(a, now) for a in agents],
            approvals=approvals, chat_messages=[memory_out(board_id, m) for m in reversed(chat)],
            pending_approvals_count=sum(a.status == "pending" for a in approvals),
        )  # fmt: skip

    async def group_snapshot(
        self, who: Principal, group_id: UUID, include_done: bool, per_board: int, exclude: UUID | None = None
    ) -> GroupSnapshot:
        """MC's group view model: each board the caller may read with its task counts by status and
        its first ``per_board`` tasks (in progress, review, inbox, done; then high to low)."""
        async with self._db.connection() as conn:
            group = await self._group(conn, who, group_id)
            ids = await store.board_ids(conn, who.tenant_id, group_id)
            readable = None if who.sees_all else {t.id for t in await team_store.list_teams(conn, who.tenant_id,
                                                                                              who.coord_user)}  # fmt: skip
            agents = await agent_store.board_agents(conn, who.tenant_id, ids) if ids else []
        names = {a.id: a.display_name or a.agent_key for a in agents}
        boards = []
        for board_id in ids:
            if board_id == exclude or (readable is not None and board_id not in readable):
                continue
            board = await self._boards.board(who, board_id)
            tasks, _ = await self._boards.list_tasks(who, board_id, None, None, SNAPSHOT_TASKS, 0)
            counts = dict.fromkeys(STATUS_ORDER, 0)
            for t in tasks:
                counts[t.status] = counts.get(t.status, 0) + 1
            shown = [t for t in tasks if include_done or t.status != "done"]
            shown.sort(key=lambda t: -t.updated_at.timestamp())
            shown.sort(key=lambda t: (STATUS_ORDER.get(t.status, 9), PRIORITY_ORDER.get(t.priority, 9)))
            summaries = [
                GroupTaskSummary(id=t.id, board_id=board_id, board_name=board.name, title=t.title, status=t.status,
                                 priority=t.priority, assigned_agent_id=t.assigned_agent_id,
                                 assignee=names.get(t.assigned_agent_id) if t.assigned_agent_id else None,
                                 due_at=t.due_at, in_progress_at=t.in_progress_at, created_at=t.created_at,
                                 updated_at=t.updated_at)
                for t in shown[:per_board]
            ]  # fmt: skip
            boards.append(GroupBoardSnapshot(board=board_out(board), task_counts=counts, tasks=summaries))
        return GroupSnapshot(group=group_out(group), boards=boards)

    async def board_group_snapshot(
        self, who: Principal, board_id: UUID, include_self: bool, include_done: bool, per_board: int
    ) -> GroupSnapshot:
        """The snapshot of the board's group (without the board unless ``include_self``); a board in
        no group has an empty one."""
        board = await self._boards.board(who, board_id)
        if board.board_group_id is None:
            return GroupSnapshot(group=None, boards=[])
        return await self.group_snapshot(
            who, board.board_group_id, include_done, per_board, None if include_self else board_id
        )

    # -- heartbeat --------------------------------------------------------------------------------

    async def apply_heartbeat(self, who: Principal, group_id: UUID, body: HeartbeatApply) -> HeartbeatApplied:
        """Every agent of the group's boards (leads only with ``include_board_leads``) gets MC's
        ``every`` and its ClawGate heartbeat on at that interval. An agent whose heartbeat could not
        be set is in ``failed_agent_ids``. Raises: Forbidden (not an admin), NotFound,
        InvalidRequest (``every``)."""
        require(who, Role.ADMIN, "apply a board group heartbeat")
        seconds = every_seconds(body.every)
        async with self._db.connection() as conn:
            await self._group(conn, who, group_id)
            rows = await store.group_agents(conn, who.tenant_id, group_id)
        leads = {r.agent_id for r in rows if r.role == "lead"}
        agents = list(
            dict.fromkeys(r.agent_id for r in rows if body.include_board_leads or r.agent_id not in leads)
        )
        updated: list[UUID] = []
        failed: list[UUID] = []
        for agent_id in agents:
            try:
                await self._heartbeat.set(
                    who, HeartbeatSetParams(agentId=str(agent_id), enabled=True, intervalSec=seconds)
                )
                async with self._db.transaction() as conn:
                    await store.set_heartbeat_every(conn, who.tenant_id, agent_id, body.every.strip())
            except GatewayError:
                failed.append(agent_id)
            else:
                updated.append(agent_id)
        requested = {
            "every": body.every,
            "include_board_leads": body.include_board_leads,
            "target": body.target,
        }
        return HeartbeatApplied(board_group_id=group_id, requested=requested, updated_agent_ids=updated,
                                failed_agent_ids=failed)  # fmt: skip

    # -- group memory -----------------------------------------------------------------------------

    async def memory(
        self, who: Principal, group_id: UUID, is_chat: bool | None, limit: int, offset: int
    ) -> tuple[list[GroupMemoryRead], int]:
        async with self._db.connection() as conn:
            await self._group(conn, who, group_id)
            rows = await agent_store.list_memory(conn, who.tenant_id, group_id, is_chat, limit, offset, GROUP)
        return [group_memory_out(group_id, r) for r in rows], rows[0].total if rows else 0

    async def memory_entry(self, tenant_id: UUID, group_id: UUID, memory_id: UUID) -> GroupMemoryRead | None:
        """One entry (the stream's frame), None when it is gone."""
        async with self._db.connection() as conn:
            rows = await agent_store.list_memory(conn, tenant_id, group_id, None, 1, 0, GROUP, memory_id)
        return group_memory_out(group_id, rows[0]) if rows else None

    async def post_memory(self, who: Principal, group_id: UUID, body: MemoryCreate) -> GroupMemoryRead:
        """A user's entry: needs write access to one of the group's boards (or to all)."""
        async with self._db.connection() as conn:
            await self._group(conn, who, group_id)
            if not who.sees_all:
                ids = await store.board_ids(conn, who.tenant_id, group_id)
                if not any([await team_store.can_write(conn, who.tenant_id, b, who.coord_user) for b in ids]):
                    raise NotFound(kind="board group", id=str(group_id))
        return await self._post(who.tenant_id, group_id, body, None, who.user_id or "User", who.coord_user)

    async def board_group_id(self, who: Principal, board_id: UUID) -> UUID:
        """The group of a board the caller reaches. Raises: NotFound, InvalidRequest (no group)."""
        board = await self._boards.board(who, board_id)
        if board.board_group_id is None:
            raise invalid_field("$.board_id", "Board is not in a board group")
        return board.board_group_id

    async def agent_memory(
        self, caller: AgentCaller, board_id: UUID, is_chat: bool | None, limit: int, offset: int
    ) -> tuple[list[GroupMemoryRead], int]:
        """The memory of the group of one of the agent's boards. Raises: Forbidden, InvalidRequest."""
        caller.actor(board_id)
        group_id = await self.board_group_id(caller.principal, board_id)
        return await self.memory(caller.principal, group_id, is_chat, limit, offset)

    async def agent_post_memory(
        self, caller: AgentCaller, board_id: UUID, body: MemoryCreate
    ) -> GroupMemoryRead:
        caller.actor(board_id)
        group_id = await self.board_group_id(caller.principal, board_id)
        return await self._post(caller.tenant_id, group_id, body, caller.agent_id, caller.name, None)

    async def _post(
        self, tenant_id: UUID, group_id: UUID, body: MemoryCreate, agent_id: UUID | None, name: str,
        user_id: str | None,
    ) -> GroupMemoryRead:  # fmt: skip
        chat, tags = chat_tags(body)
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            group = await store.get_group(conn, tenant_id, group_id)
            if group is None:
                raise NotFound(kind="board group", id=str(group_id))
            agents = await store.group_agents(conn, tenant_id, group_id)
            notices = group_notices(body.content, tags, agent_id, agents, group, name)
            loud = chat or any(n.kind == "group.broadcast" for _, n in notices)
            row = await agent_store.insert_memory(
                conn, tenant_id, group_id, scope=GROUP, author_kind="agent" if agent_id else "user",
                author_id=str(agent_id) if agent_id else user_id or "", source=body.source or (name if loud else None),
                content=body.content, tags=tags, is_chat=chat,
            )  # fmt: skip
            await TaskService.record(
                conn, tenant_id,
                NewEvent(kind="group.memory", group_id=group_id, agent_id=agent_id, user_id=user_id,
                         message=body.content[:500], data={"memory_id": str(row.id), "is_chat": chat}),
                out,
            )  # fmt: skip
            if loud and self._boards.loop is not None:
                for board_id, notice in notices:
                    await BoardLoop.queue(conn, tenant_id, out[-1].seq, board_id, [notice], ids)
        await self._boards.after_commit(out, ids)
        return group_memory_out(group_id, row)
