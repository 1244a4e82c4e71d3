"""Skills: metadata, versions with their files (bytea), grants to agents and users, and the tenant's
overrides. Every query takes the tenant id; a skill is named by id or slug."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

import asyncpg

from clawgate.errors import NotFound
from clawgate.sql import query
from clawgate.store._rows import affected, as_uuid, many, maybe
from clawgate.store.tenants import MASTER_TENANT_ID
from clawgate.store.types import (
    JSON,
    SkillAgentGrant,
    SkillCatalogRow,
    SkillFileInfo,
    SkillForAgent,
    SkillRow,
    SkillUserGrant,
    SkillVersion,
)

__all__ = [
    "NewVersion",
    "Patch",
    "add_version",
    "agent_grants",
    "agent_skills",
    "all_files",
    "catalog",
    "delete",
    "delete_tenant_config",
    "export_grants",
    "files",
    "get",
    "grant_agent",
    "grant_user",
    "list_skills",
    "lock_version",
    "prune_versions",
    "read_file",
    "revoke_agent",
    "revoke_user",
    "set_tenant_config",
    "toggle",
    "update",
    "user_grants",
    "versions",
]


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version of a skill as unpacked: its metadata and files (path -> bytes)."""

    slug: str
    name: str
    description: str
    tags: list[str]
    frontmatter: JSON
    file_hash: str
    file_size: int
    files: dict[str, bytes]


@dataclass(frozen=True, slots=True)
class Patch:
    """Fields of ``PUT /v1/skills/{id}``; None keeps the value."""

    name: str | None = None
    description: str | None = None
    visibility: str | None = None
    tags: list[str] | None = None


async def list_skills(conn: asyncpg.Connection, tenant_id: UUID) -> list[SkillRow]:
    """The skills the tenant sees: its own, and the master tenant's public ones (shared)."""
    return many(await conn.fetch(query("skills.list"), tenant_id, None, None, MASTER_TENANT_ID), SkillRow)


async def get(conn: asyncpg.Connection, tenant_id: UUID, ref: str) -> SkillRow | None:
    """The skill ``ref`` names (its id or its slug) among those the tenant sees (its own first)."""
    row = await conn.fetchrow(query("skills.list"), tenant_id, ref, as_uuid(ref), MASTER_TENANT_ID)
    return maybe(row, SkillRow)


async def add_version(
    conn: asyncpg.Connection, tenant_id: UUID, owner: str, visibility: str, new: NewVersion,
    number: int | None = None,
) -> tuple[UUID, int, bool]:  # fmt: skip
    """Store ``new`` as the next version of its slug (the first: a new skill), or as version
    ``number`` (an import keeping an export's numbers; above the current one), or nothing when the
    current version's SKILL.md is the same. Returns (id, version, whether stored). Run it in a
    transaction: the slug's row is locked, so concurrent uploads of one slug take turns."""
    found = await conn.fetchrow(query("skills.lock_slug"), tenant_id, new.slug)
    if found is not None and found["file_hash"] == new.file_hash:
        return found["id"], found["version"], False
    if found is None:
        version = number or 1
        skill_id: UUID = await conn.fetchval(
            query("skills.insert"), tenant_id, new.slug, new.name, new.description, owner, visibility,
            new.tags, new.frontmatter, new.file_hash, new.file_size, version,
        )  # fmt: skip
    else:
        skill_id, version = found["id"], number or found["version"] + 1
        await conn.execute(
            query("skills.set_version"), tenant_id, skill_id, version, new.name, new.description, new.tags,
            new.frontmatter, new.file_hash, new.file_size,
        )  # fmt: skip
    await conn.execute(
        query("skills.version_insert"), tenant_id, skill_id, version, new.name, new.description,
        new.frontmatter, new.file_hash, new.file_size, len(new.files), owner,
    )  # fmt: skip
    await conn.executemany(
        query("skills.file_insert"), [(tenant_id, skill_id, version, p, b) for p, b in new.files.items()]
    )
    return skill_id, version, True


async def prune_versions(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, keep: int) -> int:
    """Drop the skill's versions older than its last ``keep``, except pinned ones (and their
    files). Returns how many went. Run it in the transaction that locked the skill's row."""
    return affected(await conn.execute(query("skills.prune_versions"), tenant_id, skill_id, keep))


async def lock_version(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, version: int) -> bool:
    """Whether the skill of ``tenant_id`` (its owner) still has ``version``, holding its row so
    that no upload prunes that version before the caller's transaction ends (a pin made in it is
    then seen by the pruning)."""
    await conn.execute(query("skills.share_lock"), tenant_id, skill_id)
    return bool(await conn.fetchval(query("skills.has_version"), tenant_id, skill_id, version))


async def update(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, patch: Patch) -> None:
    await conn.execute(
        query("skills.update"),
        tenant_id,
        skill_id,
        patch.name,
        patch.description,
        patch.visibility,
        patch.tags,
    )


async def toggle(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, enabled: bool) -> None:
    await conn.execute(query("skills.toggle"), tenant_id, skill_id, enabled)


async def delete(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID) -> bool:
    return affected(await conn.execute(query("skills.delete"), tenant_id, skill_id)) > 0


async def versions(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID) -> list[SkillVersion]:
    return many(await conn.fetch(query("skills.versions"), tenant_id, skill_id), SkillVersion)


async def files(
    conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, version: int
) -> list[SkillFileInfo]:
    return many(await conn.fetch(query("skills.files"), tenant_id, skill_id, version), SkillFileInfo)


async def all_files(
    conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, version: int
) -> dict[str, bytes]:
    rows = await conn.fetch(query("skills.all_files"), tenant_id, skill_id, version)
    return {r["path"]: bytes(r["content"]) for r in rows}


async def read_file(
    conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, version: int, path: str
) -> bytes | None:
    content: bytes | None = await conn.fetchval(query("skills.file"), tenant_id, skill_id, version, path)
    return content


async def agent_grants(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID) -> list[SkillAgentGrant]:
    return many(await conn.fetch(query("skills.agent_grants"), tenant_id, skill_id), SkillAgentGrant)


async def grant_agent(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    skill_id: UUID,
    agent_id: UUID,
    pinned: int | None,
    can_manage: bool,
    by: str,
) -> None:
    """Grant (or re-grant) a skill to an agent of the same tenant. Raises: NotFound when the agent
    is not the tenant's (the foreign key on (tenant_id, agent_id) refuses it)."""
    try:
        await conn.execute(query("skills.grant_agent"), tenant_id, skill_id, agent_id, pinned, can_manage, by)
    except asyncpg.ForeignKeyViolationError:
        raise NotFound(kind="agent", id=str(agent_id)) from None


async def revoke_agent(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, agent_id: UUID) -> bool:
    return affected(await conn.execute(query("skills.revoke_agent"), tenant_id, skill_id, agent_id)) > 0


async def user_grants(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID) -> list[SkillUserGrant]:
    return many(await conn.fetch(query("skills.user_grants"), tenant_id, skill_id), SkillUserGrant)


async def grant_user(
    conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, user_id: str, by: str
) -> None:
    await conn.execute(query("skills.grant_user"), tenant_id, skill_id, user_id, by)


async def revoke_user(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, user_id: str) -> bool:
    return affected(await conn.execute(query("skills.revoke_user"), tenant_id, skill_id, user_id)) > 0


async def set_tenant_config(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID, enabled: bool) -> None:
    await conn.execute(query("skills.set_tenant_config"), tenant_id, skill_id, enabled)


async def delete_tenant_config(conn: asyncpg.Connection, tenant_id: UUID, skill_id: UUID) -> bool:
    return affected(await conn.execute(query("skills.delete_tenant_config"), tenant_id, skill_id)) > 0


async def agent_skills(conn: asyncpg.Connection, tenant_id: UUID, agent_id: UUID) -> list[SkillForAgent]:
    return many(
        await conn.fetch(query("skills.agent_skills"), tenant_id, agent_id, MASTER_TENANT_ID), SkillForAgent
    )


async def catalog(conn: asyncpg.Connection, tenant_id: UUID) -> list[SkillCatalogRow]:
    """The enabled skills the tenant sees, one row per grant of the tenant's (to an agent or a user)."""
    return many(await conn.fetch(query("skills.catalog"), tenant_id, MASTER_TENANT_ID), SkillCatalogRow)


async def export_grants(conn: asyncpg.Connection, tenant_id: UUID) -> Sequence[tuple[UUID, str, int | None]]:
    """Every agent grant of the tenant as (skill id, agent key, pinned version)."""
    rows = await conn.fetch(query("skills.export_grants"), tenant_id)
    return [(r["skill_id"], r["agent_key"], r["pinned_version"]) for r in rows]
