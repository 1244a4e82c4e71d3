"""The agent's ``cron`` and ``heartbeat`` tools in the run loop (issue 12): an agent schedules a job for
the run's user, lists and reads its records, keeps to its own jobs, and manages its own heartbeat."""

from __future__ import annotations

import json
from typing import Any

from tests.runtime.conftest import ChatSetup
from tests.support import GATEWAY_TOKEN, ws_connect
from tests.upstream import Reply


def _call(tool: str, **args: Any) -> Reply:
    return Reply(tool_calls=[(tool, json.dumps(args))])


def _results(turn: dict[str, Any]) -> list[str]:
    return [str(m["content"]) for m in turn["messages"] if m["role"] == "tool"]


async def _wake(chat: ChatSetup, user: str, message: str) -> None:
    async with chat.admin(user) as http:
        res = await http.post("/v1/agents/helper/wake", json={"message": message})
    assert res.status_code == 200, res.text


class TestCronTool:
    async def test_agent_creates_lists_and_deletes_its_own_job(self, chat: ChatSetup) -> None:
        """The job an agent creates belongs to the run's user; a bad schedule comes back to the model
        as an error; another agent's job is out of reach."""
        other = await chat.add_agent(agent_key="other")
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            foreign = (await ws.ok("cron.create", {"name": "theirs", "agentId": "other", "message": "x",
                                                   "schedule": {"kind": "every", "everyMs": 3_600_000}}))["job"]  # fmt: skip
        schedule = {"kind": "cron", "expr": "0 9 * * 1-5", "tz": "Europe/Paris"}
        chat.upstream.script(
            _call("cron", action="create", name="brief", message="write the brief", schedule=schedule),
            _call("cron", action="create", name="bad", message="x", schedule={"kind": "every", "everyMs": 0}),
            _call("cron", action="list"),
            _call("cron", action="delete", jobId=foreign["id"]),
            Reply(content="Scheduled."),
        )
        await _wake(chat, "alice", "Every weekday at 9 Paris time, write the market brief.")
        turn = chat.upstream.turns[-1]
        created, bad, listed, refused = _results(turn)
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            jobs = {j["name"]: j for j in (await ws.ok("cron.list"))["jobs"]}
        assert json.loads(created)["userId"] == "alice"
        assert jobs["brief"]["agentId"] == chat.agent["id"]
        assert jobs["brief"]["schedule"] == schedule
        assert "everyMs" in bad
        assert [j["name"] for j in json.loads(listed)] == ["brief"]
        assert "another agent" in refused
        assert "theirs" in jobs
        assert other["id"] == jobs["theirs"]["agentId"]


class TestHeartbeatTool:
    async def test_agent_sets_its_checklist_and_heartbeat(self, chat: ChatSetup) -> None:
        chat.upstream.script(
            _call("heartbeat", action="set_checklist", content="- check the inbox"),
            _call("heartbeat", action="set", enabled=True, intervalSec=600),
            _call("heartbeat", action="set", intervalSec=60),
            Reply(content="Done."),
        )
        await _wake(chat, "alice", "Check my inbox every 10 minutes.")
        saved, set_, too_often = _results(chat.upstream.turns[-1])
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            hb = (await ws.ok("heartbeat.get", {"agentId": "helper"}))["heartbeat"]
            checklist = await ws.ok("heartbeat.checklist.get", {"agentId": "helper"})
        assert saved == "saved (17 characters)"
        assert json.loads(set_)["intervalSec"] == 600
        assert "300" in too_often
        assert (hb["enabled"], hb["intervalSec"]) == (True, 600)
        assert checklist == {"content": "- check the inbox"}
