"""Agent heartbeats: GoClaw's ``heartbeat.*`` rules (issue 12). One heartbeat per agent, off until set;
reads need viewer, changes admin. The checklist is the agent's ``HEARTBEAT.md`` context file. Runs are
the scheduler's (``clawgate.runtime.scheduler``); ``clawgate.runtime.heartbeat`` says when a due
heartbeat runs or is skipped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Protocol
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from clawgate.bus import BusEvent, EventBus
from clawgate.errors import InvalidRequest, invalid_field
from clawgate.principal import Principal, Role
from clawgate.runtime.heartbeat import check_hhmm, stagger
from clawgate.runtime.schedule import check_zone
from clawgate.runtime.scheduler import CHANGED
from clawgate.services import require
from clawgate.services.agents import AgentService, ProviderCheck
from clawgate.store import Database
from clawgate.store import heartbeat as store
from clawgate.store.heartbeat import HeartbeatFields, HeartbeatRow, HeartbeatRunRow
from clawgate.store.types import AgentRow

__all__ = [
    "CHECKLIST",
    "Heartbeat",
    "HeartbeatLog",
    "HeartbeatLogs",
    "HeartbeatService",
    "HeartbeatSetParams",
    "HeartbeatTarget",
]

CHECKLIST = "HEARTBEAT.md"
AgentRef = Annotated[str, Meta(min_length=1, max_length=100, description="Agent key or UUID")]
_Text = Annotated[str, Meta(max_length=200)]


class HeartbeatSetParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """``heartbeat.set``: an upsert; absent or ``null`` fields keep their value (defaults at first)."""

    agentId: AgentRef
    enabled: bool | None = None
    intervalSec: Annotated[int, Meta(ge=300, le=30 * 86_400)] | None = None
    prompt: Annotated[str, Meta(max_length=8000)] | None = None
    providerName: _Text | None = None
    model: _Text | None = None
    isolatedSession: bool | None = None
    lightContext: bool | None = None
    ackMaxChars: Annotated[int, Meta(ge=0, le=100_000)] | None = None
    maxRetries: Annotated[int, Meta(ge=0, le=10)] | None = None
    activeHoursStart: Annotated[str, Meta(max_length=5)] | None = None
    activeHoursEnd: Annotated[str, Meta(max_length=5)] | None = None
    timezone: Annotated[str, Meta(max_length=64)] | None = None
    channel: _Text | None = None
    chatId: Annotated[str, Meta(max_length=512)] | None = None


class Heartbeat(Struct, kw_only=True):
    """An agent's heartbeat as GoClaw's ``heartbeat.get`` answers it (times in epoch ms)."""

    id: str
    agentId: str
    agentKey: str
    enabled: bool
    intervalSec: int
    prompt: str
    providerName: str
    model: str
    isolatedSession: bool
    lightContext: bool
    ackMaxChars: int
    maxRetries: int
    activeHoursStart: str
    activeHoursEnd: str
    timezone: str
    channel: str
    chatId: str
    nextRunAtMs: int | None
    lastRunAtMs: int | None
    lastStatus: str
    lastError: str
    runCount: int
    suppressCount: int
    createdAtMs: int
    updatedAtMs: int


class HeartbeatLog(Struct, kw_only=True, omit_defaults=True):
    id: str
    agentId: str
    status: str
    trigger: str
    scheduledAtMs: int
    ranAtMs: int
    skipReason: str | None = None
    summary: str | None = None
    error: str | None = None
    durationMs: int | None = None
    attempts: int = 0
    inputTokens: int = 0
    outputTokens: int = 0
    runId: str | None = None
    sessionKey: str | None = None


class HeartbeatLogs(Struct, kw_only=True):
    logs: list[HeartbeatLog]
    total: int


class HeartbeatTarget(Struct, kw_only=True, omit_defaults=True):
    """A place a heartbeat may deliver to: a session of the agent (``chatId`` is its key)."""

    channel: str
    chatId: str
    kind: str
    title: str | None = None


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def heartbeat_out(row: HeartbeatRow, agent: AgentRow) -> Heartbeat:
    return Heartbeat(
        id=str(row.id), agentId=str(agent.id), agentKey=agent.agent_key, enabled=row.enabled,
        intervalSec=row.interval_sec, prompt=row.prompt, providerName=row.provider_name, model=row.model,
        isolatedSession=row.isolated_session, lightContext=row.light_context, ackMaxChars=row.ack_max_chars,
        maxRetries=row.max_retries, activeHoursStart=row.active_hours_start, activeHoursEnd=row.active_hours_end,
        timezone=row.timezone, channel=row.channel, chatId=row.chat_id, nextRunAtMs=_ms(row.next_run_at),
        lastRunAtMs=_ms(row.last_run_at), lastStatus=row.last_status, lastError=row.last_error,
        runCount=row.run_count, suppressCount=row.suppress_count, createdAtMs=_ms(row.created_at) or 0,
        updatedAtMs=_ms(row.updated_at) or 0,
    )  # fmt: skip


def log_out(row: HeartbeatRunRow) -> HeartbeatLog:
    return HeartbeatLog(
        id=str(row.id), agentId=str(row.agent_id), status=row.status, trigger=row.trigger,
        scheduledAtMs=_ms(row.scheduled_at) or 0, ranAtMs=_ms(row.ended_at or row.started_at or row.scheduled_at) or 0,
        skipReason=row.skip_reason or None, summary=row.summary or None, error=row.error or None,
        durationMs=row.duration_ms, attempts=row.attempts, inputTokens=row.input_tokens,
        outputTokens=row.output_tokens, runId=str(row.run_id) if row.run_id else None,
        sessionKey=row.session_key or None,
    )  # fmt: skip


_PLAIN = {
    "enabled": "enabled", "intervalSec": "interval_sec", "prompt": "prompt", "providerName": "provider_name",
    "model": "model", "isolatedSession": "isolated_session", "lightContext": "light_context",
    "ackMaxChars": "ack_max_chars", "maxRetries": "max_retries", "channel": "channel", "chatId": "chat_id",
}  # fmt: skip


class Waker(Protocol):
    """Makes an agent's heartbeat due now (the scheduler); False when it has none enabled. Used by
    ``heartbeat.test`` and by the board loop's wake without message."""

    async def wake_heartbeat(self, tenant_id: UUID, agent_id: UUID) -> bool: ...


class HeartbeatService:
    def __init__(
        self, db: Database, bus: EventBus, agents: AgentService, waker: Waker, providers: ProviderCheck
    ) -> None:
        self._db = db
        self._bus = bus
        self._agents = agents
        self._waker = waker
        self._providers = providers

    async def get(self, who: Principal, ref: str) -> Heartbeat | None:
        """The agent's heartbeat, or None when it was never set. Raises: NotFound (agent)."""
        agent = await self._agents.get(who, ref)
        async with self._db.connection() as conn:
            row = await store.get(conn, who.tenant_id, agent.id)
        return None if row is None else heartbeat_out(row, agent)

    async def set(self, who: Principal, params: HeartbeatSetParams) -> Heartbeat:
        """Create or change the agent's heartbeat. Enabling schedules it one interval (plus the
        agent's stagger) from now; a new interval while enabled, one interval from now.
        Raises: InvalidRequest (active hours, time zone), NotFound (agent)."""
        require(who, Role.ADMIN, "heartbeat.set")
        agent = await self._agents.get(who, params.agentId)
        changes: dict[str, object] = {
            n: getattr(params, f) for f, n in _PLAIN.items() if getattr(params, f) is not None
        }
        if params.activeHoursStart is not None:
            changes["active_hours_start"] = check_hhmm(params.activeHoursStart, "$.activeHoursStart")
        if params.activeHoursEnd is not None:
            changes["active_hours_end"] = check_hhmm(params.activeHoursEnd, "$.activeHoursEnd")
        if params.timezone is not None:
            check_zone(params.timezone, "$.timezone")
            changes["timezone"] = params.timezone
        if params.providerName and not await self._providers.has_provider(who.tenant_id, params.providerName):
            raise invalid_field(
                "$.providerName", f"provider {params.providerName!r} does not exist or is disabled"
            )
        now = datetime.now(UTC)
        async with self._db.transaction() as conn:
            current = await store.get_for_update(conn, who.tenant_id, agent.id)
            before = (
                HeartbeatFields()
                if current is None
                else msgspec.convert(msgspec.structs.asdict(current), HeartbeatFields)
            )
            fields = msgspec.structs.replace(before, **changes)
            if bool(fields.active_hours_start) != bool(fields.active_hours_end):
                raise invalid_field("$.activeHoursEnd", "active hours need both a start and an end (HH:MM)")
            if not fields.enabled:
                fields.next_run_at = None
            elif not before.enabled or fields.next_run_at is None:
                fields.next_run_at = (
                    now + timedelta(seconds=fields.interval_sec) + stagger(agent.id, fields.interval_sec)
                )
            elif fields.interval_sec != before.interval_sec:
                fields.next_run_at = now + timedelta(seconds=fields.interval_sec)
            row = await store.upsert(conn, who.tenant_id, agent.id, fields)
        await self._bus.publish(BusEvent(name=CHANGED, payload={}))
        return heartbeat_out(row, agent)

    async def test(self, who: Principal, ref: str) -> None:
        """Make the heartbeat due now: it runs (or is skipped, with why) like any due time.
        Raises: NotFound (agent), InvalidRequest (no enabled heartbeat)."""
        require(who, Role.ADMIN, "heartbeat.test")
        agent = await self._agents.get(who, ref)
        if not await self._waker.wake_heartbeat(who.tenant_id, agent.id):
            raise InvalidRequest(
                detail=f"agent {agent.agent_key} has no enabled heartbeat (heartbeat.set enabled)"
            )

    async def logs(self, who: Principal, ref: str, limit: int, offset: int) -> HeartbeatLogs:
        agent = await self._agents.get(who, ref)
        async with self._db.connection() as conn:
            rows = await store.logs(conn, who.tenant_id, agent.id, limit, offset)
            total = await store.logs_count(conn, who.tenant_id, agent.id)
        return HeartbeatLogs(logs=[log_out(r) for r in rows], total=total)

    async def checklist(self, who: Principal, ref: str) -> str:
        """The agent's HEARTBEAT.md ("" when it has none). Raises: NotFound (agent)."""
        found = await self._agents.find_file(who, ref, CHECKLIST)
        return found.content if found is not None else ""

    async def set_checklist(self, who: Principal, ref: str, content: str) -> int:
        """Write the agent's HEARTBEAT.md; returns its length. Raises: NotFound (agent)."""
        require(who, Role.ADMIN, "heartbeat.checklist.set")
        saved = await self._agents.set_file(who, ref, CHECKLIST, content)
        return len(saved.content)

    async def targets(self, who: Principal, ref: str | None) -> list[HeartbeatTarget]:
        """Sessions of the agent (the default one when none is named) a heartbeat may deliver to;
        a non-admin's own only."""
        agent = await self._agents.get(who, ref) if ref else None
        if agent is None:
            listed = await self._agents.list_agents(who)
            if not listed:
                return []
            agent = listed[0]
        async with self._db.connection() as conn:
            rows = await store.targets(conn, who.tenant_id, agent.id, None if who.sees_all else who.user_id)
        return [
            HeartbeatTarget(channel=r.channel or "ws", chatId=r.session_key, kind="dm", title=r.label or None)
            for r in rows
        ]
