"""The built-in tools through ``POST /v1/tools/invoke`` on a real gateway: web_fetch's SSRF guard,
the file tools' workspace containment, exec's allowlist, literal arguments, scrubbed environment and
kill on timeout, and the per-tenant enable/settings routes."""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.http.helpers import assert_error, mint_key, with_key
from tests.tools.conftest import Tools


class TestWebFetch:
    async def test_loopback_address_is_refused(self, tools: Tools, site: str) -> None:
        """127.0.0.1 is refused before any connection."""
        port = site.rsplit(":", 1)[1]
        out = await tools.invoke("web_fetch", {"url": f"http://127.0.0.1:{port}/page"})
        assert out["ok"] is False
        assert "private or reserved" in out["error"]

    async def test_metadata_address_is_refused(self, tools: Tools) -> None:
        """The cloud metadata address is refused, also when the tenant allows it as a host."""
        await tools.configure("web_fetch", settings={"allowed_hosts": ["169.254.169.254"]})
        out = await tools.invoke("web_fetch", {"url": "http://169.254.169.254/latest/meta-data/"})
        assert out["ok"] is False
        assert "private or reserved" in out["error"]
        out = await tools.invoke("web_fetch", {"url": "http://[::ffff:127.0.0.1]/"})
        assert out["ok"] is False
        assert "private or reserved" in out["error"]

    async def test_name_resolving_to_loopback_is_refused(self, tools: Tools, site: str) -> None:
        """``localhost`` resolves to a loopback address: refused after resolution."""
        out = await tools.invoke("web_fetch", {"url": f"{site}/page"})
        assert out["ok"] is False, out
        assert "private or reserved" in out["error"], out

    async def test_allowed_host_is_fetched_as_text(self, tools: Tools, site: str) -> None:
        """A host the tenant allows is fetched; the HTML comes back as readable text."""
        await tools.configure("web_fetch", settings={"allowed_hosts": ["localhost"]})
        out = await tools.invoke("web_fetch", {"url": f"{site}/page"})
        assert out["ok"] is True, out
        assert "Loopback Page" in out["result"]
        assert "Hello tools" in out["result"]
        assert "Readable" in out["result"]
        assert "secret" not in out["result"]
        assert "color" not in out["result"]

    async def test_redirect_to_a_private_address_is_refused(self, tools: Tools, site: str) -> None:
        """A redirect from an allowed host to a private address is checked and refused."""
        await tools.configure("web_fetch", settings={"allowed_hosts": ["localhost"]})
        port = site.rsplit(":", 1)[1]
        for target in (
            f"http://127.0.0.1:{port}/page",
            "http://169.254.169.254/",
            f"http://10.0.0.1:{port}/",
        ):
            out = await tools.invoke("web_fetch", {"url": f"{site}/to?u={target}"})
            assert out["ok"] is False, (target, out)
            assert "private or reserved" in out["error"], (target, out)

    async def test_size_and_time_caps(self, tools: Tools, site: str) -> None:
        """The body is read up to max_bytes, the text cut to max_chars; a slow host times out."""
        await tools.configure("web_fetch", settings={"allowed_hosts": ["localhost"], "max_bytes": 2048,
                                                     "max_chars": 500, "timeout_seconds": 0.5})  # fmt: skip
        out = await tools.invoke("web_fetch", {"url": f"{site}/big"})
        assert out["ok"], out
        assert out["result"].endswith("[truncated]")
        assert out["result"].count("word") <= 100
        started = time.monotonic()
        out = await tools.invoke("web_fetch", {"url": f"{site}/slow"})
        assert out["ok"] is False, out
        assert "did not answer within 0.5 s" in out["error"]
        assert time.monotonic() - started < 4

    async def test_bad_scheme_is_refused(self, tools: Tools) -> None:
        out = await tools.invoke("web_fetch", {"url": "file:///etc/passwd"})
        assert out["ok"] is False
        assert "http" in out["error"]

    async def test_tenant_admin_cannot_allow_private_hosts(self, tools: Tools) -> None:
        """Letting web_fetch reach private hosts is the gateway owner's decision."""
        key = await mint_key(tools.server, "operator.admin")
        async with with_key(tools.server, key["key"]) as http:
            res = await http.put(
                "/v1/tools/builtin/web_fetch", json={"settings": {"allowed_hosts": ["localhost"]}}
            )
            assert_error(res, 403, "UNAUTHORIZED")
            res = await http.put("/v1/tools/builtin/web_fetch", json={"settings": {"max_bytes": 5000}})
            assert res.status_code == 200, res.text


class TestFiles:
    async def test_write_read_edit_list_search(self, tools: Tools) -> None:
        out = await tools.invoke("write_file", {"path": "notes/a.txt", "content": "alpha\nbeta\ngamma\n"})
        assert out["ok"], out
        assert (await tools.invoke("read_file", {"path": "notes/a.txt", "offset": 1, "limit": 1}))[
            "result"
        ] == "beta\n"
        out = await tools.invoke("edit", {"path": "notes/a.txt", "old_string": "beta", "new_string": "BETA"})
        assert out["ok"], out
        assert "BETA" in (await tools.invoke("read_file", {"path": "notes/a.txt"}))["result"]
        assert "[DIR]  notes/" in (await tools.invoke("list_files", {}))["result"]
        assert "notes/a.txt:2: BETA" in (await tools.invoke("search", {"pattern": "B.TA"}))["result"]
        ambiguous = await tools.invoke("write_file", {"path": "b.txt", "content": "x x"})
        assert ambiguous["ok"]
        out = await tools.invoke("edit", {"path": "b.txt", "old_string": "x", "new_string": "y"})
        assert out["ok"] is False
        assert "2 times" in out["error"]

    async def test_paths_escaping_the_workspace_are_refused(self, tools: Tools, tmp_path: Path) -> None:
        """``..``, absolute paths, NUL and a symlink leading out are refused."""
        async with tools.owner() as http:  # NUL never passes the gateway's edge
            res = await http.post("/v1/tools/invoke", json={"tool": "read_file", "args": {"path": "a\x00b"}})
            assert_error(res, 400, "INVALID_REQUEST")
        for bad in ("../x.txt", "a/../../x.txt", "/etc/passwd", "C:/x"):
            for tool, args in (("read_file", {"path": bad}), ("write_file", {"path": bad, "content": "x"})):
                out = await tools.invoke(tool, args)
                assert out["ok"] is False, (tool, bad, out)
        outside = tmp_path / "outside.txt"
        outside.write_text("SECRET OUTSIDE")
        await tools.invoke("write_file", {"path": "here.txt", "content": "x"})
        roots = list((tools.server.settings.data_path / "workspaces").rglob("here.txt"))
        assert len(roots) == 1
        (roots[0].parent / "link.txt").symlink_to(outside)
        (roots[0].parent / "dirlink").symlink_to(tmp_path)
        for tool, args in (("read_file", {"path": "link.txt"}), ("write_file", {"path": "link.txt", "content": "x"}),
                           ("read_file", {"path": "dirlink/outside.txt"}), ("list_files", {"path": "dirlink"})):  # fmt: skip
            out = await tools.invoke(tool, args)
            assert out["ok"] is False, (tool, out)
            assert "outside the workspace" in out["error"], (tool, out)
        assert outside.read_text() == "SECRET OUTSIDE"
        assert "SECRET" not in (await tools.invoke("search", {"pattern": "SECRET"}))["result"]

    async def test_each_user_has_a_workspace(self, tools: Tools) -> None:
        await tools.invoke("write_file", {"path": "mine.txt", "content": "alice's"}, user="alice")
        out = await tools.invoke("read_file", {"path": "mine.txt"}, user="bob")
        assert out["ok"] is False
        assert "no such file" in out["error"]

    async def test_write_size_cap(self, tools: Tools) -> None:
        await tools.configure("write_file", settings={"max_write_bytes": 2048})
        out = await tools.invoke("write_file", {"path": "big.txt", "content": "x" * 4096})
        assert out["ok"] is False
        assert "2048" in out["error"]


class TestExec:
    async def test_off_by_default(self, tools: Tools) -> None:
        async with tools.owner() as http:
            res = await http.post(
                "/v1/tools/invoke", json={"tool": "exec", "args": {"command": ["echo", "hi"]}}
            )
            assert_error(res, 409, "FAILED_PRECONDITION")
            listed = {t["name"]: t for t in (await http.get("/v1/tools/builtin")).json()["tools"]}
        assert listed["exec"]["enabled"] is False
        assert listed["web_fetch"]["enabled"] is True

    async def test_arguments_stay_literal(self, tools: Tools) -> None:
        """``;``, ``&&`` and ``$()`` reach the program as they are: no shell."""
        await tools.configure("exec", enabled=True, settings={"allowed_programs": ["echo"]})
        out = await tools.invoke("exec", {"command": ["echo", "a; rm -rf /", "&& id", "$(id)", "`id`"]})
        assert out["ok"], out
        assert "a; rm -rf / && id $(id) `id`" in out["result"]
        assert "exit code 0" in out["result"]
        out = await tools.invoke("exec", {"command": "echo hi; id"})
        assert out["ok"] is False
        assert "not a shell string" in out["error"]

    async def test_program_outside_the_allowlist_is_refused(self, tools: Tools, tmp_path: Path) -> None:
        await tools.configure("exec", enabled=True, settings={"allowed_programs": ["echo"]})
        for argv in (["ls"], ["/bin/sh", "-c", "id"], ["./echo"], ["/nonexistent/echo"]):
            out = await tools.invoke("exec", {"command": argv})
            assert out["ok"] is False, (argv, out)
            assert "allowlist" in out["error"], (argv, out)
        # A link named like an allowed program, pointing at another, is matched on its target.
        fake = tmp_path / "echo"
        fake.symlink_to("/usr/bin/sh")
        out = await tools.invoke("exec", {"command": [str(fake), "-c", "id"]})
        assert out["ok"] is False
        assert "allowlist" in out["error"]

    async def test_environment_is_scrubbed(self, tools: Tools) -> None:
        """No CLAWGATE_*/GOCLAW_* variable, no provider key reaches the child."""
        os.environ["CLAWGATE_TEST_SECRET"] = "gw-secret"
        os.environ["OPENAI_API_KEY"] = "sk-should-not-leak"
        try:
            await tools.configure("exec", enabled=True, settings={
                "allowed_programs": ["env"], "env": {"GREETING": "hello", "GOCLAW_TOKEN": "x", "MY_API_KEY": "k"}})  # fmt: skip
            out = await tools.invoke("exec", {"command": ["env"]})
        finally:
            del os.environ["CLAWGATE_TEST_SECRET"], os.environ["OPENAI_API_KEY"]
        assert out["ok"], out
        text = out["result"]
        assert "GREETING=hello" in text
        assert "PATH=/usr/local/bin:/usr/bin:/bin" in text
        for leaked in ("gw-secret", "sk-should-not-leak", "CLAWGATE_", "GOCLAW_", "MY_API_KEY"):
            assert leaked not in text

    async def test_a_command_that_never_ends_is_killed(self, tools: Tools) -> None:
        """The timeout kills the child's whole process group."""
        await tools.configure(
            "exec", enabled=True, settings={"allowed_programs": ["sleep"], "timeout_seconds": 1}
        )
        started = time.monotonic()
        out = await tools.invoke("exec", {"command": ["sleep", "30"]})
        assert out["ok"], out
        assert "killed after 1 s (timeout)" in out["result"], out
        assert time.monotonic() - started < 10

    async def test_dry_run_says_what_would_run(self, tools: Tools) -> None:
        await tools.configure("exec", enabled=True, settings={"allowed_programs": ["echo"]})
        out = await tools.invoke("exec", {"command": ["echo", "x"]}, dryRun=True)
        assert out["ok"]
        assert out["dryRun"]
        assert "/echo" in out["wouldRun"]
        assert "command" in out["parameters"]["properties"]
        out = await tools.invoke("exec", {"command": ["ls"]}, dryRun=True)
        assert out["ok"] is False
        assert "allowlist" in out["error"]

    async def test_tenant_admin_cannot_enable_exec(self, tools: Tools) -> None:
        key = await mint_key(tools.server, "operator.admin")
        async with with_key(tools.server, key["key"]) as http:
            res = await http.put("/v1/tools/builtin/exec", json={"enabled": True})
            assert_error(res, 403, "UNAUTHORIZED")
            res = await http.put("/v1/tools/builtin/exec/tenant-config", json={"enabled": True})
            assert_error(res, 403, "UNAUTHORIZED")


class TestRoutes:
    async def test_bad_input_gets_the_envelope(self, tools: Tools) -> None:
        async with tools.owner() as http:
            assert_error(await http.get("/v1/tools/builtin/nope"), 404, "NOT_FOUND")
            assert_error(
                await http.post("/v1/tools/invoke", json={"tool": "nope", "args": {}}), 404, "NOT_FOUND"
            )
            assert_error(await http.post("/v1/tools/invoke", json={"args": {}}), 400, "INVALID_REQUEST")
            assert_error(await http.put("/v1/tools/builtin/exec", json={"settings": {"timeout_seconds": -1}}),
                         400, "INVALID_REQUEST")  # fmt: skip
            assert_error(await http.put("/v1/tools/builtin/web_fetch", json={"settings": {"bogus": 1}}),
                         400, "INVALID_REQUEST")  # fmt: skip
            assert_error(await http.put("/v1/tools/builtin/web_fetch", json={}), 400, "INVALID_REQUEST")

    async def test_disable_and_tenant_config(self, tools: Tools) -> None:
        async with tools.owner() as http:
            res = await http.put("/v1/tools/builtin/web_fetch/tenant-config", json={"enabled": False})
            assert res.status_code == 200
            assert res.json() == {
                "tool_name": "web_fetch",
                "enabled": False,
                "effective": False,
            }
            got = (await http.get("/v1/tools/builtin/web_fetch")).json()
            assert got["enabled"] is False
            assert got["tenant_enabled"] is False
            res = await http.post("/v1/tools/invoke", json={"tool": "web_fetch", "args": {"url": "http://x"}})
            assert_error(res, 409, "FAILED_PRECONDITION")
            assert (await http.delete("/v1/tools/builtin/web_fetch/tenant-config")).json() == {
                "status": "deleted"
            }
            assert (await http.get("/v1/tools/builtin/web_fetch")).json()["enabled"] is True

    async def test_viewer_cannot_change_or_invoke(self, tools: Tools) -> None:
        key = await mint_key(tools.server, "operator.read")
        async with with_key(tools.server, key["key"]) as http:
            assert (await http.get("/v1/tools/builtin")).status_code == 200
            assert (await http.get("/v1/tools/builtin/exec/tenant-config")).json()["effective"] is False
            assert_error(await http.delete("/v1/tools/builtin/exec/tenant-config"), 403, "UNAUTHORIZED")
            assert_error(
                await http.put("/v1/tools/builtin/web_fetch", json={"enabled": False}), 403, "UNAUTHORIZED"
            )
            res = await http.post("/v1/tools/invoke", json={"tool": "list_files", "args": {}})
            assert_error(res, 403, "UNAUTHORIZED")
