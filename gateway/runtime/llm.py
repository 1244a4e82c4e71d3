"""Which provider and model an agent talks to, with its fallback chain.

Providers come from the tenant's ``llm_providers`` rows (by name) and from configuration
(``providers.<name>`` / ``CLAWGATE_<NAME>_API_KEY``); a database row overrides a configured one of the
same name. Resolved clients are cached briefly and dropped on ``cache.invalidate`` (kind provider).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import aiohttp

from clawgate.bus import INVALIDATE, BusEvent, EventBus, invalidates
from clawgate.config import Settings
from clawgate.crypto import SecretBox
from clawgate.errors import FailedPrecondition
from clawgate.providers import ProviderClient, client_for, configured_type
from clawgate.store import Database, providers
from clawgate.store.types import AgentRow

__all__ = ["LLMResolver", "Target"]

_TTL = 30.0


@dataclass(frozen=True, slots=True)
class Target:
    """One (provider, model) the agent may call, in fallback order."""

    provider: str
    provider_type: str
    model: str
    client: ProviderClient


class LLMResolver:
    def __init__(
        self, settings: Settings, db: Database, box: SecretBox, http: aiohttp.ClientSession, bus: EventBus
    ) -> None:
        self._settings = settings
        self._db = db
        self._box = box
        self._http = http
        self._cache: dict[tuple[UUID, str], tuple[float, tuple[str, ProviderClient] | None]] = {}
        bus.subscribe(self._on_event, names=[INVALIDATE])

    def _on_event(self, event: BusEvent) -> None:
        if invalidates(event, "provider"):
            self._cache.clear()

    async def client(self, tenant_id: UUID, name: str) -> tuple[str, ProviderClient] | None:
        """The tenant's provider ``name`` (its record, else one configured by environment; ``""``:
        the first enabled record, else the first configured) as ``(provider_type, client)``, or
        None when it does not resolve (unknown, disabled, an undecryptable key)."""
        now = time.monotonic()
        cached = self._cache.get((tenant_id, name))
        if cached is not None and now - cached[0] < _TTL:
            return cached[1]
        found: tuple[str, ProviderClient] | None = None
        async with self._db.connection() as conn:
            row = await providers.get_by_name(conn, tenant_id, name) if name else None
            if row is None and not name:
                rows = [r for r in await providers.list_providers(conn, tenant_id) if r.enabled]
                row = rows[0] if rows else None
        if row is not None and row.enabled:
            try:
                key = self._box.decrypt(row.api_key)
            except ValueError:
                key = None
            if key is not None:
                found = (
                    row.provider_type,
                    client_for(row.provider_type, row.api_base, key, self._http, row.name),
                )
        elif row is None:
            configured = self._settings.providers
            pick = name or next(iter(configured), "")
            conf = configured.get(pick)
            if conf is not None and (conf.api_key or conf.api_base):
                kind = configured_type(pick)
                found = (kind, client_for(kind, conf.api_base, conf.api_key, self._http, pick))
        self._cache[(tenant_id, name)] = (now, found)
        return found

    async def has_provider(self, tenant_id: UUID, name: str) -> bool:
        """Whether ``name`` resolves to a usable provider: the tenant's (enabled) or a configured one."""
        return await self.client(tenant_id, name) is not None

    async def targets(self, agent: AgentRow, model_override: str = "") -> list[Target]:
        """The agent's provider/model, then its ``model_fallback`` candidates that resolve.

        Raises: FailedPrecondition naming what to configure when nothing resolves.
        """
        wanted: list[tuple[str, str]] = [(agent.provider, model_override or agent.model)]
        fallback: dict[str, Any] = agent.model_fallback or {}
        if fallback.get("enabled", True) and not model_override:
            for cand in fallback.get("candidates") or []:
                if isinstance(cand, dict):
                    wanted.append((str(cand.get("provider") or agent.provider), str(cand.get("model") or "")))
        out: list[Target] = []
        for provider, model in wanted:
            resolved = await self.client(agent.tenant_id, provider)
            if resolved is not None and model:
                out.append(Target(provider or resolved[1].name, resolved[0], model, resolved[1]))
        if not out:
            what = f"provider {agent.provider!r}" if agent.provider else "a provider"
            raise FailedPrecondition(
                detail=(
                    f"agent {agent.agent_key!r} has no working provider: configure {what} "
                    "(POST /v1/providers, or CLAWGATE_OPENAI_API_KEY / CLAWGATE_ANTHROPIC_API_KEY) "
                    "and set the agent's provider and model"
                    + ("" if agent.model else "; the agent has no model set")
                )
            )
        return out
