"""The board tools of the run loop (issue 14, build item 4): ``tasks_list``, ``task_update``,
``task_comment``, ``board_chat`` and ``approval_request``, offered only to an agent that is on a
board. They act as that agent through the same services as the agent API (``AgentApiService`` and
the board service with the agent as lead or worker), so the same rules hold; a refusal goes back
to the model as the tool's error with MC's message."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final
from uuid import UUID

import msgspec

from clawgate.errors import GatewayError
from clawgate.providers.types import ToolSpec
from clawgate.services.agent_api import AgentApiService, AgentCaller, MemoryCreate, only
from clawgate.services.boards import ApprovalCreate, TaskUpdate
from clawgate.store.types import AgentRow
from clawgate.tools import Tool, ToolContext, ToolError, text_arg

__all__ = ["BOARD_TOOLS", "BoardTools"]

_BOARD: Final = {"type": "string", "description": "the board id (needed only when you are on several boards)"}
_TASK: Final = {"type": "string", "description": "the task id"}
MC_STATUSES: Final = ("inbox", "in_progress", "review", "done")
BOARD_TOOLS: Final = ("tasks_list", "task_update", "task_comment", "board_chat", "approval_request")

Act = Callable[[AgentApiService, AgentCaller, UUID, dict[str, Any]], Awaitable[Any]]


def _uuid(args: dict[str, Any], name: str, required: bool = True) -> UUID | None:
    value = args.get(name)
    if value in (None, "") and not required:
        return None
    try:
        return UUID(str(value))
    except ValueError:
        raise ToolError(f"{name} must be an id") from None


async def _tasks_list(api: AgentApiService, me: AgentCaller, board: UUID, args: dict[str, Any]) -> Any:
    status = args.get("status")
    statuses = [s.strip() for s in str(status).split(",") if s.strip()] if status else None
    if statuses and (bad := sorted(set(statuses) - set(MC_STATUSES))):
        raise ToolError(f"unknown status: {', '.join(bad)} (use {', '.join(MC_STATUSES)})")
    mine = args.get("mine") is True
    me.actor(board)
    items, total = await api.boards.list_tasks(me.principal, board, statuses, me.agent_id if mine else None,
                                               50, 0, unassigned=args.get("unassigned") is True)  # fmt: skip
    return {"total": total, "tasks": [{"id": t.id, "title": t.title, "status": t.status, "priority": t.priority,
                                       "assigned_agent_id": t.assigned_agent_id, "is_blocked": t.is_blocked,
                                       "description": (t.description or "")[:300]} for t in items]}  # fmt: skip


async def _task_update(api: AgentApiService, me: AgentCaller, board: UUID, args: dict[str, Any]) -> Any:
    fields = {k: args[k] for k in ("status", "comment", "assigned_agent_id") if k in args}
    try:
        body = msgspec.convert(fields, TaskUpdate)
    except msgspec.ValidationError as exc:
        raise ToolError(str(exc)) from None
    task_id = _uuid(args, "task_id")
    assert task_id is not None
    task = await api.boards.update_task(me.principal, board, task_id, body, me.actor(board))
    return {"id": task.id, "status": task.status, "assigned_agent_id": task.assigned_agent_id}


async def _task_comment(api: AgentApiService, me: AgentCaller, board: UUID, args: dict[str, Any]) -> Any:
    task_id = _uuid(args, "task_id")
    assert task_id is not None
    comment = await api.boards.add_comment(
        me.principal, board, task_id, text_arg(args, "message"), me.actor(board)
    )
    return {"id": comment.id, "task_id": comment.task_id}


async def _board_chat(api: AgentApiService, me: AgentCaller, board: UUID, args: dict[str, Any]) -> Any:
    row = await api.post_memory(me, board, MemoryCreate(content=text_arg(args, "message"), is_chat=True))
    return {"id": row.id, "posted": True}


async def _approval_request(api: AgentApiService, me: AgentCaller, board: UUID, args: dict[str, Any]) -> Any:
    task_id = _uuid(args, "task_id", required=False)
    confidence = args.get("confidence", 50)
    if isinstance(confidence, bool) or not isinstance(confidence, int | float) or not 0 <= confidence <= 100:
        raise ToolError("confidence must be a number from 0 to 100")
    body = ApprovalCreate(action_type=text_arg(args, "action_type")[:200], task_id=task_id,
                          payload={"reason": text_arg(args, "reason")}, confidence=float(confidence))  # fmt: skip
    approval = await api.boards.create_approval(me.principal, board, body, me.actor(board))
    return {"id": approval.id, "status": approval.status, "task_ids": approval.task_ids}


_SPECS: Final[dict[str, tuple[str, dict[str, Any], Act]]] = {
    "tasks_list": (
        "List the tasks of your board (Mission Control statuses inbox, in_progress, review, done).",
        {"type": "object", "properties": {
            "status": {"type": "string", "description": "comma-separated statuses to keep"},
            "mine": {"type": "boolean", "description": "only the tasks assigned to you"},
            "unassigned": {"type": "boolean", "description": "only the tasks nobody is assigned"},
            "board_id": _BOARD}},
        _tasks_list,
    ),
    "task_update": (
        "Change a task of your board: its status (inbox, in_progress, review, done) with an optional "
        "comment; a lead may assign it (assigned_agent_id). The board's rules apply.",
        {"type": "object", "required": ["task_id"], "properties": {
            "task_id": _TASK, "status": {"type": "string", "enum": ["inbox", "in_progress", "review", "done"]},
            "comment": {"type": "string"}, "assigned_agent_id": {"type": "string"}, "board_id": _BOARD}},
        _task_update,
    ),
    "task_comment": (
        "Comment on a task of your board (mention an agent with @name).",
        {"type": "object", "required": ["task_id", "message"],
         "properties": {"task_id": _TASK, "message": {"type": "string"}, "board_id": _BOARD}},
        _task_comment,
    ),
    "board_chat": (
        "Post a message in your board's chat (the lead and the agents you @mention hear of it).",
        {"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}, "board_id": _BOARD}},
        _board_chat,
    ),
    "approval_request": (
        "Ask the board's humans for an approval before an external or irreversible action.",
        {"type": "object", "required": ["action_type", "reason"], "properties": {
            "action_type": {"type": "string"}, "reason": {"type": "string"}, "task_id": _TASK,
            "confidence": {"type": "number", "description": "0-100"}, "board_id": _BOARD}},
        _approval_request,
    ),
}  # fmt: skip


class BoardTools:
    """A ``ToolSource``: the board tools for a run of an agent that is on a board (one read of its
    memberships per run), none otherwise."""

    def __init__(self, api: AgentApiService) -> None:
        self._api = api
        self._tools = [self._tool(name) for name in BOARD_TOOLS]

    def _tool(self, name: str) -> Tool:
        description, parameters, act = _SPECS[name]

        async def run(ctx: ToolContext, args: dict[str, Any]) -> str:
            me = await self._api.caller_of(ctx.tenant_id, ctx.agent_id)
            if me is None:
                raise ToolError("you are on no board")
            try:
                board = only(list(me.boards), _uuid(args, "board_id", required=False))
                result = await act(self._api, me, board, args)
            except GatewayError as exc:
                detail = exc.details.get("message") if isinstance(exc.details, dict) else None
                raise ToolError(str(detail or exc.message("en"))) from None
            return json.dumps(msgspec.to_builtins(result), ensure_ascii=False)

        return Tool(ToolSpec(name=name, description=description, parameters=parameters), run)

    async def run_tools(self, agent: AgentRow, ctx: ToolContext) -> Sequence[Tool]:
        if ctx.on_board is not None:  # known from the statement that started the run (chat.send)
            return self._tools if ctx.on_board else []
        return self._tools if await self._api.caller_of(ctx.tenant_id, ctx.agent_id) is not None else []
