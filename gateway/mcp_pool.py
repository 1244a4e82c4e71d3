"""Connections to MCP servers through the official ``mcp`` SDK, one per server and process.

A ``Connection`` is opened lazily on its first use and kept open in a task of its own (the SDK's
client is an anyio context that must be entered and left by the same task). When the server dies
the task ends; the next use opens it again, no sooner than a backoff after the failure (0.5 s
doubling up to 30 s), so a dead server costs a run nothing but the error. ``close`` ends it.

A stdio server never inherits the gateway's environment: it gets the SDK's minimal set (``PATH``,
``HOME``, ``USER``, ``SHELL``, ``TERM``, ``LOGNAME``) and the record's own ``env``, and nothing
named ``CLAWGATE_*`` / ``GOCLAW_*`` even there. Connections are per process: each worker opens its
own (docs/mcp.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx2
import orjson
import structlog
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import CONNECTION_CLOSED, CallToolResult, TextContent

__all__ = ["Connection", "McpFailure", "RemoteTool", "ServerSpec", "render_result", "scrubbed_env"]

log = structlog.get_logger("clawgate.mcp")

_BACKOFF_FIRST = 0.5
_BACKOFF_MAX = 30.0
_OPEN_TIMEOUT = 30.0  # a stdio server may take seconds to start (npx, a Python interpreter)
_SCRUBBED_PREFIXES = ("CLAWGATE_", "GOCLAW_")


class McpFailure(Exception):
    """An MCP server could not be reached or did not answer; the message says which and why."""


@dataclass(frozen=True, slots=True)
class ServerSpec:
    """How to reach one server (decrypted, in memory only). Equal specs share a connection."""

    name: str
    transport: str
    command: str = ""
    args: tuple[str, ...] = ()
    url: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_key: str = ""
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class RemoteTool:
    """A tool as the server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]


def scrubbed_env(env: Sequence[tuple[str, str]]) -> dict[str, str]:
    """The record's ``env`` without gateway-named variables (the SDK adds only PATH, HOME and a few)."""
    return {k: v for k, v in env if not k.upper().startswith(_SCRUBBED_PREFIXES)}


def render_result(result: CallToolResult) -> str:
    """A tool result as text for the model: text blocks as they are, other blocks and structured
    content as JSON."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, TextContent):
            parts.append(block.text)
        else:
            parts.append(orjson.dumps(block.model_dump(mode="json", exclude_none=True)).decode())
    if not parts and result.structured_content is not None:
        parts.append(orjson.dumps(result.structured_content).decode())
    return "\n".join(parts)


def _transport(spec: ServerSpec) -> Any:
    if spec.transport == "stdio":
        return StdioServerParameters(command=spec.command, args=list(spec.args), env=scrubbed_env(spec.env))
    headers = dict(spec.headers)
    if spec.api_key and not any(k.lower() == "authorization" for k in headers):
        headers["Authorization"] = f"Bearer {spec.api_key}"
    if spec.transport == "sse":
        return sse_client(spec.url, headers=headers, timeout=spec.timeout)
    return _streamable_http(spec.url, headers, spec.timeout)


@contextlib.asynccontextmanager
async def _streamable_http(url: str, headers: dict[str, str], timeout: float) -> AsyncIterator[Any]:
    """The SDK's streamable-HTTP transport with our headers; the SDK leaves a client it was given
    open, so this closes it."""
    async with (
        create_mcp_http_client(headers=headers, timeout=httpx2.Timeout(timeout, read=300.0)) as client,
        streamable_http_client(url, http_client=client) as streams,
    ):
        yield streams


@dataclass(eq=False)
class Connection:
    """One open (or openable) session with one server. Safe to share between concurrent runs."""

    spec: ServerSpec
    _client: Client | None = None
    _task: asyncio.Task[None] | None = None
    _opening: asyncio.Future[Client] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _failures: int = 0
    _retry_at: float = 0.0
    _last_error: str = ""
    _tools: list[RemoteTool] | None = None
    # Set when the server sends something that is not JSON-RPC: the calls in flight fail at once
    # (the SDK drops such a message, so they would otherwise wait for their timeout).
    _garbled: asyncio.Future[str] | None = None

    @property
    def is_open(self) -> bool:
        return self._client is not None and self._task is not None and not self._task.done()

    @property
    def listed(self) -> list[RemoteTool] | None:
        """The tool list of the open session, if it was fetched (no I/O)."""
        return self._tools if self.is_open else None

    async def client(self) -> Client:
        """The open session, opening it if needed (within the server's timeout).

        Raises: McpFailure when it cannot be opened, or is waiting out its backoff after a failure.
        """
        if self._client is not None and self.is_open:
            return self._client
        if self._opening is None or self._opening.done():
            wait = self._retry_at - time.monotonic()
            if wait > 0:
                raise McpFailure(
                    f"MCP server {self.spec.name} is unavailable ({self._last_error}); retrying in {wait:.1f} s"
                )
            self._stop = asyncio.Event()
            self._opening = asyncio.get_running_loop().create_future()
            self._task = asyncio.get_running_loop().create_task(
                self._serve(self._opening), name=f"mcp-{self.spec.name}"
            )
        limit = max(self.spec.timeout, _OPEN_TIMEOUT)
        try:
            async with asyncio.timeout(limit):
                return await asyncio.shield(self._opening)
        except TimeoutError:
            self._fail(f"no answer to the handshake within {limit:g} s")
            await self.close()
            raise McpFailure(f"MCP server {self.spec.name} did not start within {limit:g} s") from None

    async def _serve(self, opening: asyncio.Future[Client]) -> None:
        try:
            self._garbled = asyncio.get_running_loop().create_future()
            async with Client(
                _transport(self.spec),
                read_timeout_seconds=self.spec.timeout,
                cache=None,
                message_handler=self._on_message,
            ) as client:
                self._client = client
                self._failures = 0
                if not opening.done():
                    opening.set_result(client)
                await self._stop.wait()
        except asyncio.CancelledError:
            if not opening.done():
                opening.set_exception(McpFailure(f"MCP server {self.spec.name} was closed"))
            raise
        except BaseException as exc:  # the SDK's task groups raise exception groups
            self._fail(_describe(exc))
            log.warning("mcp.server_down", server=self.spec.name, error=self._last_error)
            if not opening.done():
                opening.set_exception(McpFailure(f"MCP server {self.spec.name} failed: {self._last_error}"))
        finally:
            self._client = None
            self._tools = None

    async def _on_message(self, message: Any) -> None:
        """The SDK's handler of what the server sends outside answers: an exception stands for a
        message that is not JSON-RPC."""
        if isinstance(message, Exception) and self._garbled is not None and not self._garbled.done():
            self._garbled.set_result(_describe(message))

    def _fail(self, reason: str) -> None:
        self._last_error = reason
        self._failures += 1
        self._retry_at = time.monotonic() + min(_BACKOFF_MAX, _BACKOFF_FIRST * 2 ** (self._failures - 1))

    async def tools(self) -> list[RemoteTool]:
        """The server's tools (listed once per open session). Raises: McpFailure."""
        if self._tools is not None and self.is_open:
            return self._tools
        client = await self.client()
        try:
            async with asyncio.timeout(self.spec.timeout):
                listed = await client.list_tools()
        except TimeoutError:
            raise McpFailure(
                f"MCP server {self.spec.name} did not list its tools within {self.spec.timeout:g} s"
            ) from None
        except Exception as exc:
            raise McpFailure(
                f"MCP server {self.spec.name} could not list its tools: {_describe(exc)}"
            ) from None
        self._tools = [RemoteTool(t.name, t.description or "", dict(t.input_schema)) for t in listed.tools]
        return self._tools

    async def call(
        self, name: str, arguments: dict[str, Any], timeout: float | None = None
    ) -> CallToolResult:
        """Call tool ``name`` (within ``timeout`` seconds, by default the server's). Raises:
        McpFailure when the server is down, dies or times out (the connection is then reopened on
        the next use); cancellation abandons the call."""
        client = await self.client()
        garbled = self._garbled
        limit = self.spec.timeout if timeout is None else timeout
        try:
            async with asyncio.timeout(limit):
                if garbled is None:
                    return await client.call_tool(name, arguments)
                call = asyncio.ensure_future(client.call_tool(name, arguments))
                try:
                    await asyncio.wait((call, garbled), return_when=asyncio.FIRST_COMPLETED)
                finally:
                    if not call.done():
                        call.cancel()
                if call.done() and not call.cancelled():
                    return call.result()
                reason = f"sent a message that is not JSON-RPC ({garbled.result().splitlines()[0][:200]})"
                self._fail(reason)
                await self.close()  # a server that garbles its stream is not trusted further
                raise McpFailure(f"MCP server {self.spec.name} {reason} during {name}")
        except McpFailure:
            raise
        except TimeoutError:
            raise McpFailure(
                f"MCP server {self.spec.name} did not answer {name} within {limit:g} s"
            ) from None
        except Exception as exc:
            reason = _describe(exc)
            if not self.is_open or (isinstance(exc, MCPError) and exc.error.code == CONNECTION_CLOSED):
                self._fail(reason)  # the server died: reopened on a later use, after the backoff
                await self.close()
            raise McpFailure(f"MCP server {self.spec.name} failed on {name}: {reason}") from None

    async def close(self) -> None:
        """End the session (and a stdio server's process). Idempotent."""
        self._stop.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            try:
                async with asyncio.timeout(5):
                    await asyncio.shield(task)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._client = None
        self._tools = None


def _describe(exc: BaseException) -> str:
    """The innermost meaningful message of ``exc`` (the SDK wraps failures in exception groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
