"""Domain services: the rules. Transports call one service function per request; services open
transactions through ``Database`` and call ``clawgate.store``. They never see a ``Request`` or a
``WebSocket``."""

from __future__ import annotations

from clawgate.errors import Forbidden
from clawgate.principal import Principal, Role

__all__ = ["require"]


def require(principal: Principal, role: Role, action: str) -> None:
    """Raise ``Forbidden`` ("{action} requires {role} role") unless ``principal`` has ``role``."""
    if principal.role < role:
        raise Forbidden(action=action, role=role.label)
