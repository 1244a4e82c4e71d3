"""Skills over REST (issue 13, item 2): upload of a zipped folder with a SKILL.md (metadata from its
YAML front matter, versions, files), update, toggle and the tenant's override, grants to agents and
users, ``GET /v1/agents/{id}/skills``, export / import as tar.gz (SSE progress with ``stream``), the
dependency routes (409: runtimes are not managed here), and every unsafe archive refused with 400 (zip slip, absolute paths,
symlinks, zip and gzip bombs, SKILL.md without front matter) or 413 (over 20 MB)."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from clawgate.tools import ToolContext
from tests.conftest import ServerFactory
from tests.http.helpers import as_owner, assert_error, db, export_events, mint_key, with_key
from tests.support import GATEWAY_TOKEN, RUNNABLE, RunningServer, add_stub_provider, ws_connect

SKILL = """---
name: Deploy Helper
description: Ship a service with a blue/green rollout.
tags: [ops, deploy]
license: MIT
---
# Deploy helper

1. Read checklist.md.
2. Roll out.
"""


def skill_md(name: str = "Deploy Helper", description: str = "Ship a service.", body: str = "Do it.") -> str:
    return f"---\nname: {name}\ndescription: {description}\n---\n{body}\n"


def make_zip(files: dict[str, str | bytes], *, symlinks: dict[str, str] | None = None) -> bytes:
    """A zip of ``files`` (name -> content) and ``symlinks`` (name -> target, with the link mode)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def make_tar(files: dict[str, bytes], *, links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            archive.addfile(info)
    return buffer.getvalue()


async def upload(http: httpx.AsyncClient, data: bytes, name: str = "skill.zip") -> httpx.Response:
    return await http.post("/v1/skills/upload", files={"file": (name, data, "application/zip")})


async def uploaded(http: httpx.AsyncClient, files: dict[str, str | bytes]) -> dict[str, Any]:
    res = await upload(http, make_zip(files))
    assert res.status_code == 201, res.text
    body: dict[str, Any] = res.json()
    return body


@dataclass
class World:
    server: RunningServer
    agent_id: str

    def http(self) -> httpx.AsyncClient:
        return as_owner(self.server)


@pytest.fixture(name="world")
async def _world(make_server: ServerFactory) -> World:
    server = await make_server(
        gateway__token=GATEWAY_TOKEN, gateway__owner_ids=["owner"], rate_limits__per_key_rpm=0
    )
    await add_stub_provider(server)
    async with as_owner(server) as http:
        ids = []
        for key in ("skill-agent", "other-agent"):
            res = await http.post("/v1/agents", json={"agent_key": key, **RUNNABLE})
            assert res.status_code == 201, res.text
            ids.append(res.json()["id"])
    return World(server, ids[0])


class TestUpload:
    async def test_upload_reads_front_matter_and_versions(self, world: World) -> None:
        """An upload is a skill (201, version 1, its front matter as metadata); the same SKILL.md
        again is 200 ``unchanged``; a changed one is version 2, and each version keeps its files."""
        async with world.http() as http:
            first = await uploaded(http, {"deploy/SKILL.md": SKILL, "deploy/checklist.md": "- tests pass"})
            assert first["slug"] == "deploy-helper"
            assert (first["version"], first["status"], first["is_new"]) == (1, "active", True)
            skill = (await http.get(f"/v1/skills/{first['id']}")).json()
            assert skill["name"] == "Deploy Helper"
            assert skill["description"] == "Ship a service with a blue/green rollout."
            assert skill["tags"] == ["ops", "deploy"]
            assert skill["frontmatter"]["license"] == "MIT"
            assert (await http.get("/v1/skills/deploy-helper")).json()["id"] == first["id"]
            listed = (await http.get("/v1/skills")).json()["skills"]
            assert [s["slug"] for s in listed] == ["deploy-helper"]

            again = await upload(http, make_zip({"SKILL.md": SKILL, "checklist.md": "- tests pass"}))
            assert again.status_code == 200, again.text
            assert (again.json()["status"], again.json()["version"]) == ("unchanged", 1)

            second = await uploaded(http, {"SKILL.md": SKILL + "3. Watch.\n", "notes/more.md": "more"})
            assert (second["id"], second["version"], second["is_new"]) == (first["id"], 2, False)
            versions = (await http.get(f"/v1/skills/{first['id']}/versions")).json()
            assert [v["version"] for v in versions["versions"]] == [2, 1]
            assert versions["current"] == 2

            files = (await http.get(f"/v1/skills/{first['id']}/files")).json()
            assert files["version"] == 2
            assert [f["path"] for f in files["files"]] == ["SKILL.md", "notes/more.md"]
            old = (await http.get(f"/v1/skills/{first['id']}/files", params={"version": 1})).json()
            assert [f["path"] for f in old["files"]] == ["SKILL.md", "checklist.md"]
            read = (await http.get(f"/v1/skills/{first['id']}/files/notes/more.md")).json()
            assert (read["content"], read["encoding"], read["size"]) == ("more", "utf-8", 4)
            read = await http.get(f"/v1/skills/{first['id']}/files/checklist.md", params={"version": 1})
            assert read.json()["content"] == "- tests pass"
            assert_error(await http.get(f"/v1/skills/{first['id']}/files/checklist.md"), 404, "NOT_FOUND")
            assert_error(
                await http.get(f"/v1/skills/{first['id']}/files", params={"version": 9}), 404, "NOT_FOUND"
            )

    async def test_file_path_escaping_the_skill_is_refused(self, world: World) -> None:
        """A file path with ``..`` (sent encoded, so that no client folds it) is a 400, never a read."""
        async with world.http() as http:
            skill = await uploaded(http, {"SKILL.md": SKILL})
            res = await http.get(f"/v1/skills/{skill['id']}/files/..%2F..%2Fetc%2Fpasswd")
            err = assert_error(res, 400, "INVALID_REQUEST")
        assert "inside the skill" in err["message"]

    async def test_binary_file_is_read_as_base64(self, world: World) -> None:
        async with world.http() as http:
            skill = await uploaded(http, {"SKILL.md": SKILL, "logo.png": b"\x89PNG\x00\xff"})
            read = (await http.get(f"/v1/skills/{skill['id']}/files/logo.png")).json()
        assert read["encoding"] == "base64"
        assert read["content"] == "iVBORwD/"

    async def test_update_toggle_tenant_config_delete(self, world: World) -> None:
        """PUT changes the metadata (the whole shape sent back is accepted); toggle switches the
        skill; the tenant's override is set and removed; DELETE removes the skill."""
        async with world.http() as http:
            skill = await uploaded(http, {"SKILL.md": SKILL})
            url = f"/v1/skills/{skill['id']}"
            shape = (await http.get(url)).json()
            shape.update(description="New words", tags=["x"], visibility="private")
            res = await http.put(url, json=shape)
            assert res.status_code == 200, res.text
            after = (await http.get(url)).json()
            assert (after["description"], after["tags"], after["visibility"]) == (
                "New words",
                ["x"],
                "private",
            )
            assert after["name"] == "Deploy Helper"
            assert_error(await http.put(url, json={"visibility": "everyone"}), 400, "INVALID_REQUEST")

            res = await http.post(f"{url}/toggle", json={"enabled": False})
            assert res.json() == {"ok": True, "enabled": False, "status": "disabled"}
            assert (await http.get(url)).json()["enabled"] is False
            res = await http.put(f"{url}/tenant-config", json={"enabled": True})
            assert res.json() == {"status": "updated"}
            assert (await http.get(url)).json()["tenant_enabled"] is True
            res = await http.delete(f"{url}/tenant-config")
            assert res.json() == {"status": "deleted"}
            assert (await http.get(url)).json()["tenant_enabled"] is None

            assert (await http.delete(url)).json() == {"ok": True}
            assert_error(await http.get(url), 404, "NOT_FOUND")
            assert (await http.get("/v1/skills")).json()["skills"] == []

    async def test_viewer_cannot_upload(self, world: World) -> None:
        key = (await mint_key(world.server, "operator.read"))["key"]
        async with with_key(world.server, key) as http:
            assert_error(await upload(http, make_zip({"SKILL.md": SKILL})), 403, "UNAUTHORIZED")
            assert (await http.get("/v1/skills")).status_code == 200


class TestBadArchives:
    @pytest.mark.parametrize(
        ("files", "words"),
        [
            ({"SKILL.md": SKILL, "../evil.md": "x"}, "outside"),
            ({"SKILL.md": SKILL, "a/../../evil.md": "x"}, "outside"),
            ({"SKILL.md": SKILL, "/etc/cron.d/evil": "x"}, "absolute"),
            ({"SKILL.md": SKILL, "C:/evil": "x"}, "absolute"),
            ({"SKILL.md": SKILL, "a\\..\\evil": "x"}, "backslash"),
            ({"README.md": "no skill here"}, "SKILL.md"),
            ({"SKILL.md": "# Deploy\nNo front matter at all.\n"}, "front matter"),
            ({"SKILL.md": "---\ndescription: no name\n---\nbody\n"}, "name"),
            ({"SKILL.md": "---\nname: [unclosed\n---\n"}, "YAML"),
            ({"SKILL.md": "---\nname: x\n"}, "closed"),
            ({"SKILL.md": "---\n- a\n- b\n---\n"}, "mapping"),
            ({"SKILL.md": b"---\nname: \xff\xfe\n---\n"}, "UTF-8"),
            ({"SKILL.md": "---\nname: Fine\nslug: Not A Slug\n---\n"}, "slug"),
        ],
    )
    async def test_refused_with_400(self, world: World, files: dict[str, str | bytes], words: str) -> None:
        """Each unsafe or malformed archive is a 400 naming the problem, and nothing is stored."""
        async with world.http() as http:
            err = assert_error(await upload(http, make_zip(files)), 400, "INVALID_REQUEST")
            assert words.lower() in err["message"].lower(), err
            assert (await http.get("/v1/skills")).json()["skills"] == []

    async def test_symlink_entry_is_refused(self, world: World) -> None:
        async with world.http() as http:
            res = await upload(http, make_zip({"SKILL.md": SKILL}, symlinks={"passwd": "/etc/passwd"}))
            err = assert_error(res, 400, "INVALID_REQUEST")
        assert "symbolic link" in err["message"]

    async def test_zip_bomb_by_ratio_and_by_total_is_refused(self, world: World) -> None:
        """A highly compressed entry (declared ratio over 100) and an archive declaring more than
        64 MB uncompressed are refused before anything is inflated."""
        async with world.http() as http:
            res = await upload(http, make_zip({"SKILL.md": SKILL, "zeros.bin": bytes(30 << 20)}))
            assert "zip bomb" in assert_error(res, 400, "INVALID_REQUEST")["message"]
            big = make_zip({"SKILL.md": SKILL, **{f"z{i}.bin": bytes(900 << 10) for i in range(80)}})
            res = await upload(http, big)
            assert "zip bomb" in assert_error(res, 400, "INVALID_REQUEST")["message"]

    async def test_zip_lying_about_its_size_is_refused(self, world: World) -> None:
        """An entry whose central directory understates its size is caught while it inflates."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("SKILL.md", SKILL)
            archive.writestr("data.txt", b"a" * 100_000)
            archive.filelist[-1].file_size = 10  # the central directory written on close carries the lie
        async with world.http() as http:
            err = assert_error(await upload(http, buffer.getvalue()), 400, "INVALID_REQUEST")
        assert "data.txt" in err["message"]

    async def test_not_a_zip_no_file_and_wrong_media_type(self, world: World) -> None:
        async with world.http() as http:
            assert (
                "not a zip"
                in assert_error(await upload(http, b"plain text"), 400, "INVALID_REQUEST")["message"]
            )
            res = await http.post("/v1/skills/upload", data={"other": "x"}, files={"file": ("a.zip", b"")})
            assert_error(res, 400, "INVALID_REQUEST")
            assert_error(await http.post("/v1/skills/upload", json={"file": "x"}), 415, "INVALID_REQUEST")

    async def test_archive_over_20_mb_is_413(self, world: World) -> None:
        """A zip over 20 MB (inside a body the route accepts) is 413, as is a larger body."""
        async with world.http() as http:
            res = await upload(http, os.urandom((20 << 20) + 1))
            assert_error(res, 413, "INVALID_REQUEST")
            # Over the global 1 MB body limit, below the route's: accepted up to the service's check.
            res = await upload(http, make_zip({"SKILL.md": SKILL, "blob.bin": os.urandom(2 << 20)}))
            assert res.status_code == 201, res.text


class TestGrants:
    async def test_agent_and_user_grants(self, world: World) -> None:
        """A skill is granted to agents (by key or id, a version pinned) and users, listed, shown in
        the agent's skill list, and revoked; a second revoke is 404."""
        async with world.http() as http:
            skill = await uploaded(http, {"SKILL.md": SKILL})
            url = f"/v1/skills/{skill['id']}"
            res = await http.post(f"{url}/grants/agent", json={"agent_id": "skill-agent", "can_manage": True})
            assert res.status_code == 201, res.text
            res = await http.post(f"{url}/grants/agent", json={"agent_id": world.agent_id, "version": 1})
            assert res.status_code == 201, res.text
            grants = (await http.get(f"{url}/grants/agent")).json()["grants"]
            assert [(g["agent_key"], g["pinned_version"], g["can_manage"]) for g in grants] == [
                ("skill-agent", 1, False)
            ]
            mine = (await http.get("/v1/agents/skill-agent/skills")).json()["skills"]
            assert [(s["slug"], s["granted"], s["pinned_version"]) for s in mine] == [
                ("deploy-helper", True, 1)
            ]
            other = (await http.get("/v1/agents/other-agent/skills")).json()["skills"]
            assert [(s["slug"], s["granted"]) for s in other] == [("deploy-helper", False)]
            res = await http.post(f"{url}/grants/agent", json={"agent_id": "skill-agent", "version": 5})
            assert_error(res, 400, "INVALID_REQUEST")
            assert_error(
                await http.post(f"{url}/grants/agent", json={"agent_id": "nobody"}), 404, "NOT_FOUND"
            )

            assert (await http.post(f"{url}/grants/user", json={"user_id": "alice"})).status_code == 201
            users = (await http.get(f"{url}/grants/user")).json()["grants"]
            assert [u["user_id"] for u in users] == ["alice"]
            assert (await http.delete(f"{url}/grants/user/alice")).json() == {"ok": True}
            assert_error(await http.delete(f"{url}/grants/user/alice"), 404, "NOT_FOUND")

            assert (await http.delete(f"{url}/grants/agent/skill-agent")).json() == {"ok": True}
            assert_error(await http.delete(f"{url}/grants/agent/{world.agent_id}"), 404, "NOT_FOUND")
            assert (await http.get(f"{url}/grants/agent")).json()["grants"] == []

    async def test_grant_to_another_tenants_agent_fails(self, world: World) -> None:
        """A skill granted to an agent of another tenant is refused (404: that agent is not found),
        and the other tenant's admin reaches neither the skill nor its grants."""
        server = world.server
        async with as_owner(server) as http:
            skill = await uploaded(http, {"SKILL.md": SKILL})
            tenant = (await http.post("/v1/tenants", json={"name": "Tenant B", "slug": "tenant-b"})).json()
            key = (await mint_key(server, "operator.admin", tenant_id=tenant["id"]))["key"]
        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": tenant["id"]})
        async with with_key(server, key) as b:
            res = await b.post("/v1/agents", json={"agent_key": "b-agent", **RUNNABLE})
            assert res.status_code == 201, res.text
            b_agent = res.json()["id"]
            url = f"/v1/skills/{skill['id']}"
            assert_error(await b.get(url), 404, "NOT_FOUND")
            assert_error(await b.post(f"{url}/grants/agent", json={"agent_id": b_agent}), 404, "NOT_FOUND")
            assert (await b.get("/v1/skills")).json()["skills"] == []
        async with as_owner(server) as http:
            res = await http.post(f"/v1/skills/{skill['id']}/grants/agent", json={"agent_id": b_agent})
            assert_error(res, 404, "NOT_FOUND")
        async with db(server) as conn:
            assert await conn.fetchval("SELECT count(*) FROM skill_agent_grants") == 0


class TestVersionPruning:
    async def test_the_last_ten_versions_and_the_pinned_ones_are_kept(self, world: World) -> None:
        """Twelve uploads with version 2 pinned: versions 1 is pruned with its files, 2 (pinned) and
        3-12 stay; a pin to the pruned version is refused; once the pin is gone, the next upload
        prunes 2 and 3."""
        async with world.http() as http:
            first = await uploaded(http, {"SKILL.md": skill_md(body="v1"), "notes.md": "one"})
            url = f"/v1/skills/{first['id']}"
            await uploaded(http, {"SKILL.md": skill_md(body="v2")})
            res = await http.post(f"{url}/grants/agent", json={"agent_id": "skill-agent", "version": 2})
            assert res.status_code == 201, res.text
            for n in range(3, 13):
                assert (await uploaded(http, {"SKILL.md": skill_md(body=f"v{n}")}))["version"] == n
            kept = [v["version"] for v in (await http.get(f"{url}/versions")).json()["versions"]]
            pruned = await http.post(f"{url}/grants/agent", json={"agent_id": "other-agent", "version": 1})
            old_file = await http.get(f"{url}/files/notes.md", params={"version": 1})
            pinned = (await http.get(f"{url}/files/SKILL.md", params={"version": 2})).json()
            assert (await http.delete(f"{url}/grants/agent/skill-agent")).status_code == 200
            await uploaded(http, {"SKILL.md": skill_md(body="v13")})
            later = [v["version"] for v in (await http.get(f"{url}/versions")).json()["versions"]]
            async with db(world.server) as conn:
                files = await conn.fetchval("SELECT count(*) FROM skill_files WHERE version < 4")
        assert kept == [12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2]
        assert_error(pruned, 400, "INVALID_REQUEST")
        assert old_file.status_code == 404, old_file.text
        assert "v2" in pinned["content"]
        assert later == list(range(13, 3, -1))
        assert files == 0


class TestExportImport:
    async def test_export_then_import_into_another_tenant(self, world: World) -> None:
        """The export holds GoClaw's layout (metadata.json, SKILL.md, grants.jsonl by agent key) and
        the other files; imported into another tenant it recreates the skill and the grants of agents
        whose key exists there; a second import skips the slug."""
        server = world.server
        async with as_owner(server) as http:
            skill = await uploaded(http, {"SKILL.md": SKILL, "checklist.md": "- green"})
            await http.post(f"/v1/skills/{skill['id']}/grants/agent", json={"agent_id": "skill-agent"})
            await http.post(f"/v1/skills/{skill['id']}/grants/agent", json={"agent_id": "other-agent"})
            preview = (await http.get("/v1/skills/export/preview")).json()
            assert (preview["skills"], preview["files"], preview["grants"]) == (1, 2, 2)
            res = await http.get("/v1/skills/export")
            assert res.status_code == 200, res.text
            assert res.headers["content-type"] == "application/gzip"
            assert 'filename="skills-' in res.headers["content-disposition"]
            archive = res.content
            tenant = (await http.post("/v1/tenants", json={"name": "Tenant B", "slug": "tenant-b"})).json()
            key = (await mint_key(server, "operator.admin", tenant_id=tenant["id"]))["key"]
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            names = sorted(tar.getnames())
            meta = json.loads(tar.extractfile("skills/deploy-helper/metadata.json").read())  # type: ignore[union-attr]
            grants = tar.extractfile("skills/deploy-helper/grants.jsonl").read().decode()  # type: ignore[union-attr]
        assert names == [f"skills/deploy-helper/{n}" for n in
                         ("SKILL.md", "files/checklist.md", "grants.jsonl", "metadata.json")]  # fmt: skip
        assert (meta["name"], meta["slug"], meta["tags"]) == (
            "Deploy Helper",
            "deploy-helper",
            ["ops", "deploy"],
        )
        assert [json.loads(line)["agent_key"] for line in grants.splitlines()] == [
            "other-agent",
            "skill-agent",
        ]

        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": tenant["id"]})
        async with with_key(server, key) as b:
            assert (
                await b.post("/v1/agents", json={"agent_key": "skill-agent", **RUNNABLE})
            ).status_code == 201
            res = await b.post("/v1/skills/import", files={"file": ("skills.tar.gz", archive)})
            assert res.status_code == 201, res.text
            assert res.json() == {"skills_imported": 1, "skills_skipped": 0, "grants_applied": 1}
            res = await b.post("/v1/skills/import", files={"file": ("skills.tar.gz", archive)})
            assert res.json() == {"skills_imported": 0, "skills_skipped": 1, "grants_applied": 0}
            mine = (await b.get("/v1/agents/skill-agent/skills")).json()["skills"]
            assert [(s["slug"], s["granted"]) for s in mine] == [("deploy-helper", True)]
            imported = (await b.get("/v1/skills/deploy-helper/files/checklist.md")).json()
            assert imported["content"] == "- green"

    async def test_a_pinned_version_travels_with_the_export(self, world: World) -> None:
        """skill-agent is pinned to version 1 of three: the export carries version 1 under
        ``versions/1/`` (not version 2, which nobody pins); imported after the skill is deleted,
        the skill is at version 3 again with version 1 kept and the pin restored."""
        async with world.http() as http:
            first = await uploaded(http, {"SKILL.md": skill_md(body="v1"), "one.md": "first"})
            for n in (2, 3):
                await uploaded(http, {"SKILL.md": skill_md(body=f"v{n}")})
            url = f"/v1/skills/{first['id']}"
            await http.post(f"{url}/grants/agent", json={"agent_id": "skill-agent", "version": 1})
            await http.post(f"{url}/grants/agent", json={"agent_id": "other-agent"})
            archive = (await http.get("/v1/skills/export")).content
            assert (await http.delete(url)).status_code == 200
            res = await http.post("/v1/skills/import", files={"file": ("skills.tar.gz", archive)})
            skill = (await http.get("/v1/skills/deploy-helper")).json()
            versions = (await http.get(f"/v1/skills/{skill['id']}/versions")).json()["versions"]
            mine = (await http.get("/v1/agents/skill-agent/skills")).json()["skills"]
            other = (await http.get("/v1/agents/other-agent/skills")).json()["skills"]
            old = await http.get(f"/v1/skills/{skill['id']}/files/one.md", params={"version": 1})
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            names = sorted(tar.getnames())
        assert names == [f"skills/deploy-helper/{n}" for n in (
            "SKILL.md", "grants.jsonl", "metadata.json", "versions/1/SKILL.md", "versions/1/files/one.md",
        )]  # fmt: skip
        assert res.json() == {"skills_imported": 1, "skills_skipped": 0, "grants_applied": 2}
        assert skill["version"] == 3
        assert [v["version"] for v in versions] == [3, 1]
        assert [(s["granted"], s["pinned_version"]) for s in mine] == [(True, 1)]
        assert [(s["granted"], s["pinned_version"]) for s in other] == [(True, None)]
        assert old.json()["content"] == "first"

    async def test_export_stream_sends_progress_then_complete(self, world: World) -> None:
        async with world.http() as http:
            await uploaded(http, {"SKILL.md": SKILL})
            res = await http.get("/v1/skills/export", params={"stream": "true"})
            archive = await http.get("/v1/skills/export")
        done = export_events(res, "/v1/skills/export")
        assert done["skills"] == 1
        assert done["size"] > 0
        assert done["file_name"] == archive.headers["content-disposition"].split('"')[1]

    @pytest.mark.parametrize(
        ("archive", "words"),
        [
            (make_tar({"skills/x/SKILL.md": SKILL.encode(), "skills/x/../../evil": b"x"}), "outside"),
            (make_tar({"/abs/SKILL.md": SKILL.encode()}), "absolute"),
            (
                make_tar({"skills/x/SKILL.md": SKILL.encode()}, links={"skills/x/files/l": "/etc/passwd"}),
                "link",
            ),
            (make_tar({"skills/x/SKILL.md": b"# no front matter\n"}), "front matter"),
            # One bad skill refuses the whole archive: the good one is not imported either.
            (
                make_tar({"skills/a/SKILL.md": SKILL.encode(), "skills/b/SKILL.md": b"# none\n"}),
                "front matter",
            ),
            (make_tar({"skills/x/README.md": b"x"}), "SKILL.md"),
            (make_tar({"elsewhere/SKILL.md": SKILL.encode()}), "unexpected"),
            (b"not gzip at all", "tar.gz"),
        ],
    )
    async def test_bad_import_is_400(self, world: World, archive: bytes, words: str) -> None:
        async with world.http() as http:
            res = await http.post("/v1/skills/import", files={"file": ("s.tar.gz", archive)})
            err = assert_error(res, 400, "INVALID_REQUEST")
            assert words.lower() in err["message"].lower(), err
            assert (await http.get("/v1/skills")).json()["skills"] == []

    async def test_gzip_bomb_import_is_refused(self, world: World) -> None:
        """A tar.gz inflating past 64 MB stops inflating at the cap and is refused."""
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            info = tarfile.TarInfo("skills/x/files/zeros")
            info.size = 80 << 20
            tar.addfile(info, io.BytesIO(bytes(info.size)))
        async with world.http() as http:
            res = await http.post("/v1/skills/import", files={"file": ("s.tar.gz", buffer.getvalue())})
        assert "bomb" in assert_error(res, 400, "INVALID_REQUEST")["message"]


class TestDependencies:
    @pytest.mark.parametrize(
        ("method", "path"),
        [("POST", "rescan-deps"), ("POST", "install-deps"), ("POST", "install-dep"), ("GET", "runtimes")],
    )
    async def test_runtimes_are_not_managed(self, world: World, method: str, path: str) -> None:
        async with world.http() as http:
            res = await http.request(method, f"/v1/skills/{path}", json={"dep": "pip:openpyxl"})
        err = assert_error(res, 409, "FAILED_PRECONDITION")
        assert "not managed by ClawGate" in err["message"]


class TestWebSocket:
    async def test_skills_list_get_update(self, world: World) -> None:
        """GoClaw's ``skills.list`` / ``skills.get`` (SKILL.md as ``content``) / ``skills.update``;
        an unknown skill is NOT_FOUND, and ``updates`` is required."""
        async with world.http() as http:
            skill = await uploaded(http, {"SKILL.md": SKILL})
            await http.put(f"/v1/skills/{skill['id']}/tenant-config", json={"enabled": False})
        async with ws_connect(world.server, token=GATEWAY_TOKEN, user_id="owner") as ws:
            listed = (await ws.ok("skills.list"))["skills"]
            assert [(s["slug"], s["enabled"], s["source"]) for s in listed] == [
                ("deploy-helper", False, "managed")
            ]
            got = await ws.ok("skills.get", {"name": "deploy-helper"})
            assert got["id"] == skill["id"]
            assert got["content"] == SKILL
            res = await ws.ok(
                "skills.update", {"name": "deploy-helper", "updates": {"description": "WS words"}}
            )
            assert res == {"ok": "true"}
            assert (await ws.ok("skills.get", {"name": skill["id"]}))["description"] == "WS words"
            missing = await ws.call("skills.get", {"name": "nope"})
            assert (missing["ok"], missing["error"]["code"]) == (False, "NOT_FOUND")
            bad = await ws.call("skills.update", {"name": "deploy-helper"})
            assert (bad["ok"], bad["error"]["code"]) == (False, "INVALID_REQUEST")


class TestShared:
    async def test_master_public_skill_is_shared_and_overridden_per_tenant(self, world: World) -> None:
        """A public skill of the master tenant is seen by every tenant, which may grant it to its own
        agents, read it, and switch it off for itself (its override, not the skill's), but not change
        it; the master's internal skills stay its own; an export holds the tenant's own skills only."""
        server = world.server
        async with world.http() as http:
            shared = await uploaded(http, {"SKILL.md": SKILL, "checklist.md": "- shared"})
            own = await uploaded(http, {"SKILL.md": skill_md("Master Only", "Kept in the master tenant.")})
            assert (
                await http.put(f"/v1/skills/{shared['id']}", json={"visibility": "public"})
            ).status_code == 200
            tenant = (await http.post("/v1/tenants", json={"name": "Tenant B", "slug": "tenant-b"})).json()
            key = (await mint_key(server, "operator.admin", tenant_id=tenant["id"]))["key"]
        await add_stub_provider(server, **{"X-GoClaw-Tenant-Id": tenant["id"]})
        url = f"/v1/skills/{shared['id']}"
        async with with_key(server, key) as b:
            b_agent = (await b.post("/v1/agents", json={"agent_key": "b-agent", **RUNNABLE})).json()
            listed = (await b.get("/v1/skills")).json()["skills"]
            assert [s["slug"] for s in listed] == ["deploy-helper"]
            assert_error(await b.get(f"/v1/skills/{own['id']}"), 404, "NOT_FOUND")
            assert (await b.get(f"{url}/files/checklist.md")).json()["content"] == "- shared"
            for method, path, body in (("PUT", url, {"description": "pwned"}), ("DELETE", url, None),
                                       ("POST", f"{url}/toggle", {"enabled": False})):  # fmt: skip
                assert_error(await b.request(method, path, json=body), 409, "FAILED_PRECONDITION")
            assert (await b.post(f"{url}/grants/agent", json={"agent_id": "b-agent"})).status_code == 201
            mine = (await b.get("/v1/agents/b-agent/skills")).json()["skills"]
            assert [(s["slug"], s["granted"]) for s in mine] == [("deploy-helper", True)]
            assert (await b.get("/v1/skills/export/preview")).json()["skills"] == 0

            catalog = server.gateway.skills.catalog
            ctx = ToolContext(tenant_id=uuid.UUID(tenant["id"]), agent_id=uuid.UUID(b_agent["id"]),
                              agent_key="b-agent", session_key="s", user_id="", run_id=uuid.uuid4())  # fmt: skip
            [tool] = await catalog.run_tools(None, ctx)  # type: ignore[arg-type]
            read = await tool.fn(ctx, {"name": "deploy-helper", "path": "checklist.md"})
            assert read == "- shared"

            res = await b.put(f"{url}/tenant-config", json={"enabled": False})
            assert res.json() == {"status": "updated"}
            assert (await b.get(url)).json()["tenant_enabled"] is False
            assert await catalog.run_tools(None, ctx) == []  # type: ignore[arg-type]
        async with world.http() as http:
            master = (await http.get(url)).json()
            assert (master["tenant_enabled"], master["description"]) == (
                None,
                "Ship a service with a blue/green rollout.",
            )
            assert (await http.get(f"{url}/grants/agent")).json()["grants"] == []
