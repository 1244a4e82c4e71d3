"""What a session run writes, and when (issue 9; docs/architecture.md, "Data flow of a chat run").

Before the model is called nothing is written here: the user message and the run row were committed
by ``chat.send``. A finished tool round is committed as it ends (``checkpoint``); the answer, the
run's end and the session's token count in one transaction before ``run.completed`` is published
(``finalize``). The trace, its spans and the usage records are observability: they go through the
group writer (``traces.record_exchanges``, the OpenAI path's one), batched with whatever else
finishes at the same time.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import structlog
from msgspec import UNSET

from clawgate import metrics
from clawgate.providers.types import ChatMessage, Usage
from clawgate.runtime.context import ContextCache, ContextSize, SessionContext
from clawgate.runtime.events import RunAnswer
from clawgate.runtime.handle import RunHandle
from clawgate.runtime.loop import LoopResult
from clawgate.store import Database, DbConnection, runs, sessions, traces
from clawgate.store.types import MessageRow
from clawgate.writer import GroupWriter

__all__ = ["Records", "SessionHooks", "end_unfinished", "trace_record", "write_record"]

log = structlog.get_logger("clawgate.runs")

Records = GroupWriter[traces.ExchangeRecord]
"""The group writer of finished requests' traces (``traces.record_exchanges`` items)."""


async def write_record(records: Records, record: traces.ExchangeRecord) -> None:
    """Hand a finished run's or exchange's record to the group writer (and wait until it is
    committed), counting its tokens by provider and model (``/metrics``). Raises: what the
    batch's transaction raised."""
    for use in record.usage:
        metrics.count_tokens(use.provider, use.model, use.input_tokens, use.output_tokens)
    await records.write(record)


class SessionHooks:
    """Persistence for a session run: tool rounds as they finish, the answer at the end, and
    pick-up of messages injected into the session meanwhile.

    It also follows the session's context (``context``): each message it stores is added while it
    lands where expected; once the run completes, the context goes back to ``contexts`` for the
    next run, stamped with the session version its last commit set. A message of anyone else in
    between (an injection) makes it unusable, and it is dropped.
    """

    def __init__(self, db: Database, handle: RunHandle, contexts: ContextCache) -> None:
        self._db = db
        self._handle = handle
        self._contexts = contexts
        self.context: SessionContext | None = None  # set with the loop input
        self.size: ContextSize | None = None  # the context's size when the run completed
        self.last_seen = handle.plan.user_idx
        self.final: RunAnswer | None = None
        self.result: LoopResult | None = None  # the loop's, once it exists: spans and usage

    async def checkpoint(self, produced: list[ChatMessage]) -> list[ChatMessage]:
        """Store ``produced`` (a finished tool round, or an answer the run goes on after) in one
        statement; the user messages injected meanwhile."""
        plan = self._handle.plan
        async with self._db.connection() as conn:
            done = await runs.checkpoint(
                conn, plan.tenant_id, plan.session.id, self._handle.run_id,
                [_stored(m) for m in produced], last_seen=self.last_seen,
            )  # fmt: skip
        for n, message in enumerate(produced):
            self._follow(done.idx + n, message)
        return self._injected(done.unseen)

    async def finalize(self, answer: ChatMessage, usage: Usage) -> list[ChatMessage]:
        plan, handle = self._handle.plan, self._handle
        result = self.result
        usage_out = msgspec.to_builtins(usage)
        usage_out.pop("cache_creation_tokens", None)
        usage_out.pop("cache_read_tokens", None)
        final = RunAnswer(
            runId=str(handle.run_id), sessionKey=plan.session.session_key, message_id=0, role="assistant",
            content=answer.content, usage=usage_out, thinking=answer.thinking or UNSET,
        )  # fmt: skip
        async with self._db.connection() as conn:
            # One statement: the answer (its append locks the session row first, so a chat.send
            # waiting on it sees this run ended), the check for injected messages, the run's end.
            end = await runs.finish_completed(
                conn, plan.tenant_id, plan.session.id, handle.run_id, last_seen=self.last_seen,
                content=answer.content, thinking=answer.thinking, result=msgspec.to_builtins(final),
                input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
                model=result.model if result else "", provider=result.provider if result else "",
            )  # fmt: skip
        self._follow(end.idx, answer)
        if end.unseen:
            return self._injected(end.unseen)
        final.message_id = end.idx
        if self.context is not None and end.version is not None:
            self.context.version = end.version
            self.size = self.context.size()  # before the next run of the session takes it on
            self._contexts.put(self.context)
        self.final = final
        return []

    def _follow(self, idx: int, message: ChatMessage) -> None:
        """The run stored ``message`` at ``idx``: the context follows while that is its next index."""
        if self.context is not None:
            if idx == self.context.upto:
                self.context.add(message)
            else:
                self.context = None  # someone else's message came in between

    def _injected(self, unseen: list[runs.Unseen]) -> list[ChatMessage]:
        """User messages that came in during the run, as the loop takes them."""
        if unseen:
            self.last_seen = unseen[-1].idx
            self.context = None  # injected meanwhile: the stored order is not the run's
        return [ChatMessage(role="user", content=m.content) for m in unseen]


def _stored(message: ChatMessage) -> dict[str, Any]:
    """A run's message as ``runs.checkpoint`` stores it."""
    return {
        "role": message.role, "content": message.content, "thinking": message.thinking,
        "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls],
        "tool_call_id": message.tool_call_id, "is_error": False,
    }  # fmt: skip


async def append(conn: DbConnection, handle: RunHandle, message: ChatMessage, **extra: Any) -> MessageRow:
    """Store one message of the run in its session."""
    plan = handle.plan
    return await sessions.append_message(
        conn, plan.tenant_id, plan.session.id, **_stored(message), run_id=handle.run_id, **extra
    )


async def end_unfinished(
    db: Database, records: Records, handle: RunHandle, result: LoopResult | None, status: str, error: str
) -> None:
    """Record a run that did not complete: the partial answer of a cancelled one kept, the run row
    ended, its trace. Never raises: a failure is logged (``run.end_write_failed``)."""
    plan = handle.plan
    usage = result.usage if result is not None else Usage()
    payload = RunAnswer(runId=str(handle.run_id), sessionKey=plan.session.session_key)
    if status == "cancelled":
        payload.cancelled = True
    else:
        payload.error = error
    try:
        async with db.transaction() as conn:
            partial = handle.content_so_far
            if partial and status == "cancelled":
                await append(
                    conn, handle, ChatMessage(role="assistant", content=partial), metadata={"cancelled": True}
                )
            await runs.finish(
                conn, plan.tenant_id, handle.run_id, status=status, result=msgspec.to_builtins(payload), error=error,
                input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
            )  # fmt: skip
        await write_record(records, trace_record(handle, result, status, error, ""))
    except Exception as exc:
        log.warning("run.end_write_failed", error=str(exc))


def trace_record(
    handle: RunHandle, result: LoopResult | None, status: str, error: str, output: str
) -> traces.ExchangeRecord:
    """The run's trace, spans and usage as an item of ``traces.record_exchanges``."""
    plan = handle.plan
    spans = result.spans if result is not None else []
    usage = result.usage if result is not None else Usage()
    return traces.ExchangeRecord(
        tenant_id=plan.tenant_id,
        trace=traces.ExchangeTrace(
            id=uuid.uuid4(), run_id=handle.run_id, agent_id=plan.agent.id, user_id=plan.user_id,
            session_key=plan.session.session_key, name=f"{plan.channel} chat - {plan.agent.agent_key}",
            channel=plan.channel, status="error" if status == "failed" else status, error=error,
            input_preview=plan.message[:500], output_preview=output[:500],
            input_tokens=usage.prompt_tokens, output_tokens=usage.completion_tokens,
            span_count=len(spans), llm_calls=sum(1 for s in spans if s.span_type == "llm_call"),
            tool_calls=sum(1 for s in spans if s.span_type == "tool_call"),
            start_time=handle.started_at, end_time=datetime.now(UTC),
        ),
        spans=spans,
        usage=traces.usage_of(
            spans, agent_id=plan.agent.id, agent_key=plan.agent.agent_key, user_id=plan.user_id,
            session_key=plan.session.session_key, run_id=handle.run_id,
        ),
    )  # fmt: skip
