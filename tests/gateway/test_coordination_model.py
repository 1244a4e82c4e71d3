"""The shared coordination model's rules against real PostgreSQL, through the running gateway's
services (issue 14, build item 1): dependency cycles and cross-team dependencies are refused, at
most one approval per task is pending even when requests race, the event log's cursor never skips
a late commit, and the per-surface status names."""

from __future__ import annotations

import asyncio
from uuid import UUID

import pytest

from clawgate.errors import FailedPrecondition, NotFound
from clawgate.principal import Principal, Role
from clawgate.services.tasks import goclaw_status, mc_status
from clawgate.services.teams import TeamCreate
from clawgate.store import coord_events
from clawgate.store import tasks as task_store
from clawgate.store.coord_events import EventRow, NewEvent
from clawgate.store.tasks import ApprovalRow, NewTask
from clawgate.store.tenants import MASTER_TENANT_ID
from tests.conftest import ServerFactory
from tests.support import GATEWAY_TOKEN, RunningServer, add_stub_provider

ADMIN = Principal(role=Role.ADMIN, user_id="owner", tenant_id=MASTER_TENANT_ID)


@pytest.fixture(name="gw")
async def _gw(make_server: ServerFactory) -> RunningServer:
    server = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
    await add_stub_provider(server)
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        for key in ("lead-1", "lead-2", "worker"):
            res = await http.post("/v1/agents", json={"agent_key": key, "provider": "stub", "model": "m"})
            assert res.status_code == 201, res.text
    return server


async def _team(gw: RunningServer, lead: str) -> UUID:
    team = await gw.gateway.teams.create_team(
        ADMIN, TeamCreate(name=f"team of {lead}", lead=lead, members=["worker"])
    )
    return UUID(team.id)


async def _tasks(gw: RunningServer, team_id: UUID, n: int) -> list[UUID]:
    tasks, out = gw.gateway.tasks, list[EventRow]()
    async with gw.gateway.db.transaction() as conn:
        return [
            await tasks.create(conn, MASTER_TENANT_ID, NewTask(team_id=team_id, title=f"t{i}"), out)
            for i in range(n)
        ]


class TestDependencies:
    async def test_cycles_self_and_cross_team_dependencies_are_refused(self, gw: RunningServer) -> None:
        """a -> b -> c is fine; c -> a closes a cycle; a -> a is refused; a task of another team is
        NOT_FOUND with ``missing_task_ids``; a refused edit changes nothing."""
        tasks, db = gw.gateway.tasks, gw.gateway.db
        team, other = await _team(gw, "lead-1"), await _team(gw, "lead-2")
        a, b, c = await _tasks(gw, team, 3)
        (foreign,) = await _tasks(gw, other, 1)
        async with db.transaction() as conn:
            await tasks.set_dependencies(conn, MASTER_TENANT_ID, team, a, [b])
            await tasks.set_dependencies(conn, MASTER_TENANT_ID, team, b, [c])
        for task, deps in ((c, [a]), (a, [a])):
            with pytest.raises(FailedPrecondition) as caught:
                async with db.transaction() as conn:
                    await tasks.set_dependencies(conn, MASTER_TENANT_ID, team, task, deps)
            assert caught.value.details["code"] == "dependency_cycle"
        with pytest.raises(NotFound) as missing:
            async with db.transaction() as conn:
                await tasks.set_dependencies(conn, MASTER_TENANT_ID, team, c, [foreign])
        assert missing.value.details["missing_task_ids"] == [str(foreign)]
        assert (await tasks.get(MASTER_TENANT_ID, a)).blocked_by == [b]
        assert (await tasks.get(MASTER_TENANT_ID, c)).depends_on == []

    async def test_racing_edits_cannot_close_a_cycle_together(self, gw: RunningServer) -> None:
        """x -> y and y -> x sent at the same time: exactly one wins (the team's graph lock)."""
        tasks, db = gw.gateway.tasks, gw.gateway.db
        team = await _team(gw, "lead-1")
        x, y = await _tasks(gw, team, 2)

        async def edit(task: UUID, dep: UUID) -> bool:
            try:
                async with db.transaction() as conn:
                    await tasks.set_dependencies(conn, MASTER_TENANT_ID, team, task, [dep])
                    await asyncio.sleep(0.05)  # hold the transaction open while the other one tries
            except FailedPrecondition:
                return False
            return True

        assert sorted(await asyncio.gather(edit(x, y), edit(y, x))) == [False, True]


class TestApprovals:
    async def test_one_pending_approval_per_task_even_when_racing(self, gw: RunningServer) -> None:
        """Ten concurrent requests for the same task: one is created, nine get the conflict naming
        it; once resolved, a new pending one may be made; re-opening the old one then conflicts."""
        tasks, db = gw.gateway.tasks, gw.gateway.db
        team = await _team(gw, "lead-1")
        (task,) = await _tasks(gw, team, 1)

        async def request() -> UUID | list[dict[str, str]]:
            out: list[EventRow] = []
            try:
                async with db.transaction() as conn:
                    return await tasks.request_approval(
                        conn, MASTER_TENANT_ID, team, [task], out, agent_id=None, action_type="deploy",
                        payload={"reason": "r"}, confidence=90, rubric_scores=None,
                    )  # fmt: skip
            except FailedPrecondition as exc:
                conflicts: list[dict[str, str]] = exc.details["conflicts"]
                return conflicts

        results = await asyncio.gather(*(request() for _ in range(10)))
        made = [r for r in results if isinstance(r, UUID)]
        assert len(made) == 1
        assert all(
            r == [{"task_id": str(task), "approval_id": str(made[0])}] for r in results if r not in made
        )
        out: list[EventRow] = []
        async with db.transaction() as conn:
            first = await _approval(gw, made[0])
            await tasks.resolve_approval(conn, MASTER_TENANT_ID, first, "rejected", "owner", out)
        second = await request()
        assert isinstance(second, UUID)
        with pytest.raises(FailedPrecondition):
            async with db.transaction() as conn:
                await tasks.resolve_approval(
                    conn, MASTER_TENANT_ID, await _approval(gw, made[0]), "pending", "o", out
                )


async def _approval(gw: RunningServer, approval_id: UUID) -> ApprovalRow:
    async with gw.gateway.db.connection() as conn:
        found = await task_store.get_approval(conn, MASTER_TENANT_ID, approval_id)
    assert found is not None
    return found


class TestEventLog:
    async def test_a_cursor_never_skips_a_late_commit(self, gw: RunningServer) -> None:
        """Event 1 is appended in a transaction left open while event 2 commits: a reader sees
        neither until 1 commits (2 waits behind it), then both, in order."""
        db = gw.gateway.db
        team = await _team(gw, "lead-1")
        start = max(
            [e.seq for e in await gw.gateway.tasks.events_after(MASTER_TENANT_ID, 0, coord_events.Where())]
        )
        where = coord_events.Where(team_id=team)
        async with db.transaction() as slow:
            first = await coord_events.append(
                slow, MASTER_TENANT_ID, NewEvent(kind="test.first", team_id=team)
            )
            async with db.transaction() as fast:
                second = await coord_events.append(
                    fast, MASTER_TENANT_ID, NewEvent(kind="test.second", team_id=team)
                )
            assert second.seq > first.seq
            assert await gw.gateway.tasks.events_after(MASTER_TENANT_ID, start, where) == []
        seen = await gw.gateway.tasks.events_after(MASTER_TENANT_ID, start, where)
        assert [e.kind for e in seen] == ["test.first", "test.second"]


@pytest.mark.parametrize(
    ("status", "blocked", "goclaw", "mc"),
    [
        ("backlog", False, "pending", "inbox"),
        ("ready", False, "pending", "inbox"),
        ("ready", True, "blocked", "inbox"),
        ("in_progress", True, "in_progress", "in_progress"),
        ("review", False, "in_review", "review"),
        ("done", False, "completed", "done"),
        ("cancelled", False, "cancelled", "done"),
    ],
)
def test_each_surface_names_the_canonical_statuses(status: str, blocked: bool, goclaw: str, mc: str) -> None:
    """The canonical status as GoClaw and Mission Control name it."""
    assert (goclaw_status(status, blocked), mc_status(status)) == (goclaw, mc)
