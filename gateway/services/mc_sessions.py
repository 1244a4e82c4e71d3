"""Mission Control's gateway session inspection (``/api/v1/gateways/commands|sessions...``, seed 000
``gateway.py``) on ClawGate itself: the gateway MC would reach over WebSocket RPC is this process,
so its sessions are the tenant's ClawGate sessions (``SessionService``), their history the stored
messages, and a message sent into one is a ``chat.send`` there, which runs the agent.

Every route is an org admin's (MC's ``require_org_admin``; 403 otherwise). ``board_id`` names a
board the caller reads (404 otherwise); a board whose gateway is another record answers 502: ClawGate
keeps other gateways as records and never connects to them (``mc_gateways.NOT_CONNECTED``).
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import msgspec
from msgspec import Meta, Struct

from clawgate.errors import NotFound, UpstreamError
from clawgate.principal import Principal
from clawgate.services.boards import BoardService
from clawgate.services.chat import ChatSendParams, ChatService, HistoryMessage
from clawgate.services.mc_gateways import NOT_CONNECTED, SELF_NAME, session_user, tenant_sessions
from clawgate.services.org import OrgService
from clawgate.services.sessions import SessionInfo, SessionService, session_info
from clawgate.store import Database, sessions
from clawgate.store import mc_org as store
from clawgate.wire import ChatText

__all__ = [
    "GatewayCommands",
    "GatewaySession",
    "GatewaySessionHistory",
    "GatewaySessionMessage",
    "GatewaySessions",
    "McSessionService",
]


class GatewaySessionMessage(Struct, kw_only=True, forbid_unknown_fields=True):
    """MC's ``GatewaySessionMessageRequest``."""

    content: Annotated[ChatText, Meta(min_length=1)]


class GatewaySessions(Struct, kw_only=True):
    """MC's ``GatewaySessionsResponse``: the sessions, newest first, and the gateway main's main
    session (``agent:<main key>:main``) when it exists."""

    sessions: list[SessionInfo]
    main_session: SessionInfo | None = None


class GatewaySession(Struct, kw_only=True):
    """MC's ``GatewaySessionResponse``."""

    session: SessionInfo


class GatewaySessionHistory(Struct, kw_only=True):
    """MC's ``GatewaySessionHistoryResponse``: the stored messages, oldest first."""

    history: list[HistoryMessage]


class GatewayCommands(Struct, kw_only=True):
    """MC's ``GatewayCommandsResponse``: the WebSocket protocol's version, methods and events."""

    protocol_version: int
    methods: list[str]
    events: list[str]


class McSessionService:
    """The tenant's sessions as MC's gateway inspection shows them (org admins)."""

    def __init__(
        self,
        db: Database,
        org: OrgService,
        boards: BoardService,
        chat: ChatService,
        sessions_: SessionService,
    ) -> None:
        self._db = db
        self._org = org
        self._boards = boards
        self._chat = chat
        self._sessions = sessions_

    async def _here(self, who: Principal, board_id: UUID | None) -> Principal:
        """The caller as it chats (``session_user``), once it is known to be an org admin and
        ``board_id`` (a board it reads) points at this ClawGate. Raises: Forbidden, NotFound (the
        board), UpstreamError (another gateway's board)."""
        async with self._db.transaction() as conn:
            await self._org.admin(conn, who)
            await store.ensure_self_gateway(conn, who.tenant_id, SELF_NAME)
        gateway_id = None if board_id is None else (await self._boards.board(who, board_id)).gateway_id
        if gateway_id is not None:
            async with self._db.connection() as conn:
                row = await store.gateway(conn, who.tenant_id, gateway_id)
            if row is not None and not row.is_self:
                raise UpstreamError("failed_precondition", detail=NOT_CONNECTED)
        return msgspec.structs.replace(who, user_id=session_user(who))

    async def commands(self, who: Principal, methods: list[str], events: list[str]) -> GatewayCommands:
        """The protocol's methods and events (handed in from the WebSocket method table)."""
        await self._here(who, None)
        return GatewayCommands(protocol_version=3, methods=sorted(methods), events=sorted(events))

    async def list(self, who: Principal, board_id: UUID | None) -> GatewaySessions:
        """The tenant's sessions the caller sees, newest first (``mc_gateways.tenant_sessions``:
        all of them for a ClawGate admin, else its own)."""
        who = await self._here(who, board_id)
        async with self._db.connection() as conn:
            _, listed, main = await tenant_sessions(conn, who)
        return GatewaySessions(sessions=listed, main_session=main)

    async def get(self, who: Principal, board_id: UUID | None, key: str) -> GatewaySession:
        """One session by its key. Raises: NotFound."""
        who = await self._here(who, board_id)
        # One the caller may see (as its history), else NotFound / 403.
        await self._chat.session(who, key)
        async with self._db.connection() as conn:
            row = await sessions.info(conn, who.tenant_id, key)
        if row is None:
            raise NotFound(kind="session", id=key)
        return GatewaySession(session=session_info(row))

    async def history(self, who: Principal, board_id: UUID | None, key: str) -> GatewaySessionHistory:
        """A session's stored messages. Raises: NotFound."""
        who = await self._here(who, board_id)
        return GatewaySessionHistory(history=(await self._sessions.preview(who, key)).messages)

    async def send(self, who: Principal, board_id: UUID | None, key: str, body: GatewaySessionMessage) -> Any:
        """``chat.send`` of ``content`` into the session ``key`` (``agent:<agent key>:<rest>``, made
        when new), as the caller (``local`` for the gateway token without a user id): a run of the
        agent starts, or the message joins the run going there. Answers at once, without waiting.
        Raises: NotFound (the agent), InvalidRequest (a key not of that form), FailedPrecondition
        (no working provider), Forbidden (below operator)."""
        who = await self._here(who, board_id)
        params = ChatSendParams(message=body.content, sessionKey=key, stream=False, wait=False)
        return await self._chat.send(who, params, channel="mission_control")
