"""Mission Control's agent API, ``/api/v1/agent/*`` (reference 2.2), authenticated with
``X-Agent-Token`` (or ``Authorization: Bearer <agent token>``), 20 requests per 60 s per client IP
(decided in PostgreSQL, so across processes). A lead or worker agent reaches its own boards with
the task rules of its actor; errors are MC's ``{detail, request_id}``. Also the user routes that
mint and revoke an agent's token (admins of the tenant)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, Any, Final
from uuid import UUID

from msgspec import Meta, Struct
from starlette.responses import StreamingResponse

from clawgate.errors import NotFound, Unauthorized, invalid_field
from clawgate.principal import Role
from clawgate.services.agent_api import (
    AgentCaller,
    AgentRead,
    AgentToken,
    HeartbeatIn,
    HeartbeatRead,
    MemoryCreate,
    MemoryRead,
    NudgeIn,
)
from clawgate.services.board_agents import (
    AskUserIn,
    AskUserRead,
    BroadcastIn,
    BroadcastRead,
    LeadMessageIn,
    LeadMessageRead,
    McAgentCreate,
    SoulIn,
    SoulRead,
)
from clawgate.services.board_groups import GroupMemoryRead
from clawgate.services.boards import (
    ApprovalCreate,
    ApprovalRead,
    BoardRead,
    CommentCreate,
    CommentRead,
    TaskCreate,
    TaskRead,
    TaskUpdate,
)
from clawgate.services.onboarding import OnboardingAgentIn, OnboardingRead
from clawgate.services.webhooks import PayloadRead

from .mc_groups import stream_group_memory
from .middleware import client_ip
from .mission_control import (
    TASK_STATUSES,
    ApprovalQuery,
    MemoryQuery,
    MemoryStreamQuery,
    Page,
    PageQuery,
    TaskQuery,
    paged,
    path_uuid,
)
from .routing import agent_credential
from .types import Api, Handler, HttpContext, Ok

__all__ = ["ROUTES"]

AgentHandler = Callable[[HttpContext, AgentCaller, Any], Awaitable[Any]]


def _agent(handler: AgentHandler) -> Handler:
    """The handler behind agent auth: the per-IP limit first (every attempt counts), then the token."""

    async def run(ctx: HttpContext, body: Any) -> Any:
        api = ctx.gateway.agent_api
        await api.limit(client_ip(ctx.request.scope))
        token = agent_credential(ctx.request.headers, any_bearer=True)
        if not token:
            raise Unauthorized("failed_precondition", detail="Missing agent token (X-Agent-Token).")
        return await handler(ctx, await api.authenticate(token), body)

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


class Healthz(Struct, kw_only=True):
    ok: bool
    agent_id: UUID
    board_ids: list[UUID]


class AgentsQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    board_id: UUID | None = None


class AgentTaskQuery(TaskQuery, kw_only=True, forbid_unknown_fields=True):
    """MC's agent task filters: ``status`` CSV, ``assigned_agent_id``, ``unassigned``."""

    unassigned: bool | None = None


class HeartbeatBody(HeartbeatIn, kw_only=True, forbid_unknown_fields=True):
    pass


class PayloadQuery(Struct, kw_only=True, forbid_unknown_fields=True):
    """``max_chars``: past it (the payload's JSON), the payload is a truncated text preview."""

    max_chars: Annotated[int, Meta(ge=1, le=1_000_000)] | None = None


def _statuses(query: TaskQuery) -> list[str] | None:
    statuses = [s.strip() for s in query.status.split(",") if s.strip()] if query.status else None
    if statuses and (bad := sorted(set(statuses) - TASK_STATUSES)):
        raise invalid_field("$.status", f"unknown status: {', '.join(bad)}")
    return statuses


async def healthz(ctx: HttpContext, me: AgentCaller, _: None) -> Healthz:
    return Healthz(ok=True, agent_id=me.agent_id, board_ids=list(me.boards))


async def list_boards(ctx: HttpContext, me: AgentCaller, query: PageQuery) -> Page[BoardRead]:
    items = await ctx.gateway.agent_api.list_boards(me)
    return Page(items=items[query.offset : query.offset + query.limit], total=len(items), limit=query.limit,
                offset=query.offset)  # fmt: skip


async def get_board(ctx: HttpContext, me: AgentCaller, _: None) -> BoardRead:
    board_id = path_uuid(ctx, "board_id")
    me.actor(board_id)
    found = [b for b in await ctx.gateway.agent_api.list_boards(me) if b.id == board_id]
    if not found:
        raise NotFound(kind="board", id=str(board_id))
    return found[0]


async def list_agents(ctx: HttpContext, me: AgentCaller, query: AgentsQuery) -> Page[AgentRead]:
    items = await ctx.gateway.agent_api.agents(me, query.board_id)
    return Page(items=items, total=len(items), limit=200, offset=0)


async def list_tasks(ctx: HttpContext, me: AgentCaller, query: AgentTaskQuery) -> Page[TaskRead]:
    board_id = path_uuid(ctx, "board_id")
    me.actor(board_id)
    return paged(
        await ctx.gateway.boards.list_tasks(
            me.principal,
            board_id,
            _statuses(query),
            query.assigned_agent_id,
            query.limit,
            query.offset,
            bool(query.unassigned),
        ),
        query,
    )


async def create_task(ctx: HttpContext, me: AgentCaller, body: TaskCreate) -> TaskRead:
    board_id = path_uuid(ctx, "board_id")
    return await ctx.gateway.boards.create_task(me.principal, board_id, body, me.lead(board_id))


async def update_task(ctx: HttpContext, me: AgentCaller, body: TaskUpdate) -> TaskRead:
    board_id = path_uuid(ctx, "board_id")
    actor = me.actor(board_id)
    return await ctx.gateway.boards.update_task(
        me.principal, board_id, path_uuid(ctx, "task_id"), body, actor
    )


async def delete_task(ctx: HttpContext, me: AgentCaller, _: None) -> Ok:
    board_id = path_uuid(ctx, "board_id")
    me.lead(board_id)
    await ctx.gateway.boards.delete_task(me.principal, board_id, path_uuid(ctx, "task_id"))
    return Ok()


async def list_comments(ctx: HttpContext, me: AgentCaller, query: PageQuery) -> Page[CommentRead]:
    board_id = path_uuid(ctx, "board_id")
    me.actor(board_id)
    return paged(
        await ctx.gateway.boards.comments(
            me.principal, board_id, path_uuid(ctx, "task_id"), query.limit, query.offset
        ),
        query,
    )


async def add_comment(ctx: HttpContext, me: AgentCaller, body: CommentCreate) -> CommentRead:
    board_id = path_uuid(ctx, "board_id")
    actor = me.actor(board_id)
    return await ctx.gateway.boards.add_comment(
        me.principal, board_id, path_uuid(ctx, "task_id"), body.message, actor
    )


async def list_memory(ctx: HttpContext, me: AgentCaller, query: MemoryQuery) -> Page[MemoryRead]:
    return paged(
        await ctx.gateway.agent_api.memory(
            me, path_uuid(ctx, "board_id"), query.is_chat, query.limit, query.offset
        ),
        query,
    )


async def add_memory(ctx: HttpContext, me: AgentCaller, body: MemoryCreate) -> MemoryRead:
    return await ctx.gateway.agent_api.post_memory(me, path_uuid(ctx, "board_id"), body)


async def list_group_memory(ctx: HttpContext, me: AgentCaller, query: MemoryQuery) -> Page[GroupMemoryRead]:
    return paged(
        await ctx.gateway.board_groups.agent_memory(
            me, path_uuid(ctx, "board_id"), query.is_chat, query.limit, query.offset
        ),
        query,
    )


async def add_group_memory(ctx: HttpContext, me: AgentCaller, body: MemoryCreate) -> GroupMemoryRead:
    return await ctx.gateway.board_groups.agent_post_memory(me, path_uuid(ctx, "board_id"), body)


async def group_memory_stream(
    ctx: HttpContext, me: AgentCaller, query: MemoryStreamQuery
) -> StreamingResponse:
    """The memory of the board's group as SSE, read as the agent."""
    board_id = path_uuid(ctx, "board_id")
    me.actor(board_id)
    group_id = await ctx.gateway.board_groups.board_group_id(me.principal, board_id)
    return await stream_group_memory(replace(ctx, principal=me.principal), group_id, query)


async def list_approvals(ctx: HttpContext, me: AgentCaller, query: ApprovalQuery) -> Page[ApprovalRead]:
    board_id = path_uuid(ctx, "board_id")
    me.actor(board_id)
    return paged(
        await ctx.gateway.boards.list_approvals(
            me.principal, board_id, query.status, query.limit, query.offset
        ),
        query,
    )


async def create_approval(ctx: HttpContext, me: AgentCaller, body: ApprovalCreate) -> ApprovalRead:
    board_id = path_uuid(ctx, "board_id")
    return await ctx.gateway.boards.create_approval(me.principal, board_id, body, me.actor(board_id))


async def nudge(ctx: HttpContext, me: AgentCaller, body: NudgeIn) -> Ok:
    await ctx.gateway.agent_api.nudge(
        me, path_uuid(ctx, "board_id"), path_uuid(ctx, "agent_id"), body.message
    )
    return Ok()


async def webhook_payload(ctx: HttpContext, me: AgentCaller, query: PayloadQuery) -> PayloadRead:
    return await ctx.gateway.webhooks.agent_payload(
        me,
        path_uuid(ctx, "board_id"),
        path_uuid(ctx, "webhook_id"),
        path_uuid(ctx, "payload_id"),
        query.max_chars,
    )


async def create_agent(ctx: HttpContext, me: AgentCaller, body: McAgentCreate) -> AgentRead:
    return await ctx.gateway.board_agents.create_worker(me, body)


async def delete_agent(ctx: HttpContext, me: AgentCaller, _: None) -> Ok:
    await ctx.gateway.board_agents.delete_from_board(
        me, path_uuid(ctx, "board_id"), path_uuid(ctx, "agent_id")
    )
    return Ok()


async def get_soul(ctx: HttpContext, me: AgentCaller, _: None) -> SoulRead:
    return await ctx.gateway.board_agents.soul(me, path_uuid(ctx, "board_id"), path_uuid(ctx, "agent_id"))


async def put_soul(ctx: HttpContext, me: AgentCaller, body: SoulIn) -> Ok:
    await ctx.gateway.board_agents.set_soul(me, path_uuid(ctx, "board_id"), path_uuid(ctx, "agent_id"), body)
    return Ok()


async def ask_user(ctx: HttpContext, me: AgentCaller, body: AskUserIn) -> AskUserRead:
    return await ctx.gateway.board_agents.ask_user(me, path_uuid(ctx, "board_id"), body)


async def lead_message(ctx: HttpContext, me: AgentCaller, body: LeadMessageIn) -> LeadMessageRead:
    return await ctx.gateway.board_agents.lead_message(me, path_uuid(ctx, "board_id"), body)


async def broadcast(ctx: HttpContext, me: AgentCaller, body: BroadcastIn) -> BroadcastRead:
    return await ctx.gateway.board_agents.broadcast(me, body)


async def onboarding_update(ctx: HttpContext, me: AgentCaller, body: OnboardingAgentIn) -> OnboardingRead:
    return await ctx.gateway.onboarding.agent_update(me, path_uuid(ctx, "board_id"), body)


async def heartbeat(ctx: HttpContext, me: AgentCaller, body: HeartbeatBody) -> HeartbeatRead:
    return await ctx.gateway.agent_api.heartbeat(me, body.status)


async def mint_token(ctx: HttpContext, _: None) -> AgentToken:
    return await ctx.gateway.agent_api.mint_token(ctx.who, path_uuid(ctx, "agent_id"))


async def revoke_token(ctx: HttpContext, _: None) -> Ok:
    await ctx.gateway.agent_api.revoke_token(ctx.who, path_uuid(ctx, "agent_id"))
    return Ok()


_A: Final = "/api/v1/agent"
_BOARD: Final = _A + "/boards/{board_id}"
_TASK: Final = _BOARD + "/tasks/{task_id}"
_TAG: Final = "mission-control-agent"
BOARD_AGENTS: Final = ("agent-lead", "agent-worker")
"""MC's OpenAPI role tags: a route any board agent may call, one for the board's lead only
(``LEAD``), and one for the gateway main (``MAIN``, the tenant's default agent)."""
LEAD: Final = ("agent-lead",)
MAIN: Final = ("agent-main",)


ACTORS: Final = {BOARD_AGENTS: "board_agent", LEAD: "board_lead", MAIN: "gateway_main"}
"""MC's ``x-required-actor`` of each set of role tags."""
ROUTING: Final = {
    BOARD_AGENTS: (
        "Call it for a board you are on, as its lead or a worker; another board is 403 agent_board_forbidden.",
        "Discover the other operations you may call by the OpenAPI tags agent-lead and agent-worker.",
    ),
    LEAD: (
        "Only the board's lead calls it; a worker gets 403 lead_only and asks the lead instead "
        "(board chat, or a task comment mentioning @lead).",
        "Act only on the boards you lead; another board is 403 agent_board_forbidden.",
    ),
    MAIN: (
        "Only the gateway main (the tenant's default agent) calls it; others get 403 gateway_main_only.",
        "It reaches every board of the gateway main's tenant.",
    ),
}
"""MC's ``x-routing-policy`` of each set of role tags: who calls it, and what to do instead."""
HINTS: Final = {
    "healthz": (
        "agent_auth_check",
        "At the start of a run, to check that your agent token works and list your board ids.",
    ),
    "list_boards": ("agent_board_discovery", "To find the boards you are on before acting on one."),
    "get_board": (
        "agent_board_read",
        "To read a board's goal, objective and rules (approval and review gates, max_agents).",
    ),
    "list_agents": (
        "agent_roster_read",
        "To see the agents of your boards, their role and computed status, before assigning or mentioning.",
    ),
    "list_tasks": (
        "agent_task_discovery",
        "To find work: your tasks, unassigned ones in the inbox, or a status.",
    ),
    "create_task": (
        "lead_task_create",
        "As the lead, to break the board's goal into tasks (they are auto_created).",
    ),
    "update_task": (
        "agent_task_update",
        "To claim a task, move it (in_progress, review, done, inbox) or assign it, under the board's rules.",
    ),
    "delete_task": ("lead_task_delete", "As the lead, to remove a task that is wrong or no longer needed."),
    "list_comments": (
        "agent_task_thread_read",
        "To read a task's discussion before replying or changing it.",
    ),
    "add_comment": (
        "agent_task_comment",
        "To report progress, ask a question or answer one on a task (@name mentions wake agents).",
    ),
    "list_memory": (
        "agent_board_memory_read",
        "To read the board's shared notes and chat (is_chat=true: chat only).",
    ),
    "add_memory": (
        "agent_board_memory_write",
        "To record a decision, plan or handoff, or to chat on the board (is_chat: the lead and mentions hear it).",
    ),
    "list_group_memory": ("agent_group_memory_read", "To read what the boards of your board's group share."),
    "add_group_memory": (
        "agent_group_memory_write",
        "To tell the other boards of your group something (chat, broadcast or @all reach their agents).",
    ),
    "group_memory_stream": (
        "agent_group_memory_follow",
        "To follow the group's memory as it is written (SSE).",
    ),
    "list_approvals": ("agent_approval_read", "To see whether an approval you need was granted or rejected."),
    "create_approval": (
        "agent_approval_request",
        "Before an external or irreversible action, or to move a task to done on a board that requires approval.",
    ),
    "nudge": ("lead_agent_nudge", "As the lead, to prompt a worker that is silent or stuck."),
    "webhook_payload": (
        "agent_webhook_payload_read",
        "When a WEBHOOK EVENT RECEIVED message names a payload you need in full.",
    ),
    "create_agent": (
        "lead_agent_create",
        "As the lead, when the board needs another worker (within max_agents).",
    ),
    "delete_agent": ("lead_agent_remove", "As the lead, to take a worker off the board."),
    "get_soul": ("agent_soul_read", "To read an agent's SOUL.md (yours, or as the lead a worker's)."),
    "put_soul": ("lead_soul_update", "As the lead, to change how a worker behaves from its next run on."),
    "ask_user": ("lead_ask_user", "As the lead, when only the human can decide or answer."),
    "lead_message": (
        "main_lead_message",
        "As the gateway main, to ask a board's lead something or hand work over to it.",
    ),
    "broadcast": (
        "main_leads_broadcast",
        "As the gateway main, to tell every board's lead (or those named) the same thing.",
    ),
    "onboarding_update": (
        "main_onboarding_update",
        "As the gateway main during a board's onboarding: the next question, or the completed draft.",
    ),
    "heartbeat": ("agent_heartbeat", "On each heartbeat or at the start of a run, to mark yourself online."),
}
"""MC's ``x-llm-intent`` and ``x-when-to-use`` of each agent route, by its handler."""


def _hints(handler: AgentHandler, roles: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    intent, when = HINTS[handler.__name__]
    return (("x-llm-intent", intent), ("x-when-to-use", (when,)), ("x-routing-policy", ROUTING[roles]),
            ("x-required-actor", ACTORS[roles]))  # fmt: skip


def _api(
    method: str,
    path: str,
    handler: AgentHandler,
    summary: str,
    roles: tuple[str, ...] = BOARD_AGENTS,
    **kw: Any,
) -> Api:
    """An agent route: public to the route table (no user credential); ``_agent`` authenticates.
    ``roles``: MC's role tags of the agents that may call it; its LLM hints are ``HINTS``'."""
    return Api(method, path, _agent(handler), None, f"MC agent (X-Agent-Token): {summary}", family="mc",
               tag=_TAG, role_tags=roles, extensions=_hints(handler, roles), **kw)  # fmt: skip


ROUTES = [
    _api("GET", _A + "/healthz", healthz, "check the agent token", response=Healthz),
    _api("GET", _A + "/boards", list_boards, "the agent's boards", query=PageQuery, response=Page[BoardRead]),
    _api("GET", _BOARD, get_board, "one of the agent's boards", response=BoardRead),
    _api("GET", _A + "/agents", list_agents, "the agents of the agent's boards (computed status)",
         query=AgentsQuery, response=Page[AgentRead]),
    _api("GET", _BOARD + "/tasks", list_tasks, "a board's tasks (status CSV, assignee, unassigned)", query=AgentTaskQuery,
         response=Page[TaskRead]),
    _api("POST", _BOARD + "/tasks", create_task, "the lead creates a task (auto_created)", LEAD, body=TaskCreate,
         response=TaskRead),
    _api("PATCH", _TASK, update_task, "the lead or a worker changes a task (reference 2.3)", body=TaskUpdate,
         response=TaskRead),
    _api("DELETE", _TASK, delete_task, "the lead deletes a task", LEAD, response=Ok),
    _api("GET", _TASK + "/comments", list_comments, "a task's comments", query=PageQuery,
         response=Page[CommentRead]),
    _api("POST", _TASK + "/comments", add_comment, "comment (a lead: in review, mentioned, or its own task)",
         body=CommentCreate, response=CommentRead),
    _api("GET", _BOARD + "/memory", list_memory, "board memory, newest first (is_chat filter)", query=MemoryQuery,
         response=Page[MemoryRead]),
    _api("POST", _BOARD + "/memory", add_memory, "post board memory; a chat message notifies the lead and mentions",
         body=MemoryCreate, response=MemoryRead),
    _api("GET", _BOARD + "/group-memory", list_group_memory, "the memory of the board's group, newest first",
         query=MemoryQuery, response=Page[GroupMemoryRead]),
    _api("POST", _BOARD + "/group-memory", add_group_memory,
         "post to the board's group memory; chat, broadcast and @all notify the group's agents", body=MemoryCreate,
         response=GroupMemoryRead),
    _api("GET", _BOARD + "/group-memory/stream", group_memory_stream, "the memory of the board's group as SSE",
         query=MemoryStreamQuery, media_type="text/event-stream"),
    _api("GET", _BOARD + "/approvals", list_approvals, "a board's approvals", query=ApprovalQuery,
         response=Page[ApprovalRead]),
    _api("POST", _BOARD + "/approvals", create_approval, "request an approval (agents never resolve)",
         body=ApprovalCreate, response=ApprovalRead),
    _api("POST", _BOARD + "/agents/{agent_id}/nudge", nudge, "the lead nudges an agent (a run with the message)",
         LEAD, body=NudgeIn, response=Ok),
    _api("GET", _BOARD + "/webhooks/{webhook_id}/payloads/{payload_id}", webhook_payload,
         "a stored webhook payload of the agent's board (max_chars: a truncated preview)", query=PayloadQuery,
         response=PayloadRead),
    _api("POST", _A + "/agents", create_agent, "the lead creates a worker on its board (max_agents)",
         LEAD, body=McAgentCreate, response=AgentRead),
    _api("DELETE", _BOARD + "/agents/{agent_id}", delete_agent,
         "the lead removes an agent (its open tasks unassigned; deleted when on no other board)", LEAD,
         response=Ok),
    _api("GET", _BOARD + "/agents/{agent_id}/soul", get_soul, "an agent's SOUL.md (the lead, or itself)",
         response=SoulRead),
    _api("PUT", _BOARD + "/agents/{agent_id}/soul", put_soul, "the lead rewrites an agent's SOUL.md",
         LEAD, body=SoulIn, response=Ok),
    _api("POST", _BOARD + "/gateway/main/ask-user", ask_user,
         "the lead asks the user through the gateway main (a user notification)", LEAD, body=AskUserIn,
         response=AskUserRead),
    _api("POST", _A + "/gateway/boards/{board_id}/lead/message", lead_message,
         "the gateway main messages a board's lead (a run of the lead)", MAIN, body=LeadMessageIn,
         response=LeadMessageRead),
    _api("POST", _A + "/gateway/leads/broadcast", broadcast, "the gateway main messages every board's lead",
         MAIN, body=BroadcastIn, response=BroadcastRead),
    _api("POST", _BOARD + "/onboarding", onboarding_update,
         "the gateway main posts an onboarding question or its completion", MAIN, body=OnboardingAgentIn,
         response=OnboardingRead),
    _api("POST", "/api/v1/boards/{board_id}/onboarding/agent", onboarding_update,
         "the gateway main's onboarding post on MC's older path", MAIN, body=OnboardingAgentIn,
         response=OnboardingRead),
    _api("POST", _A + "/heartbeat", heartbeat, "check in (presence: last_seen_at, status)", body=HeartbeatBody,
         response=HeartbeatRead),
    Api("POST", "/api/v1/agents/{agent_id}/token", mint_token, Role.ADMIN,
        "MC: mint an agent's X-Agent-Token (shown once; replaces the last)", response=AgentToken, family="mc",
        tag="mission-control"),
    Api("DELETE", "/api/v1/agents/{agent_id}/token", revoke_token, Role.ADMIN, "MC: revoke an agent's token",
        response=Ok, family="mc", tag="mission-control"),
]  # fmt: skip
