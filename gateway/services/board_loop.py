"""The loop closed (issue 14, build item 4; reference 2.6): Mission Control's notifications to agents
become a run of the target agent in its ClawGate session, with the delivery recorded.

A board service decides *who* hears of a change (``Notice``s, built by the functions here) and
queues them in the transaction of the change (``BoardLoop.queue``: a ``notifications`` row per
event, recipient and kind, made once by a unique index). After the commit it hands the ids to
``BoardLoop.deliver``: the process that claims a row (``claimed_at`` set while NULL, decided in
PostgreSQL) starts the run through the chat service's ``start_run`` (the entry point of cron and
heartbeat runs), in the session ``agent:<key>:mc:<board id>``, and records ``sent`` with the run id
or ``failed`` with why. Delivery is best-effort like MC's (a failure never fails the change), and
once only across processes.

The cases are those reference 2.6 lists for tasks, comments, approvals and board chat: a new task a
user made (the lead), an assignment that is not a self-claim (the assignee; the lead for review),
changes requested (the worker), a task back in the inbox (the lead), a comment (the mentioned
agents, else the assignee, never the author), an approval resolved (the lead), board chat (the lead
and the mentioned agents, never the author), and a task started with its assignee unchanged (the
assignee, woken without a message: ``started``).

A notification without message text is never a run with an empty message: it makes the agent's
heartbeat due now (``Waker``: the scheduler runs its checklist, as OpenClaw's ``wake``), and
without an enabled heartbeat nothing runs and the row says why (``BoardLoop._wake``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Protocol
from uuid import UUID

import structlog

from clawgate.errors import GatewayError
from clawgate.principal import Principal, Role
from clawgate.runtime.handle import Joined, RunHandle
from clawgate.services.heartbeat import Waker
from clawgate.store import Database, DbConnection, windows
from clawgate.store import agent_api as store
from clawgate.store import coord_events as events
from clawgate.store.agent_api import NotificationRow, Pending
from clawgate.store.coord_events import EventRow, NewEvent
from clawgate.store.tasks import TaskRow
from clawgate.store.teams import MemberRow

__all__ = [
    "BoardLoop",
    "Member",
    "Notice",
    "Notifying",
    "cut",
    "members_of",
    "mentioned",
    "session_rest",
    "started",
    "thread_session",
]

log = structlog.get_logger("clawgate.board_loop")

TASK_SNIPPET: Final = 500
CHAT_SNIPPET: Final = 800
AGENT_WAKES: Final = 20
AGENT_WAKE_WINDOW: Final = 600.0
"""At most ``AGENT_WAKES`` notifications made by other agents' messages (comments, board and group
chat) become runs of one agent per ``AGENT_WAKE_WINDOW`` seconds, counted in PostgreSQL
(``rate_limits.agent_wakes_per_10min``): agents @mentioning each other cannot wake each other
without end. The ones past it are recorded ``failed`` with why."""
STALE_SECONDS: Final = 30.0
"""A notification still unclaimed this long after its commit is swept up by a background round."""
CHANNELS: Final = {"mc": "mission_control", "clawtasker": "clawtasker"}
"""The channel (and acting user) of a run, by the first part of its session's rest."""
_MENTION: Final = re.compile(r"(?<![\w@])@([A-Za-z][\w-]{0,31})")


class Launcher(Protocol):
    """Starts agent runs (the chat service)."""

    async def start_run(
        self, who: Principal, agent_ref: str, message: str, *, session_rest: str, channel: str,
        provider: str = "", model: str = "", light: bool = False,
    ) -> RunHandle | Joined | None: ...  # fmt: skip


@dataclass(frozen=True, slots=True)
class Notice:
    """One message for one agent: ``kind`` (``task.assigned``, ``task.mention`` ...), its header
    line ``title`` and the ``body`` the agent reads."""

    agent_id: UUID
    kind: str
    title: str
    body: str
    session: str | None = None
    """The rest of the session key the run goes to; None: the team's (``session_rest``)."""
    by_agent: UUID | None = None
    """The agent whose own message (a comment, board or group chat) made it: such wakes are limited."""


@dataclass(frozen=True, slots=True)
class Member:
    agent_id: UUID
    name: str
    role: str
    key: str = ""


def session_rest(board_id: UUID) -> str:
    """The rest of the session key an agent hears a board's notifications in."""
    return f"mc:{board_id}"


def mentioned(text: str, members: Sequence[Member]) -> set[UUID]:
    """The members ``text`` @mentions (reference 2.5): a token matches an agent's full name or the
    first word of it, case-insensitive; ``@lead`` is the board lead."""
    tokens = {m.lower() for m in _MENTION.findall(text)}
    found: set[UUID] = set()
    for m in members:
        name = m.name.strip().lower()
        words = {name, name.split(" ", 1)[0] if name else "", name.replace(" ", "-"), m.key.lower()}
        if tokens & (words - {""}) or ("lead" in tokens and m.role == "lead"):
            found.add(m.agent_id)
    return found


def cut(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _task_lines(title: str, task_id: UUID, board_id: UUID, description: str = "") -> str:
    text = f"Board ID: {board_id}\nTask: {title}\nTask ID: {task_id}"
    if description.strip():
        text += f"\nDescription: {cut(description.strip(), TASK_SNIPPET)}"
    return text


def assigned(
    agent_id: UUID, title: str, task_id: UUID, board_id: UUID, description: str, review: bool
) -> Notice:
    if review:
        head, hint = (
            "TASK READY FOR LEAD REVIEW",
            "Review the work, then move the task to done or back to inbox.",
        )
    else:
        head, hint = (
            "TASK ASSIGNED",
            "Begin work now: move it to in_progress and post updates as task comments.",
        )
    body = f"{head}\n{_task_lines(title, task_id, board_id, description)}\n\n{hint}"
    return Notice(agent_id, "task.review" if review else "task.assigned", head, body)


WAKE_KIND: Final = "task.woken"


def started(before: TaskRow, assignee: UUID | None, status: str, actor: UUID | None) -> list[Notice]:
    """Reference 2.6: a task entering ``in_progress`` (canonical) with its assignee unchanged wakes the
    assignee without a message (MC's ``task.assignee_woken``); not when the assignee moved it itself.
    ``actor``: the agent making the change, if one is."""
    if assignee is None or assignee != before.assignee_agent_id or assignee == actor:
        return []
    if status != "in_progress" or before.status == "in_progress":
        return []
    return [Notice(assignee, WAKE_KIND, "TASK WAKE", "")]


def new_task(lead: UUID, title: str, task_id: UUID, board_id: UUID, description: str) -> Notice:
    head = "NEW TASK ADDED"
    body = (
        f"{head}\n{_task_lines(title, task_id, board_id, description)}\n\nTriage it: assign it, or plan it."
    )
    return Notice(lead, "task.created", head, body)


def changes_requested(worker: UUID, title: str, task_id: UUID, board_id: UUID, comment: str) -> Notice:
    head = "CHANGES REQUESTED"
    quoted = f"\nLead's comment: {cut(comment, TASK_SNIPPET)}" if comment else ""
    body = f"{head}\n{_task_lines(title, task_id, board_id)}{quoted}\n\nAddress the changes, then move it to review again."
    return Notice(worker, "task.changes_requested", head, body)


def back_in_inbox(lead: UUID, title: str, task_id: UUID, board_id: UUID) -> Notice:
    head = "TASK BACK IN INBOX"
    body = f"{head}\n{_task_lines(title, task_id, board_id)}\n\nThe task is unassigned in the inbox: reassign it."
    return Notice(lead, "task.back_in_inbox", head, body)


def comment_notices(
    text: str, author: UUID | None, assignee: UUID | None, members: Sequence[Member], title: str, task_id: UUID,
    board_id: UUID,
) -> list[Notice]:  # fmt: skip
    """The mentioned agents of the board, else the assignee; never the author."""
    targets = mentioned(text, members)
    mention = bool(targets)
    if not targets and assignee is not None:
        targets = {assignee}
    targets.discard(author) if author is not None else None
    head = "TASK MENTION" if mention else "NEW TASK COMMENT"
    hint = ("If you are mentioned but not assigned, reply in the task thread; do not change its status."
            if mention else "Reply in the task thread if it needs you.")  # fmt: skip
    body = f"{head}\n{_task_lines(title, task_id, board_id)}\nComment: {cut(text, TASK_SNIPPET)}\n\n{hint}"
    kind = "task.mention" if mention else "task.comment"
    return [Notice(a, kind, head, body, by_agent=author) for a in sorted(targets, key=str)]


def approval_resolved(
    lead: UUID, approval_id: UUID, action: str, status: str, confidence: float, task_ids: Sequence[UUID],
    board_id: UUID,
) -> Notice:  # fmt: skip
    head = "APPROVAL RESOLVED"
    tasks = ", ".join(map(str, task_ids)) or "none"
    body = (f"{head}\nBoard ID: {board_id}\nApproval ID: {approval_id}\nAction: {action}\nDecision: {status}\n"
            f"Confidence: {confidence:g}\nTask ID(s): {tasks}\n\n"
            "Continue execution using the final approval decision.")  # fmt: skip
    return Notice(lead, "approval.resolved", head, body)


def board_group(
    agent_id: UUID, board_id: UUID, board_name: str, group_id: UUID, group_name: str, joined: bool
) -> Notice:
    """A board joined or left a board group: every agent of the board hears of it."""
    head = "BOARD GROUP JOINED" if joined else "BOARD GROUP LEFT"
    what = "joined" if joined else "left"
    hint = ("Group chat is shared with the group's other boards: GET/POST "
            f"/api/v1/agent/boards/{board_id}/group-memory." if joined else "Its group chat no longer reaches you.")  # fmt: skip
    body = f"{head}\nBoard: {board_name}\nBoard ID: {board_id}\nGroup: {group_name}\nGroup ID: {group_id}\n\n" \
           f"This board {what} the group. {hint}"  # fmt: skip
    return Notice(agent_id, f"board.group.{'join' if joined else 'leave'}", head, body)


def board_updated(
    lead: UUID, board_id: UUID, board_name: str, changes: Sequence[tuple[str, object, object]]
) -> Notice:
    """A user changed a board's fields or rules: its lead hears which, from what to what
    (MC's board update summary)."""
    head = "BOARD UPDATED"
    lines = "\n".join(
        f"- {field}: {cut(_shown(old), 200)} -> {cut(_shown(new), 200)}" for field, old, new in changes
    )
    body = (f"{head}\nBoard: {board_name}\nBoard ID: {board_id}\nChanged:\n{lines}\n\n"
            f"Read the board (GET /api/v1/agent/boards/{board_id}) and adjust your plan and your workers to it.")  # fmt: skip
    return Notice(lead, "board.update", head, body)


def _shown(value: object) -> str:
    return "(none)" if value is None else str(value)


OUTCOMES: Final = {
    "board.update": ("board.lead_notified", "board.lead_notify_failed"),
    "board.group.join": ("board.group.join.notified", "board.group.join.notify_failed"),
    "board.group.leave": ("board.group.leave.notified", "board.group.leave.notify_failed"),
}
"""Notification kinds whose delivery is also an activity event on the board (MC's
``board.lead_notified`` ...): (sent, failed). Other deliveries are recorded on their row only."""


def chat_notices(
    text: str, author: UUID | None, members: Sequence[Member], board_id: UUID, author_name: str
) -> list[Notice]:
    """Board chat: the lead always, and the mentioned agents; never the author. ``/pause`` or
    ``/resume`` alone goes as it is to every agent of the board but the author."""
    if text.strip() in ("/pause", "/resume"):
        command = text.strip()
        return [
            Notice(m.agent_id, f"board.{command[1:]}", command, command, by_agent=author)
            for m in members
            if m.agent_id != author
        ]
    targets = mentioned(text, members)
    lead = next((m.agent_id for m in members if m.role == "lead"), None)
    out: list[Notice] = []
    for agent_id in sorted(targets | ({lead} if lead else set()), key=str):
        if agent_id == author:
            continue
        head = "BOARD CHAT MENTION" if agent_id in targets else "BOARD CHAT"
        body = (f"{head}\nBoard ID: {board_id}\nFrom: {author_name}\nMessage: {cut(text, CHAT_SNIPPET)}\n\n"
                f"Reply with the board_chat tool (or POST /api/v1/agent/boards/{board_id}/memory with is_chat).")  # fmt: skip
        out.append(
            Notice(agent_id, "board.chat_mention" if agent_id in targets else "board.chat", head, body,
                   by_agent=author)
        )  # fmt: skip
    return out


def thread_session(thread_key: str) -> str:
    """The rest of the session key an agent hears a ClawTasker thread in (CT's ``chat:clawtasker:<slug>``)."""
    slug = re.sub(r"[^a-z0-9]+", "-", thread_key.lower()).strip("-") or "thread"
    return f"clawtasker:{slug}"[:200]


def directive(
    agent_id: UUID, text: str, directive_id: str, thread_key: str, project: str, task: str
) -> Notice:
    """ClawTasker's CEO directive to its target agent, in the agent's session of the CEO's thread."""
    head = "CEO DIRECTIVE"
    lines = [head, f"Directive ID: {directive_id}", "From: ceo"]
    lines += [f"Project: {project}"] if project else []
    lines += [f"Task: {task} (in your backlog)"] if task else []
    body = ("\n".join(lines) + f"\nDirective: {cut(text, TASK_SNIPPET)}\n\n"
            f"Act on it, and report back in thread {thread_key} (POST /api/conversations/message).")  # fmt: skip
    return Notice(agent_id, "ct.directive", head, body, thread_session(thread_key))


def message(agent_id: UUID, text: str, sender: str, thread_key: str, task: str) -> Notice:
    """A ClawTasker conversation message to a participant agent, in its session of the thread."""
    head = "NEW MESSAGE"
    related = f"\nRelated task: {task}" if task else ""
    body = (f"{head}\nThread: {thread_key}\nFrom: {sender}\nMessage: {cut(text, CHAT_SNIPPET)}{related}\n\n"
            f"Reply in the thread (POST /api/conversations/message with thread_id {thread_key}).")  # fmt: skip
    return Notice(agent_id, "ct.message", head, body, thread_session(thread_key))


class BoardLoop:
    """Queues notices in the caller's transaction and delivers them as runs after the commit."""

    def __init__(
        self, db: Database, launcher: Launcher, agent_wakes: int = AGENT_WAKES, waker: Waker | None = None
    ) -> None:
        self._db = db
        self._launcher = launcher
        self._agent_wakes = agent_wakes
        self._waker = waker

    @staticmethod
    async def queue(
        conn: DbConnection, tenant_id: UUID, event_seq: int, board_id: UUID | None, notices: Iterable[Notice],
        out: list[UUID],
    ) -> None:  # fmt: skip
        """Make a pending notification per notice (once per event, agent and kind) in the caller's
        transaction; their ids go to ``out`` for ``deliver``."""
        for n in notices:
            made = await store.insert_notification(conn, tenant_id, event_seq, n.agent_id, n.kind, n.title, n.body,
                                                   board_id, n.session, n.by_agent)  # fmt: skip
            if made is not None:
                out.append(made)

    async def deliver(self, ids: Iterable[UUID]) -> None:
        """After the commit: each notification this process claims becomes a run. Never raises."""
        for notification_id in ids:
            try:
                await self._deliver(notification_id)
            except Exception:  # best-effort: the change that made it is committed and answered
                log.exception("board_loop.deliver_crashed", notification_id=str(notification_id))

    async def _deliver(self, notification_id: UUID) -> None:
        async with self._db.transaction() as conn:
            claimed = await store.claim_notification(conn, notification_id)
        if claimed is None:
            return  # another process has it
        if (limited := await self._limited(claimed)) is not None:
            await self._finish(claimed, "failed", limited, None, None)
            log.warning("board_loop.agent_wake_limited", notification_id=str(notification_id))
            return
        rest = claimed.session_rest or (session_rest(claimed.team_id) if claimed.team_id else "mc")
        channel = CHANNELS.get(rest.split(":", 1)[0], "mission_control")
        who = Principal(role=Role.OPERATOR, user_id=channel, tenant_id=claimed.tenant_id, via="cron")
        status, error, run_id, key = "sent", None, None, None
        if not claimed.body.strip():
            status, error = await self._wake(claimed)
            await self._finish(claimed, status, error, None, None)
            log.info(
                "board_loop.woken", notification_id=str(notification_id), status=status, kind=claimed.kind
            )
            return
        try:
            handle = await self._launcher.start_run(
                who, claimed.recipient_id, claimed.body, session_rest=rest, channel=channel
            )
            if handle is not None:  # a run, or the one its session had going (Joined)
                run_id, key = handle.run_id, handle.session_key
        except GatewayError as exc:
            status, error = "failed", exc.message("en")
        except Exception as exc:  # our own bug: recorded, not left claimed and pending
            log.exception("board_loop.start_crashed", notification_id=str(notification_id))
            status, error = "failed", f"internal error: {exc.__class__.__name__}"
        await self._finish(claimed, status, error, run_id, key)
        log.info(
            "board_loop.delivered", notification_id=str(notification_id), status=status, kind=claimed.kind
        )

    async def _finish(
        self, claimed: Pending, status: str, error: str | None, run_id: UUID | None, key: str | None
    ) -> None:
        """Record the delivery on its row, and for the kinds of ``OUTCOMES`` as an activity event."""
        async with self._db.transaction() as conn:
            await store.finish_notification(conn, claimed.id, status, error, run_id, key)
            if (kinds := OUTCOMES.get(claimed.kind)) is not None:
                sent = status == "sent"
                data = {"notification_id": str(claimed.id), "run_id": str(run_id) if run_id else None,
                        "error": error}  # fmt: skip
                what = "notified" if sent else f"not notified ({cut(error or '', 300)})"
                await events.append(
                    conn, claimed.tenant_id,
                    NewEvent(kind=kinds[0] if sent else kinds[1], team_id=claimed.team_id,
                             agent_id=_uuid(claimed.recipient_id), message=f"{claimed.title}: {what}.", data=data),
                )  # fmt: skip

    async def _wake(self, claimed: Pending) -> tuple[str, str | None]:
        """A notification without message text (``started``): no run with an empty message (it would
        store an empty user turn, which providers refuse); the agent's heartbeat is made due now and
        runs its checklist. Returns: the row's status and why it failed (no heartbeat enabled)."""
        try:
            agent_id = UUID(claimed.recipient_id)
        except ValueError:
            return "failed", f"not an agent: {claimed.recipient_id}"
        if self._waker is not None and await self._waker.wake_heartbeat(claimed.tenant_id, agent_id):
            return "sent", None
        return "failed", "a wake without a message runs the agent's heartbeat, and it has none enabled"

    async def _limited(self, claimed: Pending) -> str | None:
        """Why a notification another agent's message made starts no run (``AGENT_WAKES`` reached
        for its recipient), else None; counted in PostgreSQL, so across processes."""
        if claimed.by_agent_id is None or self._agent_wakes <= 0:
            return None
        async with self._db.transaction() as conn:
            key = f"agentwake:{claimed.tenant_id}:{claimed.recipient_id}"
            if not await windows.hit(conn, key, AGENT_WAKE_WINDOW, self._agent_wakes, refused_counts=False):
                return None
        return (f"other agents' messages woke this agent {self._agent_wakes} times in "
                f"{AGENT_WAKE_WINDOW / 60:g} minutes: this one starts no run")  # fmt: skip

    async def sweep(self) -> int:
        """Deliver the notifications a process left unclaimed (it died between its commit and its
        claim): a background round's job. Returns how many it handed on."""
        async with self._db.connection() as conn:
            ids = await store.stale_notifications(conn, STALE_SECONDS, 100)
        await self.deliver(ids)
        return len(ids)

    async def of_agent(self, tenant_id: UUID, agent_id: UUID, limit: int = 50) -> list[NotificationRow]:
        async with self._db.connection() as conn:
            return await store.notifications_of(conn, tenant_id, agent_id, limit)


class Notifying:
    """A service whose changes queue notices: ``loop`` is set by the composition root (None: no
    delivery, as in a service built alone)."""

    loop: BoardLoop | None = None

    async def _queue(
        self, conn: DbConnection, who: Principal, team_id: UUID | None, out: list[EventRow], notices: list[Notice],
        ids: list[UUID],
    ) -> None:  # fmt: skip
        """Queue ``notices`` (in the transaction of the change, against its last event)."""
        if self.loop is not None and notices and out:
            await self.loop.queue(conn, who.tenant_id, out[-1].seq, team_id, notices, ids)

    async def _deliver(self, ids: list[UUID]) -> None:
        """After the commit: deliver what ``_queue`` made."""
        if self.loop is not None and ids:
            await self.loop.deliver(ids)


def _uuid(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


def members_of(rows: Iterable[MemberRow]) -> list[Member]:
    """A board's members as the mention rules read them."""
    return [Member(m.agent_id, m.display_name or m.agent_key, m.role, m.agent_key) for m in rows]
