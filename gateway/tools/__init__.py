"""Tools an agent can call: plain async functions with a JSON schema, registered in one table.

Later features add entries with ``register``: the memory tools live in ``clawgate.tools.memory``, the
vault's in ``clawgate.tools.vault``, the knowledge graph's in ``clawgate.tools.kg``, the ``cron`` and
``heartbeat`` tools in ``clawgate.tools.schedules``, registered when imported (by the composition
root, ``clawgate.app``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from clawgate.providers.types import ToolSpec

if TYPE_CHECKING:
    from clawgate.services.builtin_tools import BuiltinToolService
    from clawgate.services.cron import CronService
    from clawgate.services.heartbeat import HeartbeatService
    from clawgate.services.kg import KnowledgeGraphService
    from clawgate.services.memory import MemoryService
    from clawgate.services.vault import VaultService

__all__ = ["REGISTRY", "Tool", "ToolContext", "ToolError", "register", "text_arg"]


class ToolError(Exception):
    """A tool's own failure; its message goes back to the model as an error result."""


@dataclass(frozen=True, slots=True)
class ToolContext:
    tenant_id: UUID
    agent_id: UUID
    agent_key: str
    session_key: str
    user_id: str
    run_id: UUID
    message_count: int = 0
    on_board: bool | None = None  # the agent is on a board (known from the run's start), None: unknown
    memory: MemoryService | None = None  # the agent's memory (tools in clawgate.tools.memory)
    cron: CronService | None = None  # its cron jobs (clawgate.tools.schedules)
    heartbeat: HeartbeatService | None = None  # its heartbeat (clawgate.tools.schedules)
    vault: VaultService | None = None  # the agent's vault (clawgate.tools.vault)
    kg: KnowledgeGraphService | None = None  # its knowledge graph (tools in clawgate.tools.kg)
    # The tenant's tool settings, the workspace and the fetch client (web_fetch, files, exec).
    builtin: BuiltinToolService | None = None


def text_arg(args: dict[str, Any], name: str) -> str:
    """The string argument ``name`` of a tool call. Raises: ToolError when it is missing or blank."""
    value = args.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"{name} must be a non-empty string")
    return value


def count_arg(args: dict[str, Any], name: str, default: int) -> int:
    """The integer argument ``name`` of a tool call (a result count) if it is 1 to 20, else ``default``."""
    value = args.get(name)
    return value if isinstance(value, int) and 1 <= value <= 20 else default


ToolFn = Callable[[ToolContext, dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class Tool:
    spec: ToolSpec
    fn: ToolFn


REGISTRY: dict[str, Tool] = {}


def register(name: str, description: str, parameters: dict[str, Any]) -> Callable[[ToolFn], ToolFn]:
    """Decorator adding a tool to ``REGISTRY``; a duplicate name is a bug and fails at import."""

    def wrap(fn: ToolFn) -> ToolFn:
        if name in REGISTRY:
            raise RuntimeError(f"duplicate tool {name}")
        REGISTRY[name] = Tool(ToolSpec(name=name, description=description, parameters=parameters), fn)
        return fn

    return wrap


@register(
    "current_time",
    "The current date and time, optionally in an IANA time zone.",
    {"type": "object", "properties": {"timezone": {"type": "string", "description": "e.g. Europe/Paris"}}},
)
async def current_time(ctx: ToolContext, args: dict[str, Any]) -> str:
    zone = str(args.get("timezone") or "UTC")
    try:
        tz = ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(f"unknown time zone {zone!r}") from None
    return datetime.now(UTC).astimezone(tz).isoformat(timespec="seconds")


@register(
    "session_info",
    "Facts about the current conversation: session key, agent, user and message count.",
    {"type": "object", "properties": {}},
)
async def session_info(ctx: ToolContext, args: dict[str, Any]) -> str:
    return (
        f"session_key={ctx.session_key} agent={ctx.agent_key} user={ctx.user_id or '-'} "
        f"messages={ctx.message_count} run_id={ctx.run_id}"
    )
