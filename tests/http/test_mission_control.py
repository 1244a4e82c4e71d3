"""Mission Control's ``/api/v1`` core through a real server and httpx (issue 14, build item 3):
boards, tasks with dependencies (cycles, unknown and cross-board ids), the user's transition rules
and the board's gates, comments, approvals (one pending per task, a reason required), MC's error
envelope, and the task SSE stream with ``id:`` lines resumed by ``Last-Event-ID`` and ``since``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import GATEWAY_TOKEN, RunningServer, add_stub_provider, ws_connect

B = "/api/v1/boards"


@pytest.fixture(name="mc")
async def _mc(make_server: ServerFactory) -> AsyncIterator[httpx.AsyncClient]:
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], gateway__rate_limit_rpm=0,
        rate_limits__per_ip_rpm=0, rate_limits__per_key_rpm=0,
    )  # fmt: skip
    async with server.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http:
        http.server = server  # type: ignore[attr-defined]
        yield http


def _server(http: httpx.AsyncClient) -> RunningServer:
    server: RunningServer = http.server  # type: ignore[attr-defined]
    return server


async def _ok(res: httpx.Response, status: int = 200) -> Any:
    assert res.status_code == status, res.text
    return res.json()


async def _board(http: httpx.AsyncClient, **rules: Any) -> str:
    body = {"name": "Launch", "description": "ship it", **rules}
    board: dict[str, Any] = await _ok(await http.post(B, json=body))
    return str(board["id"])


async def _task(http: httpx.AsyncClient, board: str, **fields: Any) -> dict[str, Any]:
    task: dict[str, Any] = await _ok(await http.post(f"{B}/{board}/tasks", json={"title": "t", **fields}))
    return task


def _detail(res: httpx.Response, status: int) -> Any:
    assert res.status_code == status, res.text
    body = res.json()
    assert set(body) >= {"detail", "request_id"}
    assert body["request_id"]
    return body["detail"]


class TestBoards:
    async def test_create_list_get_patch_delete(self, mc: httpx.AsyncClient) -> None:
        """A board lists in MC's page; PATCH changes rules; a blank description is 422 in MC's
        envelope; a deleted board is 404."""
        board = await _ok(
            await mc.post(B, json={"name": "Launch", "description": "ship it", "max_agents": 3})
        )
        assert (board["slug"], board["require_approval_for_done"], board["max_agents"]) == ("launch", True, 3)
        page = await _ok(await mc.get(B))
        assert (page["total"], page["limit"], page["offset"], page["items"][0]["id"]) == (
            1,
            200,
            0,
            board["id"],
        )
        patched = await _ok(await mc.patch(f"{B}/{board['id']}", json={"require_approval_for_done": False}))
        assert patched["require_approval_for_done"] is False
        assert patched["name"] == "Launch"
        assert _detail(await mc.post(B, json={"name": "x", "description": "  "}), 422)
        assert _detail(await mc.get(f"{B}/not-a-uuid"), 422)
        await _ok(await mc.delete(f"{B}/{board['id']}"))
        assert _detail(await mc.get(f"{B}/{board['id']}"), 404)


class TestTasks:
    async def test_dependencies_cycles_and_unknown_ids(self, mc: httpx.AsyncClient) -> None:
        """Dependencies block until done; a cycle is 409; unknown or other-board ids are 404 with
        ``missing_task_ids``; a blocked task cannot be created started (409 with the blockers)."""
        board, other = await _board(mc), await _board(mc)
        a = await _task(mc, board, title="a")
        b = await _task(mc, board, title="b", depends_on_task_ids=[a["id"]])
        assert (b["is_blocked"], b["blocked_by_task_ids"]) == (True, [a["id"]])
        res = await mc.patch(f"{B}/{board}/tasks/{a['id']}", json={"depends_on_task_ids": [b["id"]]})
        assert _detail(res, 409) == "Dependency cycle detected."
        foreign = await _task(mc, other)
        res = await mc.patch(f"{B}/{board}/tasks/{a['id']}", json={"depends_on_task_ids": [foreign["id"]]})
        assert _detail(res, 404)["missing_task_ids"] == [foreign["id"]]
        res = await mc.post(f"{B}/{board}/tasks", json={"title": "c", "status": "in_progress",
                                                        "depends_on_task_ids": [a["id"]]})  # fmt: skip
        detail = _detail(res, 409)
        assert (detail["code"], detail["blocked_by_task_ids"]) == (
            "task_blocked_cannot_transition",
            [a["id"]],
        )
        assert _detail(await mc.get(f"{B}/{board}/tasks/{foreign['id']}"), 404)
        listed = await _ok(await mc.get(f"{B}/{board}/tasks", params={"status": "inbox"}))
        assert listed["total"] == 2
        assert _detail(await mc.get(f"{B}/{board}/tasks", params={"status": "blocked"}), 422)

    async def test_user_rules_and_the_done_gate(self, mc: httpx.AsyncClient) -> None:
        """Starting sets in_progress_at; review and inbox unassign; a user moving a blocked task is
        sent back to inbox; done needs an approved approval (the default gate)."""
        board = await _board(mc)
        task = await _task(mc, board)
        url = f"{B}/{board}/tasks/{task['id']}"
        started = await _ok(await mc.patch(url, json={"status": "in_progress"}))
        assert (started["status"], started["in_progress_at"] is not None) == ("in_progress", True)
        review = await _ok(await mc.patch(url, json={"status": "review", "comment": "ready"}))
        assert (review["status"], review["in_progress_at"]) == ("review", None)
        assert _detail(await mc.patch(url, json={"status": None}), 422)
        res = await mc.patch(url, json={"status": "done"})
        assert "approval" in _detail(res, 409)["message"]
        comments = await _ok(await mc.get(url + "/comments"))
        assert [c["message"] for c in comments["items"]] == ["ready"]
        blocker = await _task(mc, board, title="blocker")
        back = await _ok(await mc.patch(url, json={"depends_on_task_ids": [blocker["id"]]}))
        assert (back["status"], back["is_blocked"]) == ("inbox", True)

    async def test_comments(self, mc: httpx.AsyncClient) -> None:
        board = await _board(mc)
        task = await _task(mc, board)
        url = f"{B}/{board}/tasks/{task['id']}/comments"
        made = await _ok(await mc.post(url, json={"message": "first"}))
        assert (made["message"], made["task_id"], made["agent_id"]) == ("first", task["id"], None)
        assert _detail(await mc.post(url, json={"message": "   "}), 422)
        assert (await _ok(await mc.get(url)))["total"] == 1


class TestApprovals:
    async def test_one_pending_per_task_and_the_done_gate_opens(self, mc: httpx.AsyncClient) -> None:
        """A reason is required (422); a second pending approval on a task is 409 with the
        conflicts; once approved (by a user) the task may be marked done."""
        board = await _board(mc)
        task = await _task(mc, board)
        url = f"{B}/{board}/approvals"
        base = {"action_type": "deploy", "task_id": task["id"], "confidence": 85}
        assert "reasoning" in _detail(await mc.post(url, json=base), 422)
        first = await _ok(await mc.post(url, json={**base, "lead_reasoning": "safe"}))
        assert (first["status"], first["task_ids"], first["task_titles"]) == ("pending", [task["id"]], ["t"])
        assert first["payload"]["reason"] == "safe"
        res = await mc.post(url, json={**base, "payload": {"reason": "again", "taskIds": [task["id"]]}})
        assert _detail(res, 409)["conflicts"] == [{"task_id": task["id"], "approval_id": first["id"]}]
        done = await _ok(await mc.patch(f"{url}/{first['id']}", json={"status": "approved"}))
        assert done["resolved_at"] is not None
        assert (await _ok(await mc.get(url, params={"status": "approved"})))["total"] == 1
        finished = await _ok(await mc.patch(f"{B}/{board}/tasks/{task['id']}", json={"status": "done"}))
        assert (finished["status"], finished["is_blocked"]) == ("done", False)


async def _frames(res: httpx.Response, want: int) -> list[dict[str, Any]]:
    """The next ``want`` SSE events of a stream (comments and pings skipped)."""
    out: list[dict[str, Any]] = []
    current: dict[str, Any] = {}
    async for line in res.aiter_lines():
        if not line:
            if "data" in current:
                out.append(current)
                if len(out) == want:
                    return out
            current = {}
        elif not line.startswith(":"):
            key, _, value = line.partition(": ")
            current[key] = json.loads(value) if key == "data" else value
    return out


class TestStream:
    async def test_resume_after_a_dropped_connection_loses_nothing(self, mc: httpx.AsyncClient) -> None:
        """Frames carry ``id:`` (the log's seq) and ``event: task``; after a drop, Last-Event-ID
        replays exactly what came meanwhile, in order; ``since`` replays from a time."""
        board = await _board(mc)
        url = f"{B}/{board}/tasks/stream"
        before = datetime.now(UTC).isoformat()
        async with mc.stream("GET", url) as res:
            assert res.headers["content-type"].startswith("text/event-stream")
            await asyncio.sleep(0.2)
            made = await _task(mc, board, title="live")
            (frame,) = await asyncio.wait_for(_frames(res, 1), 10)
        assert (frame["event"], frame["data"]["type"], frame["data"]["task"]["id"]) == (
            "task",
            "task.created",
            made["id"],
        )
        last = frame["id"]
        await mc.patch(f"{B}/{board}/tasks/{made['id']}", json={"status": "in_progress"})
        await mc.post(f"{B}/{board}/tasks/{made['id']}/comments", json={"message": "while away"})
        async with mc.stream("GET", url, headers={"Last-Event-ID": last}) as res:
            missed = await asyncio.wait_for(_frames(res, 2), 10)
        assert [f["data"]["type"] for f in missed] == ["task.status_changed", "task.comment"]
        assert int(missed[0]["id"]) > int(last)
        assert int(missed[1]["id"]) > int(missed[0]["id"])
        assert missed[1]["data"]["comment"]["message"] == "while away"
        async with mc.stream("GET", url, params={"since": before}) as res:
            replay = await asyncio.wait_for(_frames(res, 3), 10)
        assert [f["id"] for f in replay] == [last, missed[0]["id"], missed[1]["id"]]

    async def test_a_change_in_another_process_reaches_the_stream(
        self, mc: httpx.AsyncClient, make_server: ServerFactory
    ) -> None:
        """Two gateway processes on one database: a task created through B reaches A's stream."""
        other = await make_server(gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"])
        board = await _board(mc)
        async with mc.stream("GET", f"{B}/{board}/tasks/stream") as res:
            await asyncio.sleep(0.2)
            async with other.client(GATEWAY_TOKEN, **{"X-GoClaw-User-Id": "owner"}) as http_b:
                made = await _task(http_b, board, title="from B")
            (frame,) = await asyncio.wait_for(_frames(res, 1), 10)
        assert frame["data"]["task"]["id"] == made["id"]


async def test_goclaw_teams_and_mc_boards_are_one(mc: httpx.AsyncClient) -> None:
    """A board made on MC lists in GoClaw's teams.list; a task made with teams.tasks.create lists
    on the board (one model, two façades)."""
    server = _server(mc)
    await add_stub_provider(server)
    board = await _board(mc)
    async with ws_connect(server, token=GATEWAY_TOKEN, user_id="owner") as ws:
        teams = (await ws.ok("teams.list"))["teams"]
        assert [t["id"] for t in teams] == [board]
        await ws.ok("teams.tasks.create", {"teamId": board, "subject": "via GoClaw"})
    listed = await _ok(await mc.get(f"{B}/{board}/tasks"))
    assert [(t["title"], t["status"]) for t in listed["items"]] == [("via GoClaw", "inbox")]


class TestStreamFaults:
    async def test_a_client_that_leaves_mid_stream_is_let_go(self, mc: httpx.AsyncClient) -> None:
        """Clients that drop their stream (after a frame, or before any) leave no subscription behind,
        and the next stream still gets every event."""
        server = _server(mc)
        board = await _board(mc)
        baseline = server.gateway.bus.subscriber_count
        for _ in range(3):
            async with mc.stream("GET", f"{B}/{board}/tasks/stream") as res:
                await asyncio.sleep(0.1)
                await _task(mc, board)
                await asyncio.wait_for(_frames(res, 1), 10)
        for _ in range(100):  # the server notices the drop when it next writes or reads
            if server.gateway.bus.subscriber_count <= baseline:
                break
            await asyncio.sleep(0.05)
        assert server.gateway.bus.subscriber_count == baseline
        async with mc.stream("GET", f"{B}/{board}/tasks/stream", params={"since": "2000-01-01"}) as res:
            frames = await asyncio.wait_for(_frames(res, 3), 10)
        assert [f["data"]["type"] for f in frames] == ["task.created"] * 3

    async def test_approval_stream_and_streams_of_unknown_boards(self, mc: httpx.AsyncClient) -> None:
        """``event: approval`` carries the approval and the pending count; a stream of a board the
        caller cannot see is a plain 404 in MC's envelope, not a stream."""
        board = await _board(mc)
        task = await _task(mc, board)
        async with mc.stream("GET", f"{B}/{board}/approvals/stream") as res:
            await asyncio.sleep(0.1)
            body = {"action_type": "deploy", "task_id": task["id"], "confidence": 50, "lead_reasoning": "r"}
            made = await _ok(await mc.post(f"{B}/{board}/approvals", json=body))
            (frame,) = await asyncio.wait_for(_frames(res, 1), 10)
        assert frame["event"] == "approval"
        assert (frame["data"]["approval"]["id"], frame["data"]["pending_approvals_count"]) == (made["id"], 1)
        res = await mc.get(f"{B}/00000000-0000-0000-0000-000000000001/tasks/stream")
        assert _detail(res, 404)


async def test_follow_pings_when_nothing_happens(mc: httpx.AsyncClient) -> None:
    """The streams' source yields a ping (None) after each quiet interval (15 s on the routes)."""
    server = _server(mc)
    from clawgate.store.coord_events import Where
    from clawgate.store.tenants import MASTER_TENANT_ID

    follow = server.gateway.tasks.follow(MASTER_TENANT_ID, 10**12, Where(), ping_seconds=0.2)
    started = asyncio.get_running_loop().time()
    assert await anext(follow) is None
    assert await anext(follow) is None
    assert asyncio.get_running_loop().time() - started >= 0.4
    await follow.aclose()


async def test_tags_on_tasks(mc: httpx.AsyncClient) -> None:
    """A task carries the tenant's tags (``tag_ids`` in, ``tags`` as TagRefs out); an unknown tag is
    404 with ``missing_tag_ids`` and leaves the task as it was."""
    server = _server(mc)
    from clawgate.store.tenants import MASTER_TENANT_ID

    async with server.gateway.db.connection() as conn:
        tag = await conn.fetchval(
            "INSERT INTO tags (tenant_id, name, slug, color) VALUES ($1, 'Urgent', 'urgent', 'ff0000') RETURNING id",
            MASTER_TENANT_ID,
        )
    board = await _board(mc)
    task = await _task(mc, board, tag_ids=[str(tag)])
    assert (task["tag_ids"], task["tags"]) == (
        [str(tag)], [{"id": str(tag), "name": "Urgent", "slug": "urgent", "color": "ff0000"}])  # fmt: skip
    unknown = "00000000-0000-0000-0000-0000000000aa"
    res = await mc.patch(f"{B}/{board}/tasks/{task['id']}", json={"tag_ids": [unknown], "title": "renamed"})
    assert _detail(res, 404)["missing_tag_ids"] == [unknown]
    again = await _ok(await mc.get(f"{B}/{board}/tasks/{task['id']}"))
    assert (again["title"], again["tag_ids"]) == ("t", [str(tag)])
    cleared = await _ok(await mc.patch(f"{B}/{board}/tasks/{task['id']}", json={"tag_ids": []}))
    assert cleared["tags"] == []


async def test_an_oversized_body_is_413_in_mcs_envelope(mc: httpx.AsyncClient) -> None:
    """A body past ``limits.max_body_bytes`` (1 MiB) is refused with 413 ``{detail, request_id}``."""
    board = await _board(mc)
    res = await mc.post(f"{B}/{board}/tasks", json={"title": "t", "description": "x" * (1 << 20)})
    assert _detail(res, 413)
