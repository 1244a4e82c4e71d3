"""What the model sees: the system prompt from the agent's context files, and the session history
(summary of compacted turns first) cleaned of orphaned tool messages."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from clawgate.providers.types import ChatMessage, ToolCall
from clawgate.store.types import AgentFile, AgentRow, MessageRow

__all__ = [
    "CONTEXT_FILES",
    "TRUNCATION_NOTE",
    "build_system_prompt",
    "clean_history",
    "history_messages",
    "to_chat_message",
]

# Files read into the system prompt, in this order (GoClaw/OpenClaw names); others follow by name.
_ORDER = CONTEXT_FILES = ("IDENTITY.md", "SOUL.md", "AGENTS.md", "USER.md", "TOOLS.md")
_MAX_FILE_CHARS = 20_000
_MAX_TOTAL_CHARS = 24_000
SUMMARY_PREFIX = "[Summary of earlier conversation]\n"
TRUNCATION_NOTE = "\n\n[Note: this message was truncated to {kept} of {total} characters by the gateway.]"


def build_system_prompt(
    agent: AgentRow, files: list[AgentFile], now: datetime | None = None, extra: Sequence[str] = ()
) -> str:
    """Identity, description, context files (bounded), ``extra`` sections (``PromptSource``'s),
    and the current time."""
    parts = [f"You are {agent.display_name or agent.agent_key}."]
    if agent.agent_description:
        parts.append(agent.agent_description)
    ranked = sorted(
        (f for f in files if f.content.strip() and f.file_name != "HEARTBEAT.md"),
        key=lambda f: (_ORDER.index(f.file_name) if f.file_name in _ORDER else len(_ORDER), f.file_name),
    )
    budget = _MAX_TOTAL_CHARS
    for file in ranked:
        text = file.content[: min(_MAX_FILE_CHARS, budget)]
        if not text:
            break
        budget -= len(text)
        parts.append(f"## {file.file_name}\n{text}")
    parts.extend(extra)
    moment = now.isoformat(timespec="seconds") if now is not None else _current_second()
    parts.append(f"Current time (UTC): {moment}")
    return "\n\n".join(parts)


_second: tuple[int, str] = (0, "")


def _current_second() -> str:
    """The current UTC time to the second, formatted once per second (every request asks)."""
    global _second
    second = int(time.time())
    if _second[0] != second:
        _second = (second, datetime.fromtimestamp(second, UTC).isoformat(timespec="seconds"))
    return _second[1]


def to_chat_message(row: MessageRow) -> ChatMessage:
    calls = [
        ToolCall(
            id=str(c.get("id", "")),
            name=str(c.get("name", "")),
            arguments=c["arguments"]
            if isinstance(c.get("arguments"), str)
            else orjson.dumps(c.get("arguments") or {}).decode(),
        )
        for c in row.tool_calls
        if isinstance(c, dict)
    ]
    return ChatMessage(
        role=row.role,  # type: ignore[arg-type]
        content=row.content,
        tool_calls=calls,
        tool_call_id=row.tool_call_id,
    )


def history_messages(rows: list[MessageRow], summary: str) -> list[ChatMessage]:
    """Session rows as model messages, with the compaction summary first. Tool results without
    their call are dropped; calls whose results are missing get a placeholder result."""
    return clean_history([to_chat_message(r) for r in rows], summary)


def clean_history(messages: list[ChatMessage], summary: str) -> list[ChatMessage]:
    """``history_messages`` of session messages already in their model form (``to_chat_message``)."""
    out: list[ChatMessage] = []
    if summary:
        out.append(ChatMessage(role="user", content=SUMMARY_PREFIX + summary))
        out.append(ChatMessage(role="assistant", content="Understood; I have the earlier context."))
    open_calls: dict[str, str] = {}
    for message in messages:
        if message.role == "tool":
            if message.tool_call_id not in open_calls:
                continue
            open_calls.pop(message.tool_call_id)
            out.append(message)
            continue
        _close(out, open_calls)
        if message.role == "assistant" and message.tool_calls:
            open_calls = {c.id: c.name for c in message.tool_calls}
        if message.role != "system":
            out.append(message)
    _close(out, open_calls)
    return out


def _close(out: list[ChatMessage], open_calls: dict[str, str]) -> None:
    for call_id, name in list(open_calls.items()):
        out.append(
            ChatMessage(
                role="tool",
                content="[Tool result missing -- session was compacted]",
                tool_call_id=call_id,
                name=name,
            )
        )
    open_calls.clear()
