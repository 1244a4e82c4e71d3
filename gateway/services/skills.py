"""Skills (GoClaw's ``/v1/skills*``): a folder with a ``SKILL.md`` uploaded as a zip, kept with its
versions and files in PostgreSQL, enabled or not (and overridden per tenant), granted to agents and
users, exported and imported as tar.gz.

Runs read skills from ``SkillCatalog``: each process keeps, per tenant, the enabled skills granted
to each agent and user, loaded by one query on first use and dropped by a ``cache.invalidate`` of
kind ``skills`` over the bus (every write here publishes one), so a run costs no query while nothing
changed. The catalog is the ``PromptSource`` that lists granted skills in the system prompt (one line
each) and the ``ToolSource`` of ``use_skill`` (GoClaw's name), which reads a granted skill's
``SKILL.md`` or one of its files.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from clawgate.bus import EventBus, invalidation
from clawgate.errors import FailedPrecondition, InvalidRequest, NotFound, invalid_field
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.services.agents import AgentService
from clawgate.services.exports import Event, progress_events
from clawgate.services.skill_archive import (
    SKILL_MD,
    check_entry,
    parse_skill_md,
    read_tar,
    unpack_zip,
    write_tar,
)
from clawgate.services.skill_catalog import SkillCatalog
from clawgate.store import Database
from clawgate.store import skills as store
from clawgate.store.tenants import MASTER_TENANT_ID
from clawgate.store.types import (
    SkillAgentGrant,
    SkillFileInfo,
    SkillForAgent,
    SkillRow,
    SkillUserGrant,
    SkillVersion,
)

__all__ = [
    "AgentGrantBody",
    "ExportPreview",
    "ImportResult",
    "SkillPatch",
    "SkillService",
    "ToggleBody",
    "ToggleResult",
    "UploadResult",
    "UserGrantBody",
]

Visibility = Literal["private", "internal", "public"]
_DEPS = (
    "skill runtimes and dependencies are not managed by ClawGate: install what a skill needs (python "
    "packages, node, binaries) on the gateway's host or in its image"
)


class UploadResult(Struct, kw_only=True):
    """GoClaw's upload answer; ``status`` ``unchanged`` when SKILL.md equals the current version's."""

    id: UUID
    slug: str
    version: int
    name: str
    status: str
    is_new: bool


class SkillPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/skills/{id}``: null or absent keeps a field. The read-only fields of a skill as
    answered (a client saving the whole shape sends them back) are accepted and ignored."""

    name: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Meta(max_length=2000)] | None = None
    visibility: Visibility | None = None
    tags: Annotated[list[Annotated[str, Meta(max_length=64)]], Meta(max_length=50)] | None = None
    id: Any = None
    tenant_id: Any = None
    slug: Any = None
    owner_id: Any = None
    version: Any = None
    enabled: Any = None
    tenant_enabled: Any = None
    status: Any = None
    frontmatter: Any = None
    file_hash: Any = None
    file_size: Any = None
    file_path: Any = None
    is_system: Any = None
    created_at: Any = None
    updated_at: Any = None


class ToggleBody(Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class ToggleResult(Struct, kw_only=True):
    ok: bool
    enabled: bool
    status: str


class AgentGrantBody(Struct, kw_only=True, forbid_unknown_fields=True):
    """GoClaw's agent grant: the agent (id or key), the version to pin (``version`` or
    ``pinned_version``; 0 or none: follow the current one) and ``can_manage``."""

    agent_id: Annotated[str, Meta(min_length=1, max_length=255)]
    version: Annotated[int, Meta(ge=0, le=2**31 - 1)] | None = None
    pinned_version: Annotated[int, Meta(ge=0, le=2**31 - 1)] | None = None
    can_manage: bool | None = None


class UserGrantBody(Struct, kw_only=True, forbid_unknown_fields=True):
    user_id: Annotated[str, Meta(min_length=1, max_length=255)]


class ImportResult(Struct, kw_only=True):
    skills_imported: int
    skills_skipped: int
    grants_applied: int


class ExportPreview(Struct, kw_only=True):
    skills: int
    files: int
    grants: int
    bytes: int


class _Meta(Struct, kw_only=True, forbid_unknown_fields=False):
    """``skills/{slug}/metadata.json`` of an export."""

    name: str
    slug: str
    visibility: str = "internal"
    tags: list[str] = msgspec.field(default_factory=list)
    description: str = ""
    version: int = 1


class _Grant(Struct, kw_only=True, forbid_unknown_fields=False):
    agent_key: str
    pinned_version: int | None = None


KEEP_VERSIONS = 10
"""Versions kept per skill: the last ten, and any older one an agent grant pins (each upload and
import prunes the rest with their files). GoClaw's seed sets no number; ten covers a rollback."""


class SkillService:
    """Skill metadata, files and grants of the caller's tenant. Reads need viewer, writes admin
    (GoClaw's ``adminMiddleware``)."""

    def __init__(self, db: Database, bus: EventBus, agents: AgentService, catalog: SkillCatalog) -> None:
        self._db = db
        self._bus = bus
        self._agents = agents
        self.catalog = catalog  # what runs read: granted skills per tenant, in this process's memory

    async def _changed(self, who: Principal, skill: UUID | None = None) -> None:
        # The master tenant's public skills are in every tenant's catalog: its changes drop them all.
        tenant = None if who.tenant_id == MASTER_TENANT_ID else who.tenant_id
        await self._bus.publish(invalidation("skills", tenant, id=str(skill) if skill else None))

    async def list_skills(self, who: Principal) -> list[SkillRow]:
        async with self._db.connection() as conn:
            return await store.list_skills(conn, who.tenant_id)

    async def get(self, who: Principal, ref: str) -> SkillRow:
        """A skill by id or slug: the tenant's own, or one the master tenant shares (public).
        Raises: NotFound (also another tenant's)."""
        async with self._db.connection() as conn:
            row = await store.get(conn, who.tenant_id, ref)
        if row is None:
            raise NotFound(kind="skill", id=ref)
        return row

    async def _own(self, who: Principal, ref: str) -> SkillRow:
        """A skill the tenant may change: its own. Raises: NotFound; FailedPrecondition for a shared one."""
        row = await self.get(who, ref)
        if row.tenant_id != who.tenant_id:
            raise FailedPrecondition(
                detail=f"skill {row.slug} is shared by the gateway's master tenant, which alone changes it; "
                "switch it off for this tenant with PUT /v1/skills/{id}/tenant-config"
            )
        return row

    async def upload(self, who: Principal, data: bytes) -> tuple[UploadResult, int]:
        """Store an uploaded zip as a new skill or the next version of its slug. Returns the answer
        and its status (201, or 200 when SKILL.md is unchanged).

        Raises: PayloadTooLarge; InvalidRequest (unsafe archive, no SKILL.md or front matter)."""
        require(who, Role.ADMIN, "skills.upload")
        files = await asyncio.to_thread(unpack_zip, data)  # inflating 20 MB: zlib lets the loop run
        new = _version(files, size=len(data))
        async with self._db.transaction() as conn:
            skill_id, version, stored = await store.add_version(
                conn, who.tenant_id, who.user_id, "internal", new
            )
            if stored:
                await store.prune_versions(conn, who.tenant_id, skill_id, KEEP_VERSIONS)
        if stored:
            await self._changed(who, skill_id)
        status = "active" if stored else "unchanged"
        result = UploadResult(
            id=skill_id, slug=new.slug, version=version, name=new.name, status=status, is_new=version == 1
        )
        return result, 201 if stored else 200

    async def update(self, who: Principal, ref: str, patch: SkillPatch) -> None:
        require(who, Role.ADMIN, "skills.update")
        row = await self._own(who, ref)
        async with self._db.transaction() as conn:
            await store.update(
                conn, who.tenant_id, row.id,
                store.Patch(name=patch.name, description=patch.description, visibility=patch.visibility,
                            tags=patch.tags),
            )  # fmt: skip
        await self._changed(who, row.id)

    async def delete(self, who: Principal, ref: str) -> None:
        require(who, Role.ADMIN, "skills.delete")
        row = await self._own(who, ref)
        async with self._db.transaction() as conn:
            await store.delete(conn, who.tenant_id, row.id)
        await self._changed(who, row.id)

    async def toggle(self, who: Principal, ref: str, body: ToggleBody) -> ToggleResult:
        require(who, Role.ADMIN, "skills.toggle")
        row = await self._own(who, ref)
        async with self._db.transaction() as conn:
            await store.toggle(conn, who.tenant_id, row.id, body.enabled)
        await self._changed(who, row.id)
        return ToggleResult(ok=True, enabled=body.enabled, status="active" if body.enabled else "disabled")

    async def set_tenant_config(self, who: Principal, ref: str, enabled: bool | None) -> None:
        """Override (``enabled``) or clear (None) the tenant's enabled flag of a skill."""
        require(who, Role.ADMIN, "skills.tenant_config")
        row = await self.get(who, ref)
        async with self._db.transaction() as conn:
            if enabled is None:
                await store.delete_tenant_config(conn, who.tenant_id, row.id)
            else:
                await store.set_tenant_config(conn, who.tenant_id, row.id, enabled)
        await self._changed(who, row.id)

    async def versions(self, who: Principal, ref: str) -> list[SkillVersion]:
        row = await self.get(who, ref)
        async with self._db.connection() as conn:
            return await store.versions(conn, row.tenant_id, row.id)

    async def _version(self, who: Principal, ref: str, version: int | None) -> tuple[SkillRow, int]:
        row = await self.get(who, ref)
        if version is not None and not 1 <= version <= row.version:
            raise NotFound(kind="skill version", id=f"{row.slug}@{version}")
        return row, version or row.version

    async def files(self, who: Principal, ref: str, version: int | None) -> tuple[int, list[SkillFileInfo]]:
        row, version = await self._version(who, ref, version)
        async with self._db.connection() as conn:
            return version, await store.files(conn, row.tenant_id, row.id, version)

    async def read_file(self, who: Principal, ref: str, path: str, version: int | None) -> bytes:
        """One file of a skill version. Raises: InvalidRequest (a path escaping the skill); NotFound."""
        try:
            clean = check_entry(path)
        except InvalidRequest:
            raise invalid_field("$.path", "a file path inside the skill (no '..', not absolute)") from None
        row, version = await self._version(who, ref, version)
        async with self._db.connection() as conn:
            content = await store.read_file(conn, row.tenant_id, row.id, version, clean)
        if content is None:
            raise NotFound(kind="skill file", id=clean)
        return content

    async def agent_grants(self, who: Principal, ref: str) -> list[SkillAgentGrant]:
        require(who, Role.ADMIN, "skills.grants")
        row = await self.get(who, ref)
        async with self._db.connection() as conn:
            return await store.agent_grants(conn, who.tenant_id, row.id)

    async def user_grants(self, who: Principal, ref: str) -> list[SkillUserGrant]:
        require(who, Role.ADMIN, "skills.grants")
        row = await self.get(who, ref)
        async with self._db.connection() as conn:
            return await store.user_grants(conn, who.tenant_id, row.id)

    async def grant_agent(self, who: Principal, ref: str, body: AgentGrantBody) -> None:
        """Grant a skill to an agent of the caller's tenant. Raises: NotFound (the skill, or an agent
        that is not the tenant's: another tenant's agent is never found)."""
        require(who, Role.ADMIN, "skills.grants")
        row = await self.get(who, ref)
        agent = await self._agents.get(who, body.agent_id)
        pinned = body.pinned_version or body.version or None
        async with self._db.transaction() as conn:
            if pinned is not None and not await store.lock_version(conn, row.tenant_id, row.id, pinned):
                raise invalid_field("$.version", f"the skill has no version {pinned} (current: {row.version}; "
                                    f"it keeps its last {KEEP_VERSIONS} and the pinned ones)")  # fmt: skip
            await store.grant_agent(
                conn, who.tenant_id, row.id, agent.id, pinned, bool(body.can_manage), who.user_id
            )
        await self._changed(who, row.id)

    async def revoke_agent(self, who: Principal, ref: str, agent_ref: str) -> None:
        require(who, Role.ADMIN, "skills.grants")
        row = await self.get(who, ref)
        agent = await self._agents.get(who, agent_ref)
        async with self._db.transaction() as conn:
            if not await store.revoke_agent(conn, who.tenant_id, row.id, agent.id):
                raise NotFound(kind="skill grant", id=f"{row.slug} -> {agent.agent_key}")
        await self._changed(who, row.id)

    async def grant_user(self, who: Principal, ref: str, body: UserGrantBody) -> None:
        require(who, Role.ADMIN, "skills.grants")
        row = await self.get(who, ref)
        async with self._db.transaction() as conn:
            await store.grant_user(conn, who.tenant_id, row.id, body.user_id, who.user_id)
        await self._changed(who, row.id)

    async def revoke_user(self, who: Principal, ref: str, user_id: str) -> None:
        require(who, Role.ADMIN, "skills.grants")
        row = await self.get(who, ref)
        async with self._db.transaction() as conn:
            if not await store.revoke_user(conn, who.tenant_id, row.id, user_id):
                raise NotFound(kind="skill grant", id=f"{row.slug} -> {user_id}")
        await self._changed(who, row.id)

    async def agent_skills(self, who: Principal, agent_ref: str) -> list[SkillForAgent]:
        """Every skill of the tenant, with whether the agent holds a grant. Raises: NotFound (agent)."""
        agent = await self._agents.get(who, agent_ref)
        async with self._db.connection() as conn:
            return await store.agent_skills(conn, who.tenant_id, agent.id)

    def dependencies(self, who: Principal) -> None:
        """``install-dep(s)``, ``rescan-deps``, ``runtimes``. Raises: FailedPrecondition, always (409: a
        5xx would say the gateway failed, and nothing failed; the route exists and says why)."""
        require(who, Role.ADMIN, "skills.dependencies")
        raise FailedPrecondition(detail=_DEPS)

    async def _export_files(self, who: Principal) -> tuple[list[tuple[str, bytes]], int]:
        """The archive's entries (GoClaw's layout, plus each skill's other files under ``files/``)
        and how many skills they hold."""
        entries: list[tuple[str, bytes]] = []
        async with self._db.connection() as conn:
            rows = [r for r in await store.list_skills(conn, who.tenant_id) if r.tenant_id == who.tenant_id]
            grants: dict[UUID, list[bytes]] = {}
            pins: dict[UUID, set[int]] = {}
            for skill_id, key, pinned in await store.export_grants(conn, who.tenant_id):
                grants.setdefault(skill_id, []).append(
                    msgspec.json.encode(_Grant(agent_key=key, pinned_version=pinned))
                )
                if pinned is not None:
                    pins.setdefault(skill_id, set()).add(pinned)
            for row in rows:
                base = f"skills/{row.slug}"
                meta = _Meta(name=row.name, slug=row.slug, visibility=row.visibility, tags=row.tags,
                             description=row.description, version=row.version)  # fmt: skip
                entries.append((f"{base}/metadata.json", msgspec.json.encode(meta)))
                kept = {v.version for v in await store.versions(conn, who.tenant_id, row.id)}
                for version in sorted({p for p in pins.get(row.id, ()) if p in kept} | {row.version}):
                    # The current version at the top, as GoClaw lays it out; a pinned older one
                    # under versions/{n}/, so that an import keeps the pin.
                    top = base if version == row.version else f"{base}/versions/{version}"
                    for path, content in (
                        await store.all_files(conn, who.tenant_id, row.id, version)
                    ).items():
                        entries.append(
                            (f"{top}/{path}" if path == SKILL_MD else f"{top}/files/{path}", content)
                        )
                entries.append((f"{base}/grants.jsonl", b"".join(g + b"\n" for g in grants.get(row.id, []))))
        return entries, len(rows)

    async def export_preview(self, who: Principal) -> ExportPreview:
        require(who, Role.ADMIN, "skills.export")
        entries, count = await self._export_files(who)
        grants = sum(c.count(b"\n") for p, c in entries if p.endswith("/grants.jsonl"))
        files = sum(1 for p, _ in entries if not p.endswith(("/metadata.json", "/grants.jsonl")))
        return ExportPreview(skills=count, files=files, grants=grants, bytes=sum(len(c) for _, c in entries))

    async def export(self, who: Principal) -> tuple[str, bytes]:
        """The tenant's skills as ``skills-YYYYMMDD.tar.gz``: (file name, archive)."""
        require(who, Role.ADMIN, "skills.export")
        entries, _ = await self._export_files(who)
        return await _tar(entries)

    def export_events(self, who: Principal) -> AsyncIterator[Event]:
        """The export as progress events ending with ``complete`` (``clawgate.services.exports``).
        Raises: Forbidden below admin."""
        require(who, Role.ADMIN, "skills.export")

        async def collect() -> tuple[list[tuple[str, bytes]], dict[str, int]]:
            entries, count = await self._export_files(who)
            return entries, {"skills": count}

        return progress_events(collect, _tar, "/v1/skills/export")

    async def import_archive(self, who: Principal, data: bytes) -> ImportResult:
        """Import a tar.gz of the export's layout. A slug the tenant has already is skipped (not
        overwritten); grants name agents by key, and unknown keys are skipped.

        Raises: PayloadTooLarge; InvalidRequest (unsafe archive, a skill without a valid SKILL.md)."""
        require(who, Role.ADMIN, "skills.import")
        bundles: dict[str, dict[str, bytes]] = {}
        for path, content in await asyncio.to_thread(read_tar, data):
            parts = path.split("/", 2)
            if len(parts) != 3 or parts[0] != "skills":
                raise invalid_field("$.file", f"unexpected archive entry {path!r} (skills/<slug>/...)")
            bundles.setdefault(parts[1], {})[parts[2]] = content
        plans = [_plan(slug, entries) for slug, entries in sorted(bundles.items())]  # all checked first
        agents = {a.agent_key: a.id for a in await self._agents.list_agents(who)}
        imported = skipped = granted = 0
        async with self._db.transaction() as conn:  # all or nothing
            for versions, visibility, grants in plans:
                found = await store.get(conn, who.tenant_id, versions[-1][1].slug)
                if found is not None and found.tenant_id == who.tenant_id:
                    skipped += 1
                    continue
                numbers: set[int] = set()
                for number, new in versions:  # oldest first, each with its exported number
                    skill_id, stored_as, _ = await store.add_version(
                        conn, who.tenant_id, who.user_id, visibility, new, number
                    )
                    numbers.add(stored_as)  # (a version equal to the one before is not stored again)
                imported += 1
                for grant in grants:
                    if grant.agent_key in agents:
                        pin = grant.pinned_version if grant.pinned_version in numbers else None
                        await store.grant_agent(
                            conn, who.tenant_id, skill_id, agents[grant.agent_key], pin, False, who.user_id
                        )
                        granted += 1
                await store.prune_versions(conn, who.tenant_id, skill_id, KEEP_VERSIONS)
        if imported:
            await self._changed(who)
        return ImportResult(skills_imported=imported, skills_skipped=skipped, grants_applied=granted)


def _plan(
    slug: str, entries: dict[str, bytes]
) -> tuple[list[tuple[int, store.NewVersion]], str, list[_Grant]]:
    """One skill of an import, checked: its versions (the pinned older ones an export carries under
    ``versions/{n}/``, then the current one, each with its number; without metadata.json the
    current one is 1, or follows the older ones), visibility and grants. Raises: InvalidRequest."""
    meta = _Meta(name=slug, slug=slug)
    if "metadata.json" in entries:
        try:
            meta = msgspec.json.decode(entries["metadata.json"], type=_Meta)
        except msgspec.MsgspecError:
            raise invalid_field("$.file", f"skills/{slug}/metadata.json is not valid") from None
    older: dict[int, dict[str, bytes]] = {}
    for path, content in entries.items():
        if path.startswith("versions/"):
            number, _, rest = path.removeprefix("versions/").partition("/")
            if not number.isdigit() or not 1 <= int(number) < 2**31 or not rest:
                raise invalid_field("$.file", f"unexpected archive entry skills/{slug}/{path}")
            older.setdefault(int(number), {})[rest] = content
    current = max(meta.version, max(older, default=0) + 1)
    versions = [(n, _version(_files(slug, f"versions/{n}/", files))) for n, files in sorted(older.items())]
    versions.append((current, _version(_files(slug, "", entries))))
    if len({v.slug for _, v in versions}) > 1:
        raise invalid_field("$.file", f"the versions under skills/{slug} name different slugs")
    grants = [g for line in entries.get("grants.jsonl", b"").splitlines() if (g := _grant(line)) is not None]
    visibility = meta.visibility if meta.visibility in ("private", "internal", "public") else "internal"
    return versions, visibility, grants


def _files(slug: str, where: str, entries: dict[str, bytes]) -> dict[str, bytes]:
    """A version's files from an export's ``SKILL.md`` and ``files/...`` entries (``where``: the
    version's folder). Raises: InvalidRequest (no SKILL.md)."""
    skill_md = entries.get(SKILL_MD)
    if skill_md is None:
        raise invalid_field("$.file", f"{f'skills/{slug}/{where}'.rstrip('/')} has no SKILL.md")
    return {SKILL_MD: skill_md} | {
        p.removeprefix("files/"): c for p, c in entries.items() if p.startswith("files/")
    }


def _version(files: dict[str, bytes], size: int | None = None) -> store.NewVersion:
    """A version of ``files`` with the metadata of its SKILL.md (``size``: of the upload, by
    default of the files). Raises: InvalidRequest (SKILL.md without valid front matter)."""
    meta = parse_skill_md(files[SKILL_MD])
    return store.NewVersion(
        slug=meta.slug, name=meta.name, description=meta.description, tags=meta.tags, frontmatter=meta.fields,
        file_hash=hashlib.sha256(files[SKILL_MD]).hexdigest(),
        file_size=sum(len(c) for c in files.values()) if size is None else size, files=files,
    )  # fmt: skip


def _grant(line: bytes) -> _Grant | None:
    if not line.strip():
        return None
    try:
        return msgspec.json.decode(line, type=_Grant)
    except msgspec.MsgspecError:
        raise invalid_field("$.file", "a grants.jsonl line is not {agent_key, pinned_version}") from None


async def _tar(entries: list[tuple[str, bytes]]) -> tuple[str, bytes]:
    """The export's archive of ``entries``: its file name and bytes."""
    return f"skills-{datetime.now(UTC):%Y%m%d}.tar.gz", await asyncio.to_thread(write_tar, entries)
