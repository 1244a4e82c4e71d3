"""Mission Control's template sync (``POST /api/v1/gateways/{gateway_id}/templates/sync``, reference
1.7): the workspace files of the agents on the tenant's boards (and of the gateway main) rendered
again from the templates shipped in the package (``clawgate/templates/*.md``), with the agent's
name, role, identity profile and board filled in. They are the agents' ClawGate context files
(``agents.files.*``), part of each run's system prompt.

- ``AGENTS.md``, ``IDENTITY.md``, ``TOOLS.md``, ``HEARTBEAT.md`` are the gateway's: written again.
- ``SOUL.md``: an agent's own SOUL (what MC stores as ``soul_template`` and writes through the SOUL
  routes, here the file itself) is kept; only an agent without one gets the template's.
- ``USER.md`` and ``MEMORY.md`` are the agent's to edit: written only when absent (MC's rule).
- An agent whose files all had the rendered content already is ``agents_skipped``.
- ``reset_sessions`` resets every session of each agent synced (``sessions.reset``: a session with a
  run going is an entry of ``errors``).

Only this ClawGate's own gateway row has agents here; another record answers with one error, as MC
answers for a gateway it cannot reach. Org admins only.
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import Final
from uuid import UUID

from msgspec import Struct

from clawgate.errors import GatewayError, NotFound
from clawgate.principal import Principal
from clawgate.services.boards import BoardService
from clawgate.services.mc_gateways import NOT_CONNECTED, SELF_NAME
from clawgate.services.org import OrgService
from clawgate.services.sessions import SessionService
from clawgate.store import Database, board_agents, sessions
from clawgate.store import agents as agent_store
from clawgate.store import mc_org as store
from clawgate.store.board_agents import TenantAgent

__all__ = ["SyncError", "SyncQuery", "SyncResult", "TemplateSync", "render_files"]

TEMPLATES: Final = Path(__file__).resolve().parent.parent / "templates"
OWNED: Final = ("AGENTS.md", "IDENTITY.md", "TOOLS.md", "HEARTBEAT.md")
"""Written on every sync."""
KEPT: Final = ("SOUL.md", "USER.md", "MEMORY.md")
"""Written only when the agent has none (SOUL: its own template is kept; USER/MEMORY: agent-edited)."""
SESSIONS_RESET_MAX: Final = 1_000


class SyncQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's query: ``rotate_tokens`` and ``force_bootstrap`` are accepted and do nothing here
    (tokens are minted with ``POST /api/v1/agents/{id}/token``; there is no BOOTSTRAP.md)."""

    include_main: bool = True
    reset_sessions: bool = False
    rotate_tokens: bool = False
    force_bootstrap: bool = False
    board_id: UUID | None = None


class SyncError(Struct, kw_only=True):
    agent_id: UUID | None = None
    agent_name: str | None = None
    board_id: UUID | None = None
    message: str


class SyncResult(Struct, kw_only=True):
    """MC's ``GatewayTemplatesSyncResult``."""

    gateway_id: UUID
    include_main: bool
    reset_sessions: bool
    agents_updated: int = 0
    agents_skipped: int = 0
    main_updated: bool = False
    errors: list[SyncError] = []


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def render_files(agent: TenantAgent, board_name: str, objective: str, main: bool = False) -> dict[str, str]:
    """Every template rendered for ``agent`` (``main``: the gateway main); a missing value leaves
    its ``$name`` as it is."""
    profile = agent.identity_profile or {}
    role = "Gateway Agent" if main else "Board Lead" if agent.role == "lead" else "Generalist"
    values = {
        "agent_name": agent.display_name or agent.agent_key,
        "agent_key": agent.agent_key,
        "role": str(profile.get("role") or role),
        "communication_style": str(profile.get("communication_style") or "direct, concise, practical"),
        "emoji": str(profile.get("emoji") or ":gear:"),
        "board_name": board_name or "(no board: the gateway main)",
        "board_objective_line": f"The board's objective: {objective}" if objective else "",
    }
    return {name: _template(name).safe_substitute(values) for name in (*OWNED, *KEPT)}


class TemplateSync:
    """Re-renders the MC agents' workspace files (org admins)."""

    def __init__(
        self, db: Database, org: OrgService, boards: BoardService, sessions_: SessionService
    ) -> None:
        self._db = db
        self._org = org
        self._boards = boards
        self._sessions = sessions_

    async def sync(self, who: Principal, gateway_id: UUID, query: SyncQuery) -> SyncResult:
        """Raises: Forbidden (not an org admin), NotFound (the gateway; ``board_id`` not readable)."""
        async with self._db.transaction() as conn:
            await self._org.admin(conn, who)
            await store.ensure_self_gateway(conn, who.tenant_id, SELF_NAME)
            row = await store.gateway(conn, who.tenant_id, gateway_id)
        if row is None:
            raise NotFound(kind="gateway", id=str(gateway_id))
        out = SyncResult(
            gateway_id=gateway_id, include_main=query.include_main, reset_sessions=query.reset_sessions
        )
        if not row.is_self:
            out.errors.append(SyncError(message=NOT_CONNECTED))
            return out
        if query.board_id is not None:
            await self._boards.board(who, query.board_id)
        async with self._db.connection() as conn:
            found = await board_agents.tenant_agents(conn, who.tenant_id, None, query.board_id)
            gateway_main = await agent_store.get_default(conn, who.tenant_id)
        boards: dict[UUID, tuple[str, str]] = {}
        for agent in found:
            main = gateway_main is not None and agent.id == gateway_main.id
            if agent.board_id is None and not main:
                continue  # an agent on no board is not Mission Control's
            if main and not query.include_main:
                continue
            try:
                if agent.board_id is not None and agent.board_id not in boards:
                    board = await self._boards.board(who, agent.board_id)
                    boards[agent.board_id] = (board.name, board.objective or "")
                name, objective = boards.get(agent.board_id, ("", "")) if agent.board_id else ("", "")
                changed = await self._write(who, agent, render_files(agent, name, objective, main))
                if query.reset_sessions:
                    await self._reset(who, agent)
            except GatewayError as exc:
                out.errors.append(SyncError(agent_id=agent.id, agent_name=agent.display_name or agent.agent_key,
                                            board_id=agent.board_id, message=exc.message()))  # fmt: skip
                continue
            if main:
                out.main_updated = True
            elif changed:
                out.agents_updated += 1
            else:
                out.agents_skipped += 1
        return out

    async def _write(self, who: Principal, agent: TenantAgent, files: dict[str, str]) -> bool:
        """Write the rendered files the rules allow; whether any file changed."""
        async with self._db.transaction() as conn:
            have = {
                f.file_name: f.content for f in await agent_store.all_files(conn, who.tenant_id, agent.id)
            }
            changed = False
            for name, text in files.items():
                if name in KEPT and have.get(name, "").strip():
                    continue
                if have.get(name) != text:
                    await agent_store.put_file(conn, who.tenant_id, agent.id, name, text)
                    changed = True
        return changed

    async def _reset(self, who: Principal, agent: TenantAgent) -> None:
        async with self._db.connection() as conn:
            rows = await sessions.list_sessions(
                conn, who.tenant_id, user_id=None, agent_id=agent.id, channel=None, limit=SESSIONS_RESET_MAX,
                offset=0,
            )  # fmt: skip
        for row in rows:
            await self._sessions.reset(who, row.session_key)
