"""Config methods (admin, and gateway-wide so the owner's only): ``config.get``, ``config.patch``,
``config.apply``, ``config.schema``. The rules (who, masking, secrets, ``baseHash``, what applies
live) are in ``clawgate.services.config``."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from clawgate.principal import Role
from clawgate.services.config import ConfigView

from .types import CallContext, Method

__all__ = ["METHODS"]


class ChangeParams(Struct, kw_only=True, forbid_unknown_fields=True):
    """``{raw, baseHash?}``: ``raw`` is a JSON object in a string (GoClaw sends JSON5; ClawGate
    reads JSON). ``baseHash`` is the ``hash`` the client last read."""

    raw: str
    baseHash: str | None = None


class Changed(ConfigView, kw_only=True):
    ok: bool = True
    restart: bool = False


class ConfigSchema(Struct, kw_only=True):
    """``config.schema``: ``json`` is the JSON Schema of the configuration file."""

    json: dict[str, Any]


async def get(ctx: CallContext, _: None) -> ConfigView:
    """``{config (secrets "***"), hash, path, unsupported}``."""
    return ctx.gateway.config.view(ctx.who)


async def _change(ctx: CallContext, params: ChangeParams, *, replace: bool) -> Changed:
    view, restart = await ctx.gateway.config.change(ctx.who, params.raw, params.baseHash, replace=replace)
    return Changed(
        config=view.config, hash=view.hash, path=view.path, unsupported=view.unsupported, restart=restart
    )


async def patch(ctx: CallContext, params: ChangeParams) -> Changed:
    """Merge ``raw`` into the configuration (RFC 7386 merge patch). Raises: InvalidRequest."""
    return await _change(ctx, params, replace=False)


async def apply(ctx: CallContext, params: ChangeParams) -> Changed:
    """Replace the configuration with ``raw`` (secrets excepted). Raises: InvalidRequest."""
    return await _change(ctx, params, replace=True)


async def schema(ctx: CallContext, _: None) -> ConfigSchema:
    """``{json: <JSON Schema of the configuration file>}``."""
    return ConfigSchema(json=ctx.gateway.config.schema(ctx.who))


METHODS = {
    "config.get": Method(None, get, Role.ADMIN),
    "config.patch": Method(ChangeParams, patch, Role.ADMIN),
    "config.apply": Method(ChangeParams, apply, Role.ADMIN),
    "config.schema": Method(None, schema, Role.ADMIN),
}
