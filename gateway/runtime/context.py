"""What the next run of a session needs, kept between runs: the session's messages since its last
compaction (as the model sees them) and a running size for the compaction check, so that a run
neither reads the whole history for its prompt nor again afterwards to estimate its tokens
(issue 9).

An entry is trusted only for the session state it was taken from: ``sessions.updated_at``, which
every write to a session or its messages moves (appends, resets, compaction, patches, exchanges
recorded by the OpenAI path, by any process). The run that wrote last records the value its own
commit set; the next ``chat.send`` reads the row under its lock, and when the two differ (someone
else wrote in between) the prompt is read from the database as before.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple
from uuid import UUID

from clawgate.providers.types import ChatMessage, Fragments
from clawgate.runtime.prompt import clean_history
from clawgate.store.types import SessionRow

__all__ = ["ContextCache", "ContextSize", "SessionContext", "stored_form"]

_MAX_SESSIONS = 2048


def stored_form(message: ChatMessage) -> ChatMessage:
    """``message`` as reading its stored row back gives it (``prompt.to_chat_message``): role,
    content, tool calls and tool call id; thinking and names are not part of the prompt."""
    if not message.thinking and not message.name:
        return message
    return ChatMessage(
        role=message.role,
        content=message.content,
        tool_calls=message.tool_calls,
        tool_call_id=message.tool_call_id,
    )


def _chars(message: ChatMessage) -> int:
    return len(message.content) + sum(len(c.arguments) for c in message.tool_calls)


class ContextSize(NamedTuple):
    """A session's live history at one moment: messages ``[start, upto)`` after ``summary``, about
    ``tokens`` tokens (``SessionContext.estimate_tokens``)."""

    start: int
    upto: int
    summary: str
    messages: int
    tokens: int


@dataclass(slots=True)
class SessionContext:
    """Messages ``[start, upto)`` of a session as the model sees them, valid at ``version``."""

    session_id: UUID
    start: int
    upto: int
    summary: str
    messages: list[ChatMessage]
    version: datetime | None = None
    chars: int = field(default=-1)
    # Whether ``prompt.clean_history`` would leave the messages as they are: no system message,
    # and each tool result answering a call of the assistant message just before it, every call
    # answered before the next other message. ``open``: the calls still unanswered.
    clean: bool = True
    open: set[str] = field(default_factory=set)
    fragments: Fragments = field(default_factory=Fragments)  # its messages as the last request encoded them

    def __post_init__(self) -> None:
        if self.chars < 0:
            self.chars = sum(_chars(m) for m in self.messages)
        for message in self.messages:
            self._follow(message)

    def add(self, message: ChatMessage) -> None:
        """The session's next stored message."""
        message = stored_form(message)
        self.messages.append(message)
        self.chars += _chars(message)
        self._follow(message)
        self.upto += 1

    def _follow(self, message: ChatMessage) -> None:
        """Keep ``clean`` as ``message`` joins: one pass in all, instead of one per run."""
        if message.role == "tool":
            self.clean = self.clean and message.tool_call_id in self.open
            self.open.discard(message.tool_call_id)
            return
        self.clean = self.clean and not self.open and message.role != "system"
        self.open = {c.id for c in message.tool_calls} if message.role == "assistant" else set()

    def prompt(self) -> list[ChatMessage]:
        """The history as the model sees it (``prompt.clean_history``), without a pass over every
        message when there is nothing to clean (a history of complete tool rounds included)."""
        if self.clean and not self.open and not self.summary:
            return list(self.messages)
        return clean_history(self.messages, self.summary)

    def estimate_tokens(self) -> int:
        """``prompt.estimate_tokens`` of the history with its summary, kept as a running count (4
        characters a token, 4 a message) instead of a pass over every message."""
        count = len(self.messages) + (2 if self.summary else 0)
        return (self.chars + len(self.summary)) // 4 + 4 * count

    def size(self) -> ContextSize:
        """Its size now (a context goes on changing once the next run has it)."""
        return ContextSize(self.start, self.upto, self.summary, len(self.messages), self.estimate_tokens())

    def fits(self, session: SessionRow, user_idx: int) -> bool:
        """Whether this holds ``session`` exactly up to its message ``user_idx``: nothing was
        written to it since the run that wrote it last, except that message."""
        return (
            self.version is not None
            and self.version == session.updated_at
            and self.start == session.context_start
            and self.summary == session.summary
            and self.upto == user_idx
        )


class ContextCache:
    """The last ``_MAX_SESSIONS`` sessions' contexts, least recently used dropped first.

    An entry is taken out for a run (``take``) and put back by it when it completed cleanly
    (``put``); a run that fails, or a session another run is writing, leaves no entry behind.
    """

    def __init__(self, max_sessions: int = _MAX_SESSIONS) -> None:
        self._entries: OrderedDict[UUID, SessionContext] = OrderedDict()
        self._max = max_sessions

    def take(self, session: SessionRow, user_idx: int) -> SessionContext | None:
        """The session's context if it fits (``SessionContext.fits``), removed from the cache."""
        entry = self._entries.pop(session.id, None)
        return entry if entry is not None and entry.fits(session, user_idx) else None

    def put(self, context: SessionContext) -> None:
        self._entries[context.session_id] = context
        self._entries.move_to_end(context.session_id)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def peek(self, session_id: UUID) -> SessionContext | None:
        """The session's kept context, left in the cache."""
        return self._entries.get(session_id)

    def drop(self, session_id: UUID) -> None:
        self._entries.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[SessionContext]:
        return iter(list(self._entries.values()))
