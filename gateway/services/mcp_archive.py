"""GoClaw's MCP archive (``/v1/mcp/export``, ``/v1/mcp/import``): ``mcp-servers-YYYYMMDD.tar.gz``
holding ``servers.jsonl`` (server definitions, never an api_key) and ``grants.jsonl`` (agent grants
as ``server_name`` + ``agent_key``, with their ``tool_allow`` / ``tool_deny`` / ``config_overrides``
when set). Reading never uses a path of the archive on disk."""

from __future__ import annotations

import io
import tarfile
import time
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

from clawgate.errors import invalid_field
from clawgate.store.mcp import McpServerRow

__all__ = [
    "ArchiveGrant",
    "ArchiveServer",
    "ExportPreview",
    "GrantOverrides",
    "ImportResult",
    "ServerName",
    "Text",
    "ToolNames",
    "ToolPrefix",
    "Transport",
    "read_archive",
    "write_archive",
]

Transport = Literal["stdio", "sse", "streamable-http"]
ServerName = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
ToolPrefix = Annotated[str, Meta(max_length=40, pattern=r"^[A-Za-z0-9_-]*$")]
Text = Annotated[str, Meta(max_length=4096)]
ToolNames = Annotated[list[Annotated[str, Meta(min_length=1, max_length=255)]], Meta(max_length=1000)]
"""A grant's ``tool_allow`` / ``tool_deny``: tool names as the server lists them or as agents see
them (with the prefix)."""

_MEMBER_CAP = 10 * 1024 * 1024


class ExportPreview(Struct, kw_only=True):
    servers: int
    grants: int


class ImportResult(Struct, kw_only=True):
    servers_imported: int
    servers_skipped: int
    grants_applied: int


class ArchiveServer(Struct, kw_only=True):
    """A line of ``servers.jsonl`` (other fields, such as ids and times, are ignored)."""

    name: ServerName
    transport: Transport
    command: Text = ""
    args: list[Text] = []
    url: Text = ""
    headers: dict[str, Text] = {}
    env: dict[str, Text] = {}
    tool_prefix: ToolPrefix = ""
    timeout_sec: Annotated[int, Meta(ge=1, le=600)] = 60
    enabled: bool = True
    config: dict[str, Any] = {}
    settings: dict[str, Any] = {}


class GrantOverrides(Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """An agent grant's ``config_overrides``: the record's ``tool_prefix`` and ``timeout_sec`` for
    that agent's runs."""

    tool_prefix: ToolPrefix | None = None
    timeout_sec: Annotated[int, Meta(ge=1, le=600)] | None = None


class ArchiveGrant(Struct, kw_only=True, omit_defaults=True):
    """A line of ``grants.jsonl`` (the lists and overrides only when set)."""

    server_name: str
    agent_key: str
    tool_allow: ToolNames = []
    tool_deny: ToolNames = []
    config_overrides: GrantOverrides | None = None


def write_archive(servers: Sequence[McpServerRow], grants: Sequence[ArchiveGrant]) -> tuple[str, bytes]:
    """The archive of ``servers`` and ``grants``: its file name and bytes."""
    lines: dict[str, Sequence[ArchiveServer] | Sequence[ArchiveGrant]] = {
        "servers.jsonl": [msgspec.convert(msgspec.structs.asdict(r), ArchiveServer) for r in servers],
        "grants.jsonl": grants,
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member, items in lines.items():
            data = b"".join(msgspec.json.encode(item) + b"\n" for item in items)
            info = tarfile.TarInfo(member)
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
    return f"mcp-servers-{time.strftime('%Y%m%d')}.tar.gz", buffer.getvalue()


def read_archive(data: bytes) -> tuple[list[ArchiveServer], list[ArchiveGrant]]:
    """The servers and grants of an archive: the regular ``servers.jsonl`` / ``grants.jsonl``
    members, wherever they sit in it (anything else is ignored).

    Raises: InvalidRequest (not a tar.gz, a member over 10 MB, a bad line)."""
    lines: dict[str, list[bytes]] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar:
                name = member.name.rsplit("/", 1)[-1]
                if not member.isreg() or name not in ("servers.jsonl", "grants.jsonl"):
                    continue
                if member.size > _MEMBER_CAP:
                    raise invalid_field("file", f"{name} is over {_MEMBER_CAP // 1048576} MB")
                handle = tar.extractfile(member)
                content = handle.read(_MEMBER_CAP + 1) if handle is not None else b""
                lines[name] = [line for line in content.splitlines() if line.strip()]
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise invalid_field("file", f"not a tar.gz archive: {exc}") from None
    try:
        servers = [msgspec.json.decode(line, type=ArchiveServer) for line in lines.get("servers.jsonl", [])]
        grants = [msgspec.json.decode(line, type=ArchiveGrant) for line in lines.get("grants.jsonl", [])]
    except msgspec.ValidationError as exc:
        raise invalid_field("file", f"the archive has a bad line: {exc}") from None
    return servers, grants
