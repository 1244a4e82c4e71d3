"""Chat over sessions: send (start, inject, abort by keyword, idempotent), history with catch-up,
abort, inject, status. Runs are executed by the run manager; this service decides and persists."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.config import Settings
from clawgate.errors import AlreadyExists, InvalidRequest, NotFound, Unauthorized
from clawgate.principal import Principal, Role
from clawgate.ratelimit import RateLimiter
from clawgate.runtime.events import Activity, RunAnswer
from clawgate.runtime.handle import Joined
from clawgate.runtime.prompt import TRUNCATION_NOTE
from clawgate.runtime.runs import RunHandle, RunManager, RunPlan
from clawgate.services import parse_id, require
from clawgate.services.agents import AgentService
from clawgate.store import Database, runs, sessions
from clawgate.store.types import AgentRow, MessageRow, RunRow, SessionRow
from clawgate.wire import INT32_MAX, ChatText

__all__ = [
    "CANCEL_WORDS",
    "AbortResult",
    "ActiveRun",
    "ActiveRunAnswer",
    "ChatAbortParams",
    "ChatHistory",
    "ChatHistoryParams",
    "ChatInjectParams",
    "ChatSendParams",
    "ChatService",
    "HistoryMessage",
    "InjectResult",
    "RunAnswer",
    "SendResult",
    "SessionKeyParams",
    "SessionStatus",
    "WakeResult",
    "message_out",
    "parse_session_key",
]

CANCEL_WORDS = frozenset(
    {"stop", "cancel", "abort", "thôi", "dừng", "hủy", "取消", "停", "nevermind", "never mind", "/stop"}
)


class WakeResult(Struct, kw_only=True):
    """The answer of a wake: the run's ``content`` and ``usage``, or ``injected`` when the message
    joined a run already going in that session."""

    run_id: str | None = None
    session_key: str | None = None
    content: str | UnsetType = UNSET
    usage: dict[str, Any] | UnsetType | None = UNSET
    injected: bool | UnsetType = UNSET


class SessionStatus(Struct, kw_only=True):
    """``chat.session.status``: whether a run is going in the session, and its last activity."""

    isRunning: bool
    runId: str | None = None
    activity: Activity | None = None


class ActiveRunAnswer(Struct, kw_only=True):
    """``chat.send``'s answer when the message went to the session's active run instead of starting
    one: a cancel word aborted it (``cancelled``, ``aborted``), or the message joined it at its next
    turn (``injected``). Field order is the wire order."""

    cancelled: bool | UnsetType = UNSET
    aborted: bool | UnsetType = UNSET
    injected: bool | UnsetType = UNSET
    runId: str
    sessionKey: str


SendResult = RunAnswer | ActiveRunAnswer
"""``chat.send``'s answer: the run's (``RunAnswer``), or what happened to the session's active run."""


class HistoryMessage(Struct, kw_only=True):
    """A stored message as ``chat.history`` and ``sessions.preview`` list it; the optional fields only
    when set. Field order is the wire order."""

    index: int
    role: str
    content: str
    created_at: datetime
    thinking: str | UnsetType = UNSET
    tool_calls: list[Any] | UnsetType = UNSET
    tool_call_id: str | UnsetType = UNSET
    is_error: bool | UnsetType = UNSET
    run_id: str | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET


class ActiveRun(Struct, kw_only=True):
    """The session's run going on, as ``chat.history`` shows it: what it streamed so far and the
    ``seq`` of its last event (a client resumes the stream after it)."""

    runId: str
    content_so_far: str
    seq: int


class ChatHistory(Struct, kw_only=True):
    """``chat.history``: messages after ``afterIndex``, the session's total, the index to ask from
    next, the summary of what was compacted, and the active run if any."""

    sessionKey: str
    messages: list[HistoryMessage]
    total: int
    nextIndex: int
    summary: str | None
    activeRun: ActiveRun | UnsetType = UNSET


class AbortResult(Struct, kw_only=True):
    """``chat.abort``: whether a run was stopped (``runIds``), or ``notFound`` when the session had
    none."""

    ok: bool = True
    aborted: bool
    notFound: bool | UnsetType = UNSET
    stopped: bool | UnsetType = UNSET
    runIds: list[str]


class InjectResult(Struct, kw_only=True):
    """``chat.inject``: the index of the message appended."""

    ok: bool = True
    messageId: int


class ChatSendParams(Struct, kw_only=True, forbid_unknown_fields=True):
    message: Annotated[ChatText, Meta(min_length=1)]
    agentId: str = ""
    sessionKey: Annotated[str, Meta(max_length=512)] = ""
    stream: bool = True
    media: list[Any] = []
    idempotencyKey: Annotated[str, Meta(min_length=1, max_length=255)] | UnsetType = UNSET
    wait: bool = True


class ChatHistoryParams(Struct, kw_only=True, forbid_unknown_fields=True):
    sessionKey: str
    agentId: str = ""
    afterIndex: Annotated[int, Meta(ge=-1, le=INT32_MAX - 1)] = -1  # afterIndex + 1 is an index
    limit: Annotated[int, Meta(ge=1, le=1000)] = 200


class ChatAbortParams(Struct, kw_only=True, forbid_unknown_fields=True):
    sessionKey: str = ""
    runId: str = ""


class ChatInjectParams(Struct, kw_only=True, forbid_unknown_fields=True):
    sessionKey: str
    message: Annotated[ChatText, Meta(min_length=1)]
    label: Annotated[str, Meta(max_length=100)] = ""


class SessionKeyParams(Struct, kw_only=True, forbid_unknown_fields=True):
    sessionKey: str


def parse_session_key(key: str) -> tuple[str, str] | None:
    """``agent:{agentKey}:{rest}`` -> (agentKey, rest); None when the key is not of that form."""
    parts = key.split(":", 2)
    if len(parts) == 3 and parts[0] == "agent" and parts[1] and parts[2]:
        return parts[1], parts[2]
    return None


def message_out(row: MessageRow) -> HistoryMessage:
    return HistoryMessage(
        index=row.idx, role=row.role, content=row.content, created_at=row.created_at,
        thinking=row.thinking or UNSET, tool_calls=row.tool_calls or UNSET, tool_call_id=row.tool_call_id or UNSET,
        is_error=True if row.is_error else UNSET, run_id=str(row.run_id) if row.run_id is not None else UNSET,
        metadata=row.metadata or UNSET,
    )  # fmt: skip


class ChatService:
    def __init__(
        self, settings: Settings, db: Database, agents: AgentService, runner: RunManager, limiter: RateLimiter
    ) -> None:
        self._settings = settings
        self._db = db
        self._agents = agents
        self.runner = runner
        self._limiter = limiter  # gateway.rate_limit_rpm, shared with the OpenAI exchanges

    def reconfigure(self, settings: Settings) -> None:
        """Apply live config changes (the message size limit)."""
        self._settings = settings

    # -- helpers --------------------------------------------------------------------------------

    async def resolve_agent(self, who: Principal, agent_ref: str, session_key: str) -> AgentRow:
        """The agent named, else the one in the session key, else the tenant's default.

        Raises: NotFound with the name when it does not exist.
        """
        ref = agent_ref
        if not ref and session_key:
            parsed = parse_session_key(session_key)
            ref = parsed[0] if parsed else ""
        return await self._agents.get_or_default(who, ref)

    def _check_owner(self, who: Principal, session: SessionRow) -> None:
        if not who.sees_all and session.user_id and session.user_id != who.user_id:
            raise Unauthorized("requires_role", action="access to another user's session", role="admin")

    async def session(self, who: Principal, key: str) -> SessionRow:
        """A session the caller may see. Raises: NotFound, Unauthorized (another user's)."""
        row = await self.find_session(who, key)
        if row is None:
            raise NotFound(kind="session", id=key)
        return row

    async def find_session(self, who: Principal, key: str) -> SessionRow | None:
        """A session the caller may see, or None when the caller's tenant has none under ``key``
        (a chat not started yet). Raises: Unauthorized (another user's, as GoClaw)."""
        async with self._db.connection() as conn:
            row = await sessions.get(conn, who.tenant_id, key)
        if row is not None:
            self._check_owner(who, row)
        return row

    def _truncate(self, text: str) -> str:
        limit = self._settings.gateway.max_message_chars
        if len(text) <= limit:
            return text
        return text[:limit] + TRUNCATION_NOTE.format(kept=limit, total=len(text))

    # -- chat.send ------------------------------------------------------------------------------

    async def send(self, who: Principal, params: ChatSendParams, channel: str = "ws") -> SendResult:
        """Start a run, inject into the active one, or abort it by a cancel word (spec section 3).

        The user message is committed before this returns (or before the run starts).
        Raises: ResourceExhausted (``gateway.rate_limit_rpm`` per user), NotFound (agent),
        Unauthorized (another user's session), FailedPrecondition (no working provider),
        InvalidRequest.
        """
        require(who, Role.OPERATOR, "chat.send")
        if not who.user_id:
            raise InvalidRequest(detail="user_id is required (connect with user_id or send X-GoClaw-User-Id)")
        await self.resolve_agent(who, params.agentId, params.sessionKey)  # a failed lookup spends no budget
        self._limiter.check(
            f"chat:{who.tenant_id}:{who.user_id}", operator=who.is_operator, rpm=who.rate_limit_rpm
        )
        return await self._send(who, params, channel)

    async def wake(
        self, who: Principal, agent_ref: str, message: str, *, session_key: str = "", user_id: str = ""
    ) -> WakeResult:
        """Run the agent once on ``message`` and answer with its result (``POST /v1/agents/{id}/wake``,
        for orchestrators such as n8n or Paperclip). A caller without a user id (the gateway token)
        runs as ``user_id``, else as ``"wake"``. Only the credential's rate limit applies, not the
        chat limit: orchestrators call it in bursts.

        Returns: ``content``, ``run_id``, ``usage``, ``session_key``; or ``injected`` when the
            session had a run going (the message joined it).
        Raises: NotFound (agent), and as ``send``.
        """
        require(who, Role.OPERATOR, "wake")
        if not who.user_id:
            who = msgspec.structs.replace(who, user_id=user_id or "wake")
        agent = await self._agents.get(who, agent_ref)
        params = ChatSendParams(
            message=message, agentId=agent.agent_key, sessionKey=session_key, stream=False
        )
        result = await self._send(who, params, channel="wake")
        key = result.sessionKey or None
        if isinstance(result, ActiveRunAnswer):
            return WakeResult(injected=True, run_id=result.runId, session_key=key)
        return WakeResult(content=result.content or "", run_id=result.runId or None,
                          usage=result.usage or None, session_key=key)  # fmt: skip

    async def start_run(
        self, who: Principal, agent_ref: str, message: str, *, session_rest: str, channel: str,
        provider: str = "", model: str = "", light: bool = False,
    ) -> RunHandle | Joined | None:  # fmt: skip
        """Start a run of the agent in session ``agent:{key}:{session_rest}`` and return it at once
        (the scheduler's cron and heartbeat runs: no chat rate limit, not streamed), with the agent's
        provider and model, or ``provider`` / ``model`` instead; ``light``: without its context files
        in the system prompt. ``Joined`` when the session had a run going (the message was injected
        into it); None when the message started nothing (a cancel word, say).

        Raises: NotFound (agent), FailedPrecondition (no working provider).
        """
        require(who, Role.OPERATOR, "cron run")
        agent = await self._agents.get(who, agent_ref)
        if provider or model:
            agent = msgspec.structs.replace(
                agent, provider=provider or agent.provider, model=model or agent.model
            )
        params = ChatSendParams(message=message, agentId=agent.agent_key, stream=False, wait=False,
                                sessionKey=f"agent:{agent.agent_key}:{session_rest}")  # fmt: skip
        result = await self._send(who, params, channel, agent, light=light)
        if isinstance(result, ActiveRunAnswer) and result.injected is True:
            return Joined(run_id=UUID(result.runId), session_key=result.sessionKey)
        if not isinstance(result, RunAnswer) or result.status != "started" or not result.runId:
            return None
        return self.runner.find(UUID(result.runId))

    async def deliver(self, who: Principal, session_key: str, content: str, label: str) -> None:
        """Post ``content`` into the session ``session_key`` as an assistant message headed by
        ``label`` (a cron job's ``deliver``). Raises: NotFound, Unauthorized (another user's)."""
        await self.inject(who, ChatInjectParams(sessionKey=session_key, message=content or "(no answer)",
                                                label=label[:100]))  # fmt: skip

    async def _send(
        self, who: Principal, params: ChatSendParams, channel: str, agent: AgentRow | None = None,
        *, light: bool = False,
    ) -> SendResult:  # fmt: skip
        """``send`` past the caller checks (role, user id, rate); ``agent``: the agent as it should
        run (a scheduled run's provider or model), instead of the one ``params`` names."""
        idem = params.idempotencyKey if params.idempotencyKey is not UNSET else None
        if idem is not None:
            earlier = await self._by_idempotency(who, idem)
            if earlier is not None:
                return await self._replay(who, earlier, params.wait)
        if agent is None:
            agent = await self.resolve_agent(who, params.agentId, params.sessionKey)
        key = params.sessionKey or f"agent:{agent.agent_key}:{channel}:direct:{uuid.uuid4()}"
        parsed = parse_session_key(key)
        if parsed is None:
            raise InvalidRequest(detail="sessionKey must look like agent:{agentKey}:{rest}")
        if parsed[0] != agent.agent_key and str(agent.id) != parsed[0]:
            raise InvalidRequest(detail=f"sessionKey belongs to agent {parsed[0]!r}, not {agent.agent_key!r}")
        text = self._truncate(params.message)
        await self._agent_ready(agent)
        try:
            decision = await self._decide(who, agent, key, channel, text, params, idem)
        except _Retry:
            decision = _Decision()
        if decision.replay is not None:
            return await self._replay(who, decision.replay, params.wait)
        if decision.abort is not None:
            await self.runner.abort(who.tenant_id, decision.abort)
            return ActiveRunAnswer(cancelled=True, aborted=True, runId=str(decision.abort), sessionKey=key)
        if decision.injected is not None:
            return ActiveRunAnswer(injected=True, runId=str(decision.injected), sessionKey=key)
        if decision.run is None or decision.session is None:
            # Lost a race with another send on this session: decide again (it will inject).
            return await self._send(who, params, channel)
        plan = RunPlan(
            tenant_id=who.tenant_id, user_id=who.user_id, agent=agent, session=decision.session, message=text,
            user_idx=decision.user_idx, stream=params.stream, channel=channel, idempotency_key=idem,
            light_context=light, on_board=decision.on_board,
        )  # fmt: skip
        handle = self.runner.launch(decision.run.id, plan)
        if not params.wait:
            return RunAnswer(runId=str(decision.run.id), sessionKey=key, status="started")
        return await handle.outcome()

    async def _decide(
        self,
        who: Principal,
        agent: AgentRow,
        key: str,
        channel: str,
        text: str,
        params: ChatSendParams,
        idem: str | None,
    ) -> _Decision:
        """Under the session's row lock: replay, abort, inject, or store the message and a new run
        (one statement, ``runs.decide_send``). Raises: Unauthorized (another user's session)."""
        try:
            async with self._db.connection() as conn:
                decided = await runs.decide_send(
                    conn, tenant_id=who.tenant_id, key=key, agent_id=agent.id, user_id=who.user_id,
                    channel=channel, content=text, metadata=_media(params.media), sees_all=who.sees_all,
                    idempotency_key=idem, cancel=params.message.strip().lower() in CANCEL_WORDS,
                    process_id=self.runner.process_id,
                )  # fmt: skip
        except AlreadyExists:
            raise _Retry() from None
        if decided.outcome == "forbidden":
            self._check_owner(who, decided.session)
        if decided.outcome == "replay":
            return _Decision(replay=decided.run)
        if decided.outcome == "abort":
            return _Decision(abort=decided.active)
        if decided.outcome == "injected":
            return _Decision(injected=decided.active)
        return _Decision(
            run=decided.run,
            session=decided.session,
            user_idx=decided.user_idx or 0,
            on_board=decided.on_board,
        )

    async def _agent_ready(self, agent: AgentRow) -> None:
        """Fail before storing anything when the agent cannot possibly answer."""
        await self.runner.targets(agent)

    async def _by_idempotency(self, who: Principal, key: str) -> RunRow | None:
        async with self._db.connection() as conn:
            return await runs.by_idempotency(conn, who.tenant_id, who.user_id, key)

    async def _replay(self, who: Principal, run: RunRow, wait: bool) -> RunAnswer:
        """The answer to a repeated idempotency key: no second run."""
        if run.status != "running":
            return _stored(run)
        if not wait:
            return RunAnswer(runId=str(run.id), sessionKey=run.session_key, status="in_flight")
        handle = self.runner.find(run.id)
        if handle is not None:
            return await handle.outcome()
        while True:  # running on another process: wait for its row to end
            await asyncio.sleep(0.25)
            async with self._db.connection() as conn:
                current = await runs.get(conn, who.tenant_id, run.id)
            if current is None or current.status != "running":
                return _stored(current) if current else RunAnswer(runId=str(run.id), status="unknown")

    # -- the other chat methods -----------------------------------------------------------------

    async def history(self, who: Principal, params: ChatHistoryParams) -> ChatHistory:
        """Messages after ``afterIndex`` (catch-up), the total, and the active run if any. A session
        with no message yet answers an empty history, as GoClaw does (its dashboard opens a chat so).
        Raises: Unauthorized (another user's session)."""
        session = await self.find_session(who, params.sessionKey)
        if session is None:
            return ChatHistory(sessionKey=params.sessionKey, messages=[], total=0,
                               nextIndex=max(params.afterIndex + 1, 0), summary=None)  # fmt: skip
        async with self._db.connection() as conn:
            rows = await sessions.messages(
                conn, who.tenant_id, session.id, start=params.afterIndex + 1, limit=params.limit
            )
            active = await runs.active_for_session(conn, who.tenant_id, session.id)
        out = ChatHistory(
            sessionKey=session.session_key,
            messages=[message_out(r) for r in rows],
            total=session.message_count,
            nextIndex=(rows[-1].idx + 1) if rows else max(params.afterIndex + 1, 0),
            summary=session.summary or None,
        )
        if active is not None:
            handle = self.runner.find(active.id)
            out.activeRun = ActiveRun(
                runId=str(active.id),
                content_so_far=handle.content_so_far if handle else "",
                seq=handle.seq if handle else 0,
            )
        return out

    async def run(self, who: Principal, run_id: str) -> RunRow:
        """A run of the caller's tenant by id. Raises: NotFound (also for a malformed id)."""
        ident = parse_id(run_id, "run")
        async with self._db.connection() as conn:
            found = await runs.get(conn, who.tenant_id, ident)
        if found is None:
            raise NotFound(kind="run", id=run_id)
        return found

    async def abort(self, who: Principal, params: ChatAbortParams) -> AbortResult:
        """Abort the session's active run, or the run named. Non-admins must own the session."""
        require(who, Role.OPERATOR, "chat.abort")
        if not params.sessionKey and not params.runId:
            raise InvalidRequest(detail="sessionKey or runId is required")
        async with self._db.connection() as conn:
            if params.sessionKey:
                session = await sessions.get(conn, who.tenant_id, params.sessionKey)
                if session is None:
                    raise NotFound(kind="session", id=params.sessionKey)
                self._check_owner(who, session)
                run = await runs.active_for_session(conn, who.tenant_id, session.id)
            else:
                run = await self.run(who, params.runId)
                if not who.sees_all and run.user_id != who.user_id:
                    raise Unauthorized("requires_role", action="aborting another user's run", role="admin")
        if run is None or run.status != "running":
            return AbortResult(aborted=False, notFound=run is None, runIds=[])
        await self.runner.abort(who.tenant_id, run.id)
        return AbortResult(aborted=True, stopped=True, runIds=[str(run.id)])

    async def inject(self, who: Principal, params: ChatInjectParams) -> InjectResult:
        """Append an assistant message without running the agent (GoClaw ``chat.inject``)."""
        require(who, Role.OPERATOR, "chat.inject")
        session = await self.session(who, params.sessionKey)
        content = f"[{params.label}]\n\n{params.message}" if params.label else params.message
        async with self._db.transaction() as conn:
            row = await sessions.append_message(
                conn,
                who.tenant_id,
                session.id,
                role="assistant",
                content=content,
                metadata={"injected": True},
            )
        return InjectResult(messageId=row.idx)

    async def status(self, who: Principal, key: str) -> SessionStatus:
        """``{isRunning, runId, activity}``; not running for a session with no message yet.
        Raises: Unauthorized (another user's session)."""
        session = await self.find_session(who, key)
        active = None
        if session is not None:
            async with self._db.connection() as conn:
                active = await runs.active_for_session(conn, who.tenant_id, session.id)
        if active is None:
            return SessionStatus(isRunning=False)
        handle = self.runner.find(active.id)
        return SessionStatus(
            isRunning=True, runId=str(active.id), activity=handle.activity if handle else None
        )


@dataclass(slots=True)
class _Decision:
    replay: RunRow | None = None
    abort: UUID | None = None
    injected: UUID | None = None
    run: RunRow | None = None
    session: SessionRow | None = None
    user_idx: int = 0
    on_board: bool = False


class _Retry(Exception):
    """The run insert lost a race (unique index): roll back and decide again."""


def _stored(run: RunRow) -> RunAnswer:
    """The answer kept with an ended run, else what its row says."""
    if run.result:
        return msgspec.convert(run.result, RunAnswer)
    return RunAnswer(runId=str(run.id), status=run.status, error=run.error)


def _media(media: list[Any]) -> dict[str, Any]:
    return {"media": media} if media else {}
