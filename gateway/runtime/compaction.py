"""Compaction: earlier turns of a session become an LLM-written summary kept on the session, and
the context starts after them. Used by ``sessions.compact`` and after runs whose history has grown
past the agent's share of its context window (GoClaw: 85 %, keeping the last 4 messages)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from clawgate.providers.types import ChatMessage, ChatRequest
from clawgate.runtime.llm import Target
from clawgate.runtime.prompt import history_messages
from clawgate.store.types import AgentRow, MessageRow

__all__ = ["HISTORY_SHARE", "KEEP_LAST", "Episodes", "keep_last", "needs_compaction", "summarize"]

HISTORY_SHARE = 0.85
KEEP_LAST = 4
_SYSTEM = "Summarise conversations faithfully and briefly."
_ASK = "Summarise this conversation so far, keeping facts, decisions and open questions:\n\n"


class Episodes(Protocol):
    """Where the summary of a compaction is kept for later sessions (the episodic service)."""

    async def record(
        self,
        tenant_id: UUID,
        agent_id: UUID,
        user_id: str,
        session_key: str,
        summary: str,
        rows: list[MessageRow],
        source_id: str,
    ) -> None:
        """Keep ``summary`` of ``rows`` once per ``source_id``; never raises."""
        ...


async def summarize(target: Target, rows: list[MessageRow], previous: str) -> str:
    """A summary of ``rows`` (folding in the ``previous`` summary). Raises: ProviderError."""
    earlier = history_messages(rows, previous)
    transcript = "\n".join(f"{m.role}: {m.content}" for m in earlier if m.content)
    reply = await target.client.chat(
        ChatRequest(
            model=target.model,
            temperature=0.3,
            messages=[
                ChatMessage(role="system", content=_SYSTEM),
                ChatMessage(role="user", content=_ASK + transcript[-60_000:]),
            ],
        )
    )
    return reply.content.strip()


def keep_last(agent: AgentRow) -> int:
    value = agent.compaction_config.get("keepLastMessages", KEEP_LAST)
    return value if isinstance(value, int) and value >= 0 else KEEP_LAST


def needs_compaction(agent: AgentRow, messages: int, tokens: int) -> bool:
    """True when the live history (``messages`` messages, about ``tokens`` tokens with its summary)
    is over the agent's share of its context window and long enough to leave something to
    summarise."""
    share = agent.compaction_config.get("maxHistoryShare", HISTORY_SHARE)
    limit = agent.context_window * (
        share if isinstance(share, int | float) and 0 < share <= 1 else HISTORY_SHARE
    )
    return messages > keep_last(agent) + 1 and tokens > limit
