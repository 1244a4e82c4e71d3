"""Agent heartbeats through a real gateway and a loopback model (issue 12): settings and bad input, the
checklist, skips with their reasons (empty checklist, outside active hours, agent busy), the quiet
``HEARTBEAT_OK`` answer, delivery, logs and events, and a cron job waking the heartbeat."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.runtime.conftest import ChatSetup
from tests.support import GATEWAY_TOKEN, WsClient, ws_connect
from tests.upstream import Reply


async def logs(ws: WsClient, want: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The helper agent's heartbeat logs once ``want`` of them have ended."""
    async with asyncio.timeout(timeout):
        while True:
            res = await ws.ok("heartbeat.logs", {"agentId": "helper", "limit": 100})
            if len([e for e in res["logs"] if e["status"] != "running"]) >= want:
                return list(res["logs"])
            await asyncio.sleep(0.1)


def beat(ev: dict[str, Any], action: str) -> bool:
    return ev["event"] == "heartbeat" and ev["payload"]["action"] == action


class TestSettings:
    async def test_get_set_toggle_and_the_checklist(self, chat: ChatSetup) -> None:
        """null until set; GoClaw's defaults; enabling schedules one interval (plus stagger) ahead;
        the checklist is the agent's HEARTBEAT.md."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            assert await ws.ok("heartbeat.get", {"agentId": "helper"}) == {"heartbeat": None}
            hb = (await ws.ok("heartbeat.set", {"agentId": "helper", "enabled": True, "prompt": None}))[
                "heartbeat"
            ]
            assert (hb["intervalSec"], hb["isolatedSession"], hb["ackMaxChars"], hb["maxRetries"]) == (
                1800,
                True,
                300,
                2,
            )
            ahead = (hb["nextRunAtMs"] - time.time() * 1000) / 1000
            assert 1790 < ahead <= 1800 + 180
            again = (await ws.ok("heartbeat.get", {"agentId": chat.agent["id"]}))["heartbeat"]
            assert again["nextRunAtMs"] == hb["nextRunAtMs"]  # reading never moves it
            assert await ws.ok("heartbeat.toggle", {"agentId": "helper", "enabled": False}) == {
                "agentId": "helper", "enabled": False}  # fmt: skip
            assert (await ws.ok("heartbeat.get", {"agentId": "helper"}))["heartbeat"]["nextRunAtMs"] is None
            assert await ws.ok("heartbeat.checklist.get", {"agentId": "helper"}) == {"content": ""}
            saved = await ws.ok(
                "heartbeat.checklist.set", {"agentId": "helper", "content": "- check the queue"}
            )
            assert saved == {"ok": True, "length": 17}
            assert (await ws.ok("heartbeat.checklist.get", {"agentId": "helper"}))[
                "content"
            ] == "- check the queue"
            sent = await ws.ok("chat.send", {"message": "hi", "agentId": "helper"})
            targets = (await ws.ok("heartbeat.targets", {"agentId": "helper"}))["targets"]
        assert {"channel": "ws", "chatId": sent["sessionKey"], "kind": "dm"} in [
            {k: t[k] for k in ("channel", "chatId", "kind")} for t in targets
        ]

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"intervalSec": 299}, "intervalSec"),
            ({"timezone": "Nowhere/City"}, "timezone"),
            ({"activeHoursStart": "25:00", "activeHoursEnd": "06:00"}, "activeHoursStart"),
            ({"activeHoursStart": "09:00"}, "activeHoursEnd"),
            ({"maxRetries": 11}, "maxRetries"),
        ],
    )
    async def test_bad_settings_are_invalid_request(
        self, chat: ChatSetup, params: dict[str, Any], field: str
    ) -> None:
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            res = await ws.call("heartbeat.set", {"agentId": "helper", **params})
            missing = await ws.call("heartbeat.get", {"agentId": "nobody"})
        assert res["error"]["code"] == "INVALID_REQUEST", res
        assert field in str(res["error"])
        assert missing["error"]["code"] == "NOT_FOUND"

    async def test_changes_need_an_admin(self, chat: ChatSetup) -> None:
        """An operator reads heartbeats but may not set, toggle, test or write the checklist."""
        key = await chat.user_key(("operator.write",))
        async with ws_connect(chat.server, token=key, user_id="bob") as ws:
            assert (await ws.ok("heartbeat.logs", {"agentId": "helper"})) == {"logs": [], "total": 0}
            for method, params in (
                ("heartbeat.set", {"agentId": "helper", "enabled": True}),
                ("heartbeat.toggle", {"agentId": "helper", "enabled": True}),
                ("heartbeat.test", {"agentId": "helper"}),
                ("heartbeat.checklist.set", {"agentId": "helper", "content": "x"}),
            ):
                res = await ws.call(method, params)
                assert res["error"]["code"] == "UNAUTHORIZED", (method, res)


class TestRuns:
    async def test_empty_checklist_is_skipped_with_its_reason(self, chat: ChatSetup) -> None:
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("heartbeat.set", {"agentId": "helper", "enabled": True})
            await ws.ok("heartbeat.test", {"agentId": "helper"})
            skipped = await ws.wait_for(lambda e: beat(e, "skipped"))
            [entry] = await logs(ws, 1)
            hb = (await ws.ok("heartbeat.get", {"agentId": "helper"}))["heartbeat"]
        assert skipped["payload"]["reason"] == "empty_checklist"
        assert (entry["status"], entry["skipReason"]) == ("skipped", "empty_checklist")
        assert hb["lastStatus"] == "skipped"
        assert hb["nextRunAtMs"] > time.time() * 1000 + 1700_000  # the next interval
        assert chat.upstream.turns == []

    async def test_outside_active_hours_is_skipped(self, chat: ChatSetup) -> None:
        """A window that ends an hour before now and starts two hours after (it wraps midnight when it must)."""
        now = datetime.now(UTC)
        start, end = (
            (now + timedelta(hours=2)).strftime("%H:%M"),
            (now - timedelta(hours=1)).strftime("%H:%M"),
        )
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("heartbeat.checklist.set", {"agentId": "helper", "content": "- look around"})
            await ws.ok("heartbeat.set", {"agentId": "helper", "enabled": True, "activeHoursStart": start,
                                          "activeHoursEnd": end, "timezone": "UTC"})  # fmt: skip
            await ws.ok("heartbeat.test", {"agentId": "helper"})
            skipped = await ws.wait_for(lambda e: beat(e, "skipped"))
        assert skipped["payload"]["reason"] == "active_hours"
        assert chat.upstream.turns == []

    async def test_quiet_answer_is_suppressed_and_others_are_delivered(self, chat: ChatSetup) -> None:
        """``HEARTBEAT_OK`` is suppressed (counted, not delivered); another answer is posted into the
        ``chatId`` session. The checklist reaches the model."""
        chat.upstream.script(
            Reply(content="first"), Reply(content="HEARTBEAT_OK"), Reply(content="Disk is 95% full!")
        )
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            target = (await ws.ok("chat.send", {"message": "hello", "agentId": "helper"}))["sessionKey"]
            await ws.ok("heartbeat.checklist.set", {"agentId": "helper", "content": "- check the disk"})
            await ws.ok("heartbeat.set", {"agentId": "helper", "enabled": True, "chatId": target})
            await ws.ok("heartbeat.test", {"agentId": "helper"})
            suppressed = await ws.wait_for(lambda e: beat(e, "suppressed"))
            await ws.ok("heartbeat.test", {"agentId": "helper"})
            ok = await ws.wait_for(lambda e: beat(e, "ok"))
            entries = await logs(ws, 2)
            hb = (await ws.ok("heartbeat.get", {"agentId": "helper"}))["heartbeat"]
            history = await ws.ok("chat.history", {"sessionKey": target})
        assert suppressed["payload"]["agentKey"] == "helper"
        assert ok["payload"]["status"] == "ok"
        assert sorted(e["status"] for e in entries) == ["ok", "suppressed"]
        assert all("error" not in e for e in entries), entries
        assert (hb["runCount"], hb["suppressCount"]) == (2, 1)
        assert [m["content"] for m in history["messages"]][-1] == "[heartbeat]\n\nDisk is 95% full!"
        assert "- check the disk" in str(chat.upstream.turns[1]["messages"])

    async def test_model_override_and_light_context(self, chat: ChatSetup) -> None:
        """``model`` runs the heartbeat on another model than the agent's; ``lightContext`` leaves the
        context files out of its system prompt; an unknown provider is refused."""
        chat.upstream.script(Reply(content="HEARTBEAT_OK"), Reply(content="HEARTBEAT_OK"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok(
                "agents.files.set", {"agentId": "helper", "name": "SOUL.md", "content": "SOUL-MARKER"}
            )
            await ws.ok("heartbeat.checklist.set", {"agentId": "helper", "content": "- check"})
            await ws.ok("heartbeat.set", {"agentId": "helper", "enabled": True})
            await ws.ok("heartbeat.test", {"agentId": "helper"})
            await ws.wait_for(lambda e: beat(e, "suppressed"))
            assert "SOUL-MARKER" in str(chat.upstream.turns[-1]["messages"][0])
            await ws.ok("heartbeat.set", {"agentId": "helper", "model": "model-b", "lightContext": True})
            unknown = await ws.call("heartbeat.set", {"agentId": "helper", "providerName": "nope"})
            await ws.ok("heartbeat.test", {"agentId": "helper"})
            await ws.wait_for(lambda e: beat(e, "suppressed"))
        assert unknown["error"]["code"] == "INVALID_REQUEST"
        assert "providerName" in str(unknown["error"])
        assert chat.upstream.turns[-1]["model"] == "model-b"
        assert chat.agent["model"] == "model-a"
        assert "SOUL-MARKER" not in str(chat.upstream.turns[-1]["messages"])

    async def test_busy_agent_is_skipped_without_advancing(self, chat: ChatSetup) -> None:
        """While the agent has a run going, a due heartbeat is skipped ``queue_busy`` and looked at
        again in 30 s, not a whole interval later."""
        chat.upstream.script(Reply(content="slow answer", delay=2))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("heartbeat.checklist.set", {"agentId": "helper", "content": "- check"})
            await ws.ok("heartbeat.set", {"agentId": "helper", "enabled": True})
            await ws.ok("chat.send", {"message": "take your time", "agentId": "helper", "wait": False})
            await ws.run_event("run.started")
            await ws.ok("heartbeat.test", {"agentId": "helper"})
            skipped = await ws.wait_for(lambda e: beat(e, "skipped"))
            hb = (await ws.ok("heartbeat.get", {"agentId": "helper"}))["heartbeat"]
            await ws.run_event("run.completed")
        assert skipped["payload"]["reason"] == "queue_busy"
        assert 20_000 < hb["nextRunAtMs"] - time.time() * 1000 <= 30_000

    async def test_cron_job_wakes_the_heartbeat(self, chat: ChatSetup) -> None:
        """A cron job with ``wakeHeartbeat`` makes the agent's heartbeat run after it."""
        chat.upstream.script(Reply(content="job done"), Reply(content="HEARTBEAT_OK"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            await ws.ok("heartbeat.checklist.set", {"agentId": "helper", "content": "- check"})
            await ws.ok("heartbeat.set", {"agentId": "helper", "enabled": True})
            job = {"name": "waker", "agentId": "helper", "message": "do it", "wakeHeartbeat": True,
                   "schedule": {"kind": "at", "atMs": int(time.time() * 1000) + 300}}  # fmt: skip
            await ws.ok("cron.create", job)
            await ws.wait_for(lambda e: beat(e, "suppressed"))
        assert len(chat.upstream.turns) == 2
