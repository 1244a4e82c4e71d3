"""The method table of the WebSocket RPC protocol (GoClaw protocol v3, spec/ws-protocol.md).

Each namespace module exports ``METHODS``; they are merged here, failing at import on a duplicate
name. The role of each method is part of its entry: a method with no entry is refused (fail-closed).
"""

from __future__ import annotations

from typing import Final

from . import agents, api_keys, chat, config, cron, heartbeat, sessions, skills, system, teams, tenants
from .types import Method

__all__ = ["EVENTS", "METHODS"]


def _merge(*tables: dict[str, Method]) -> dict[str, Method]:
    merged: dict[str, Method] = {}
    for table in tables:
        for name, method in table.items():
            if name in merged:
                raise RuntimeError(f"duplicate RPC method {name}")
            merged[name] = method
    return merged


METHODS: Final = _merge(
    system.METHODS,
    agents.METHODS,
    config.METHODS,
    api_keys.METHODS,
    tenants.METHODS,
    chat.METHODS,
    sessions.METHODS,
    cron.METHODS,
    heartbeat.METHODS,
    skills.METHODS,
    teams.METHODS,
)

EVENTS: Final = frozenset(
    {
        "agent",
        "session.updated",
        "cron",
        "heartbeat",
        "log",
        "tick",
        "shutdown",
        "trace.status",
        "health",
        "vault.enrich.progress",
        "team.created",
        "team.updated",
        "team.deleted",
        "team.member.added",
        "team.member.removed",
        "team.task.created",
        "team.task.assigned",
        "team.task.approved",
        "team.task.rejected",
        "team.task.commented",
        "team.task.deleted",
        "team.task.attachment_added",
    }
)
