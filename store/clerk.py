"""Clerk users of Mission Control: a Clerk user id's memberships of tenants (``tenant_users``), the
tenant its requests act in (``clerk_active_tenants``), the membership an accepted invite adds, and
the member row made with the token's profile fields on first sight. Every query names the user."""

from __future__ import annotations

from uuid import UUID

import asyncpg
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many
from clawgate.store.mc_org import Profile

__all__ = ["Membership", "invite_tenant", "join", "memberships", "seed_profile", "set_active"]


class Membership(Struct, kw_only=True):
    """A tenant the user is a user of: its tenant role, its MC role (None before its member row is
    made) and whether it is the stored active one."""

    tenant_id: UUID
    slug: str
    name: str
    status: str
    role: str
    member_role: str | None
    is_active: bool


async def memberships(conn: asyncpg.Connection, user_id: str) -> list[Membership]:
    """The user's tenants, oldest membership first."""
    return many(await conn.fetch(query("clerk.memberships"), user_id), Membership)


async def set_active(conn: asyncpg.Connection, user_id: str, tenant_id: UUID) -> bool:
    """Make ``tenant_id`` the user's active tenant; False (nothing stored) when the user is no
    user of it."""
    return await conn.fetchval(query("clerk.set_active"), user_id, tenant_id) is not None


async def join(conn: asyncpg.Connection, user_id: str, tenant_id: UUID, role: str) -> str:
    """The user a user of ``tenant_id`` at least as ``role`` (raised, never lowered); its role now."""
    found: str = await conn.fetchval(query("clerk.join"), user_id, tenant_id, role)
    return found


async def seed_profile(conn: asyncpg.Connection, user_id: str, tenant_id: UUID, p: Profile) -> None:
    """Make the user's member row of ``tenant_id`` with these profile fields when it has none (an
    existing row is left as it is)."""
    await conn.execute(
        query("clerk.seed_profile"), user_id, tenant_id, p.email, p.name, p.preferred_name, p.pronouns,
        p.timezone, p.notes, p.context,
    )  # fmt: skip


async def invite_tenant(conn: asyncpg.Connection, token_hash: str) -> UUID | None:
    """The tenant of the pending invite with this token hash; None when there is none."""
    found: UUID | None = await conn.fetchval(query("clerk.invite_tenant"), token_hash)
    return found
