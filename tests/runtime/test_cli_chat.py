"""``clawgate chat AGENT MESSAGE``, run as a real subprocess against a real gateway: the answer streams
to stdout, the session key to stderr, and a refused call or an unreachable gateway exit 1."""

from __future__ import annotations

from pathlib import Path

from tests.gateway.test_cli import run_cli
from tests.runtime.conftest import ChatSetup
from tests.support import GATEWAY_TOKEN, free_port
from tests.upstream import Reply


class TestChatCommand:
    async def test_streams_the_answer_and_names_the_session(self, chat: ChatSetup, tmp_path: Path) -> None:
        """The answer's chunks reach stdout; ``--session`` with the printed key continues it."""
        chat.upstream.script(Reply(content="Hello from the agent"), Reply(content="Second answer"))
        first = await run_cli("chat", "helper", "hi", "--url", chat.server.url, "--token", GATEWAY_TOKEN,
                              cwd=tmp_path)  # fmt: skip
        assert first.code == 0, first.err
        assert first.out == "Hello from the agent\n"
        key = first.err.strip().removeprefix("session: ")
        assert key.startswith("agent:helper:")
        second = await run_cli("chat", "helper", "again", "--session", key, "--url", chat.server.url,
                               cwd=tmp_path, CLAWGATE_GATEWAY_TOKEN=GATEWAY_TOKEN)  # fmt: skip
        assert (second.code, second.out) == (0, "Second answer\n"), second.err
        assert len(chat.upstream.turns[1]["messages"]) > len(chat.upstream.turns[0]["messages"])

    async def test_refusals_and_failures_exit_1(self, chat: ChatSetup, tmp_path: Path) -> None:
        """A wrong token, an unknown agent, a failed run and an unreachable gateway each exit 1
        with a message on stderr."""
        url = chat.server.url
        chat.upstream.script(Reply(status=401))
        wrong = await run_cli("chat", "helper", "hi", "--url", url, "--token", "nope", cwd=tmp_path)
        unknown = await run_cli("chat", "nobody", "hi", "--url", url, "--token", GATEWAY_TOKEN, cwd=tmp_path)
        failed = await run_cli("chat", "helper", "hi", "--url", url, "--token", GATEWAY_TOKEN, cwd=tmp_path)
        down = await run_cli("chat", "helper", "hi", "--port", str(free_port()), cwd=tmp_path)
        assert (wrong.code, unknown.code, failed.code, down.code) == (1, 1, 1, 1)
        assert "UNAUTHORIZED" in wrong.err
        assert "NOT_FOUND" in unknown.err
        assert "run.failed" in failed.err
        assert "cannot talk to the gateway" in down.err

    async def test_help_explains_the_command(self, tmp_path: Path) -> None:
        """``clawgate chat --help`` names the arguments and the token's sources."""
        res = await run_cli("chat", "--help", cwd=tmp_path)
        assert res.code == 0
        for text in ("AGENT", "MESSAGE", "--token", "CLAWGATE_GATEWAY_TOKEN", "--session", "--url"):
            assert text in res.out
