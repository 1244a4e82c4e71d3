"""The app factory and its lifespan: the composition root that wires settings, the store, the bus
and the services, and mounts the REST routes and the WebSocket endpoint on one Starlette app."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

import aiohttp
import certifi
import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware

from clawgate.bus import EventBus
from clawgate.config import LLMSettings, Settings
from clawgate.crypto import SecretBox, load_or_create_key
from clawgate.embedded_pg import DataDirInUse, EmbeddedPostgres, data_dir_holder
from clawgate.errors import ConfigError
from clawgate.live import LiveSettings
from clawgate.ratelimit import CHAT_BURST, RateLimiter
from clawgate.runtime.llm import LLMResolver
from clawgate.runtime.runs import RunManager
from clawgate.runtime.scheduler import Scheduler
from clawgate.services.agent_api import AgentApiService
from clawgate.services.agents import AgentService
from clawgate.services.api_keys import ApiKeyService
from clawgate.services.auth import AuthService, is_loopback_host
from clawgate.services.background import BackgroundRounds
from clawgate.services.board_agents import BoardAgentService
from clawgate.services.board_groups import BoardGroupService
from clawgate.services.board_loop import BoardLoop
from clawgate.services.board_tools import BoardTools
from clawgate.services.boards import BoardService
from clawgate.services.builtin_tools import BuiltinToolService
from clawgate.services.chat import ChatService
from clawgate.services.clawtasker import ClawTaskerService
from clawgate.services.clerk import ClerkAuth
from clawgate.services.config import ConfigService
from clawgate.services.cron import CronService
from clawgate.services.embeddings import EmbeddingService
from clawgate.services.episodic import EpisodicService
from clawgate.services.heartbeat import HeartbeatService
from clawgate.services.kg import KnowledgeGraphService
from clawgate.services.mc_dashboard import DashboardService
from clawgate.services.mc_gateways import GatewayService
from clawgate.services.mc_sessions import McSessionService
from clawgate.services.mc_templates import TemplateSync
from clawgate.services.mcp import McpService
from clawgate.services.memory import MemoryService
from clawgate.services.onboarding import OnboardingService
from clawgate.services.openai_compat import OpenAIService
from clawgate.services.org import OrgService
from clawgate.services.providers import ProviderService
from clawgate.services.recall import MemoryRecall
from clawgate.services.sessions import SessionService
from clawgate.services.skill_catalog import SkillCatalog
from clawgate.services.skills import SkillService
from clawgate.services.souls import SoulsDirectory
from clawgate.services.system_configs import SystemConfigService
from clawgate.services.tags import TagService
from clawgate.services.tasks import TaskService
from clawgate.services.team_archive import TeamArchive
from clawgate.services.team_workspace import TeamWorkspace
from clawgate.services.teams import TeamService
from clawgate.services.tenants import TenantService
from clawgate.services.traces import TraceService
from clawgate.services.vault import VaultService
from clawgate.services.webhooks import WebhookService
from clawgate.state import Gateway
from clawgate.store import create_database
from clawgate.store.db import Unreachable, connect
from clawgate.store.migrate import migrate, pgvector_available
from clawgate.tools import exec as _exec_tool  # noqa: F401 - registers exec
from clawgate.tools import files as _file_tools  # noqa: F401 - registers read_file, write_file, edit, ...
from clawgate.tools import kg as _kg_tools  # noqa: F401 - registers kg_search/kg_traverse
from clawgate.tools import memory as _memory_tools  # noqa: F401 - registers memory_search/get/write
from clawgate.tools import schedules as _schedule_tools  # noqa: F401 - registers cron, heartbeat
from clawgate.tools import vault as _vault_tools  # noqa: F401 - registers vault_search
from clawgate.tools import web as _web_tools  # noqa: F401 - registers web_fetch

__all__ = [
    "State",
    "check_startup",
    "create_app",
    "open_database",
    "open_database_migrated",
    "prepare_database",
    "tls_context",
]

log = structlog.get_logger("clawgate.app")


class State(TypedDict):
    """Lifespan state; Starlette copies it into every request's ``request.state``."""

    gateway: Gateway


def check_startup(settings: Settings) -> None:
    """Refuse configurations that would be unsafe. Raises: ConfigError with what to do."""
    gw = settings.gateway
    if not gw.token and not is_loopback_host(gw.host) and not gw.allow_insecure_no_auth:
        raise ConfigError(
            f"refusing to listen on {gw.host} without a gateway token: anyone on the network could "
            "control the gateway. Set CLAWGATE_GATEWAY_TOKEN (or gateway.token), or listen on "
            "127.0.0.1, or set CLAWGATE_ALLOW_INSECURE_NO_AUTH=1 if you really mean it."
        )
    if not settings.database.dsn and (holder := data_dir_holder(settings.data_path)) is not None:
        raise DataDirInUse(settings.data_path.resolve(), holder)


async def open_database(settings: Settings, *, attach: bool = False) -> tuple[str, EmbeddedPostgres | None]:
    """The DSN to use, starting the embedded server when none is configured, with migrations
    applied. ``attach``: use the embedded server of a gateway that owns the data directory instead
    of refusing (see ``EmbeddedPostgres``).
    Raises: ConfigError when the server is unreachable or lacks pgvector, or the data directory is
    another process's."""
    dsn, embedded, _applied = await open_database_migrated(settings, attach=attach)
    return dsn, embedded


async def open_database_migrated(
    settings: Settings, *, attach: bool = False
) -> tuple[str, EmbeddedPostgres | None, list[str]]:
    """``open_database`` plus the names of the migrations it applied (for ``clawgate migrate``)."""
    embedded: EmbeddedPostgres | None = None
    dsn = settings.database.dsn
    if not dsn:
        embedded = EmbeddedPostgres(
            settings.data_path, attach=attach, shared_buffers_mb=settings.database.embedded_shared_buffers_mb
        )
        dsn = await embedded.start()
    try:
        applied = await prepare_database(dsn)
    except BaseException:
        if embedded is not None:
            await embedded.stop()
        raise
    return dsn, embedded, applied


async def prepare_database(dsn: str) -> list[str]:
    """Check that ``dsn`` answers and has pgvector, then apply pending migrations.

    Returns: the names of the migrations applied (empty when the schema was up to date).
    Raises: ConfigError when the server is unreachable or lacks pgvector.
    """
    try:
        conn = await connect(dsn, timeout=10)
    except Unreachable as exc:
        raise ConfigError(f"cannot connect to PostgreSQL: {exc}") from exc
    try:
        if not await pgvector_available(conn):
            raise ConfigError(
                "the PostgreSQL server has no pgvector extension; install pgvector "
                "(https://github.com/pgvector/pgvector) or unset the DSN to use the embedded server"
            )
        applied = await migrate(conn)
        if applied:
            log.info("db.migrated", applied=applied)
    finally:
        await conn.close()
    return applied


def _provider_session(llm: LLMSettings) -> aiohttp.ClientSession:
    """The client shared by every provider call; call it inside the running loop, ``close()`` it.

    Up to 512 connections, idle ones kept 5 s; 10 s to connect, 300 s to wait for a pool slot and
    300 s of silence from the upstream, with no bound on a whole call (a long stream may run on).
    No cookies, no redirects (the adapters ask for none), the CAs of ``tls_context``.
    """
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=512, limit_per_host=0, ttl_dns_cache=300, keepalive_timeout=5.0, ssl=tls_context(llm)
        ),
        timeout=aiohttp.ClientTimeout(total=None, connect=300, sock_connect=10, sock_read=300),
        auto_decompress=True,
        cookie_jar=aiohttp.DummyCookieJar(),
        raise_for_status=False,
    )


def tls_context(llm: LLMSettings) -> ssl.SSLContext:
    """What provider calls trust: ``llm.ca_file``, else ``llm.ca_dir``, else certifi's bundle (for
    a provider behind a private CA). Raises: OSError or ssl.SSLError for an unreadable bundle."""
    if llm.ca_file:
        return ssl.create_default_context(cafile=llm.ca_file)
    if llm.ca_dir:
        return ssl.create_default_context(capath=llm.ca_dir)
    return ssl.create_default_context(cafile=certifi.where())


async def build_gateway(settings: Settings) -> Gateway:
    """Open the store and build every service. The caller must ``close_gateway`` it."""
    check_startup(settings)
    dsn, embedded = await open_database(settings)
    if embedded is not None:
        embedded.supervise()
    db = await create_database(
        dsn,
        min_size=settings.database.pool_min_size,
        max_size=settings.database.pool_max_size,
        command_timeout=settings.database.command_timeout_seconds,
    )
    key, key_source = load_or_create_key(settings.encryption_key, settings.data_path)
    box = SecretBox(key)
    bus = EventBus(db)
    await bus.start()
    http = _provider_session(settings.llm)
    live = LiveSettings(settings)
    auth = AuthService(settings, db, bus)
    llm = LLMResolver(settings, db, box, http, bus)
    agents = AgentService(db, bus, llm)
    embeddings = EmbeddingService(settings, db, llm)
    memory = MemoryService(settings, db, agents, embeddings, bus)
    memory.start()
    vault = VaultService(settings, db, agents, embeddings, bus)
    vault.start()
    kg = KnowledgeGraphService(db, agents, embeddings, llm)
    episodic = EpisodicService(db, agents, embeddings, llm)
    rounds = BackgroundRounds(
        db,
        "kg-episodic-rounds",
        settings.memory.reindex_interval_seconds,
        [kg.reindex_pending, episodic.reindex_pending, episodic.summarize_idle, episodic.expire_old],
    )
    rounds.start()
    runner = RunManager(settings, db, bus, llm, agents, memory, vault, kg, episodic)
    runner.add_prompt_source(MemoryRecall(settings, db, bus, memory))
    catalog = SkillCatalog(db, bus)
    runner.add_prompt_source(catalog)
    runner.add_tool_source(catalog)
    await runner.start()
    mcp = McpService(db, box, bus, agents)
    runner.add_tool_source(mcp)
    ip_limiter, key_limiter, chat_limiter = _limiters(live)
    chat = ChatService(settings, db, agents, runner, chat_limiter)
    providers = ProviderService(db, box, http, bus, settings.providers)
    openai = OpenAIService(db, agents, runner, chat_limiter, providers, settings.gateway.default_agent)
    cron = CronService(settings, db, bus, agents)
    cron.scheduler = scheduler = Scheduler(settings, db, bus, chat, runner, runner.process_id)
    heartbeat = HeartbeatService(db, bus, agents, scheduler, llm)
    runner.cron, runner.heartbeat = cron, heartbeat
    runner.builtin = builtin_tools = BuiltinToolService(db, bus, settings.data_path, agents)
    tasks = TaskService(db, bus)
    teams = TeamService(db, bus, agents, tasks)
    team_workspace = TeamWorkspace(teams, settings.data_path, db)
    boards = BoardService(db, tasks)
    # Notifications become runs (issue 14): Mission Control's, GoClaw's assignments, ClawTasker's.
    clawtasker = ClawTaskerService(db, bus, tasks, live)
    boards.loop = teams.loop = clawtasker.loop = BoardLoop(
        db, chat, settings.rate_limits.agent_wakes_per_10min, scheduler
    )
    rounds.add(boards.loop.sweep)
    agent_api = AgentApiService(db, boards, tasks)
    board_groups = BoardGroupService(db, boards, tasks, heartbeat)
    runner.add_tool_source(BoardTools(agent_api))
    mc = settings.mission_control
    webhooks = WebhookService(
        db, box, boards, tasks, public_url=mc.public_url, ingest_per_minute=mc.webhook_ingest_per_minute
    )
    clerk = ClerkAuth(mc.clerk, db, http) if mc.auth_mode == "clerk" else None
    tenants = TenantService(db, auth)
    org = OrgService(db, tenants)
    sessions = SessionService(db, chat, agents, llm, episodic)
    board_agents = BoardAgentService(db, agents, boards, tasks)
    await scheduler.start()
    live.follow(lambda _, new: auth.reconfigure(new))
    live.follow(lambda _, new: chat.reconfigure(new))
    return Gateway(
        live=live, config=ConfigService(live), db=db, bus=bus, box=box, http=http, auth=auth,
        agents=agents, api_keys=ApiKeyService(db, auth), tenants=tenants,
        providers=providers, system_configs=SystemConfigService(db),
        llm=llm, runner=runner, chat=chat, sessions=sessions,
        traces=TraceService(db, chat), openai=openai,
        ip_limiter=ip_limiter, key_limiter=key_limiter, chat_limiter=chat_limiter,
        embeddings=embeddings, memory=memory, vault=vault, kg=kg, episodic=episodic, mcp=mcp, rounds=rounds,
        cron=cron, scheduler=scheduler, heartbeat=heartbeat, builtin_tools=builtin_tools,
        tasks=tasks, teams=teams, team_workspace=team_workspace, boards=boards,
        team_archive=TeamArchive(db, teams, agents, tasks, team_workspace),
        agent_api=agent_api, board_groups=board_groups, tags=TagService(db), webhooks=webhooks, clerk=clerk,
        org=org, mc_gateways=GatewayService(db, box, org, boards), dashboard=DashboardService(db, boards),
        mc_sessions=McSessionService(db, org, boards, chat, sessions),
        templates=TemplateSync(db, org, boards, sessions),
        souls=SoulsDirectory(db, org, http, mc.souls_directory_url),
        board_agents=board_agents, onboarding=OnboardingService(db, boards, tasks, board_agents, org),
        clawtasker=clawtasker,
        skills=SkillService(db, bus, agents, catalog),
        embedded=embedded, key_source=key_source,
    )  # fmt: skip


def _limiters(live: LiveSettings) -> tuple[RateLimiter, RateLimiter, RateLimiter]:
    """The per-IP, per-credential and chat limiters of ``live.current``, re-configured in place
    when a live change alters their limits (their holders keep the same objects)."""

    def configure(old: Settings | None, new: Settings) -> None:
        rl = new.rate_limits
        if old is None or old.rate_limits != rl:
            ip.configure(rl.per_ip_rpm, rl.burst, exempt_operator=rl.exempt_operator)
            key.configure(rl.per_key_rpm, rl.burst, exempt_operator=rl.exempt_operator)
        if (
            old is None
            or old.gateway.rate_limit_rpm != new.gateway.rate_limit_rpm
            or old.rate_limits.exempt_operator != rl.exempt_operator
        ):
            chat.configure(new.gateway.rate_limit_rpm, CHAT_BURST, exempt_operator=rl.exempt_operator)

    ip, key, chat = RateLimiter(0, 1), RateLimiter(0, 1), RateLimiter(0, 1)
    configure(None, live.current)
    live.follow(configure)
    return ip, key, chat


async def close_gateway(gateway: Gateway) -> None:
    await gateway.memory.stop()
    await gateway.scheduler.stop()
    await gateway.vault.stop()
    await gateway.rounds.stop()
    await gateway.runner.stop()
    await gateway.builtin_tools.close()
    await gateway.mcp.close()
    await gateway.openai.close()
    await gateway.bus.stop()
    await gateway.http.close()
    await gateway.db.close()
    if gateway.embedded is not None:
        await gateway.embedded.stop()


def create_app(settings: Settings) -> Starlette:
    """The ClawGate ASGI app for ``settings``. Starting it (lifespan) opens the database."""
    from starlette.routing import Route

    from clawgate.http.errors import exception_handlers
    from clawgate.http.mcp_server import McpEndpoint
    from clawgate.http.middleware import EdgeMiddleware, StaticRoutes
    from clawgate.http.routes import ROUTES, build_routes, static_endpoints, static_sockets

    mcp_endpoint = McpEndpoint()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[State]:
        gateway = await build_gateway(settings)
        app.state.gateway = gateway
        log.info(
            "gateway.started", host=settings.gateway.host, port=settings.gateway.port,
            embedded_db=gateway.embedded is not None, dev_mode=gateway.auth.dev_mode,
        )  # fmt: skip
        try:
            async with mcp_endpoint.running():
                yield {"gateway": gateway}
        finally:
            await close_gateway(gateway)
            log.info("gateway.stopped")

    from clawgate.http.clawtasker import CT_BODY_LIMIT
    from clawgate.http.clawtasker import WRITE_PATHS as CT_WRITE_PATHS
    from clawgate.http.skills import UPLOAD_BODY_LIMIT, UPLOAD_PATHS
    from clawgate.http.teams import UPLOAD_PATHS as TEAM_UPLOAD_PATHS

    limit = settings.limits.max_body_bytes
    uploads = dict.fromkeys((*UPLOAD_PATHS, *TEAM_UPLOAD_PATHS), max(limit, UPLOAD_BODY_LIMIT))
    uploads.update(dict.fromkeys(CT_WRITE_PATHS, CT_BODY_LIMIT))  # ClawTasker's 160 KB
    query_token_paths = [api.path for api in ROUTES if api.query_token]  # the per-IP limit's exemption
    middleware = [
        Middleware(EdgeMiddleware, limit=limit, path_limits=uploads, query_token_paths=query_token_paths)
    ]
    if settings.gateway.allowed_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.gateway.allowed_origins,
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                allow_headers=["*"],
                expose_headers=["X-Request-Id", "Retry-After"],
                max_age=600,
            )
        )
    routes = build_routes()
    middleware.append(Middleware(StaticRoutes, table=static_endpoints(routes), sockets=static_sockets()))
    # ClawGate as an MCP server (clawgate.http.mcp_server): a plain ASGI app, past the route table.
    routes.append(Route("/mcp", mcp_endpoint, methods=["GET", "POST", "DELETE"]))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers=exception_handlers(),
        lifespan=lifespan,
    )
