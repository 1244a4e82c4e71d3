"""LLM providers: CRUD with the API key encrypted at rest and only ever shown masked; model
listing and verification call the real upstream."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import aiohttp
import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.bus import EventBus, invalidation
from clawgate.crypto import SecretBox, mask
from clawgate.errors import FailedPrecondition, InvalidRequest, NotFound, UpstreamError
from clawgate.principal import Principal, Role
from clawgate.providers import PROVIDER_TYPES, client_for
from clawgate.services import require
from clawgate.store import Database, providers
from clawgate.store.types import ProviderRow

__all__ = [
    "ProviderCreate",
    "ProviderOut",
    "ProviderPatch",
    "ProviderService",
    "VerifyRequest",
    "VerifyResult",
]

Name = Annotated[str, Meta(pattern=r"^[a-zA-Z0-9_-]{1,100}$")]
MASKED = "***"


class ProviderCreate(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name
    display_name: str = ""
    provider_type: str = "openai_compat"
    api_base: str = ""
    api_key: str = ""
    enabled: bool = True
    settings: dict[str, Any] = {}


class ProviderPatch(Struct, kw_only=True, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    display_name: str | UnsetType = UNSET
    provider_type: str | UnsetType = UNSET
    api_base: str | UnsetType = UNSET
    api_key: Annotated[str, Meta(description='"***" or absent keeps the stored key')] | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET
    settings: dict[str, Any] | UnsetType = UNSET


class ProviderOut(Struct, kw_only=True):
    """A provider as returned: ``api_key`` masked; both ``type`` and ``provider_type`` (compat)."""

    id: UUID
    tenant_id: UUID
    name: str
    display_name: str
    provider_type: str
    type: str
    api_base: str
    api_key: str
    has_api_key: bool
    enabled: bool
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class VerifyRequest(Struct, kw_only=True, forbid_unknown_fields=True):
    model: str = ""


class VerifyResult(Struct, kw_only=True, omit_defaults=True):
    valid: bool
    error: str = ""


def _check_type(kind: str) -> None:
    if kind not in PROVIDER_TYPES:
        raise InvalidRequest(detail=f"provider_type must be one of {sorted(PROVIDER_TYPES)}")


def _check_base(base: str) -> None:
    if base and not base.startswith(("http://", "https://")):
        raise InvalidRequest(detail="api_base must be an http(s) URL")


class ProviderService:
    def __init__(self, db: Database, box: SecretBox, http: aiohttp.ClientSession, bus: EventBus) -> None:
        self._db = db
        self._box = box
        self._http = http
        self._bus = bus

    async def _changed(self, who: Principal) -> None:
        await self._bus.publish(invalidation("provider", who.tenant_id))

    def out(self, row: ProviderRow) -> ProviderOut:
        plain = self._plain_key(row)
        return ProviderOut(
            id=row.id, tenant_id=row.tenant_id, name=row.name, display_name=row.display_name,
            provider_type=row.provider_type, type=row.provider_type, api_base=row.api_base,
            api_key=mask(plain) if plain else "", has_api_key=bool(row.api_key), enabled=row.enabled,
            settings=row.settings, created_at=row.created_at, updated_at=row.updated_at,
        )  # fmt: skip

    def _plain_key(self, row: ProviderRow) -> str:
        try:
            return self._box.decrypt(row.api_key)
        except ValueError:
            return MASKED  # encrypted with another key: shown masked, unusable until re-entered

    async def list_providers(self, who: Principal) -> list[ProviderRow]:
        require(who, Role.OPERATOR, "providers.list")
        async with self._db.connection() as conn:
            return await providers.list_providers(conn, who.tenant_id)

    async def get(self, who: Principal, ref: str) -> ProviderRow:
        """By UUID or name. Raises: NotFound (also for another tenant's provider)."""
        require(who, Role.OPERATOR, "providers.get")
        async with self._db.connection() as conn:
            row = await providers.get_by_ref(conn, who.tenant_id, ref)
        if row is None:
            raise NotFound(kind="provider", id=ref)
        return row

    async def create(self, who: Principal, body: ProviderCreate) -> ProviderRow:
        require(who, Role.ADMIN, "providers.create")
        _check_type(body.provider_type)
        _check_base(body.api_base)
        async with self._db.transaction() as conn:
            row = await providers.insert(
                conn, who.tenant_id, name=body.name, display_name=body.display_name,
                provider_type=body.provider_type, api_base=body.api_base,
                api_key=self._box.encrypt(body.api_key), enabled=body.enabled, settings=body.settings,
            )  # fmt: skip
        await self._changed(who)
        return row

    async def update(self, who: Principal, ref: str, patch: ProviderPatch) -> ProviderRow:
        require(who, Role.ADMIN, "providers.update")
        row = await self.get(who, ref)
        changes: dict[str, Any] = {
            name: value
            for name in ("name", "display_name", "provider_type", "api_base", "enabled", "settings")
            if (value := getattr(patch, name)) is not UNSET
        }
        if patch.api_key is not UNSET and not patch.api_key.startswith(MASKED):
            changes["api_key"] = self._box.encrypt(patch.api_key)
        updated = msgspec.structs.replace(row, **changes)
        _check_type(updated.provider_type)
        _check_base(updated.api_base)
        async with self._db.transaction() as conn:
            saved = await providers.update(conn, updated)
        if saved is None:
            raise NotFound(kind="provider", id=ref)
        await self._changed(who)
        return saved

    async def delete(self, who: Principal, ref: str) -> None:
        require(who, Role.ADMIN, "providers.delete")
        row = await self.get(who, ref)
        async with self._db.transaction() as conn:
            if not await providers.delete(conn, who.tenant_id, row.id):
                raise NotFound(kind="provider", id=ref)
        await self._changed(who)

    def _client(self, row: ProviderRow) -> Any:
        key = self._plain_key(row)
        if key == MASKED:
            raise FailedPrecondition(
                detail=f"provider {row.name}: its API key was encrypted with another encryption key; "
                "enter the key again"
            )
        return client_for(row.provider_type, row.api_base, key, self._http)

    async def models(self, who: Principal, ref: str) -> list[dict[str, object]]:
        """The upstream's model list. Raises: NotFound, UpstreamError (502)."""
        row = await self.get(who, ref)
        result: list[dict[str, object]] = await self._client(row).list_models()
        return result

    async def verify(self, who: Principal, ref: str, body: VerifyRequest) -> VerifyResult:
        """Ping mode (no model): the upstream answers its model list. With ``model``: a one-token
        chat. Failures are reported as ``{valid:false, error}``, not as HTTP errors."""
        require(who, Role.ADMIN, "providers.verify")
        row = await self.get(who, ref)
        if not row.enabled:
            return VerifyResult(valid=False, error=f"provider {row.name} is disabled")
        try:
            client = self._client(row)
            if body.model:
                await client.ping_chat(body.model)
            else:
                await client.list_models()
        except (UpstreamError, FailedPrecondition) as exc:
            return VerifyResult(valid=False, error=exc.message("en"))
        return VerifyResult(valid=True)
