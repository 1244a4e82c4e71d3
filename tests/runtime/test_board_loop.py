"""The loop closed (issue 14, build item 4) against the loopback LLM stand-in: a task assigned to an
agent on Mission Control wakes a real run of that agent in its board session, the agent's
``task_update`` / ``task_comment`` tool calls move the task through the same rules, the delivery is
recorded once (two processes claiming one notification start one run), and the board tools are
offered only to agents on a board."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from uuid import UUID

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply

B = "/api/v1/boards"


def _call(tool: str, **args: Any) -> Reply:
    return Reply(tool_calls=[(tool, json.dumps(args))])


def _tool_names(turn: dict[str, Any]) -> set[str]:
    return {t.get("name") or t["function"]["name"] for t in turn.get("tools") or []}


async def _board(chat: ChatSetup) -> str:
    """A team (= board) led by boss with helper as a worker; done needs no approval. The PATCH
    that sets it wakes boss (BOARD UPDATED, a run: checked here); the stand-in's log of requests
    starts after that run, so a test's script and turns are its own."""
    boss = await chat.add_agent(agent_key="boss", display_name="Boss")
    async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
        team = (await ws.ok("teams.create", {"name": "Ops", "lead": "boss", "members": ["helper"]}))["team"]
    async with chat.admin() as http:
        res = await http.patch(f"{B}/{team['id']}", json={"require_approval_for_done": False})
        assert res.status_code == 200, res.text

    async def told() -> list[dict[str, Any]] | None:
        notes = await _notifications(chat, str(boss["id"]))
        return notes if notes and notes[-1]["status"] != "pending" and await _idle(chat) else None

    (note,) = await _until(told)
    assert (note["kind"], note["status"]) == ("board.update", "sent")
    assert "require_approval_for_done: True -> False" in note["body"]
    await _until(lambda: _turns(chat, 1))
    assert "BOARD UPDATED" in json.dumps(chat.upstream.turns[-1]["messages"])
    await _until(lambda: _idle(chat))
    chat.upstream.requests.clear()
    return str(team["id"])


async def _quiet_task(chat: ChatSetup, board: str, subject: str) -> str:
    """A task made through GoClaw's façade (no MC notification, so no run consumes the script)."""
    async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
        made = await ws.ok("teams.tasks.create", {"teamId": board, "subject": subject})
    return str(made["task"]["id"])


async def _until(check: Any, seconds: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def _notifications(chat: ChatSetup, agent_id: str) -> list[dict[str, Any]]:
    async with chat.server.gateway.db.connection() as conn:
        rows = await conn.fetch(
            "SELECT id, kind, status, run_id, session_key, last_error, body FROM notifications "
            "WHERE recipient_id = $1 ORDER BY created_at",
            agent_id,
        )
    return [dict(r) for r in rows]


async def test_an_assigned_task_wakes_the_agent_whose_tools_move_it(chat: ChatSetup) -> None:
    """Assigning a task to helper starts a run of helper (session agent:helper:mc:<board>) with the
    TASK ASSIGNED message; its task_update claims it in_progress and its task_comment lands on the
    task as helper's; a change a worker may not make (assigning) comes back to the model as the
    tool's error; the notification is recorded sent with the run id."""
    board = await _board(chat)
    task = await _quiet_task(chat, board, "Rotate the keys")
    chat.upstream.script(
        _call("tasks_list", mine=True),
        _call("task_update", task_id=task, status="in_progress"),
        _call("task_comment", task_id=task, message="Started on the rotation."),
        _call("task_update", task_id=task, status="in_progress", assigned_agent_id=chat.agent["id"]),
        _call("tasks_list", status="blocked"),
        Reply(content="On it."),
    )
    async with chat.admin() as http:
        res = await http.patch(f"{B}/{board}/tasks/{task}", json={"assigned_agent_id": chat.agent["id"]})
        assert res.status_code == 200, res.text

    async def moved() -> Any:
        async with chat.admin() as http:
            got = (await http.get(f"{B}/{board}/tasks/{task}")).json()
            comments = (await http.get(f"{B}/{board}/tasks/{task}/comments")).json()["items"]
        return (got, comments) if got["status"] == "in_progress" and comments else None

    got, comments = await _until(moved)
    assert got["assigned_agent_id"] == chat.agent["id"]
    assert got["in_progress_at"] is not None
    assert [(c["message"], c["agent_id"]) for c in comments] == [
        ("Started on the rotation.", chat.agent["id"])
    ]
    first = chat.upstream.turns[0]
    assert "TASK ASSIGNED" in json.dumps(first["messages"])
    assert task in json.dumps(first["messages"])
    assert {"tasks_list", "task_update", "task_comment", "board_chat", "approval_request"} <= _tool_names(
        first
    )
    await _until(lambda: _done(chat))
    results = [m["content"] for m in chat.upstream.turns[-1]["messages"] if m["role"] == "tool"]
    listed, updated, commented, refused, bad_status = results
    assert json.loads(listed)["tasks"][0]["id"] == task
    assert json.loads(updated)["status"] == "in_progress"
    assert json.loads(commented)["task_id"] == task
    assert "may only update status, comment and custom fields" in refused
    assert "unknown status: blocked" in bad_status
    (note,) = await _notifications(chat, chat.agent["id"])
    assert (note["kind"], note["status"], note["last_error"]) == ("task.assigned", "sent", None)
    assert note["session_key"] == f"agent:helper:mc:{board}"
    async with chat.server.gateway.db.connection() as conn:
        run = await conn.fetchrow("SELECT session_key FROM runs WHERE id = $1", note["run_id"])
    assert run["session_key"] == note["session_key"]


async def _done(chat: ChatSetup) -> bool:
    return len(chat.upstream.turns) >= 6


async def test_comment_mention_and_approval_reach_the_lead_once(
    chat: ChatSetup, make_server: ServerFactory
) -> None:
    """A worker's comment @mentioning the lead and a user resolving an approval each make one
    notification for boss that becomes a run; a second process claiming the same notification
    starts nothing (the claim is decided in PostgreSQL); an agent on no board gets no board tools."""
    board = await _board(chat)
    boss = await _lead_id(chat)
    task = await _quiet_task(chat, board, "Ship")
    chat.upstream.script(Reply(content="Seen."), Reply(content="Noted."))
    helper = chat.server.gateway.agent_api
    me = await helper.caller_of(_tenant(chat), UUID(chat.agent["id"]))
    assert me is not None
    await chat.server.gateway.boards.add_comment(me.principal, UUID(board), UUID(task), "@boss have a look",
                                                 me.actor(UUID(board)))  # fmt: skip
    async with chat.admin() as http:
        body = {"action_type": "deploy", "task_id": task, "confidence": 90, "payload": {"reason": "go"}}
        approval = (await http.post(f"{B}/{board}/approvals", json=body)).json()
        res = await http.patch(f"{B}/{board}/approvals/{approval['id']}", json={"status": "approved"})
        assert res.status_code == 200, res.text

    async def both_sent() -> Any:
        notes = await _notifications(chat, boss)
        return notes if len(notes) == 3 and all(n["status"] == "sent" for n in notes) else None

    _, *notes = await _until(both_sent)  # the first is _board's BOARD UPDATED (checked there)
    assert [n["kind"] for n in notes] == ["task.mention", "approval.resolved"]
    assert "APPROVAL RESOLVED" in notes[1]["body"]
    assert "Decision: approved" in notes[1]["body"]
    await _until(lambda: _turns(chat, 2))
    await _until(lambda: _idle(chat))  # else the race's run would join a run still finishing
    other = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
    async with chat.server.gateway.db.connection() as conn:
        runs_before = await conn.fetchval("SELECT count(*) FROM runs")
        fresh = await conn.fetchval(
            "INSERT INTO notifications (tenant_id, recipient_kind, recipient_id, kind, body, channel, team_id) "
            "VALUES ($1, 'agent', $2, 'board.chat', 'BOARD CHAT race', 'gateway_session', $3) RETURNING id",
            _tenant(chat), boss, UUID(board),
        )  # fmt: skip
    await asyncio.gather(
        chat.server.gateway.boards.loop.deliver([notes[0]["id"], fresh]),  # type: ignore[union-attr]
        other.gateway.boards.loop.deliver([notes[0]["id"], fresh]),  # type: ignore[union-attr]
    )
    async with chat.server.gateway.db.connection() as conn:
        runs_after = await conn.fetchval("SELECT count(*) FROM runs")
        attempts = await conn.fetchval("SELECT attempts FROM notifications WHERE id = $1", fresh)
    assert runs_after - runs_before == 1
    assert attempts == 1
    loner = await chat.add_agent(agent_key="loner")
    async with chat.admin() as http:
        res = await http.post("/v1/agents/loner/wake", json={"message": "hi"})
        assert res.status_code == 200, res.text
    assert loner["id"]
    assert not _tool_names(chat.upstream.turns[-1]) & {"tasks_list", "task_update", "board_chat"}


async def _idle(chat: ChatSetup) -> bool:
    async with chat.server.gateway.db.connection() as conn:
        return not await conn.fetchval("SELECT count(*) FROM runs WHERE status = 'running'")


async def _turns(chat: ChatSetup, n: int) -> bool:
    return len(chat.upstream.turns) >= n


async def _lead_id(chat: ChatSetup) -> str:
    async with chat.admin() as http:
        agents = (await http.get("/v1/agents")).json()
    items = agents if isinstance(agents, list) else agents.get("agents") or agents.get("items") or []
    return str(next(a["id"] for a in items if a["agent_key"] == "boss"))


def _tenant(chat: ChatSetup) -> UUID:
    from clawgate.store.tenants import MASTER_TENANT_ID

    return MASTER_TENANT_ID


async def test_a_notification_left_unclaimed_is_swept_up(chat: ChatSetup) -> None:
    """A notification whose process died between its commit and its claim (pending, unclaimed, past
    30 s) is delivered by the next background round; a fresh one is left to its own process."""
    board = await _board(chat)
    chat.upstream.script(Reply(content="Picked up."))
    async with chat.server.gateway.db.connection() as conn:
        old, fresh = [
            await conn.fetchval(
                "INSERT INTO notifications (tenant_id, recipient_kind, recipient_id, kind, body, channel, team_id,"
                " created_at) VALUES ($1, 'agent', $2, 'task.assigned', 'TASK ASSIGNED swept', 'gateway_session',"
                " $3, now() - make_interval(secs => $4)) RETURNING id",
                _tenant(chat), chat.agent["id"], UUID(board), age,
            )
            for age in (120.0, 0.0)
        ]  # fmt: skip
    await chat.server.gateway.rounds.run_once()
    async with chat.server.gateway.db.connection() as conn:
        states = dict(
            await conn.fetch("SELECT id, status FROM notifications WHERE id = ANY($1)", [old, fresh])
        )
    assert (states[old], states[fresh]) == ("sent", "pending")
    await _until(lambda: _turns(chat, 1))
    assert "TASK ASSIGNED swept" in json.dumps(chat.upstream.turns[0]["messages"])
    async with chat.server.gateway.db.connection() as conn:  # an agent deleted since: recorded failed
        gone = await conn.fetchval(
            "INSERT INTO notifications (tenant_id, recipient_kind, recipient_id, kind, body, channel, team_id) "
            "VALUES ($1, 'agent', $2, 'task.assigned', 'x', 'gateway_session', $3) RETURNING id",
            _tenant(chat), "00000000-0000-0000-0000-0000000000aa", UUID(board),
        )  # fmt: skip
    await chat.server.gateway.boards.loop.deliver([gone])  # type: ignore[union-attr]
    async with chat.server.gateway.db.connection() as conn:
        failed = await conn.fetchrow(
            "SELECT status, last_error, run_id FROM notifications WHERE id = $1", gone
        )
    assert (failed["status"], failed["run_id"]) == ("failed", None)
    assert "not found" in failed["last_error"]


async def test_agents_waking_each_other_are_limited(make_server: ServerFactory) -> None:
    """With ``rate_limits.agent_wakes_per_10min`` 2, a worker's third comment @mentioning the lead
    within the window starts no run (recorded ``failed`` with why), while a user's mention still
    wakes the lead: agents @mentioning each other cannot wake each other without end."""
    async with chat_setup(make_server, rate_limits__agent_wakes_per_10min=2) as chat:
        board = await _board(chat)
        boss = await _lead_id(chat)
        task = await _quiet_task(chat, board, "Loop")
        me = await chat.server.gateway.agent_api.caller_of(_tenant(chat), UUID(chat.agent["id"]))
        assert me is not None
        for n in range(3):
            await chat.server.gateway.boards.add_comment(me.principal, UUID(board), UUID(task), f"@boss round {n}",
                                                         me.actor(UUID(board)))  # fmt: skip
        async with chat.admin() as http:
            res = await http.post(f"{B}/{board}/tasks/{task}/comments", json={"message": "@boss from a user"})
            assert res.status_code == 200, res.text

        async def settled() -> list[dict[str, Any]] | None:
            notes = await _notifications(chat, boss)
            return notes if len(notes) == 5 and all(n["status"] != "pending" for n in notes) else None

        notes = await _until(settled)
    assert notes[0]["kind"] == "board.update"  # _board's PATCH, a user's: not counted
    assert [n["status"] for n in notes] == ["sent", "sent", "sent", "failed", "sent"]
    assert "woke this agent 2 times in 10 minutes" in notes[3]["last_error"]
    assert "from a user" in notes[4]["body"]


async def test_chat_send_offers_the_board_tools_exactly_while_the_agent_is_on_a_board(
    chat: ChatSetup,
) -> None:
    """A chat.send run learns whether its agent is on a board from the statement that stores the
    message (no query of its own): joining and leaving a board show in the very next run's tools."""
    board_tools = {"tasks_list", "task_update", "task_comment", "board_chat", "approval_request"}
    await chat.add_agent(agent_key="boss", display_name="Boss")
    key = "agent:helper:ws:direct:tools"
    async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
        await ws.ok("chat.send", {"message": "before", "sessionKey": key})
        before = _tool_names(chat.upstream.turns[-1])
        team = (await ws.ok("teams.create", {"name": "Ops", "lead": "boss", "members": ["helper"]}))["team"]
        await ws.ok("chat.send", {"message": "on the board", "sessionKey": key})
        on_board = _tool_names(chat.upstream.turns[-1])
        await ws.ok("teams.members.remove", {"teamId": team["id"], "agentId": "helper"})
        await ws.ok("chat.send", {"message": "after", "sessionKey": key})
        after = _tool_names(chat.upstream.turns[-1])
    assert before  # other tools offered, not the board's
    assert not before & board_tools
    assert board_tools <= on_board
    assert not after & board_tools
