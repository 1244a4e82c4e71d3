"""Reading and changing the configuration file at run time (``config.get|patch|apply|schema``).

The document clients see is the effective ``Settings`` (file, environment and defaults merged)
with secrets masked as ``"***"``. Its hash is ``clawgate.config.config_hash`` of that masked
document, so a client can send it back as ``baseHash`` and learn whether someone changed the
configuration in between.

Secrets (``gateway.token``, ``database.dsn``, ``encryption_key``, ``providers.*.api_key``) are set
through environment variables, never through these methods: ``"***"`` (or leaving them out)
keeps the current value, any other new value is refused. The file is written with the secrets
that the file itself already held, so an environment secret is never copied into it.

Only the owner manages it (``_require``): tenant admins have their tenant's settings instead.

Fields applied live (see ``LIVE_FIELDS``): owner ids, rate limits, the chat message limit, and the
per-connection WebSocket limits (for connections opened afterwards). Every other changed field is
written to the file and takes effect at the next start (``restart: true`` in the response).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
from pathlib import Path
from typing import Any, Final

import msgspec
import orjson

from clawgate import wire
from clawgate.config import SECRET_PATHS, Settings, config_hash, settings_from_mapping
from clawgate.errors import ConfigError, Forbidden, InvalidRequest, invalid_from_validation
from clawgate.live import LiveSettings
from clawgate.principal import Principal, Role
from clawgate.services import require
from clawgate.services.auth import is_loopback_host

__all__ = ["GOCLAW_UNSUPPORTED", "LIVE_FIELDS", "MASK", "ConfigService", "ConfigView", "Document"]

MASK: Final = "***"
Document = dict[str, Any]
"""A configuration document: ``Settings`` as plain JSON values, without ``config_path``."""

Path_ = tuple[str, ...]

LIVE_FIELDS: Final[frozenset[Path_]] = frozenset(
    {
        ("gateway", "owner_ids"),
        ("gateway", "rate_limit_rpm"),
        ("gateway", "max_message_chars"),
        ("rate_limits", "per_ip_rpm"),
        ("rate_limits", "per_key_rpm"),
        ("rate_limits", "burst"),
        ("rate_limits", "exempt_operator"),
        ("limits", "ws_preauth_max_payload"),
        ("limits", "ws_max_buffered_bytes"),
        ("limits", "ws_connect_timeout_seconds"),
        ("limits", "tick_interval_ms"),
        ("metrics", "public"),
    }
)
"""Settings that take effect without a restart. The rest is read once at startup (the listening
socket, uvicorn's frame limit and pings, middleware, the database pool, logging, providers)."""

_ENV_NAMES: Final[dict[Path_, str]] = {
    ("gateway", "token"): "CLAWGATE_GATEWAY_TOKEN",
    ("database", "dsn"): "CLAWGATE_POSTGRES_DSN",
    ("encryption_key",): "CLAWGATE_ENCRYPTION_KEY",
}


GOCLAW_UNSUPPORTED: Final[dict[str, str]] = {
    "agents": "agent defaults are not configured here: each agent carries its own (POST /v1/agents)",
    "channels": "messaging channels (Telegram, Discord ...) are not supported",
    "tools": "tool profiles, exec approval and web tools are not configurable",
    "skills": "skills are not supported",
    "sessions": "session scoping is not configurable",
    "tts": "text to speech is not supported",
    "audio": "audio is not supported",
    "cron": "GoClaw's cron section: ClawGate's scheduler settings are under scheduler.*",
    "telemetry": "OTLP export is not supported; GET /metrics serves Prometheus metrics",
    "tailscale": "Tailscale is not supported",
    "bindings": "channel bindings are not supported",
    "hooks": "hooks are not supported",
    "packages": "packages are not supported",
    "general": "branding (app name) is not configurable",
    "features": "feature switches are not supported",
    "gateway.quota": "per-user quotas are not supported (the chat limit is gateway.rate_limit_rpm)",
    "gateway.injection_action": "prompt-injection screening is not supported",
    "gateway.inbound_debounce_ms": "inbound debouncing is not supported",
    "gateway.block_reply": "block replies are not configurable",
    "gateway.tool_status": "tool status messages are not configurable",
    "gateway.chat_behavior": "chat behaviour is not configurable",
    "gateway.task_recovery_interval_sec": "task recovery is not configurable",
    "gateway.background_provider": "background models are not configurable",
    "gateway.background_model": "background models are not configurable",
}
"""GoClaw's configuration sections and gateway fields that mean nothing here, by dotted path, with
why: ``config.get`` lists them (``unsupported``) so that GoClaw's dashboard can say so, and a change
touching one is refused naming it."""


class ConfigView(msgspec.Struct, kw_only=True):
    """What ``config.get`` returns, and (with ``ok``/``restart``) what patch and apply return.

    ``config`` is ClawGate's configuration, whose ``gateway`` and ``providers`` sections and
    ``data_dir`` are GoClaw's own shapes (the dashboard's Config server tab reads and saves them);
    ``unsupported`` names GoClaw's sections that have no meaning here."""

    config: Document
    hash: str
    path: str
    unsupported: dict[str, str] = msgspec.field(default_factory=lambda: dict(GOCLAW_UNSUPPORTED))


def _is_secret(path: Path_) -> bool:
    return path in SECRET_PATHS or (len(path) == 3 and path[0] == "providers" and path[2] == "api_key")


def _env_name(path: Path_) -> str:
    return _ENV_NAMES.get(path) or f"CLAWGATE_{path[1].upper()}_API_KEY"


def _leaves(doc: Any, prefix: Path_ = ()) -> dict[Path_, Any]:
    """Flatten nested objects into ``{path: value}``; lists and scalars are leaves."""
    if not isinstance(doc, dict) or (prefix and not doc):
        return {prefix: doc}
    out: dict[Path_, Any] = {}
    for key, value in doc.items():
        out.update(_leaves(value, (*prefix, str(key))))
    return out


def _get(doc: Any, path: Path_) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


def _put(doc: Document, path: Path_, value: Any) -> None:
    for part in path[:-1]:
        child = doc.get(part)
        if not isinstance(child, dict):
            child = doc[part] = {}
        doc = child
    doc[path[-1]] = value


def _drop(doc: Document, path: Path_) -> None:
    parent = _get(doc, path[:-1]) if len(path) > 1 else doc
    if isinstance(parent, dict):
        parent.pop(path[-1], None)


def merge_patch(base: Document, patch: Document) -> Document:
    """JSON merge patch (RFC 7386): objects merge recursively, ``null`` removes a key (its default
    then applies), anything else replaces."""
    out = copy.deepcopy(base)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def document(settings: Settings) -> Document:
    """``settings`` as a plain document (secrets in clear; ``config_path`` left out)."""
    doc: Document = msgspec.to_builtins(settings)
    doc.pop("config_path", None)
    return doc


def masked(doc: Document) -> Document:
    """A copy of ``doc`` with every non-empty secret replaced by ``"***"``."""
    out = copy.deepcopy(doc)
    for path, value in _leaves(doc).items():
        if _is_secret(path) and value:
            _put(out, path, MASK)
    return out


class ConfigService:
    """Owns the configuration file and swaps the running settings (``LiveSettings``).

    Changes are serialised by a lock in this process. Each process keeps its own settings: a
    change made through one process reaches the others at their next start.
    """

    def __init__(self, live: LiveSettings) -> None:
        self._live = live
        self._lock = asyncio.Lock()
        self._commits: set[asyncio.Task[bool]] = set()  # a reference to each, should a caller give up
        # What config.get shows: the last accepted configuration, which may hold fields that
        # only take effect after a restart (the running settings are ``live.current``).
        self._settings = live.current
        configured = live.current.config_path
        self.path = Path(configured) if configured else Path("config.json").resolve()

    def view(self, who: Principal) -> ConfigView:
        """The masked configuration, its hash and the file path. Raises: Forbidden (``_require``)."""
        _require(who, "config.get")
        return self._view()

    def _view(self) -> ConfigView:
        doc = masked(document(self._settings))
        return ConfigView(config=doc, hash=config_hash(doc), path=str(self.path))

    @staticmethod
    def schema(who: Principal) -> dict[str, Any]:
        """JSON Schema of the configuration file. Raises: Forbidden (``_require``)."""
        _require(who, "config.schema")
        schema: dict[str, Any] = msgspec.json.schema(Settings)
        props = schema.get("$defs", {}).get("Settings", {}).get("properties", {})
        props.pop("config_path", None)
        return schema

    async def change(
        self, who: Principal, raw: str, base_hash: str | None, *, replace: bool
    ) -> tuple[ConfigView, bool]:
        """Merge (``replace=False``, ``config.patch``) or replace (``config.apply``) the
        configuration with the JSON object in ``raw``, validate it, write the file atomically and
        apply live what can be applied.

        Returns:
            the new view and whether a changed field needs a restart.
        Raises:
            Forbidden: ``_require``.
            InvalidRequest: bad JSON, ``baseHash`` mismatch (``config_changed``), a new secret
                value, an invalid field (``details.field`` names its path), an unsafe setup.
        Cancellation: before the write starts, nothing changes; after, the change completes. The
            file is replaced whole or not at all (tmp + ``os.replace``).
        """
        _require(who, "config.apply" if replace else "config.patch")
        incoming = _parse(raw)
        async with self._lock:
            current = self._view()
            if base_hash and base_hash != current.hash:
                raise InvalidRequest("config_changed", details={"hash": current.hash})
            old = document(self._settings)
            new = incoming if replace else merge_patch(current.config, incoming)
            new = _restore_secrets(new, old)
            settings = _validate(new, str(self.path))
            # Shielded: once the file is being written, the change completes (file, view and
            # live settings together) even if the caller is cancelled.
            commit = asyncio.ensure_future(self._commit(settings, old))
            self._commits.add(commit)
            commit.add_done_callback(self._commits.discard)
            restart = await asyncio.shield(commit)
            return self._view(), restart

    # -- internals --------------------------------------------------------------------------------

    async def _commit(self, settings: Settings, old: Document) -> bool:
        """Write, remember and apply ``settings``; True when a changed field needs a restart."""
        await asyncio.to_thread(self._write, document(settings))
        self._settings = settings
        before, after = _leaves(old), _leaves(document(settings))
        changed = {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}
        self._apply_live(settings, changed & LIVE_FIELDS)
        return any(p not in LIVE_FIELDS for p in changed)

    def _apply_live(self, settings: Settings, changed: set[Path_]) -> None:
        """Swap in the running settings with the ``changed`` live fields taken from ``settings``
        (the followers of ``LiveSettings`` apply them: owner ids, limiters, message limit)."""
        running = document(self._live.current)
        for path in changed:
            _put(running, path, _get(document(settings), path))
        running["config_path"] = str(self.path)
        self._live.swap(settings_from_mapping(running))

    def _write(self, doc: Document) -> None:
        """Write ``doc`` atomically (mode 0600) with the secrets the file itself already held."""
        on_disk: Document = {}
        with contextlib.suppress(OSError, orjson.JSONDecodeError):
            loaded = orjson.loads(self.path.read_bytes())
            on_disk = loaded if isinstance(loaded, dict) else {}
        for path in [p for p in _leaves(doc) if _is_secret(p)]:
            kept = _get(on_disk, path)
            if isinstance(kept, str) and kept:
                _put(doc, path, kept)
            else:
                _drop(doc, path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def _require(who: Principal, action: str) -> None:
    """The configuration is gateway-wide: an admin who manages the gateway (``Principal.manages_gateway``:
    an owner, a system key, development mode), never a tenant's admin. Raises: Forbidden."""
    require(who, Role.ADMIN, action)
    if not who.manages_gateway:
        raise Forbidden(action=action, role=Role.OWNER.label)


def _parse(raw: str) -> Document:
    """``raw`` as a JSON object, under the input rules of every request (``clawgate.wire``: no NUL,
    64-bit integers, 64 levels), fields named by their path in the configuration (``$.gateway.x``)."""
    try:
        doc = wire.decode(raw.encode(), Any)
    except InvalidRequest as exc:
        if exc.details is None:  # not JSON at all
            exc.details = {"field": "$.raw"}
        raise
    if not isinstance(doc, dict):
        raise InvalidRequest(detail="raw must be a JSON object", details={"field": "$.raw"})
    if "config_path" in doc:
        raise InvalidRequest(
            detail="config_path is not a configuration field", details={"field": "$.config_path"}
        )
    for dotted, why in GOCLAW_UNSUPPORTED.items():
        if _get(doc, tuple(dotted.split("."))) is not None:
            raise InvalidRequest(
                detail=f"{dotted} is GoClaw configuration that ClawGate does not support: {why}",
                details={"field": f"$.{dotted}"},
            )
    return doc


def _restore_secrets(new: Document, old: Document) -> Document:
    """Put the current secret values back; refuse any new one, naming its environment variable."""
    out = copy.deepcopy(new)
    refused: list[str] = []
    secret_paths = {p for p in (*_leaves(old), *_leaves(new)) if _is_secret(p)}
    for path in sorted(secret_paths):
        value, current = _get(new, path), _get(old, path)
        if value is None or value in (MASK, current):
            if not current:
                _drop(out, path)
            else:
                _put(out, path, current)
        else:
            refused.append(f"{'.'.join(path)} ({_env_name(path)})")
    if refused:
        raise InvalidRequest(
            detail="secrets are set through environment variables, not config: " + ", ".join(refused),
            details={"field": "$." + refused[0].split(" ")[0], "secrets": refused},
        )
    return out


def _validate(doc: Document, path: str) -> Settings:
    try:
        settings = settings_from_mapping({**doc, "config_path": path})
    except ConfigError as exc:
        raise invalid_from_validation(exc) from None
    gw = settings.gateway
    if not gw.token and not is_loopback_host(gw.host) and not gw.allow_insecure_no_auth:
        # The same rule that stops startup (clawgate.app.check_startup), refused before writing.
        raise InvalidRequest(
            detail=f"listening on {gw.host} needs a gateway token (CLAWGATE_GATEWAY_TOKEN)",
            details={"field": "$.gateway.host"},
        )
    return settings
