"""The agent side of skills: which enabled skills each agent and user of a tenant holds, kept in
memory per process, and what a run gets from it.

``SkillCatalog`` loads a tenant with one query on its first run and keeps it until a
``cache.invalidate`` of kind ``skills`` for that tenant (or for every tenant) arrives over the bus:
every skill write publishes one (``SkillService``), so each process drops its copy and a run costs no
query while nothing changed. It is a ``PromptSource`` (one line per granted skill: ``slug: description``)
and a ``ToolSource`` (``use_skill``, GoClaw's tool name, offered only to a run that holds a skill),
registered on the run manager by ``clawgate.app``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from msgspec import Struct

from clawgate.bus import INVALIDATE, BusEvent, EventBus, invalidates
from clawgate.errors import InvalidRequest
from clawgate.providers.types import ChatMessage, ToolSpec
from clawgate.services.skill_archive import SKILL_MD, check_entry
from clawgate.store import Database
from clawgate.store import skills as store
from clawgate.store.types import AgentRow, SkillCatalogRow
from clawgate.tools import Tool, ToolContext, ToolError, text_arg

__all__ = ["PROMPT_LIMIT", "TOOL_NAME", "SkillCatalog"]

TOOL_NAME = "use_skill"
PROMPT_LIMIT = 50
"""Skills listed in a prompt at most (the rest are named by count: ``use_skill`` reads any of them)."""
_DESCRIPTION_CHARS = 200
_VIEWS = 10_000
"""(agent, user) views kept per tenant; past it they are dropped and made again on use."""
_READ_CHARS = 100_000
_SPEC = ToolSpec(
    name=TOOL_NAME,
    description=(
        "Read a skill granted to you: its SKILL.md instructions (give its name), or one of its files "
        "(give path too). The system prompt lists your skills; follow a skill's instructions once read."
    ),
    parameters={"type": "object", "required": ["name"], "properties": {
        "name": {"type": "string", "description": "The skill's name or slug, as listed"},
        "path": {"type": "string", "description": "A file of the skill (default SKILL.md)"},
        "params": {"type": "object", "description": "Ignored; GoClaw's optional skill parameters"}}},
)  # fmt: skip


class Granted(Struct, frozen=True, kw_only=True):
    id: UUID
    tenant_id: UUID  # whose files these are (the master tenant's for a shared skill)
    slug: str
    name: str
    description: str
    version: int  # the pinned one, else the current one


class _Tenant:
    """One tenant's enabled skills granted to each agent and each user."""

    def __init__(self, rows: Sequence[SkillCatalogRow]) -> None:
        self.by_agent: dict[UUID, list[Granted]] = {}
        self.by_user: dict[str, list[Granted]] = {}
        for r in rows:
            item = Granted(
                id=r.id,
                tenant_id=r.tenant_id,
                slug=r.slug,
                name=r.name,
                description=r.description,
                version=r.version,
            )
            if r.agent_id is not None:
                self.by_agent.setdefault(r.agent_id, []).append(item)
            elif r.user_id is not None:
                self.by_user.setdefault(r.user_id, []).append(item)
        self.views: dict[tuple[UUID, str], tuple[list[Granted], str]] = {}

    def view(self, agent_id: UUID, user_id: str) -> tuple[list[Granted], str]:
        """The skills of an agent and a user (an agent's grant and pin win), and their prompt section."""
        key = (agent_id, user_id)
        found = self.views.get(key)
        if found is None:
            merged = {g.id: g for g in self.by_user.get(user_id, [])} if user_id else {}
            merged.update({g.id: g for g in self.by_agent.get(agent_id, [])})
            skills = sorted(merged.values(), key=lambda g: g.slug)
            if len(self.views) >= _VIEWS:
                self.views.clear()
            found = self.views[key] = (skills, _section(skills))
        return found


def _section(skills: list[Granted]) -> str:
    if not skills:
        return ""
    lines = [
        "## Skills",
        f"Skills granted to you (call {TOOL_NAME} with a skill's name to read its instructions before "
        "using it):",
    ]
    for g in skills[:PROMPT_LIMIT]:
        about = " ".join(g.description.split())[:_DESCRIPTION_CHARS] or g.name
        lines.append(f"- {g.slug}: {about}")
    if len(skills) > PROMPT_LIMIT:
        lines.append(f"- ... and {len(skills) - PROMPT_LIMIT} more ({TOOL_NAME} reads any of them by name)")
    return "\n".join(lines)


class SkillCatalog:
    """Granted skills per tenant, in memory, dropped over the bus; the skills' prompt section and tool."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self._db = db
        self._tenants: dict[UUID, _Tenant] = {}
        # Bumped by every invalidation: a load that began before one is not kept after it.
        self._generation = 0
        self.loads = 0  # how many tenant loads (queries) this process made
        bus.subscribe(self._on_event, names=[INVALIDATE])
        self._tool = Tool(_SPEC, self._use_skill)

    def _on_event(self, event: BusEvent) -> None:
        if invalidates(event, "skills") or invalidates(event, "agent"):
            self._generation += 1
            if event.tenant_id is None:
                self._tenants.clear()
            else:
                self._tenants.pop(event.tenant_id, None)

    async def _tenant(self, tenant_id: UUID) -> _Tenant:
        found = self._tenants.get(tenant_id)
        if found is None:
            generation = self._generation
            async with self._db.connection() as conn:
                found = _Tenant(await store.catalog(conn, tenant_id))
            self.loads += 1
            if generation == self._generation:
                self._tenants[tenant_id] = found
        return found

    async def granted(self, tenant_id: UUID, agent_id: UUID, user_id: str) -> list[Granted]:
        """The enabled skills granted to the agent or to the user, by slug."""
        return (await self._tenant(tenant_id)).view(agent_id, user_id)[0]

    async def prompt_section(self, agent: AgentRow, ctx: ToolContext, messages: Sequence[ChatMessage]) -> str:
        return (await self._tenant(ctx.tenant_id)).view(ctx.agent_id, ctx.user_id)[1]

    async def run_tools(self, agent: AgentRow, ctx: ToolContext) -> Sequence[Tool]:
        return [self._tool] if await self.granted(ctx.tenant_id, ctx.agent_id, ctx.user_id) else []

    async def _use_skill(self, ctx: ToolContext, args: dict[str, Any]) -> str:
        name = text_arg(args, "name").strip()
        skills = await self.granted(ctx.tenant_id, ctx.agent_id, ctx.user_id)
        wanted = name.lower()
        skill = next((g for g in skills if wanted in (g.slug, g.name.lower())), None)
        if skill is None:
            listed = ", ".join(g.slug for g in skills[:PROMPT_LIMIT])
            raise ToolError(f"no skill {name!r} is granted to you (granted: {listed})")
        raw_path = args.get("path")
        try:
            path = check_entry(raw_path) if isinstance(raw_path, str) and raw_path.strip() else SKILL_MD
        except InvalidRequest:
            raise ToolError("path must be a file inside the skill (no '..', not absolute)") from None
        async with self._db.connection() as conn:
            content = await store.read_file(conn, skill.tenant_id, skill.id, skill.version, path)
            listing = (
                await store.files(conn, skill.tenant_id, skill.id, skill.version) if path == SKILL_MD else []
            )
        if content is None:
            raise ToolError(f"skill {skill.slug} has no file {path!r}")
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            raise ToolError(f"{path} is a binary file ({len(content)} bytes)") from None
        if len(text) > _READ_CHARS:
            text = text[:_READ_CHARS] + f"\n[... cut at {_READ_CHARS} characters]"
        if path != SKILL_MD:
            return text
        others = [f.path for f in listing if f.path != SKILL_MD]
        files = f"\n\nOther files of this skill (read one with path): {', '.join(others)}" if others else ""
        return f"Skill {skill.slug} (version {skill.version}). Follow these instructions:\n\n{text}{files}"
