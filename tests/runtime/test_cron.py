"""Cron jobs through a real gateway and a loopback model (issue 12): the methods' shapes and bad input,
ownership, a job firing once per due time with its record, catch-up after downtime, retries, and
the REST mirror."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.runtime.conftest import ChatSetup, chat_setup
from tests.support import GATEWAY_TOKEN, WsClient, ws_connect
from tests.upstream import Reply

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def now_ms() -> int:
    return int(time.time() * 1000)


def job_body(name: str = "brief", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "agentId": "helper", "message": "run the market brief",
                            "schedule": {"kind": "every", "everyMs": 3_600_000}}  # fmt: skip
    body.update(extra)
    return body


async def records(ws: WsClient, job_id: str, want: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    """The job's records once ``want`` of them have ended (not ``running``)."""
    async with asyncio.timeout(timeout):
        while True:
            res = await ws.ok("cron.runs", {"jobId": job_id, "limit": 500})
            done = [e for e in res["entries"] if e["status"] != "running"]
            if len(done) >= want:
                return list(res["entries"])
            await asyncio.sleep(0.1)


class TestValidation:
    @pytest.mark.parametrize(
        ("schedule", "field"),
        [
            ({"kind": "cron", "expr": "61 * * * *"}, "$.schedule.expr"),
            ({"kind": "cron", "expr": "* * *"}, "$.schedule.expr"),
            ({"kind": "cron", "expr": "0 9 * * 1-5", "tz": "Mars/Olympus_Mons"}, "$.schedule.tz"),
            ({"kind": "every", "everyMs": 0}, "$.schedule.everyMs"),
            ({"kind": "every"}, "$.schedule.everyMs"),
            ({"kind": "at", "atMs": 1_000_000}, "$.schedule.atMs"),
            ({"kind": "at"}, "$.schedule.atMs"),
            ({"kind": "weekly"}, "$.schedule.kind"),
        ],
    )
    async def test_bad_schedule_is_invalid_request_naming_the_field(
        self, chat: ChatSetup, schedule: dict[str, Any], field: str
    ) -> None:
        """Invalid expressions and time zones, everyMs 0, an ``at`` in the past: INVALID_REQUEST with the field."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            res = await ws.call("cron.create", job_body(schedule=schedule))
            listed = await ws.ok("cron.list")
        assert not res["ok"]
        assert res["error"]["code"] == "INVALID_REQUEST", res
        assert field in str(res["error"]), res
        assert listed["jobs"] == []

    async def test_job_for_an_unknown_or_deleted_agent_is_not_found(self, chat: ChatSetup) -> None:
        """A job for an agent that does not exist, or was deleted, is NOT_FOUND."""
        await chat.add_agent(agent_key="gone")
        async with chat.admin() as http:
            assert (await http.delete("/v1/agents/gone")).status_code == 200
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            unknown = await ws.call("cron.create", job_body(agentId="nobody"))
            deleted = await ws.call("cron.create", job_body(agentId="gone"))
        assert unknown["error"]["code"] == "NOT_FOUND"
        assert deleted["error"]["code"] == "NOT_FOUND"

    async def test_names_are_unique_per_agent(self, chat: ChatSetup) -> None:
        """The same name twice for one agent is ALREADY_EXISTS; for another agent it is fine."""
        await chat.add_agent(agent_key="other")
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            await ws.ok("cron.create", job_body())
            again = await ws.call("cron.create", job_body())
            await ws.ok("cron.create", job_body(agentId="other"))
            bad_name = await ws.call("cron.create", job_body(name="Not A Slug"))
        assert again["error"]["code"] == "ALREADY_EXISTS"
        assert bad_name["error"]["code"] == "INVALID_REQUEST"


class TestShapesAndOwnership:
    async def test_create_list_update_toggle_delete(self, chat: ChatSetup) -> None:
        """GoClaw's shapes; reading never moves the schedule; a new schedule does."""
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            job = (await ws.ok("cron.create", job_body(schedule={"kind": "cron", "expr": "0 9 * * 1-5",
                                                                  "tz": "Europe/Paris"})))["job"]  # fmt: skip
            assert job["userId"] == "alice"
            assert job["agentKey"] == "helper"
            assert job["payload"] == {"kind": "agent_turn", "message": "run the market brief"}
            assert job["schedule"] == {"kind": "cron", "expr": "0 9 * * 1-5", "tz": "Europe/Paris"}
            assert job["stateless"] is True
            assert job["deleteAfterRun"] is False
            nxt = job["state"]["nextRunAtMs"]
            assert nxt > now_ms()
            for _ in range(3):
                listed = await ws.ok("cron.list")
                assert listed["jobs"][0]["state"]["nextRunAtMs"] == nxt
            assert listed["status"] == {"enabled": True, "jobs": 1, "enabledJobs": 1}
            status = await ws.ok("cron.status")
            assert status["jobs"] == 1
            patched = (await ws.ok("cron.update", {"jobId": job["id"], "patch": {"message": "new text",
                                                                                 "schedule": None}}))["job"]  # fmt: skip
            assert patched["payload"]["message"] == "new text"
            assert patched["state"]["nextRunAtMs"] == nxt
            moved = (await ws.ok("cron.update", {"id": job["id"], "patch": {"schedule": {
                "kind": "every", "everyMs": 60_000}}}))["job"]  # fmt: skip
            assert moved["schedule"] == {"kind": "every", "everyMs": 60_000}
            assert abs(moved["state"]["nextRunAtMs"] - (now_ms() + 60_000)) < 5_000
            off = await ws.ok("cron.toggle", {"jobId": job["id"], "enabled": False})
            assert off == {"jobId": job["id"], "enabled": False}
            assert (await ws.ok("cron.list", {"includeDisabled": False}))["jobs"] == []
            assert (await ws.ok("cron.delete", {"jobId": job["id"]})) == {"deleted": True}
            missing = await ws.call("cron.delete", {"jobId": job["id"]})
        assert missing["error"]["code"] == "NOT_FOUND"

    async def test_non_admins_see_and_touch_only_their_own_jobs(self, chat: ChatSetup) -> None:
        """Bob (operator) does not list Alice's job; touching it is UNAUTHORIZED; the admin sees both."""
        key = await chat.user_key(("operator.write",))
        async with (
            ws_connect(chat.server, token=key, user_id="alice") as alice,
            ws_connect(chat.server, token=key, user_id="bob") as bob,
            ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="owner") as admin,
        ):
            job = (await alice.ok("cron.create", job_body()))["job"]
            await bob.ok("cron.create", job_body(name="bobs"))
            assert [j["name"] for j in (await bob.ok("cron.list"))["jobs"]] == ["bobs"]
            for method, params in (
                ("cron.update", {"jobId": job["id"], "patch": {"message": "x"}}),
                ("cron.delete", {"jobId": job["id"]}),
                ("cron.toggle", {"jobId": job["id"], "enabled": False}),
                ("cron.run", {"jobId": job["id"]}),
                ("cron.runs", {"jobId": job["id"]}),
            ):
                res = await bob.call(method, params)
                assert res["error"]["code"] == "UNAUTHORIZED", (method, res)
            assert {j["name"] for j in (await admin.ok("cron.list"))["jobs"]} == {"brief", "bobs"}
            viewer = await chat.user_key(("operator.read",))
            async with ws_connect(chat.server, token=viewer, user_id="carol") as carol:
                refused = await carol.call("cron.create", job_body(name="carols"))
        assert refused["error"]["code"] == "UNAUTHORIZED"

    async def test_rest_mirror(self, chat: ChatSetup) -> None:
        """/v1/cron/jobs mirrors the methods: create, get, patch, toggle, runs, delete; errors in
        GoClaw's envelope."""
        async with chat.admin("alice") as http:
            res = await http.post("/v1/cron/jobs", json=job_body())
            assert res.status_code == 201, res.text
            job = res.json()
            assert (await http.get(f"/v1/cron/jobs/{job['id']}")).json()["name"] == "brief"
            res = await http.patch(f"/v1/cron/jobs/{job['id']}", json={"message": "changed"})
            assert res.json()["payload"]["message"] == "changed"
            res = await http.post(f"/v1/cron/jobs/{job['id']}/toggle", json={"enabled": False})
            assert res.json()["enabled"] is False
            assert (await http.get("/v1/cron/jobs?include_disabled=false")).json()["jobs"] == []
            assert (await http.get(f"/v1/cron/jobs/{job['id']}/runs")).json() == {"entries": [], "total": 0}
            bad = await http.post(
                "/v1/cron/jobs", json=job_body(name="x", schedule={"kind": "every", "everyMs": 0})
            )
            assert bad.status_code == 400
            assert bad.json()["error"]["code"] == "INVALID_REQUEST"
            assert (await http.delete(f"/v1/cron/jobs/{job['id']}")).json() == {"ok": True}
            assert (await http.get(f"/v1/cron/jobs/{job['id']}")).status_code == 404
            assert (await http.get("/v1/cron/jobs/not-a-uuid")).status_code == 404


class TestFiring:
    async def test_at_job_fires_once_with_its_record_and_events(self, chat: ChatSetup) -> None:
        """An ``at`` job runs once at its time as an ordinary agent run in its own session; its record
        says ok with summary, tokens, due time and start; it is deleted after (deleteAfterRun)."""
        chat.upstream.script(Reply(content="Markets are calm.", usage=(21, 5)))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            at = now_ms() + 1200
            job = (await ws.ok("cron.create", job_body(schedule={"kind": "at", "atMs": at})))["job"]
            assert job["deleteAfterRun"] is True
            running = await ws.wait_for(
                lambda e: e["event"] == "cron" and e["payload"]["action"] == "running"
            )
            done = await ws.wait_for(lambda e: e["event"] == "cron" and e["payload"]["action"] == "completed")
            entries = await records(ws, job["id"], 1)
            listed = await ws.ok("cron.list")
            history = await ws.ok("chat.history", {"sessionKey": entries[0]["sessionKey"]})
        assert running["payload"]["jobId"] == job["id"]
        assert done["payload"]["status"] == "ok"
        [entry] = entries
        assert entry["status"] == "ok"
        assert entry["summary"] == "Markets are calm."
        assert (entry["inputTokens"], entry["outputTokens"]) == (21, 5)
        assert entry["scheduledAtMs"] == at
        assert at <= entry["startedAtMs"] < at + 10_000  # on time: bench/cron.py measures how close
        assert entry["trigger"] == "schedule"
        assert entry["sessionKey"].startswith(f"agent:helper:cron:{job['id']}")
        assert [m["content"] for m in history["messages"]] == ["run the market brief", "Markets are calm."]
        assert listed["jobs"] == []  # deleted after its run
        await asyncio.sleep(1.0)
        assert len(chat.upstream.turns) == 1

    async def test_every_job_is_anchored_on_its_schedule(self, chat: ChatSetup) -> None:
        """Each due time of an interval job is anchor + k * every, however late a run starts or
        long it takes: the next due time never drifts."""
        chat.upstream.script(Reply(content="one", delay=0.7), Reply(content="two"), Reply(content="three"))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            job = (await ws.ok("cron.create", job_body(schedule={"kind": "every", "everyMs": 1000})))["job"]
            entries = await records(ws, job["id"], 3)
            await ws.ok("cron.toggle", {"jobId": job["id"], "enabled": False})
        due = sorted(e["scheduledAtMs"] for e in entries)[:3]
        first = job["state"]["nextRunAtMs"]
        assert due == [first, first + 1000, first + 2000]

    async def test_provider_failing_is_retried_then_recorded_as_error(self, make_server: Any) -> None:
        """A model answering 500 each time: the run is tried 1 + maxRetries times with backoff, then
        the due time's record says error with the provider's failure."""
        async with chat_setup(make_server, llm__retry_attempts=1, scheduler__retry_base_delay_ms=50) as chat:
            chat.upstream.script(*[Reply(status=500, body='{"error":{"message":"boom"}}')] * 3)
            async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                job = (await ws.ok("cron.create", job_body(schedule={"kind": "at", "atMs": now_ms() + 500},
                                                           maxRetries=2)))["job"]  # fmt: skip
                [entry] = await records(ws, job["id"], 1)
                failed = await ws.wait_for(
                    lambda e: e["event"] == "cron" and e["payload"]["action"] == "error"
                )
        assert entry["status"] == "error"
        assert entry["attempts"] == 3
        assert entry["error"]
        assert failed["payload"]["status"] == "error"
        assert len(chat.upstream.turns) == 3

    async def test_due_time_of_a_job_whose_agent_was_deleted_is_an_error_record(
        self, chat: ChatSetup
    ) -> None:
        """The agent is deleted after its job was created: the due time is recorded ``error`` (not
        retried, nothing sent to a model)."""
        await chat.add_agent(agent_key="doomed")
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            job = (await ws.ok("cron.create", job_body(agentId="doomed", schedule={"kind": "at",
                                                                                   "atMs": now_ms() + 800})))["job"]  # fmt: skip
            async with chat.admin() as http:
                assert (await http.delete("/v1/agents/doomed")).status_code == 200
            [entry] = await records(ws, job["id"], 1)
        assert entry["status"] == "error"
        assert "not found" in entry["error"]
        assert entry["attempts"] == 1
        assert chat.upstream.turns == []

    async def test_manual_run_and_deliver_to_a_session(self, chat: ChatSetup) -> None:
        """``cron.run`` runs a job now; ``deliver`` posts the answer into the target session."""
        chat.upstream.script(Reply(content="first"), Reply(content="Delivered brief."))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            sent = await ws.ok("chat.send", {"message": "hello", "agentId": "helper"})
            target = sent["sessionKey"]
            job = (await ws.ok("cron.create", job_body(deliver=True, deliverTo=target)))["job"]
            assert await ws.ok("cron.run", {"jobId": job["id"]}) == {"ok": True, "ran": True}
            [entry] = await records(ws, job["id"], 1)
            history = await ws.ok("chat.history", {"sessionKey": target})
            not_due = await ws.ok("cron.run", {"jobId": job["id"], "mode": "due"})
        assert entry["trigger"] == "manual"
        assert entry["status"] == "ok"
        assert history["messages"][-1]["content"] == "[cron brief]\n\nDelivered brief."
        assert not_due == {"ok": True, "ran": False}


async def _set_due(dsn: str, job_id: str, seconds_ago: float) -> None:
    """Move a job's next due time into the past, as if no gateway had run meanwhile (a clock jump)."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "UPDATE cron_jobs SET next_run_at = now() - make_interval(secs => $2),"
            " anchor_at = CASE WHEN every_ms IS NULL THEN NULL ELSE now() - make_interval(secs => $2) END"
            " WHERE id = $1::uuid",
            job_id, seconds_ago,
        )  # fmt: skip
    finally:
        await conn.close()


class TestCatchUp:
    @pytest.mark.parametrize(("policy", "runs"), [("skip", 0), ("run_once", 1)])
    async def test_clock_jump_writes_one_record_per_due_time(
        self, make_server: Any, dsn: str, policy: str, runs: int
    ) -> None:
        """Five due times of a one-minute job passed while no gateway claimed them (the latest 30 s
        late, overdue): one record per due time; ``skip`` runs none of them, ``run_once`` runs the
        latest once."""
        async with chat_setup(make_server, scheduler__enabled=False) as chat:
            async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
                job = (await ws.ok("cron.create", job_body(schedule={"kind": "every", "everyMs": 60_000},
                                                           catchUp=policy)))["job"]  # fmt: skip
            await _set_due(dsn, job["id"], 270)  # due 270, 210, 150, 90 and 30 s ago; next in 30 s
            second = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"],
                                       scheduler__late_after_seconds=5)  # fmt: skip
            async with ws_connect(second, token=GATEWAY_TOKEN, user_id="alice") as ws:
                entries = await records(ws, job["id"], 5)
                await asyncio.sleep(0.5)
                entries = (await ws.ok("cron.runs", {"jobId": job["id"]}))["entries"]
                listed = (await ws.ok("cron.list"))["jobs"][0]
        statuses = sorted(e["status"] for e in entries)
        assert len({e["scheduledAtMs"] for e in entries}) == len(entries) == 5
        assert statuses.count("missed") == 5 - runs
        assert statuses.count("ok") == runs
        assert listed["state"]["nextRunAtMs"] > now_ms()
        assert len(chat.upstream.turns) == runs


class TestCommandLine:
    async def test_cron_list_and_runs_print_jobs_and_records(
        self, chat: ChatSetup, dsn: str, tmp_path: Path
    ) -> None:
        """``clawgate cron list`` shows each job with its next run and last status; ``clawgate cron runs
        JOB`` its records; both read the database, no server needed."""
        from tests.gateway.test_cli import run_cli

        chat.upstream.script(Reply(content="The brief."))
        async with ws_connect(chat.server, token=GATEWAY_TOKEN, user_id="alice") as ws:
            job = (await ws.ok("cron.create", job_body()))["job"]
            await ws.ok("cron.run", {"jobId": job["id"]})
            await records(ws, job["id"], 1)
        listed = await run_cli("cron", "list", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn)
        runs = await run_cli("cron", "runs", job["id"], cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn)
        as_json = await run_cli("cron", "runs", job["id"], "--json", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn)
        missing = await run_cli("cron", "runs", "not-a-job", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn)
        assert listed.code == 0, listed
        header, row = listed.out.splitlines()
        assert header.split()[:4] == ["ID", "NAME", "AGENT", "OWNER"]
        assert row.split()[:4] == [job["id"], "brief", "helper", "alice"]
        assert "every 3600s" in row
        assert row.rstrip().endswith("ok")
        assert runs.code == 0, runs
        assert "ok" in runs.out.splitlines()[1]
        assert "The brief." in runs.out
        assert [e["status"] for e in json.loads(as_json.out)["entries"]] == ["ok"]
        assert missing.code == 1
        assert "not found" in missing.err
