"""Skills (GoClaw's ``/v1/skills*`` and ``GET /v1/agents/{id}/skills``).

``POST /v1/skills/upload`` and ``POST /v1/skills/import`` take ``multipart/form-data`` with one
``file`` part (a zip; a tar.gz), up to 20 MB (``EdgeMiddleware`` lets these two paths carry
``UPLOAD_BODY_LIMIT``). ``GET /v1/skills/export`` answers the archive, or with ``?stream=true``
progress events (SSE) ending with ``complete``. The dependency routes answer 409 FAILED_PRECONDITION:
ClawGate does not manage runtimes.
"""

from __future__ import annotations

import base64
from typing import Annotated

from msgspec import Meta, Struct
from starlette.responses import Response

from clawgate.principal import Role
from clawgate.services.skill_archive import MAX_ARCHIVE_BYTES
from clawgate.services.skills import (
    AgentGrantBody,
    ExportPreview,
    ImportResult,
    SkillPatch,
    ToggleBody,
    ToggleResult,
    UploadResult,
    UserGrantBody,
)
from clawgate.store.types import (
    SkillAgentGrant,
    SkillFileInfo,
    SkillForAgent,
    SkillRow,
    SkillUserGrant,
    SkillVersion,
)

from .routing import archive_response, event_stream, file_part, json_response
from .types import Api, HttpContext, Ok

__all__ = ["ROUTES", "UPLOAD_BODY_LIMIT", "UPLOAD_PATHS"]

UPLOAD_BODY_LIMIT = MAX_ARCHIVE_BYTES + (1 << 20)
"""The body limit of the two upload routes: the 20 MB archive and the multipart framing around it
(a larger archive inside a smaller body is refused by the service, 413 too)."""
UPLOAD_PATHS = ("/v1/skills/upload", "/v1/skills/import")


class NoFields(Struct, kw_only=True, forbid_unknown_fields=True):
    """An upload form carries its ``file`` part only."""


class VersionQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    version: Annotated[int, Meta(ge=1, le=2**31 - 1)] | None = None


class ExportQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    stream: bool = False


class TenantConfigBody(Struct, kw_only=True, forbid_unknown_fields=True):
    enabled: bool


class SkillList(Struct):
    skills: list[SkillRow]


class AgentSkillList(Struct):
    skills: list[SkillForAgent]


class VersionList(Struct):
    versions: list[SkillVersion]
    current: int


class FileList(Struct):
    files: list[SkillFileInfo]
    version: int


class FileContent(Struct):
    path: str
    size: int
    encoding: str  # utf-8 | base64
    content: str


class AgentGrantList(Struct):
    grants: list[SkillAgentGrant]


class UserGrantList(Struct):
    grants: list[SkillUserGrant]


class Status(Struct):
    status: str


async def _archive(ctx: HttpContext) -> bytes:
    """The one ``file`` part of an upload form (``file_part``)."""
    return (await file_part(ctx.request))[1]


async def list_skills(ctx: HttpContext, _: None) -> SkillList:
    return SkillList(skills=await ctx.gateway.skills.list_skills(ctx.who))


async def upload(ctx: HttpContext, _: None) -> Response:
    result, status = await ctx.gateway.skills.upload(ctx.who, await _archive(ctx))
    return json_response(result, status)


async def get_skill(ctx: HttpContext, _: None) -> SkillRow:
    return await ctx.gateway.skills.get(ctx.who, ctx.path["id"])


async def update_skill(ctx: HttpContext, body: SkillPatch) -> Ok:
    await ctx.gateway.skills.update(ctx.who, ctx.path["id"], body)
    return Ok()


async def delete_skill(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.skills.delete(ctx.who, ctx.path["id"])
    return Ok()


async def toggle(ctx: HttpContext, body: ToggleBody) -> ToggleResult:
    return await ctx.gateway.skills.toggle(ctx.who, ctx.path["id"], body)


async def set_tenant_config(ctx: HttpContext, body: TenantConfigBody) -> Status:
    await ctx.gateway.skills.set_tenant_config(ctx.who, ctx.path["id"], body.enabled)
    return Status(status="updated")


async def delete_tenant_config(ctx: HttpContext, _: None) -> Status:
    await ctx.gateway.skills.set_tenant_config(ctx.who, ctx.path["id"], None)
    return Status(status="deleted")


async def versions(ctx: HttpContext, _: None) -> VersionList:
    found = await ctx.gateway.skills.versions(ctx.who, ctx.path["id"])
    return VersionList(versions=found, current=found[0].version if found else 0)


async def files(ctx: HttpContext, q: VersionQuery) -> FileList:
    version, listed = await ctx.gateway.skills.files(ctx.who, ctx.path["id"], q.version)
    return FileList(files=listed, version=version)


async def read_file(ctx: HttpContext, q: VersionQuery) -> FileContent:
    path = ctx.path["path"]
    data = await ctx.gateway.skills.read_file(ctx.who, ctx.path["id"], path, q.version)
    try:
        return FileContent(path=path, size=len(data), encoding="utf-8", content=data.decode("utf-8"))
    except UnicodeDecodeError:
        return FileContent(
            path=path, size=len(data), encoding="base64", content=base64.b64encode(data).decode()
        )


async def agent_grants(ctx: HttpContext, _: None) -> AgentGrantList:
    return AgentGrantList(grants=await ctx.gateway.skills.agent_grants(ctx.who, ctx.path["id"]))


async def grant_agent(ctx: HttpContext, body: AgentGrantBody) -> Ok:
    await ctx.gateway.skills.grant_agent(ctx.who, ctx.path["id"], body)
    return Ok()


async def revoke_agent(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.skills.revoke_agent(ctx.who, ctx.path["id"], ctx.path["agentID"])
    return Ok()


async def user_grants(ctx: HttpContext, _: None) -> UserGrantList:
    return UserGrantList(grants=await ctx.gateway.skills.user_grants(ctx.who, ctx.path["id"]))


async def grant_user(ctx: HttpContext, body: UserGrantBody) -> Ok:
    await ctx.gateway.skills.grant_user(ctx.who, ctx.path["id"], body)
    return Ok()


async def revoke_user(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.skills.revoke_user(ctx.who, ctx.path["id"], ctx.path["userID"])
    return Ok()


async def agent_skills(ctx: HttpContext, _: None) -> AgentSkillList:
    return AgentSkillList(skills=await ctx.gateway.skills.agent_skills(ctx.who, ctx.path["id"]))


async def export_preview(ctx: HttpContext, _: None) -> ExportPreview:
    return await ctx.gateway.skills.export_preview(ctx.who)


async def export(ctx: HttpContext, q: ExportQuery) -> Response:
    if q.stream:
        return event_stream(ctx.gateway.skills.export_events(ctx.who))
    return archive_response(*await ctx.gateway.skills.export(ctx.who))


async def import_archive(ctx: HttpContext, _: None) -> Response:
    return json_response(await ctx.gateway.skills.import_archive(ctx.who, await _archive(ctx)), 201)


async def dependencies(ctx: HttpContext, _: None) -> Ok:
    ctx.gateway.skills.dependencies(ctx.who)
    return Ok()  # never reached: runtimes are not managed here (409)


_S = "/v1/skills"
_ID = "/v1/skills/{id}"
_TAG = "skills"
_DEPS = "ClawGate does not manage runtimes: always 409 FAILED_PRECONDITION saying so"

# The fixed paths come before /v1/skills/{id}, which would match them too.
ROUTES = [
    Api("GET", _S, list_skills, Role.VIEWER, "Skills of the tenant (tenant_enabled: the tenant's override)",
        response=SkillList, tag=_TAG),
    Api("POST", f"{_S}/upload", upload, Role.ADMIN,
        "Upload a skill as a zip (SKILL.md with YAML front matter; 20 MB at most): a new skill or the next "
        "version of its slug (200 with status unchanged when SKILL.md is the same)",
        form=NoFields, response=UploadResult, status=201, tag=_TAG),
    Api("GET", f"{_S}/export/preview", export_preview, Role.ADMIN, "Counts of what an export holds",
        response=ExportPreview, tag=_TAG),
    Api("GET", f"{_S}/export", export, Role.ADMIN,
        "The tenant's skills as skills-YYYYMMDD.tar.gz (stream=true: SSE progress, then complete with "
        "download_url)", query=ExportQuery, media_type="application/gzip", streams=True, tag=_TAG),
    Api("POST", f"{_S}/import", import_archive, Role.ADMIN,
        "Import a skills tar.gz (existing slugs are skipped; grants by agent_key, unknown keys skipped)",
        form=NoFields, response=ImportResult, status=201, tag=_TAG),
    Api("POST", f"{_S}/rescan-deps", dependencies, Role.ADMIN, f"Rescan skill dependencies: {_DEPS}",
        response=Ok, tag=_TAG),
    Api("POST", f"{_S}/install-deps", dependencies, Role.ADMIN, f"Install skill dependencies: {_DEPS}",
        response=Ok, tag=_TAG),
    Api("POST", f"{_S}/install-dep", dependencies, Role.ADMIN, f"Install one skill dependency: {_DEPS}",
        response=Ok, tag=_TAG),
    Api("GET", f"{_S}/runtimes", dependencies, Role.ADMIN, f"Runtime availability: {_DEPS}", response=Ok,
        tag=_TAG),
    Api("GET", _ID, get_skill, Role.VIEWER, "A skill by id or slug", response=SkillRow, tag=_TAG),
    Api("PUT", _ID, update_skill, Role.ADMIN, "Update a skill's name, description, visibility or tags",
        body=SkillPatch, response=Ok, tag=_TAG),
    Api("DELETE", _ID, delete_skill, Role.ADMIN, "Delete a skill with its versions, files and grants",
        response=Ok, tag=_TAG),
    Api("POST", f"{_ID}/toggle", toggle, Role.ADMIN, "Enable or disable a skill", body=ToggleBody,
        response=ToggleResult, tag=_TAG),
    Api("PUT", f"{_ID}/tenant-config", set_tenant_config, Role.ADMIN,
        "Override a skill's enabled flag for the caller's tenant", body=TenantConfigBody, response=Status,
        tag=_TAG),
    Api("DELETE", f"{_ID}/tenant-config", delete_tenant_config, Role.ADMIN,
        "Remove the tenant's override (the skill's own flag applies)", response=Status, tag=_TAG),
    Api("GET", f"{_ID}/versions", versions, Role.VIEWER, "A skill's versions, newest first",
        response=VersionList, tag=_TAG),
    Api("GET", f"{_ID}/files", files, Role.VIEWER, "The files of a skill version (default: the current one)",
        query=VersionQuery, response=FileList, tag=_TAG),
    Api("GET", f"{_ID}/files/{{path:path}}", read_file, Role.VIEWER,
        "One file of a skill version (UTF-8 text, else base64)", query=VersionQuery, response=FileContent,
        tag=_TAG),
    Api("GET", f"{_ID}/grants/agent", agent_grants, Role.ADMIN, "The agents a skill is granted to",
        response=AgentGrantList, tag=_TAG),
    Api("POST", f"{_ID}/grants/agent", grant_agent, Role.ADMIN,
        "Grant a skill to an agent of the tenant (version / pinned_version pins one)", body=AgentGrantBody,
        response=Ok, status=201, tag=_TAG),
    Api("DELETE", f"{_ID}/grants/agent/{{agentID}}", revoke_agent, Role.ADMIN, "Revoke an agent's grant",
        response=Ok, tag=_TAG),
    Api("GET", f"{_ID}/grants/user", user_grants, Role.ADMIN, "The users a skill is granted to",
        response=UserGrantList, tag=_TAG),
    Api("POST", f"{_ID}/grants/user", grant_user, Role.ADMIN, "Grant a skill to a user", body=UserGrantBody,
        response=Ok, status=201, tag=_TAG),
    Api("DELETE", f"{_ID}/grants/user/{{userID}}", revoke_user, Role.ADMIN, "Revoke a user's grant",
        response=Ok, tag=_TAG),
    Api("GET", "/v1/agents/{id}/skills", agent_skills, Role.VIEWER,
        "Every skill of the tenant with whether the agent holds a grant", response=AgentSkillList, tag=_TAG),
]  # fmt: skip
