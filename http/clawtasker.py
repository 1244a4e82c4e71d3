"""ClawTasker's console API under ``/api`` (seed 004, reference section 3), served from the shared
coordination model (``clawgate.services.clawtasker``); Mission Control's ``/api/v1`` is
``mission_control``.

- Errors are CT's ``{"error": "<message>"}`` (``clawgate.http.errors``, family ``ct``): domain
  errors 400, an unknown route 404 ``Unknown API endpoint``, 401, 413, 429 with ``Retry-After``.
- Writes (every POST) take ``Authorization: Bearer`` (the gateway token or an API key, as Mission
  Control's local mode) or the body's ``write_token`` (the same credentials); in CT's order: the body
  is parsed, then the caller authenticated, then the write counted (30 per 60 s per tenant and
  client IP, decided in PostgreSQL), then routed.
- Bodies past 160 KB are 413 (``CT_BODY_LIMIT``; CT's own code answers 400).
- Each write's body is documented by a type of ``ct_bodies`` (the OpenAPI request bodies and
  ``GET /api/schema/{name}``), and parsed by the handler itself (``Api.own_body``).
- ``GET /api/health``, the contract and the schemas are public; the snapshot, the stream and
  ``tasks/next`` read a tenant's data and need a credential (CT leaves them open: one company per
  process there).
- ``GET /api/events/stream``: ``id: <seq>`` lines from the shared event log, ``event: clawtasker``,
  resumed with ``Last-Event-ID`` (or ``since``); ``: ping`` every 15 s (Mission Control's streams,
  ``mission_control.follow_events``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any, Final

import msgspec
from msgspec import Meta, Struct
from starlette.responses import StreamingResponse

from clawgate import wire
from clawgate.errors import Forbidden, NotFound
from clawgate.logging import bind_caller
from clawgate.principal import Principal, Role
from clawgate.services import ct_publish
from clawgate.services.clawtasker import TEMPLATES, ClawTaskerService, bad, ct_event
from clawgate.services.ct_rules import ALLOWED, CT_STATUSES
from clawgate.store.coord_events import EventRow, Where

from .ct_bodies import CT_BODY_SCHEMAS, WRITE_BODIES, json_schema
from .middleware import client_ip
from .mission_control import StreamQuery, follow_events, rendered_once, sse_frame, stream_cursor
from .routing import SSE_HEADERS, credential
from .types import Api, HttpContext

__all__ = ["CT_BODY_LIMIT", "ROUTES", "WRITE_PATHS"]

CT_BODY_LIMIT: Final = 160 * 1024
JSON = dict[str, Any]
_decoder = msgspec.json.Decoder()
_TAG = "clawtasker"


# -- the answers, as documented (``/v1/openapi.json``); the handlers build them as CT's JSON --------


class CtTask(Struct, kw_only=True):
    """A task as CT shows it (``T-<n>``; more fields than listed: CT's task document)."""

    id: str
    title: str
    description: str
    project_id: str
    mission_id: str | None
    sprint_id: str | None
    status: str
    owner: str
    validation_owner: str
    priority: str
    horizon: str
    type: str
    progress: int
    blocked: bool
    depends_on: list[str]
    links: list[dict[str, str]]
    comments: list[dict[str, str | None]]
    updated_at: str


class CtAgent(Struct, kw_only=True):
    """An agent's roster card with its liveness (``derived_status``: offline 180 s after the last heartbeat)."""

    id: str
    name: str
    status: str
    derived_status: str
    last_heartbeat: str | None
    current_task_id: str | None
    doing_summary: str
    done_summary: str
    next_summary: str
    blockers: list[str]


class CtAnswer(Struct, kw_only=True):
    """A write's answer: ``ok`` and the fields the route names (``task_id``, ``tasks_transferred`` ...)."""

    ok: bool = True
    message: str | None = None


class CtTaskAnswer(CtAnswer, kw_only=True):
    task: CtTask | None = None


class CtAgentAnswer(CtAnswer, kw_only=True):
    agent: CtAgent


class CtHealth(Struct, kw_only=True):
    ok: bool
    time: str
    version: str
    booted_at: str
    state_source: str
    restart_safe: bool
    uptime_seconds: int
    agents: int | None = None
    tasks: int | None = None


class CtRecovery(Struct, kw_only=True):
    ok: bool
    state_source: str
    last_recovered_from: str | None
    backup_chain: int
    restart_safe: bool
    load_errors: list[str]
    booted_at: str


class CtVersion(Struct, kw_only=True):
    ok: bool
    version: str
    gateway: str
    gateway_version: str


class CtSnapshot(Struct, kw_only=True):
    """CT's state document (reference 3.3; more keys than listed)."""

    version: str
    state_version: int
    timestamp: str
    company: dict[str, Any]
    projects: list[dict[str, Any]]
    agents: list[CtAgent]
    tasks: list[CtTask]
    missions: list[dict[str, Any]]
    sprints: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    conversations: list[dict[str, Any]]
    directives: list[dict[str, Any]]
    events: list[dict[str, Any]]


class CtDocument(Struct, kw_only=True):
    """The contract, a JSON Schema or the templates (static documents)."""

    ok: bool | None = None
    title: str | None = None
    templates: list[dict[str, Any]] | None = None
    endpoints: list[str] | None = None


def _payload(raw: bytes) -> JSON:
    """The body as a JSON object (empty: ``{}``): malformed or not an object is CT's ``Invalid JSON
    payload``; then the gateway's rules of every body (``wire.decode``): no NUL (PostgreSQL stores
    none, in text or in jsonb), integers in 64 bits, at most 64 levels, the field named.
    Raises: InvalidRequest."""
    if not raw.strip():
        return {}
    try:
        data = _decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise bad(f"Invalid JSON payload: {str(exc)[:200]}") from None
    if not isinstance(data, dict):
        raise bad("Invalid JSON payload: an object is required")
    checked: JSON = wire.decode(raw, JSON)
    return checked


async def _writer(ctx: HttpContext) -> tuple[Principal, JSON]:
    """A write's caller and body, in CT's order: parse, authenticate (Bearer, else ``write_token``),
    count the write. Raises: InvalidRequest, Unauthorized, Forbidden, ResourceExhausted."""
    data = _payload(await ctx.request.body())
    sent = data.pop("write_token", None)
    token, malformed = credential(ctx.request.headers)
    if not token and isinstance(sent, str):
        token, malformed = sent.strip(), False
    who = await ctx.gateway.auth.authenticate(
        token,
        user_id=ctx.request.headers.get("x-goclaw-user-id", ""),
        tenant_hint=ctx.request.headers.get("x-goclaw-tenant-id", ""),
        dev_role=Role.ADMIN,
        malformed=malformed,
    )
    bind_caller(who)
    if who.role < Role.OPERATOR:
        raise Forbidden(action=f"POST {ctx.request.url.path}", role=Role.OPERATOR.label)
    await ctx.gateway.clawtasker.check_write(who, client_ip(ctx.request.scope))
    return who, data


Write = Callable[[ClawTaskerService, Principal, JSON], Awaitable[JSON]]


def _write(fn: Write) -> Callable[[HttpContext, None], Awaitable[JSON]]:
    async def handler(ctx: HttpContext, _: None) -> JSON:
        who, data = await _writer(ctx)
        return {"ok": True, **await fn(ctx.gateway.clawtasker, who, data)}

    handler.__name__ = fn.__name__
    return handler


# -- writes ------------------------------------------------------------------------------------------


async def create_task(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return {"task": await ct.create_task(who, body)}


async def update_task(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return {"task": await ct.update_task(who, body)}


async def delete_task(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return {"task_id": await ct.delete_task(who, body.get("task_id") or body.get("id"))}


async def link_tasks(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.link(who, body)


async def comment_task(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.comment(who, body)


async def task_event(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.task_event(who, body)


async def register_agent(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.register(who, body)


async def agent_heartbeat(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.heartbeat(who, body)


async def update_agent(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.update_agent(who, body)


async def decommission_agent(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.decommission(who, body)


async def retire_agent(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.retire(who, body)


async def replace_agent(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.replace(who, body)


async def merge_agents(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.merge(who, body)


async def delete_agent(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.delete_agent(who, body)


async def sync_agents(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.sync(who, body)


async def plan_mission(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.plan_mission(who, body)


async def delete_mission(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.delete_mission(who, body)


async def create_sprint(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.save_sprint(who, body, create=True)


async def update_sprint(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.save_sprint(who, body, create=False)


async def delete_sprint(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.delete_sprint(who, body)


async def configure_project(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.configure_project(who, body)


async def delete_project(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.delete_project(who, body)


async def post_message(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.post_message(who, body)


async def post_directive(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.directive(who, body)


async def dismiss_notifications(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.dismiss(who, body)


async def publish_run(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.publish_run(who, body)


async def openclaw_publish(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct_publish.publish(ct, who, body)


async def configure_org(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.configure_org(who, body)


async def bootstrap_org(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.bootstrap(who, body)


async def reset_demo(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.demo(who)


async def reset_blank(ct: ClawTaskerService, who: Principal, body: JSON) -> JSON:
    return await ct.reset(who)


# -- reads -------------------------------------------------------------------------------------------


async def health(ctx: HttpContext, _: None) -> JSON:
    """Public; with a credential, the caller's agent and task counts too."""
    token, _malformed = credential(ctx.request.headers)
    who = None
    if token:
        who = await ctx.gateway.auth.authenticate(
            token, tenant_hint=ctx.request.headers.get("x-goclaw-tenant-id", ""), dev_role=Role.ADMIN
        )
    return await ctx.gateway.clawtasker.health(who)


async def recovery(ctx: HttpContext, _: None) -> JSON:
    return ctx.gateway.clawtasker.recovery()


async def version(ctx: HttpContext, _: None) -> JSON:
    return ctx.gateway.clawtasker.version()


async def snapshot(ctx: HttpContext, _: None) -> JSON:
    return await ctx.gateway.clawtasker.snapshot(ctx.who)


class NextQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    owner: Annotated[str, Meta(max_length=100)] = ""
    project: Annotated[str, Meta(max_length=100)] | None = None


async def next_task(ctx: HttpContext, query: NextQuery) -> JSON:
    task = await ctx.gateway.clawtasker.next_task(ctx.who, query.owner, query.project)
    if task is None:
        return {"ok": True, "task": None, "message": "no eligible tasks"}
    return {"ok": True, "task": task}


async def templates(ctx: HttpContext, _: None) -> JSON:
    return {"ok": True, "templates": TEMPLATES}


async def contract(ctx: HttpContext, _: None) -> JSON:
    """The integration contract for agents: endpoints, statuses, transitions, limits."""
    return {
        "ok": True,
        "auth": "Authorization: Bearer <gateway token or API key>, or the body field write_token",
        "heartbeat_seconds": 30, "stale_seconds": 180, "write_limit_per_minute": 30,
        "max_body_bytes": CT_BODY_LIMIT, "task_statuses": list(CT_STATUSES),
        "transitions": {k: sorted(v) for k, v in ALLOWED.items()},
        "agent_loop": [
            "POST /api/agents/register once", "POST /api/agents/heartbeat every 30-60 s",
            "GET /api/tasks/next?owner=<id>", "POST /api/tasks/event {type: started|needs-validation|done|blocked}",
            "GET /api/events/stream (event: clawtasker; resume with Last-Event-ID)",
        ],
        "endpoints": sorted(f"{a.method} {a.path}" for a in ROUTES),
        "schemas": [f"/api/schema/{name}" for name in CT_BODY_SCHEMAS],
        "openapi": "/v1/openapi.json (every write's request body, tag clawtasker)",
    }  # fmt: skip


_SCHEMAS: Final[dict[str, JSON]] = {name: json_schema(kind) for name, kind in CT_BODY_SCHEMAS.items()}
"""The schemas CT serves, made from the same types as the OpenAPI document's request bodies."""
_SCHEMA_ALIASES: Final = {"agent": "agent-register", "mission": "mission-plan"}


async def schema(ctx: HttpContext, _: None) -> JSON:
    name = str(ctx.path["name"])
    found = _SCHEMAS.get(_SCHEMA_ALIASES.get(name, name))
    if found is None:
        raise NotFound("route_not_found", method="GET", path=ctx.request.url.path)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **found, "title": name}


async def events_stream(ctx: HttpContext, query: StreamQuery) -> StreamingResponse:
    """``event: clawtasker`` frames ``{id, timestamp, kind, title, details, meta}`` for every event
    of the caller's tenant, ``id:`` its seq."""
    cursor = await stream_cursor(ctx, query)

    async def render(row: EventRow) -> AsyncIterator[bytes]:
        async def make() -> bytes:
            return sse_frame(row.seq, "clawtasker", ct_event(row))

        # Keyed by the event's own id (random), not (tenant, seq): two gateways in one process on
        # different databases (the tests) share the master tenant's id and reuse seqs.
        yield await rendered_once(("clawtasker", row.id, row.seq), make)

    return StreamingResponse(
        follow_events(ctx, cursor, Where(), render), media_type="text/event-stream", headers=SSE_HEADERS
    )


def _post(path: str, fn: Write, summary: str, response: type = CtAnswer) -> Api:
    # role=None: the handler authenticates itself, since CT also takes the body's write_token; it
    # parses its body itself too (own_body), which ``body`` documents.
    return Api(
        "POST", "/api/" + path, _write(fn), None, "CT: " + summary, body=WRITE_BODIES[path], own_body=True,
        response=response, family="ct", tag=_TAG,
    )  # fmt: skip


ROUTES = [
    Api("GET", "/api/health", health, None, "CT: health (counts with a credential)", response=CtHealth, family="ct", tag=_TAG),
    Api("GET", "/api/system/recovery", recovery, None, "CT: recovery status (the state is PostgreSQL's)",
        response=CtRecovery, family="ct", tag=_TAG),
    Api("GET", "/api/system/version", version, Role.VIEWER, "CT: the API and gateway versions (Bearer, as CT)",
        response=CtVersion, family="ct", tag=_TAG),
    Api("GET", "/api/snapshot", snapshot, Role.VIEWER, "CT: the state document from the shared tables",
        response=CtSnapshot, family="ct", tag=_TAG),
    Api("GET", "/api/events/stream", events_stream, Role.VIEWER,
        "CT: every event as SSE (event: clawtasker, id: lines, resume with Last-Event-ID); the credential "
        "as Bearer or, for a browser's EventSource, ?access_token=", query=StreamQuery,
        media_type="text/event-stream", family="ct", tag=_TAG, query_token=True),
    Api("GET", "/api/openclaw/contract", contract, None, "CT: the agent integration contract", response=CtDocument, family="ct",
        tag=_TAG),
    Api("GET", "/api/schema/{name}", schema, None, "CT: a write's JSON Schema (task, agent-register, ...)",
        response=CtDocument, family="ct", tag=_TAG),
    Api("GET", "/api/tasks/next", next_task, Role.VIEWER, "CT: the owner's next ready task", query=NextQuery,
        response=CtTaskAnswer, family="ct", tag=_TAG),
    Api("GET", "/api/tasks/templates", templates, Role.VIEWER, "CT: task templates", response=CtDocument, family="ct", tag=_TAG),
    _post("tasks/create", create_task, "create a task (only title required)", CtTaskAnswer),
    _post("tasks/update", update_task, "update a task (CT's transition table and guards)", CtTaskAnswer),
    _post("tasks/delete", delete_task, "delete a task"),
    _post("tasks/link", link_tasks, "link two tasks (both directions read)"),
    _post("tasks/comment", comment_task, "comment on a task"),
    _post("tasks/event", task_event, "started / needs-validation / done / blocked, with a comment", CtTaskAnswer),
    _post("agents/register", register_agent, "register or update an agent (a ClawGate agent)", CtAgentAnswer),
    _post("agents/heartbeat", agent_heartbeat, "an agent checks in (offline after 180 s without)", CtAgentAnswer),
    _post("agents/update", update_agent, "change an agent's card", CtAgentAnswer),
    _post("agents/decommission", decommission_agent, "offline, its open work unassigned"),
    _post("agents/retire", retire_agent, "retire, its open work to a successor or unassigned"),
    _post("agents/replace", replace_agent, "hand all work to another agent and retire"),
    _post("agents/merge", merge_agents, "merge an agent into another (skills united)"),
    _post("agents/delete", delete_agent, "delete an agent (not the chief)"),
    _post("agents/sync", sync_agents, "bulk roster upsert"),
    _post("openclaw/roster_sync", sync_agents, "bulk roster upsert (OpenClaw's name)"),
    _post("missions/plan", plan_mission, "create or update a mission (listed tasks stamped, child tasks made)"),
    _post("missions/delete", delete_mission, "delete a mission (its tasks stay)"),
    _post("sprints/create", create_sprint, "create a sprint (SPR-nnn)"),
    _post("sprints/update", update_sprint, "change a sprint; closing computes its velocity"),
    _post("sprints/delete", delete_sprint, "delete a sprint (its tasks stay)"),
    _post("projects/configure", configure_project, "create or update a project (a team)"),
    _post("projects/delete", delete_project, "delete a project without tasks (not ceo-console)"),
    _post("conversations/message", post_message, "post into a conversation thread"),
    _post("ceo/directive", post_directive, "a CEO directive (stored), with a backlog task"),
    _post("notifications/dismiss", dismiss_notifications, "dismiss one, several or all notifications"),
    _post("runs/publish", publish_run, "an agent run's outcome on the log"),
    _post("openclaw/publish", openclaw_publish, "an agent's heartbeat + task + mission + note (45 s dedupe)"),
    _post("org/configure", configure_org, "company, CEO and chief agent"),
    _post("org/bootstrap", bootstrap_org, "blank reset, then the company, projects and agents given"),
    _post("demo/reset", reset_demo, "blank reset, then a small demo organisation (destructive)"),
    _post("blank/reset", reset_blank, "CT's data of the tenant removed (destructive)"),
]  # fmt: skip

WRITE_PATHS: Final = tuple(a.path for a in ROUTES if a.method == "POST")
"""The write routes, each with CT's body limit (``EdgeMiddleware`` path limits)."""
