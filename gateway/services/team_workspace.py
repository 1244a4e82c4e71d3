"""GoClaw's team workspace (``teams.workspace.list|read|delete``): the files of a team, in the data
directory beside the agents' workspaces (``clawgate.tools.files``), scoped by tenant:
``workspaces/<tenant>/teams/<team>/<chat id>/...``, or ``.../teams/<team>/...`` when the team's
settings say ``workspace_scope: shared`` (GoClaw's two modes).

Paths are checked as the file tools check theirs (``contained``: no NUL, no absolute path, no
``..``, resolved inside the scope; a read does not follow a final symlink). GoClaw answers each
file's ``path`` as its place on the server's disk; here it is the path relative to the team's
workspace, which is what a client can send back.

**Task attachments** (GoClaw's ``team_task_attachments``, migration ``0029_task_attachments.sql``):
a file of the team's workspace linked to one of its tasks. An upload with ``task_id`` links the file
it writes (and GoClaw's ``team.task.attachment_added`` goes to the tenant's clients);
``GET /v1/teams/{teamId}/attachments/{attachmentId}/download`` answers the linked file's
bytes as they are now in the workspace (a file moved or deleted since is 404)."""

from __future__ import annotations

import asyncio
import builtins
import mimetypes
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Final
from uuid import UUID

from msgspec import Struct

from clawgate.errors import AlreadyExists, InvalidRequest, NotFound
from clawgate.principal import Principal
from clawgate.services.teams import TeamService
from clawgate.store import Database
from clawgate.store import teams as store
from clawgate.store.teams import AttachmentRow
from clawgate.tools import ToolError
from clawgate.tools.files import contained, read_regular, write_regular

__all__ = ["Download", "TeamWorkspace", "Uploaded", "WorkspaceFile"]

MAX_CONTENT: Final = 500_000
"""Characters of a file ``read`` returns (GoClaw's cut, marked ``[...truncated]``)."""
MAX_READ_BYTES: Final = 4_000_000
MAX_DOWNLOAD_BYTES: Final = 64 << 20
"""The largest attachment a download answers (an imported archive's whole unpacked size)."""
BLOCKED: Final = frozenset(
    {".exe", ".com", ".bat", ".cmd", ".ps1", ".sh", ".msi", ".scr", ".dll", ".so", ".dylib"}
)
"""Executable file types an upload may not bring (GoClaw refuses executables in team workspaces)."""
_CHAT = re.compile(r"^[A-Za-z0-9_.:@-]{1,128}$")


class WorkspaceFile(Struct, kw_only=True, omit_defaults=True):
    """GoClaw's ``workspaceFileEntry``."""

    name: str
    path: str
    size: int = 0
    chat_id: str = ""
    is_dir: bool = False
    updated_at: str = ""


class Uploaded(Struct, kw_only=True, omit_defaults=True):
    """GoClaw's upload answer; ``attachment_id`` when the file was linked to a task."""

    path: str
    filename: str
    size: int
    mime_type: str
    attachment_id: str | None = None


class Download(Struct, kw_only=True):
    """An attachment's bytes with the name and type it is downloaded as."""

    file_name: str
    mime_type: str
    data: bytes


def mime_of(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def files_under(root: Path) -> list[tuple[str, Path]]:
    """Every regular file under ``root`` (no symlink followed), as (its POSIX path relative to
    ``root``, its path), sorted."""
    out: list[tuple[str, Path]] = []
    for directory, folders, names in os.walk(root, followlinks=False):
        folders.sort()
        for name in sorted(names):
            path = Path(directory) / name
            if path.is_file() and not path.is_symlink():
                out.append((path.relative_to(root).as_posix(), path))
    return out


def _stamp(path: Path) -> str:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _walk(root: Path, base: Path, prefix: str, chat: str) -> list[WorkspaceFile]:
    """The entries under ``base`` (directories before their contents), named from ``prefix``."""
    out: list[WorkspaceFile] = []
    try:
        entries = sorted(os.scandir(base), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        name = f"{prefix}/{entry.name}" if prefix else entry.name
        shown = str(Path(entry.path).relative_to(root))
        if entry.is_dir(follow_symlinks=False):
            out.append(WorkspaceFile(name=name, path=shown, chat_id=chat, is_dir=True))
            out += _walk(root, Path(entry.path), name, chat)
        elif entry.is_file(follow_symlinks=False):
            out.append(WorkspaceFile(name=name, path=shown, size=entry.stat().st_size, chat_id=chat,
                                     updated_at=_stamp(Path(entry.path))))  # fmt: skip
    return out


def _list(root: Path, chat: str, shared: bool) -> list[WorkspaceFile]:
    if shared or chat:
        return _walk(root, root / chat if chat else root, "", chat)
    out: list[WorkspaceFile] = []  # isolated, unscoped: each chat's folder, then its tree
    for folder in sorted(
        p for p in (root.iterdir() if root.is_dir() else ()) if p.is_dir() and not p.is_symlink()
    ):
        out.append(WorkspaceFile(name=folder.name, path=folder.name, chat_id=folder.name, is_dir=True))
        out += _walk(root, folder, folder.name, folder.name)
    return out


class TeamWorkspace:
    """The files of a team, for the callers that may see the team (deleting: change it)."""

    def __init__(self, teams: TeamService, data_path: Path, db: Database) -> None:
        self._teams = teams
        self._data = data_path
        self._db = db

    def root(self, tenant_id: UUID, team_id: UUID) -> Path:
        """The team's workspace directory (made on first use)."""
        path = self._data / "workspaces" / str(tenant_id) / "teams" / str(team_id)
        path.mkdir(parents=True, exist_ok=True)
        return path.resolve()

    async def _scope(self, who: Principal, team_id: UUID, chat_id: str, *, write: bool, needed: bool) -> tuple[
            Path, str, bool]:  # fmt: skip
        """The team's root, the chat scope to use, and whether the team shares one workspace.
        Raises: NotFound, Forbidden (the team), InvalidRequest (a bad or missing ``chat_id``)."""
        team = await self._teams.reachable(who, team_id, write=write)
        shared = team.settings.get("workspace_scope") == "shared"
        if shared:
            chat_id = ""
        elif chat_id and not _CHAT.match(chat_id):
            raise InvalidRequest(detail="invalid chat_id")
        elif needed and not chat_id:
            raise InvalidRequest(detail="chat_id is required (the team's workspace is isolated per chat)")
        return self.root(who.tenant_id, team_id), chat_id, shared

    @staticmethod
    def _file(scope: Path, name: str) -> Path:
        try:
            path = contained(scope, name)
        except ToolError as exc:
            raise InvalidRequest(detail=f"invalid file_name: {exc}") from None
        if path == scope:
            raise InvalidRequest(detail="invalid file_name")
        return path

    async def list(self, who: Principal, team_id: UUID, chat_id: str) -> list[WorkspaceFile]:
        """``teams.workspace.list``: every file and folder of the team's workspace, or of one chat's."""
        root, chat, shared = await self._scope(who, team_id, chat_id, write=False, needed=False)
        return await asyncio.to_thread(_list, root, chat, shared)

    async def read(self, who: Principal, team_id: UUID, chat_id: str, name: str) -> tuple[WorkspaceFile, str]:
        """``teams.workspace.read``: one file and its text (cut at ``MAX_CONTENT`` characters).
        Raises: NotFound (no such file), InvalidRequest (a path out of the scope, not a file)."""
        root, chat, _ = await self._scope(who, team_id, chat_id, write=False, needed=True)
        path = self._file(root / chat if chat else root, name)
        try:
            data = await asyncio.to_thread(read_regular, path, MAX_READ_BYTES)
        except ToolError as exc:
            if str(exc) == "no such file":
                raise NotFound(kind="file", id=name) from None
            raise InvalidRequest(detail=str(exc)) from None
        content = data.decode("utf-8", errors="replace")
        if len(content) > MAX_CONTENT:
            content = content[:MAX_CONTENT] + "\n\n[...truncated]"
        entry = WorkspaceFile(name=name, path=str(path.relative_to(root)), size=len(data), chat_id=chat,
                              updated_at=_stamp(path))  # fmt: skip
        return entry, content

    async def delete(self, who: Principal, team_id: UUID, chat_id: str, name: str) -> str:
        """``teams.workspace.delete``: one file (not a folder). Raises: NotFound, InvalidRequest."""
        root, chat, _ = await self._scope(who, team_id, chat_id, write=True, needed=True)
        path = self._file(root / chat if chat else root, name)
        try:
            await asyncio.to_thread(path.unlink)
        except FileNotFoundError:
            raise NotFound(kind="file", id=name) from None
        except (IsADirectoryError, PermissionError):
            raise InvalidRequest(detail="not a file") from None
        return name

    async def upload(
        self,
        who: Principal,
        team_id: UUID,
        chat_id: str,
        filename: str,
        data: bytes,
        task_id: UUID | None = None,
    ) -> Uploaded:
        """``POST /v1/teams/{id}/workspace/upload``: the file into the team's (or chat's) folder,
        replacing one of that name; with ``task_id`` (a task of the team) linked to it as an
        attachment. Raises: NotFound (the team, the task), Forbidden (the team), InvalidRequest (a
        bad name or type)."""
        root, chat, _ = await self._scope(who, team_id, chat_id, write=True, needed=True)
        name = filename.replace("\\", "/").rsplit("/", 1)[-1]
        if name in ("", ".", "..") or ".." in name:
            raise InvalidRequest(detail="invalid filename")
        if (ext := Path(name).suffix.lower()) in BLOCKED:
            raise InvalidRequest(detail=f"file type {ext} is not allowed")
        task = None if task_id is None else await self._teams.get_task(who, team_id, task_id)
        scope = root / chat if chat else root
        path = self._file(scope, name)
        try:
            await asyncio.to_thread(write_regular, path, data)
        except ToolError as exc:
            raise InvalidRequest(detail=str(exc)) from None
        shown, mime = path.relative_to(root).as_posix(), mime_of(name)
        out = Uploaded(path=shown, filename=name, size=len(data), mime_type=mime)
        if task is not None:
            file = store.NewAttachment(
                chat_id=chat, path=shown, file_name=name, mime_type=mime, size=len(data)
            )
            out.attachment_id = str(await self._teams.attach(who, task, file))
        return out

    async def attachments(self, who: Principal, team_id: UUID, task_id: UUID) -> builtins.list[AttachmentRow]:
        """A task's attachments (``teams.tasks.get``), for a caller that may read the team."""
        await self._teams.reachable(who, team_id)
        async with self._db.connection() as conn:
            return await store.attachments(conn, who.tenant_id, team_id, task_id=task_id)

    async def download(self, who: Principal, team_id: UUID, attachment_id: UUID) -> Download:
        """An attachment's file as it is in the workspace now. Raises: NotFound (the team, the
        attachment, or its file gone), InvalidRequest (a file too large to answer)."""
        await self._teams.reachable(who, team_id)
        async with self._db.connection() as conn:
            rows = await store.attachments(conn, who.tenant_id, team_id, attachment_id=attachment_id)
        if not rows:
            raise NotFound(kind="attachment", id=str(attachment_id))
        row = rows[0]
        root = self.root(who.tenant_id, team_id)
        try:
            data = await asyncio.to_thread(read_regular, contained(root, row.path), MAX_DOWNLOAD_BYTES)
        except ToolError as exc:
            if str(exc) == "no such file":
                raise NotFound(kind="attachment file", id=str(attachment_id)) from None
            raise InvalidRequest(detail=str(exc)) from None
        return Download(file_name=row.file_name, mime_type=row.mime_type, data=data)

    async def move(self, who: Principal, team_id: UUID, chat_id: str, source: str, target: str) -> None:
        """``PUT /v1/teams/{id}/workspace/move``: rename a file or folder inside its scope, into a
        folder that exists and onto no existing name. Raises: NotFound (the team, the source),
        InvalidRequest (paths out of the scope, no such destination folder), AlreadyExists (409)."""
        root, chat, _ = await self._scope(who, team_id, chat_id, write=True, needed=True)
        scope = root / chat if chat else root
        src, dst = self._file(scope, source), self._file(scope, target)
        if not src.exists():
            raise NotFound(kind="file", id=source)
        if not dst.parent.is_dir():
            raise InvalidRequest(detail="destination directory does not exist")
        if dst.exists() or dst.is_symlink():
            raise AlreadyExists(kind="file", id=target)
        await asyncio.to_thread(os.rename, src, dst)
