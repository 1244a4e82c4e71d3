"""Who is calling: roles, scopes and the resolved principal of a request or connection."""

from __future__ import annotations

from collections.abc import Collection
from enum import IntEnum
from uuid import UUID

from msgspec import Struct

__all__ = ["SCOPES", "Principal", "Role", "role_from_scopes", "scopes_of_role"]


class Role(IntEnum):
    """GoClaw's roles, ordered: a higher role may do everything a lower one may."""

    VIEWER = 1
    OPERATOR = 2
    ADMIN = 3
    OWNER = 4

    @property
    def label(self) -> str:
        return self.name.lower()


SCOPES = frozenset(
    {
        "operator.admin",
        "operator.read",
        "operator.write",
        "operator.approvals",
        "operator.pairing",
        "operator.provision",
    }
)


_ROLE_SCOPES: dict[Role, frozenset[str]] = {
    Role.VIEWER: frozenset({"operator.read"}),
    Role.OPERATOR: frozenset({"operator.read", "operator.write", "operator.approvals", "operator.pairing"}),
    Role.ADMIN: SCOPES - {"operator.provision"},
    Role.OWNER: SCOPES,
}


def scopes_of_role(role: Role) -> frozenset[str]:
    """The scopes a role grants by itself: an admin holds every scope but ``operator.provision``."""
    return _ROLE_SCOPES[role]


def role_from_scopes(scopes: list[str] | tuple[str, ...]) -> Role:
    """``operator.admin`` -> admin; write/approvals/pairing -> operator; anything else -> viewer."""
    if "operator.admin" in scopes:
        return Role.ADMIN
    if {"operator.write", "operator.approvals", "operator.pairing"} & set(scopes):
        return Role.OPERATOR
    return Role.VIEWER


class Principal(Struct, frozen=True, kw_only=True):
    """The authenticated caller. Every service call is scoped by ``tenant_id``.

    What the caller may do beyond its role is derived here, once: the scopes it holds (the ceiling
    of any key it mints), whether it may act across tenants, whether its claimed user id's
    memberships count, and whether it manages the gateway-wide configuration.
    """

    role: Role
    user_id: str
    tenant_id: UUID
    tenant_slug: str = ""
    tenant_name: str = ""
    is_owner: bool = False
    # May act across tenants (owners, system API keys); tenant_id is then the one in scope now.
    cross_tenant: bool = False
    key_id: UUID | None = None
    scopes: tuple[str, ...] = ()
    via: str = "token"  # token | api_key | dev | cli
    rate_limit_rpm: int | None = None  # an API key's own chat limit (None: gateway.rate_limit_rpm)

    @property
    def is_operator(self) -> bool:
        """The gateway's operator: the gateway token, or development mode (every local client). Not
        throttled while ``rate_limits.exempt_operator`` holds (issue 10, item 7)."""
        return self.via in {"token", "dev"}

    @property
    def sees_all(self) -> bool:
        """GoClaw's ``canSeeAll``: admins and owners see every row of their tenant."""
        return self.role >= Role.ADMIN or self.is_owner

    def reads_team(self, readers: Collection[str]) -> bool:
        """Whether this caller may read a team whose readers (``store.teams.readers``: its author,
        those with access rows or all-boards flags) are ``readers``: those, and admins and owners.
        The one rule behind ``teams.get``, ``teams.tasks.*`` and the ``team.*`` events."""
        return self.sees_all or self.coord_user in readers

    @property
    def held_scopes(self) -> frozenset[str]:
        """The scopes this caller holds: those its role grants plus an API key's own (a system
        key's too). So an owner holds all, an admin key ``operator.provision`` only if it has it,
        and the gateway token without an owner id the admin scopes without ``operator.provision``."""
        return scopes_of_role(self.role) | frozenset(self.scopes)

    @property
    def can_provision(self) -> bool:
        """``operator.provision``: create tenants, add tenant users."""
        return "operator.provision" in self.held_scopes

    @property
    def tenant_bound(self) -> bool:
        """A key bound to one tenant: it acts inside that tenant whatever user id it claims, so
        the claimed user's memberships of other tenants never count for it."""
        return self.via == "api_key" and not self.cross_tenant

    @property
    def member_id(self) -> str:
        """The user whose tenant memberships count for this caller: the claimed user id for
        credentials trusted to assert one (the gateway token, system keys, development mode); ""
        for a tenant-bound key."""
        return "" if self.tenant_bound else self.user_id

    @property
    def coord_user(self) -> str:
        """The user this caller is on every agent-coordination façade (Mission Control, GoClaw's
        teams, ClawTasker): whose board/team access rows and member row count, and who is recorded
        as a board's, task's, comment's or event's author. A tenant-bound key is its own user,
        ``key:<key id>`` (the user ids it claims never count, as for ``member_id``); the gateway
        token without a user id is Mission Control's one ``local`` user; any other credential is
        the user id it carries."""
        if self.tenant_bound:
            return f"key:{self.key_id}"
        return self.user_id or "local"

    @property
    def manages_gateway(self) -> bool:
        """Gateway-wide settings (the configuration file: owner ids, rate limits, limits) are the
        owner's: the gateway token with an owner id, a system key, the CLI, or development mode
        (no token, loopback only: every local client is the one operator). A tenant admin,
        including the gateway token without an owner id, manages its tenant's settings only."""
        return self.is_owner or self.cross_tenant or self.via == "dev"
