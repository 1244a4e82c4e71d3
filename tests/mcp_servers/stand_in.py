"""A real MCP server built with the official ``mcp`` SDK, for the MCP tests. Run as a script
(``python tests/mcp_servers/stand_in.py``) it serves stdio; its folder holds nothing else, so the
script's ``sys.path[0]`` shadows no standard module (``tests/`` has an ``http`` package).

Tools: ``echo``, ``add``, ``env_names`` (the variables the process got), ``time`` (named so that a
``current_`` prefix collides with the built-in ``current_time``), and the faults ``crash`` (the
process exits mid-call) and ``hang`` (never answers). Malformed JSON-RPC comes from
``garbled.py`` beside it.
"""

from __future__ import annotations

import asyncio
import os

from mcp.server.mcpserver import MCPServer

__all__ = ["SCRIPT", "build"]

SCRIPT = os.path.abspath(__file__)


def build() -> MCPServer:
    server = MCPServer("stand-in")

    @server.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        return f"echo: {text}"

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def env_names() -> str:
        """The names of the environment variables of this process."""
        return ",".join(sorted(os.environ))

    @server.tool()
    def time() -> str:
        """A tool whose prefixed name may collide with a built-in."""
        return "mcp time"

    @server.tool()
    def crash() -> str:
        """Exit the process in the middle of the call."""
        os._exit(3)

    @server.tool()
    async def hang() -> str:
        """Never answer."""
        await asyncio.sleep(3600)
        return "late"

    return server


if __name__ == "__main__":
    build().run("stdio")
