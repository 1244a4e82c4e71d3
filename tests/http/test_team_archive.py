"""GoClaw's team archive and task attachments over REST (``GET /v1/teams/{id}/export``,
``.../export/preview``, ``POST /v1/teams/import``, ``GET /v1/teams/{teamId}/attachments/
{attachmentId}/download``), through a real server with httpx and WebSocket clients."""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import time
from typing import Any

import httpx

from tests.http.helpers import assert_error, mint_key
from tests.http.test_skills import make_tar
from tests.rpc.test_teams import _grant, _gw, _member  # noqa: F401  (the fixture gw: a server with four agents)
from tests.support import GATEWAY_TOKEN, RunningServer, WsClient, add_stub_provider, ws_connect

OWNER = {"X-GoClaw-User-Id": "owner"}


def _untar(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _jsonl(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


async def _build_team(gw: RunningServer, ws: WsClient, http: httpx.AsyncClient) -> dict[str, Any]:
    """A team with three agents, three tasks (one assigned, one depending on it, one done), a
    comment, an attachment and workspace files in two chats."""
    for key in ("lead-a", "worker-a", "worker-b"):
        res = await http.put(f"/v1/agents/{key}", json={"display_name": f"{key} name",
                                                          "tools_config": {"allow": ["read_file"]}})  # fmt: skip
        assert res.status_code == 200, res.text
    team = (await ws.ok("teams.create", {"name": "Research Team", "lead": "lead-a", "members": ["worker-a", "worker-b"],
                                         "description": "finds things", "settings": {"version": 3}}))["team"]  # fmt: skip
    one = (await ws.ok("teams.tasks.create", {"teamId": team["id"], "subject": "collect sources",
                                              "assignTo": "worker-a", "chatId": "c1", "priority": 5}))["task"]  # fmt: skip
    res = await http.post(f"/api/v1/boards/{team['id']}/tasks",
                          json={"title": "write summary", "depends_on_task_ids": [one["id"]]})  # fmt: skip
    assert res.status_code == 200, res.text
    done = (await ws.ok("teams.tasks.create", {"teamId": team["id"], "subject": "old work"}))["task"]
    await ws.ok("teams.tasks.reject", {"teamId": team["id"], "taskId": done["id"], "reason": "not needed"})
    await ws.ok(
        "teams.tasks.comment", {"teamId": team["id"], "taskId": one["id"], "content": "first pass done"}
    )
    base = f"/v1/teams/{team['id']}/workspace/upload"
    res = await http.post(
        f"{base}?chat_id=c1&task_id={one['id']}", files={"file": ("sources.md", b"# Sources\n")}
    )
    assert res.status_code == 200, res.text
    team["attachment"] = res.json()
    res = await http.post(f"{base}?chat_id=c2", files={"file": ("notes.txt", b"notes")})
    assert res.status_code == 200, res.text
    team["task_one"] = one
    return team


async def _contents(ws: WsClient, team_id: str) -> dict[str, Any]:
    """What a team holds, without ids or times: members, tasks (with comments and attachments) and
    workspace files."""
    got = await ws.ok("teams.get", {"teamId": team_id})
    tasks = (await ws.ok("teams.tasks.list", {"teamId": team_id, "status": "all"}))["tasks"]
    subjects = {t["id"]: t["subject"] for t in tasks}
    out_tasks = []
    for t in sorted(tasks, key=lambda t: t["task_number"]):
        detail = await ws.ok("teams.tasks.get", {"teamId": team_id, "taskId": t["id"]})
        out_tasks.append({
            "subject": t["subject"], "status": t["status"], "owner": t["owner_agent_key"].split("-2")[0],
            "blocked_by": [subjects[b] for b in t["blocked_by"]], "result": t["result"],
            "priority": t["priority"], "chat_id": t["chat_id"], "comments": [c["content"] for c in detail["comments"]],
            "attachments": [(a["file_name"], a["path"], a["size"]) for a in detail["attachments"]],
        })  # fmt: skip
    files = await ws.ok("teams.workspace.list", {"team_id": team_id})
    return {
        "name": got["team"]["name"], "description": got["team"]["description"], "settings": got["team"]["settings"],
        "members": sorted((m["agent_key"].split("-2")[0], m["role"]) for m in got["members"]),
        "tasks": out_tasks, "files": [(f["name"], f.get("size", 0)) for f in files["files"]],
    }  # fmt: skip


class TestExportImport:
    async def test_round_trip(self, gw: RunningServer) -> None:
        """Export answers GoClaw's tar.gz layout (the preview its counts); importing it makes a new
        team of new agents (keys taken get -2) with the same members, tasks, dependencies, comments,
        attachments and files, announced to the admin's WebSocket as ``team.created``; the raw body
        imports too (keys -3)."""
        async with (
            ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws,
            gw.client(GATEWAY_TOKEN, **OWNER) as http,
        ):
            team = await _build_team(gw, ws, http)
            before = await _contents(ws, team["id"])
            res = await http.get(f"/v1/teams/{team['id']}/export/preview")
            assert res.json() == {"team_name": "Research Team", "members": 3, "tasks": 3, "agent_links": 0,
                                  "comments": 1, "events": res.json()["events"], "attachments": 1,
                                  "workspace_files": 2}  # fmt: skip
            assert res.json()["events"] >= 5
            res = await http.get(f"/v1/teams/{team['id']}/export")
            assert res.status_code == 200, res.text
            assert res.headers["content-type"] == "application/gzip"
            name = f"team-research-team-{time.strftime('%Y%m%d')}.tar.gz"
            assert res.headers["content-disposition"] == f'attachment; filename="{name}"'
            archive = res.content
            files = _untar(archive)
            assert {"manifest.json", "team/team.json", "team/members.jsonl", "team/tasks.jsonl",
                    "team/comments.jsonl", "team/events.jsonl", "team/links.jsonl", "team/attachments.jsonl",
                    "team/workspace/c1/sources.md", "team/workspace/c2/notes.txt",
                    "agents/lead-a/agent.json", "agents/worker-a/agent.json",
                    "agents/worker-b/agent.json"} == set(files)  # fmt: skip
            manifest = json.loads(files["manifest.json"])
            assert (manifest["version"], manifest["team_name"], sorted(manifest["agent_keys"])) == (
                1, "Research Team", ["lead-a", "worker-a", "worker-b"])  # fmt: skip
            assert manifest["sections"]["tasks"] == 3
            agent = json.loads(files["agents/worker-a/agent.json"])
            assert (agent["display_name"], agent["tools_config"]) == (
                "worker-a name",
                {"allow": ["read_file"]},
            )
            assert [c["content"] for c in _jsonl(files["team/comments.jsonl"])] == ["first pass done"]

            res = await http.post("/v1/teams/import", files={"file": (name, archive, "application/gzip")})
            assert res.status_code == 201, res.text
            made = res.json()
            assert (made["team_name"], made["agents_added"], sorted(made["agent_keys"])) == (
                "Research Team", 3, ["lead-a-2", "worker-a-2", "worker-b-2"])  # fmt: skip
            assert (made["tasks"], made["comments"], made["attachments"], made["workspace_files"]) == (
                3,
                1,
                1,
                2,
            )
            assert made["team_id"] != team["id"]
            created = await ws.wait_for(
                lambda ev: ev.get("event") == "team.created" and ev["payload"]["team_id"] == made["team_id"]
            )
            assert (created["payload"]["team_name"], created["payload"]["member_count"]) == (
                "Research Team",
                3,
            )
            after = await _contents(ws, made["team_id"])
            assert after == before
            copy = (await http.get("/v1/agents/worker-a-2")).json()
            assert (copy["display_name"], copy["tools_config"], copy["is_default"]) == (
                "worker-a name", {"allow": ["read_file"]}, False)  # fmt: skip
            # The imported attachment downloads with the original's bytes.
            tasks = (await ws.ok("teams.tasks.list", {"teamId": made["team_id"], "status": "all"}))["tasks"]
            first = next(t for t in tasks if t["subject"] == "collect sources")
            detail = await ws.ok("teams.tasks.get", {"teamId": made["team_id"], "taskId": first["id"]})
            (attached,) = detail["attachments"]
            assert detail["task"]["attachment_count"] == first["attachment_count"] == 1
            assert sorted(t["attachment_count"] for t in tasks) == [0, 0, 1]
            res = await http.get(f"/v1/teams/{made['team_id']}/attachments/{attached['id']}/download")
            assert (res.status_code, res.content) == (200, b"# Sources\n")

            res = await http.post(
                "/v1/teams/import", content=archive, headers={"Content-Type": "application/gzip"}
            )
            assert res.status_code == 201, res.text
            assert sorted(res.json()["agent_keys"]) == ["lead-a-3", "worker-a-3", "worker-b-3"]

    async def test_import_into_another_tenant(self, gw: RunningServer) -> None:
        """An archive of the master tenant's team, imported as another tenant's admin, makes the
        team and its agents in that tenant only (keys free there: no suffix); the master tenant
        does not see them, nor the other tenant the original; the other tenant's team exports."""
        async with (
            ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws,
            gw.client(GATEWAY_TOKEN, **OWNER) as http,
        ):
            team = await _build_team(gw, ws, http)
            archive = (await http.get(f"/v1/teams/{team['id']}/export")).content
            res = await http.post("/v1/tenants", json={"name": "Other tenant", "slug": "other-tenant"})
            assert res.status_code == 201, res.text
            other = res.json()["id"]
        await add_stub_provider(gw, **{"X-GoClaw-Tenant-Id": other})
        key = (await mint_key(gw, "operator.admin", tenant_id=other))["key"]
        async with gw.client(key) as http:
            res = await http.post("/v1/teams/import", files={"file": ("t.tar.gz", archive)})
            assert res.status_code == 201, res.text
            made = res.json()
            assert sorted(made["agent_keys"]) == ["lead-a", "worker-a", "worker-b"]
            assert_error(await http.get(f"/v1/teams/{team['id']}/export"), 404, "NOT_FOUND")
            assert (await http.get(f"/v1/teams/{made['team_id']}/export/preview")).json()["tasks"] == 3
        async with gw.client(GATEWAY_TOKEN, **OWNER) as http:
            assert_error(await http.get(f"/v1/teams/{made['team_id']}/export"), 404, "NOT_FOUND")
            keys = sorted(a["agent_key"] for a in (await http.get("/v1/agents")).json()["agents"])
            assert keys == ["lead-a", "lead-b", "worker-a", "worker-b"]

    async def test_bad_archives_are_clear_errors(self, gw: RunningServer) -> None:
        """Not gzip, gzip but not tar, no manifest, another version, a member over 10 MB, a missing
        agent, a dangling reference, a bad line, another media type, a body past the cap: each a
        4xx in GoClaw's envelope, never 500, and nothing is made."""
        async with gw.client(GATEWAY_TOKEN, **OWNER) as http:
            agents_before = (await http.get("/v1/agents")).json()
            good = {
                "manifest.json": json.dumps({"version": 1, "kind": "team", "team_name": "T"}).encode(),
                "team/team.json": b'{"name": "T"}',
                "team/members.jsonl": b'{"agent_key": "solo", "role": "lead"}\n',
                "agents/solo/agent.json": b'{"agent_key": "solo", "provider": "stub", "model": "m"}',
            }
            cases: list[tuple[bytes, str]] = [
                (b"hello, not an archive", "not a tar.gz"),
                (gzip.compress(b"plain text inside gzip"), "not a tar"),
                (make_tar({k: v for k, v in good.items() if k != "manifest.json"}), "no manifest.json"),
                (make_tar({**good, "manifest.json": b'{"version": 2}'}), "version 2"),
                (make_tar({**good, "manifest.json": b"{not json"}), "manifest.json"),
                (make_tar({**good, "team/workspace/big.bin": bytes(11 << 20)}), "at most"),
                (make_tar({k: v for k, v in good.items() if not k.startswith("agents/")}), "agents/solo/agent.json"),
                (make_tar({**good, "team/members.jsonl": b'{"agent_key": "solo", "role": "boss"}\n'}), "line 1"),
                (make_tar({**good, "team/members.jsonl": b'{"agent_key": "solo", "role": "member"}\n'}), "lead"),
                (make_tar({**good, "team/tasks.jsonl": b'{"id": "1", "subject": "s", "depends_on": ["9"]}\n'}),
                 "depends_on"),
                (make_tar({**good, "team/attachments.jsonl": b'{"id": "a", "task_id": "1", "path": "x", '
                                                         b'"file_name": "x"}\n'}), "attachment"),
                (make_tar({**good, "../escape.txt": b"x"}), ".."),
                (make_tar({**good, "agents/solo/agent.json": b'{"agent_key": "solo", "provider": "nope", "model": "m"}'}),
                 "agents/solo/agent.json"),
            ]  # fmt: skip
            for data, words in cases:
                res = await http.post("/v1/teams/import", files={"file": ("t.tar.gz", data)})
                err = assert_error(res, 400, "INVALID_REQUEST")
                assert words in err["message"], (words, err)
            res = await http.post(
                "/v1/teams/import", content=b"{}", headers={"Content-Type": "application/json"}
            )
            assert_error(res, 415, "INVALID_REQUEST")
            # Past the global 1 MB body limit, inside the route's: refused by the archive's 20 MB cap.
            res = await http.post("/v1/teams/import", content=os.urandom((20 << 20) + 1),
                                  headers={"Content-Type": "application/gzip"})  # fmt: skip
            assert_error(res, 413, "INVALID_REQUEST")
            assert (await http.get("/v1/agents")).json() == agents_before
            res = await http.post("/v1/teams/import", files={"file": ("t.tar.gz", make_tar(good))})
            assert res.status_code == 201, res.text
            assert res.json()["agent_keys"] == ["solo"]
        operator = (await mint_key(gw, "operator.write"))["key"]
        async with gw.client(operator) as http:
            res = await http.post("/v1/teams/import", files={"file": ("t.tar.gz", make_tar(good))})
            assert_error(res, 403, "UNAUTHORIZED")

    async def test_export_errors(self, gw: RunningServer) -> None:
        async with gw.client(GATEWAY_TOKEN, **OWNER) as http:
            assert_error(await http.get("/v1/teams/nope/export"), 400, "INVALID_REQUEST")
            assert_error(
                await http.get(f"/v1/teams/{'0' * 8}-0000-0000-0000-{'0' * 11}1/export"), 404, "NOT_FOUND"
            )


class TestAttachments:
    async def test_download(self, gw: RunningServer) -> None:
        """An upload with ``task_id`` links the file to the task; the download answers its bytes with
        its type and a Content-Disposition naming it (RFC 6266 for a non-ASCII name); an unknown id,
        a task of another team, a file deleted since and a caller who may not see the team are 404
        in GoClaw's envelope; a bad id 400."""
        async with (
            ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws,
            gw.client(GATEWAY_TOKEN, **OWNER) as http,
        ):
            team = await _build_team(gw, ws, http)
            other = (
                await ws.ok("teams.create", {"name": "Other", "lead": "worker-b", "members": ["worker-b"]})
            )["team"]
            other_task = (await ws.ok("teams.tasks.create", {"teamId": other["id"], "subject": "x"}))["task"]
            attached = team["attachment"]
            assert (attached["path"], attached["filename"], attached["mime_type"]) == ("c1/sources.md", "sources.md",
                                                                                       "text/markdown")  # fmt: skip
            url = f"/v1/teams/{team['id']}/attachments/{attached['attachment_id']}/download"
            res = await http.get(url)
            assert (res.status_code, res.content) == (200, b"# Sources\n")
            assert res.headers["content-type"].startswith("text/markdown")
            assert res.headers["content-disposition"] == 'attachment; filename="sources.md"'
            assert res.headers["x-content-type-options"] == "nosniff"
            upload = f"/v1/teams/{team['id']}/workspace/upload?chat_id=c1&task_id={team['task_one']['id']}"
            res = await http.post(upload, files={"file": ("план.pdf", b"%PDF-1.4")})
            got = await http.get(f"/v1/teams/{team['id']}/attachments/{res.json()['attachment_id']}/download")
            assert got.headers["content-type"] == "application/pdf"
            assert got.headers["content-disposition"] == (
                "attachment; filename=\"____.pdf\"; filename*=UTF-8''%D0%BF%D0%BB%D0%B0%D0%BD.pdf"
            )
            # The same path uploaded again is the same attachment.
            again = await http.post(upload.replace("c1", "c1"), files={"file": ("sources.md", b"# v2")})
            assert again.json()["attachment_id"] == attached["attachment_id"]
            assert (await http.get(url)).content == b"# v2"
            res = await http.post(f"/v1/teams/{team['id']}/workspace/upload?chat_id=c1&task_id={other_task['id']}",
                                  files={"file": ("x.md", b"x")})  # fmt: skip
            assert_error(res, 404, "NOT_FOUND")
            assert_error(await http.get(f"/v1/teams/{other['id']}/attachments/{attached['attachment_id']}/download"),
                         404, "NOT_FOUND")  # fmt: skip
            unknown = f"/v1/teams/{team['id']}/attachments/00000000-0000-0000-0000-000000000009/download"
            assert_error(await http.get(unknown), 404, "NOT_FOUND")
            assert_error(
                await http.get(f"/v1/teams/{team['id']}/attachments/nope/download"), 400, "INVALID_REQUEST"
            )
            viewer = (await mint_key(gw, "operator.read", name="viewer"))["key"]
            async with gw.client(viewer) as other_http:
                assert_error(await other_http.get(url), 404, "NOT_FOUND")
            await ws.ok(
                "teams.workspace.delete", {"team_id": team["id"], "chat_id": "c1", "file_name": "sources.md"}
            )
            assert_error(await http.get(url), 404, "NOT_FOUND")

    async def test_attachment_added_is_announced(self, gw: RunningServer) -> None:
        """An upload linked to a task appends ``task.attachment_added`` to the task's history and
        sends GoClaw's ``team.task.attachment_added`` (the task fields and the attachment's) to the
        team's clients, a viewer's with access too; a viewer without access to the team and a client
        of another tenant hear nothing of it, and an upload without ``task_id`` announces no attachment."""
        async with gw.client(GATEWAY_TOKEN, **OWNER) as http:
            beta = (await http.post("/v1/tenants", json={"name": "Beta", "slug": "beta"})).json()
        stranger = (await mint_key(gw, "operator.admin", tenant_id=beta["id"], name="beta"))["key"]
        viewer = (await mint_key(gw, "operator.read", name="viewer"))["key"]
        blind = (await mint_key(gw, "operator.read", name="blind"))["key"]
        async with (
            ws_connect(gw, token=GATEWAY_TOKEN, user_id="owner") as ws,
            ws_connect(gw, token=viewer, user_id="v") as watching,
            ws_connect(gw, token=blind, user_id="v") as unseeing,
            ws_connect(gw, token=stranger, user_id="owner") as other,
            gw.client(GATEWAY_TOKEN, **OWNER) as http,
        ):
            team = (await ws.ok("teams.create", {"name": "Docs", "lead": "lead-a", "members": ["worker-a"]}))[
                "team"
            ]
            await _grant(gw, await _member(gw, viewer), team["id"])
            task = (await ws.ok("teams.tasks.create", {"teamId": team["id"], "subject": "write it"}))["task"]
            base = f"/v1/teams/{team['id']}/workspace/upload?chat_id=c1"
            res = await http.post(base, files={"file": ("loose.txt", b"no task")})
            assert res.status_code == 200, res.text
            res = await http.post(f"{base}&task_id={task['id']}", files={"file": ("spec.md", b"# Spec\n")})
            assert res.status_code == 200, res.text
            attachment_id = res.json()["attachment_id"]
            for client in (ws, watching):
                event = await client.next_event("team.task.attachment_added")
                payload = event["payload"]
                assert (payload["team_id"], payload["task_id"], payload["task_number"], payload["attachment_id"]) == (
                    team["id"], task["id"], task["task_number"], attachment_id)  # fmt: skip
                assert (payload["file_name"], payload["path"], payload["chat_id"], payload["size"]) == (
                    "spec.md", "c1/spec.md", "c1", 7)  # fmt: skip
                assert (payload["mime_type"], payload["actor_type"], payload["actor_id"]) == (
                    "text/markdown", "human", "owner")  # fmt: skip
                # Only the upload with task_id was announced.
                assert not [e for e in client.events if e["event"] == "team.task.attachment_added"]
            history = await ws.ok("teams.tasks.events", {"teamId": team["id"], "taskId": task["id"]})
            (added,) = [e for e in history["events"] if e["event_type"] == "task.attachment_added"]
            assert (added["actor_id"], added["data"]["attachment_id"], added["data"]["file_name"]) == (
                "owner", attachment_id, "spec.md")  # fmt: skip
            for client in (other, unseeing):
                await client.ok("teams.list")  # a round trip: every event sent before it has arrived
                assert not [e for e in client.events if e["event"].startswith("team.")]
