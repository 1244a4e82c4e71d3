"""Mission Control's agent-facing surface (``/api/v1/agent/*``, reference 2.2): who an agent token
is, the agent-auth rate limit, and what a lead or a worker agent may do on its boards. Task rules
are the board service's (``clawgate.services.boards``) with the agent as the actor; this module adds
the agent's reach (its own boards only), board memory and chat, and presence.

- **Tokens**: ``mca_`` and 48 hex characters, shown once, stored as SHA-256 with a 16-character
  indexed prefix in ``agent_presence`` (the API keys' hashing, ``clawgate.crypto``): a lookup reads
  one row by the prefix and compares hashes in constant time. Minting again replaces the token;
  revoking clears it.
- **Rate limit**: 20 agent-authenticated requests per 60 s per client IP (MC's sliding window),
  decided in PostgreSQL (``window_hits``, ``clawgate.store.windows``) so every process counts the same; a refused request
  still takes a slot.
- **Reach**: an agent reaches the boards it is a member of (``team_members``): the lead's on a
  board it leads, a worker's elsewhere. Any other board, this tenant's or another's, is 403.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from clawgate.crypto import agent_token_prefix, constant_time_equals, hash_api_key, new_agent_token
from clawgate.errors import NotFound, Unauthorized, invalid_field
from clawgate.principal import Principal, Role
from clawgate.ratelimit import exhausted
from clawgate.services import board_loop as notify
from clawgate.services import require
from clawgate.services.board_loop import BoardLoop
from clawgate.services.board_rules import Actor, forbidden
from clawgate.services.boards import BoardRead, BoardService, board_out
from clawgate.services.tasks import TaskService
from clawgate.store import Database, windows
from clawgate.store import agent_api as store
from clawgate.store import agents as agent_store
from clawgate.store import teams as team_store
from clawgate.store.agent_api import AgentBrief, MemoryFields, MemoryRow
from clawgate.store.coord_events import EventRow, NewEvent

__all__ = [
    "AGENT_AUTH_LIMIT",
    "AGENT_AUTH_WINDOW",
    "AgentApiService",
    "AgentCaller",
    "AgentRead",
    "AgentToken",
    "HeartbeatIn",
    "HeartbeatRead",
    "MemoryCreate",
    "MemoryRead",
    "NudgeIn",
    "agent_out",
    "chat_tags",
]

AGENT_AUTH_LIMIT: Final = 20
AGENT_AUTH_WINDOW: Final = 60.0
OFFLINE_AFTER: Final = timedelta(minutes=10)
TOUCH_EVERY: Final = timedelta(seconds=30)
"""An authenticated agent request marks the agent seen (and online) at most this often."""


@dataclass(frozen=True, slots=True)
class AgentCaller:
    """An authenticated agent: its tenant, id, key and name, and the boards it is on (role each)."""

    tenant_id: UUID
    agent_id: UUID
    agent_key: str
    name: str
    boards: dict[UUID, str]

    @property
    def principal(self) -> Principal:
        """The board service's caller for this agent: the tenant's boards are reachable to it
        (``sees_all``); the agent API narrows them to the agent's own first (``board``)."""
        return Principal(role=Role.ADMIN, user_id="", tenant_id=self.tenant_id, via="agent")

    def actor(self, board_id: UUID) -> Actor:
        """The lead on a board it leads, else a worker. Raises: Forbidden (not its board)."""
        role = self.boards.get(board_id)
        if role is None:
            raise forbidden("Agent may only access its own boards.", "agent_board_forbidden")
        return Actor("lead" if role == "lead" else "worker", self.agent_id)

    def lead(self, board_id: UUID) -> Actor:
        """Raises: Forbidden (not its board, or not its lead)."""
        actor = self.actor(board_id)
        if actor.kind != "lead":
            raise forbidden("Only the board lead may do this.", "lead_only")
        return actor


class AgentToken(Struct, kw_only=True):
    agent_id: UUID
    token: str


class AgentRead(Struct, kw_only=True):
    """MC's ``AgentRead`` (the part this ClawGate keeps), with the computed status."""

    id: UUID
    board_id: UUID | None
    name: str
    agent_key: str
    status: str
    is_board_lead: bool
    is_gateway_main: bool
    last_seen_at: datetime | None
    created_at: datetime
    identity_profile: dict[str, Any] | None = None
    heartbeat_config: dict[str, Any] | None = None


class HeartbeatIn(Struct, kw_only=True, forbid_unknown_fields=True):
    status: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class HeartbeatRead(Struct, kw_only=True):
    ok: bool
    agent_id: UUID
    status: str
    last_seen_at: datetime


class MemoryCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``BoardMemoryCreate``: a chat message is ``is_chat`` or tagged ``chat``."""

    content: Annotated[str, Meta(min_length=1, max_length=20_000)]
    tags: Annotated[list[Annotated[str, Meta(min_length=1, max_length=100)]], Meta(max_length=50)] = (
        msgspec.field(default_factory=list)
    )
    source: Annotated[str, Meta(max_length=200)] | None = None
    is_chat: bool = False


class NudgeIn(Struct, kw_only=True, forbid_unknown_fields=True):
    message: Annotated[str, Meta(min_length=1, max_length=20_000)]


class MemoryRead(MemoryFields, kw_only=True):
    board_id: UUID


def computed_status(status: str, last_seen: datetime | None, now: datetime) -> str:
    """MC's read-time status: deleting/updating kept; never seen = provisioning; silent 10 min = offline."""
    if status in ("deleting", "updating"):
        return status
    if last_seen is None:
        return "provisioning"
    return "offline" if now - last_seen > OFFLINE_AFTER else status


def agent_out(r: AgentBrief, now: datetime, main_id: UUID | None = None) -> AgentRead:
    """An agent of a board as MC reads it, with its status computed at ``now`` (``main_id``: the
    tenant's gateway main)."""
    return AgentRead(id=r.id, board_id=r.board_id, name=r.display_name or r.agent_key, agent_key=r.agent_key,
                     status=computed_status(r.status, r.last_seen_at, now), is_board_lead=r.role == "lead",
                     is_gateway_main=main_id == r.id, last_seen_at=r.last_seen_at, created_at=r.created_at)  # fmt: skip


def chat_tags(body: MemoryCreate) -> tuple[bool, list[str]]:
    """Whether a memory entry is chat (``is_chat`` or tagged ``chat``: then tagged ``chat``), and
    its tags. Raises: InvalidRequest (blank content)."""
    if not body.content.strip():
        raise invalid_field("$.content", "content must not be blank")
    chat = body.is_chat or "chat" in body.tags
    return chat, list(dict.fromkeys([*body.tags, *(["chat"] if chat else [])]))


def memory_out(board_id: UUID, row: MemoryRow) -> MemoryRead:
    fields = {f: getattr(row, f) for f in MemoryFields.__struct_fields__}
    return MemoryRead(**fields, board_id=board_id)


class AgentApiService:
    """Agent tokens, the agent-auth limit, and the agent's view of its boards."""

    def __init__(self, db: Database, boards: BoardService, tasks: TaskService) -> None:
        self._db = db
        self.boards = boards
        self._tasks = tasks

    # -- tokens and auth --------------------------------------------------------------------------

    async def mint_token(self, who: Principal, agent_id: UUID) -> AgentToken:
        """A new token for the tenant's agent (shown once; an earlier one stops working). Admins
        only. Raises: Forbidden, NotFound."""
        require(who, Role.ADMIN, "mint an agent token")
        raw, prefix, digest = new_agent_token()
        await self._set_token(who, agent_id, prefix, digest)
        return AgentToken(agent_id=agent_id, token=raw)

    async def revoke_token(self, who: Principal, agent_id: UUID) -> None:
        require(who, Role.ADMIN, "revoke an agent token")
        await self._set_token(who, agent_id, None, None)

    async def _set_token(
        self, who: Principal, agent_id: UUID, prefix: str | None, digest: str | None
    ) -> None:
        async with self._db.transaction() as conn:
            if not await team_store.agent_exists(conn, who.tenant_id, agent_id):
                raise NotFound(kind="agent", id=str(agent_id))
            if not await store.set_token(conn, who.tenant_id, agent_id, prefix, digest):
                raise NotFound(kind="agent", id=str(agent_id))

    async def limit(self, ip: str) -> None:
        """One agent-authenticated request from ``ip``. Raises: ResourceExhausted (429, Retry-After)."""
        async with self._db.transaction() as conn:
            wait = await windows.hit(
                conn, f"agent:{ip}"[:200], AGENT_AUTH_WINDOW, AGENT_AUTH_LIMIT, refused_counts=True
            )
        if wait:
            raise exhausted(wait)

    async def authenticate(self, token: str) -> AgentCaller:
        """The agent behind ``token``, marked seen (online) at most every 30 s. Raises:
        Unauthorized (unknown, malformed or revoked)."""
        prefix = agent_token_prefix(token.strip())
        if prefix is None:
            raise Unauthorized("failed_precondition", detail="Invalid agent token.")
        async with self._db.connection() as conn:
            row = await store.token_candidate(conn, prefix)
            digest = hash_api_key(token.strip())
            if row is None or row.token_hash is None or not constant_time_equals(row.token_hash, digest):
                raise Unauthorized("failed_precondition", detail="Invalid agent token.")
            boards = await store.memberships(conn, row.tenant_id, row.agent_id)
            if row.last_seen_at is None or datetime.now(UTC) - row.last_seen_at > TOUCH_EVERY:
                await store.touch(conn, row.tenant_id, row.agent_id)
        return AgentCaller(
            row.tenant_id, row.agent_id, row.agent_key, row.display_name or row.agent_key, boards
        )

    async def caller_of(self, tenant_id: UUID, agent_id: UUID) -> AgentCaller | None:
        """The agent as its own tools act (a run of it): None when it is on no board."""
        async with self._db.connection() as conn:
            boards = await store.memberships(conn, tenant_id, agent_id)
            if not boards:
                return None
            members = await team_store.list_members(conn, tenant_id, next(iter(boards)))
        me = next((m for m in members if m.agent_id == agent_id), None)
        name = (me.display_name or me.agent_key) if me else ""
        return AgentCaller(tenant_id, agent_id, me.agent_key if me else "", name, boards)

    # -- reads ------------------------------------------------------------------------------------

    async def list_boards(self, caller: AgentCaller) -> list[BoardRead]:
        async with self._db.connection() as conn:
            rows = [await team_store.get_team(conn, caller.tenant_id, b) for b in caller.boards]
        return [board_out(r) for r in rows if r is not None]

    async def agents(self, caller: AgentCaller, board_id: UUID | None) -> list[AgentRead]:
        if board_id is not None:
            caller.actor(board_id)
        boards = [board_id] if board_id is not None else list(caller.boards)
        async with self._db.connection() as conn:
            rows = await store.board_agents(conn, caller.tenant_id, boards)
            main = await agent_store.get_default(conn, caller.tenant_id)  # the gateway main (board_agents)
        now = datetime.now(UTC)
        return [agent_out(r, now, main.id if main is not None else None) for r in rows]

    async def heartbeat_of(self, who: Principal, agent_id: UUID, status: str | None) -> HeartbeatRead:
        """A user's heartbeat for one of the tenant's agents (MC's ``POST /agents/{id}/heartbeat``),
        as the agent's own: an ``agent.heartbeat`` event on each of its boards. The caller checks
        that the agent is the tenant's."""
        require(who, Role.OPERATOR, "record an agent heartbeat")
        caller = await self.caller_of(who.tenant_id, agent_id)
        return await self.heartbeat(caller or AgentCaller(who.tenant_id, agent_id, "", "", {}), status)

    async def heartbeat(self, caller: AgentCaller, status: str | None) -> HeartbeatRead:
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            now_status, seen = await store.heartbeat(conn, caller.tenant_id, caller.agent_id, status)
            for board_id in caller.boards:
                await TaskService.record(
                    conn, caller.tenant_id,
                    NewEvent(kind="agent.heartbeat", team_id=board_id, agent_id=caller.agent_id,
                             message=f"Heartbeat from {caller.name}.", data={"status": now_status}),
                    out,
                )  # fmt: skip
        await self._tasks.announce(out)
        return HeartbeatRead(ok=True, agent_id=caller.agent_id, status=now_status, last_seen_at=seen)

    # -- board memory and chat --------------------------------------------------------------------

    async def memory(
        self, caller: AgentCaller, board_id: UUID, is_chat: bool | None, limit: int, offset: int
    ) -> tuple[list[MemoryRead], int]:
        caller.actor(board_id)
        return await self._memory(caller.tenant_id, board_id, is_chat, limit, offset)

    async def user_memory(
        self, who: Principal, board_id: UUID, is_chat: bool | None, limit: int, offset: int
    ) -> tuple[list[MemoryRead], int]:
        """A board's memory for a user who reads the board. Raises: NotFound."""
        await self.boards.board(who, board_id)
        return await self._memory(who.tenant_id, board_id, is_chat, limit, offset)

    async def memory_entry(self, tenant_id: UUID, board_id: UUID, memory_id: UUID) -> MemoryRead | None:
        """One entry of a board's memory (the stream's frame), None when it is gone."""
        found, _ = await self._memory(tenant_id, board_id, None, 1, 0, memory_id)
        return found[0] if found else None

    async def _memory(
        self, tenant_id: UUID, board_id: UUID, is_chat: bool | None, limit: int, offset: int,
        memory_id: UUID | None = None,
    ) -> tuple[list[MemoryRead], int]:  # fmt: skip
        async with self._db.connection() as conn:
            rows = await store.list_memory(
                conn, tenant_id, board_id, is_chat, limit, offset, memory_id=memory_id
            )
        return [memory_out(board_id, r) for r in rows], rows[0].total if rows else 0

    async def post_memory(self, caller: AgentCaller, board_id: UUID, body: MemoryCreate) -> MemoryRead:
        """An agent's entry on one of its boards. Raises: Forbidden (not its board), InvalidRequest."""
        caller.actor(board_id)
        return await self._post(caller.tenant_id, board_id, body, caller.agent_id, caller.name, None)

    async def user_post_memory(self, who: Principal, board_id: UUID, body: MemoryCreate) -> MemoryRead:
        """A user's entry (MC's ``POST /boards/{b}/memory``): needs write access to the board.
        Raises: NotFound, Forbidden (read-only access), InvalidRequest (blank content)."""
        await self.boards.board(who, board_id, write=True)
        name = who.user_id or "User"
        return await self._post(who.tenant_id, board_id, body, None, name, who.coord_user)

    async def _post(
        self, tenant_id: UUID, board_id: UUID, body: MemoryCreate, agent_id: UUID | None, name: str,
        user_id: str | None,
    ) -> MemoryRead:  # fmt: skip
        """A memory entry by an agent or (``agent_id`` None) a user; a chat message (``is_chat`` or
        tagged ``chat``) reaches the lead and the mentioned agents (reference 2.6) as runs, never
        the author."""
        chat, tags = chat_tags(body)
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            row = await store.insert_memory(
                conn, tenant_id, board_id, author_kind="agent" if agent_id else "user",
                author_id=str(agent_id) if agent_id else user_id or "", source=body.source or name,
                content=body.content, tags=tags, is_chat=chat,
            )  # fmt: skip
            await TaskService.record(
                conn, tenant_id,
                NewEvent(kind="board.memory", team_id=board_id, agent_id=agent_id, user_id=user_id,
                         message=body.content[:500], data={"memory_id": str(row.id), "is_chat": chat}),
                out,
            )  # fmt: skip
            if chat and self.boards.loop is not None:
                members = notify.members_of(await team_store.list_members(conn, tenant_id, board_id))
                notices = notify.chat_notices(body.content, agent_id, members, board_id, name)
                await BoardLoop.queue(conn, tenant_id, out[-1].seq, board_id, notices, ids)
        await self.boards.after_commit(out, ids)
        return memory_out(board_id, row)

    async def nudge(self, caller: AgentCaller, board_id: UUID, agent_id: UUID, message: str) -> None:
        """The lead nudges an agent of its board: the message goes as it is into the agent's board
        session (a run). Raises: Forbidden (not the lead), NotFound (not an agent of the board),
        InvalidRequest (a blank message)."""
        caller.lead(board_id)
        if not message.strip():
            raise invalid_field("$.message", "message must not be blank")
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            members = await team_store.list_members(conn, caller.tenant_id, board_id)
            if agent_id not in {m.agent_id for m in members}:
                raise NotFound(kind="agent", id=str(agent_id))
            await TaskService.record(
                conn, caller.tenant_id,
                NewEvent(kind="agent.nudged", team_id=board_id, agent_id=agent_id, message=message[:500],
                         data={"by": str(caller.agent_id)}),
                out,
            )  # fmt: skip
            if self.boards.loop is not None:
                notice = notify.Notice(agent_id, "agent.nudge", "NUDGE", message)
                await BoardLoop.queue(conn, caller.tenant_id, out[-1].seq, board_id, [notice], ids)
        await self.boards.after_commit(out, ids)


def only(boards: Sequence[UUID], board_id: UUID | None) -> UUID:
    """The board a tool means: the one named, or the agent's only board. Raises: InvalidRequest."""
    if board_id is not None:
        return board_id
    if len(boards) == 1:
        return boards[0]
    raise invalid_field("$.board_id", "you are on several boards: name board_id")
