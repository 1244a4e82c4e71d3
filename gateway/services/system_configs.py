"""Per-tenant key/value settings (``/v1/system-configs``)."""

from __future__ import annotations

import re
from typing import Annotated

from msgspec import Meta, Struct

from clawgate.errors import InvalidRequest, NotFound
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.store import Database, system_configs
from clawgate.store.types import ConfigEntry

__all__ = ["ConfigValue", "SystemConfigService"]

_KEY = re.compile(r"^[a-zA-Z0-9_.-]{1,128}$")


class ConfigValue(Struct, kw_only=True, forbid_unknown_fields=True):
    value: Annotated[str, Meta(max_length=65536)]


def _check(key: str) -> None:
    if not _KEY.match(key):
        raise InvalidRequest(detail="config key must match [a-zA-Z0-9_.-]{1,128}")


class SystemConfigService:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def list_entries(self, who: Principal) -> list[ConfigEntry]:
        async with self._db.connection() as conn:
            return await system_configs.list_entries(conn, who.tenant_id)

    async def get(self, who: Principal, key: str) -> ConfigEntry:
        _check(key)
        async with self._db.connection() as conn:
            entry = await system_configs.get(conn, who.tenant_id, key)
        if entry is None:
            raise NotFound(kind="config key", id=key)
        return entry

    async def put(self, who: Principal, key: str, body: ConfigValue) -> ConfigEntry:
        require(who, Role.ADMIN, "system-configs.set")
        _check(key)
        async with self._db.transaction() as conn:
            return await system_configs.put(conn, who.tenant_id, key, body.value)

    async def delete(self, who: Principal, key: str) -> None:
        require(who, Role.ADMIN, "system-configs.delete")
        _check(key)
        async with self._db.transaction() as conn:
            if not await system_configs.delete(conn, who.tenant_id, key):
                raise NotFound(kind="config key", id=key)
