"""Mission Control's agent lifecycle on boards (reference 1.6, 2.2): an MC agent is a ClawGate agent
(``agents``, so it runs, chats and lists on ``/v1/agents`` at once) with its MC side in
``agent_presence`` and its board in ``team_members``.

- A **lead** creates workers on the board it leads (``max_agents`` counted under the board's row
  lock, so two processes never both pass the limit), removes them, reads and writes their SOUL (the
  ``SOUL.md`` context file that is part of the agent's system prompt), and asks the user through
  the gateway main (``ask-user``: a user notification and an event on the board).
- The **gateway main** is the tenant's default agent (``is_default``, else the oldest): it messages
  a board's lead or every lead (a notification that becomes a run of the lead, ``board_loop``).
- **Users** (admins) list, create, change and delete MC agents (``/api/v1/agents``).

A new agent runs on the provider and model of the agent that made it (the lead, or the gateway
main for users and onboarding), so it can answer at once. Its key is the slug of its name, with the
board's short id when the slug is taken.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.errors import FailedPrecondition, NotFound, invalid_field
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.services.agent_api import AgentCaller, AgentRead, computed_status
from clawgate.services.agents import AgentService
from clawgate.services.board_loop import BoardLoop, Notice
from clawgate.services.board_rules import forbidden
from clawgate.services.boards import BoardService
from clawgate.services.tasks import TaskService
from clawgate.store import Database, DbConnection
from clawgate.store import agents as agent_store
from clawgate.store import board_agents as store
from clawgate.store import teams as team_store
from clawgate.store.board_agents import TenantAgent
from clawgate.store.coord_events import EventRow, NewEvent
from clawgate.store.types import AgentFields, AgentRow

__all__ = [
    "AskUserIn",
    "AskUserRead",
    "BoardAgentService",
    "BroadcastIn",
    "BroadcastRead",
    "LeadMessageIn",
    "LeadMessageRead",
    "McAgentCreate",
    "McAgentPatch",
    "SoulIn",
    "SoulRead",
    "agent_read",
]

SOUL: Final = "SOUL.md"
IDENTITY: Final = "IDENTITY.md"
Name = Annotated[str, Meta(min_length=1, max_length=255)]
Text = Annotated[str, Meta(min_length=1, max_length=20_000)]
Tags = Annotated[list[Annotated[str, Meta(min_length=1, max_length=100)]], Meta(max_length=20)]
_SLUG: Final = re.compile(r"[^a-z0-9_-]+")


class McAgentCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``AgentCreate``: a lead's is forced onto the board it leads (``board_id`` may name it)."""

    name: Name
    board_id: UUID | None = None
    heartbeat_config: dict[str, Any] | None = None
    identity_profile: dict[str, Any] | None = None
    identity_template: Annotated[str, Meta(max_length=100_000)] | None = None
    soul_template: Annotated[str, Meta(max_length=100_000)] | None = None


class McAgentPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``AgentUpdate``: absent keeps a field. ``status`` is the agent's heartbeat's to set (403)."""

    name: Name | UnsetType = UNSET
    board_id: UUID | UnsetType | None = UNSET
    heartbeat_config: dict[str, Any] | UnsetType = UNSET
    identity_profile: dict[str, Any] | UnsetType = UNSET
    identity_template: Annotated[str, Meta(max_length=100_000)] | UnsetType = UNSET
    soul_template: Annotated[str, Meta(max_length=100_000)] | UnsetType = UNSET
    is_gateway_main: bool | UnsetType = UNSET
    status: str | UnsetType = UNSET


class SoulIn(Struct, kw_only=True, forbid_unknown_fields=True):
    content: Annotated[str, Meta(max_length=100_000)]
    source_url: Annotated[str, Meta(max_length=2_000)] | None = None
    reason: Annotated[str, Meta(max_length=2_000)] | None = None


class SoulRead(Struct, kw_only=True):
    """An agent's SOUL.md (MC answers the bare string; here a typed object)."""

    agent_id: UUID
    content: str


class AskUserIn(Struct, kw_only=True, forbid_unknown_fields=True):
    content: Text
    correlation_id: Annotated[str, Meta(max_length=200)] | None = None
    preferred_channel: Annotated[str, Meta(max_length=100)] | None = None
    reply_tags: Tags = msgspec.field(default_factory=lambda: ["gateway_main", "user_reply"])
    reply_source: Annotated[str, Meta(max_length=200)] = "user_via_gateway_main"


class AskUserRead(Struct, kw_only=True):
    ok: bool
    board_id: UUID
    main_agent_id: UUID | None
    main_agent_name: str | None
    notification_id: UUID


class LeadMessageIn(Struct, kw_only=True, forbid_unknown_fields=True):
    content: Text
    kind: Literal["question", "handoff"] = "question"
    correlation_id: Annotated[str, Meta(max_length=200)] | None = None
    reply_tags: Tags = msgspec.field(default_factory=lambda: ["gateway_main", "lead_reply"])
    reply_source: Annotated[str, Meta(max_length=200)] = "lead_to_gateway_main"


class BroadcastIn(LeadMessageIn, kw_only=True, forbid_unknown_fields=True):
    """``board_ids`` absent: every board of the tenant."""

    board_ids: Annotated[list[UUID], Meta(max_length=500)] | None = None


class LeadMessageRead(Struct, kw_only=True):
    ok: bool
    board_id: UUID
    lead_agent_id: UUID | None
    lead_agent_name: str | None
    lead_created: bool = False
    error: str | None = None


class BroadcastRead(Struct, kw_only=True):
    ok: bool
    sent: int
    failed: int
    results: list[LeadMessageRead]


def _profile(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """MC's identity profile: values as strings, lists joined by ``, ``."""
    if values is None:
        return None
    return {k: ", ".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in values.items()}


def _named(body: McAgentCreate) -> None:
    if not body.name.strip():
        raise invalid_field("$.name", "name must not be blank")


def _slug(name: str) -> str:
    return _SLUG.sub("-", name.strip().lower()).strip("-")[:80] or "agent"


def agent_read(row: TenantAgent, now: datetime) -> AgentRead:
    return AgentRead(id=row.id, board_id=row.board_id, name=row.display_name or row.agent_key,
                     agent_key=row.agent_key, status=computed_status(row.status, row.last_seen_at, now),
                     is_board_lead=row.role == "lead", is_gateway_main=row.is_default,
                     last_seen_at=row.last_seen_at, created_at=row.created_at,
                     identity_profile=row.identity_profile, heartbeat_config=row.heartbeat_config)  # fmt: skip


class BoardAgentService:
    """Agents made, changed and removed through Mission Control, and the gateway main's messages."""

    def __init__(self, db: Database, agents: AgentService, boards: BoardService, tasks: TaskService) -> None:
        self._db = db
        self._agents = agents
        self._boards = boards
        self._tasks = tasks

    # -- shared ----------------------------------------------------------------------------------

    @staticmethod
    async def main(conn: DbConnection, tenant_id: UUID) -> AgentRow | None:
        """The gateway main: the tenant's default agent (else its oldest)."""
        return await agent_store.get_default(conn, tenant_id)

    async def changed(self, tenant_id: UUID, key: str, action: str) -> None:
        """After a commit that wrote an agent: every process drops its cached agent lists
        (``AgentService.changed``; onboarding's lead)."""
        await self._agents.changed(tenant_id, key, action)

    async def _is_main(self, caller: AgentCaller) -> None:
        """Raises: Forbidden unless the caller is the gateway main."""
        async with self._db.connection() as conn:
            main = await self.main(conn, caller.tenant_id)
        if main is None or main.id != caller.agent_id:
            raise forbidden("Only the gateway main agent may do this.", "gateway_main_only")

    async def make(
        self, conn: DbConnection, tenant_id: UUID, template: AgentRow, body: McAgentCreate, board_id: UUID | None,
        role: str = "member",
    ) -> AgentRow:  # fmt: skip
        """A new ClawGate agent running on ``template``'s provider and model, on ``board_id`` with
        ``role``, with its MC profile and templates; in the caller's transaction (``announce``
        after the commit). Raises: InvalidRequest (a blank name), FailedPrecondition (a name taken
        on the board)."""
        _named(body)
        if board_id is not None:
            taken = {(m.display_name or m.agent_key).lower() for m in await team_store.list_members(conn, tenant_id,
                                                                                                     board_id)}  # fmt: skip
            if body.name.strip().lower() in taken:
                raise FailedPrecondition(detail="An agent with this name already exists on this board.")
        key = _slug(body.name)
        if await agent_store.get_by_key(conn, tenant_id, key) is not None:
            key = f"{key}-{str(board_id or template.id)[:8]}"
        fields = AgentFields(agent_key=key, display_name=body.name.strip(), owner_id="mission_control",
                             provider=template.provider, model=template.model)  # fmt: skip
        row = await agent_store.insert(conn, tenant_id, fields)
        if board_id is not None:
            await team_store.put_member(conn, tenant_id, board_id, row.id, role)
        await store.set_profile(
            conn, tenant_id, row.id, _profile(body.identity_profile), body.heartbeat_config
        )
        for name, text in ((SOUL, body.soul_template), (IDENTITY, body.identity_template)):
            if text:
                await agent_store.put_file(conn, tenant_id, row.id, name, text)
        return row

    @staticmethod
    async def merge_profile(
        conn: DbConnection, tenant_id: UUID, agent_id: UUID, values: dict[str, Any]
    ) -> None:
        """Merge ``values`` into the agent's MC identity profile (coerced to strings, as made), in
        the caller's transaction."""
        current = await store.tenant_agents(conn, tenant_id, agent_id)
        profile = {**(current[0].identity_profile or {} if current else {}), **(_profile(values) or {})}
        await store.set_profile(conn, tenant_id, agent_id, profile, None)

    async def read(self, tenant_id: UUID, agent_id: UUID, board_id: UUID | None = None) -> AgentRead:
        async with self._db.connection() as conn:
            rows = await store.tenant_agents(conn, tenant_id, agent_id, board_id)
        if not rows:
            raise NotFound(kind="agent", id=str(agent_id))
        return agent_read(rows[0], datetime.now(UTC))

    async def _gone(
        self, conn: DbConnection, tenant_id: UUID, agent_id: UUID, board_id: UUID | None, by: str, out: list[EventRow]
    ) -> None:  # fmt: skip
        """The agent leaves ``board_id`` (None: every board) and its open tasks there lose it (in
        progress back to the inbox); it is deleted when it is on no board any more."""
        released = await store.release_tasks(conn, tenant_id, agent_id, board_id)
        if board_id is None:
            boards = await store.leave_all(conn, tenant_id, agent_id)
        else:
            await team_store.remove_member(conn, tenant_id, board_id, agent_id)
            boards = [board_id]
        still = await store.tenant_agents(conn, tenant_id, agent_id)
        if board_id is None or (still and still[0].board_id is None):
            await agent_store.soft_delete(conn, tenant_id, agent_id)
        for b in boards:
            tasks = [str(t) for t, team in released if team == b]
            await TaskService.record(
                conn, tenant_id,
                NewEvent(kind="agent.deleted", team_id=b, agent_id=agent_id, message=f"Agent removed by {by}.",
                         data={"released_task_ids": tasks}),
                out,
            )  # fmt: skip

    # -- the lead's routes -------------------------------------------------------------------------

    async def create_worker(self, caller: AgentCaller, body: McAgentCreate) -> AgentRead:
        """The lead makes a worker on the board it leads. Raises: Forbidden (not a lead, or
        ``board_id`` another board), FailedPrecondition (``max_agents`` reached, a name taken)."""
        _named(body)
        led = [b for b, role in caller.boards.items() if role == "lead"]
        board_id = body.board_id if body.board_id is not None else (led[0] if led else None)
        if board_id is None:
            raise forbidden("Only the board lead may do this.", "lead_only")
        caller.lead(board_id)
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            board = await team_store.get_team(conn, caller.tenant_id, board_id)
            template = await agent_store.get(conn, caller.tenant_id, caller.agent_id)
            if (
                board is None
                or template is None
                or not await team_store.lock_team(conn, caller.tenant_id, board_id)
            ):
                raise NotFound(kind="board", id=str(board_id))
            if await store.workers_count(conn, caller.tenant_id, board_id) >= board.max_agents:
                raise FailedPrecondition(detail="Board worker-agent limit reached.")
            row = await self.make(conn, caller.tenant_id, template, body, board_id)
            await TaskService.record(
                conn, caller.tenant_id,
                NewEvent(kind="agent.created", team_id=board_id, agent_id=row.id,
                         message=f"Agent {row.display_name} created by {caller.name}.",
                         data={"by": str(caller.agent_id)}),
                out,
            )  # fmt: skip
        await self._tasks.announce(out)
        await self._agents.changed(caller.tenant_id, row.agent_key, "created")
        return await self.read(caller.tenant_id, row.id, board_id)

    async def delete_from_board(self, caller: AgentCaller, board_id: UUID, agent_id: UUID) -> None:
        """The lead removes an agent of its board: the agent's open tasks there are unassigned (in
        progress back to the inbox), and it is deleted when it is on no other board. Never the lead
        itself nor the gateway main. Raises: Forbidden, NotFound."""
        caller.lead(board_id)
        if agent_id == caller.agent_id:
            raise forbidden("The board lead cannot delete itself.", "lead_only")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            members = {m.agent_id: m for m in await team_store.list_members(conn, caller.tenant_id, board_id)}
            if agent_id not in members:
                raise NotFound(kind="agent", id=str(agent_id))
            main = await self.main(conn, caller.tenant_id)
            if main is not None and main.id == agent_id:
                raise forbidden("Board leads cannot delete the gateway main agent.", "gateway_main_protected")
            await self._gone(conn, caller.tenant_id, agent_id, board_id, caller.name, out)
        await self._tasks.announce(out)
        await self._agents.changed(caller.tenant_id, members[agent_id].agent_key, "deleted")

    async def _soul_target(self, caller: AgentCaller, board_id: UUID, agent_id: UUID, write: bool) -> str:
        """The target's agent key. Raises: Forbidden (not the lead, and for reads not itself), NotFound."""
        caller.actor(board_id)
        if write or agent_id != caller.agent_id:
            caller.lead(board_id)
        async with self._db.connection() as conn:
            members = await team_store.list_members(conn, caller.tenant_id, board_id)
        found = next((m for m in members if m.agent_id == agent_id), None)
        if found is None:
            raise NotFound(kind="agent", id=str(agent_id))
        return found.agent_key

    async def soul(self, caller: AgentCaller, board_id: UUID, agent_id: UUID) -> SoulRead:
        """The agent's SOUL.md ("" when it has none): the lead, or the agent itself."""
        await self._soul_target(caller, board_id, agent_id, write=False)
        async with self._db.connection() as conn:
            found = await agent_store.get_file(conn, caller.tenant_id, agent_id, SOUL)
        return SoulRead(agent_id=agent_id, content=found.content if found is not None else "")

    async def set_soul(self, caller: AgentCaller, board_id: UUID, agent_id: UUID, body: SoulIn) -> None:
        """The lead rewrites an agent's SOUL.md (its next run's system prompt); an
        ``agent.soul.updated`` event on the board."""
        key = await self._soul_target(caller, board_id, agent_id, write=True)
        if not body.content.strip():
            raise invalid_field("$.content", "content must not be blank")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            await agent_store.put_file(conn, caller.tenant_id, agent_id, SOUL, body.content)
            await TaskService.record(
                conn, caller.tenant_id,
                NewEvent(kind="agent.soul.updated", team_id=board_id, agent_id=agent_id,
                         message=body.reason or f"SOUL updated by {caller.name}.",
                         data={"by": str(caller.agent_id), "source_url": body.source_url,
                               "reason": body.reason}),
                out,
            )  # fmt: skip
        await self._tasks.announce(out)
        await self._agents.changed(caller.tenant_id, key, "file")

    async def ask_user(self, caller: AgentCaller, board_id: UUID, body: AskUserIn) -> AskUserRead:
        """The lead asks the human through the gateway main: a user notification (listed with
        ClawTasker's console notifications) and a ``gateway.ask_user`` event on the board."""
        caller.lead(board_id)
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            main = await self.main(conn, caller.tenant_id)
            event = await TaskService.record(
                conn, caller.tenant_id,
                NewEvent(kind="gateway.ask_user", team_id=board_id, agent_id=caller.agent_id,
                         message=body.content[:500],
                         data={"correlation_id": body.correlation_id, "preferred_channel": body.preferred_channel,
                               "reply_tags": body.reply_tags, "reply_source": body.reply_source}),
                out,
            )  # fmt: skip
            text = f"From {caller.name} (board {board_id}):\n{body.content}"
            made = await store.user_notification(conn, caller.tenant_id, event.seq, "user", "gateway.ask_user",
                                                 "LEAD ASKS THE USER", text, board_id)  # fmt: skip
        await self._tasks.announce(out)
        return AskUserRead(ok=True, board_id=board_id, main_agent_id=main.id if main else None,
                           main_agent_name=(main.display_name or main.agent_key) if main else None,
                           notification_id=made)  # fmt: skip

    # -- the gateway main's routes ---------------------------------------------------------------

    async def lead_message(self, caller: AgentCaller, board_id: UUID, body: LeadMessageIn) -> LeadMessageRead:
        """The gateway main messages a board's lead (a run of the lead). Raises: Forbidden (not
        the main), NotFound (not a board of its tenant), FailedPrecondition (no lead)."""
        await self._is_main(caller)
        (result,) = await self._to_leads(caller, [board_id], body)
        if result.error == "not_found":
            raise NotFound(kind="board", id=str(board_id))
        if not result.ok:
            raise FailedPrecondition(detail=result.error or "Board has no lead agent.")
        return result

    async def broadcast(self, caller: AgentCaller, body: BroadcastIn) -> BroadcastRead:
        """The gateway main messages the leads of ``board_ids`` (absent: every board of its
        tenant); a result per board."""
        await self._is_main(caller)
        if body.board_ids is None:
            async with self._db.connection() as conn:
                board_ids = [t.id for t in await team_store.list_teams(conn, caller.tenant_id, None, 500)]
        else:
            board_ids = list(dict.fromkeys(body.board_ids))
        results = await self._to_leads(caller, board_ids, body)
        for r in results:
            r.error = "Board not found." if r.error == "not_found" else r.error
        sent = sum(r.ok for r in results)
        return BroadcastRead(ok=sent == len(results), sent=sent, failed=len(results) - sent, results=results)

    async def _to_leads(
        self, caller: AgentCaller, board_ids: Sequence[UUID], body: LeadMessageIn
    ) -> list[LeadMessageRead]:
        out: list[EventRow] = []
        ids: list[UUID] = []
        results: list[LeadMessageRead] = []
        head = "GATEWAY MAIN HANDOFF" if body.kind == "handoff" else "GATEWAY MAIN QUESTION"
        async with self._db.transaction() as conn:
            for board_id in board_ids:
                if await team_store.get_team(conn, caller.tenant_id, board_id) is None:
                    results.append(LeadMessageRead(ok=False, board_id=board_id, lead_agent_id=None,
                                                   lead_agent_name=None, error="not_found"))  # fmt: skip
                    continue
                members = await team_store.list_members(conn, caller.tenant_id, board_id)
                lead = next((m for m in members if m.role == "lead"), None)
                if lead is None:
                    results.append(LeadMessageRead(ok=False, board_id=board_id, lead_agent_id=None,
                                                   lead_agent_name=None, error="Board has no lead agent."))  # fmt: skip
                    continue
                event = await TaskService.record(
                    conn, caller.tenant_id,
                    NewEvent(kind="gateway.lead_message", team_id=board_id, agent_id=lead.agent_id,
                             message=body.content[:500],
                             data={"kind": body.kind, "by": str(caller.agent_id), "correlation_id": body.correlation_id}),
                    out,
                )  # fmt: skip
                text = (f"{head}\nBoard ID: {board_id}\nFrom: {caller.name} (gateway main)\n"
                        f"Correlation ID: {body.correlation_id or '-'}\n\n{body.content}\n\n"
                        f"Reply on board memory (POST /api/v1/agent/boards/{board_id}/memory) tagged "
                        f"{', '.join(body.reply_tags)}; source {body.reply_source}.")  # fmt: skip
                notice = Notice(lead.agent_id, f"gateway.{body.kind}", head, text)
                if self._boards.loop is not None:
                    await BoardLoop.queue(conn, caller.tenant_id, event.seq, board_id, [notice], ids)
                results.append(LeadMessageRead(ok=True, board_id=board_id, lead_agent_id=lead.agent_id,
                                               lead_agent_name=lead.display_name or lead.agent_key))  # fmt: skip
        await self._tasks.announce(out)
        if ids and self._boards.loop is not None:
            await self._boards.loop.deliver(ids)
        return results

    # -- users (/api/v1/agents) ------------------------------------------------------------------

    async def list_agents(
        self, who: Principal, board_id: UUID | None, limit: int, offset: int
    ) -> tuple[list[AgentRead], int]:
        """The tenant's agents (MC: the organisation admin's view), oldest first."""
        require(who, Role.ADMIN, "list Mission Control agents")
        async with self._db.connection() as conn:
            rows = await store.tenant_agents(conn, who.tenant_id, None, board_id)
        now = datetime.now(UTC)
        return [agent_read(r, now) for r in rows[offset : offset + limit]], len(rows)

    async def find_or_create(self, who: Principal, name: str, board_id: UUID | None) -> UUID:
        """The tenant's agent named ``name`` (its name or key, case-insensitive), made first (on
        ``board_id`` as a worker when given) when there is none (MC's heartbeat by name)."""
        agents, _ = await self.list_agents(who, None, 100_000, 0)
        wanted = name.strip().casefold()
        found = next((a for a in agents if wanted in (a.name.casefold(), a.agent_key.casefold())), None)
        if found is not None:
            return found.id
        return (await self.create(who, McAgentCreate(name=name, board_id=board_id))).id

    async def get(self, who: Principal, agent_id: UUID) -> AgentRead:
        require(who, Role.ADMIN, "read a Mission Control agent")
        return await self.read(who.tenant_id, agent_id)

    async def create(self, who: Principal, body: McAgentCreate) -> AgentRead:
        """A new agent (on ``board_id`` as a worker when given), running on the gateway main's
        provider and model. Raises: Forbidden, NotFound (board), FailedPrecondition (no agent to
        copy, a name taken)."""
        require(who, Role.ADMIN, "create a Mission Control agent")
        _named(body)
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            template = await self.main(conn, who.tenant_id)
            if template is None:
                raise FailedPrecondition(detail="Create a ClawGate agent first (POST /v1/agents): new agents run "
                                                "on the gateway main's provider and model.")  # fmt: skip
            if body.board_id is not None and not await team_store.lock_team(
                conn, who.tenant_id, body.board_id
            ):
                raise NotFound(kind="board", id=str(body.board_id))
            row = await self.make(conn, who.tenant_id, template, body, body.board_id)
            if body.board_id is not None:
                await TaskService.record(
                    conn, who.tenant_id,
                    NewEvent(kind="agent.created", team_id=body.board_id, agent_id=row.id,
                             user_id=who.coord_user, message=f"Agent {row.display_name} created."),
                    out,
                )  # fmt: skip
        await self._tasks.announce(out)
        await self._agents.changed(who.tenant_id, row.agent_key, "created")
        return await self.read(who.tenant_id, row.id, body.board_id)

    async def update(self, who: Principal, agent_id: UUID, body: McAgentPatch) -> AgentRead:
        """Change an agent's name, board, profile, templates, or make it the gateway main.
        Raises: Forbidden (``status``: the heartbeat's), NotFound, FailedPrecondition."""
        require(who, Role.ADMIN, "update a Mission Control agent")
        if body.status is not UNSET:
            raise forbidden("status is controlled by agent heartbeat")
        async with self._db.transaction() as conn:
            locked = await agent_store.get_for_update(conn, who.tenant_id, agent_id)
            if locked is None:
                raise NotFound(kind="agent", id=str(agent_id))
            current = (await store.tenant_agents(conn, who.tenant_id, agent_id))[0]
            fields = agent_store.fields_of(locked)
            if body.name is not UNSET:
                fields = msgspec.structs.replace(fields, display_name=body.name.strip())
            if body.is_gateway_main is not UNSET:
                fields = msgspec.structs.replace(fields, is_default=body.is_gateway_main)
            row = await agent_store.update(conn, who.tenant_id, agent_id, fields)
            if row.is_default:
                await agent_store.clear_default(conn, who.tenant_id, row.id)
            if body.board_id is not UNSET and body.board_id != current.board_id:
                if current.board_id is not None and current.role != "lead":
                    await team_store.remove_member(conn, who.tenant_id, current.board_id, agent_id)
                if body.board_id is not None:
                    if not await team_store.lock_team(conn, who.tenant_id, body.board_id):
                        raise NotFound(kind="board", id=str(body.board_id))
                    await team_store.put_member(conn, who.tenant_id, body.board_id, agent_id, "member")
            profile = None if body.identity_profile is UNSET else _profile(body.identity_profile)
            beat = None if body.heartbeat_config is UNSET else body.heartbeat_config
            await store.set_profile(conn, who.tenant_id, agent_id, profile, beat)
            for name, text in ((SOUL, body.soul_template), (IDENTITY, body.identity_template)):
                if text is not UNSET:
                    await agent_store.put_file(conn, who.tenant_id, agent_id, name, text)
        await self._agents.changed(who.tenant_id, row.agent_key, "updated")
        board = None if body.board_id is UNSET else body.board_id
        return await self.read(who.tenant_id, agent_id, board)

    async def delete(self, who: Principal, agent_id: UUID) -> None:
        """Delete an agent: it leaves its boards, its open tasks are unassigned (in progress back to
        the inbox). Raises: Forbidden, NotFound."""
        require(who, Role.ADMIN, "delete a Mission Control agent")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            row = await agent_store.get_for_update(conn, who.tenant_id, agent_id)
            if row is None:
                raise NotFound(kind="agent", id=str(agent_id))
            await self._gone(conn, who.tenant_id, agent_id, None, who.user_id or "a user", out)
        await self._tasks.announce(out)
        await self._agents.changed(who.tenant_id, row.agent_key, "deleted")
