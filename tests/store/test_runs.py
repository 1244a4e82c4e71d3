"""The run store's contract with the services: a second active run or a reused idempotency key is
``AlreadyExists`` (no SQLSTATE leaves the store), and the process liveness lock."""

from __future__ import annotations

import pytest

from clawgate.errors import AlreadyExists
from clawgate.store import DbConnection, agents, runs, sessions
from clawgate.store.db import Unreachable, connect
from clawgate.store.tenants import MASTER_TENANT_ID
from clawgate.store.types import AgentFields, SessionRow


async def _session(conn: DbConnection, key: str) -> SessionRow:
    agent = await agents.get_by_key(conn, MASTER_TENANT_ID, "helper") or await agents.insert(
        conn, MASTER_TENANT_ID, AgentFields(agent_key="helper")
    )
    await sessions.insert(conn, MASTER_TENANT_ID, key, agent_id=agent.id, user_id="alice", channel="ws")
    session = await sessions.get(conn, MASTER_TENANT_ID, key)
    assert session is not None
    return session


async def _start(conn: DbConnection, session: SessionRow, idempotency_key: str | None = None) -> None:
    await runs.insert(
        conn, tenant_id=MASTER_TENANT_ID, session_id=session.id, session_key=session.session_key,
        agent_id=session.agent_id, user_id="alice", process_id="p1", idempotency_key=idempotency_key,
    )  # fmt: skip


class TestInsert:
    async def test_second_active_run_of_a_session_is_already_exists(self, conn: DbConnection) -> None:
        """A session runs one run at a time: the second insert is AlreadyExists, not a SQLSTATE."""
        session = await _session(conn, "s1")
        await _start(conn, session)
        with pytest.raises(AlreadyExists):
            await _start(conn, session)

    async def test_reused_idempotency_key_is_already_exists(self, conn: DbConnection) -> None:
        """The same user's idempotency key on another session is AlreadyExists too."""
        await _start(conn, await _session(conn, "s1"), "k1")
        with pytest.raises(AlreadyExists):
            await _start(conn, await _session(conn, "s2"), "k1")


class TestLiveness:
    async def test_lock_is_held_while_its_connection_lives(self, dsn: str, conn: DbConnection) -> None:
        """A process's liveness lock is taken on a connection of its own and is free once that
        connection is gone; the probe leaves nothing held behind it."""
        holder, other = await connect(dsn), await connect(dsn)
        try:
            await runs.hold_liveness(holder, "p1")
            async with conn.transaction():
                held = not await runs.liveness_free(conn, "p1")
            await holder.close()
            async with conn.transaction():
                free = await runs.liveness_free(conn, "p1")
            async with other.transaction():  # the probe's lock ended with its transaction
                free_elsewhere = await runs.liveness_free(other, "p1")
        finally:
            for c in (holder, other):
                await c.close()
        assert held
        assert free
        assert free_elsewhere

    async def test_unreachable_server_is_unreachable(self) -> None:
        """A server that does not answer is ``Unreachable`` with the driver's message."""
        with pytest.raises(Unreachable, match=r"\S"):
            await connect("postgresql://nobody@127.0.0.1:1/none", timeout=5)
