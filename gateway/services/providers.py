"""LLM providers: CRUD with the API key encrypted at rest and only ever shown masked; model
listing and verification call the real upstream.

Providers configured by environment (``CLAWGATE_OPENAI_API_KEY`` ...: ``Settings.providers``) are listed
beside the tenant's, marked ``source: "environment"``, with a stable id derived from their name; they
can be read, asked for models and verified, but changed only where they are configured. A tenant's
provider of the same name hides the configured one (as when agents resolve it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from uuid import UUID

import aiohttp
import msgspec
import structlog
from msgspec import UNSET, Meta, Struct, UnsetType

from clawgate.bus import EventBus, invalidation
from clawgate.config import ProviderSettings
from clawgate.crypto import SecretBox, mask
from clawgate.errors import FailedPrecondition, InvalidRequest, NotFound, UpstreamError
from clawgate.principal import Principal, Role
from clawgate.providers import PROVIDER_TYPES, client_for, configured_type
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
Source = Literal["database", "environment"]
_MODELS_TTL = 300.0
log = structlog.get_logger("clawgate.providers")
_ENV_NAMESPACE = uuid.UUID("6f1c0a52-33c4-4b61-9a0e-6c1e2f7d8b90")
"""Namespace of the ids of providers configured by environment (``uuid5`` of the name): the same id in
every process and every tenant."""


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
    source: Annotated[Source, Meta(description="environment: configured by CLAWGATE_<NAME>_API_KEY")]
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


def env_provider_id(name: str) -> UUID:
    """The id under which a provider configured by environment is listed."""
    return uuid.uuid5(_ENV_NAMESPACE, name)


class ProviderService:
    def __init__(
        self,
        db: Database,
        box: SecretBox,
        http: aiohttp.ClientSession,
        bus: EventBus,
        configured: Mapping[str, ProviderSettings],
    ) -> None:
        self._db = db
        self._box = box
        self._http = http
        self._bus = bus
        self._configured = self._env_rows(configured)
        self._model_cache: dict[tuple[UUID, str], tuple[float, list[str]]] = {}

    def _env_rows(self, configured: Mapping[str, ProviderSettings]) -> dict[str, ProviderRow]:
        """The providers configured by environment as rows (their key encrypted like a stored one),
        those with a key or a base URL, as agents resolve them."""
        return {
            name: self._env_row_of(name, conf)
            for name, conf in configured.items()
            if conf.api_key or conf.api_base
        }

    def _env_row_of(self, name: str, conf: ProviderSettings) -> ProviderRow:
        now = datetime.now(UTC)
        return ProviderRow(
            id=env_provider_id(name), tenant_id=UUID(int=0), name=name, display_name=name,
            provider_type=configured_type(name), api_base=conf.api_base,
            api_key=self._box.encrypt(conf.api_key) if conf.api_key else "", enabled=True, settings={},
            created_at=now, updated_at=now,
        )  # fmt: skip

    def _env_row(self, who: Principal, ref: str) -> ProviderRow | None:
        for row in self._configured.values():
            if ref in (row.name, str(row.id)):
                return msgspec.structs.replace(row, tenant_id=who.tenant_id)
        return None

    def source(self, row: ProviderRow) -> Source:
        configured = self._configured.get(row.name)
        return "environment" if configured is not None and configured.id == row.id else "database"

    async def _changed(self, who: Principal) -> None:
        await self._bus.publish(invalidation("provider", who.tenant_id))

    def out(self, row: ProviderRow) -> ProviderOut:
        plain = self._plain_key(row)
        return ProviderOut(
            id=row.id, tenant_id=row.tenant_id, name=row.name, display_name=row.display_name,
            provider_type=row.provider_type, type=row.provider_type, api_base=row.api_base,
            api_key=mask(plain) if plain else "", has_api_key=bool(row.api_key), enabled=row.enabled,
            settings=row.settings, source=self.source(row), created_at=row.created_at,
            updated_at=row.updated_at,
        )  # fmt: skip

    def _plain_key(self, row: ProviderRow) -> str:
        try:
            return self._box.decrypt(row.api_key)
        except ValueError:
            return MASKED  # encrypted with another key: shown masked, unusable until re-entered

    async def list_providers(self, who: Principal) -> list[ProviderRow]:
        """The tenant's providers, then those configured by environment that none of them hides."""
        require(who, Role.OPERATOR, "providers.list")
        async with self._db.connection() as conn:
            rows = await providers.list_providers(conn, who.tenant_id)
        taken = {r.name for r in rows}
        return rows + [
            msgspec.structs.replace(r, tenant_id=who.tenant_id)
            for name, r in self._configured.items()
            if name not in taken
        ]

    async def get(self, who: Principal, ref: str) -> ProviderRow:
        """By UUID or name, the tenant's first, then one configured by environment. Raises: NotFound
        (also for another tenant's provider)."""
        require(who, Role.OPERATOR, "providers.get")
        async with self._db.connection() as conn:
            row = await providers.get_by_ref(conn, who.tenant_id, ref)
        if row is None:
            row = self._env_row(who, ref)
        if row is None:
            raise NotFound(kind="provider", id=ref)
        return row

    async def _stored(self, who: Principal, ref: str) -> ProviderRow:
        """The tenant's provider ``ref``. Raises: NotFound; FailedPrecondition for one configured by
        environment (it changes where it is configured)."""
        row = await self.get(who, ref)
        if self.source(row) == "environment":
            raise FailedPrecondition(
                detail=f"provider {row.name} is configured by environment (CLAWGATE_{row.name.upper()}_API_KEY); "
                "change it there, or create a provider of the same name to override it"
            )
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
        row = await self._stored(who, ref)
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
        row = await self._stored(who, ref)
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

    async def model_ids(self, who: Principal) -> list[tuple[str, str]]:
        """``(provider, model)`` for every model the caller's enabled providers list (the tenant's and
        the environment's). Each upstream is asked at most every ``_MODELS_TTL`` seconds per tenant; one
        that cannot be asked lists nothing meanwhile (logged)."""
        out: list[tuple[str, str]] = []
        for row in await self.list_providers(who):
            if row.enabled:
                out.extend((row.name, model) for model in await self._cached_models(who, row))
        return out

    async def _cached_models(self, who: Principal, row: ProviderRow) -> list[str]:
        now = time.monotonic()
        cached = self._model_cache.get((who.tenant_id, row.name))
        if cached is not None and now - cached[0] < _MODELS_TTL:
            return cached[1]
        try:
            listed = await self._client(row).list_models()
            models = [str(m["id"]) for m in listed if m.get("id")]
        except (UpstreamError, FailedPrecondition) as exc:
            log.warning("providers.models_failed", provider=row.name, error=exc.message("en"))
            models = []
        self._model_cache[(who.tenant_id, row.name)] = (now, models)
        return models

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
