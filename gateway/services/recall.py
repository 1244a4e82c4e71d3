"""Memory recall: the agent's memories most relevant to the user's latest message, put into the run's
system prompt as a section "## Relevant memories" within a small token budget (a ``PromptSource`` of
the run manager, ``clawgate.runtime.runs``).

It searches like ``memory_search`` (``MemoryService.search_agent``: the agent's shared documents and
the run's user's own, never another user's or another tenant's), keeps the hits at or above
``memory.recall_min_score`` (at most ``MAX_MEMORIES``) and stops at ``memory.recall_max_tokens``.

An agent without memory costs nothing per run: who owns documents of an agent (``""`` for shared
ones, else user ids) is kept in memory per process and dropped, in every process, by the bus event
``cache.invalidate`` of kind ``memory`` that every write and delete publishes; so a run searches
only when its agent holds documents its user can read. A failure or a slow search (over
``TIMEOUT_SECONDS``) is logged and the run goes on without the section.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING
from uuid import UUID

import structlog

from clawgate.bus import INVALIDATE, BusEvent, EventBus, invalidates
from clawgate.config import Settings
from clawgate.services.memory import MemoryService, SearchBody
from clawgate.store import Database, memory

if TYPE_CHECKING:
    from clawgate.providers.types import ChatMessage
    from clawgate.store.types import AgentRow
    from clawgate.tools import ToolContext

__all__ = ["MAX_MEMORIES", "TIMEOUT_SECONDS", "MemoryRecall"]

log = structlog.get_logger("clawgate.recall")

MAX_MEMORIES = 5  # GoClaw's L0 auto-inject keeps at most 5 entries
TIMEOUT_SECONDS = 2.0
TITLE = "## Relevant memories"
_INTRO = "Notes from your long-term memory that may bear on this message (memory_get reads a whole one):"
_CHARS_PER_TOKEN = 4
_OWNER_LIMIT = 1000  # more owners than this: not listed, every run of the agent searches
_CACHE_TTL = 300.0  # a safety net only: writes and deletes invalidate over the bus


class _Owners:
    """Who owns documents of one agent: shared ones (``shared``) and ``users`` (None: too many to
    list, anyone may own some)."""

    __slots__ = ("at", "shared", "users")

    def __init__(self, at: float, owners: list[str]) -> None:
        self.at = at
        self.shared = "" in owners
        self.users = None if len(owners) >= _OWNER_LIMIT else frozenset(o for o in owners if o)

    def readable_by(self, user: str) -> bool:
        return self.shared or self.users is None or (bool(user) and user in self.users)


class MemoryRecall:
    def __init__(self, settings: Settings, db: Database, bus: EventBus, service: MemoryService) -> None:
        self._conf = settings.memory
        self._db = db
        self._service = service
        self._owners: dict[tuple[UUID, UUID], _Owners] = {}
        # Bumped by every invalidation: a read that began before one is not cached after it.
        self._generation = 0
        bus.subscribe(self._on_event, names=[INVALIDATE])

    def _on_event(self, event: BusEvent) -> None:
        if not invalidates(event, "memory"):
            return
        self._generation += 1
        agent = event.payload.get("agent") if isinstance(event.payload, dict) else None
        if event.tenant_id is None or not isinstance(agent, str):
            self._owners.clear()
            return
        try:
            self._owners.pop((event.tenant_id, UUID(agent)), None)
        except ValueError:
            self._owners.clear()

    async def _has_memory(self, tenant_id: UUID, agent_id: UUID, user: str) -> bool:
        """Whether the agent holds documents ``user`` reads (from memory when nothing changed)."""
        key, now = (tenant_id, agent_id), time.monotonic()
        owners = self._owners.get(key)
        if owners is None or now - owners.at > _CACHE_TTL:
            generation = self._generation
            async with self._db.connection() as conn:
                owners = _Owners(now, await memory.document_owners(conn, tenant_id, agent_id, _OWNER_LIMIT))
            if generation == self._generation:
                self._owners[key] = owners
        return owners.readable_by(user)

    async def prompt_section(self, agent: AgentRow, ctx: ToolContext, messages: Sequence[ChatMessage]) -> str:
        """The section of memories relevant to the latest user message; "" for none, when recall is
        off, and on any failure (logged: a run never fails for it)."""
        if not self._conf.recall_enabled or self._conf.recall_max_tokens <= 0:
            return ""
        query = next((m.content for m in reversed(messages) if m.role == "user" and m.content.strip()), "")
        if not query:
            return ""
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):  # in this task: no task of its own per run
                return await self._section(ctx, query.strip()[:4000])
        except TimeoutError:
            log.warning("recall.timed_out", agent_id=str(ctx.agent_id), seconds=TIMEOUT_SECONDS)
        except Exception as exc:  # the run goes on without its memories
            log.warning("recall.failed", agent_id=str(ctx.agent_id), error=f"{exc.__class__.__name__}: {exc}")
        return ""

    async def _section(self, ctx: ToolContext, query: str) -> str:
        if not await self._has_memory(ctx.tenant_id, ctx.agent_id, ctx.user_id):
            return ""
        body = SearchBody(query=query, max_results=MAX_MEMORIES, min_score=self._conf.recall_min_score)
        found = await self._service.search_agent(ctx.tenant_id, ctx.agent_id, ctx.user_id or None, body)
        budget = self._conf.recall_max_tokens * _CHARS_PER_TOKEN - len(TITLE) - len(_INTRO) - 2
        lines: list[str] = []
        for hit in found.results:
            head = f"- {hit.path}#L{hit.start_line}-{hit.end_line}: "
            text = " ".join(hit.snippet.split())
            room = budget - len(head) - 1
            if room < 40:  # no room for a useful part of it
                break
            if len(text) > room:
                text = text[: room - 3].rstrip() + "..."
            lines.append(head + text)
            budget -= len(lines[-1]) + 1
        return "\n".join([TITLE, _INTRO, *lines]) if lines else ""
