"""Mission Control's board onboarding (reference 1.9): the user and the gateway main agent draft a
board's goal and its lead in a conversation, then the user confirms it onto the board.

The gateway main is the tenant's default agent (``BoardAgentService.main``). ``start`` sends it the
instruction prompt and ``answer`` the user's answers as runs, through the notifications of
``board_loop`` (queued with an event in the transaction, claimed once, a run of the main in its
session ``agent:<key>:mc:<board id>``). The main posts a question or its completion on the agent
route. Status flow ``active -> completed -> confirmed``; a confirmed session takes no more posts
(409) and a new ``start`` opens a new session. One open session per board (a partial unique index
decides, across processes); ``confirm`` applies the goal to the board and, when the board has no
lead, makes one (a ClawGate agent named in the draft, on the main's provider and model).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from clawgate.errors import FailedPrecondition, NotFound, invalid_field
from clawgate.principal import Principal
from clawgate.services.agent_api import AgentCaller
from clawgate.services.board_agents import BoardAgentService, McAgentCreate
from clawgate.services.board_loop import BoardLoop, Notice, session_rest
from clawgate.services.board_rules import forbidden
from clawgate.services.boards import BoardPatch, BoardRead, BoardService
from clawgate.services.org import OrgService, UserUpdate
from clawgate.services.tasks import TaskService
from clawgate.store import Database, DbConnection
from clawgate.store import onboarding as store
from clawgate.store import teams as team_store
from clawgate.store.coord_events import EventRow, NewEvent
from clawgate.store.onboarding import OnboardingRow
from clawgate.store.teams import TeamRow

__all__ = [
    "OnboardingAgentIn",
    "OnboardingAnswer",
    "OnboardingConfirm",
    "OnboardingRead",
    "OnboardingService",
]

HEAD: Final = "BOARD ONBOARDING"
USER_FIELDS: Final = ("preferred_name", "pronouns", "timezone", "notes", "context")
"""The draft ``user_profile``'s keys that onboarding fills in MC's user profile (reference 1.1)."""
Short = Annotated[str, Meta(min_length=1, max_length=500)]
Long = Annotated[str, Meta(max_length=20_000)]


class OnboardingMessage(Struct, kw_only=True):
    role: str
    content: str
    timestamp: str


class OnboardingRead(Struct, kw_only=True):
    """MC's ``BoardOnboardingRead``."""

    id: UUID
    board_id: UUID
    session_key: str
    status: str
    messages: list[OnboardingMessage]
    draft_goal: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class OnboardingAnswer(Struct, kw_only=True, forbid_unknown_fields=True):
    answer: Annotated[str, Meta(min_length=1, max_length=20_000)]
    other_text: Long | None = None


class OnboardingConfirm(Struct, kw_only=True, forbid_unknown_fields=True):
    board_type: Literal["goal", "general"]
    objective: Long | None = None
    success_metrics: dict[str, Any] | None = None
    target_date: datetime | None = None


class OnboardingOption(Struct, kw_only=True, forbid_unknown_fields=True):
    id: Annotated[str, Meta(min_length=1, max_length=100)]
    label: Short


class OnboardingLead(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Annotated[str, Meta(min_length=1, max_length=255)] | None = None
    identity_profile: dict[str, Any] | None = None
    autonomy_level: Literal["ask_first", "balanced", "autonomous"] | None = None
    verbosity: Literal["concise", "balanced", "detailed"] | None = None
    output_format: Literal["bullets", "mixed", "narrative"] | None = None
    update_cadence: Literal["asap", "hourly", "daily", "weekly"] | None = None
    custom_instructions: Long | None = None


class OnboardingAgentIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """The gateway main's post: a question ``{question, options}`` (one option at least) or the
    completion ``{status: "complete", board_type, objective, success_metrics, target_date,
    user_profile, lead_agent}``."""

    question: Annotated[str, Meta(min_length=1, max_length=5_000)] | None = None
    options: Annotated[list[OnboardingOption], Meta(max_length=50)] | None = None
    status: Literal["complete"] | None = None
    board_type: Literal["goal", "general"] | None = None
    objective: Long | None = None
    success_metrics: dict[str, Any] | None = None
    target_date: datetime | None = None
    user_profile: dict[str, Any] | None = None
    lead_agent: OnboardingLead | None = None


def _read(row: OnboardingRow) -> OnboardingRead:
    return msgspec.convert(msgspec.structs.asdict(row), OnboardingRead)


def _message(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "content": content, "timestamp": datetime.now(UTC).isoformat()}


def instructions(board: TeamRow) -> str:
    """The prompt that starts the gateway main's interview of the user about a board."""
    url = f"/api/v1/agent/boards/{board.id}/onboarding"
    return (
        f"{HEAD}\nBoard ID: {board.id}\nBoard: {board.name}\nDescription: {board.description or '-'}\n\n"
        "Interview the user to set this board up. Ask 6 to 10 short questions, one at a time: what the "
        "board is for, its objective and how success is measured, the target date, the name of the lead "
        "agent and how it should work (autonomy ask_first|balanced|autonomous, verbosity, output format, "
        'update cadence). The last question is always "Anything else we should know?".\n'
        f'Post each question with POST {url} {{"question": ..., "options": [{{"id": ..., "label": ...}}]}}; '
        "the user's answers come back to you as messages. When you know enough, post "
        '{"status": "complete", "board_type": "goal"|"general", "objective": ..., '
        '"success_metrics": {...}, "target_date": ..., "user_profile": {...}, "lead_agent": {"name": ..., '
        '"autonomy_level": ..., "verbosity": ..., "output_format": ..., "update_cadence": ..., '
        '"custom_instructions": ...}}.'
    )


class OnboardingService:
    """Board onboarding sessions for users, and the gateway main's posts."""

    def __init__(
        self, db: Database, boards: BoardService, tasks: TaskService, board_agents: BoardAgentService,
        org: OrgService,
    ) -> None:  # fmt: skip
        self._db = db
        self._org = org
        self._boards = boards
        self._tasks = tasks
        self._agents = board_agents

    async def get(self, who: Principal, board_id: UUID) -> OnboardingRead:
        """The board's newest session. Raises: NotFound (board or session)."""
        await self._boards.board(who, board_id)
        async with self._db.connection() as conn:
            row = await store.latest(conn, who.tenant_id, board_id)
        if row is None:
            raise NotFound(kind="onboarding session", id=str(board_id))
        return _read(row)

    async def start(self, who: Principal, board_id: UUID) -> OnboardingRead:
        """Open the board's session (or take the open one) and send the gateway main the
        instructions; a session already under way gets its last unanswered user message again.
        Raises: NotFound, Forbidden (no write access), FailedPrecondition (no agent)."""
        board = await self._boards.board(who, board_id, write=True)
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            main = await self._agents.main(conn, who.tenant_id)
            if main is None:
                raise FailedPrecondition(
                    detail="No gateway main agent: create a ClawGate agent first (POST /v1/agents)."
                )
            key = f"agent:{main.agent_key}:{session_rest(board_id)}"
            session_id = await store.open_session(conn, who.tenant_id, board_id, key)
            if session_id is None:  # made by a transaction that committed after this statement began
                session_id = await store.open_session(conn, who.tenant_id, board_id, key)
            assert session_id is not None
            row = await store.lock(conn, who.tenant_id, session_id)
            assert row is not None
            message = None
            if not row.messages:
                message = instructions(board)
                row = await store.save(
                    conn, who.tenant_id, row.id, row.status, [_message("user", message)], None
                )
            elif row.status == "active" and row.messages[-1]["role"] == "user":
                message = str(row.messages[-1]["content"])
            if message is not None:
                await self._wake(conn, who, main.id, board_id, "board.onboarding.started", message, out, ids)
        await self._after(out, ids)
        return _read(row)

    async def answer(self, who: Principal, board_id: UUID, body: OnboardingAnswer) -> OnboardingRead:
        """The user's answer goes into the session and to the gateway main (a run). Raises:
        NotFound (no open session), FailedPrecondition (confirmed)."""
        await self._boards.board(who, board_id, write=True)
        text = body.answer.strip() + (f"\n{body.other_text.strip()}" if body.other_text else "")
        if not text:
            raise invalid_field("$.answer", "answer must not be blank")
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            row = await self._open(conn, who.tenant_id, board_id)
            row = await store.save(conn, who.tenant_id, row.id, "active", [*row.messages, _message("user", text)],
                                   row.draft_goal)  # fmt: skip
            main = await self._agents.main(conn, who.tenant_id)
            if main is not None:
                message = f"{HEAD} ANSWER\nBoard ID: {board_id}\nThe user answered:\n{text}"
                await self._wake(conn, who, main.id, board_id, "board.onboarding.answered", message, out, ids)
        await self._after(out, ids)
        return _read(row)

    async def confirm(self, who: Principal, board_id: UUID, body: OnboardingConfirm) -> BoardRead:
        """Apply the goal to the board (``goal_confirmed``, ``goal_source = lead_agent_onboarding``,
        done needs approval unless the lead is to be autonomous) and make the lead when the board
        has none. Raises: NotFound, FailedPrecondition (not completed, or confirmed)."""
        await self._boards.board(who, board_id, write=True)
        if body.board_type == "goal" and not (body.objective and body.success_metrics):
            raise invalid_field("$.objective", "a goal board needs an objective and success metrics")
        async with self._db.transaction() as conn:
            row = await self._open(conn, who.tenant_id, board_id)
            if row.status != "completed":
                raise FailedPrecondition(detail="Onboarding is not complete yet.")
            await store.save(conn, who.tenant_id, row.id, "confirmed", row.messages, row.draft_goal)
        lead = (row.draft_goal or {}).get("lead_agent") or {}
        patch = BoardPatch(board_type=body.board_type, objective=body.objective, success_metrics=body.success_metrics,
                           target_date=body.target_date, goal_confirmed=True, goal_source="lead_agent_onboarding",
                           require_approval_for_done=lead.get("autonomy_level") != "autonomous")  # fmt: skip
        board = await self._boards.update_board(who, board_id, patch)
        await self._apply_user_profile(who, (row.draft_goal or {}).get("user_profile"))
        await self._ensure_lead(who, board_id, lead)
        return board

    async def _apply_user_profile(self, who: Principal, profile: object) -> None:
        """The draft's ``user_profile`` onto the confirming user's MC profile (its member row, as
        ``PATCH /users/me``; MC writes its ``users`` row): the non-blank values of MC's fields;
        a value past its field's size, or of no profile field, is left in the draft only."""
        if not isinstance(profile, dict):
            return
        wanted: dict[str, str] = {}
        for name in USER_FIELDS:
            text = str(profile.get(name) or "").strip()
            try:
                msgspec.convert({name: text}, UserUpdate)  # within the field's size
            except msgspec.ValidationError:
                continue
            if text:
                wanted[name] = text
        if wanted:
            await self._org.update_me(who, msgspec.convert(wanted, UserUpdate))

    async def _ensure_lead(self, who: Principal, board_id: UUID, lead: dict[str, Any]) -> None:
        """Make the board's lead from the draft's ``lead_agent``, or, when it has one, merge the
        draft's profile (identity_profile, autonomy_level ...) into the lead's."""
        profile = {**(lead.get("identity_profile") or {}), "role": "Board Lead"}
        for name in ("autonomy_level", "verbosity", "output_format", "update_cadence", "custom_instructions"):
            if lead.get(name):
                profile[name] = lead[name]
        body = McAgentCreate(name=str(lead.get("name") or "Lead Agent"), identity_profile=profile)
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            if not await team_store.lock_team(conn, who.tenant_id, board_id):
                return
            members = await team_store.list_members(conn, who.tenant_id, board_id)
            main = await self._agents.main(conn, who.tenant_id)
            current = next((m for m in members if m.role == "lead"), None)
            if current is not None:
                await self._agents.merge_profile(conn, who.tenant_id, current.agent_id, profile)
                agent_id, message = current.agent_id, "Lead agent {}'s profile set by onboarding."
                name, key = current.display_name or current.agent_key, current.agent_key
            elif main is None:
                return
            else:
                row = await self._agents.make(conn, who.tenant_id, main, body, board_id, "lead")
                agent_id, message, name = row.id, "Lead agent {} made by onboarding.", row.display_name
                key = row.agent_key
            await TaskService.record(
                conn, who.tenant_id,
                NewEvent(kind="agent.created" if current is None else "agent.updated", team_id=board_id,
                         agent_id=agent_id, user_id=who.coord_user, message=message.format(name)),
                out,
            )  # fmt: skip
        await self._tasks.announce(out)
        await self._agents.changed(who.tenant_id, key, "created" if current is None else "updated")

    async def agent_update(
        self, caller: AgentCaller, board_id: UUID, body: OnboardingAgentIn
    ) -> OnboardingRead:
        """The gateway main posts a question or its completion. Raises: Forbidden (not the main),
        NotFound (board, session), FailedPrecondition (confirmed), InvalidRequest."""
        async with self._db.connection() as conn:
            main = await self._agents.main(conn, caller.tenant_id)
        if main is None or main.id != caller.agent_id:
            raise forbidden("Only the gateway main agent may post onboarding updates.", "gateway_main_only")
        complete = body.status == "complete"
        if not complete and (body.question is None or not body.options):
            raise invalid_field("$.question", "send a question with at least one option, or status complete")
        if complete and body.board_type is None:
            raise invalid_field("$.board_type", "a completion names its board_type")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            if await team_store.get_team(conn, caller.tenant_id, board_id) is None:
                raise NotFound(kind="board", id=str(board_id))
            row = await self._open(conn, caller.tenant_id, board_id)
            if complete:
                sent = msgspec.json.decode(msgspec.json.encode(body))
                draft: dict[str, Any] | None = {
                    k: v for k, v in sent.items() if k not in ("question", "options")
                }
                said = msgspec.json.encode(draft).decode()
                status: str = "completed"
            else:
                draft = row.draft_goal
                said = msgspec.json.encode({"question": body.question, "options": body.options}).decode()
                status = "active"
            row = await store.save(conn, caller.tenant_id, row.id, status, [*row.messages, _message("assistant", said)],
                                   draft)  # fmt: skip
            await TaskService.record(
                conn, caller.tenant_id,
                NewEvent(kind=f"board.onboarding.{'completed' if complete else 'question'}", team_id=board_id,
                         agent_id=caller.agent_id, message=(body.question or "Onboarding draft complete.")[:500]),
                out,
            )  # fmt: skip
        await self._tasks.announce(out)
        return _read(row)

    @staticmethod
    async def _open(conn: DbConnection, tenant_id: UUID, board_id: UUID) -> OnboardingRow:
        """The board's newest session, locked. Raises: NotFound, FailedPrecondition (confirmed)."""
        latest = await store.latest(conn, tenant_id, board_id)
        row = await store.lock(conn, tenant_id, latest.id) if latest is not None else None
        if row is None:
            raise NotFound(kind="onboarding session", id=str(board_id))
        if row.status == "confirmed":
            raise FailedPrecondition(detail="Onboarding is already confirmed.")
        return row

    async def _wake(
        self, conn: DbConnection, who: Principal, main_id: UUID, board_id: UUID, kind: str, message: str,
        out: list[EventRow], ids: list[UUID],
    ) -> None:  # fmt: skip
        event = await TaskService.record(
            conn, who.tenant_id,
            NewEvent(kind=kind, team_id=board_id, agent_id=main_id, user_id=who.coord_user,
                     message=message[:500]),
            out,
        )  # fmt: skip
        if self._boards.loop is not None:
            await BoardLoop.queue(conn, who.tenant_id, event.seq, board_id, [Notice(main_id, kind, HEAD, message)],
                                  ids)  # fmt: skip

    async def _after(self, out: list[EventRow], ids: list[UUID]) -> None:
        await self._tasks.announce(out)
        if ids and self._boards.loop is not None:
            await self._boards.loop.deliver(ids)
