"""Who is calling: roles, scopes and the resolved principal of a request or connection."""

from __future__ import annotations

from enum import IntEnum
from uuid import UUID

from msgspec import Struct

__all__ = ["Principal", "Role", "role_from_scopes"]


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


def role_from_scopes(scopes: list[str] | tuple[str, ...]) -> Role:
    """``operator.admin`` -> admin; write/approvals/pairing -> operator; anything else -> viewer."""
    if "operator.admin" in scopes:
        return Role.ADMIN
    if {"operator.write", "operator.approvals", "operator.pairing"} & set(scopes):
        return Role.OPERATOR
    return Role.VIEWER


class Principal(Struct, frozen=True, kw_only=True):
    """The authenticated caller. Every service call is scoped by ``tenant_id``."""

    role: Role
    user_id: str
    tenant_id: UUID
    tenant_slug: str = ""
    tenant_name: str = ""
    is_owner: bool = False
    # May act across tenants (owners, system API keys); tenant_id is then the one in scope now.
    cross_tenant: bool = False
    can_provision: bool = False
    key_id: UUID | None = None
    scopes: tuple[str, ...] = ()
    via: str = "token"  # token | api_key | dev

    @property
    def sees_all(self) -> bool:
        """GoClaw's ``canSeeAll``: admins and owners see every row of their tenant."""
        return self.role >= Role.ADMIN or self.is_owner
