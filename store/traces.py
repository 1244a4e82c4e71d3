"""Traces and spans of runs, LLM calls and tool calls; usage records per LLM call."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
from msgspec import Struct

from clawgate.sql import query
from clawgate.store._rows import many, maybe
from clawgate.store.types import SpanRow, TraceRow, UsageBucket, UsageRow, UsageShare, UsageSummaryRow

__all__ = [
    "ExchangeMessage",
    "ExchangeRecord",
    "ExchangeSession",
    "ExchangeTrace",
    "ExchangeUsage",
    "NewSpan",
    "RecordedToolCall",
    "TraceFilter",
    "UsageFilter",
    "finish_trace",
    "follow",
    "get",
    "insert_spans",
    "insert_trace",
    "insert_usage",
    "list_traces",
    "record_exchanges",
    "spans",
    "usage_breakdown",
    "usage_buckets",
    "usage_count",
    "usage_list",
    "usage_of",
    "usage_summary",
]


class NewSpan(Struct, kw_only=True):
    span_type: str
    name: str
    start_time: datetime
    end_time: datetime
    status: str = "completed"
    parent_span_id: UUID | None = None
    model: str = ""
    provider: str = ""
    tool_name: str = ""
    tool_call_id: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str = ""
    input_preview: str = ""
    output_preview: str = ""
    error: str = ""


async def insert_trace(
    conn: asyncpg.Connection,
    *,
    trace_id: UUID,
    tenant_id: UUID,
    run_id: UUID | None,
    agent_id: UUID | None,
    user_id: str,
    session_key: str,
    name: str,
    channel: str,
    input_preview: str,
    start_time: datetime,
) -> None:
    await conn.execute(
        query("traces.insert_trace"),
        trace_id, tenant_id, run_id, agent_id, user_id, session_key, name, channel, input_preview, start_time,
    )  # fmt: skip


async def finish_trace(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    trace_id: UUID,
    *,
    status: str,
    error: str,
    output_preview: str,
    input_tokens: int,
    output_tokens: int,
    span_count: int,
    llm_calls: int,
    tool_calls: int,
    end_time: datetime,
) -> None:
    await conn.execute(
        query("traces.finish_trace"),
        tenant_id, trace_id, status, error, output_preview, input_tokens, output_tokens, span_count,
        llm_calls, tool_calls, end_time,
    )  # fmt: skip


async def insert_spans(
    conn: asyncpg.Connection, tenant_id: UUID, trace_id: UUID, items: list[NewSpan]
) -> None:
    if not items:
        return
    await conn.executemany(
        query("traces.insert_span"),
        [
            (
                tenant_id,
                trace_id,
                s.parent_span_id,
                s.span_type,
                s.name,
                s.status,
                s.model,
                s.provider,
                s.tool_name,
                s.tool_call_id,
                s.input_tokens,
                s.output_tokens,
                s.finish_reason,
                s.input_preview,
                s.output_preview,
                s.error,
                s.start_time,
                s.end_time,
                int((s.end_time - s.start_time).total_seconds() * 1000),
            )
            for s in items
        ],
    )


class TraceFilter(Struct, kw_only=True, frozen=True):
    """Which traces a list shows: of the tenant, and of each field that is set (``start``/``end``:
    started in ``[start, end)``)."""

    user_id: str | None = None
    agent_id: UUID | None = None
    session_key: str | None = None
    status: str | None = None
    channel: str | None = None
    start: datetime | None = None
    end: datetime | None = None


async def list_traces(
    conn: asyncpg.Connection, tenant_id: UUID, where: TraceFilter, *, limit: int, offset: int
) -> tuple[list[TraceRow], int]:
    """A page of the traces of ``where``, the newest first, and how many there are in all."""
    w = where
    rows = await conn.fetch(
        query("traces.list"), tenant_id, w.user_id, w.agent_id, w.session_key, limit, offset, w.status,
        w.channel, w.start, w.end,
    )  # fmt: skip
    total = await conn.fetchval(
        query("traces.count"), tenant_id, w.user_id, w.agent_id, w.session_key, w.status, w.channel,
        w.start, w.end,
    )  # fmt: skip
    return many(rows, TraceRow), int(total)


async def get(conn: asyncpg.Connection, tenant_id: UUID, trace_id: UUID) -> TraceRow | None:
    return maybe(await conn.fetchrow(query("traces.get"), tenant_id, trace_id), TraceRow)


async def spans(conn: asyncpg.Connection, tenant_id: UUID, trace_id: UUID) -> list[SpanRow]:
    return many(await conn.fetch(query("traces.spans"), tenant_id, trace_id), SpanRow)


async def insert_usage(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    agent_id: UUID | None,
    agent_key: str,
    user_id: str,
    session_key: str,
    run_id: UUID | None,
    model: str,
    provider: str,
    input_tokens: int,
    output_tokens: int,
) -> None:
    await conn.execute(
        query("traces.insert_usage"),
        tenant_id, agent_id, agent_key, user_id, session_key, run_id, model, provider, input_tokens,
        output_tokens,
    )  # fmt: skip


async def usage_list(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    agent_key: str | None,
    user_id: str | None,
    limit: int,
    offset: int,
) -> list[UsageRow]:
    rows = await conn.fetch(query("traces.usage_list"), tenant_id, agent_key, user_id, limit, offset)
    return many(rows, UsageRow)


async def usage_count(
    conn: asyncpg.Connection, tenant_id: UUID, *, agent_key: str | None, user_id: str | None
) -> int:
    return int(await conn.fetchval(query("traces.usage_count"), tenant_id, agent_key, user_id))


async def usage_summary(
    conn: asyncpg.Connection, tenant_id: UUID, *, user_id: str | None
) -> list[UsageSummaryRow]:
    return many(await conn.fetch(query("traces.usage_summary"), tenant_id, user_id), UsageSummaryRow)


class UsageFilter(Struct, kw_only=True, frozen=True):
    """Which traces the usage figures count: started in ``[start, end)``, of the tenant, and of
    ``user_id`` / ``agent_id`` / ``channel`` / a span's ``provider`` / ``model`` when set."""

    start: datetime
    end: datetime
    user_id: str | None = None
    agent_id: UUID | None = None
    channel: str | None = None
    provider: str | None = None
    model: str | None = None


async def _usage_rows(
    conn: asyncpg.Connection, name: str, tenant_id: UUID, where: UsageFilter, group: str
) -> list[Any]:
    return list(
        await conn.fetch(
            query(name), tenant_id, where.start, where.end, where.user_id, where.agent_id, where.channel,
            where.provider, where.model, group,
        )
    )  # fmt: skip


async def usage_buckets(
    conn: asyncpg.Connection, tenant_id: UUID, where: UsageFilter, unit: str
) -> tuple[UsageBucket, list[UsageBucket]]:
    """The totals over ``where`` and its buckets of ``unit`` (``hour``, ``day``), oldest first."""
    rows = many(await _usage_rows(conn, "traces.usage_buckets", tenant_id, where, unit), UsageBucket)
    total = next((r for r in rows if r.bucket_time is None), None)
    empty = UsageBucket(bucket_time=None, request_count=0, error_count=0, unique_users=0, input_tokens=0,
                        output_tokens=0, llm_call_count=0, tool_call_count=0, avg_duration_ms=0)  # fmt: skip
    return total or empty, [r for r in rows if r.bucket_time is not None]


async def usage_breakdown(
    conn: asyncpg.Connection, tenant_id: UUID, where: UsageFilter, by: str
) -> list[UsageShare]:
    """The traces of ``where`` by ``channel``, or their LLM calls by ``provider`` or ``model``, the
    most tokens first."""
    return many(await _usage_rows(conn, "traces.usage_breakdown", tenant_id, where, by), UsageShare)


async def follow(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    *,
    user_id: str | None,
    agent_id: UUID | None,
    session_key: str | None,
    status: str | None,
    channel: str | None,
    since: datetime,
    limit: int,
) -> list[TraceRow]:
    """Traces started or finished after ``since``, oldest change first (live tail views)."""
    rows = await conn.fetch(
        query("traces.follow"), tenant_id, user_id, agent_id, session_key, status, channel, since, limit
    )
    return many(rows, TraceRow)


class ExchangeTrace(Struct, kw_only=True):
    """The finished trace of one exchange (``traces`` row)."""

    id: UUID
    run_id: UUID
    agent_id: UUID
    user_id: str
    session_key: str
    name: str
    channel: str
    status: str
    error: str
    input_preview: str
    output_preview: str
    input_tokens: int
    output_tokens: int
    span_count: int
    llm_calls: int
    tool_calls: int
    start_time: datetime
    end_time: datetime


class ExchangeUsage(Struct, kw_only=True):
    """One completed LLM call of an exchange (``usage_records`` row)."""

    agent_id: UUID
    agent_key: str
    user_id: str
    session_key: str
    run_id: UUID
    model: str
    provider: str
    input_tokens: int
    output_tokens: int


def usage_of(
    spans: list[NewSpan], *, agent_id: UUID, agent_key: str, user_id: str, session_key: str, run_id: UUID
) -> list[ExchangeUsage]:
    """The usage records of an exchange: one per completed LLM call among its ``spans``."""
    return [
        ExchangeUsage(
            agent_id=agent_id, agent_key=agent_key, user_id=user_id, session_key=session_key, run_id=run_id,
            model=sp.model, provider=sp.provider, input_tokens=sp.input_tokens, output_tokens=sp.output_tokens,
        )
        for sp in spans
        if sp.span_type == "llm_call" and sp.status == "completed"
    ]  # fmt: skip


class RecordedToolCall(Struct, kw_only=True):
    id: str
    name: str
    arguments: str


class ExchangeMessage(Struct, kw_only=True):
    """A message an exchange adds to its session (``session_messages`` row)."""

    role: str
    content: str
    run_id: UUID
    thinking: str = ""
    tool_call_id: str = ""
    tool_calls: list[RecordedToolCall] = []


class ExchangeSession(Struct, kw_only=True):
    """The session an exchange is mapped to: its counters and new messages, in order."""

    key: str
    agent_id: UUID
    user_id: str
    channel: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    messages: list[ExchangeMessage]


class ExchangeRecord(Struct, kw_only=True):
    """Everything one finished exchange writes (``record_exchanges``)."""

    tenant_id: UUID
    trace: ExchangeTrace
    spans: list[NewSpan]
    usage: list[ExchangeUsage]
    session: ExchangeSession | None = None


class _Batch:
    """Exchanges flattened into one row list per table, each session's messages numbered in order."""

    def __init__(self) -> None:
        self.traces: list[dict[str, object]] = []
        self.spans: list[dict[str, object]] = []
        self.usage: list[dict[str, object]] = []
        self.sessions: dict[tuple[object, object], dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []

    def add(self, record: ExchangeRecord) -> None:
        exchange: dict[str, Any] = msgspec.to_builtins(record)  # the rows go out as JSON
        tenant = exchange["tenant_id"]
        trace = exchange["trace"]
        self.traces.append({**trace, "tenant_id": tenant})
        self.spans += [{**span, "tenant_id": tenant, "trace_id": trace["id"]} for span in exchange["spans"]]
        self.usage += [{**row, "tenant_id": tenant} for row in exchange["usage"]]
        session = exchange.get("session")
        if not session:
            return
        summed = self.sessions.get((tenant, session["key"]))
        if summed is None:
            summed = self.sessions[(tenant, session["key"])] = {
                **session,
                "tenant_id": tenant,
                "n": 0,
                "messages": None,
            }
        else:
            summed["input_tokens"] += session["input_tokens"]
            summed["output_tokens"] += session["output_tokens"]
            summed["model"] = session["model"] or summed["model"]
            summed["provider"] = session["provider"] or summed["provider"]
        for message in session["messages"]:
            row = {**message, "tenant_id": tenant,
                   "session_key": session["key"], "ord": summed["n"]}  # fmt: skip
            summed["n"] += 1
            self.messages.append(row)

    def encode(self) -> dict[str, object]:
        for row in self.messages:  # each message learns how many its session got in this batch
            row["n"] = self.sessions[(row["tenant_id"], row["session_key"])]["n"]
        return {"traces": self.traces, "spans": self.spans, "usage": self.usage,
                "sessions": list(self.sessions.values()), "messages": self.messages}  # fmt: skip


async def record_exchanges(conn: asyncpg.Connection, exchanges: list[ExchangeRecord]) -> None:
    """Record finished requests in one round trip (``clawgate_record_exchanges``): their traces, spans,
    usage, and their sessions' new messages, in the order given.

    The commit does not wait for the WAL flush (``synchronous_commit = off``): the rows survive our
    process dying, only a crash of the database server itself could lose the last few hundred
    milliseconds. For observability records and mirrors of answers already produced.
    """
    batch = _Batch()
    for exchange in exchanges:
        batch.add(exchange)
    await conn.execute(query("traces.record_exchanges"), batch.encode())
