"""The other façades wake agents the way Mission Control does (issue 14), against the loopback LLM
stand-in: a ClawTasker directive or conversation message to an agent starts a run of it in its
session of the thread, and an assignment through GoClaw's ``teams.tasks.*`` or ClawTasker's
``tasks/update`` starts one in its team session; each through a ``notifications`` row claimed once
(a second process starts nothing) with the delivery recorded."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ServerFactory
from tests.runtime.conftest import ChatSetup
from tests.runtime.test_board_loop import B, _board, _idle, _notifications, _quiet_task, _turns, _until
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply


async def _sent(chat: ChatSetup, count: int) -> list[dict[str, Any]]:
    async def check() -> Any:
        notes = await _notifications(chat, chat.agent["id"])
        return notes if len(notes) >= count and all(n["status"] != "pending" for n in notes) else None

    found: list[dict[str, Any]] = await _until(check)
    return found


async def _ct(chat: ChatSetup, path: str, body: dict[str, Any], status: int = 200) -> Any:
    async with chat.server.client(GATEWAY_TOKEN) as http:
        res = await http.post(f"/api/{path}", json=body)
    assert res.status_code == status, res.text
    return res.json()


async def _session_of_run(chat: ChatSetup, run_id: Any) -> str:
    async with chat.server.gateway.db.connection() as conn:
        key: str = await conn.fetchval("SELECT session_key FROM runs WHERE id = $1", run_id)
    return key


class TestClawTasker:
    async def test_a_directive_wakes_its_target_once(
        self, chat: ChatSetup, make_server: ServerFactory
    ) -> None:
        """``ceo/directive`` to helper starts one run of helper in agent:helper:clawtasker:th-ceo-helper
        with the CEO DIRECTIVE message naming the backlog task it made (whose own assignment wakes
        nothing more); a second process delivering the same notification starts nothing; a
        directive to a target that is no agent queues nothing; bad input is CT's 400."""
        chat.upstream.script(Reply(content="On it."))
        made = await _ct(
            chat, "ceo/directive", {"target": "helper", "text": "Audit the logs", "project_id": ""}
        )
        task = made["directive"]["task_id"]
        (note,) = await _sent(chat, 1)
        assert (note["kind"], note["status"], note["last_error"]) == ("ct.directive", "sent", None)
        assert note["session_key"] == "agent:helper:clawtasker:th-ceo-helper"
        assert await _session_of_run(chat, note["run_id"]) == note["session_key"]
        await _until(lambda: _turns(chat, 1))
        said = json.dumps(chat.upstream.turns[0]["messages"])
        assert "CEO DIRECTIVE" in said
        assert "Audit the logs" in said
        assert task in said
        await _until(lambda: _idle(chat))
        other = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        await other.gateway.clawtasker.loop.deliver([note["id"]])  # type: ignore[union-attr]
        async with chat.server.gateway.db.connection() as conn:
            assert await conn.fetchval("SELECT attempts FROM notifications WHERE id = $1", note["id"]) == 1
            assert await conn.fetchval("SELECT count(*) FROM runs") == 1
        await _ct(chat, "ceo/directive", {"target": "nobody", "text": "x", "create_task": False})
        assert len(await _notifications(chat, chat.agent["id"])) == 1
        bad = await _ct(chat, "ceo/directive", {"target": "helper", "text": ""}, 400)
        assert bad == {"error": "text is required"}
        bad = await _ct(chat, "ceo/directive", {"target": ["helper"], "text": "x"}, 400)
        assert list(bad) == ["error"]

    async def test_a_message_wakes_the_other_participant(self, chat: ChatSetup) -> None:
        """A CEO message to helper wakes helper in its session of the thread, and one sent by thread
        id does too; an ``ack`` wakes nobody, and neither does helper's own message to the CEO."""
        chat.upstream.script(Reply(content="Hello."), Reply(content="Again."))
        sent = await _ct(
            chat, "conversations/message", {"sender": "ceo", "target": "helper", "text": "Status?"}
        )
        thread = sent["thread"]["id"]
        assert thread == "TH-CEO-HELPER"
        await _sent(chat, 1)
        await _until(lambda: _idle(chat))
        await _ct(
            chat, "conversations/message", {"thread_id": thread, "sender": "ceo", "text": "And the logs?"}
        )
        await _ct(chat, "conversations/message", {"thread_id": thread, "sender": "helper", "text": "ok"})
        await _ct(
            chat,
            "conversations/message",
            {"thread_id": thread, "sender": "ceo", "text": "k", "category": "ack"},
        )
        notes = await _sent(chat, 2)
        assert [(n["kind"], n["status"]) for n in notes] == [("ct.message", "sent")] * 2
        assert {n["session_key"] for n in notes} == {"agent:helper:clawtasker:th-ceo-helper"}
        assert "Message: And the logs?" in notes[1]["body"]
        await _until(lambda: _turns(chat, 2))
        assert "NEW MESSAGE" in json.dumps(chat.upstream.turns[1]["messages"])
        assert await _ct(chat, "conversations/message", {"thread_id": "TH-NONE", "text": "x"}, 400) == {
            "error": "unknown thread: TH-NONE"
        }


class TestAssignments:
    async def test_goclaw_and_clawtasker_assignments_wake_the_assignee(self, chat: ChatSetup) -> None:
        """``teams.tasks.create {assignTo}``, ``teams.tasks.assign`` and CT ``tasks/update`` giving
        the task to helper each wake helper in agent:helper:mc:<team> with TASK ASSIGNED; assigning
        it again to the same agent, and a self-claim on CT, wake nobody."""
        board = await _board(chat)
        chat.upstream.script(*[Reply(content=f"Ack {n}.") for n in range(3)])
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            made = await ws.ok(
                "teams.tasks.create", {"teamId": board, "subject": "Made", "assignTo": "helper"}
            )
            second = await _quiet_task(chat, board, "Later")
            await ws.ok("teams.tasks.assign", {"teamId": board, "taskId": second, "agentId": "helper"})
            await ws.ok("teams.tasks.assign", {"teamId": board, "taskId": second, "agentId": "helper"})
            err = await ws.call("teams.tasks.assign", {"teamId": board, "taskId": second, "agentId": "ghost"})
            assert err["ok"] is False
        third = await _quiet_task(chat, board, "CT owned")
        async with chat.server.client(GATEWAY_TOKEN) as http:
            snap = (await http.get("/api/snapshot")).json()
        number = next(t["id"] for t in snap["tasks"] if t["title"] == "CT owned")
        await _ct(chat, "tasks/update", {"task": {"id": number, "owner": "helper"}})
        await _ct(chat, "tasks/update", {"task": {"id": number, "owner": "boss"}, "updated_by": "boss"})
        bad = await _ct(chat, "tasks/update", {"task": {"id": number, "owner": "ghost"}}, 400)
        assert bad == {"error": "unknown owner: ghost"}
        notes = await _sent(chat, 3)
        assert [(n["kind"], n["status"]) for n in notes] == [("task.assigned", "sent")] * 3
        assert {n["session_key"] for n in notes} == {f"agent:helper:mc:{board}"}
        bodies = [n["body"] for n in notes]
        assert made["task"]["id"] in bodies[0]
        assert second in bodies[1]
        assert third in bodies[2]
        await _until(lambda: _turns(chat, 3))
        async with chat.server.gateway.db.connection() as conn:
            boss = await conn.fetchval("SELECT count(*) FROM notifications WHERE kind = 'task.assigned' "
                                       "AND recipient_id <> $1", chat.agent["id"])  # fmt: skip
        assert boss == 0

    async def test_a_wake_into_a_busy_session_joins_its_run(self, chat: ChatSetup) -> None:
        """A second assignment while the first one's run is still answering (the upstream takes 2 s)
        joins that run: the notification is sent, with the session and the run it joined."""
        board = await _board(chat)
        chat.upstream.script(Reply(content="Slow.", delay=2.0), Reply(content="Then."))
        first, second = await _quiet_task(chat, board, "One"), await _quiet_task(chat, board, "Two")
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("teams.tasks.assign", {"teamId": board, "taskId": first, "agentId": "helper"})
            await _until(lambda: _turns(chat, 1))  # the first run is waiting on the upstream
            await ws.ok("teams.tasks.assign", {"teamId": board, "taskId": second, "agentId": "helper"})
        one, two = await _sent(chat, 2)
        assert (one["status"], two["status"]) == ("sent", "sent")
        assert one["session_key"] == two["session_key"] == f"agent:helper:mc:{board}"
        assert one["run_id"] is not None
        assert two["run_id"] == one["run_id"]


class TestWakeWithoutMessage:
    async def test_a_task_started_with_its_assignee_wakes_it_without_a_message(self, chat: ChatSetup) -> None:
        """A task helper already owns, started by someone else, wakes helper with no message text
        (reference 2.6), on each façade: MC's PATCH to in_progress, GoClaw's ``teams.tasks.assign``
        of its own waiting task, CT's ``tasks/update`` by the CEO. Without a heartbeat no run
        starts (no empty user turn reaches the provider) and the row says why; with helper's
        heartbeat enabled the wake makes it due now and its checklist runs. Helper starting a
        task itself (CT ``tasks/event started``) wakes nobody."""
        board = await _board(chat)

        async def owned(title: str) -> dict[str, Any]:
            body = {
                "title": title,
                "owner": "helper",
                "reporter": "helper",
                "status": "ready",
                "project_id": board,
            }
            made: dict[str, Any] = (await _ct(chat, "tasks/create", body))["task"]
            return made

        mc, gc, ct, own = [await owned(t) for t in ("MC one", "GC one", "CT one", "Own one")]
        async with chat.admin() as http:
            res = await http.patch(f"{B}/{board}/tasks/{mc['uuid']}", json={"status": "in_progress"})
            assert res.status_code == 200, res.text
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("teams.tasks.assign", {"teamId": board, "taskId": gc["uuid"], "agentId": "helper"})
        await _ct(chat, "tasks/update", {"task": {"id": ct["id"], "status": "in_progress"}})
        await _ct(chat, "tasks/event", {"type": "started", "task_id": own["id"], "agent_id": "helper"})
        notes = await _sent(chat, 3)
        assert len(notes) == 3
        assert [(n["kind"], n["body"], n["status"]) for n in notes] == [("task.woken", "", "failed")] * 3
        assert all("heartbeat" in n["last_error"] for n in notes)
        assert [n["run_id"] for n in notes] == [None] * 3
        async with chat.server.gateway.db.connection() as conn:
            assert (
                await conn.fetchval("SELECT count(*) FROM runs WHERE session_key LIKE 'agent:helper:%'") == 0
            )
        assert chat.upstream.turns == []

        chat.upstream.script(Reply(content="HEARTBEAT_OK"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("heartbeat.checklist.set", {"agentId": "helper", "content": "- look at task board"})
            await ws.ok("heartbeat.set", {"agentId": "helper", "enabled": True})
            again = await owned("MC two")
            async with chat.admin() as http:
                res = await http.patch(f"{B}/{board}/tasks/{again['uuid']}", json={"status": "in_progress"})
                assert res.status_code == 200, res.text
            await _until(lambda: _turns(chat, 1))
        woken = (await _sent(chat, 4))[3]
        assert (woken["kind"], woken["status"], woken["last_error"]) == ("task.woken", "sent", None)
        said = chat.upstream.turns[0]["messages"]
        assert "- look at task board" in json.dumps(said)
        assert all(m.get("content") for m in said if m["role"] == "user")
