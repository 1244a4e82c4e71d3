"""The file tools (GoClaw's names and arguments): ``read_file``, ``write_file``, ``edit``,
``list_files``, ``search``, in the run's workspace.

A workspace is a directory under the data directory: ``workspaces/<tenant>/<agent>/users/<user>`` for
a run with a user (GoClaw's per-user workspaces), ``.../shared`` without one. Every path is relative
to it: NUL, absolute paths and ``..`` are refused before anything is touched; the path is then
resolved (symlinks followed) and must still be inside the workspace, and the final open does not
follow a symlink (``O_NOFOLLOW``), so a link swapped in between is refused too. Sizes are capped by
the tenant's settings (``FileSettings``).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any

import regex
from msgspec import Meta, Struct

from clawgate.tools import ToolContext, ToolError, count_arg, register, text_arg

__all__ = ["FileSettings", "contained", "read_regular", "workspace_of", "write_regular"]


class FileSettings(Struct, kw_only=True, forbid_unknown_fields=True):
    """A tenant's file-tool settings: the largest file read or written, and a search's budget."""

    max_read_bytes: Annotated[int, Meta(ge=1024, le=10_000_000)] = 256_000
    max_write_bytes: Annotated[int, Meta(ge=1024, le=10_000_000)] = 1_000_000
    max_search_files: Annotated[int, Meta(ge=1, le=100_000)] = 2000


_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def workspace_of(data_path: Path, ctx: ToolContext) -> Path:
    """The run's workspace directory (created on first use)."""
    base = data_path / "workspaces" / str(ctx.tenant_id) / str(ctx.agent_id)
    if ctx.user_id:
        digest = hashlib.sha256(ctx.user_id.encode()).hexdigest()[:12]
        base = base / "users" / f"user_{_SAFE.sub('_', ctx.user_id)[:48]}_{digest}"
    else:
        base = base / "shared"
    base.mkdir(parents=True, exist_ok=True)
    return base.resolve()


def contained(root: Path, raw: object, *, default: str | None = None) -> Path:
    """``raw`` (a path relative to ``root``) resolved inside ``root``. Raises: ToolError."""
    if raw is None or raw == "":
        if default is None:
            raise ToolError("path must be a non-empty string")
        raw = default
    if not isinstance(raw, str):
        raise ToolError("path must be a string")
    if "\x00" in raw:
        raise ToolError("path contains a NUL character")
    if raw.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", raw):
        raise ToolError("absolute paths are refused; give a path relative to the workspace")
    if any(part == ".." for part in re.split(r"[/\\]", raw)):
        raise ToolError("'..' is refused; paths stay inside the workspace")
    resolved = (root / raw).resolve()
    if resolved != root and not resolved.is_relative_to(root):
        raise ToolError("the path leads outside the workspace (a symbolic link?)")
    return resolved


def _shown(root: Path, path: Path) -> str:
    return str(path.relative_to(root)) if path != root else "."


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of the regular file ``path`` (not through a final symlink), at most ``limit``.
    Raises: ToolError."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        raise ToolError("no such file") from None
    except IsADirectoryError:
        raise ToolError("that is a directory") from None
    except OSError as exc:
        raise ToolError(f"cannot read the file ({exc.strerror})") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # before fdopen, which refuses a directory with a bare OSError
        os.close(fd)
        raise ToolError("not a regular file")
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ToolError(f"the file is larger than {limit} bytes")
    return data


def write_regular(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (its folders made), not through a final symlink. Raises: ToolError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    try:
        fd = os.open(path, flags, 0o644)
    except IsADirectoryError:
        raise ToolError("that is a directory") from None
    except OSError as exc:
        raise ToolError(f"cannot write the file ({exc.strerror})") from None
    with os.fdopen(fd, "wb") as f:
        f.write(data)


async def _env(ctx: ToolContext, tool: str) -> tuple[Path, FileSettings]:
    """The run's workspace and the tenant's settings of ``tool``."""
    if ctx.builtin is None:
        raise ToolError("the workspace is not available here")
    return ctx.builtin.workspace(ctx), await ctx.builtin.settings_of(ctx.tenant_id, tool, FileSettings)


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError("the file is not UTF-8 text") from None


@register(
    "read_file",
    "Read a text file of your workspace, optionally a range of lines (offset from 0, limit).",
    {"type": "object", "required": ["path"], "properties": {
        "path": {"type": "string", "description": "Path relative to the workspace"},
        "offset": {"type": "integer", "minimum": 0}, "limit": {"type": "integer", "minimum": 1}}},
)  # fmt: skip
async def read_file(ctx: ToolContext, args: dict[str, Any]) -> str:
    root, conf = await _env(ctx, "read_file")
    path = contained(root, args.get("path"))
    text = _text(await asyncio.to_thread(read_regular, path, conf.max_read_bytes))
    offset, limit = args.get("offset"), args.get("limit")
    if isinstance(offset, int) or isinstance(limit, int):
        lines = text.splitlines(keepends=True)
        start = offset if isinstance(offset, int) and offset > 0 else 0
        end = start + limit if isinstance(limit, int) and limit > 0 else len(lines)
        text = "".join(lines[start:end])
    return text


@register(
    "write_file",
    "Write (create or replace) a text file in your workspace; folders are created as needed.",
    {"type": "object", "required": ["path", "content"], "properties": {
        "path": {"type": "string"}, "content": {"type": "string"}}},
)  # fmt: skip
async def write_file(ctx: ToolContext, args: dict[str, Any]) -> str:
    root, conf = await _env(ctx, "write_file")
    path = contained(root, args.get("path"))
    content = args.get("content")
    if not isinstance(content, str):
        raise ToolError("content must be a string")
    data = content.encode("utf-8")
    if len(data) > conf.max_write_bytes:
        raise ToolError(f"content is larger than {conf.max_write_bytes} bytes")
    await asyncio.to_thread(write_regular, path, data)
    return f"wrote {len(data)} bytes to {_shown(root, path)}"


@register(
    "edit",
    "Edit a file of your workspace by replacing exact text: old_string must occur once (or set replace_all).",
    {"type": "object", "required": ["path", "old_string", "new_string"], "properties": {
        "path": {"type": "string"}, "old_string": {"type": "string"}, "new_string": {"type": "string"},
        "replace_all": {"type": "boolean"}}},
)  # fmt: skip
async def edit(ctx: ToolContext, args: dict[str, Any]) -> str:
    root, conf = await _env(ctx, "edit")
    path = contained(root, args.get("path"))
    old, new = text_arg(args, "old_string"), args.get("new_string")
    if not isinstance(new, str):
        raise ToolError("new_string must be a string")
    content = _text(await asyncio.to_thread(read_regular, path, conf.max_read_bytes))
    count = content.count(old)
    if count == 0:
        raise ToolError("old_string not found in the file")
    if count > 1 and args.get("replace_all") is not True:
        raise ToolError(f"old_string occurs {count} times; set replace_all or give more context")
    updated = content.replace(old, new) if args.get("replace_all") is True else content.replace(old, new, 1)
    data = updated.encode("utf-8")
    if len(data) > conf.max_write_bytes:
        raise ToolError(f"the edited file would be larger than {conf.max_write_bytes} bytes")
    await asyncio.to_thread(write_regular, path, data)
    return f"edited {_shown(root, path)} ({count if args.get('replace_all') is True else 1} replacement(s))"


def _listing(root: Path, path: Path) -> str:
    if not path.is_dir():
        raise ToolError("no such directory")
    lines = []
    for entry in sorted(os.scandir(path), key=lambda e: e.name)[:1000]:
        if entry.is_dir(follow_symlinks=False):
            lines.append(f"[DIR]  {entry.name}/")
        elif entry.is_file(follow_symlinks=False):
            lines.append(f"[FILE] {entry.name} ({entry.stat(follow_symlinks=False).st_size} bytes)")
        else:
            lines.append(f"[LINK] {entry.name}")
    return "\n".join(lines) or "(empty)"


@register(
    "list_files",
    "List the files and folders of a folder of your workspace (the workspace itself by default).",
    {
        "type": "object",
        "properties": {"path": {"type": "string", "description": "Folder; omit for the root"}},
    },
)
async def list_files(ctx: ToolContext, args: dict[str, Any]) -> str:
    root, _ = await _env(ctx, "list_files")
    path = contained(root, args.get("path"), default=".")
    return await asyncio.to_thread(_listing, root, path)


def _search(root: Path, base: Path, pattern: regex.Pattern[str], conf: FileSettings, most: int) -> list[str]:
    hits: list[str] = []
    seen = 0
    for folder, dirs, files in os.walk(base, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            seen += 1
            if seen > conf.max_search_files or len(hits) >= most:
                return hits
            path = Path(folder) / name
            if path.is_symlink() or path.stat().st_size > conf.max_read_bytes:
                continue
            try:
                text = path.read_text("utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            for number, line in enumerate(text.splitlines(), 1):
                try:
                    found = pattern.search(line[:4000], timeout=0.05)
                except TimeoutError:
                    raise ToolError("the pattern takes too long; simplify it") from None
                if found:
                    hits.append(f"{_shown(root, path)}:{number}: {line[:300]}")
                    if len(hits) >= most:
                        return hits
    return hits


@register(
    "search",
    "Search the text files of your workspace for a regular expression; returns path:line: text.",
    {"type": "object", "required": ["pattern"], "properties": {
        "pattern": {"type": "string", "description": "A regular expression"},
        "path": {"type": "string", "description": "Folder to search; omit for the whole workspace"},
        "max_results": {"type": "integer", "minimum": 1, "maximum": 20}}},
)  # fmt: skip
async def search(ctx: ToolContext, args: dict[str, Any]) -> str:
    root, conf = await _env(ctx, "search")
    base = contained(root, args.get("path"), default=".")
    raw = text_arg(args, "pattern")
    if len(raw) > 1000:
        raise ToolError("pattern is longer than 1000 characters")
    try:
        pattern = regex.compile(raw)
    except regex.error as exc:
        raise ToolError(f"invalid pattern: {exc}") from None
    hits = await asyncio.to_thread(_search, root, base, pattern, conf, count_arg(args, "max_results", 20))
    return "\n".join(hits) or "no match"
