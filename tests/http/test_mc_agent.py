"""Mission Control's agent API, ``/api/v1/agent/*``, through a real server and httpx (issue 14,
build item 2, agent part): X-Agent-Token auth (good, unknown, revoked; the 20/60 s per-IP limit
decided in PostgreSQL), the lead's and a worker's permissions on task changes and comments, board
memory with chat, approvals agents may request but never resolve, heartbeat presence, and an agent
that never reaches another board (its tenant's or another tenant's)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import GATEWAY_TOKEN, RunningServer, add_stub_provider, ws_connect

B = "/api/v1/boards"
A = "/api/v1/agent"
_ips = itertools.count(1)


@dataclass
class Board:
    server: RunningServer
    id: str
    agents: dict[str, str]  # agent key -> id
    tokens: dict[str, str] = field(default_factory=dict)

    def owner(self) -> httpx.AsyncClient:
        return self.server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"})

    def agent(self, key: str, ip: str | None = None) -> httpx.AsyncClient:
        """A client of the agent's token, from its own client IP (the limit is per IP)."""
        ip = ip or f"10.0.{next(_ips) // 250}.{next(_ips) % 250 + 1}"
        return self.server.client(None, **{"X-Agent-Token": self.tokens[key], "X-Real-IP": ip})


def _detail(res: httpx.Response, status: int) -> Any:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) >= {"detail", "request_id"}, body
    return body["detail"]


def _ok(res: httpx.Response, status: int = 200) -> Any:
    assert res.status_code == status, res.text
    return res.json()


async def make_board(server: RunningServer, rules: dict[str, Any] | None = None) -> Board:
    """A team (= board) led by lead-a with worker-a and worker-b; outsider is on no board. Each
    agent gets a token through the user route."""
    await add_stub_provider(server)
    agents: dict[str, str] = {}
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        for key in ("lead-a", "worker-a", "worker-b", "outsider"):
            res = await http.post("/v1/agents", json={"agent_key": key, "display_name": key.replace("-", " ").title(),
                                                      "provider": "stub", "model": "m"})  # fmt: skip
            assert res.status_code == 201, res.text
            agents[key] = res.json()["id"]
    async with ws_connect(server, token=GATEWAY_TOKEN, user_id="owner") as ws:
        team = (await ws.ok("teams.create", {"name": "Launch", "lead": "lead-a", "members": ["worker-a", "worker-b"],
                                             "description": "d"}))["team"]  # fmt: skip
    board = Board(server, team["id"], agents)
    async with board.owner() as http:
        _ok(await http.patch(f"{B}/{board.id}", json={"require_approval_for_done": False, **(rules or {})}))
        async with server.gateway.db.connection() as conn:  # the PATCH is told to the board's lead
            told = await conn.fetch(
                "SELECT kind, recipient_id FROM notifications WHERE team_id = $1", _uuid(board.id)
            )
        assert [tuple(r) for r in told] == [("board.update", agents["lead-a"])]
        for key, agent_id in agents.items():
            minted = _ok(await http.post(f"/api/v1/agents/{agent_id}/token"))
            assert minted["token"].startswith("mca_")
            board.tokens[key] = minted["token"]
    return board


@pytest.fixture(name="board")
async def _board(make_server: ServerFactory) -> Board:
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], gateway__rate_limit_rpm=0,
        rate_limits__per_ip_rpm=0, rate_limits__per_key_rpm=0,
    )  # fmt: skip
    return await make_board(server)


async def _task(board: Board, **fields: Any) -> dict[str, Any]:
    async with board.owner() as http:
        task: dict[str, Any] = _ok(await http.post(f"{B}/{board.id}/tasks", json={"title": "t", **fields}))
    return task


class TestAuth:
    async def test_good_bad_and_revoked_tokens(self, board: Board) -> None:
        """A minted token reaches healthz and the agent's board; an unknown or malformed token, none,
        a user's bearer, and a revoked token are 401 in MC's envelope; minting again replaces it."""
        async with board.agent("worker-a") as http:
            health = _ok(await http.get(f"{A}/healthz"))
        assert (health["agent_id"], health["board_ids"]) == (board.agents["worker-a"], [board.id])
        fake = "mca_" + "0" * 48
        for headers in ({"X-Agent-Token": fake}, {"X-Agent-Token": "nonsense"}, {},
                        {"Authorization": f"Bearer {GATEWAY_TOKEN}"}):  # fmt: skip
            async with board.server.client(None, **headers, **{"X-Real-IP": "10.9.0.1"}) as http:
                assert _detail(await http.get(f"{A}/boards"), 401)
        async with board.server.client(None, **{"Authorization": f"Bearer {board.tokens['worker-a']}",
                                               "X-Real-IP": "10.9.0.2"}) as http:  # fmt: skip
            assert _ok(await http.get(f"{A}/boards"))["total"] == 1
        async with board.owner() as http:
            _ok(await http.delete(f"/api/v1/agents/{board.agents['worker-a']}/token"))
        async with board.agent("worker-a") as http:
            assert _detail(await http.get(f"{A}/healthz"), 401)
        async with board.owner() as http:
            again = _ok(await http.post(f"/api/v1/agents/{board.agents['worker-a']}/token"))["token"]
            assert _detail(await http.post(f"/api/v1/agents/{board.id}/token"), 404)
        board.tokens["worker-a"] = again
        async with board.agent("worker-a") as http:
            assert _ok(await http.get(f"{A}/healthz"))["ok"] is True

    async def test_tokens_are_stored_hashed_with_an_indexed_prefix(self, board: Board) -> None:
        token = board.tokens["lead-a"]
        async with board.server.gateway.db.connection() as conn:
            row = await conn.fetchrow(
                "SELECT token_prefix, token_hash FROM agent_presence WHERE agent_id = $1",
                _uuid(board.agents["lead-a"]),
            )
            plan = await conn.fetchval(
                "EXPLAIN (FORMAT TEXT) SELECT * FROM agent_presence WHERE token_prefix = $1",
                row["token_prefix"],
            )
        assert token not in (row["token_prefix"], row["token_hash"])
        assert token[4:20] == row["token_prefix"]
        assert len(row["token_hash"]) == 64
        assert "agent_presence_token_uidx" in plan or "Index" in plan

    async def test_rate_limit_is_20_per_minute_per_ip(self, board: Board, make_server: ServerFactory) -> None:
        """The 21st agent request from one IP in 60 s is 429 with Retry-After (bad tokens count
        too); another IP is unaffected; the count lives in PostgreSQL (a second server sees it)."""
        async with board.agent("worker-a", ip="10.7.7.7") as http:
            for _ in range(10):
                _ok(await http.get(f"{A}/healthz"))
        async with board.server.client(
            None, **{"X-Agent-Token": "mca_" + "1" * 48, "X-Real-IP": "10.7.7.7"}
        ) as http:
            for _ in range(10):
                assert _detail(await http.get(f"{A}/healthz"), 401)
        async with board.agent("worker-a", ip="10.7.7.7") as http:
            res = await http.get(f"{A}/healthz")
            assert _detail(res, 429)
            assert int(res.headers["retry-after"]) >= 1
        async with board.agent("worker-a", ip="10.7.7.8") as http:
            _ok(await http.get(f"{A}/healthz"))
        other = await make_server(gateway__token=GATEWAY_TOKEN, rate_limits__per_ip_rpm=0)
        headers = {"X-Agent-Token": board.tokens["worker-a"], "X-Real-IP": "10.7.7.7"}
        async with other.client(None, **headers) as http:
            assert _detail(await http.get(f"{A}/healthz"), 429)


def _uuid(text: str) -> Any:
    from uuid import UUID

    return UUID(text)


class TestPermissions:
    async def test_worker_claims_moves_and_is_refused_others_tasks(self, board: Board) -> None:
        """A worker claims an unassigned task (in_progress assigns it to itself), may not touch the
        title (403 task_update_field_forbidden), may not move another's task (403
        task_assignee_mismatch), and its move to review goes to the lead."""
        task = await _task(board)
        other = await _task(board, assigned_agent_id=board.agents["worker-b"])
        url = f"{A}/boards/{board.id}/tasks"
        async with board.agent("worker-a") as http:
            claimed = _ok(await http.patch(f"{url}/{task['id']}", json={"status": "in_progress"}))
            assert (claimed["status"], claimed["assigned_agent_id"]) == (
                "in_progress",
                board.agents["worker-a"],
            )
            refused = _detail(await http.patch(f"{url}/{task['id']}", json={"title": "x"}), 403)
            assert refused["code"] == "task_update_field_forbidden"
            refused = _detail(await http.patch(f"{url}/{other['id']}", json={"status": "in_progress"}), 403)
            assert refused["code"] == "task_assignee_mismatch"
            review = _ok(
                await http.patch(f"{url}/{task['id']}", json={"status": "review", "comment": "done, see PR"})
            )
            assert (review["status"], review["assigned_agent_id"]) == ("review", board.agents["lead-a"])
            assert _detail(await http.post(url, json={"title": "mine"}), 403)["code"] == "lead_only"
            assert _detail(await http.delete(f"{url}/{task['id']}"), 403)["code"] == "lead_only"

    async def test_lead_rules_through_http(self, board: Board) -> None:
        """The lead creates (auto_created), may not assign to itself, assign-and-starts, may not move
        a task that is not in review, may not comment on it unless mentioned, and sends review back
        to inbox to the worker who submitted it."""
        url = f"{A}/boards/{board.id}/tasks"
        async with board.agent("lead-a") as lead, board.agent("worker-a") as worker:
            made = _ok(await lead.post(url, json={"title": "plan"}))
            assert (made["auto_created"], made["auto_reason"]) == (
                True,
                f"lead_agent:{board.agents['lead-a']}",
            )
            res = await lead.post(url, json={"title": "x", "assigned_agent_id": board.agents["lead-a"]})
            assert _detail(res, 403)["code"] == "lead_assign_forbidden"
            task = await _task(board)
            turl = f"{url}/{task['id']}"
            assert (
                _detail(await lead.patch(turl, json={"status": "review"}), 403)["code"] == "lead_status_gate"
            )
            res = await lead.post(f"{turl}/comments", json={"message": "hello"})
            assert _detail(res, 403)["code"] == "lead_comment_forbidden"
            assert (
                _detail(await lead.patch(turl, json={"comment": "x"}), 403)["code"]
                == "lead_comment_forbidden"
            )
            started = _ok(await lead.patch(turl, json={"status": "in_progress",
                                                       "assigned_agent_id": board.agents["worker-a"]}))  # fmt: skip
            assert (started["status"], started["assigned_agent_id"]) == (
                "in_progress",
                board.agents["worker-a"],
            )
            _ok(await worker.post(f"{turl}/comments", json={"message": "@lead please look"}))
            _ok(await lead.post(f"{turl}/comments", json={"message": "looking"}))  # mentioned before: allowed
            _ok(await worker.patch(turl, json={"status": "review", "comment": "ready"}))
            back = _ok(await lead.patch(turl, json={"status": "inbox"}))
            assert (back["status"], back["assigned_agent_id"]) == ("inbox", board.agents["worker-a"])
            async with board.server.gateway.db.connection() as conn:
                notes = await conn.fetch(
                    "SELECT kind, recipient_id, body FROM notifications WHERE team_id = $1 ORDER BY created_at",
                    _uuid(board.id),
                )
            lead_id, worker_id = board.agents["lead-a"], board.agents["worker-a"]
            assert {(n["kind"], n["recipient_id"]) for n in notes} >= {
                ("task.assigned", worker_id),  # assign-and-start
                ("task.mention", lead_id),  # the worker's "@lead please look"
                ("task.comment", worker_id),  # the lead's "looking", to the assignee
                ("task.review", lead_id),  # in review, to the lead
                ("task.changes_requested", worker_id),
            }
            assert not any(n["recipient_id"] == lead_id and n["kind"] == "task.assigned" for n in notes)
            assert "CHANGES REQUESTED" in notes[-1]["body"]
            _ok(await lead.delete(f"{url}/{made['id']}"))
            listed = _ok(await worker.get(url, params={"status": "inbox"}))
            assert [t["id"] for t in listed["items"]] == [task["id"]]
            free = await _task(board, title="free")
            listed = _ok(await worker.get(url, params={"unassigned": "true"}))
            assert [t["id"] for t in listed["items"]] == [free["id"]]
            assert _detail(await worker.get(url, params={"status": "blocked"}), 422)

    async def test_agents_reach_only_their_board(self, board: Board) -> None:
        """An agent off the board (and any agent on a board of its tenant it is not on) is 403 on
        every board route; a bad id is 422."""
        async with board.owner() as http:
            other = _ok(await http.post(B, json={"name": "Other", "description": "d"}))["id"]
        task = await _task(board)
        async with board.agent("outsider") as out, board.agent("worker-a") as worker:
            assert _ok(await out.get(f"{A}/boards"))["total"] == 0
            for path in (f"/boards/{board.id}", f"/boards/{board.id}/tasks", f"/boards/{board.id}/memory",
                         f"/boards/{board.id}/approvals", f"/boards/{board.id}/tasks/{task['id']}/comments"):  # fmt: skip
                assert _detail(await out.get(A + path), 403)["code"] == "agent_board_forbidden"
            assert _detail(await worker.get(f"{A}/boards/{other}/tasks"), 403)
            assert _detail(await worker.get(f"{A}/boards/not-a-uuid/tasks"), 422)
            res = await out.patch(f"{A}/boards/{board.id}/tasks/{task['id']}", json={"status": "in_progress"})
            assert _detail(res, 403)


class TestMemoryApprovalsPresence:
    async def test_board_chat_approvals_and_heartbeat(self, board: Board) -> None:
        """Board memory lists newest first with the is_chat filter; an agent requests an approval
        (one pending per task) but has no route to resolve one; a heartbeat makes it online."""
        task = await _task(board)
        async with board.agent("worker-a") as http:
            _ok(await http.post(f"{A}/boards/{board.id}/memory", json={"content": "note"}))
            chat = _ok(
                await http.post(
                    f"{A}/boards/{board.id}/memory", json={"content": "hi @lead", "is_chat": True}
                )
            )
            assert chat["is_chat"] is True
            page = _ok(await http.get(f"{A}/boards/{board.id}/memory", params={"is_chat": "true"}))
            assert [m["content"] for m in page["items"]] == ["hi @lead"]
            assert _ok(await http.get(f"{A}/boards/{board.id}/memory"))["total"] == 2
            body = {
                "action_type": "deploy",
                "task_id": task["id"],
                "confidence": 80,
                "payload": {"reason": "ship"},
            }
            approval = _ok(await http.post(f"{A}/boards/{board.id}/approvals", json=body))
            assert (approval["status"], approval["agent_id"]) == ("pending", board.agents["worker-a"])
            conflict = _detail(await http.post(f"{A}/boards/{board.id}/approvals", json=body), 409)
            assert conflict["conflicts"][0]["approval_id"] == approval["id"]
            res = await http.patch(
                f"{A}/boards/{board.id}/approvals/{approval['id']}", json={"status": "approved"}
            )
            assert res.status_code in (404, 405)
            before = {a["agent_key"]: a["status"] for a in _ok(await http.get(f"{A}/agents"))["items"]}
            assert (before["worker-a"], before["lead-a"]) == ("online", "provisioning")  # requests touch it
            beat = _ok(await http.post(f"{A}/heartbeat", json={"status": "healthy"}))
            assert beat["status"] == "healthy"
            after = {
                a["agent_key"]: a
                for a in _ok(await http.get(f"{A}/agents", params={"board_id": board.id}))["items"]
            }
            assert after["worker-a"]["status"] == "healthy"
            assert after["lead-a"]["is_board_lead"] is True
        async with board.server.gateway.db.connection() as conn:
            kinds = await conn.fetch(
                "SELECT kind, recipient_id FROM notifications WHERE team_id = $1 AND kind LIKE 'board.%'"
                " AND kind <> 'board.update'",  # make_board's PATCH, told to the lead (checked there)
                _uuid(board.id),
            )
        assert [(k["kind"], k["recipient_id"]) for k in kinds] == [
            ("board.chat_mention", board.agents["lead-a"])
        ]
        async with board.agent("lead-a") as http:
            _ok(
                await http.post(
                    f"{A}/boards/{board.id}/memory", json={"content": " /pause ", "is_chat": True}
                )
            )
        async with board.server.gateway.db.connection() as conn:
            paused = await conn.fetch(
                "SELECT recipient_id, body FROM notifications WHERE team_id = $1 AND kind = 'board.pause'",
                _uuid(board.id),
            )
        async with board.agent("lead-a") as lead, board.agent("worker-a") as worker:
            nudge = f"{A}/boards/{board.id}/agents/{board.agents['worker-b']}/nudge"
            _ok(await lead.post(nudge, json={"message": "status?"}))
            assert _detail(await worker.post(nudge, json={"message": "x"}), 403)["code"] == "lead_only"
            res = await lead.post(
                f"{A}/boards/{board.id}/agents/{board.agents['outsider']}/nudge", json={"message": "x"}
            )
            assert _detail(res, 404)
        async with board.server.gateway.db.connection() as conn:
            nudged = await conn.fetch(
                "SELECT recipient_id, body FROM notifications WHERE kind = 'agent.nudge'"
            )
        assert [(n["recipient_id"], n["body"]) for n in nudged] == [(board.agents["worker-b"], "status?")]
        assert sorted((p["recipient_id"], p["body"]) for p in paused) == sorted(
            (board.agents[k], "/pause") for k in ("worker-a", "worker-b")
        )


async def test_another_tenants_agent_reaches_nothing(make_server: ServerFactory) -> None:
    """An agent token of tenant B aimed at tenant A's board, task and agents: 403, and nothing of A's
    in the answers."""
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], gateway__rate_limit_rpm=0,
        rate_limits__per_ip_rpm=0, rate_limits__per_key_rpm=0,
    )  # fmt: skip
    a = await make_board(server)
    task = await _task(a, title="A-SECRET-TITLE")
    async with a.owner() as http:
        made = _ok(await http.post("/v1/tenants", json={"name": "Tenant B", "slug": "tenant-b"}), 201)
    b_id = made.get("id") or made["tenant"]["id"]
    async with server.client(
        GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner", "X-GoClaw-Tenant-Id": b_id}
    ) as http:
        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": b_id})
        res = await http.post("/v1/agents", json={"agent_key": "b-agent", "provider": "stub", "model": "m"})
        assert res.status_code == 201, res.text
        b_token = _ok(await http.post(f"/api/v1/agents/{res.json()['id']}/token"))["token"]
        # B's admin cannot mint a token for A's agent
        assert _detail(await http.post(f"/api/v1/agents/{a.agents['worker-a']}/token"), 404)
    async with server.client(None, **{"X-Agent-Token": b_token, "X-Real-IP": "10.8.0.1"}) as http:
        for res in (
            await http.get(f"{A}/boards/{a.id}"),
            await http.get(f"{A}/boards/{a.id}/tasks"),
            await http.patch(f"{A}/boards/{a.id}/tasks/{task['id']}", json={"status": "in_progress"}),
            await http.get(f"{A}/agents", params={"board_id": a.id}),
        ):
            assert res.status_code == 403, res.text
            assert "A-SECRET-TITLE" not in res.text
            assert a.agents["worker-a"] not in res.text
        assert _ok(await http.get(f"{A}/agents"))["items"] == []


async def test_openapi_names_the_agent_token(board: Board) -> None:
    """The agent routes say in /v1/openapi.json that they take X-Agent-Token (not a user's bearer),
    and carry MC's role tags: lead-only routes ``agent-lead``, the others both board roles."""
    async with board.owner() as http:
        doc = _ok(await http.get("/v1/openapi.json"))
    assert doc["components"]["securitySchemes"]["agentToken"]["name"] == "X-Agent-Token"
    op = doc["paths"]["/api/v1/agent/boards/{board_id}/tasks/{task_id}"]["patch"]
    assert op["security"] == [{"agentToken": []}]
    assert op["tags"] == ["mission-control-agent", "agent-lead", "agent-worker"]
    lead_only = doc["paths"]["/api/v1/agent/boards/{board_id}/agents/{agent_id}/nudge"]["post"]
    assert lead_only["tags"] == ["mission-control-agent", "agent-lead"]
    assert doc["paths"]["/api/v1/agents/{agent_id}/token"]["post"]["x-min-role"] == "admin"


async def test_comment_required_for_review_counts_the_workers_comment(make_server: ServerFactory) -> None:
    """With ``comment_required_for_review``, a worker's move to review without a comment is 422;
    its comment on the task since it started (through the comments route) satisfies the gate."""
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], rate_limits__per_ip_rpm=0
    )
    board = await make_board(server, {"comment_required_for_review": True})
    task = await _task(board)
    url = f"{A}/boards/{board.id}/tasks/{task['id']}"
    async with board.agent("worker-a") as http:
        _ok(await http.patch(url, json={"status": "in_progress"}))
        assert _detail(await http.patch(url, json={"status": "review"}), 422) == "Comment is required."
        _ok(await http.post(f"{url}/comments", json={"message": "tests pass"}))
        assert _ok(await http.patch(url, json={"status": "review"}))["status"] == "review"
