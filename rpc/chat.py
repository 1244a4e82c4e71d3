"""Chat methods: ``chat.send``, ``chat.history``, ``chat.abort``, ``chat.inject``, ``chat.session.status``."""

from __future__ import annotations

from clawgate.principal import Role
from clawgate.services.chat import (
    AbortResult,
    ChatAbortParams,
    ChatHistory,
    ChatHistoryParams,
    ChatInjectParams,
    ChatSendParams,
    InjectResult,
    SendResult,
    SessionKeyParams,
    SessionStatus,
)

from .types import CallContext, Method

__all__ = ["METHODS"]


async def send(ctx: CallContext, params: ChatSendParams) -> SendResult:
    """Send a message; with ``wait`` (default) the answer comes when the run ends.

    Cancellation (the socket closing) stops waiting only; the run goes on.
    """
    return await ctx.gateway.chat.send(ctx.who, params, channel="ws")


async def history(ctx: CallContext, params: ChatHistoryParams) -> ChatHistory:
    return await ctx.gateway.chat.history(ctx.who, params)


async def abort(ctx: CallContext, params: ChatAbortParams) -> AbortResult:
    return await ctx.gateway.chat.abort(ctx.who, params)


async def inject(ctx: CallContext, params: ChatInjectParams) -> InjectResult:
    return await ctx.gateway.chat.inject(ctx.who, params)


async def session_status(ctx: CallContext, params: SessionKeyParams) -> SessionStatus:
    return await ctx.gateway.chat.status(ctx.who, params.sessionKey)


METHODS = {
    "chat.send": Method(ChatSendParams, send, Role.OPERATOR),
    "chat.history": Method(ChatHistoryParams, history, Role.VIEWER),
    "chat.abort": Method(ChatAbortParams, abort, Role.OPERATOR),
    "chat.inject": Method(ChatInjectParams, inject, Role.OPERATOR),
    "chat.session.status": Method(SessionKeyParams, session_status, Role.VIEWER),
}
