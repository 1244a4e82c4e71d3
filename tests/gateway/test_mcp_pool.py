"""Connections to MCP servers (``clawgate.mcp_pool``) against real servers: the official
filesystem server from the npm registry over stdio (``npx``), and the SDK-built stand-in over
streamable HTTP. The faults of a server are tested through runs in tests/http/test_mcp.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from clawgate.mcp_pool import Connection, McpFailure, ServerSpec, render_result, scrubbed_env
from tests.mcp_stand_in import HttpMcpServer
from tests.upstream import unreachable_url

needs_npx = pytest.mark.skipif(shutil.which("npx") is None, reason="Node's npx is not installed")


@needs_npx
async def test_the_official_filesystem_server_over_stdio(tmp_path: Path) -> None:
    """``npx -y @modelcontextprotocol/server-filesystem <dir>``: its tools are listed and one
    reads a file of the directory it was given."""
    (tmp_path / "hello.txt").write_text("hello from a file")
    spec = ServerSpec(name="fs", transport="stdio", command="npx",
                      args=("-y", "@modelcontextprotocol/server-filesystem", str(tmp_path)), timeout=120)  # fmt: skip
    connection = Connection(spec)
    try:
        names = {t.name for t in await connection.tools()}
        result = await connection.call("read_text_file", {"path": str(tmp_path / "hello.txt")})
        outside = await connection.call("read_text_file", {"path": "/etc/hostname"})
    finally:
        await connection.close()
    assert {"read_text_file", "list_directory", "write_file"} <= names
    assert render_result(result) == "hello from a file"
    assert outside.is_error
    assert not connection.is_open


async def test_streamable_http_session_is_reused_and_closed() -> None:
    async with HttpMcpServer() as server:
        connection = Connection(
            ServerSpec(name="web", transport="streamable-http", url=server.url, timeout=10)
        )
        first = await connection.client()
        total = await connection.call("add", {"a": 1, "b": 2})
        assert await connection.client() is first
        await connection.close()
    assert render_result(total) == "3"
    assert not connection.is_open


async def test_the_sse_transport() -> None:
    async with HttpMcpServer("sse") as server:
        connection = Connection(ServerSpec(name="old", transport="sse", url=server.url, timeout=10))
        try:
            names = {t.name for t in await connection.tools()}
            echoed = await connection.call("echo", {"text": "over sse"})
        finally:
            await connection.close()
    assert "echo" in names
    assert render_result(echoed) == "echo: over sse"


async def test_an_unreachable_server_fails_then_waits_out_its_backoff() -> None:
    connection = Connection(
        ServerSpec(name="gone", transport="streamable-http", url=unreachable_url(), timeout=5)
    )
    with pytest.raises(McpFailure, match="gone"):
        await connection.tools()
    with pytest.raises(McpFailure, match="retrying in"):
        await connection.tools()
    await connection.close()


def test_record_env_loses_gateway_names() -> None:
    assert scrubbed_env([("A", "1"), ("CLAWGATE_TOKEN", "x"), ("goclaw_key", "y")]) == {"A": "1"}
