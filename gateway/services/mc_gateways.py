"""Mission Control's gateway records (``/api/v1/gateways``, reference 1.7) of the tenant. Every
tenant has one row that is this ClawGate itself, made on first use (the partial unique index
decides, so two processes make one): its URL is the WebSocket URL the request reached us on, it has
no token (MC clients that need a ``gateway_id`` to create a board use it) and it cannot be deleted.
Other rows are records of other OpenClaw gateways; their tokens are secrets, AES-256-GCM encrypted
at rest (``SecretBox``) and only ever shown masked. Every route is an org admin's (403 otherwise).
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Annotated, Final
from urllib.parse import urlsplit
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.crypto import SecretBox, mask
from clawgate.errors import InvalidRequest, NotFound, invalid_field
from clawgate.principal import Principal
from clawgate.services.boards import BoardService
from clawgate.services.org import OrgService
from clawgate.services.sessions import SessionInfo, session_info
from clawgate.store import Database, DbConnection, agents, sessions
from clawgate.store import mc_org as store
from clawgate.store.mc_org import GatewayRow, GatewayValues

__all__ = [
    "GatewayCreate",
    "GatewayRead",
    "GatewayService",
    "GatewayStatus",
    "GatewayUpdate",
    "session_owner",
    "session_user",
    "tenant_sessions",
]

SELF_NAME: Final = "ClawGate"
Name = Annotated[str, Meta(min_length=1, max_length=255)]
Url = Annotated[str, Meta(max_length=2_000)]
Root = Annotated[str, Meta(max_length=1_000)]
Token = Annotated[str, Meta(max_length=4_000)]


class GatewayCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    url: Url
    workspace_root: Root
    token: Token | None = None
    allow_insecure_tls: bool = False
    disable_device_pairing: bool = False


class GatewayUpdate(Struct, kw_only=True, forbid_unknown_fields=True):
    """Every field optional; ``token: null`` (or blank) removes the token."""

    name: Name | UnsetType = UNSET
    url: Url | UnsetType = UNSET
    workspace_root: Root | UnsetType = UNSET
    token: Token | UnsetType | None = UNSET
    allow_insecure_tls: bool | UnsetType = UNSET
    disable_device_pairing: bool | UnsetType = UNSET


class GatewayRead(Struct, kw_only=True):
    """MC's ``GatewayRead``; ``token`` masked (``***`` and its last four characters)."""

    id: UUID
    organization_id: UUID
    name: str
    url: str
    workspace_root: str
    allow_insecure_tls: bool
    disable_device_pairing: bool
    token: str | None
    created_at: datetime
    updated_at: datetime


class GatewayStatus(Struct, kw_only=True):
    """MC's ``GatewaysStatusResponse``: this ClawGate is connected (it is the gateway) and counts
    the tenant's sessions; another gateway's record is never connected to."""

    connected: bool
    gateway_url: str
    sessions_count: int | None = None
    sessions: list[SessionInfo] | None = None
    main_session: SessionInfo | None = None
    main_session_error: str | None = None
    error: str | None = None


NOT_CONNECTED: Final = "ClawGate keeps other gateways as records only; it does not connect to them."
SESSIONS_LISTED: Final = 500
"""The newest sessions a status or session list shows (MC shows what the gateway answers)."""


def session_user(who: Principal) -> str:
    """The user ``who`` chats as: its user id, else its MC user (``local`` for the gateway token,
    ``key:<id>`` for a key that claims none)."""
    return who.user_id or who.coord_user


def session_owner(who: Principal) -> str | None:
    """Whose sessions ``who`` sees: every one for a ClawGate admin, else its own (GoClaw's rule for
    ``sessions.list``; an MC org admin raised by an invite is not a ClawGate admin)."""
    return None if who.sees_all else session_user(who)


async def tenant_sessions(
    conn: DbConnection, who: Principal
) -> tuple[int, list[SessionInfo], SessionInfo | None]:
    """How many sessions of the tenant ``who`` sees (``session_owner``), the newest of them
    (``SESSIONS_LISTED`` at most), and the gateway main's main session (``agent:<main key>:main``)
    when it exists and ``who`` sees it."""
    user = session_owner(who)
    count = await sessions.count(conn, who.tenant_id, user_id=user, agent_id=None, channel=None)
    rows = await sessions.list_sessions(
        conn, who.tenant_id, user_id=user, agent_id=None, channel=None, limit=SESSIONS_LISTED, offset=0
    )
    main = await agents.get_default(conn, who.tenant_id)
    key = "" if main is None else f"agent:{main.agent_key}:main"
    row = await sessions.info(conn, who.tenant_id, key) if key else None
    if row is not None and user is not None and row.user_id != user:
        row = None
    return count, [session_info(r) for r in rows], session_info(row) if row else None


def _local(host: str) -> bool:
    if host in {"localhost", "host.docker.internal"}:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_private or address.is_loopback


def _check(values: GatewayValues, plain_token: str) -> None:
    """MC's rules for a gateway record: a ``ws://`` or ``wss://`` URL with a host and an explicit
    port, ``ws://`` and insecure TLS only on local or private hosts (insecure TLS only with
    ``wss://``), a token for a remote host."""
    try:
        parts = urlsplit(values.url.strip())
        port = parts.port
    except ValueError:
        raise invalid_field("$.url", "not a URL") from None
    if parts.scheme not in {"ws", "wss"} or not parts.hostname or port is None:
        raise invalid_field("$.url", "a gateway URL is ws:// or wss:// with a host and an explicit port")
    local = _local(parts.hostname)
    if parts.scheme == "ws" and not local:
        raise invalid_field("$.url", "a non-local gateway URL must use wss://")
    if values.allow_insecure_tls and (parts.scheme != "wss" or not local):
        raise invalid_field("$.allow_insecure_tls", "insecure TLS only for wss:// to a local or private host")
    if not plain_token.strip() and not local:
        raise invalid_field("$.token", "a gateway token is required for a non-local gateway URL")


class GatewayService:
    """The tenant's MC gateway records (admins)."""

    def __init__(self, db: Database, box: SecretBox, org: OrgService, boards: BoardService) -> None:
        self._db = db
        self._box = box
        self._org = org
        self._boards = boards

    def _out(self, row: GatewayRow, self_url: str) -> GatewayRead:
        try:
            token = mask(self._box.decrypt(row.token)) or None
        except ValueError:  # encrypted with another key: shown as set, unusable until re-entered
            token = "***"
        return GatewayRead(
            id=row.id, organization_id=row.tenant_id, name=row.name, url=self_url if row.is_self else row.url,
            workspace_root=row.workspace_root, allow_insecure_tls=row.allow_insecure_tls,
            disable_device_pairing=row.disable_device_pairing, token=token, created_at=row.created_at,
            updated_at=row.updated_at,
        )  # fmt: skip

    async def _admin(self, conn: DbConnection, who: Principal) -> None:
        await self._org.admin(conn, who)
        await store.ensure_self_gateway(conn, who.tenant_id, SELF_NAME)

    @staticmethod
    async def _row(conn: DbConnection, who: Principal, gateway_id: UUID) -> GatewayRow:
        row = await store.gateway(conn, who.tenant_id, gateway_id)
        if row is None:
            raise NotFound(kind="gateway", id=str(gateway_id))
        return row

    async def list(
        self, who: Principal, limit: int, offset: int, self_url: str
    ) -> tuple[list[GatewayRead], int]:
        """The tenant's gateways, this ClawGate's own first."""
        async with self._db.transaction() as conn:
            await self._admin(conn, who)
            rows = await store.gateways_page(conn, who.tenant_id, limit, offset)
        return [self._out(r, self_url) for r in rows], rows[0].total if rows else 0

    async def get(self, who: Principal, gateway_id: UUID, self_url: str) -> GatewayRead:
        async with self._db.transaction() as conn:
            await self._admin(conn, who)
            return self._out(await self._row(conn, who, gateway_id), self_url)

    async def create(self, who: Principal, body: GatewayCreate, self_url: str) -> GatewayRead:
        """Raises: InvalidRequest (MC's URL and TLS rules), Forbidden."""
        plain = (body.token or "").strip()
        values = GatewayValues(
            name=body.name, url=body.url.strip(), token=self._box.encrypt(plain), workspace_root=body.workspace_root,
            allow_insecure_tls=body.allow_insecure_tls, disable_device_pairing=body.disable_device_pairing,
        )  # fmt: skip
        _check(values, plain)
        async with self._db.transaction() as conn:
            await self._admin(conn, who)
            new_id = await store.insert_gateway(conn, who.tenant_id, values)
            return self._out(await self._row(conn, who, new_id), self_url)

    async def update(
        self, who: Principal, gateway_id: UUID, body: GatewayUpdate, self_url: str
    ) -> GatewayRead:
        """Raises: InvalidRequest (the rules; this ClawGate's URL or token), NotFound, Forbidden."""
        patch = {k: v for k, v in msgspec.structs.asdict(body).items() if v is not UNSET}
        async with self._db.transaction() as conn:
            await self._admin(conn, who)
            row = await self._row(conn, who, gateway_id)
            if row.is_self and {"url", "token"} & set(patch):
                raise InvalidRequest(
                    "failed_precondition",
                    detail="This ClawGate's own gateway: its URL and token are not set here.",
                )
            # A token not sent stays as stored (it may be another encryption key's ciphertext).
            sent = "token" in patch
            plain = (patch.pop("token") or "").strip() if sent else ("kept" if row.token else "")
            stored = self._box.encrypt(plain) if sent else row.token
            current = {f: getattr(row, f) for f in GatewayValues.__struct_fields__} | patch
            values = msgspec.convert(current | {"token": stored}, GatewayValues)
            values.url = values.url.strip()
            if not row.is_self:
                _check(values, plain)
            await store.set_gateway(conn, who.tenant_id, gateway_id, values)
            return self._out(await self._row(conn, who, gateway_id), self_url)

    async def delete(self, who: Principal, gateway_id: UUID) -> None:
        """Raises: NotFound, InvalidRequest (this ClawGate's own row), Forbidden."""
        async with self._db.transaction() as conn:
            await self._admin(conn, who)
            row = await self._row(conn, who, gateway_id)
            if row.is_self:
                raise InvalidRequest(
                    "failed_precondition", detail="This ClawGate's own gateway cannot be deleted."
                )
            await store.delete_gateway(conn, who.tenant_id, gateway_id)

    async def status(
        self, who: Principal, board_id: UUID | None, gateway_url: str | None, self_url: str
    ) -> GatewayStatus:
        """The status of the gateway of ``board_id`` (a board the caller reads), else of the one at
        ``gateway_url``, else of this ClawGate. Raises: NotFound (the board), Forbidden."""
        async with self._db.transaction() as conn:
            await self._admin(conn, who)
            other: str | None = None
            if board_id is not None:
                board = await self._boards.board(who, board_id)
                row = (
                    None
                    if board.gateway_id is None
                    else await store.gateway(conn, who.tenant_id, board.gateway_id)
                )
                if row is not None and not row.is_self:
                    other = row.url
            elif gateway_url is not None and gateway_url.strip().rstrip("/") != self_url:
                other = gateway_url.strip()
            if other is not None:
                return GatewayStatus(connected=False, gateway_url=other, error=NOT_CONNECTED)
            count, listed, main = await tenant_sessions(conn, who)
        return GatewayStatus(
            connected=True, gateway_url=self_url, sessions_count=count, sessions=listed, main_session=main
        )
