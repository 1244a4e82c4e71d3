"""What a caller may count at a glance (the page at ``/``, the startup banner): agents, providers and
sessions of its tenant, each only where its role may list them."""

from __future__ import annotations

from msgspec import Struct

from clawgate.principal import Principal, Role
from clawgate.services.agents import AgentService
from clawgate.services.providers import ProviderService
from clawgate.services.sessions import SessionListParams, SessionService

__all__ = ["Counts", "count_for"]


class Counts(Struct, kw_only=True, frozen=True):
    """Counts of the caller's tenant; ``None`` where the caller's role may not list that kind."""

    agents: int
    providers: int | None
    sessions: int


async def count_for(
    who: Principal,
    agents: AgentService,
    providers: ProviderService,
    sessions: SessionService,
) -> Counts:
    """Agents and sessions the caller may list (non-admins: their own sessions), and providers
    (the tenant's and those configured by environment) for operators and up.

    Raises: Unavailable-family errors of the store when the database does not answer."""
    listed = await sessions.list_sessions(who, SessionListParams(limit=1))
    provider_count = None
    if who.role >= Role.OPERATOR:
        provider_count = len(await providers.list_providers(who))  # the environment's included
    return Counts(agents=len(await agents.list_agents(who)), providers=provider_count, sessions=listed.total)
