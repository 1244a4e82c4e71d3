"""What ``clawgate serve`` says once it listens: the URLs (``/``, ``/docs``, the WebSocket, the OpenAI
base URL), the auth mode, the data directory, and the next step while the master tenant has no
provider or agent yet. A short banner on a console; one structured event (``gateway.ready``)
otherwise, so that log collectors get it as data."""

from __future__ import annotations

import sys
from typing import TextIO

import msgspec
import structlog
from msgspec import Struct

from clawgate import __version__
from clawgate.config import LogSettings
from clawgate.errors import GatewayError
from clawgate.logging import uses_console
from clawgate.principal import Principal, Role
from clawgate.services.overview import count_for
from clawgate.state import Gateway
from clawgate.store.tenants import MASTER_TENANT_ID

__all__ = ["ReadyInfo", "announce", "banner_text", "ready_info"]

log = structlog.get_logger("clawgate.app")


class ReadyInfo(Struct, kw_only=True, frozen=True):
    """The facts the banner and the ``gateway.ready`` event carry."""

    version: str
    home: str
    docs: str
    websocket: str
    openai_base_url: str
    auth: str
    data_dir: str
    database: str
    next_step: str


def _display_host(host: str) -> str:
    """A host a local client can open: the wildcard addresses become loopback."""
    if host in {"0.0.0.0", ""}:
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _next_step(agents: int, providers: int | None) -> str:
    if not providers:
        return (
            "add a provider: set CLAWGATE_OPENAI_API_KEY (or CLAWGATE_ANTHROPIC_API_KEY) and restart, "
            "or POST /v1/providers; then create an agent with POST /v1/agents"
        )
    if not agents:
        return 'create an agent: POST /v1/agents {"agent_key":"helper","provider":"...","model":"..."}'
    return ""


async def ready_info(gateway: Gateway, port: int) -> ReadyInfo:
    """The facts for ``gateway`` listening on ``port`` (the bound one, also when 0 was asked)."""
    settings = gateway.settings
    base = f"http://{_display_host(settings.gateway.host)}:{port}"
    master = Principal(role=Role.OWNER, user_id="system", tenant_id=MASTER_TENANT_ID, tenant_slug="master",
                       is_owner=True, via="cli")  # fmt: skip
    try:
        counts = await count_for(master, gateway.agents, gateway.providers, gateway.sessions)
        next_step = _next_step(counts.agents, counts.providers)
    except GatewayError as exc:  # the database went away since the lifespan: say so, serve on
        log.warning("gateway.ready_counts_failed", error=exc.message())
        next_step = ""
    if gateway.auth.dev_mode:
        auth = "development mode: no gateway token is configured, every local client is admin"
    else:
        auth = "gateway token required (Authorization: Bearer, x-api-key, or connect's token)"
    return ReadyInfo(
        version=__version__, home=f"{base}/", docs=f"{base}/docs", websocket=f"ws{base[4:]}/ws",
        openai_base_url=f"{base}/v1", auth=auth, data_dir=str(settings.data_path.resolve()),
        database="embedded PostgreSQL" if gateway.embedded is not None else "external PostgreSQL",
        next_step=next_step,
    )  # fmt: skip


def banner_text(info: ReadyInfo) -> str:
    """The console banner."""
    rows = [
        ("home", info.home), ("docs", info.docs), ("websocket", info.websocket),
        ("openai", f"{info.openai_base_url}  (base_url of the OpenAI SDKs)"), ("auth", info.auth),
        ("data", f"{info.data_dir} ({info.database})"),
    ]  # fmt: skip
    if info.next_step:
        rows.append(("next", info.next_step))
    lines = [f"ClawGate {info.version} is ready", *(f"  {name:<10} {value}" for name, value in rows)]
    return "\n".join(lines) + "\n"


def announce(info: ReadyInfo, settings: LogSettings, out: TextIO | None = None) -> None:
    """Print the banner where the log output is a console (``uses_console``), else log
    ``gateway.ready`` with the same facts."""
    stream = out or sys.stdout
    if uses_console(settings, stream):
        stream.write(banner_text(info))
        stream.flush()
    else:
        log.info("gateway.ready", **{k: v for k, v in msgspec.structs.asdict(info).items() if v})
