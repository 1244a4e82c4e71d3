"""The long-lived objects of one running gateway, built by the lifespan in ``clawgate.app``."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import aiohttp
import msgspec
from msgspec import Struct

from clawgate.bus import EventBus
from clawgate.config import Settings
from clawgate.crypto import SecretBox
from clawgate.embedded_pg import EmbeddedPostgres
from clawgate.live import LiveSettings
from clawgate.principal import Principal
from clawgate.ratelimit import RateLimiter
from clawgate.runtime.llm import LLMResolver
from clawgate.runtime.runs import RunManager
from clawgate.runtime.scheduler import Scheduler
from clawgate.services.agent_api import AgentApiService
from clawgate.services.agents import AgentService
from clawgate.services.api_keys import ApiKeyService
from clawgate.services.auth import AuthService
from clawgate.services.background import BackgroundRounds
from clawgate.services.board_agents import BoardAgentService
from clawgate.services.board_groups import BoardGroupService
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
from clawgate.services.mcp import McpService
from clawgate.services.memory import MemoryService
from clawgate.services.onboarding import OnboardingService
from clawgate.services.openai_compat import OpenAIService
from clawgate.services.org import OrgService
from clawgate.services.providers import ProviderService
from clawgate.services.sessions import SessionService
from clawgate.services.skills import SkillService
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
from clawgate.store import Database

if TYPE_CHECKING:
    from clawgate.rpc.endpoint import ConnectionHub

__all__ = ["HEALTH_CLIENTS_LISTED", "ClientInfo", "ClientRegistry", "Gateway"]

HEALTH_CLIENTS_LISTED = 100
"""``health`` lists at most this many clients (the longest connected first); it always counts all."""


class ClientInfo(Struct, kw_only=True):
    """A connected WebSocket client as ``health`` lists it (GoClaw's shape; its tenant is kept
    beside it by the registry, not sent)."""

    id: str
    remoteAddr: str
    userId: str
    role: str
    connectedAt: int


class ClientRegistry:
    """Connected WebSocket clients, with their JSON lists cached per audience until one connects or
    leaves (``health`` is called often; the list changes rarely)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[ClientInfo, str]] = {}  # by connection id, with the tenant id
        self._views: dict[tuple[str, ...], tuple[msgspec.Raw, int]] = {}

    def add(self, info: ClientInfo, tenant_id: str) -> None:
        self._items[info.id] = (info, tenant_id)
        self._views.clear()

    def remove(self, conn_id: str) -> None:
        if self._items.pop(conn_id, None) is not None:
            self._views.clear()

    def count_in(self, tenant_id: str) -> int:
        """How many clients of the tenant are connected to this process."""
        return sum(1 for _, tenant in self._items.values() if tenant == tenant_id)

    def __len__(self) -> int:
        return len(self._items)

    def view(self, who: Principal) -> tuple[msgspec.Raw, int]:
        """The clients ``who`` may see (owners all, admins their tenant, others themselves): the
        first ``HEALTH_CLIENTS_LISTED`` of them encoded, and how many there are."""
        tenant = str(who.tenant_id)
        if who.is_owner:
            key: tuple[str, ...] = ("all",)
        elif who.sees_all:
            key = ("tenant", tenant)
        else:
            key = ("user", tenant, who.user_id)
        cached = self._views.get(key)
        if cached is None:
            items = [
                c for c, in_tenant in self._items.values()
                if key[0] == "all" or (in_tenant == tenant and (key[0] == "tenant" or c.userId == who.user_id))
            ]  # fmt: skip
            listed = msgspec.Raw(msgspec.json.encode(items[:HEALTH_CLIENTS_LISTED]))
            cached = self._views[key] = (listed, len(items))
        return cached


@dataclass(eq=False, kw_only=True)
class Gateway:
    """Everything a transport needs: settings, the store, the bus and the services.

    Built once by ``clawgate.app`` and never changed afterwards: a live configuration change swaps
    the settings inside ``live`` (``ConfigService``), and the services follow it there.
    """

    live: LiveSettings
    config: ConfigService
    db: Database
    bus: EventBus
    box: SecretBox
    http: aiohttp.ClientSession
    auth: AuthService
    agents: AgentService
    api_keys: ApiKeyService
    tenants: TenantService
    providers: ProviderService
    system_configs: SystemConfigService
    llm: LLMResolver
    runner: RunManager
    chat: ChatService
    sessions: SessionService
    traces: TraceService
    openai: OpenAIService
    ip_limiter: RateLimiter
    key_limiter: RateLimiter
    chat_limiter: RateLimiter
    embeddings: EmbeddingService
    memory: MemoryService
    cron: CronService
    scheduler: Scheduler
    heartbeat: HeartbeatService
    vault: VaultService
    kg: KnowledgeGraphService
    episodic: EpisodicService
    builtin_tools: BuiltinToolService  # per-tenant enable/settings of the built-in tools, /v1/tools/invoke
    skills: SkillService
    mcp: McpService  # MCP server records, grants, connections; the runs' MCP tools
    tasks: TaskService  # the shared coordination model's tasks, edges, approvals and event log
    teams: TeamService  # GoClaw's agent teams on it
    team_workspace: TeamWorkspace  # the files of a team (teams.workspace.*) and its tasks' attachments
    team_archive: TeamArchive  # a team's export, export preview and import (tar.gz)
    boards: BoardService  # Mission Control's boards, tasks and approvals on it
    agent_api: AgentApiService  # Mission Control's agent API (X-Agent-Token) on the same services
    board_groups: BoardGroupService  # Mission Control's board groups, snapshots, group heartbeat and memory
    tags: TagService  # Mission Control's tags and task custom field definitions
    webhooks: WebhookService  # Mission Control's board webhooks and their public ingest
    org: OrgService  # Mission Control's users, organisation, members and invites (the tenant)
    mc_gateways: GatewayService  # Mission Control's gateway records (this ClawGate's own first)
    dashboard: DashboardService  # Mission Control's dashboard metrics and activity feeds
    board_agents: BoardAgentService  # MC agents made, changed and removed; the gateway main's messages
    onboarding: OnboardingService  # MC board onboarding with the gateway main
    clawtasker: ClawTaskerService  # ClawTasker's console (/api) on it
    rounds: BackgroundRounds  # embeds graph entities and episodes left pending, summarises idle sessions
    embedded: EmbeddedPostgres | None = None
    clerk: ClerkAuth | None = None  # Mission Control's users with Clerk JWTs (mission_control.auth_mode)
    key_source: str = ""
    started_at: float = field(default_factory=time.time)
    clients: ClientRegistry = field(default_factory=ClientRegistry)
    shutting_down: asyncio.Event = field(default_factory=asyncio.Event)
    # Connections register a drain coroutine here; shutdown awaits them all.
    drains: set[asyncio.Task[None]] = field(default_factory=set)
    # The WebSocket connections' ticks and shutdown (``clawgate.rpc.endpoint``), made by the first one.
    ws_hub: ConnectionHub | None = None

    @property
    def settings(self) -> Settings:
        """The running configuration (``live.current``): read it at use time, never keep it."""
        return self.live.current

    @property
    def uptime_ms(self) -> int:
        return int((time.time() - self.started_at) * 1000)
