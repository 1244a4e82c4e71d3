"""Mission Control's organisation: the tenant's members (MC users) with their per-board access
(``team_access``), invites (the token stored as its SHA-256) and MC's gateway records (the token
as the ``SecretBox`` ciphertext the service hands in). Every query takes the tenant id."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe

__all__ = [
    "AccessRow",
    "GatewayRow",
    "GatewayValues",
    "InviteRow",
    "MemberRow",
    "Profile",
    "access_of",
    "boards_found",
    "claim_invite",
    "clear_access",
    "delete_gateway",
    "delete_invite",
    "delete_member",
    "email_is_member",
    "ensure_self_gateway",
    "gateway",
    "gateways_page",
    "get_member",
    "insert_gateway",
    "insert_invite",
    "invites_page",
    "lock_members",
    "lock_owners",
    "members_page",
    "merge_access",
    "merge_member",
    "set_flags",
    "set_gateway",
    "set_profile",
    "set_role",
    "wipe",
]


class Profile(Struct, kw_only=True):
    """Mission Control's profile fields of a user (kept on its member row)."""

    email: str | None
    name: str | None
    preferred_name: str | None
    pronouns: str | None
    timezone: str | None
    notes: str | None
    context: str | None


class MemberRow(Profile, kw_only=True):
    id: UUID
    tenant_id: UUID
    user_id: str
    role: str
    all_teams_read: bool
    all_teams_write: bool
    created_at: datetime
    updated_at: datetime
    total: int = 0


class AccessRow(Struct, kw_only=True):
    board_id: UUID
    can_read: bool
    can_write: bool
    created_at: datetime


class InviteRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    invited_email: str
    role: str
    all_teams_read: bool
    all_teams_write: bool
    team_access: list[dict[str, Any]]
    created_by: str
    accepted_by: str | None
    accepted_at: datetime | None
    created_at: datetime
    total: int = 0


class GatewayValues(Struct, kw_only=True):
    """A gateway's writable fields; ``token`` is the stored ciphertext ('' for none)."""

    name: str
    url: str
    token: str
    workspace_root: str
    allow_insecure_tls: bool
    disable_device_pairing: bool


class GatewayRow(GatewayValues, kw_only=True):
    id: UUID
    tenant_id: UUID
    is_self: bool
    created_at: datetime
    updated_at: datetime
    total: int = 0


# -- members ------------------------------------------------------------------------------------------


async def merge_member(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: str, role: str, all_read: bool, all_write: bool
) -> MemberRow | None:
    """The member ``user_id`` raised to at least ``role`` and the flags (made when missing); None
    only while a concurrent first insert is not visible to this statement (ask again)."""
    row = await conn.fetchrow(query("mc_org.member_merge"), tenant_id, user_id, role, all_read, all_write)
    return maybe(row, MemberRow)


async def get_member(conn: asyncpg.Connection, tenant_id: UUID, member_id: UUID) -> MemberRow | None:
    return maybe(await conn.fetchrow(query("mc_org.member_get"), tenant_id, member_id), MemberRow)


async def members_page(conn: asyncpg.Connection, tenant_id: UUID, limit: int, offset: int) -> list[MemberRow]:
    return many(await conn.fetch(query("mc_org.members_page"), tenant_id, limit, offset), MemberRow)


async def set_profile(conn: asyncpg.Connection, tenant_id: UUID, user_id: str, p: Profile) -> None:
    """All of user ``user_id``'s profile fields."""
    await conn.execute(
        query("mc_org.member_profile"), tenant_id, user_id, p.email, p.name, p.preferred_name, p.pronouns,
        p.timezone, p.notes, p.context,
    )  # fmt: skip


async def set_role(conn: asyncpg.Connection, tenant_id: UUID, member_id: UUID, role: str) -> None:
    await conn.execute(query("mc_org.member_role"), tenant_id, member_id, role)


async def set_flags(
    conn: asyncpg.Connection, tenant_id: UUID, member_id: UUID, all_read: bool, all_write: bool
) -> None:
    await conn.execute(query("mc_org.member_flags"), tenant_id, member_id, all_read, all_write)


async def delete_member(conn: asyncpg.Connection, tenant_id: UUID, member_id: UUID) -> bool:
    return affected(await conn.execute(query("mc_org.member_delete"), tenant_id, member_id)) > 0


async def lock_owners(conn: asyncpg.Connection, tenant_id: UUID) -> list[UUID]:
    """The owners' member ids, their rows locked until the transaction ends."""
    return [r["id"] for r in await conn.fetch(query("mc_org.owners_lock"), tenant_id)]


async def lock_members(conn: asyncpg.Connection, tenant_id: UUID) -> list[UUID]:
    """Every member id of the tenant, the rows locked until the transaction ends."""
    return [r["id"] for r in await conn.fetch(query("mc_org.members_lock"), tenant_id)]


_WIPE = ("wipe_board_events", "wipe_boards", "wipe_groups", "wipe_tags", "wipe_fields", "wipe_gateways",
         "wipe_invites", "wipe_members")  # fmt: skip


async def wipe(conn: asyncpg.Connection, tenant_id: UUID) -> None:
    """Delete Mission Control's data of the tenant: the boards made on MC (their tasks and all that
    hangs off them cascade) and their events, board groups, tags, custom fields, gateway records,
    invites and members. GoClaw's teams, ClawTasker's projects and ClawGate's agents stay."""
    for name in _WIPE:
        await conn.execute(query(f"mc_org.{name}"), tenant_id)


async def email_is_member(conn: asyncpg.Connection, tenant_id: UUID, email: str) -> bool:
    found: bool = await conn.fetchval(query("mc_org.member_exists_by_email"), tenant_id, email)
    return found


# -- board access -------------------------------------------------------------------------------------


async def access_of(conn: asyncpg.Connection, tenant_id: UUID, user_id: str) -> list[AccessRow]:
    return many(await conn.fetch(query("mc_org.access_of"), tenant_id, user_id), AccessRow)


async def clear_access(conn: asyncpg.Connection, tenant_id: UUID, user_id: str) -> None:
    await conn.execute(query("mc_org.access_clear"), tenant_id, user_id)


async def merge_access(
    conn: asyncpg.Connection, tenant_id: UUID, user_id: str, entries: list[dict[str, Any]]
) -> None:
    """Per-board rights from ``[{board_id, can_read, can_write}]``, only ever turned on."""
    await conn.execute(query("mc_org.access_merge"), tenant_id, user_id, entries)


async def boards_found(conn: asyncpg.Connection, tenant_id: UUID, board_ids: list[UUID]) -> set[UUID]:
    return {r["id"] for r in await conn.fetch(query("mc_org.boards_found"), tenant_id, board_ids)}


# -- invites ------------------------------------------------------------------------------------------


async def insert_invite(
    conn: asyncpg.Connection, tenant_id: UUID, *, email: str, token_hash: str, role: str, all_read: bool,
    all_write: bool, access: list[dict[str, Any]], created_by: str,
) -> InviteRow:  # fmt: skip
    row = await conn.fetchrow(
        query("mc_org.invite_insert"),
        tenant_id,
        email,
        token_hash,
        role,
        all_read,
        all_write,
        access,
        created_by,
    )
    found = maybe(row, InviteRow)
    assert found is not None
    return found


async def invites_page(conn: asyncpg.Connection, tenant_id: UUID, limit: int, offset: int) -> list[InviteRow]:
    return many(await conn.fetch(query("mc_org.invites_page"), tenant_id, limit, offset), InviteRow)


async def delete_invite(conn: asyncpg.Connection, tenant_id: UUID, invite_id: UUID) -> InviteRow | None:
    return maybe(await conn.fetchrow(query("mc_org.invite_delete"), tenant_id, invite_id), InviteRow)


async def claim_invite(
    conn: asyncpg.Connection, tenant_id: UUID, token_hash: str, user_id: str
) -> InviteRow | None:
    """The pending invite with this token hash, marked accepted by ``user_id``; None when there is
    none (unknown, already accepted, revoked, or another tenant's)."""
    row = await conn.fetchrow(query("mc_org.invite_claim"), tenant_id, token_hash, user_id)
    return maybe(row, InviteRow)


# -- gateways -----------------------------------------------------------------------------------------


async def ensure_self_gateway(conn: asyncpg.Connection, tenant_id: UUID, name: str) -> None:
    await conn.execute(query("mc_org.gateway_self"), tenant_id, name)


async def gateways_page(
    conn: asyncpg.Connection, tenant_id: UUID, limit: int, offset: int
) -> list[GatewayRow]:
    return many(await conn.fetch(query("mc_org.gateways_page"), tenant_id, limit, offset), GatewayRow)


async def gateway(conn: asyncpg.Connection, tenant_id: UUID, gateway_id: UUID) -> GatewayRow | None:
    return maybe(await conn.fetchrow(query("mc_org.gateway_get"), tenant_id, gateway_id), GatewayRow)


async def insert_gateway(conn: asyncpg.Connection, tenant_id: UUID, values: GatewayValues) -> UUID:
    v = values
    new_id: UUID = await conn.fetchval(
        query("mc_org.gateway_insert"), tenant_id, v.name, v.url, v.token, v.workspace_root,
        v.allow_insecure_tls, v.disable_device_pairing,
    )  # fmt: skip
    return new_id


async def set_gateway(
    conn: asyncpg.Connection, tenant_id: UUID, gateway_id: UUID, values: GatewayValues
) -> None:
    v = values
    await conn.execute(
        query("mc_org.gateway_set"), tenant_id, gateway_id, v.name, v.url, v.token, v.workspace_root,
        v.allow_insecure_tls, v.disable_device_pairing,
    )  # fmt: skip


async def delete_gateway(conn: asyncpg.Connection, tenant_id: UUID, gateway_id: UUID) -> bool:
    """Delete a gateway record (never this ClawGate's own row). Returns whether one went."""
    return affected(await conn.execute(query("mc_org.gateway_delete"), tenant_id, gateway_id)) > 0
