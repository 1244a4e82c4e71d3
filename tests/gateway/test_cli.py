"""The ``clawgate`` command, run as a real subprocess: doctor, serve, migrate, api-key."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from clawgate.cli import build_parser, example_config
from clawgate.embedded_pg import EmbeddedPostgres
from tests.support import GATEWAY_TOKEN, TEST_KEY, RunningServer, free_port

_SCRIPT = Path(sys.executable).with_name("clawgate")
CLAWGATE = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "clawgate.cli"]
LINE = re.compile(r"^(OK  |WARN|FAIL) [a-z ]+: \S")


@dataclass
class Result:
    code: int
    out: str
    err: str

    def checks(self) -> dict[str, str]:
        """doctor's lines by check name -> status."""
        found = {}
        for line in self.out.splitlines():
            status, _, rest = line.partition(" ")
            found[rest.strip().split(":")[0]] = status
        return found


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ClawGate/GoClaw settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAWGATE_", "GOCLAW_"))}
    env.update(extra)
    return env


async def run_cli(*args: str, cwd: Path, timeout: float = 60, **env: str) -> Result:
    """Run ``clawgate *args`` to completion without blocking this event loop."""
    proc = await asyncio.create_subprocess_exec(
        *CLAWGATE, *args, cwd=cwd, env=clean_env(**env),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return Result(proc.returncode, out.decode(), err.decode())


class TestDoctor:
    async def test_fresh_data_dir_passes_and_changes_nothing(self, tmp_path: Path) -> None:
        """On a fresh machine every check is OK or WARN (exit 0), one line each, and nothing is created."""
        data = tmp_path / "data"
        res = await run_cli("doctor", "--data-dir", str(data), "--port", str(free_port()), cwd=tmp_path)
        assert res.code == 0, res
        lines = res.out.splitlines()
        assert all(LINE.match(line) for line in lines), lines
        checks = res.checks()
        assert list(checks) == [
            "config", "auth", "data dir", "encryption key", "database", "pgvector", "migrations",
            "provider secrets", "port",
        ]  # fmt: skip
        assert "FAIL" not in checks.values()
        assert checks["auth"] == "WARN"  # no token: development mode
        assert not data.exists()

    async def test_public_host_without_token_fails(self, tmp_path: Path) -> None:
        """Listening on 0.0.0.0 without a token is a FAIL and exit code 1."""
        res = await run_cli("doctor", "--host", "0.0.0.0", "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
        assert res.code == 1
        assert res.checks()["auth"] == "FAIL"
        assert "without a gateway token" in res.out

    async def test_invalid_config_fails_naming_the_field(self, tmp_path: Path) -> None:
        """An invalid config file is one FAIL line naming the field."""
        config = tmp_path / "bad.json"
        config.write_text('{"gateway": {"port": "http"}}')
        res = await run_cli("doctor", "--config", str(config), cwd=tmp_path)
        assert res.code == 1
        assert res.out.startswith("FAIL config:")
        assert "$.gateway.port" in res.out

    async def test_unreachable_database_fails(self, tmp_path: Path) -> None:
        """A DSN nobody answers on is a FAIL."""
        port = free_port()
        res = await run_cli(
            "doctor", "--port", "0", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=f"postgresql://u@127.0.0.1:{port}/x"
        )
        assert res.code == 1
        assert res.checks()["database"] == "FAIL"

    async def test_port_taken_by_another_program_fails(self, tmp_path: Path) -> None:
        """A port something else listens on is a FAIL (serve could not bind it)."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            port = sock.getsockname()[1]
            res = await run_cli(
                "doctor", "--port", str(port), "--data-dir", str(tmp_path / "d"), cwd=tmp_path
            )
        assert res.code == 1
        assert res.checks()["port"] == "FAIL"
        assert "in use by another program" in res.out

    async def test_provider_secret_checked_against_the_key(
        self, server: RunningServer, dsn: str, tmp_path: Path
    ) -> None:
        """With the key the secret was written with, doctor passes; with another key it fails."""
        async with server.client(GATEWAY_TOKEN) as http:
            res = await http.post("/v1/providers", json={"name": "openai", "api_key": "sk-test-0123456789"})
        assert res.status_code in {200, 201}, res.text
        common = ("doctor", "--port", "0", "--data-dir", str(tmp_path / "d"))
        good = await run_cli(*common, cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn, CLAWGATE_ENCRYPTION_KEY=TEST_KEY,
                             CLAWGATE_GATEWAY_TOKEN=GATEWAY_TOKEN)  # fmt: skip
        assert good.code == 0, good
        assert set(good.checks().values()) == {"OK"}, good.out
        assert "all 1 decrypt" in good.out
        bad = await run_cli(
            *common, cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn, CLAWGATE_ENCRYPTION_KEY="b" * 64
        )
        assert bad.code == 1
        assert bad.checks()["provider secrets"] == "FAIL"
        assert "master/openai" in bad.out
        assert "sk-test" not in bad.out + good.out


class TestServeRefusal:
    async def test_public_host_without_token_refuses_to_start(self, tmp_path: Path) -> None:
        """serve on 0.0.0.0 without a token exits non-zero with a plain message, before touching data."""
        data = tmp_path / "data"
        res = await run_cli("serve", "--host", "0.0.0.0", "--data-dir", str(data), cwd=tmp_path, timeout=30)
        assert res.code != 0
        assert "refusing to listen on 0.0.0.0 without a gateway token" in res.err
        assert "CLAWGATE_GATEWAY_TOKEN" in res.err
        assert "Traceback" not in res.err
        assert not data.exists()

    async def test_busy_port_exits_2_before_the_database_starts(self, tmp_path: Path) -> None:
        """serve on a port another program listens on exits 2 with a hint about --port, before the
        embedded PostgreSQL is created (the data directory stays absent); so does --workers 2."""
        data = tmp_path / "data"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()
            port = str(sock.getsockname()[1])
            one = await run_cli("serve", "--port", port, "--data-dir", str(data), cwd=tmp_path, timeout=30)
            two = await run_cli(
                "serve", "--port", port, "--workers", "2", "--data-dir", str(data), cwd=tmp_path, timeout=30
            )
        for res in (one, two):
            assert res.code == 2, res
            assert f"127.0.0.1:{port} is already in use" in res.err
            assert "--port" in res.err
            assert "Traceback" not in res.err
        assert not data.exists()

    async def test_invalid_env_refuses_to_start(self, tmp_path: Path) -> None:
        """A bad CLAWGATE_* value stops serve with exit code 2 and the variable's name."""
        res = await run_cli("serve", cwd=tmp_path, timeout=30, CLAWGATE_PORT="eighty")
        assert res.code == 2
        assert "CLAWGATE_PORT='eighty'" in res.err


class TestMigrate:
    async def test_empty_database_gets_every_migration_once(
        self, pg: tuple[EmbeddedPostgres, str], tmp_path: Path
    ) -> None:
        """The first run prints each applied migration; the second has nothing to do."""
        base = pg[1]
        conn = await asyncpg.connect(base)
        try:
            await conn.execute("DROP DATABASE IF EXISTS cli_migrate")
            await conn.execute("CREATE DATABASE cli_migrate")
        finally:
            await conn.close()
        head, _, query = base.partition("?")
        target = f"{head.rsplit('/', 1)[0]}/cli_migrate?{query}"
        try:
            first = await run_cli("migrate", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=target)
            assert first.code == 0, first
            assert "applied 0001_init" in first.out
            second = await run_cli("migrate", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=target)
            assert second.code == 0, second
            assert "no pending migrations" in second.out
            assert "applied" not in second.out
        finally:
            conn = await asyncpg.connect(base)
            try:
                await conn.execute("DROP DATABASE IF EXISTS cli_migrate WITH (FORCE)")
            finally:
                await conn.close()


class TestApiKey:
    async def test_created_key_works_until_revoked(
        self, server: RunningServer, dsn: str, tmp_path: Path
    ) -> None:
        """A key made by the CLI authenticates against a running server with its scopes' role;
        revoking it with the CLI locks it out of that server at once."""
        created = await run_cli(
            "api-key", "create", "--name", "ci", "--scopes", "operator.read", "--json",
            cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn,
        )  # fmt: skip
        assert created.code == 0, created
        key = json.loads(created.out)
        assert key["key"].startswith("clawgate_")
        assert key["scopes"] == ["operator.read"]
        async with server.client(key["key"]) as http:
            assert (await http.get("/v1/agents")).status_code == 200
            assert (await http.post("/v1/agents", json={"agent_key": "x"})).status_code == 403

        listed = await run_cli("api-key", "list", "--json", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn)
        assert listed.code == 0, listed
        [row] = [r for r in json.loads(listed.out) if r["id"] == key["id"]]
        assert row["revoked"] is False
        assert key["key"] not in listed.out

        revoked = await run_cli("api-key", "revoke", key["id"], cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn)
        assert revoked.code == 0, revoked
        async with server.client(key["key"]) as http:
            status = 200
            for _ in range(100):  # the revocation reaches the server over LISTEN/NOTIFY
                status = (await http.get("/v1/agents")).status_code
                if status == 401:
                    break
                await asyncio.sleep(0.02)
        assert status == 401

    async def test_human_output_shows_key_once(self, dsn: str, tmp_path: Path) -> None:
        """Without --json the raw key is printed once with a warning; list shows only the prefix."""
        created = await run_cli(
            "api-key", "create", "--name", "ops", "--scopes", "operator.admin,operator.write", "--owner", "alice",
            "--expires-in", "3600", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn,
        )  # fmt: skip
        assert created.code == 0, created
        [raw] = re.findall(r"clawgate_[0-9a-f]{32}", created.out)
        assert "only time the key is shown" in created.out
        assert "owner:   alice" in created.out
        listed = await run_cli("api-key", "list", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn)
        assert "ops" in listed.out
        assert raw[9:17] in listed.out
        assert raw not in listed.out

    async def test_unknown_scope_is_refused(self, dsn: str, tmp_path: Path) -> None:
        """An unknown scope exits 1 naming the valid ones."""
        res = await run_cli(
            "api-key", "create", "--name", "x", "--scopes", "root", cwd=tmp_path, CLAWGATE_POSTGRES_DSN=dsn
        )
        assert res.code == 1
        assert "operator.read" in res.err

    async def test_revoking_unknown_key_fails(self, dsn: str, tmp_path: Path) -> None:
        """Revoking an id that does not exist exits 1 and says so."""
        res = await run_cli(
            "api-key",
            "revoke",
            "00000000-0000-0000-0000-000000000000",
            cwd=tmp_path,
            CLAWGATE_POSTGRES_DSN=dsn,
        )
        assert res.code == 1
        assert "not found" in res.err


class TestConfigExample:
    async def test_command_prints_the_checked_in_example(self, tmp_path: Path) -> None:
        """`clawgate config-example` prints exactly config.example.json (regenerate the file with it)."""
        res = await run_cli("config-example", cwd=tmp_path)
        assert res.code == 0
        assert res.out.encode() == example_config()


class TestServeEmbedded:
    async def test_existing_data_dir_serves_ready_with_json_logs(self, tmp_path: Path) -> None:
        """With an existing data dir and the embedded database, serve reaches /readyz 200, logs JSON
        lines carrying the request id and no secret, shuts down gracefully on SIGINT, and doctor
        then passes."""
        data = tmp_path / "data"
        migrated = await run_cli("migrate", "--data-dir", str(data), cwd=tmp_path, timeout=120)
        assert migrated.code == 0, migrated
        port = free_port()
        env = clean_env(CLAWGATE_LOG_FORMAT="json", CLAWGATE_GATEWAY_TOKEN=GATEWAY_TOKEN)
        proc = await asyncio.create_subprocess_exec(
            *CLAWGATE, "serve", "--data-dir", str(data), "--port", str(port), cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
                ready = 0
                deadline = asyncio.get_running_loop().time() + 90  # a loaded machine starts slowly
                while asyncio.get_running_loop().time() < deadline:
                    try:
                        ready = (await http.get("/readyz")).status_code
                    except httpx.TransportError:
                        ready = 0
                    if ready == 200 or proc.returncode is not None:
                        break
                    await asyncio.sleep(0.05)
                assert ready == 200
                headers = {"Authorization": f"Bearer {GATEWAY_TOKEN}", "X-Request-Id": "cli-test-rid-1"}
                assert (await http.get("/v1/agents", headers=headers)).status_code == 200
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        # uvicorn re-raises the SIGINT after its graceful shutdown: the conventional 128 + 2.
        assert proc.returncode == 130, err.decode()
        lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
        assert lines[-1]["event"] == f"Finished server process [{proc.pid}]"
        assert "gateway.stopped" in [line["event"] for line in lines]
        [request] = [line for line in lines if line.get("request_id") == "cli-test-rid-1"]
        assert request["event"] == "http.request"
        assert request["path"] == "/v1/agents"
        assert request["status"] == 200
        assert GATEWAY_TOKEN not in out.decode() + err.decode()

        doctor = await run_cli("doctor", "--data-dir", str(data), "--port", str(port), cwd=tmp_path,
                               CLAWGATE_GATEWAY_TOKEN=GATEWAY_TOKEN)  # fmt: skip
        assert doctor.code == 0, doctor
        assert set(doctor.checks().values()) == {"OK"}, doctor.out
        assert "mode 0600" in doctor.out


class TestHelp:
    def test_every_option_and_argument_has_help(self) -> None:
        """Every option and positional argument of every command says what it is for."""
        missing: list[str] = []

        def audit(parser: argparse.ArgumentParser, where: str) -> None:
            for action in parser._actions:
                if isinstance(action, argparse._SubParsersAction):
                    for name, child in action.choices.items():
                        audit(child, f"{where} {name}")
                elif (
                    not isinstance(action, argparse._HelpAction | argparse._VersionAction) and not action.help
                ):
                    missing.append(f"{where} {'/'.join(action.option_strings) or action.dest}")

        audit(build_parser(), "clawgate")
        assert not missing, missing

    async def test_help_names_the_exit_codes(self, tmp_path: Path) -> None:
        """``clawgate --help`` lists the exit codes, 2 with the busy port among them."""
        res = await run_cli("--help", cwd=tmp_path)
        assert res.code == 0
        assert "exit codes:" in res.out
        assert "port already in use" in res.out
