"""Teams (GoClaw teams, Mission Control boards, ClawTasker projects): the team rows with their lead
and member count, agent membership (one lead per team, a partial unique index), users' access to a
team, and what a team has seen (known users, task scopes). Every query takes the tenant id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.errors import AlreadyExists, NotFound
from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe

__all__ = [
    "AttachmentRow",
    "BoardFields",
    "MemberRow",
    "NewAttachment",
    "ScopeRow",
    "TeamRow",
    "agent_exists",
    "attachment_counts",
    "attachments",
    "can_write",
    "delete_team",
    "get_team",
    "insert_team",
    "known_users",
    "led_by",
    "list_members",
    "list_teams",
    "lock_team",
    "put_access",
    "put_attachment",
    "put_member",
    "remove_member",
    "scopes",
    "set_board",
    "update_team",
]

JSON = dict[str, Any]


class BoardFields(Struct, kw_only=True):
    """Mission Control's board fields (``set_board`` writes them all)."""

    name: str
    slug: str
    description: str
    gateway_id: UUID | None
    board_group_id: UUID | None
    board_type: str
    objective: str | None
    success_metrics: Any
    target_date: datetime | None
    goal_confirmed: bool
    goal_source: str | None
    require_approval_for_done: bool
    require_review_before_done: bool
    comment_required_for_review: bool
    block_status_changes_with_pending_approval: bool
    only_lead_can_change_status: bool
    max_agents: int


class TeamRow(BoardFields, kw_only=True):
    """A team with its lead (the member of role ``lead``, None when it has none) and member count."""

    id: UUID
    tenant_id: UUID
    kind: str
    key: str | None
    status: str
    settings: JSON
    project: JSON
    created_by: str
    created_at: datetime
    updated_at: datetime
    lead_agent_id: UUID | None
    lead_agent_key: str | None
    lead_display_name: str | None
    member_count: int


class MemberRow(Struct, kw_only=True):
    team_id: UUID
    agent_id: UUID
    role: str
    joined_at: datetime
    agent_key: str
    display_name: str
    agent_description: str
    emoji: str


class AttachmentRow(Struct, kw_only=True):
    """A task attachment: a file of the team's workspace (``path``, relative to it) linked to a task."""

    id: UUID
    team_id: UUID
    task_id: UUID
    chat_id: str
    path: str
    file_name: str
    mime_type: str
    size: int
    created_by: str
    created_at: datetime


class NewAttachment(Struct, kw_only=True):
    """The file an attachment links: ``path`` relative to the team's workspace, in ``chat_id``'s folder."""

    chat_id: str
    path: str
    file_name: str
    mime_type: str
    size: int


class ScopeRow(Struct, kw_only=True):
    channel: str
    chat_id: str
    task_count: int


async def insert_team(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    kind: str,
    name: str,
    slug: str,
    description: str,
    settings: JSON,
    created_by: str,
    group_id: UUID | None = None,
    key: str | None = None,
) -> UUID:
    """A new team. Raises: AlreadyExists (a CT project key taken)."""
    try:
        found: UUID = await conn.fetchval(
            query("teams.team_insert"), tenant_id, kind, name, slug, description, settings, created_by,
            group_id, key,
        )  # fmt: skip
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="team", id=key or name) from None
    return found


async def get_team(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID) -> TeamRow | None:
    return maybe(await conn.fetchrow(query("teams.teams_select"), tenant_id, team_id, None, 1, 0), TeamRow)


async def list_teams(
    conn: asyncpg.Connection, tenant_id: UUID, reader: str | None, limit: int = 1000, offset: int = 0
) -> list[TeamRow]:
    """The tenant's teams, oldest first; ``reader`` set: only those that user may read (an access
    row, or a team they made)."""
    return many(
        await conn.fetch(query("teams.teams_select"), tenant_id, None, reader, limit, offset), TeamRow
    )


async def lock_team(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID) -> bool:
    """Lock the team's row for the transaction. Returns whether it exists."""
    return await conn.fetchval(query("teams.team_lock"), tenant_id, team_id) is not None


async def update_team(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    team_id: UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    settings: JSON | None = None,
    status: str | None = None,
) -> bool:
    """Change the fields given (None keeps one). Returns whether the team exists."""
    done = await conn.execute(
        query("teams.team_update"), tenant_id, team_id, name, description, settings, status
    )
    return affected(done) > 0


async def delete_team(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID) -> bool:
    return affected(await conn.execute(query("teams.team_delete"), tenant_id, team_id)) > 0


async def put_member(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, agent_id: UUID, role: str
) -> None:
    """Add an agent to the team, or change its role. Raises: AlreadyExists (a second lead)."""
    try:
        await conn.execute(query("teams.member_put"), tenant_id, team_id, agent_id, role)
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="team lead", id=str(team_id)) from None


async def remove_member(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, agent_id: UUID
) -> str | None:
    """Remove an agent from the team; its role, or None when it was not a member."""
    role: str | None = await conn.fetchval(query("teams.member_remove"), tenant_id, team_id, agent_id)
    return role


async def list_members(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID) -> list[MemberRow]:
    """The team's agents, the lead first."""
    return many(await conn.fetch(query("teams.members_list"), tenant_id, team_id), MemberRow)


async def led_by(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> tuple[UUID, str] | None:
    """The (id, name) of the team the agent leads, if any."""
    row = await conn.fetchrow(query("teams.led_by"), tenant_id, agent_id)
    return None if row is None else (row["id"], row["name"])


async def put_access(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, user_id: str, can_read: bool, can_write: bool
) -> None:
    await conn.execute(query("teams.access_put"), tenant_id, team_id, user_id, can_read, can_write)


async def known_users(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, limit: int) -> list[str]:
    """The users the team has seen (task authors, event actors), the most recent first."""
    return [r["user_id"] for r in await conn.fetch(query("teams.known_users"), tenant_id, team_id, limit)]


async def scopes(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID) -> list[ScopeRow]:
    """The (channel, chat id) pairs the team's tasks came from, the most recent first."""
    return many(await conn.fetch(query("teams.scopes"), tenant_id, team_id), ScopeRow)


async def readers(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID) -> frozenset[str]:
    """The users who may read the team, besides admins and owners (``teams_select``'s rule as a set)."""
    return frozenset(r["user_id"] for r in await conn.fetch(query("teams.readers"), tenant_id, team_id))


async def can_write(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, user_id: str) -> bool:
    """Whether the user may change the team: its author, or given write access."""
    return bool(await conn.fetchval(query("teams.can_write"), tenant_id, team_id, user_id))


async def set_board(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, board: BoardFields) -> None:
    """Write a board's fields. Raises: NotFound (a board group that does not exist)."""
    try:
        await conn.execute(
        query("teams.board_set"), tenant_id, team_id, board.name, board.slug, board.description, board.gateway_id,
            board.board_group_id, board.board_type, board.objective, board.success_metrics, board.target_date,
        board.goal_confirmed, board.goal_source, board.require_approval_for_done, board.require_review_before_done,
        board.comment_required_for_review, board.block_status_changes_with_pending_approval,
        board.only_lead_can_change_status, board.max_agents,
        )  # fmt: skip
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(kind="board group", id=str(board.board_group_id)) from None


async def agent_exists(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> bool:
    return bool(await conn.fetchval(query("teams.agent_exists"), tenant_id, agent_id))


async def put_attachment(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    team_id: UUID,
    task_id: UUID,
    file: NewAttachment,
    created_by: str,
) -> UUID:
    """Link the workspace file ``file.path`` to the task (again: refresh it); the attachment's id."""
    found: UUID = await conn.fetchval(
        query("teams.attachment_put"), tenant_id, team_id, task_id, file.chat_id, file.path, file.file_name,
        file.mime_type, file.size, created_by,
    )  # fmt: skip
    return found


async def attachments(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, *, attachment_id: UUID | None = None,
    task_id: UUID | None = None,
) -> list[AttachmentRow]:  # fmt: skip
    """The team's attachments: one, a task's, or all; oldest first."""
    rows = await conn.fetch(query("teams.attachments_select"), tenant_id, team_id, attachment_id, task_id)
    return many(rows, AttachmentRow)


async def attachment_counts(conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID) -> dict[UUID, int]:
    """The number of attachments of each task of the team that has any."""
    return {
        r["task_id"]: r["n"] for r in await conn.fetch(query("teams.attachment_counts"), tenant_id, team_id)
    }
