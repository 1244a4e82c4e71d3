"""After a run: an unlabeled session gets a short title, and a history that outgrew the agent's share
of its context window is compacted. Both run in the background and only log their failures."""

from __future__ import annotations

import asyncio

import structlog

from clawgate.bus import BusEvent, EventBus
from clawgate.errors import GatewayError
from clawgate.providers.types import ChatMessage, ChatRequest
from clawgate.runtime.compaction import Episodes, keep_last, needs_compaction, summarize
from clawgate.runtime.context import ContextCache, ContextSize, SessionContext
from clawgate.runtime.handle import RunPlan
from clawgate.runtime.llm import Target
from clawgate.runtime.prompt import to_chat_message
from clawgate.store import Database, sessions

__all__ = ["Upkeep"]

log = structlog.get_logger("clawgate.runs")


class Upkeep:
    def __init__(
        self, db: Database, bus: EventBus, contexts: ContextCache, episodes: Episodes | None = None
    ) -> None:
        self._db = db
        self._bus = bus
        self._contexts = contexts
        self._episodes = episodes

    @staticmethod
    def may_compact(plan: RunPlan, targets: list[Target], size: ContextSize | None) -> bool:
        """Whether ``compact`` has anything to do: known at once when the run left the history's
        size (most runs), so that a run below the threshold starts no task for it."""
        if not targets:
            return False
        return size is None or needs_compaction(plan.agent, size.messages, size.tokens)

    async def compact(self, plan: RunPlan, targets: list[Target], size: ContextSize | None) -> None:
        """Summarise the earlier turns when the history outgrew the context share, and keep the
        summary as an episode (``episodes``) for later sessions.

        ``size`` is the session's history as the run left it (known without a read); without it
        (someone else wrote meanwhile) the session is read.
        """
        try:
            if size is None:
                size = await self._read(plan)
                if size is None:
                    return
            if not targets or not needs_compaction(plan.agent, size.messages, size.tokens):
                return
            cut = size.upto - keep_last(plan.agent)
            async with self._db.connection() as conn:
                rows = await sessions.messages(
                    conn, plan.tenant_id, plan.session.id, start=size.start, limit=max(0, cut - size.start)
                )
            summary = await summarize(targets[0], rows, size.summary)
            async with self._db.transaction() as conn:
                locked = await sessions.get_for_update(conn, plan.tenant_id, plan.session.session_key)
                if locked is None or locked.context_start != size.start:
                    return  # compacted meanwhile
                await sessions.set_context(conn, plan.tenant_id, plan.session.id, summary, cut)
            self._contexts.drop(plan.session.id)
            log.info("session.compacted", session_key=plan.session.session_key, cut=cut)
            if self._episodes is not None:
                await self._episodes.record(
                    plan.tenant_id, plan.agent.id, plan.session.user_id, plan.session.session_key, summary,
                    rows, f"{plan.session.id}:{cut}",
                )  # fmt: skip
        except Exception as exc:
            log.warning("session.compact_failed", session_key=plan.session.session_key, error=str(exc))

    async def _read(self, plan: RunPlan) -> ContextSize | None:
        async with self._db.connection() as conn:
            session = await sessions.get(conn, plan.tenant_id, plan.session.session_key)
            if session is None:
                return None
            rows = await sessions.messages(conn, plan.tenant_id, session.id, start=session.context_start)
        context = SessionContext(
            session_id=session.id, start=session.context_start, upto=session.message_count,
            summary=session.summary, messages=[to_chat_message(r) for r in rows],
        )  # fmt: skip
        return context.size()

    async def title(self, plan: RunPlan, targets: list[Target]) -> None:
        """Give an unlabeled session a short title (LLM-written; the first words as a fallback)."""
        title = " ".join(plan.message.split()[:8])[:60]
        if targets:
            target = targets[0]
            prompt = (
                "Write a title of at most 6 words for a conversation that starts with the message below. "
                "Answer with the title only.\n\n" + plan.message[:2000]
            )
            try:
                async with asyncio.timeout(30):
                    reply = await target.client.chat(
                        ChatRequest(
                            model=target.model,
                            messages=[ChatMessage(role="user", content=prompt)],
                            max_tokens=24,
                        )
                    )
                if reply.content.strip():
                    title = reply.content.strip().strip("\"'").splitlines()[0][:80]
            except Exception as exc:
                log.warning("session.title_failed", error=repr(exc))  # the first words stand in
        try:
            async with self._db.transaction() as conn:
                changed = await sessions.set_label_if_empty(conn, plan.tenant_id, plan.session.id, title)
        except GatewayError as exc:
            log.warning("session.title_write_failed", error=str(exc))
            return
        if changed:
            await self._bus.publish(
                BusEvent(
                    name="session.updated",
                    payload={"sessionKey": plan.session.session_key, "label": title, "userId": plan.user_id},
                    tenant_id=plan.tenant_id,
                    user_id=plan.user_id or None,
                )
            )
