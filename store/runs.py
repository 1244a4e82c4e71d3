"""Runs: one agent turn owned by the gateway. At most one ``running`` run per session (a partial
unique index decides it, across processes); idempotency keys are unique rows for 24 hours."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import asyncpg
import msgspec

from clawgate.errors import AlreadyExists, NotFound
from clawgate.sql import query
from clawgate.store._rows import affected, many, maybe, one
from clawgate.store.db import CONNECTION_ERRORS, Unreachable
from clawgate.store.types import FailedRun, RunRow, SessionRow

__all__ = [
    "Checkpoint",
    "RunEnd",
    "SendDecision",
    "active_for_session",
    "by_idempotency",
    "checkpoint",
    "decide_send",
    "expire_idempotency",
    "fail_process",
    "finish",
    "finish_completed",
    "get",
    "heartbeat",
    "hold_liveness",
    "insert",
    "liveness_free",
    "other_live_processes",
    "running_processes",
]

_LIVENESS = 0x434C4157  # "CLAW": the advisory lock namespace of process liveness


async def expire_idempotency(conn: asyncpg.Connection) -> int:
    """Free every idempotency key older than 24 hours; returns how many."""
    status: str = await conn.execute(query("runs.expire_idempotency"))
    return affected(status)


async def insert(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    session_id: UUID,
    session_key: str,
    agent_id: UUID,
    user_id: str,
    process_id: str,
    idempotency_key: str | None,
) -> RunRow:
    """Raises: AlreadyExists when the session already has an active run or the idempotency key is
    taken (the caller decides which and what to answer)."""
    try:
        row = await conn.fetchrow(
            query("runs.insert"),
            tenant_id,
            session_id,
            session_key,
            agent_id,
            user_id,
            process_id,
            idempotency_key,
        )
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="run", id=session_key) from None
    return one(row, RunRow)


async def get(conn: asyncpg.Connection, tenant_id: UUID, run_id: UUID) -> RunRow | None:
    return maybe(await conn.fetchrow(query("runs.get"), tenant_id, run_id), RunRow)


async def active_for_session(conn: asyncpg.Connection, tenant_id: UUID, session_id: UUID) -> RunRow | None:
    return maybe(await conn.fetchrow(query("runs.active_for_session"), tenant_id, session_id), RunRow)


async def by_idempotency(conn: asyncpg.Connection, tenant_id: UUID, user_id: str, key: str) -> RunRow | None:
    return maybe(await conn.fetchrow(query("runs.by_idempotency"), tenant_id, user_id, key), RunRow)


async def finish(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    run_id: UUID,
    *,
    status: str,
    result: Any,
    error: str,
    input_tokens: int,
    output_tokens: int,
) -> bool:
    """Mark a running run ended; False when it had already ended (e.g. failed by a sweeper)."""
    done = await conn.fetchval(
        query("runs.finish"), tenant_id, run_id, status, result, error, input_tokens, output_tokens
    )
    return done is not None


class Unseen(msgspec.Struct, kw_only=True):
    idx: int
    content: str


class Checkpoint(msgspec.Struct, kw_only=True):
    """What ``checkpoint`` did: the first appended message's index, and the user messages that
    came in meanwhile."""

    idx: int
    unseen: list[Unseen]


async def checkpoint(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    session_id: UUID,
    run_id: UUID,
    messages: list[dict[str, Any]],
    *,
    last_seen: int,
) -> Checkpoint:
    """Append a run's finished tool round (``messages``: role, content, thinking, tool_calls,
    tool_call_id, is_error) at the session's next indexes, and read the user messages after
    ``last_seen``: one statement, one commit.

    Raises: NotFound when the session is gone.
    """
    row = await conn.fetchrow(query("runs.checkpoint"), tenant_id, session_id, messages, last_seen, run_id)
    if row is None:
        raise NotFound(kind="session", id=str(session_id))
    return one(row, Checkpoint)


class RunEnd(msgspec.Struct, kw_only=True):
    """What ``finish_completed`` did: the answer's index; the user messages that came in meanwhile
    (then the run goes on); else the session's new ``updated_at`` (``version``)."""

    idx: int
    unseen: list[Unseen]
    version: datetime | None


async def finish_completed(
    conn: asyncpg.Connection,
    tenant_id: UUID,
    session_id: UUID,
    run_id: UUID,
    *,
    last_seen: int,
    content: str,
    thinking: str,
    result: dict[str, Any],
    input_tokens: int,
    output_tokens: int,
    model: str,
    provider: str,
) -> RunEnd:
    """Append a run's answer and, unless user messages after ``last_seen`` came in meanwhile, mark
    the run completed (``result`` plus the answer's ``message_id``) and add its tokens to the
    session: one statement (``clawgate_finish_run``), one commit.

    Raises: NotFound when the session is gone.
    """
    payload = {
        "tenant_id": tenant_id, "session_id": session_id, "run_id": run_id, "last_seen": last_seen,
        "content": content, "thinking": thinking, "result": result, "input_tokens": input_tokens,
        "output_tokens": output_tokens, "model": model, "provider": provider,
    }  # fmt: skip
    try:
        row = await conn.fetchrow(query("runs.finish_completed"), payload)
    except asyncpg.NoDataFoundError:
        raise NotFound(kind="session", id=str(session_id)) from None
    return one(row, RunEnd)


class SendDecision(msgspec.Struct, kw_only=True):
    """What ``decide_send`` did (``outcome``): ``forbidden`` (the session is another user's),
    ``replay`` (``run``: the earlier run of the idempotency key), ``abort`` or ``injected``
    (``active``: the session's active run), or ``started`` (``run``: the new run; ``user_idx``: the
    user message's index). ``session`` as it was before the user message; ``on_board``: whether the
    agent is on a board (a run of it gets the board tools)."""

    outcome: Literal["forbidden", "replay", "abort", "injected", "started"]
    session: SessionRow
    run: RunRow | None = None
    active: UUID | None = None
    user_idx: int | None = None
    on_board: bool = False


async def decide_send(
    conn: asyncpg.Connection,
    *,
    tenant_id: UUID,
    key: str,
    agent_id: UUID,
    user_id: str,
    channel: str,
    content: str,
    metadata: dict[str, Any],
    sees_all: bool,
    idempotency_key: str | None,
    cancel: bool,
    process_id: str,
) -> SendDecision:
    """``chat.send``'s decision in one statement (``clawgate_decide_send``): under the session's row
    lock (creating the session), replay, abort (``cancel`` and a run is active), inject into the
    active run, or store the user message and a new run.

    Raises: AlreadyExists when the new run lost a race (another send started one, or took the key).
    """
    payload = {
        "tenant_id": tenant_id, "key": key, "agent_id": agent_id, "user_id": user_id, "channel": channel,
        "content": content, "metadata": metadata, "sees_all": sees_all, "idempotency_key": idempotency_key,
        "cancel": cancel, "process_id": process_id,
    }  # fmt: skip
    try:
        row = await conn.fetchrow(query("runs.decide_send"), payload)
    except asyncpg.UniqueViolationError:
        raise AlreadyExists(kind="run", id=key) from None
    return msgspec.convert(dict(row.items()), SendDecision, strict=False)


async def heartbeat(conn: asyncpg.Connection, process_id: str) -> None:
    await conn.execute(query("runs.heartbeat"), process_id)


async def running_processes(conn: asyncpg.Connection, own_process: str) -> list[str]:
    return [str(r["process_id"]) for r in await conn.fetch(query("runs.running_processes"), own_process)]


async def fail_process(conn: asyncpg.Connection, process_id: str, reason: str) -> list[FailedRun]:
    """Fail every run still marked running by ``process_id``; returns what was failed."""
    return many(await conn.fetch(query("runs.fail_process"), process_id, reason), FailedRun)


async def hold_liveness(conn: asyncpg.Connection, process_id: str) -> None:
    """Take ``process_id``'s liveness lock, held for as long as ``conn`` lives: a connection of its
    own (``clawgate.store.db.connect``), never a pooled one.

    Raises: Unreachable when the connection fails meanwhile.
    """
    try:
        await conn.execute(query("runs.hold_liveness"), _LIVENESS, process_id)
    except (*CONNECTION_ERRORS, asyncpg.PostgresError) as exc:
        raise Unreachable(str(exc)) from exc


async def liveness_free(conn: asyncpg.Connection, process_id: str) -> bool:
    """Whether no session holds ``process_id``'s liveness lock (its process is gone).

    Call it inside a transaction: the probe takes the lock when it is free, until the transaction
    ends, so that it is never left on a pooled connection (the pool does not reset them).
    """
    return bool(await conn.fetchval(query("runs.liveness_free"), _LIVENESS, process_id))


async def other_live_processes(conn: asyncpg.Connection, process_id: str) -> int:
    """How many processes other than ``process_id`` hold a liveness lock on this database now."""
    return int(await conn.fetchval(query("runs.other_live_processes"), _LIVENESS, process_id))
