"""ClawTasker's rows beside the shared coordination model: the company row, the write window, the
roster (agents with their presence), CT's task keys (``T-<number>``), links, missions, sprints,
direct threads and their messages, the console's notifications. Every query takes the tenant id."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe

__all__ = [
    "CommentRow",
    "LinkRow",
    "MessageRow",
    "MissionRow",
    "NotificationRow",
    "OrgRow",
    "RosterRow",
    "SprintRow",
    "ThreadRow",
    "dismiss",
    "get_org",
    "health_counts",
    "insert_agent",
    "insert_message",
    "insert_notification",
    "insert_thread",
    "links_of",
    "missions",
    "notifications",
    "project_id",
    "put_org",
    "put_presence",
    "reset",
    "roster",
    "task_id",
    "task_numbers",
    "threads",
]

JSON = dict[str, Any]


class OrgRow(Struct, kw_only=True):
    company_name: str = "ClawGate"
    tagline: str = ""
    ceo_name: str = "CEO"
    ceo_role: str = "Chief Executive"
    chief_agent: str = "orion"
    settings: JSON = {}


class RosterRow(Struct, kw_only=True):
    id: UUID
    agent_key: str
    display_name: str
    emoji: str
    status: str | None
    last_seen_at: datetime | None
    current_task_id: UUID | None
    current_task_number: int | None
    doing_summary: str
    done_summary: str
    next_summary: str
    blockers: list[str]
    speaking: bool
    profile: JSON
    retired_at: datetime | None
    successor_key: str | None


class LinkRow(Struct, kw_only=True):
    src_task_id: UUID
    dst_task_id: UUID
    kind: str
    created_at: datetime


class CommentRow(Struct, kw_only=True):
    task_id: UUID
    id: UUID
    user_id: str | None
    agent_id: UUID | None
    agent_key: str | None
    message: str | None
    data: JSON
    created_at: datetime


class MissionRow(Struct, kw_only=True):
    id: UUID
    key: str
    title: str
    objective: str
    status: str
    priority: int
    horizon: str | None
    source: str
    details: JSON
    created_at: datetime
    updated_at: datetime
    owner_key: str | None
    project_key: str | None
    task_numbers: list[int]


class SprintRow(Struct, kw_only=True):
    id: UUID
    key: str
    name: str
    goal: str
    start_date: date | None
    end_date: date | None
    status: str
    velocity: int | None
    created_at: datetime
    project_key: str | None


class NotificationRow(Struct, kw_only=True):
    id: UUID
    kind: str
    title: str
    body: str
    recipient_id: str
    read: bool
    dismissed: bool
    created_at: datetime
    agent_key: str | None = None


class ThreadRow(Struct, kw_only=True):
    id: UUID
    key: str | None
    title: str
    mode: str
    participants: list[str]
    session_key: str | None
    project_key: str | None
    created_at: datetime


class MessageRow(Struct, kw_only=True):
    id: UUID
    thread_id: UUID
    author_kind: str
    author_id: str
    source: str | None
    content: str
    category: str
    task_id: UUID | None
    task_number: int | None
    directive: JSON | None
    created_at: datetime


async def get_org(conn: asyncpg.Connection, tenant_id: UUID) -> OrgRow:
    """The company row (defaults when never configured)."""
    return maybe(await conn.fetchrow(query("clawtasker.org_get"), tenant_id), OrgRow) or OrgRow()


async def put_org(conn: asyncpg.Connection, tenant_id: UUID, org: OrgRow) -> None:
    await conn.execute(
        query("clawtasker.org_put"), tenant_id, org.company_name, org.tagline, org.ceo_name, org.ceo_role,
        org.chief_agent, org.settings,
    )  # fmt: skip


async def roster(conn: asyncpg.Connection, tenant_id: UUID, key: str | None = None) -> list[RosterRow]:
    """The tenant's live agents with their presence, by key (``key``: only that one)."""
    return many(await conn.fetch(query("clawtasker.roster"), tenant_id, key), RosterRow)


async def insert_agent(
    conn: asyncpg.Connection, tenant_id: UUID, key: str, name: str, emoji: str, description: str
) -> UUID | None:
    """A new agent keyed ``key``; None when a live one has the key already."""
    found: UUID | None = await conn.fetchval(
        query("clawtasker.agent_insert"), tenant_id, key, name, emoji, description
    )
    return found


async def rename_agent(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, name: str, emoji: str
) -> None:
    await conn.execute(query("clawtasker.agent_rename"), tenant_id, agent_id, name, emoji)


async def put_presence(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, status: str, profile: JSON
) -> None:
    await conn.execute(query("clawtasker.presence_put"), tenant_id, agent_id, status, profile)


async def heartbeat(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    agent_id: UUID,
    *,
    status: str,
    current_task_id: UUID | None,
    summaries: tuple[str, str, str],
    blockers: list[str],
    speaking: bool,
    profile: JSON,
) -> None:
    """Check in now (``summaries``: doing, done, next); ``profile`` is merged into the card."""
    doing, done, nxt = summaries
    await conn.execute(
        query("clawtasker.presence_heartbeat"), tenant_id, agent_id, status, current_task_id, doing, done, nxt,
        blockers, speaking, profile,
    )  # fmt: skip


async def assign(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, task: UUID, status: str) -> None:
    """The agent works on ``task`` now, with ``status`` (CT's assignment sync)."""
    await conn.execute(query("clawtasker.presence_assign"), tenant_id, agent_id, task, status)


async def release(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, task: UUID) -> None:
    """The agent no longer works on ``task`` (idle), if it was its current one."""
    await conn.execute(query("clawtasker.presence_release"), tenant_id, agent_id, task)


async def retire(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, *, retired: bool, successor: UUID | None
) -> None:
    await conn.execute(query("clawtasker.presence_retire"), tenant_id, agent_id, retired, successor)


async def transfer_work(
    conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID, to: UUID | None
) -> dict[str, int]:
    """Open tasks owned / validated and missions owned by ``agent_id`` go to ``to`` (None: unassigned)."""
    row = await conn.fetchrow(query("clawtasker.work_transfer"), tenant_id, agent_id, to)
    return {"owned": row["owned"], "validated": row["validated"], "missions": row["missions"]}


async def delete_agent(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> bool:
    return affected(await conn.execute(query("clawtasker.agent_soft_delete"), tenant_id, agent_id)) > 0


async def task_id(conn: asyncpg.Connection, tenant_id: UUID, number: int) -> UUID | None:
    found: UUID | None = await conn.fetchval(query("clawtasker.task_by_number"), tenant_id, number)
    return found


async def task_numbers(conn: asyncpg.Connection, tenant_id: UUID, ids: Sequence[UUID]) -> dict[UUID, int]:
    rows = await conn.fetch(query("clawtasker.task_numbers"), tenant_id, list(ids))
    return {r["id"]: r["number"] for r in rows}


async def set_ct_fields(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    task: UUID,
    *,
    validator: UUID | None,
    mission: UUID | None,
    sprint: UUID | None,
    task_type: str,
) -> None:
    await conn.execute(
        query("clawtasker.task_ct_set"), tenant_id, task, validator, mission, sprint, task_type
    )


async def links_of(conn: asyncpg.Connection, tenant_id: UUID, ids: Sequence[UUID]) -> list[LinkRow]:
    return many(await conn.fetch(query("clawtasker.links_of"), tenant_id, list(ids)), LinkRow)


async def project_id(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> UUID | None:
    found: UUID | None = await conn.fetchval(query("clawtasker.project_by_key"), tenant_id, key)
    return found


async def set_project(
    conn: asyncpg.Connection, tenant_id: UUID, team_id: UUID, name: str, project: JSON
) -> None:
    await conn.execute(query("clawtasker.project_set"), tenant_id, team_id, project, name)


async def comments(
    conn: asyncpg.Connection, tenant_id: UUID, task: UUID | None, limit: int
) -> list[CommentRow]:
    """The newest task comments (of ``task``, else the tenant's), newest first."""
    return many(await conn.fetch(query("clawtasker.comments_recent"), tenant_id, task, limit), CommentRow)


async def missions(conn: asyncpg.Connection, tenant_id: UUID, key: str | None = None) -> list[MissionRow]:
    return many(await conn.fetch(query("clawtasker.missions_select"), tenant_id, key), MissionRow)


async def upsert_mission(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    key: str,
    fields: JSON,
    owner: UUID | None,
    team: UUID | None,
) -> tuple[UUID, bool]:
    """Create or update mission ``key``; (its id, whether it was created)."""
    row = await conn.fetchrow(
        query("clawtasker.mission_upsert"), tenant_id, key, fields["title"], fields["objective"], fields["status"],
        fields["priority"], fields["horizon"], owner, team, fields["details"], fields["source"],
    )  # fmt: skip
    return row["id"], row["created"]


async def stamp_mission(conn: asyncpg.Connection, tenant_id: UUID, mission: UUID, numbers: list[int]) -> None:
    await conn.execute(query("clawtasker.mission_tasks"), tenant_id, mission, numbers)


async def delete_mission(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> bool:
    return await conn.fetchval(query("clawtasker.mission_delete"), tenant_id, key) is not None


async def sprints(conn: asyncpg.Connection, tenant_id: UUID, key: str | None = None) -> list[SprintRow]:
    return many(await conn.fetch(query("clawtasker.sprints_select"), tenant_id, key), SprintRow)


async def upsert_sprint(
    conn: asyncpg.Connection, tenant_id: UUID, key: str, fields: JSON, team: UUID | None
) -> UUID:
    found: UUID = await conn.fetchval(
        query("clawtasker.sprint_upsert"), tenant_id, key, fields["name"], fields["goal"], fields["start_date"],
        fields["end_date"], fields["status"], fields["velocity"], team,
    )  # fmt: skip
    return found


async def sprint_count(conn: asyncpg.Connection, tenant_id: UUID) -> int:
    """The tenant's sprints, counted under a lock held until the transaction ends (the next key)."""
    await conn.execute(query("clawtasker.sprint_lock"), tenant_id)
    found: int = await conn.fetchval(query("clawtasker.sprint_count"), tenant_id)
    return found


async def sprint_velocity(conn: asyncpg.Connection, tenant_id: UUID, sprint: UUID) -> int:
    found: int = await conn.fetchval(query("clawtasker.sprint_velocity"), tenant_id, sprint)
    return found


async def delete_sprint(conn: asyncpg.Connection, tenant_id: UUID, key: str) -> bool:
    return await conn.fetchval(query("clawtasker.sprint_delete"), tenant_id, key) is not None


async def notifications(conn: asyncpg.Connection, tenant_id: UUID) -> list[NotificationRow]:
    return many(await conn.fetch(query("clawtasker.notifications_select"), tenant_id), NotificationRow)


async def insert_notification(
    conn: asyncpg.Connection, tenant_id: UUID, kind: str, title: str, body: str
) -> UUID:
    found: UUID = await conn.fetchval(query("clawtasker.notification_insert"), tenant_id, kind, title, body)
    return found


async def dismiss(conn: asyncpg.Connection, tenant_id: UUID, notification: UUID | None) -> int:
    return affected(await conn.execute(query("clawtasker.notifications_dismiss"), tenant_id, notification))


async def threads(conn: asyncpg.Connection, tenant_id: UUID) -> list[ThreadRow]:
    return many(await conn.fetch(query("clawtasker.threads_select"), tenant_id), ThreadRow)


async def find_thread(
    conn: asyncpg.Connection, tenant_id: UUID, key: str | None, participants: list[str]
) -> tuple[UUID, str, list[str]] | None:
    """A direct thread by key, else by its participants: (id, key, participants)."""
    row = await conn.fetchrow(query("clawtasker.thread_find"), tenant_id, key, participants)
    return None if row is None else (row["id"], row["key"] or "", list(row["participants"]))


async def health_counts(conn: asyncpg.Connection, tenant_id: UUID) -> tuple[int, int]:
    """The tenant's live agents and its tasks, counted in SQL (``GET /api/health``)."""
    row = await conn.fetchrow(query("clawtasker.health_counts"), tenant_id)
    return int(row["agents"]), int(row["tasks"])


async def insert_thread(
    conn: asyncpg.Connection, tenant_id: UUID, key: str, title: str, mode: str, participants: list[str],
    session_key: str,
) -> UUID:  # fmt: skip
    found: UUID = await conn.fetchval(
        query("clawtasker.thread_insert"), tenant_id, key, title, mode, participants, session_key
    )
    return found


async def messages(
    conn: asyncpg.Connection, tenant_id: UUID, directives_only: bool = False
) -> list[MessageRow]:
    """The newest 80 messages of each direct thread, oldest first."""
    return many(await conn.fetch(query("clawtasker.messages_recent"), tenant_id, directives_only), MessageRow)


async def insert_message(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    thread: UUID,
    *,
    author_kind: str,
    author_id: str,
    source: str,
    content: str,
    category: str,
    task: UUID | None = None,
    directive: JSON | None = None,
) -> tuple[UUID, datetime]:
    row = await conn.fetchrow(
        query("clawtasker.message_insert"), tenant_id, thread, author_kind, author_id, source, content, category,
        task, directive,
    )  # fmt: skip
    return row["id"], row["created_at"]


async def reset(conn: asyncpg.Connection, tenant_id: UUID) -> None:
    """Blank reset: the tenant's teams (with their tasks), missions, sprints, threads, notifications,
    CT cards and company row. ClawGate's agents themselves stay."""
    await conn.execute(query("clawtasker.reset"), tenant_id)
