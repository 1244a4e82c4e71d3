"""ClawTasker's console (``/api``, reference section 3) on the shared coordination model: a CT
project is a team (``teams.key`` is its string id; a team made elsewhere shows under its uuid), a
CT agent is a ClawGate agent (its key is CT's id, its roster card ``agent_presence.profile``), a CT
task a shared task (``T-<number>``, statuses mapped: ``validation`` is ``review``), its comments
``task.comment`` events and its activity the log's status changes. Missions, sprints,
conversations (direct threads), directives (messages, ``category = directive``: stored, unlike
CT) and the console's notifications are the shared tables too.

CT has no actor authorisation: any writer of the tenant may move any task; the transition table
and its guards are ``clawgate.services.ct_rules``. Writes are limited to
``rate_limits.clawtasker_writes_per_minute`` (30) per ``WRITE_WINDOW`` seconds per tenant and client
IP, decided in PostgreSQL (every process).
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import attrgetter, itemgetter
from typing import Any, Final, NamedTuple
from uuid import UUID

import msgspec

from clawgate import __version__
from clawgate.bus import EventBus, invalidation
from clawgate.errors import AlreadyExists, FailedPrecondition, InvalidRequest, NotFound
from clawgate.live import LiveSettings
from clawgate.principal import Principal
from clawgate.ratelimit import exhausted
from clawgate.services import board_loop as notify
from clawgate.services.board_loop import Notice, Notifying
from clawgate.services.ct_rules import CT_STATUSES, transition
from clawgate.services.tasks import TaskService, now
from clawgate.store import Database, DbConnection, read_snapshot, windows
from clawgate.store import clawtasker as store
from clawgate.store import coord_events as events_store
from clawgate.store import tasks as task_store
from clawgate.store import teams as team_store
from clawgate.store.clawtasker import OrgRow, RosterRow
from clawgate.store.coord_events import EventRow, LogVersion, NewEvent, Where
from clawgate.store.tasks import TaskFilter, TaskRow, TaskState

__all__ = [
    "DEFAULT_PROJECT",
    "PUBLISH_WINDOW",
    "STALE_SECONDS",
    "WRITE_WINDOW",
    "ClawTaskerService",
    "bad",
    "ct_event",
    "obj",
]

JSON = dict[str, Any]
_encoder = msgspec.json.Encoder()
WRITE_WINDOW: Final = 60.0
PUBLISH_WINDOW: Final = 45.0
"""A repeated ``openclaw/publish`` within this many seconds is a duplicate (CT's
``CLAWTASKER_PUBLISH_DEDUPE_WINDOW`` default)."""
STALE_SECONDS: Final = 180
"""An agent without a heartbeat for this long reads as ``offline`` (CT's ``CLAWTASKER_STALE_SECONDS``)."""
STALE_TASK: Final = timedelta(days=3)
"""A task not done and not updated for this long is ``stale`` (CT's board)."""
BOARDS_KEPT: Final = 4
"""Tenants whose rendered task board a process keeps (``ClawTaskerService._task_board``)."""
CATCH_UP: Final = 200
"""At most this many new events are caught up task by task; more render the whole board."""
QUIET_KINDS: Final = frozenset({
    "agent.heartbeat", "agent.blocked", "agent.registered", "agent.updated", "agent.nudged", "board.chat",
    "board.chat_mention", "board.memory", "group.memory", "conversation.message", "run.published", "approval.created",
    "approval.updated", "approval.resolved",
})  # fmt: skip
"""Events without a task that change no task as CT shows it (an agent's key is checked apart)."""
DEFAULT_PROJECT: Final = "ceo-console"
VERSION: Final = "1.5.0-clawgate"
CT_TO_CANON: Final = {"validation": "review"}
CANON_TO_CT: Final = {"review": "validation", "cancelled": "done"}
PRIORITIES: Final = ("P0", "P1", "P2", "P3")
HORIZONS: Final = ("Today", "This Week", "This Month", "Later")
TYPES: Final = ("bug", "story", "task", "spike", "epic")
STORY_POINTS: Final = (1, 2, 3, 5, 8, 13)
AGENT_STATUSES: Final = (
    "idle",
    "working",
    "blocked",
    "validating",
    "validation",
    "paused",
    "error",
    "offline",
)
LINKS: Final = {
    "relates-to": ("relates_to", False),
    "duplicates": ("duplicates", False),
    "blocks": ("depends_on", True),  # A blocks B: B depends on A
    "is-blocked-by": ("depends_on", False),
    "parent-of": ("parent_of", False),
    "child-of": ("parent_of", True),
}
"""CT link type -> (stored edge kind, stored reversed)."""
SYMMETRIC: Final = {
    "relates-to": "relates-to", "duplicates": "duplicates", "blocks": "is-blocked-by",
    "is-blocked-by": "blocks", "parent-of": "child-of", "child-of": "parent-of",
}  # fmt: skip
EVENT_STATUS: Final = {"started": "in_progress", "needs-validation": "validation", "done": "done"}
CARD_FIELDS: Final = (
    "role", "manager", "profile_hue", "department", "org_level", "team_id", "team_name", "coordination_scope",
    "manager_title", "avatar_ref", "project_id", "note", "skills", "core_skills", "specialist",
    "home_specialist", "specialists", "allowed_tools", "collaborating_with", "session_key", "publish_kind",
    "run_id",
)  # fmt: skip
"""The roster card's fields (``agent_presence.profile``); ``name``, ``emoji`` live on the agent."""
_SLUG = re.compile(r"[^a-z0-9]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def bad(message: str) -> InvalidRequest:
    """CT's 400 ``{"error": message}``."""
    return InvalidRequest("failed_precondition", detail=message)


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:64]


def text(value: Any, limit: int, name: str = "value") -> str:
    """CT's text normalisation: control characters stripped, cut to ``limit`` with "…".
    Raises: InvalidRequest (not text)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise bad(f"{name} must be text")
    out = _CONTROL.sub("", str(value)).strip()
    return out if len(out) <= limit else out[: limit - 1] + "…"


def texts(value: Any, count: int, limit: int, name: str) -> list[str]:
    """A list of texts, de-duplicated and capped (CT: labels 12 x 32, blockers 6 x 100 ...)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise bad(f"{name} must be a list")
    out = [t for t in dict.fromkeys(text(v, limit, name) for v in value) if t]
    return out[:count]


def obj(value: Any, name: str) -> JSON:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad(f"{name} must be an object")
    return value


def task_number(ref: Any) -> int:
    """``T-203`` (or ``203``) as 203. Raises: InvalidRequest."""
    raw = text(ref, 32, "task id")
    digits = raw[2:] if raw[:2].upper() == "T-" else raw
    if not digits.isdigit() or len(digits) > 15:
        raise bad(f"unknown task: {raw or '(none)'}")
    return int(digits)


def _tid(number: int) -> str:
    return f"T-{number}"


def ct_status(status: str) -> str:
    return CANON_TO_CT.get(status, status)


def ct_event(row: EventRow) -> JSON:
    """An event of the log as CT's activity entry / SSE payload ``{id, timestamp, kind, title,
    details, meta}``."""
    return {
        "id": row.seq,
        "timestamp": _iso(row.created_at),
        "kind": row.kind,
        "title": row.message or row.kind,
        "details": row.data,
        "meta": {"task_id": row.data.get("task_key"), "project_id": row.data.get("project_key"),
                 "actor": row.data.get("actor")},
    }  # fmt: skip


@dataclass(slots=True)
class _Ctx:
    """What rendering tasks needs: keys of agents, projects, missions, sprints and task numbers."""

    agents: dict[UUID, str]
    projects: dict[UUID, str]
    missions: dict[UUID, str]
    sprints: dict[UUID, str]
    numbers: dict[UUID, int]
    links: dict[UUID, list[store.LinkRow]]  # by either end's task
    stale_before: datetime  # a task not done and not updated since is stale (CT: 3 days)
    comments: dict[UUID, list[JSON]]


NEVER: Final = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class _Keys:
    """The keys a rendered task shows for other rows: agents, projects, missions and sprints."""

    agents: dict[UUID, str]
    projects: dict[UUID, str]
    missions: dict[UUID, str]
    sprints: dict[UUID, str]


class _Card(NamedTuple):
    """A task of a rendered board: its place, its encoding and what the snapshot counts of it."""

    order: tuple[Any, ...]
    encoded: bytes
    status: str
    owner: str
    points: int
    blocked: bool  # flagged, or depending on a task not done
    turns_stale: datetime  # when it reads stale (never: datetime.max)


@dataclass(slots=True)
class _TaskBoard:
    """A tenant's tasks rendered as CT's board (the snapshot's ``tasks``, each encoded once) in CT's
    order, what the snapshot counts of them, and what they were rendered from: the log's version,
    the keys shown, the links and comments (``ctx``)."""

    tenant_id: UUID
    version: LogVersion
    ctx: _Ctx
    cards: dict[UUID, _Card] = field(default_factory=dict)
    order: list[tuple[tuple[Any, ...], UUID, bytes]] = field(default_factory=list)  # sorted
    active: dict[str, tuple[int, int]] = field(default_factory=dict)  # owner -> (open tasks, points)
    done: int = 0
    blocked: int = 0
    tasks: msgspec.Raw = field(default_factory=lambda: msgspec.Raw(b"[]"))
    fresh_until: datetime = NEVER  # the first moment a task turns stale

    def fits(self, keys: _Keys, at: datetime) -> bool:
        """Its keys are the ones shown now, and no task turned stale since it was rendered."""
        ctx = self.ctx
        return at < self.fresh_until and keys == _Keys(ctx.agents, ctx.projects, ctx.missions, ctx.sprints)

    async def current(self, conn: DbConnection) -> bool:
        """No event of the log since it was read."""
        return await events_store.version(conn, self.tenant_id, self.version.xmin) == self.version

    @classmethod
    def render(cls, tenant_id: UUID, version: LogVersion, ctx: _Ctx, cards: dict[UUID, _Card]) -> _TaskBoard:
        board = cls(tenant_id=tenant_id, version=version, ctx=ctx, cards=cards)
        board.order = sorted((c.order, t, c.encoded) for t, c in cards.items())
        for c in cards.values():
            board._count(c, 1)
        board.seal()
        return board

    def put(self, task_id: UUID, card: _Card | None) -> None:
        """Place ``card`` (None: take the task off), keeping the order and the counts."""
        if (old := self.cards.pop(task_id, None)) is not None:
            del self.order[bisect.bisect_left(self.order, (old.order, task_id, old.encoded))]
            self._count(old, -1)
        if card is not None:
            self.cards[task_id] = card
            bisect.insort(self.order, (card.order, task_id, card.encoded))
            self._count(card, 1)

    def _count(self, c: _Card, sign: int) -> None:
        self.done += sign * (c.status == "done")
        self.blocked += sign * c.blocked
        if c.status in ("ready", "in_progress", "validation"):
            count, points = self.active.get(c.owner, (0, 0))
            self.active[c.owner] = (count + sign, points + sign * c.points)

    def seal(self) -> None:
        """Encode the list, and find when its first task turns stale."""
        self.tasks = msgspec.Raw(b"[" + b",".join(map(itemgetter(2), self.order)) + b"]")
        self.fresh_until = min(map(attrgetter("turns_stale"), self.cards.values()), default=NEVER)

    @property
    def metrics(self) -> JSON:
        return {"tasks_total": len(self.cards), "tasks_done": self.done, "blocked": self.blocked}


def _comments(found: list[store.CommentRow]) -> dict[UUID, list[JSON]]:
    """Comments (newest first, as read) by task, oldest first, as CT shows them."""
    out: dict[UUID, list[JSON]] = {}
    for c in reversed(found):
        author = c.data.get("author") or c.agent_key or c.user_id or "ceo"
        out.setdefault(c.task_id, []).append(
            {"id": f"CM-{c.id}", "author": author, "text": c.message or "", "timestamp": _iso(c.created_at)}
        )
    return out


def _by_task(links: list[store.LinkRow]) -> dict[UUID, list[store.LinkRow]]:
    out: dict[UUID, list[store.LinkRow]] = {}
    for link in links:
        out.setdefault(link.src_task_id, []).append(link)
        out.setdefault(link.dst_task_id, []).append(link)
    return out


def _project_key(team: team_store.TeamRow) -> str:
    return team.key or str(team.id)


class ClawTaskerService(Notifying):
    """ClawTasker's reads and writes, each scoped by the caller's tenant. Directives, conversation
    messages and assignments to an agent wake it with a run (``Notifying``: through ``loop``)."""

    def __init__(self, db: Database, bus: EventBus, tasks: TaskService, live: LiveSettings) -> None:
        self._live = live
        self._db = db
        self._bus = bus
        self._tasks = tasks
        self._booted = datetime.now(UTC)
        self._boards: OrderedDict[UUID, _TaskBoard] = OrderedDict()
        self._rendering: dict[UUID, asyncio.Lock] = {}

    # -- limits -----------------------------------------------------------------------------------

    async def check_write(self, who: Principal, ip: str) -> None:
        """Count an authenticated write of ``ip``. Raises: ResourceExhausted (429, the seconds
        until the oldest write of the window leaves it)."""
        limit = self._live.current.rate_limits.clawtasker_writes_per_minute
        if limit <= 0:
            return
        async with self._db.transaction() as conn:
            wait = await windows.hit(
                conn, f"ct:{who.tenant_id}:{ip}"[:200], WRITE_WINDOW, limit, refused_counts=False
            )
        if wait:
            raise exhausted(wait)

    async def first_publish(self, who: Principal, signature: str) -> bool:
        """Whether ``signature`` (an ``openclaw/publish``'s) was not seen in the last
        ``PUBLISH_WINDOW`` seconds, recording it if so: CT's dedupe, decided in PostgreSQL (a
        window of one hit per signature under its advisory lock), so it holds across processes."""
        digest = hashlib.sha256(signature.encode()).hexdigest()[:40]
        async with self._db.transaction() as conn:
            wait = await windows.hit(
                conn, f"ctpub:{who.tenant_id}:{digest}", PUBLISH_WINDOW, 1, refused_counts=False
            )
        return not wait

    # -- reading ----------------------------------------------------------------------------------

    async def _context(
        self, conn: DbConnection, tenant_id: UUID, rows: Sequence[TaskRow], full: bool
    ) -> _Ctx:
        roster = await store.roster(conn, tenant_id)
        teams = await team_store.list_teams(conn, tenant_id, None, 100_000)
        missions = await store.missions(conn, tenant_id)
        sprints = await store.sprints(conn, tenant_id)
        ids = [r.id for r in rows]
        links = await store.links_of(conn, tenant_id, ids) if ids else []
        wanted = {x for r in rows for x in r.depends_on} | {x for link in links for x in (link.src_task_id,
                                                                                         link.dst_task_id)}  # fmt: skip
        numbers = {r.id: r.number for r in rows}
        if missing := [x for x in wanted if x not in numbers]:
            numbers.update(await store.task_numbers(conn, tenant_id, missing))
        task = rows[0].id if len(rows) == 1 and not full else None
        found = await store.comments(conn, tenant_id, task, 2000 if full else 500) if rows else []
        comments = _comments(found)
        return _Ctx(
            agents={a.id: a.agent_key for a in roster}, projects={t.id: _project_key(t) for t in teams},
            missions={m.id: m.key for m in missions}, sprints={s.id: s.key for s in sprints}, numbers=numbers,
            links=_by_task(links), comments=comments, stale_before=now() - STALE_TASK,
        )  # fmt: skip

    def _task_out(self, row: TaskRow, ctx: _Ctx) -> JSON:
        ct: JSON = row.metadata.get("ct", {}) if isinstance(row.metadata.get("ct"), dict) else {}
        owner = ctx.agents.get(row.assignee_agent_id) if row.assignee_agent_id else ct.get("owner", "")
        validator = ctx.agents.get(row.validator_agent_id) if row.validator_agent_id else ct.get(
            "validation_owner", "")  # fmt: skip
        links: list[JSON] = []
        blocking: list[str] = []
        for link in ctx.links.get(row.id, ()):
            outgoing = link.src_task_id == row.id
            other = ctx.numbers.get(link.dst_task_id if outgoing else link.src_task_id)
            if other is None:
                continue
            kind = {
                ("depends_on", True): "is-blocked-by", ("depends_on", False): "blocks",
                ("parent_of", True): "parent-of", ("parent_of", False): "child-of",
            }.get((link.kind, outgoing), link.kind.replace("_", "-"))  # fmt: skip
            links.append({"type": kind, "target_id": _tid(other)})
            if kind == "blocks":
                blocking.append(_tid(other))
        status = ct_status(row.status)
        return {
            "id": _tid(row.number), "uuid": str(row.id), "title": row.title, "description": row.description,
            "project_id": ctx.projects.get(row.team_id, str(row.team_id)),
            "mission_id": ctx.missions.get(row.mission_id) if row.mission_id else None,
            "sprint_id": ctx.sprints.get(row.sprint_id) if row.sprint_id else None,
            "status": status, "owner": owner or "", "assignees": [owner] if owner else [],
            "validation_owner": validator or "", "priority": PRIORITIES[row.priority],
            "horizon": ct.get("horizon", "This Week"), "due_date": ct.get("due_date"),
            "type": row.task_type if row.task_type in TYPES else "task", "reporter": ct.get("reporter", "ceo"),
            "specialist": ct.get("specialist", ""), "labels": ct.get("labels", []),
            "collaborators": ct.get("collaborators", []), "progress": row.progress,
            "story_points": ct.get("story_points"), "blocked": row.blocked,
            "depends_on": [_tid(ctx.numbers[d]) for d in row.depends_on if d in ctx.numbers],
            "blocking": blocking, "links": links,
            "has_unresolved_blockers": bool(row.blocked_by),
            "acceptance_criteria": ct.get("acceptance_criteria", []),
            "definition_of_done": ct.get("definition_of_done", []),
            "validation_steps": ct.get("validation_steps", []), "artifacts": ct.get("artifacts", []),
            "issue_ref": ct.get("issue_ref", ""), "branch_name": ct.get("branch_name", ""),
            "pr_status": ct.get("pr_status", "not-opened"), "comments": ctx.comments.get(row.id, []),
            "created_at": _iso(row.created_at), "updated_at": _iso(row.updated_at),
            "stale": status != "done" and row.updated_at < ctx.stale_before,
        }  # fmt: skip

    @staticmethod
    def _agent_out(a: RosterRow, at: datetime) -> JSON:
        declared = a.status if a.status and a.status != "provisioning" else "idle"
        fresh = a.last_seen_at is not None and (at - a.last_seen_at).total_seconds() <= STALE_SECONDS
        card = {k: v for k, v in a.profile.items() if k in CARD_FIELDS}
        return {
            **card, "id": a.agent_key, "name": a.display_name or a.agent_key, "emoji": a.emoji,
            "status": declared, "derived_status": declared if fresh else "offline",
            "last_heartbeat": _iso(a.last_seen_at),
            "current_task_id": _tid(a.current_task_number) if a.current_task_number else None,
            "doing_summary": a.doing_summary, "done_summary": a.done_summary, "next_summary": a.next_summary,
            "blockers": a.blockers, "speaking": a.speaking, "retired_at": _iso(a.retired_at),
            "successor_id": a.successor_key,
        }  # fmt: skip

    async def task(self, who: Principal, number: int) -> JSON:
        """A task in CT's shape. Raises: InvalidRequest (unknown task)."""
        async with self._db.connection() as conn:
            row = await self._row(conn, who.tenant_id, number)
            return self._task_out(row, await self._context(conn, who.tenant_id, [row], False))

    async def _row(self, conn: DbConnection, tenant_id: UUID, number: int) -> TaskRow:
        task_id = await store.task_id(conn, tenant_id, number)
        row = None if task_id is None else await task_store.get_task(conn, tenant_id, task_id)
        if row is None:
            raise bad(f"unknown task: {_tid(number)}")
        return row

    async def snapshot(self, who: Principal) -> JSON:
        """CT's state document, built from the shared tables (reference 3.3). The task list, the
        bulk of it, is rendered once per change of the log (``_task_board``)."""
        at = now()
        async with self._db.connection() as conn:
            org = await store.get_org(conn, who.tenant_id)
            roster = await store.roster(conn, who.tenant_id)
            teams = await team_store.list_teams(conn, who.tenant_id, None, 100_000)
            missions = await store.missions(conn, who.tenant_id)
            sprints = await store.sprints(conn, who.tenant_id)
            notes = await store.notifications(conn, who.tenant_id)
            threads = await store.threads(conn, who.tenant_id)
            messages = await store.messages(conn, who.tenant_id)
            events = await self._tasks.events_page(who.tenant_id, Where(), 120, 0)
            keys = _Keys(
                agents={a.id: a.agent_key for a in roster}, projects={t.id: _project_key(t) for t in teams},
                missions={m.id: m.key for m in missions}, sprints={s.id: s.key for s in sprints},
            )  # fmt: skip
            board = await self._task_board(conn, who.tenant_id, keys, at)
        cursor = events[0].seq if events else 0
        agents = [self._agent_out(a, at) for a in roster]
        for agent in agents:
            count, points = board.active.get(agent["id"], (0, 0))
            agent["workload_active"] = count
            agent["workload_points"] = points
            agent["overloaded"] = count > 4
        by_thread: dict[UUID, list[JSON]] = {}
        directives: list[JSON] = []
        for m in messages:
            out = _message_out(m)
            by_thread.setdefault(m.thread_id, []).append(out)
            if m.category == "directive" and m.directive is not None:
                directives.append(
                    {**m.directive, "id": f"D-{m.id}", "text": m.content, "timestamp": out["timestamp"]}
                )
        return {
            "version": VERSION, "state_version": cursor, "timestamp": _iso(at), "created_at": _iso(self._booted),
            "company": {"name": org.company_name, "tagline": org.tagline,
                        "ceo": {"id": "ceo", "name": org.ceo_name, "role": org.ceo_role}},
            "sync_contract": _sync_contract(org),
            "projects": [_project_out(t) for t in teams],
            "agents": agents, "tasks": board.tasks,
            "missions": [_mission_out(m) for m in missions],
            "sprints": [_sprint_out(s) for s in sprints],
            "notifications": [_notification_out(n) for n in notes],
            "conversations": [_thread_out(t, by_thread.get(t.id, [])) for t in threads],
            "directives": directives,
            "events": [ct_event(e) for e in events],
            "calendar": {"week_of": at.date().isoformat(), "recurring_jobs": [], "blocks": []},
            "recent_runs": [ct_event(e) for e in events if e.kind == "run.published"][:20],
            "ui_settings": org.settings.get("ui_settings", {}),
            "org_templates": TEMPLATES,
            "metrics": {"active_sprint": next((s.key for s in sprints if s.status == "active"), None),
                        **board.metrics},
        }  # fmt: skip

    async def _task_board(self, conn: DbConnection, tenant_id: UUID, keys: _Keys, at: datetime) -> _TaskBoard:
        """The tenant's tasks as CT's board. A process keeps the last rendering of its last
        ``BOARDS_KEPT`` tenants and checks it against the log in PostgreSQL on every read (every
        write of tasks, links and comments logs an event in its transaction), so a change made by
        another process is seen at once. After new events only the tasks they name and their
        linked tasks are rendered again (``_catch_up``); everything is when the keys it shows
        changed (an agent deleted elsewhere, say), a task turned stale, or an event without a task
        may have changed tasks. One request at a time renders a tenant's board."""
        kept = self._boards.get(tenant_id)
        if kept is not None and kept.fits(keys, at) and await kept.current(conn):
            return kept
        async with self._rendering.setdefault(tenant_id, asyncio.Lock()):
            kept = self._boards.get(tenant_id)  # brought up to date by the request this one waited for?
            if kept is not None and kept.fits(keys, at) and await self._catch_up(conn, kept):
                return kept
            async with read_snapshot(conn):
                version = await events_store.version(conn, tenant_id)
                rows = await task_store.list_tasks(conn, tenant_id, TaskFilter(), 100_000)
                ctx = await self._context(conn, tenant_id, rows, True)
            board = _TaskBoard.render(tenant_id, version, ctx, {row.id: self._card(row, ctx) for row in rows})
            self._boards[tenant_id] = board
            self._boards.move_to_end(tenant_id)
            while len(self._boards) > BOARDS_KEPT:
                gone, _ = self._boards.popitem(last=False)
                self._rendering.pop(gone, None)
            return board

    async def _catch_up(self, conn: DbConnection, board: _TaskBoard) -> bool:
        """Render again the tasks named by the events ``board`` has not seen, and the tasks linked to
        them before or after; True when it is current. False (render everything) when there are
        more than ``CATCH_UP`` events, or one without a task whose kind may change tasks."""
        ctx = board.ctx
        if await board.current(conn):
            return True
        async with read_snapshot(conn):
            version = await events_store.version(conn, board.tenant_id)
            news = await events_store.since_version(conn, board.tenant_id, board.version, CATCH_UP + 1)
            if len(news) > CATCH_UP or any(t is None and k not in QUIET_KINDS for t, k in news):
                return False
            changed = {t for t, _ in news if t is not None}
            linked = {x for link in await store.links_of(conn, board.tenant_id, list(changed)) if changed
                      for x in (link.src_task_id, link.dst_task_id)}  # fmt: skip
            touched = changed | linked | {x for t in changed for link in ctx.links.get(t, ())
                                          for x in (link.src_task_id, link.dst_task_id)}  # fmt: skip
            rows = {t: await task_store.get_task(conn, board.tenant_id, t) for t in touched}
            links = await store.links_of(conn, board.tenant_id, list(touched)) if touched else []
            ends = {x for link in links for x in (link.src_task_id, link.dst_task_id)}
            if missing := [x for x in ends if x not in ctx.numbers and rows.get(x) is None]:
                ctx.numbers.update(await store.task_numbers(conn, board.tenant_id, missing))
            comments = {t: await store.comments(conn, board.tenant_id, t, 500) for t in changed}
        for t in touched:  # every edge of a touched task is in ``links``: drop the old ones
            for link in ctx.links.pop(t, ()):
                other = link.dst_task_id if link.src_task_id == t else link.src_task_id
                if other not in touched and link in ctx.links.get(other, ()):
                    ctx.links[other].remove(link)
        for link in links:
            for end in {link.src_task_id, link.dst_task_id}:
                if end not in touched and link in ctx.links.get(end, ()):
                    continue
                ctx.links.setdefault(end, []).append(link)
        for end in ends:
            ctx.links[end].sort(key=attrgetter("created_at"))
        for t, found in comments.items():
            ctx.comments[t] = _comments(found).get(t, [])
        for t, row in rows.items():
            if row is None:
                ctx.numbers.pop(t, None)
                ctx.comments.pop(t, None)
            else:
                ctx.numbers[t] = row.number
        for t, row in rows.items():
            board.put(t, None if row is None else self._card(row, ctx))
        board.version = version
        board.seal()
        return True

    def _card(self, row: TaskRow, ctx: _Ctx) -> _Card:
        t = self._task_out(row, ctx)
        # CT's board order: blocked first, then status, priority, horizon, due date, newest update.
        order = (not t["blocked"], CT_STATUSES.index(t["status"]), t["priority"],
                 HORIZONS.index(t["horizon"]) if t["horizon"] in HORIZONS else 9, t["due_date"] or "9999",
                 -row.updated_at.timestamp())  # fmt: skip
        fresh = t["status"] != "done" and not t["stale"]
        return _Card(
            order=order, encoded=_encoder.encode(t), status=t["status"], owner=t["owner"],
            points=t["story_points"] or 1, blocked=bool(t["blocked"] or t["has_unresolved_blockers"]),
            turns_stale=row.updated_at + STALE_TASK if fresh else NEVER,
        )  # fmt: skip

    async def health(self, who: Principal | None) -> JSON:
        """CT's health: the state lives in PostgreSQL (no backup chain; restart-safe)."""
        out: JSON = {
            "ok": True, "time": _iso(now()), "version": VERSION, "booted_at": _iso(self._booted),
            "role": "clawgate", "visualization_only": False, "state_source": "postgres", "restart_safe": True,
            "backup_chain": 0, "uptime_seconds": int((now() - self._booted).total_seconds()),
        }  # fmt: skip
        if who is not None:
            async with self._db.connection() as conn:
                out["agents"], out["tasks"] = await store.health_counts(conn, who.tenant_id)
        return out

    def recovery(self) -> JSON:
        """CT's recovery status: its state file chain does not exist here; every write is a
        PostgreSQL commit, so there is nothing to recover from and nothing was."""
        return {
            "ok": True, "state_source": "postgres", "last_recovered_from": None, "backup_chain": 0,
            "restart_safe": True, "load_errors": [], "booted_at": _iso(self._booted),
        }  # fmt: skip

    def version(self) -> JSON:
        """CT's version answer: the API version CT clients see and the gateway's own."""
        return {"ok": True, "version": VERSION, "gateway": "clawgate", "gateway_version": __version__}

    # -- tasks ------------------------------------------------------------------------------------

    async def _actor(
        self, conn: DbConnection, tenant_id: UUID, ref: Any, name: str
    ) -> tuple[str, UUID | None]:
        """An actor id: ``ceo`` or an agent's key, with the agent's id. Raises: InvalidRequest."""
        key = text(ref, 100, name)
        if key in ("", "ceo"):
            return key, None
        found = await store.roster(conn, tenant_id, key)
        if not found:
            raise bad(f"unknown {name}: {key}")
        return key, found[0].id

    async def _project(self, conn: DbConnection, who: Principal, ref: Any, create: bool = True) -> UUID:
        """The team of CT project ``ref`` (a key, or a team's uuid; ``ceo-console`` is made on first
        use). Raises: InvalidRequest (unknown project)."""
        key = text(ref, 64, "project_id") or DEFAULT_PROJECT
        found = await store.project_id(conn, who.tenant_id, key)
        if found is None:
            try:
                as_id = UUID(key)
            except ValueError:
                as_id = None
            if as_id is not None and await team_store.get_team(conn, who.tenant_id, as_id) is not None:
                return as_id
        if found is None and key == DEFAULT_PROJECT and create:
            try:
                async with conn.transaction():  # a savepoint: a racing first write may make it first
                    found = await team_store.insert_team(
                        conn, who.tenant_id, kind="project", name="CEO Console", slug=key, description="",
                        settings={}, created_by=who.coord_user, key=key,
                    )  # fmt: skip
                    await store.set_project(conn, who.tenant_id, found, "CEO Console", {"type": "software"})
            except AlreadyExists:
                found = await store.project_id(conn, who.tenant_id, key)
        if found is None:
            raise bad(f"unknown project: {key}")
        return found

    async def create_task(self, who: Principal, body: JSON, *, wake: bool = True) -> JSON:
        """``POST /api/tasks/create`` (only ``title`` required); an owner other than the reporter is
        woken (``wake``) as Mission Control's assignee. Raises: InvalidRequest."""
        fields = obj(body.get("task", body), "task")
        title = text(fields.get("title"), 120, "title")
        if not title:
            raise bad("title is required")
        status = text(fields.get("status"), 32, "status") or "backlog"
        if status not in CT_STATUSES:
            raise bad(f"invalid status: {status}")
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            team = await self._project(conn, who, fields.get("project_id"))
            owner, owner_id = await self._actor(conn, who.tenant_id, fields.get("owner"), "owner")
            default_validator = "ralph" if await store.roster(conn, who.tenant_id, "ralph") else "ceo"
            validator, validator_id = await self._actor(
                conn, who.tenant_id, fields.get("validation_owner", default_validator), "validation_owner"
            )
            ct = _ct_fields(fields, {"reporter": text(fields.get("reporter"), 64, "reporter") or "ceo"})
            if owner == "ceo":
                ct["owner"] = "ceo"
            if validator == "ceo":
                ct["validation_owner"] = "ceo"
            blocked = _flag(fields.get("blocked"), "blocked") or False
            moved = transition("backlog", None, blocked=blocked, set_blocked=None, validation_owner=validator,
                               progress=_progress(fields.get("progress"), 0))  # fmt: skip
            if status in ("validation", "done") and not validator:
                raise bad(f"moving to {status} requires a validation_owner")
            progress = (
                100
                if status == "done"
                else max(moved.progress, 80)
                if status == "validation"
                else moved.progress
            )
            new = task_store.NewTask(
                team_id=team, title=title, description=text(fields.get("description"), 500, "description"),
                task_type=_choice(fields.get("type"), TYPES, "type", "task"),
                status=CT_TO_CANON.get(status, status), priority=_priority(fields.get("priority"), 1),
                assignee_agent_id=owner_id, created_by_user=who.coord_user,
                in_progress_at=now() if status == "in_progress" else None, channel="clawtasker",
                user_id=who.coord_user, metadata={"ct": ct},
            )  # fmt: skip
            deps = await self._dep_ids(conn, who.tenant_id, fields.get("depends_on"))
            task_id = await self._tasks.create(conn, who.tenant_id, new, out, deps)
            row = await task_store.get_task(conn, who.tenant_id, task_id)
            assert row is not None
            state = TaskState.of(row)
            state.blocked, state.progress = blocked, progress
            await task_store.set_task(conn, who.tenant_id, task_id, state)
            mission = await self._mission_ref(conn, who.tenant_id, fields.get("mission_id"))
            sprint = await self._sprint_ref(conn, who.tenant_id, fields.get("sprint_id"))
            await store.set_ct_fields(conn, who.tenant_id, task_id, validator=validator_id, mission=mission,
                                      sprint=sprint, task_type=new.task_type)  # fmt: skip
            row = await task_store.get_task(conn, who.tenant_id, task_id)
            assert row is not None
            result = self._task_out(row, await self._context(conn, who.tenant_id, [row], False))
            if wake and owner_id is not None and owner != ct["reporter"]:
                await self._queue(conn, who, team, out, [_assigned(row, owner_id)], ids)
        await self._tasks.announce(out)
        await self._deliver(ids)
        return result

    async def _dep_ids(self, conn: DbConnection, tenant_id: UUID, refs: Any) -> list[UUID]:
        ids: list[UUID] = []
        for ref in texts(refs, 50, 32, "depends_on"):
            found = await store.task_id(conn, tenant_id, task_number(ref))
            if found is None:
                raise bad(f"unknown dependency: {ref}")
            ids.append(found)
        return ids

    async def _mission_ref(self, conn: DbConnection, tenant_id: UUID, ref: Any) -> UUID | None:
        return await _keyed(ref, "mission", lambda key: store.missions(conn, tenant_id, key))

    async def _sprint_ref(self, conn: DbConnection, tenant_id: UUID, ref: Any) -> UUID | None:
        return await _keyed(ref, "sprint", lambda key: store.sprints(conn, tenant_id, key))

    async def update_task(self, who: Principal, body: JSON, *, author: str = "ceo") -> JSON:
        """``POST /api/tasks/update`` (``{task: {id, ...}, note}`` or flat, ``id`` or ``task_id``):
        CT's transition table and guards, under the task's row lock. Raises: InvalidRequest."""
        fields = obj(body.get("task", body), "task")
        number = task_number(fields.get("id") or fields.get("task_id") or body.get("task_id"))
        note = text(body.get("note", fields.get("note")), 500, "note")
        author = text(body.get("updated_by") or body.get("agent_id") or author, 64, "author") or "ceo"
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            before = await self._row(conn, who.tenant_id, number)
            await task_store.lock_task(conn, who.tenant_id, before.id)
            before = await self._row(conn, who.tenant_id, number)
            ctx = await self._context(conn, who.tenant_id, [before], False)
            current = self._task_out(before, ctx)
            ct = dict(before.metadata.get("ct", {})) if isinstance(before.metadata.get("ct"), dict) else {}
            validator_id = before.validator_agent_id
            validator = current["validation_owner"]
            if "validation_owner" in fields:
                validator, validator_id = await self._actor(
                    conn, who.tenant_id, fields["validation_owner"], "validation_owner"
                )
                ct.pop("validation_owner", None)
                if validator == "ceo":
                    ct["validation_owner"] = "ceo"
            state = TaskState.of(before)
            owner = ""
            if "owner" in fields:
                owner, state.assignee_agent_id = await self._actor(
                    conn, who.tenant_id, fields["owner"], "owner"
                )
                ct.pop("owner", None)
                if owner == "ceo":
                    ct["owner"] = "ceo"
            target = text(fields.get("status"), 32, "status") or None
            moved = transition(
                current["status"], target, blocked=before.blocked, set_blocked=_flag(fields.get("blocked"), "blocked"),
                validation_owner=validator, progress=_progress(fields.get("progress"), before.progress),
            )  # fmt: skip
            state.status = CT_TO_CANON.get(moved.status, moved.status)
            if before.status == "cancelled" and moved.status == "done":
                state.status = "cancelled"
            state.blocked, state.progress = moved.blocked, moved.progress
            if state.status == "in_progress" and before.status != "in_progress":
                state.in_progress_at = now()
            if "title" in fields:
                state.title = text(fields["title"], 120, "title") or before.title
            if "description" in fields:
                state.description = text(fields["description"], 500, "description")
            if "priority" in fields:
                state.priority = _priority(fields["priority"], before.priority)
            state.metadata = {**state.metadata, "ct": _ct_fields(fields, ct)}
            if "depends_on" in fields:
                deps = await self._dep_ids(conn, who.tenant_id, fields["depends_on"])
                await self._set_deps(conn, who.tenant_id, before, deps)
            mission = (await self._mission_ref(conn, who.tenant_id, fields["mission_id"])
                       if "mission_id" in fields else before.mission_id)  # fmt: skip
            sprint = (await self._sprint_ref(conn, who.tenant_id, fields["sprint_id"])
                      if "sprint_id" in fields else before.sprint_id)  # fmt: skip
            task_type = (
                _choice(fields["type"], TYPES, "type", "task") if "type" in fields else before.task_type
            )
            await store.set_ct_fields(conn, who.tenant_id, before.id, validator=validator_id, mission=mission,
                                      sprint=sprint, task_type=task_type)  # fmt: skip
            data = {"task_key": _tid(number), "actor": author, "note": note} if note else {"task_key": _tid(number),
                                                                                         "actor": author}  # fmt: skip
            await self._tasks.save(conn, who.tenant_id, before, state, out, user_id=who.coord_user, data=data)
            if note:
                await self._comment(conn, who, before, note, author, out)
            await self._sync_owner(conn, who.tenant_id, before, state)
            if fields.get("project_id"):  # CT's "" leaves the task where it is
                await self._move(conn, who, before, fields["project_id"], author, out)
            row = await self._row(conn, who.tenant_id, number)
            result = self._task_out(row, await self._context(conn, who.tenant_id, [row], False))
            to = state.assignee_agent_id
            if to is not None and to != before.assignee_agent_id and owner != author:  # not a self-claim
                await self._queue(conn, who, row.team_id, out, [_assigned(row, to)], ids)
            mover = to if result["owner"] == author else None  # the owner started it itself
            await self._queue(
                conn, who, row.team_id, out, notify.started(before, to, state.status, mover), ids
            )
        await self._tasks.announce(out)
        await self._deliver(ids)
        return result

    async def _move(
        self, conn: DbConnection, who: Principal, task: TaskRow, ref: Any, author: str, out: list[EventRow]
    ) -> None:
        """Move the task to project ``ref`` (made on first use only for ``ceo-console``). A task
        with dependencies, links or a pending approval stays: the model keeps those inside one team
        (CT, one JSON document, lets links cross projects). Raises: InvalidRequest."""
        team = await self._project(conn, who, ref)
        if team == task.team_id:
            return
        await task_store.lock_graph(conn, who.tenant_id, task.team_id)
        if not await task_store.move_task(conn, who.tenant_id, task.id, team):
            raise bad(f"{_tid(task.number)} has dependencies, links or a pending approval in its project: "
                      "remove them before moving it")  # fmt: skip
        await self._tasks.record(conn, who.tenant_id, NewEvent(
            kind="task.moved", team_id=team, task_id=task.id, user_id=who.coord_user,
            message=f"{_tid(task.number)} moved", data={"task_key": _tid(task.number), "actor": author,
                                                        "from_team": str(task.team_id)}), out)  # fmt: skip

    @staticmethod
    async def _sync_owner(conn: DbConnection, tenant_id: UUID, before: TaskRow, after: TaskState) -> None:
        """CT's assignment sync: the owner of a task in progress / validation (or blocked) works on
        it (``current_task_id``, status working / validation / blocked); otherwise a previous owner
        working on it is released to idle."""
        if before.assignee_agent_id is not None and before.assignee_agent_id != after.assignee_agent_id:
            await store.release(conn, tenant_id, before.assignee_agent_id, before.id)
        if after.assignee_agent_id is None:
            return
        if after.blocked and after.status not in ("done", "cancelled"):
            status = "blocked"
        else:
            status = {"in_progress": "working", "review": "validation"}.get(after.status, "")
        if status:
            await store.assign(conn, tenant_id, after.assignee_agent_id, before.id, status)
        else:
            await store.release(conn, tenant_id, after.assignee_agent_id, before.id)

    async def _set_deps(self, conn: DbConnection, tenant_id: UUID, task: TaskRow, deps: list[UUID]) -> None:
        """Replace the task's depends_on edges. Raises: InvalidRequest (another project's task, a cycle)."""
        try:
            await self._tasks.set_dependencies(conn, tenant_id, task.team_id, task.id, deps)
        except NotFound:
            raise bad("dependencies must be tasks of the same project") from None
        except FailedPrecondition as exc:
            raise bad(f"circular dependency: {exc.params.get('detail', 'cycle')}") from None

    async def _comment(
        self,
        conn: DbConnection,
        who: Principal,
        task: TaskRow,
        message: str,
        author: str,
        out: list[EventRow],
    ) -> EventRow:
        key, agent_id = (author, None)
        if author != "ceo":
            found = await store.roster(conn, who.tenant_id, author)
            agent_id = found[0].id if found else None
        # The author as CT names it (an agent key or "ceo") is kept on the event.
        return await self._tasks.comment(
            conn, who.tenant_id, task, message, out, agent_id=agent_id, user_id=who.coord_user,
            data={"author": key, "task_key": _tid(task.number), "actor": key},
        )  # fmt: skip

    async def delete_task(self, who: Principal, ref: Any) -> str:
        """``POST /api/tasks/delete``: removed with its edges (missions and links let go of it)."""
        number = task_number(ref)
        async with self._db.connection() as conn:
            row = await self._row(conn, who.tenant_id, number)
        await self._tasks.delete(
            who.tenant_id, row.team_id, [row.id], (*task_store_statuses(),), who.coord_user
        )
        return _tid(number)

    async def link(self, who: Principal, body: JSON) -> JSON:
        """``POST /api/tasks/link``: an edge between two tasks of one project, read from both ends.
        Raises: InvalidRequest (missing ids, self-link, unknown ids, a duplicate, a cycle)."""
        src_ref, dst_ref = body.get("source_id"), body.get("target_id")
        if not src_ref:
            raise bad("source_id is required")
        if not dst_ref:
            raise bad("target_id is required")
        kind = text(body.get("link_type"), 32, "link_type") or "relates-to"
        if kind not in LINKS:
            raise bad(f"invalid link_type: {kind}")
        src_n, dst_n = task_number(src_ref), task_number(dst_ref)
        if src_n == dst_n:
            raise bad("cannot link a task to itself")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            src = await self._row(conn, who.tenant_id, src_n)
            dst = await self._row(conn, who.tenant_id, dst_n)
            if src.team_id != dst.team_id:
                raise bad("linked tasks must be in the same project")
            edge, reverse = LINKS[kind]
            a, b = (dst, src) if reverse else (src, dst)
            duplicate = f"link already exists: {_tid(src_n)} {kind} {_tid(dst_n)}"
            if edge == "depends_on":
                if b.id in a.depends_on:
                    raise bad(duplicate)
                await self._set_deps(conn, who.tenant_id, a, [*a.depends_on, b.id])
            elif not await task_store.insert_link(conn, who.tenant_id, a.team_id, a.id, b.id, edge):
                raise bad(duplicate)
            await self._tasks.record(
                conn, who.tenant_id,
                NewEvent(kind="task.linked", team_id=src.team_id, task_id=src.id, user_id=who.coord_user,
                         message=f"{_tid(src_n)} {kind} {_tid(dst_n)}",
                         data={"task_key": _tid(src_n), "target": _tid(dst_n), "link_type": kind}),
                out,
            )  # fmt: skip
        await self._tasks.announce(out)
        return {
            "source_id": _tid(src_n),
            "target_id": _tid(dst_n),
            "link_type": kind,
            "symmetric_type": SYMMETRIC[kind],
        }

    async def comment(self, who: Principal, body: JSON) -> JSON:
        """``POST /api/tasks/comment {task_id, text, author}``."""
        number = task_number(body.get("task_id"))
        message = text(body.get("text"), 500, "text")
        if not message:
            raise bad("text is required")
        author = text(body.get("author"), 64, "author") or "ceo"
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            row = await self._row(conn, who.tenant_id, number)
            await self._actor(conn, who.tenant_id, author, "author")
            event = await self._comment(conn, who, row, message, author, out)
        await self._tasks.announce(out)
        return {"task_id": _tid(number), "comment": {"id": f"CM-{event.id}", "author": author, "text": message,
                                                     "timestamp": _iso(event.created_at)}}  # fmt: skip

    async def next_task(self, who: Principal, owner: str, project: str | None) -> JSON | None:
        """``GET /api/tasks/next``: the owner's ready task without unresolved blockers, P0 first,
        then the oldest update. Raises: InvalidRequest (unknown owner or project)."""
        async with self._db.connection() as conn:
            _, owner_id = await self._actor(conn, who.tenant_id, owner, "owner")
            if owner_id is None:
                raise bad(f"unknown owner: {owner or '(none)'}")
            team = await self._project(conn, who, project, create=False) if project else None
            rows = await task_store.list_tasks(
                conn,
                who.tenant_id,
                TaskFilter(team_id=team, statuses=["ready"], assignee_agent_id=owner_id),
                10_000,
            )
            rows = [r for r in rows if not r.blocked_by]
            if not rows:
                return None
            best = min(rows, key=lambda r: (r.priority, r.updated_at))
            return self._task_out(best, await self._context(conn, who.tenant_id, [best], False))

    async def task_event(self, who: Principal, body: JSON) -> JSON:
        """``POST /api/tasks/event {type, task_id, agent_id, note?}``: started, needs-validation,
        done, blocked; the normal transition checks, then a comment by the agent."""
        kind = text(body.get("type"), 32, "type")
        if kind not in (*EVENT_STATUS, "blocked"):
            raise bad(f"invalid event type: {kind or '(none)'}")
        agent = text(body.get("agent_id"), 64, "agent_id") or "ceo"
        number = task_number(body.get("task_id"))
        change: JSON = {"id": _tid(number), "status": EVENT_STATUS[kind]} if kind != "blocked" else {
            "id": _tid(number), "blocked": True}  # fmt: skip
        canned = {"started": "Started work.", "needs-validation": "Ready for validation.", "done": "Done.",
                  "blocked": "Blocked."}[kind]  # fmt: skip
        note = text(body.get("note"), 500, "note") or canned
        task = await self.update_task(who, {"task": change, "note": note, "agent_id": agent})
        return {"task": task, "event_type": kind}

    # -- agents -----------------------------------------------------------------------------------

    async def _agent(
        self, conn: DbConnection, tenant_id: UUID, ref: Any, name: str = "agent_id"
    ) -> RosterRow:
        key = text(ref, 100, name)
        if not key:
            raise bad(f"{name} is required")
        if key == "ceo":
            raise bad("the CEO is not an agent (protected)")
        found = await store.roster(conn, tenant_id, key) or await store.roster(conn, tenant_id, _slug(key))
        if not found:
            raise bad(f"unknown agent: {key}")
        return found[0]

    async def _agent_json(self, conn: DbConnection, tenant_id: UUID, key: str) -> JSON:
        found = await store.roster(conn, tenant_id, key)
        return self._agent_out(found[0], now())

    async def _agents_changed(self, who: Principal, out: list[EventRow]) -> None:
        """After the commit: the log's streams, and the agent caches of every process (a CT agent is
        a ClawGate agent: ``/v1/agents`` lists it at once)."""
        await self._tasks.announce(out)
        await self._bus.publish(invalidation("agent", who.tenant_id, action="clawtasker"))

    async def _event(
        self, conn: DbConnection, who: Principal, kind: str, message: str, out: list[EventRow],
        agent_id: UUID | None = None, **data: Any,
    ) -> None:  # fmt: skip
        await self._tasks.record(
            conn, who.tenant_id,
            NewEvent(kind=kind, agent_id=agent_id, user_id=who.coord_user, message=message, data=data),
            out,
        )  # fmt: skip

    async def _upsert_agent(
        self, conn: DbConnection, who: Principal, agent: JSON, out: list[EventRow]
    ) -> tuple[str, str]:
        """Register or update one roster entry; (its key, "registered" | "updated")."""
        name = text(agent.get("name"), 80, "name")
        key = text(agent.get("id") or agent.get("agent_id"), 64, "id") or _slug(name)
        if not name:
            raise bad("agent name is required")
        if not text(agent.get("role"), 80, "role"):
            raise bad("agent role is required")
        if not any(
            agent.get(f) for f in ("skills", "core_skills", "specialist", "home_specialist", "specialists")
        ):
            raise bad(
                "agent needs at least one of skills, core_skills, specialist, home_specialist, specialists"
            )
        key = _slug(key) if not re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", key) else key
        if not key or key == "ceo":
            raise bad("agent id may not be ceo or empty")
        card = _card(agent)
        emoji = text(agent.get("emoji"), 16, "emoji")
        found = await store.roster(conn, who.tenant_id, key)
        made: UUID | None = None
        if not found:
            made = await store.insert_agent(
                conn, who.tenant_id, key, name, emoji, text(agent.get("role"), 80, "role")
            )
            if made is None:  # registered meanwhile by a racing request: this one updates it
                found = await store.roster(conn, who.tenant_id, key)
        if made is not None:
            await store.put_presence(conn, who.tenant_id, made, "idle", card)
            agent_id, operation = made, "registered"
        else:
            await store.rename_agent(conn, who.tenant_id, found[0].id, name, emoji or found[0].emoji)
            await store.put_presence(conn, who.tenant_id, found[0].id, found[0].status or "idle",
                                     {**found[0].profile, **card})  # fmt: skip
            agent_id, operation = found[0].id, "updated"
        await self._event(conn, who, "agent.registered", f"{name} {operation}", out, agent_id, actor=key,
                          operation=operation)  # fmt: skip
        return key, operation

    async def register(self, who: Principal, body: JSON) -> JSON:
        """``POST /api/agents/register {agent: {...}}`` (or flat): upsert by id (default the slug of
        ``name``). Raises: InvalidRequest."""
        agent = obj(body.get("agent", body), "agent")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            key, operation = await self._upsert_agent(conn, who, agent, out)
            card = await self._agent_json(conn, who.tenant_id, key)
            org = await store.get_org(conn, who.tenant_id)
        await self._agents_changed(who, out)
        return {"agent": card, "org_card": {k: card.get(k) for k in ("id", "name", "role", "manager", "emoji")},
                "org_structure": {"chief_agent": org.chief_agent},
                "registration": {"operation": operation, "registered_at": _iso(now())},
                "contract": _sync_contract(org)}  # fmt: skip

    async def heartbeat(self, who: Principal, body: JSON, *, logged: bool = True) -> JSON:
        """``POST /api/agents/heartbeat {agent: {id|name, status, current_task_id, ...}}`` (or flat);
        ``logged``: with its event on the log (a duplicate publish has none)."""
        agent = obj(body.get("agent", body), "agent")
        meta = obj(agent.get("metadata"), "metadata")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            row = await self._agent(
                conn, who.tenant_id, agent.get("id") or agent.get("agent_id") or agent.get("name")
            )
            status = _choice(agent.get("status"), AGENT_STATUSES, "status", row.status if row.status in
                             AGENT_STATUSES else "idle")  # fmt: skip
            current = None
            if agent.get("current_task_id"):
                current = (await self._row(conn, who.tenant_id, task_number(agent["current_task_id"]))).id
            blockers = texts(agent.get("blockers"), 6, 100, "blockers")
            summaries = tuple(text(meta.get(f, agent.get(f, getattr(row, f))), 300, f)
                              for f in ("doing_summary", "done_summary", "next_summary"))  # fmt: skip
            await store.heartbeat(
                conn, who.tenant_id, row.id, status=status, current_task_id=current,
                summaries=(summaries[0], summaries[1], summaries[2]), blockers=blockers,
                speaking=bool(_flag(agent.get("speaking"), "speaking")), profile=_card(agent | meta),
            )  # fmt: skip
            kind = "agent.blocked" if blockers or status == "blocked" else "agent.heartbeat"
            if logged:
                await self._event(conn, who, kind, f"{row.display_name or row.agent_key}: {status}", out,
                                  row.id, actor=row.agent_key, status=status)  # fmt: skip
            card = await self._agent_json(conn, who.tenant_id, row.agent_key)
        await self._agents_changed(who, out)
        return {"agent": card}

    async def update_agent(self, who: Principal, body: JSON) -> JSON:
        """``POST /api/agents/update``: only the fields sent change."""
        agent = obj(body.get("agent", body), "agent")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            row = await self._agent(conn, who.tenant_id, agent.get("agent_id") or agent.get("id"))
            status = _choice(agent["status"], AGENT_STATUSES, "status", "idle") if "status" in agent else (
                row.status or "idle")  # fmt: skip
            if "name" in agent or "emoji" in agent:
                await store.rename_agent(conn, who.tenant_id, row.id,
                                         text(agent.get("name", row.display_name), 80, "name") or row.agent_key,
                                         text(agent.get("emoji", row.emoji), 16, "emoji"))  # fmt: skip
            await store.put_presence(conn, who.tenant_id, row.id, status, {**row.profile, **_card(agent)})
            await self._event(
                conn, who, "agent.updated", f"{row.agent_key} updated", out, row.id, actor=row.agent_key
            )
            card = await self._agent_json(conn, who.tenant_id, row.agent_key)
        await self._agents_changed(who, out)
        return {"agent": card}

    async def _hand_over(
        self, conn: DbConnection, who: Principal, row: RosterRow, to: RosterRow | None, *, retired: bool,
        kind: str, message: str, out: list[EventRow], **data: Any,
    ) -> list[str]:  # fmt: skip
        """``row``'s open tasks and missions go to ``to`` (None: unassigned); it goes offline
        (retired when ``retired``). The task ids handed over."""
        owned = await task_store.list_tasks(
            conn, who.tenant_id, TaskFilter(assignee_agent_id=row.id, statuses=list(OPEN_STATUSES)), 10_000
        )
        await store.transfer_work(conn, who.tenant_id, row.id, to.id if to else None)
        await store.retire(conn, who.tenant_id, row.id, retired=retired, successor=to.id if to else None)
        await self._event(conn, who, kind, message, out, row.id, actor=row.agent_key, **data)
        return [_tid(t.number) for t in sorted(owned, key=lambda t: t.number)]

    async def decommission(self, who: Principal, body: JSON) -> JSON:
        reason = text(body.get("reason"), 300, "reason")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            row = await self._agent(conn, who.tenant_id, body.get("agent_id"))
            ids = await self._hand_over(conn, who, row, None, retired=False, kind="agent.decommissioned",
                                        message=f"{row.agent_key} decommissioned", out=out, reason=reason)  # fmt: skip
        await self._agents_changed(who, out)
        return {"message": f"Agent {row.display_name} ({row.agent_key}) marked offline", "agent_id": row.agent_key,
                "reason": reason, "tasks_unassigned": ids}  # fmt: skip

    async def retire(self, who: Principal, body: JSON) -> JSON:
        reason = text(body.get("reason"), 300, "reason")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            row = await self._agent(conn, who.tenant_id, body.get("agent_id"))
            successor = await self._agent(conn, who.tenant_id, body["successor_id"], "successor_id") if body.get(
                "successor_id") else None  # fmt: skip
            if successor is not None and successor.id == row.id:
                raise bad("an agent cannot succeed itself")
            ids = await self._hand_over(conn, who, row, successor, retired=True, kind="agent.retired",
                                        message=f"{row.agent_key} retired", out=out, reason=reason)  # fmt: skip
        await self._agents_changed(who, out)
        return {"message": f"Agent {row.display_name} ({row.agent_key}) retired", "agent_id": row.agent_key,
                "reason": reason, "successor_id": successor.agent_key if successor else None,
                "tasks_transferred": ids}  # fmt: skip

    async def replace(self, who: Principal, body: JSON) -> JSON:
        reason = text(body.get("reason"), 300, "reason")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            old = await self._agent(conn, who.tenant_id, body.get("old_agent_id"), "old_agent_id")
            new = await self._agent(conn, who.tenant_id, body.get("new_agent_id"), "new_agent_id")
            if old.id == new.id:
                raise bad("old and new agent must differ")
            ids = await self._hand_over(conn, who, old, new, retired=True, kind="agent.replaced",
                                        message=f"{old.agent_key} replaced by {new.agent_key}", out=out,
                                        reason=reason, successor=new.agent_key)  # fmt: skip
        await self._agents_changed(who, out)
        return {"message": f"Agent {old.display_name} ({old.agent_key}) replaced by {new.display_name} "
                           f"({new.agent_key})", "old_agent_id": old.agent_key, "new_agent_id": new.agent_key,
                "reason": reason, "tasks_transferred": ids}  # fmt: skip

    async def merge(self, who: Principal, body: JSON) -> JSON:
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            src = await self._agent(conn, who.tenant_id, body.get("source_agent_id"), "source_agent_id")
            dst = await self._agent(conn, who.tenant_id, body.get("target_agent_id"), "target_agent_id")
            if src.id == dst.id:
                raise bad("source and target must be different agents")
            merged = dict(dst.profile)
            for field in ("skills", "core_skills", "specialists", "allowed_tools"):
                both = [*dst.profile.get(field, []), *src.profile.get(field, [])]
                if both:
                    merged[field] = list(dict.fromkeys(both))
            await store.put_presence(conn, who.tenant_id, dst.id, dst.status or "idle", merged)
            ids = await self._hand_over(conn, who, src, dst, retired=True, kind="agent.merged",
                                        message=f"{src.agent_key} merged into {dst.agent_key}", out=out,
                                        target=dst.agent_key)  # fmt: skip
        await self._agents_changed(who, out)
        return {"message": f"Agent {src.display_name} ({src.agent_key}) merged into {dst.display_name} "
                           f"({dst.agent_key})", "source_agent_id": src.agent_key, "target_agent_id": dst.agent_key,
                "tasks_transferred": ids}  # fmt: skip

    async def delete_agent(self, who: Principal, body: JSON) -> JSON:
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            row = await self._agent(conn, who.tenant_id, body.get("agent_id"))
            if row.agent_key == (await store.get_org(conn, who.tenant_id)).chief_agent:
                raise bad("cannot delete the chief agent")
            await self._hand_over(conn, who, row, None, retired=True, kind="agent.deleted",
                                  message=f"{row.agent_key} deleted", out=out)  # fmt: skip
            await store.delete_agent(conn, who.tenant_id, row.id)
        await self._agents_changed(who, out)
        return {"deleted": row.agent_key}

    async def sync(self, who: Principal, body: JSON) -> JSON:
        """Roster sync (``{agents: [...]}`` or ``{roster: {agents, replace_missing}}``): each agent
        upserted (one failing is a warning); ``replace_missing`` takes the others offline."""
        roster = obj(body.get("roster", body), "roster")
        agents = roster.get("agents")
        if not isinstance(agents, list) or len(agents) > 200:
            raise bad("agents must be a list of at most 200")
        done: list[str] = []
        warnings: list[str] = []
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            for n, agent in enumerate(agents):
                try:
                    async with conn.transaction():
                        done.append((await self._upsert_agent(conn, who, obj(agent, "agent"), out))[0])
                except InvalidRequest as exc:
                    warnings.append(f"agents[{n}]: {exc.params.get('detail', exc)}")
            if _flag(roster.get("replace_missing"), "replace_missing"):
                for row in await store.roster(conn, who.tenant_id):
                    if row.agent_key not in done and row.status is not None:
                        await store.retire(conn, who.tenant_id, row.id, retired=False, successor=None)
        await self._agents_changed(who, out)
        return {"agents_synced": done, "warnings": warnings}

    # -- planning: missions, sprints, projects ------------------------------------------------------

    async def plan_mission(self, who: Principal, body: JSON) -> JSON:
        """``POST /api/missions/plan {mission: {...}}`` (or flat): upsert by id (default the slug of
        the title); ``task_ids`` are stamped with it; ``tasks: [{title, ...}]`` are created first
        (CT's API.md promises it; its code does not)."""
        mission = obj(body.get("mission", body), "mission")
        title = text(mission.get("title"), 160, "title")
        if not title:
            raise bad("mission title is required")
        key = text(mission.get("id") or mission.get("mission_id"), 80, "id") or _slug(title)
        if not key:
            raise bad("mission id is required")
        status = _choice(mission.get("status"), MISSION_STATUSES, "status", "planned")
        children = mission.get("tasks", body.get("tasks")) or []
        if not isinstance(children, list) or len(children) > 16:
            raise bad("tasks must be a list of at most 16")
        made = [(await self.create_task(who, {"task": obj(t, "task")}))["id"] for t in children]
        numbers = [task_number(t) for t in texts(mission.get("task_ids"), 16, 32, "task_ids")] + [
            task_number(t) for t in made]  # fmt: skip
        details: JSON = {
            name: texts(mission.get(name), 12, 200, name) for name in MISSION_LISTS if name in mission
        }
        details |= {name: mission[name][:12] for name in ("dependencies", "risks", "milestones")
                    if isinstance(mission.get(name), list)}  # fmt: skip
        details["summary"] = text(mission.get("summary"), 500, "summary")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            org = await store.get_org(conn, who.tenant_id)
            owner_ref = mission.get("owner") or (org.chief_agent if await store.roster(conn, who.tenant_id,
                                                                                       org.chief_agent) else "")  # fmt: skip
            _, owner = await self._actor(conn, who.tenant_id, owner_ref, "owner")
            projects = texts(mission.get("project_ids") or ([mission["project_id"]] if mission.get("project_id")
                                                             else []), 12, 64, "project_ids")  # fmt: skip
            team = await self._project(conn, who, projects[0], create=False) if projects else None
            for n in numbers:
                await self._row(conn, who.tenant_id, n)
            fields = {"title": title, "objective": text(mission.get("objective"), 320, "objective"),
                      "status": status, "priority": _priority(mission.get("priority"), 2),
                      "horizon": _choice(mission.get("horizon"), HORIZONS, "horizon", "This Week"),
                      "details": details | {"project_ids": projects},
                      "source": text(mission.get("source") or body.get("source"), 64, "source")}  # fmt: skip
            mission_id, created = await store.upsert_mission(conn, who.tenant_id, key, fields, owner, team)
            if numbers:
                await store.stamp_mission(conn, who.tenant_id, mission_id, numbers)
            operation = "created" if created else "updated"
            await self._event(conn, who, "mission.planned", f"Mission {operation}: {title}", out, None,
                              mission_key=key, operation=operation)  # fmt: skip
            row = (await store.missions(conn, who.tenant_id, key))[0]
        await self._tasks.announce(out)
        return {"mission": _mission_out(row), "operation": operation}

    async def delete_mission(self, who: Principal, body: JSON) -> JSON:
        """``missions/delete``: its tasks stay, unlinked."""
        return await self._delete_keyed(who, body, "mission", store.delete_mission)

    async def _delete_keyed(
        self,
        who: Principal,
        body: JSON,
        kind: str,
        delete: Callable[[DbConnection, UUID, str], Awaitable[bool]],
    ) -> JSON:
        """Delete the mission / sprint ``body[<kind>_id]`` and log it. Raises: InvalidRequest (unknown)."""
        key = text(body.get(f"{kind}_id") or body.get("id"), 80, f"{kind}_id")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            if not key or not await delete(conn, who.tenant_id, key):
                raise bad(f"unknown {kind}: {key or '(none)'}")
            await self._event(
                conn, who, f"{kind}.deleted", f"{kind.title()} deleted: {key}", out, None, key=key
            )
        await self._tasks.announce(out)
        return {f"{kind}_id": key}

    async def save_sprint(self, who: Principal, body: JSON, create: bool) -> JSON:
        """``sprints/create`` (key ``SPR-<nnn>``) and ``sprints/update``; closing a sprint computes
        its velocity (story points of its done tasks, 1 when unset) and notifies ``sprint_ending``."""
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            if create:
                name = text(body.get("name"), 120, "name")
                if not name:
                    raise bad("sprint name is required")
                key = f"SPR-{await store.sprint_count(conn, who.tenant_id) + 1:03d}"
                current: JSON = {"name": name, "goal": "", "start_date": None, "end_date": None,
                                 "status": "planning", "velocity": None, "project_id": None}  # fmt: skip
            else:
                key = text(body.get("sprint_id") or body.get("id"), 80, "sprint_id")
                found = await store.sprints(conn, who.tenant_id, key) if key else []
                if not found:
                    raise bad(f"unknown sprint: {key or '(none)'}")
                current = _sprint_out(found[0])
            fields = {
                "name": text(body.get("name", current["name"]), 120, "name") or current["name"],
                "goal": text(body.get("goal", current["goal"]), 300, "goal"),
                "start_date": _date(body.get("start_date", current["start_date"]), "start_date"),
                "end_date": _date(body.get("end_date", current["end_date"]), "end_date"),
                "status": _choice(body.get("status", current["status"]), SPRINT_STATUSES, "status", "planning"),
                "velocity": current["velocity"],
            }  # fmt: skip
            project = body.get("project_id", current["project_id"])
            team = await self._project(conn, who, project, create=False) if project else None
            sprint_id = await store.upsert_sprint(conn, who.tenant_id, key, fields, team)
            if fields["status"] == "closed" and current["status"] != "closed":
                fields["velocity"] = await store.sprint_velocity(conn, who.tenant_id, sprint_id)
                await store.upsert_sprint(conn, who.tenant_id, key, fields, team)
                await store.insert_notification(conn, who.tenant_id, "sprint_ending", f"{fields['name']} closed",
                                                f"velocity {fields['velocity']}")  # fmt: skip
            await self._event(
                conn, who, "sprint.saved", f"Sprint {key}: {fields['status']}", out, sprint_key=key
            )
            row = (await store.sprints(conn, who.tenant_id, key))[0]
        await self._tasks.announce(out)
        return {"sprint": _sprint_out(row)}

    async def delete_sprint(self, who: Principal, body: JSON) -> JSON:
        """``sprints/delete``: its tasks stay, unsprinted."""
        return await self._delete_keyed(who, body, "sprint", store.delete_sprint)

    async def configure_project(self, who: Principal, body: JSON) -> JSON:
        """``projects/configure``: create or update project ``project_id`` (CT's API.md; its code
        only updates)."""
        project = obj(body.get("project", body), "project")
        key = text(project.get("project_id") or project.get("id"), 64, "project_id")
        if not key or not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,63}", key):
            raise bad("project_id is required (lower-case letters, digits, - and _)")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            team = await store.project_id(conn, who.tenant_id, key)
            current: JSON = {}
            if team is None:
                name = text(project.get("name"), 120, "name") or key
                team = await team_store.insert_team(
                    conn, who.tenant_id, kind="project", name=name, slug=key, description="", settings={},
                    created_by=who.coord_user, key=key,
                )  # fmt: skip
            else:
                row = await team_store.get_team(conn, who.tenant_id, team)
                assert row is not None
                current, name = dict(row.project), row.name
            name = text(project.get("name"), 120, "name") or name
            meta = current | {f: text(project[f], 300, f) for f in PROJECT_TEXTS if f in project}
            meta |= {f: texts(project[f], 24, 64, f) for f in PROJECT_LISTS if f in project}
            if "type" in project:
                meta["type"] = _choice(project["type"], PROJECT_TYPES, "type", "custom")
            await store.set_project(conn, who.tenant_id, team, name, meta)
            await self._event(
                conn, who, "project.configured", f"Project {key} configured", out, project_key=key
            )
            row = await team_store.get_team(conn, who.tenant_id, team)
            assert row is not None
        await self._tasks.announce(out)
        return {"project": _project_out(row)}

    async def delete_project(self, who: Principal, body: JSON) -> JSON:
        """``projects/delete``: not ``ceo-console``, and (unlike CT) only without tasks: a project is a
        team, whose tasks would go with it."""
        key = text(body.get("project_id") or body.get("id"), 64, "project_id")
        if key == DEFAULT_PROJECT:
            raise bad("cannot delete the built-in ceo-console project")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            team = await store.project_id(conn, who.tenant_id, key) if key else None
            if team is None:
                raise bad(f"unknown project: {key or '(none)'}")
            if await task_store.list_tasks(conn, who.tenant_id, TaskFilter(team_id=team), 1):
                raise bad(f"project {key} has tasks: delete them first")
            await team_store.delete_team(conn, who.tenant_id, team)
            await self._event(conn, who, "project.deleted", f"Project deleted: {key}", out, project_key=key)
        await self._tasks.announce(out)
        return {"project_id": key}

    # -- conversations, directives, notifications, runs, org ---------------------------------------------

    async def _thread(
        self, conn: DbConnection, who: Principal, key: str, participants: list[str], mode: str
    ) -> tuple[UUID, str, list[str]]:
        """The thread named by ``key``, else by its ``participants`` (made when new): (id, key,
        participants). Raises: InvalidRequest (an unknown key without participants)."""
        found = await store.find_thread(conn, who.tenant_id, key or None, participants)
        if found is not None:
            return found
        if key and not participants:
            raise bad(f"unknown thread: {key}")
        key = key or f"TH-{'-'.join(p.upper() for p in participants)}"[:80]
        session = "chat:clawtasker:" + _slug(key)
        title = " / ".join(participants)
        made = await store.insert_thread(conn, who.tenant_id, key, title, mode, participants, session)
        return made, key, participants

    async def _agents_among(
        self, conn: DbConnection, tenant_id: UUID, keys: Sequence[str]
    ) -> dict[str, UUID]:
        """The agents of the tenant among actor ids ``keys`` (``ceo`` and unknown ids left out)."""
        found: dict[str, UUID] = {}
        for key in keys:
            if key != "ceo" and (rows := await store.roster(conn, tenant_id, key)):
                found[key] = rows[0].id
        return found

    async def post_message(self, who: Principal, body: JSON, *, wake: bool = True) -> JSON:
        """``POST /api/conversations/message``: into the thread named (by id, else by its two
        participants; made when new), optionally with a backlog task; the other participants that
        are agents wake (``wake``, unless an ``ack`` or ``system`` line)."""
        message = text(body.get("text"), 400, "text")
        if not message:
            raise bad("text is required")
        sender = text(body.get("sender"), 64, "sender") or "ceo"
        participants = texts(body.get("participants"), 2, 64, "participants")
        if not participants and body.get("target"):
            participants = [sender, text(body["target"], 64, "target")]
        category = _choice(body.get("category"), MESSAGE_CATEGORIES, "category", "discussion")
        source = text(body.get("source"), 32, "source") or "browser"
        related = None
        if _flag(body.get("create_task"), "create_task"):
            related = (await self.create_task(who, {"title": message[:120], "project_id": body.get("project_id"),
                                                    "labels": ["conversation"]}))["id"]  # fmt: skip
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            thread, key, members = await self._thread(conn, who, text(body.get("thread_id"), 80, "thread_id"),
                                                      participants, text(body.get("mode"), 32, "mode") or "direct")  # fmt: skip
            task = (await self._row(conn, who.tenant_id, task_number(related))).id if related else None
            msg_id, at = await store.insert_message(
                conn, who.tenant_id, thread, author_kind="user" if sender == "ceo" else "agent", author_id=sender,
                source=source, content=message, category=category, task=task,
            )  # fmt: skip
            await self._event(conn, who, "conversation.message", f"{sender}: {message[:80]}", out, thread_key=key,
                              actor=sender)  # fmt: skip
            if wake and category not in QUIET_CATEGORIES:  # CT's automatic acks and system lines wake nobody
                agents = await self._agents_among(conn, who.tenant_id, [p for p in members if p != sender])
                notices = [notify.message(a, message, sender, key, related or "") for a in agents.values()]
                await self._queue(conn, who, None, out, notices, ids)
        await self._tasks.announce(out)
        await self._deliver(ids)
        return {"thread": {"id": key}, "message": {"id": f"M-{msg_id}", "sender": sender, "text": message,
                                                   "category": category, "timestamp": _iso(at),
                                                   "related_task_id": related}}  # fmt: skip

    async def directive(self, who: Principal, body: JSON) -> JSON:
        """``POST /api/ceo/directive``: stored (a directive message in the CEO's thread with the
        target; CT loses it), with a backlog task unless ``create_task`` is false."""
        message = text(body.get("text"), 400, "text")
        if not message:
            raise bad("text is required")
        target = text(body.get("target"), 64, "target") or "orion"
        specialist = text(body.get("specialist"), 64, "specialist")
        project = text(body.get("project_id"), 64, "project_id")
        create = _flag(body.get("create_task"), "create_task") is not False
        related = None
        if create:
            async with self._db.connection() as conn:
                owner = target if await store.roster(conn, who.tenant_id, target) else None
            fields = {"title": message[:120], "description": message, "project_id": project or None, "owner": owner,
                      "specialist": specialist, "labels": [x for x in ("directive", specialist, project) if x]}  # fmt: skip
            related = (await self.create_task(who, fields, wake=False))["id"]  # the directive wakes it
        directive = {"target": target, "project_id": project, "specialist": specialist, "create_task": create,
                     "status": "queued", "task_id": related}  # fmt: skip
        out: list[EventRow] = []
        ids: list[UUID] = []
        async with self._db.transaction() as conn:
            thread, key, _ = await self._thread(conn, who, "", ["ceo", target], "ceo-chief")
            task = (await self._row(conn, who.tenant_id, task_number(related))).id if related else None
            msg_id, at = await store.insert_message(
                conn, who.tenant_id, thread, author_kind="user", author_id="ceo", source="browser", content=message,
                category="directive", task=task, directive=directive,
            )  # fmt: skip
            await self._event(conn, who, "directive.queued", f"Directive to {target}", out, actor="ceo",
                              target=target)  # fmt: skip
            agents = await self._agents_among(conn, who.tenant_id, [target])
            notices = [notify.directive(a, message, f"D-{msg_id}", key, project, related or "")
                       for a in agents.values()]  # fmt: skip
            await self._queue(conn, who, None, out, notices, ids)
        await self._tasks.announce(out)
        await self._deliver(ids)
        return {"directive": {**directive, "id": f"D-{msg_id}", "text": message, "timestamp": _iso(at)}}

    async def dismiss(self, who: Principal, body: JSON) -> JSON:
        """``notifications/dismiss``: ``{id}``, ``{notification_ids: [...]}`` or ``{all: true}``."""
        ids = texts(body.get("notification_ids"), 100, 64, "notification_ids")
        if body.get("id"):
            ids.append(text(body["id"], 64, "id"))
        everything = _flag(body.get("all"), "all")
        if not ids and not everything:
            raise bad("id, notification_ids or all is required")
        count = 0
        async with self._db.transaction() as conn:
            if everything:
                count = await store.dismiss(conn, who.tenant_id, None)
            for ref in ids:
                try:
                    count += await store.dismiss(conn, who.tenant_id, UUID(ref))
                except ValueError:
                    raise bad(f"unknown notification: {ref}") from None
        return {"dismissed": count}

    async def publish_run(self, who: Principal, body: JSON) -> JSON:
        """``runs/publish``: a run's outcome on the log (the snapshot's ``recent_runs``)."""
        agent = text(body.get("agent_id"), 64, "agent_id")
        outcome = _choice(body.get("outcome"), RUN_OUTCOMES, "outcome", "working")
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            row = await self._agent(conn, who.tenant_id, agent)
            task = text(body.get("task_id"), 32, "task_id")
            if task:
                await self._row(conn, who.tenant_id, task_number(task))
            title = text(body.get("title"), 160, "title") or f"{row.agent_key} run"
            await self._event(conn, who, "run.published", title, out, row.id, actor=row.agent_key, outcome=outcome,
                              task_key=task or None, summary=text(body.get("summary"), 500, "summary"),
                              artifacts=texts(body.get("artifacts"), 30, 300, "artifacts"))  # fmt: skip
        await self._tasks.announce(out)
        return {"run": {"agent_id": row.agent_key, "title": title, "outcome": outcome}}

    async def configure_org(self, who: Principal, body: JSON) -> JSON:
        """``org/configure {chief_agent_id, ceo_name, ceo_role, company_name, tagline, ui_settings}``."""
        async with self._db.transaction() as conn:
            org = await store.get_org(conn, who.tenant_id)
            if "chief_agent_id" in body:
                org.chief_agent = (await self._agent(conn, who.tenant_id, body["chief_agent_id"],
                                                     "chief_agent_id")).agent_key  # fmt: skip
            for name, field in (("company_name", "company_name"), ("ceo_name", "ceo_name"),
                                ("ceo_role", "ceo_role"), ("tagline", "tagline")):  # fmt: skip
                if name in body:
                    setattr(org, field, text(body[name], 120, name) or getattr(org, field))
            if "ui_settings" in body:
                org.settings = {**org.settings, "ui_settings": obj(body["ui_settings"], "ui_settings")}
            await store.put_org(conn, who.tenant_id, org)
        return {"company": {"name": org.company_name, "tagline": org.tagline,
                            "ceo": {"id": "ceo", "name": org.ceo_name, "role": org.ceo_role}},
                "sync_contract": _sync_contract(org)}  # fmt: skip

    async def reset(self, who: Principal) -> JSON:
        """``blank/reset``: CT's data of the tenant goes (projects made on CT with their tasks,
        missions, sprints, conversations, console notifications, roster cards, the company row).
        Mission Control's boards and GoClaw's teams stay, and agents stay ClawGate agents."""
        out: list[EventRow] = []
        async with self._db.transaction() as conn:
            await store.reset(conn, who.tenant_id)
            await self._event(conn, who, "state.reset", "Blank reset", out, mode="blank")
        await self._tasks.announce(out)
        return {"reset": True, "mode": "blank"}

    async def bootstrap(self, who: Principal, body: JSON) -> JSON:
        """``org/bootstrap``: blank reset, the company, then the projects and agents listed (one
        failing is a warning)."""
        projects = body.get("projects") or []
        agents = body.get("agents") or []
        if (
            not isinstance(projects, list)
            or not isinstance(agents, list)
            or len(projects) + len(agents) > 200
        ):
            raise bad("projects and agents must be lists (200 entries at most)")
        await self.reset(who)
        await self.configure_org(who, {k: body[k] for k in ("company_name", "ceo_name", "ceo_role", "tagline")
                                       if k in body})  # fmt: skip
        warnings: list[str] = []
        made = [DEFAULT_PROJECT]
        async with self._db.transaction() as conn:
            await self._project(conn, who, DEFAULT_PROJECT)
        for n, project in enumerate(projects):
            try:
                made.append((await self.configure_project(who, obj(project, "project")))["project"]["id"])
            except InvalidRequest as exc:
                warnings.append(f"projects[{n}]: {exc.params.get('detail', exc)}")
        synced = await self.sync(who, {"agents": agents})
        return {"agents_registered": synced["agents_synced"], "projects": list(dict.fromkeys(made)),
                "warnings": warnings + synced["warnings"]}  # fmt: skip

    async def demo(self, who: Principal) -> JSON:
        """``demo/reset``: a blank reset, then a small demo organisation."""
        result = await self.bootstrap(who, DEMO)
        for fields in DEMO_TASKS:
            await self.create_task(who, dict(fields))
        return {"reset": True, "mode": "demo", **result}


async def _keyed(ref: Any, kind: str, find: Callable[[str], Awaitable[Sequence[Any]]]) -> UUID | None:
    """The id of the mission / sprint keyed ``ref`` (None when no ref). Raises: InvalidRequest."""
    key = text(ref, 80, f"{kind}_id")
    if not key:
        return None
    found = await find(key)
    if not found:
        raise bad(f"unknown {kind}: {key}")
    row_id: UUID = found[0].id
    return row_id


def task_store_statuses() -> tuple[str, ...]:
    return ("backlog", "ready", "in_progress", "review", "done", "cancelled")


OPEN_STATUSES: Final = ("backlog", "ready", "in_progress", "review")


def _card(agent: JSON) -> JSON:
    """The roster card fields sent (texts and lists of texts, capped)."""
    out: JSON = {}
    for name in CARD_FIELDS:
        if name not in agent:
            continue
        value = agent[name]
        out[name] = texts(value, 24, 64, name) if isinstance(value, list) else text(value, 300, name)
    return out


def _flag(value: Any, name: str) -> bool | None:
    if value is None:
        return None
    if not isinstance(value, bool):
        raise bad(f"{name} must be true or false")
    return value


def _progress(value: Any, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad("progress must be a number 0-100")
    return max(0, min(100, int(value)))


def _priority(value: Any, default: int) -> int:
    if value is None:
        return default
    raw = text(value, 8, "priority").upper()
    if raw not in PRIORITIES:
        raise bad(f"invalid priority: {raw} (P0-P3)")
    return PRIORITIES.index(raw)


def _choice(value: Any, allowed: Sequence[str], name: str, default: str) -> str:
    raw = text(value, 32, name) or default
    if raw not in allowed:
        raise bad(f"invalid {name}: {raw}")
    return raw


def _ct_fields(fields: JSON, ct: JSON) -> JSON:
    """CT's task fields the shared columns have no place for, merged over ``ct``."""
    out = dict(ct)
    if "horizon" in fields:
        out["horizon"] = _choice(fields["horizon"], HORIZONS, "horizon", "This Week")
    if "story_points" in fields:
        sp = fields["story_points"]
        if sp is not None and (isinstance(sp, bool) or sp not in STORY_POINTS):
            raise bad("story_points must be one of 1, 2, 3, 5, 8, 13")
        out["story_points"] = sp
    if "due_date" in fields:
        due = text(fields["due_date"], 32, "due_date")
        if due:
            try:
                date.fromisoformat(due[:10])
            except ValueError:
                raise bad(f"invalid due_date: {due}") from None
        out["due_date"] = due or None
    for name, count, limit in (("labels", 12, 32), ("acceptance_criteria", 20, 200), ("definition_of_done", 20, 200),
                               ("validation_steps", 20, 200), ("artifacts", 30, 300), ("collaborators", 12, 64)):  # fmt: skip
        if name in fields:
            out[name] = texts(fields[name], count, limit, name)
    for name, limit in (("specialist", 64), ("reporter", 64), ("issue_ref", 200), ("branch_name", 200),
                        ("pr_status", 32)):  # fmt: skip
        if name in fields:
            out[name] = text(fields[name], limit, name)
    return out


def _sync_contract(org: OrgRow) -> JSON:
    return {"chief_agent": org.chief_agent, "heartbeat_seconds": 30, "stale_seconds": STALE_SECONDS,
            "escalate_on": ["blocked", "validation", "overdue", "routing_mismatch", "error"]}  # fmt: skip


def _project_out(team: team_store.TeamRow) -> JSON:
    meta = team.project if isinstance(team.project, dict) else {}
    return {**meta, "id": _project_key(team), "name": team.name, "status": team.status, "kind": team.kind,
            "type": meta.get("type", "custom"), "created_at": _iso(team.created_at)}  # fmt: skip


def _mission_out(m: store.MissionRow) -> JSON:
    return {
        **m.details, "id": m.key, "title": m.title, "objective": m.objective, "status": m.status,
        "priority": PRIORITIES[m.priority], "horizon": m.horizon, "owner": m.owner_key or "",
        "project_ids": [m.project_key] if m.project_key else m.details.get("project_ids", []),
        "task_ids": [_tid(n) for n in m.task_numbers], "source": m.source,
        "created_at": _iso(m.created_at), "updated_at": _iso(m.updated_at),
    }  # fmt: skip


def _sprint_out(s: store.SprintRow) -> JSON:
    return {"id": s.key, "name": s.name, "project_id": s.project_key, "goal": s.goal,
            "start_date": s.start_date.isoformat() if s.start_date else None,
            "end_date": s.end_date.isoformat() if s.end_date else None, "status": s.status,
            "velocity": s.velocity, "created_at": _iso(s.created_at)}  # fmt: skip


def _notification_out(n: store.NotificationRow) -> JSON:
    return {"id": str(n.id), "kind": n.kind, "title": n.title, "detail": n.body, "agent_id": n.agent_key,
            "created_at": _iso(n.created_at), "read": n.read, "dismissed": n.dismissed}  # fmt: skip


def _message_out(m: store.MessageRow) -> JSON:
    return {"id": f"M-{m.id}", "timestamp": _iso(m.created_at), "sender": m.author_id, "text": m.content,
            "category": m.category, "source": m.source or "internal_session",
            "related_task_id": _tid(m.task_number) if m.task_number else None}  # fmt: skip


def _thread_out(t: store.ThreadRow, messages: list[JSON]) -> JSON:
    return {"id": t.key or str(t.id), "title": t.title, "mode": t.mode, "project_id": t.project_key,
            "participants": t.participants, "session_key": t.session_key, "messages": messages}  # fmt: skip


MISSION_STATUSES: Final = ("draft", "planned", "active", "blocked", "review", "done")
MISSION_LISTS: Final = ("required_specialists", "assigned_agents", "next_actions", "success_criteria")
SPRINT_STATUSES: Final = ("planning", "active", "closed")
PROJECT_TYPES: Final = ("software", "manual", "business", "coaching", "plan", "launch", "custom")
PROJECT_TEXTS: Final = ("tagline", "repo", "github_project", "workspace_root", "default_branch", "visibility",
                        "increment_policy")  # fmt: skip
PROJECT_LISTS: Final = ("allowed_agents", "focus", "relevant_specialists")
MESSAGE_CATEGORIES: Final = ("directive", "discussion", "summary", "status", "ack", "system")
QUIET_CATEGORIES: Final = ("ack", "system")


def _assigned(row: TaskRow, agent_id: UUID) -> Notice:
    """A CT owner's assignment, as Mission Control's TASK ASSIGNED (in the agent's team session)."""
    return notify.assigned(
        agent_id, f"T-{row.number} {row.title}", row.id, row.team_id, row.description, False
    )


RUN_OUTCOMES: Final = ("working", "needs_attention", "blocked", "validation")


def _date(value: Any, name: str) -> date | None:
    raw = text(value, 32, name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise bad(f"invalid {name}: {raw}") from None


DEMO: Final[JSON] = {
    "company_name": "Demo Co", "ceo_name": "Alex",
    "projects": [{"project_id": "atlas-core", "name": "Atlas Core", "type": "software"}],
    "agents": [
        {"id": "orion", "name": "Orion", "role": "Chief of Staff", "skills": ["planning", "routing"], "manager": "ceo"},
        {"id": "codex", "name": "Codex", "role": "Engineering Manager", "skills": ["code"], "manager": "orion"},
        {"id": "ralph", "name": "Ralph", "role": "QA Lead", "skills": ["validation"], "manager": "orion"},
    ],
}  # fmt: skip
DEMO_TASKS: Final = (
    {"title": "Set up the board filters", "owner": "codex", "status": "ready", "priority": "P1",
     "project_id": "atlas-core"},
    {"title": "Write the release notes", "owner": "orion", "priority": "P2"},
)  # fmt: skip

TEMPLATES: Final = [
    {"id": "bug", "type": "bug", "title": "Bug: ", "priority": "P1",
     "acceptance_criteria": ["Reproduced", "Fixed with a regression test"]},
    {"id": "story", "type": "story", "title": "As a user, I want ", "priority": "P2",
     "acceptance_criteria": ["Behaviour described is met"]},
    {"id": "spike", "type": "spike", "title": "Spike: ", "priority": "P2",
     "definition_of_done": ["Findings written up", "Follow-up tasks filed"]},
]  # fmt: skip
"""``GET /api/tasks/templates``."""
