"""GoClaw's team archive (``GET /v1/teams/{id}/export``, ``.../export/preview``, ``POST
/v1/teams/import``): a team with its agents, tasks, comments, attachments and workspace files as
one ``team-<slug>-YYYYMMDD.tar.gz``, in GoClaw's layout:

- ``manifest.json``: ``{version: 1, kind: "team", team_name, agent_keys, sections: {name: count},
  exported_at}``; an import reads version 1 only.
- ``team/team.json``: ``{name, description, settings}``.
- ``team/members.jsonl``: ``{agent_key, role}`` (one ``lead``).
- ``team/tasks.jsonl``: a task per line, ClawGate's canonical status (``backlog`` ... ``cancelled``)
  and GoClaw's names elsewhere (``subject``, ``owner_agent_key``, ``progress_percent``);
  ``id`` and ``depends_on`` are the exporting server's ids, used as references only.
- ``team/comments.jsonl``: ``{task_id, agent_key, user_id, content, created_at}``, oldest first.
- ``team/events.jsonl``: the team's history (GoClaw's event shape), for reading: an import does not
  replay it (the imported team's history starts with its import).
- ``team/links.jsonl``: GoClaw's agent links, which ClawGate does not model: always empty.
- ``team/attachments.jsonl``: ``{id, task_id, chat_id, path, file_name, mime_type, size}``, each
  ``path`` one of the workspace files.
- ``team/workspace/<path>``: the files of the team's workspace (per chat folder when isolated).
- ``agents/<agent_key>/agent.json``: each member agent's configuration (as ``GET /v1/agents/{id}``
  answers it; provider keys are never part of an agent).

An import makes new agents (GoClaw's rule: a key already taken gets ``-2``, ``-3`` ...; never the
tenant's default agent) and a new team of them in the caller's tenant, in one transaction, after
every part was read and checked. The archive is read without trusting it
(``clawgate.services.skill_archive.read_tar``: 20 MB packed, 64 MB unpacked, 1000 files, no links,
no ``..``), each file at most ``MAX_MEMBER_BYTES``.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from clawgate.errors import InvalidRequest, PayloadTooLarge
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.services.agents import AgentCreate, AgentService, to_out
from clawgate.services.skill_archive import MAX_ARCHIVE_BYTES, read_tar, write_tar
from clawgate.services.tasks import TaskService, now
from clawgate.services.team_workspace import TeamWorkspace, files_under
from clawgate.services.teams import ExportPreview, Name, TeamService, Text, event_out, slug_of
from clawgate.store import Database, DbConnection
from clawgate.store import coord_events as events
from clawgate.store import tasks as task_store
from clawgate.store import teams as store
from clawgate.store.coord_events import EventRow, NewEvent
from clawgate.store.tasks import TaskState
from clawgate.store.teams import AttachmentRow
from clawgate.tools import ToolError
from clawgate.tools.files import contained, write_regular

__all__ = ["ARCHIVE_VERSION", "MAX_MEMBER_BYTES", "ImportResult", "TeamArchive"]

ARCHIVE_VERSION: Final = 1
MAX_MEMBER_BYTES: Final = 10 << 20
"""The largest file an imported archive may hold (a JSONL part or a workspace file)."""
MAX_TASKS: Final = 10_000
"""The tasks (and comments, events) an export carries at most."""
_WORKSPACE: Final = "team/workspace/"

AgentKey = Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,100}$")]
Ref = Annotated[str, Meta(min_length=1, max_length=100)]
Short = Annotated[str, Meta(max_length=512)]


class Manifest(Struct, kw_only=True):
    version: int
    kind: str = "team"
    team_name: str = ""
    agent_keys: list[str] = []
    sections: dict[str, int] = {}
    exported_at: str = ""


class ArchiveTeam(Struct, kw_only=True):
    name: Name
    description: Text = ""
    settings: dict[str, Any] = {}


class ArchiveMember(Struct, kw_only=True):
    agent_key: AgentKey
    role: Literal["lead", "member", "reviewer"]


class ArchiveTask(Struct, kw_only=True):
    id: Ref
    subject: Annotated[str, Meta(min_length=1, max_length=500)]
    description: Text = ""
    status: Literal["backlog", "ready", "in_progress", "review", "done", "cancelled"] = "backlog"
    blocked: bool = False
    blocked_reason: Text = ""
    priority: Annotated[int, Meta(ge=0, le=3)] = 2
    task_type: Annotated[str, Meta(max_length=64)] = "general"
    owner_agent_key: AgentKey | None = None
    created_by_agent_key: AgentKey | None = None
    created_by_user: Short = ""
    result: Text | None = None
    progress_percent: Annotated[int, Meta(ge=0, le=100)] = 0
    progress_step: Short = ""
    channel: Short = ""
    chat_id: Short = ""
    user_id: Short = ""
    depends_on: Annotated[list[Ref], Meta(max_length=1000)] = []
    metadata: dict[str, Any] = {}
    custom_fields: dict[str, Any] = {}
    due_at: datetime | None = None


class ArchiveComment(Struct, kw_only=True):
    task_id: Ref
    content: Annotated[str, Meta(min_length=1, max_length=10_000)]
    agent_key: AgentKey | None = None
    user_id: Short = ""
    created_at: datetime | None = None


class ArchiveAttachment(Struct, kw_only=True):
    id: Ref
    task_id: Ref
    path: Annotated[str, Meta(min_length=1, max_length=1024)]
    file_name: Annotated[str, Meta(min_length=1, max_length=255)]
    mime_type: Annotated[str, Meta(min_length=1, max_length=255)] = "application/octet-stream"
    chat_id: Short = ""
    size: int = 0


class ImportResult(Struct, kw_only=True):
    """GoClaw's answer (201), with the new team's id and what came in."""

    team_id: str
    team_name: str
    agents_added: int
    agent_keys: list[str]
    tasks: int
    comments: int
    attachments: int
    workspace_files: int


class _Bundle(Struct, kw_only=True):
    """An archive, read and checked."""

    team: ArchiveTeam
    members: list[ArchiveMember]
    agents: dict[str, AgentCreate]
    tasks: list[ArchiveTask]
    comments: list[ArchiveComment]
    attachments: list[ArchiveAttachment]
    workspace: dict[str, bytes]


def _bad(detail: str) -> InvalidRequest:
    return InvalidRequest(detail=f"team archive: {detail}")


def _json(value: Any) -> bytes:
    return msgspec.json.encode(value)


def _jsonl(items: list[Any]) -> bytes:
    return b"".join(msgspec.json.encode(item) + b"\n" for item in items)


def _decode(name: str, data: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.DecodeError as exc:
        raise _bad(f"{name}: {exc}") from None


def _lines(files: dict[str, bytes], name: str, kind: type[Any]) -> list[Any]:
    out = []
    for number, line in enumerate(files.get(name, b"").splitlines(), 1):
        if line.strip():
            out.append(_decode(f"{name} line {number}", line, kind))
    return out


def read_bundle(data: bytes) -> _Bundle:
    """Every part of an archive, checked against the others. Raises: PayloadTooLarge (over 20 MB);
    InvalidRequest naming the part (not a tar.gz, no manifest, another version, a file over
    ``MAX_MEMBER_BYTES``, a bad line, a reference to nothing)."""
    files: dict[str, bytes] = {}
    for path, content in read_tar(data, MAX_MEMBER_BYTES):
        if path in files:
            raise _bad(f"{path} is in the archive twice")
        files[path] = content
    if "manifest.json" not in files:
        raise _bad("no manifest.json (is this a team export?)")
    manifest = _decode("manifest.json", files["manifest.json"], Manifest)
    if manifest.version != ARCHIVE_VERSION or manifest.kind != "team":
        raise _bad(f"manifest.json says {manifest.kind} version {manifest.version}; this server reads "
                   f"team version {ARCHIVE_VERSION}")  # fmt: skip
    if "team/team.json" not in files:
        raise _bad("no team/team.json")
    team = _decode("team/team.json", files["team/team.json"], ArchiveTeam)
    members: list[ArchiveMember] = _lines(files, "team/members.jsonl", ArchiveMember)
    keys = [m.agent_key for m in members]
    if [m.role for m in members].count("lead") != 1 or len(set(keys)) != len(keys):
        raise _bad("team/members.jsonl must name each agent once, exactly one of them the lead")
    agents: dict[str, AgentCreate] = {}
    for key in keys:
        name = f"agents/{key}/agent.json"
        if name not in files:
            raise _bad(f"no {name} for member {key}")
        agents[key] = _decode(name, files[name], AgentCreate)
    tasks: list[ArchiveTask] = _lines(files, "team/tasks.jsonl", ArchiveTask)
    ids = {t.id for t in tasks}
    if len(ids) != len(tasks):
        raise _bad("team/tasks.jsonl has a task id twice")
    for t in tasks:
        if any(d not in ids or d == t.id for d in t.depends_on):
            raise _bad(f"task {t.id}: depends_on names a task not in the archive (or itself)")
        for agent in (t.owner_agent_key, t.created_by_agent_key):
            if agent and agent not in agents:
                raise _bad(f"task {t.id}: agent {agent} is not a member of the team")
    comments: list[ArchiveComment] = _lines(files, "team/comments.jsonl", ArchiveComment)
    for c in comments:
        if c.task_id not in ids or (c.agent_key and c.agent_key not in agents):
            raise _bad(f"a comment names task {c.task_id} or agent {c.agent_key}, not in the archive")
    workspace = {p.removeprefix(_WORKSPACE): b for p, b in files.items() if p.startswith(_WORKSPACE)}
    attachments: list[ArchiveAttachment] = _lines(files, "team/attachments.jsonl", ArchiveAttachment)
    for a in attachments:
        if a.task_id not in ids or a.path not in workspace:
            raise _bad(f"attachment {a.id}: its task or its file ({a.path}) is not in the archive")
    return _Bundle(team=team, members=members, agents=agents, tasks=tasks, comments=comments,
                   attachments=attachments, workspace=workspace)  # fmt: skip


def _pack(files: dict[str, bytes], on_disk: dict[str, Path]) -> bytes:
    """The tar.gz of ``files`` and the workspace files read from disk (one gone meanwhile is left
    out; one grown past ``MAX_MEMBER_BYTES`` fails the export, as its import would)."""
    parts = list(files.items())
    for name, path in on_disk.items():
        try:
            content = path.read_bytes()
        except FileNotFoundError:
            continue
        if len(content) > MAX_MEMBER_BYTES:
            raise _bad(f"workspace file {name.removeprefix(_WORKSPACE)} is over {MAX_MEMBER_BYTES} bytes")
        parts.append((name, content))
    return write_tar(parts)


def _free_key(key: str, taken: set[str]) -> str:
    """``key``, or GoClaw's ``key-2``, ``key-3`` ... when it is taken."""
    candidate, n = key, 1
    while candidate in taken:
        n += 1
        candidate = f"{key[: 100 - len(str(n)) - 1]}-{n}"
    taken.add(candidate)
    return candidate


def _restore(root: Path, files: dict[str, bytes]) -> None:
    """Write the workspace files under ``root`` (each path checked to stay inside it)."""
    for path, content in files.items():
        try:
            write_regular(contained(root, path), content)
        except ToolError as exc:
            raise _bad(f"workspace file {path}: {exc}") from None


class TeamArchive:
    """Export, preview and import of a team, for callers that may read it (import: admins)."""

    def __init__(
        self,
        db: Database,
        teams: TeamService,
        agents: AgentService,
        tasks: TaskService,
        workspace: TeamWorkspace,
    ) -> None:
        self._db = db
        self._teams = teams
        self._agents = agents
        self._tasks = tasks
        self._workspace = workspace

    async def _collect(
        self, who: Principal, team_id: UUID
    ) -> tuple[str, dict[str, bytes], dict[str, Path], dict[str, int]]:
        """The archive's parts (path -> bytes), its workspace files (archive path -> file on disk)
        and its section counts. Raises: NotFound."""
        team = await self._teams.reachable(who, team_id)
        async with self._db.connection() as conn:
            members = await store.list_members(conn, who.tenant_id, team_id)
            rows = await task_store.list_tasks(
                conn, who.tenant_id, task_store.TaskFilter(team_id=team_id), MAX_TASKS
            )
            log = await events.page(conn, who.tenant_id, events.Where(team_id=team_id), MAX_TASKS, 0)
            attached = await store.attachments(conn, who.tenant_id, team_id)
        agents = {str(a.id): a for a in await self._agents.list_agents(who)}
        key_of = {m.agent_id: m.agent_key for m in members}
        rows.reverse()  # oldest first: an import numbers them in the same order
        log.reverse()
        tasks = [
            ArchiveTask(
                id=str(t.id), subject=t.title, description=t.description, status=t.status,  # type: ignore[arg-type]
                blocked=t.blocked, blocked_reason=t.blocked_reason, priority=t.priority, task_type=t.task_type,
                owner_agent_key=key_of.get(t.assignee_agent_id) if t.assignee_agent_id else None,
                created_by_agent_key=key_of.get(t.created_by_agent_id) if t.created_by_agent_id else None,
                created_by_user=t.created_by_user, result=t.result, progress_percent=t.progress,
                progress_step=t.progress_step, channel=t.channel, chat_id=t.chat_id, user_id=t.user_id,
                depends_on=[str(d) for d in t.depends_on],
                metadata=t.metadata, custom_fields=t.custom_fields, due_at=t.due_at,
            )
            for t in rows
        ]  # fmt: skip
        exported = {t.id for t in tasks}
        for t in tasks:  # a dependency past the export's cap is dropped, not left dangling
            t.depends_on = [d for d in t.depends_on if d in exported]
        comments = [
            ArchiveComment(task_id=str(e.task_id), content=e.message or "", created_at=e.created_at,
                           agent_key=key_of.get(e.agent_id) if e.agent_id else None, user_id=e.user_id or "")
            for e in log if e.kind == "task.comment" and e.message and str(e.task_id) in exported
        ]  # fmt: skip
        history = [event_out(e) for e in log if e.kind != "task.comment"]
        root = self._workspace.root(who.tenant_id, team_id)
        workspace = dict(await asyncio.to_thread(files_under, root))
        links = [a for a in attached if a.path in workspace and str(a.task_id) in exported]
        files: dict[str, bytes] = {
            "team/team.json": _json(ArchiveTeam(name=team.name, description=team.description, settings=team.settings)),
            "team/members.jsonl": _jsonl([ArchiveMember(agent_key=m.agent_key, role=m.role) for m in members]),  # type: ignore[arg-type]
            "team/tasks.jsonl": _jsonl(tasks),
            "team/comments.jsonl": _jsonl(comments),
            "team/events.jsonl": _jsonl(history),
            "team/links.jsonl": b"",
            "team/attachments.jsonl": _jsonl([_attachment(a) for a in links]),
        }  # fmt: skip
        for m in members:
            if (agent := agents.get(str(m.agent_id))) is not None:
                files[f"agents/{m.agent_key}/agent.json"] = _json(to_out(agent))
        sections = {
            "members": len(members), "tasks": len(tasks), "comments": len(comments), "events": len(history),
            "agent_links": 0, "attachments": len(links), "workspace_files": len(workspace),
        }  # fmt: skip
        manifest = Manifest(version=ARCHIVE_VERSION, team_name=team.name, agent_keys=[m.agent_key for m in members],
                            sections=sections, exported_at=now().strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
        on_disk = {_WORKSPACE + rel: path for rel, path in workspace.items()}
        return team.name, {"manifest.json": _json(manifest), **files}, on_disk, sections

    async def preview(self, who: Principal, team_id: UUID) -> ExportPreview:
        """What an export of the team holds (counts; no archive built). Raises: NotFound."""
        name, _, _, sections = await self._collect(who, team_id)
        return ExportPreview(team_name=name, **sections)

    async def export(self, who: Principal, team_id: UUID) -> tuple[str, bytes]:
        """The archive's file name and bytes. Raises: NotFound; PayloadTooLarge (an archive past the
        20 MB an import accepts)."""
        name, files, on_disk, _ = await self._collect(who, team_id)
        data = await asyncio.to_thread(_pack, files, on_disk)
        if len(data) > MAX_ARCHIVE_BYTES:
            raise PayloadTooLarge(limit=MAX_ARCHIVE_BYTES)
        return f"team-{slug_of(name) or 'team'}-{time.strftime('%Y%m%d')}.tar.gz", data

    async def import_archive(self, who: Principal, data: bytes) -> ImportResult:
        """A new team (and new agents) from an archive. Raises: Forbidden below admin;
        PayloadTooLarge; InvalidRequest (a bad archive, an agent whose provider or model this
        tenant cannot run)."""
        require(who, Role.ADMIN, "teams.import")
        bundle = await asyncio.to_thread(read_bundle, data)
        taken = {a.agent_key for a in await self._agents.list_agents(who)}
        keys = {m.agent_key: _free_key(m.agent_key, taken) for m in bundle.members}
        fields = {}
        for old, body in bundle.agents.items():
            body = msgspec.structs.replace(
                body, agent_key=keys[old], is_default=False, owner_id=msgspec.UNSET
            )
            try:
                fields[old] = await self._agents.prepare(who, body)
            except InvalidRequest as exc:
                raise _bad(f"agents/{old}/agent.json: {exc.message('en')}") from None
        out: list[EventRow] = []
        made = []
        async with self._db.transaction() as conn:
            agent_ids = {}
            for old, f in fields.items():
                row = await self._agents.insert(conn, who, f)
                made.append(row)
                agent_ids[old] = row.id
            team_id = await store.insert_team(
                conn, who.tenant_id, kind="team", name=bundle.team.name, slug=slug_of(bundle.team.name),
                description=bundle.team.description, settings=bundle.team.settings, created_by=who.coord_user,
            )  # fmt: skip
            for m in bundle.members:
                await store.put_member(conn, who.tenant_id, team_id, agent_ids[m.agent_key], m.role)
            await TaskService.record(
                conn, who.tenant_id,
                NewEvent(kind="team.created", team_id=team_id, user_id=who.coord_user, data={"imported": True}),
                out,
            )  # fmt: skip
            task_ids = await self._import_tasks(conn, who, team_id, bundle, agent_ids, out)
            root = self._workspace.root(who.tenant_id, team_id)
            try:
                await asyncio.to_thread(_restore, root, bundle.workspace)
                for a in bundle.attachments:
                    file = store.NewAttachment(
                        chat_id=a.chat_id,
                        path=a.path,
                        file_name=a.file_name,
                        mime_type=a.mime_type,
                        size=len(bundle.workspace[a.path]),
                    )
                    await store.put_attachment(
                        conn, who.tenant_id, team_id, task_ids[a.task_id], file, who.coord_user
                    )
            except BaseException:
                await asyncio.to_thread(shutil.rmtree, root, True)
                raise
        for row in made:
            await self._agents.created(who, row)
        await self._teams.created(who, team_id, out)
        return ImportResult(
            team_id=str(team_id), team_name=bundle.team.name, agents_added=len(made),
            agent_keys=[keys[m.agent_key] for m in bundle.members], tasks=len(bundle.tasks),
            comments=len(bundle.comments), attachments=len(bundle.attachments),
            workspace_files=len(bundle.workspace),
        )  # fmt: skip

    async def _import_tasks(
        self,
        conn: DbConnection,
        who: Principal,
        team_id: UUID,
        bundle: _Bundle,
        agents: dict[str, UUID],
        out: list[EventRow],
    ) -> dict[str, UUID]:
        """The archive's tasks (then their dependencies and comments) in the new team;
        the new id of each archive id."""
        ids: dict[str, UUID] = {}
        for t in bundle.tasks:
            new = task_store.NewTask(
                team_id=team_id, title=t.subject, description=t.description, task_type=t.task_type,
                status=t.status, priority=t.priority,
                assignee_agent_id=agents[t.owner_agent_key] if t.owner_agent_key else None,
                created_by_user=t.created_by_user,
                created_by_agent_id=agents[t.created_by_agent_key] if t.created_by_agent_key else None,
                in_progress_at=now() if t.status == "in_progress" else None, due_at=t.due_at, channel=t.channel,
                chat_id=t.chat_id, user_id=t.user_id, custom_fields=t.custom_fields, metadata=t.metadata,
            )  # fmt: skip
            ids[t.id] = task_id = await self._tasks.create(conn, who.tenant_id, new, out)
            row = await task_store.get_task(conn, who.tenant_id, task_id)
            assert row is not None
            state = TaskState.of(row)
            state.blocked, state.blocked_reason, state.result = t.blocked, t.blocked_reason, t.result
            state.progress, state.progress_step = t.progress_percent, t.progress_step
            await task_store.set_task(conn, who.tenant_id, task_id, state)
        for t in bundle.tasks:
            if t.depends_on:
                await self._tasks.set_dependencies(
                    conn, who.tenant_id, team_id, ids[t.id], [ids[d] for d in t.depends_on]
                )
        counts = Counter(c.task_id for c in bundle.comments)
        rows = {k: await task_store.get_task(conn, who.tenant_id, ids[k]) for k in counts}
        for c in bundle.comments:
            task = rows[c.task_id]
            assert task is not None
            await self._tasks.comment(
                conn, who.tenant_id, task, c.content, out, agent_id=agents[c.agent_key] if c.agent_key else None,
                user_id=c.user_id or None,
            )  # fmt: skip
        return ids


def _attachment(a: AttachmentRow) -> ArchiveAttachment:
    return ArchiveAttachment(id=str(a.id), task_id=str(a.task_id), path=a.path, file_name=a.file_name,
                             mime_type=a.mime_type, chat_id=a.chat_id, size=a.size)  # fmt: skip
