"""Sessions: list, preview, patch, delete, reset, compact (summarize or truncate), branch, and cursor
reads. Non-admins see and touch only their own sessions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.errors import AlreadyExists, FailedPrecondition, InvalidRequest
from clawgate.principal import Principal, Role
from clawgate.runtime.compaction import Episodes, summarize
from clawgate.runtime.llm import LLMResolver
from clawgate.services import require
from clawgate.services.agents import AgentService
from clawgate.services.chat import ChatService, HistoryMessage, message_out, parse_session_key
from clawgate.store import Database, runs, sessions
from clawgate.store.types import MessageRow, SessionListRow, SessionRow
from clawgate.wire import Index, NonNegative

__all__ = [
    "BranchParams",
    "Branched",
    "CompactParams",
    "Compacted",
    "HistoryPage",
    "SessionDone",
    "SessionInfo",
    "SessionList",
    "SessionListParams",
    "SessionPatchParams",
    "SessionPatched",
    "SessionPreview",
    "SessionService",
    "session_info",
]


class SessionListParams(Struct, kw_only=True, forbid_unknown_fields=True):
    agentId: str = ""
    agent_id: str = ""
    channel: str = ""
    limit: Annotated[int, Meta(ge=1, le=500)] = 20
    offset: NonNegative = 0


class SessionPatchParams(Struct, kw_only=True, forbid_unknown_fields=True):
    key: str
    label: Annotated[str, Meta(max_length=200)] | None = None
    model: str | None = None
    metadata: dict[str, str] | None = None


class CompactParams(Struct, kw_only=True, forbid_unknown_fields=True):
    key: str
    keepLast: Annotated[int, Meta(ge=0, le=1000)] = 4
    mode: Literal["summarize", "truncate", ""] = ""


class BranchParams(Struct, kw_only=True, forbid_unknown_fields=True):
    up_to_index: Index
    new_session_key: str = ""
    label: str = ""
    metadata: dict[str, str] = {}


class SessionInfo(Struct, kw_only=True):
    """GoClaw's ``SessionInfoRich``: one session in a list."""

    key: str
    messageCount: int
    created: datetime
    updated: datetime
    label: str | None
    channel: str | None
    userID: str
    metadata: dict[str, Any] | None
    model: str | None
    provider: str | None
    inputTokens: int
    outputTokens: int
    agentName: str
    agentKey: str
    contextWindow: int
    compactionCount: int


class SessionList(Struct, kw_only=True):
    """A page of sessions and how many there are in all."""

    sessions: list[SessionInfo]
    total: int
    limit: int
    offset: int


class Branched(Struct, kw_only=True):
    """The session a branch made: ``copied_messages`` of the source's ``total_messages``."""

    ok: bool = True
    source_key: str
    session_key: str
    copied_messages: int
    total_messages: int
    label: str


class SessionPreview(Struct, kw_only=True):
    """``sessions.preview``: a session's messages and its summary."""

    key: str
    messages: list[HistoryMessage]
    summary: str


class SessionPatched(Struct, kw_only=True):
    ok: bool = True
    key: str


class SessionDone(Struct, kw_only=True):
    """``sessions.delete`` and ``sessions.reset``."""

    ok: bool = True


class Compacted(Struct, kw_only=True):
    """``sessions.compact``: ``{ok, message, kept}`` when the session is too short, else
    ``{ok, mode, original, kept, summary}``. Field order is the wire order."""

    ok: bool = True
    message: str | UnsetType = UNSET
    mode: str | UnsetType = UNSET
    original: int | UnsetType = UNSET
    kept: int
    summary: str | UnsetType | None = UNSET


class HistoryPage(Struct, kw_only=True):
    """A cursor read of a session's messages; ``reset`` when the cursor was past the end (the
    session was reset or compacted: read again from 0)."""

    session_key: str
    cursor: int
    next_cursor: int
    total: int
    messages: list[HistoryMessage]
    reset: bool
    updated: datetime


def session_info(row: SessionListRow) -> SessionInfo:
    """GoClaw's ``SessionInfoRich`` of ``row``."""
    return SessionInfo(
        key=row.session_key, messageCount=row.message_count, created=row.created_at, updated=row.updated_at,
        label=row.label or None, channel=row.channel or None, userID=row.user_id, metadata=row.metadata or None,
        model=row.model or None, provider=row.provider or None, inputTokens=row.input_tokens,
        outputTokens=row.output_tokens, agentName=row.agent_name or row.agent_key, agentKey=row.agent_key,
        contextWindow=row.context_window, compactionCount=row.compaction_count,
    )  # fmt: skip


class SessionService:
    def __init__(
        self,
        db: Database,
        chat: ChatService,
        agents: AgentService,
        llm: LLMResolver,
        episodes: Episodes | None = None,
    ) -> None:
        self._db = db
        self._chat = chat
        self._agents = agents
        self._llm = llm
        self._episodes = episodes  # where summaries are kept for later sessions

    async def list_sessions(self, who: Principal, params: SessionListParams) -> SessionList:
        ref = params.agentId or params.agent_id
        agent_id = (await self._agents.get(who, ref)).id if ref else None
        user = None if who.sees_all else who.user_id
        async with self._db.connection() as conn:
            rows = await sessions.list_sessions(
                conn, who.tenant_id, user_id=user, agent_id=agent_id, channel=params.channel or None,
                limit=params.limit, offset=params.offset,
            )  # fmt: skip
            total = await sessions.count(
                conn, who.tenant_id, user_id=user, agent_id=agent_id, channel=params.channel or None
            )
        return SessionList(
            sessions=[session_info(r) for r in rows], total=total, limit=params.limit, offset=params.offset
        )

    async def preview(self, who: Principal, key: str) -> SessionPreview:
        session = await self._chat.session(who, key)
        async with self._db.connection() as conn:
            rows = await sessions.messages(conn, who.tenant_id, session.id)
        return SessionPreview(key=key, messages=[message_out(r) for r in rows], summary=session.summary)

    async def patch(self, who: Principal, params: SessionPatchParams) -> SessionPatched:
        require(who, Role.OPERATOR, "sessions.patch")
        session = await self._chat.session(who, params.key)
        async with self._db.transaction() as conn:
            await sessions.patch(
                conn, who.tenant_id, session.id, label=params.label, model=params.model,
                metadata={**session.metadata, **params.metadata} if params.metadata is not None else None,
            )  # fmt: skip
        return SessionPatched(key=params.key)

    async def _idle(self, who: Principal, session: SessionRow) -> None:
        async with self._db.connection() as conn:
            if await runs.active_for_session(conn, who.tenant_id, session.id) is not None:
                raise FailedPrecondition(detail="the session has an active run; abort it first")

    async def delete(self, who: Principal, key: str) -> SessionDone:
        """Delete a session and its messages. Raises: FailedPrecondition while a run is active."""
        await self._clear(who, key, "sessions.delete", sessions.delete)
        return SessionDone()

    async def reset(self, who: Principal, key: str) -> SessionDone:
        """Drop a session's messages and summary. Raises: FailedPrecondition while a run is active."""
        await self._clear(who, key, "sessions.reset", sessions.reset)
        return SessionDone()

    async def _clear(
        self, who: Principal, key: str, action: str, op: Callable[[Any, UUID, UUID], Awaitable[None]]
    ) -> None:
        require(who, Role.OPERATOR, action)
        session = await self._chat.session(who, key)
        async with self._db.transaction() as conn:
            # The row lock serialises with chat.send, so no run can start between check and change.
            await sessions.get_for_update(conn, who.tenant_id, key)
            if await runs.active_for_session(conn, who.tenant_id, session.id) is not None:
                raise FailedPrecondition(detail="the session has an active run; abort it first")
            await op(conn, who.tenant_id, session.id)

    async def compact(self, who: Principal, params: CompactParams) -> Compacted:
        """Keep the last ``keepLast`` messages in context. ``summarize`` (default when the agent has a
        working provider) folds the earlier ones into an LLM-written summary; ``truncate`` drops them
        from the context (the transcript stays readable in history)."""
        require(who, Role.OPERATOR, "sessions.compact")
        session = await self._chat.session(who, params.key)
        await self._idle(who, session)
        live = session.message_count - session.context_start
        if live < 6 or live <= params.keepLast:
            return Compacted(message="session too short to compact", kept=live)
        cut = session.message_count - params.keepLast
        mode = params.mode
        summary = session.summary
        summarized: list[MessageRow] = []
        if mode in {"", "summarize"}:
            agent = await self._agents.get(who, str(session.agent_id))
            try:
                targets = await self._llm.targets(agent)
            except FailedPrecondition:
                if mode == "summarize":
                    raise
                targets = []
            if targets:
                mode = "summarize"
                async with self._db.connection() as conn:
                    rows = await sessions.messages(
                        conn, who.tenant_id, session.id, start=session.context_start
                    )
                summarized = [r for r in rows if r.idx < cut]
                summary = await summarize(targets[0], summarized, session.summary)
            else:
                mode = "truncate"
        async with self._db.transaction() as conn:
            await sessions.set_context(conn, who.tenant_id, session.id, summary, cut)
        if mode == "summarize" and self._episodes is not None:
            await self._episodes.record(
                who.tenant_id, session.agent_id, session.user_id, session.session_key, summary, summarized,
                f"{session.id}:{cut}",
            )  # fmt: skip
        return Compacted(mode=mode, original=live, kept=session.message_count - cut, summary=summary or None)

    async def branch(self, who: Principal, key: str, params: BranchParams) -> Branched:
        """Copy messages [0, up_to_index) into a new session of the same agent."""
        require(who, Role.OPERATOR, "sessions.branch")
        source = await self._chat.session(who, key)
        if params.up_to_index > source.message_count:
            raise InvalidRequest(detail=f"up_to_index must be between 0 and {source.message_count}")
        parsed = parse_session_key(key)
        agent_key = parsed[0] if parsed else str(source.agent_id)
        target = params.new_session_key or f"agent:{agent_key}:branch:direct:{uuid.uuid4()}"
        parsed_target = parse_session_key(target)
        if parsed_target is None or parsed_target[0] != agent_key:
            raise InvalidRequest(detail=f"new_session_key must start with agent:{agent_key}:")
        metadata = {**params.metadata, "branched_from": key, "branched_from_index": str(params.up_to_index)}
        async with self._db.transaction() as conn:
            created = await sessions.insert(
                conn, who.tenant_id, target, agent_id=source.agent_id, user_id=source.user_id or who.user_id,
                channel="branch", label=params.label, model=source.model, provider=source.provider, metadata=metadata,
            )  # fmt: skip
            if created is None:
                raise AlreadyExists(kind="session", id=target)
            await sessions.copy_messages(conn, who.tenant_id, source.id, created.id, params.up_to_index)
            await sessions.set_message_count(
                conn, who.tenant_id, created.id, params.up_to_index, source.summary, source.context_start
            )
        return Branched(
            source_key=key, session_key=target, copied_messages=params.up_to_index,
            total_messages=source.message_count, label=params.label,
        )  # fmt: skip

    async def follow(self, who: Principal, key: str, cursor: int, limit: int) -> HistoryPage:
        """Cursor read of a session's messages (``/history/follow``)."""
        session = await self._chat.session(who, key)
        if cursor > session.message_count:
            return HistoryPage(session_key=key, cursor=cursor, next_cursor=0, total=session.message_count,
                               messages=[], reset=True, updated=session.updated_at)  # fmt: skip
        async with self._db.connection() as conn:
            rows = await sessions.messages(conn, who.tenant_id, session.id, start=cursor, limit=limit)
        return HistoryPage(
            session_key=key, cursor=cursor, next_cursor=cursor + len(rows), total=session.message_count,
            messages=[message_out(r) for r in rows], reset=False, updated=session.updated_at,
        )  # fmt: skip
