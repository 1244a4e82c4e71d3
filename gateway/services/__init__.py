"""Domain services: the rules. Transports call one service function per request; services open
transactions through ``Database`` and call ``clawgate.store``. They never see a ``Request`` or a
``WebSocket``."""

from __future__ import annotations

from uuid import UUID

from clawgate.errors import Forbidden, NotFound
from clawgate.principal import Principal, Role

__all__ = ["parse_id", "require"]


def require(principal: Principal, role: Role, action: str) -> None:
    """Raise ``Forbidden`` ("{action} requires {role} role") unless ``principal`` has ``role``."""
    if principal.role < role:
        raise Forbidden(action=action, role=role.label)


def parse_id(value: str, kind: str) -> UUID:
    """``value`` as a UUID. Raises: NotFound naming ``kind`` for a malformed id (as for an unknown one)."""
    try:
        return UUID(value)
    except ValueError:
        raise NotFound(kind=kind, id=value) from None
