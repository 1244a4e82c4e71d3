"""A run as the run manager holds it: what it was asked (``RunPlan``) and how far it got
(``RunHandle``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from clawgate.runtime.events import Activity, RunAnswer
from clawgate.store.types import AgentRow, SessionRow

__all__ = ["Joined", "RunHandle", "RunPlan"]


@dataclass(slots=True)
class RunPlan:
    """Everything needed to start a run on a session whose user message is already stored."""

    tenant_id: UUID
    user_id: str
    agent: AgentRow
    session: SessionRow
    message: str
    user_idx: int
    stream: bool = True
    channel: str = "ws"
    idempotency_key: str | None = None
    light_context: bool = False  # the system prompt without the agent's context files (a heartbeat's)
    on_board: bool | None = None  # whether the agent is on a board, when the send's statement said


@dataclass(frozen=True, slots=True)
class Joined:
    """A message sent to start a run that joined the session's running run instead (at its next
    turn): that run and its session."""

    run_id: UUID
    session_key: str


@dataclass(eq=False, slots=True)
class RunHandle:
    """A run executing in this process: its events so far (``seq``, ``content_so_far``, the last
    ``activity``) and its outcome."""

    run_id: UUID
    plan: RunPlan
    started_at: datetime
    task: asyncio.Task[None] | None = None
    seq: int = 0
    content: list[str] = field(default_factory=list)
    activity: Activity | None = None
    done: asyncio.Future[RunAnswer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    run_ref: str = ""  # ``str(run_id)``, made once (each of the run's events carries it)

    def __post_init__(self) -> None:
        self.run_ref = str(self.run_id)

    @property
    def session_key(self) -> str:
        return self.plan.session.session_key

    @property
    def content_so_far(self) -> str:
        return "".join(self.content)

    async def outcome(self) -> RunAnswer:
        """The run's final answer (``chat.send``'s reply) once it ends.

        Raises: the run's error (a ``GatewayError``). Cancelling the caller stops waiting only.
        """
        return await asyncio.shield(self.done)

    def resolve(self, outcome: RunAnswer | BaseException) -> None:
        if self.done.done():
            return
        if isinstance(outcome, BaseException):
            self.done.set_exception(outcome)
            self.done.exception()  # mark retrieved: nobody may be waiting
        else:
            self.done.set_result(outcome)
