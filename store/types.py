"""Row structs returned by the store. Field names are the column names."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from msgspec import Struct

__all__ = [
    "AgentFields",
    "AgentFile",
    "AgentFileInfo",
    "AgentRow",
    "ApiKeyRow",
    "ApiKeySecretRow",
    "ChunkHit",
    "ChunkText",
    "ConfigEntry",
    "MemoryChunk",
    "MemoryDocument",
    "MemoryDocumentInfo",
    "ProviderRow",
    "SkillAgentGrant",
    "SkillCatalogRow",
    "SkillFileInfo",
    "SkillForAgent",
    "SkillRow",
    "SkillUserGrant",
    "SkillVersion",
    "TenantRow",
    "TenantUserRow",
    "VaultBrief",
    "VaultDocument",
    "VaultDocumentBase",
    "VaultDocumentInfo",
    "VaultEdge",
    "VaultEnrichment",
    "VaultHit",
    "VaultLink",
    "VaultLinkView",
    "VaultPending",
    "VaultTarget",
    "VaultVersion",
]

JSON = dict[str, Any]


class TenantRow(Struct, kw_only=True):
    id: UUID
    name: str
    slug: str
    status: str
    settings: JSON
    created_at: datetime
    updated_at: datetime


class TenantUserRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    user_id: str
    role: str
    display_name: str
    metadata: JSON
    created_at: datetime


class AgentFields(Struct, kw_only=True):
    """The writable columns of ``agents``, in the order the named queries bind them."""

    agent_key: str
    display_name: str = ""
    agent_description: str = ""
    owner_id: str = ""
    provider: str = ""
    model: str = ""
    context_window: int = 200000
    max_tool_iterations: int = 20
    max_tokens: int = 8192
    temperature: float = 0.7
    thinking_level: str = ""
    workspace: str = ""
    restrict_to_workspace: bool = True
    agent_type: str = "open"
    status: str = "active"
    is_default: bool = False
    emoji: str = ""
    tools_config: JSON = msgspec.field(default_factory=dict)
    sandbox_config: JSON = msgspec.field(default_factory=dict)
    subagents_config: JSON = msgspec.field(default_factory=dict)
    memory_config: JSON = msgspec.field(default_factory=dict)
    compaction_config: JSON = msgspec.field(default_factory=dict)
    context_pruning: JSON = msgspec.field(default_factory=dict)
    other_config: JSON = msgspec.field(default_factory=dict)
    model_fallback: JSON = msgspec.field(default_factory=dict)
    goclaw_fields: JSON = msgspec.field(default_factory=dict)
    """GoClaw's agent fields stored without a behaviour here (``frontmatter``, ``self_evolve`` ...), the
    ones that are set."""


class AgentRow(AgentFields, kw_only=True):
    id: UUID
    tenant_id: UUID
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None


class AgentFileInfo(Struct, kw_only=True):
    file_name: str
    size: int
    updated_at: datetime


class AgentFile(Struct, kw_only=True):
    file_name: str
    content: str
    updated_at: datetime


class ProviderRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    name: str
    display_name: str
    provider_type: str
    api_base: str
    api_key: str  # encrypted (aes-gcm:...) or empty
    enabled: bool
    settings: JSON
    created_at: datetime
    updated_at: datetime


class ApiKeyRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    is_system: bool
    name: str
    prefix: str
    scopes: list[str]
    owner_id: str | None
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
    created_at: datetime
    rate_limit_rpm: int | None = None  # the key's own chat limit; None: gateway.rate_limit_rpm


class ApiKeySecretRow(ApiKeyRow, kw_only=True):
    key_hash: str


class ConfigEntry(Struct, kw_only=True):
    key: str
    value: str
    updated_at: datetime


class SessionRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    session_key: str
    agent_id: UUID
    user_id: str
    channel: str
    label: str
    model: str
    provider: str
    summary: str
    context_start: int
    message_count: int
    input_tokens: int
    output_tokens: int
    compaction_count: int
    metadata: JSON
    created_at: datetime
    updated_at: datetime


class SessionListRow(SessionRow, kw_only=True):
    agent_key: str
    agent_name: str
    context_window: int


class MessageRow(Struct, kw_only=True):
    idx: int
    role: str
    content: str
    thinking: str
    tool_calls: list[Any]
    tool_call_id: str
    is_error: bool
    run_id: UUID | None
    metadata: JSON
    created_at: datetime


class RunRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    session_id: UUID
    session_key: str
    agent_id: UUID
    user_id: str
    process_id: str
    status: str
    idempotency_key: str | None
    result: Any
    error: str
    input_tokens: int
    output_tokens: int
    started_at: datetime
    heartbeat_at: datetime
    ended_at: datetime | None


class TraceRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    run_id: UUID | None
    agent_id: UUID | None
    user_id: str
    session_key: str
    name: str
    channel: str
    status: str
    error: str
    input_preview: str
    output_preview: str
    total_input_tokens: int
    total_output_tokens: int
    span_count: int
    llm_call_count: int
    tool_call_count: int
    start_time: datetime
    end_time: datetime | None
    duration_ms: int | None
    # GoClaw's trace shape (its dashboard reads both): a trace is created when its run starts, and
    # ClawGate keeps no price list, so it knows no cost (0).
    created_at: datetime
    total_cost: float = 0.0


class SpanRow(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    trace_id: UUID
    parent_span_id: UUID | None
    span_type: str
    name: str
    status: str
    model: str
    provider: str
    tool_name: str
    tool_call_id: str
    input_tokens: int
    output_tokens: int
    finish_reason: str
    input_preview: str
    output_preview: str
    error: str
    start_time: datetime
    end_time: datetime
    duration_ms: int
    created_at: datetime  # GoClaw's span shape: when the span started
    total_cost: float = 0.0  # no price list: no cost


class UsageRow(Struct, kw_only=True):
    agent_key: str
    session_key: str
    model: str
    provider: str
    input_tokens: int
    output_tokens: int
    created_at: datetime


class UsageSummaryRow(Struct, kw_only=True):
    agent_key: str
    input_tokens: int
    output_tokens: int
    sessions: int
    records: int


class UsageBucket(Struct, kw_only=True):
    """Traces of one time bucket (``bucket_time``), or of the whole range (``bucket_time`` None)."""

    bucket_time: datetime | None
    request_count: int
    error_count: int
    unique_users: int
    input_tokens: int
    output_tokens: int
    llm_call_count: int
    tool_call_count: int
    avg_duration_ms: int


class UsageShare(Struct, kw_only=True):
    """Traces of one channel, or LLM calls of one provider or model (``key``)."""

    key: str
    request_count: int
    llm_call_count: int
    input_tokens: int
    output_tokens: int
    error_count: int
    avg_duration_ms: int


class FailedRun(Struct, kw_only=True):
    id: UUID
    tenant_id: UUID
    session_key: str
    agent_key: str  # what every event of a run calls agentId (the id if the agent row is gone)
    user_id: str


# -- memory ---------------------------------------------------------------------------------------


class VaultDocumentBase(Struct, kw_only=True):
    """A vault document's fields without its content. ``agent_id`` None: the tenant's shared vault
    (``scope`` ``shared``); ``user_id`` None: shared by the agent's users. ``embedded``: it has an
    embedding (by ``embedder``); until then search finds it by its words only."""

    id: UUID
    agent_id: UUID | None
    agent_key: str | None
    user_id: str | None
    scope: str  # personal | team | shared | custom
    custom_scope: str | None
    chat_id: str | None
    path: str
    title: str
    doc_type: str
    content_hash: str
    summary: str
    metadata: JSON
    version: int
    embedder: str
    embedded: bool
    created_by: str
    created_at: datetime
    updated_at: datetime


class VaultDocument(VaultDocumentBase, kw_only=True):
    """A vault document with its content."""

    tenant_id: UUID
    content: str
    index_error: str


class VaultDocumentInfo(VaultDocumentBase, kw_only=True):
    """A vault document as lists show it: its size instead of its content."""

    size: int


class VaultVersion(Struct, kw_only=True):
    version: int
    title: str
    content_hash: str
    size: int
    changed_by: str
    created_at: datetime


class VaultLink(Struct, kw_only=True):
    """A link between two documents of one tenant; ``extracted``: drawn from a ``[[wiki link]]``."""

    id: UUID
    from_doc_id: UUID
    to_doc_id: UUID
    link_type: str
    context: str
    extracted: bool
    created_at: datetime


class VaultLinkView(VaultLink, kw_only=True):
    """A link with the path and title of both ends."""

    from_path: str
    from_title: str
    to_path: str
    to_title: str


class VaultEdge(Struct, kw_only=True):
    id: UUID
    from_doc_id: UUID
    to_doc_id: UUID
    link_type: str


class VaultHit(Struct, kw_only=True):
    """A document found by one side of a vault search, with that side's raw score, and whether it
    has an embedding by the search's embedder."""

    id: UUID
    score: float
    embedded: bool


class VaultBrief(Struct, kw_only=True):
    """A document as a search hit shows it."""

    id: UUID
    agent_id: UUID | None
    user_id: str | None
    scope: str
    path: str
    title: str
    doc_type: str
    snippet: str


class VaultPending(Struct, kw_only=True):
    """A document to embed (its text as read at ``updated_at``)."""

    id: UUID
    tenant_id: UUID
    path: str
    title: str
    summary: str
    content: str
    updated_at: datetime


class VaultTarget(Struct, kw_only=True):
    """A candidate target of a ``[[wiki link]]``."""

    id: UUID
    agent_id: UUID | None
    user_id: str | None
    path: str
    path_basename: str
    title: str


class VaultEnrichment(Struct, kw_only=True):
    stopped: bool
    total: int
    embedded: int
    failed: int


class MemoryDocument(Struct, kw_only=True):
    """A memory document; ``user_id`` None: shared by the agent's users."""

    id: UUID
    tenant_id: UUID
    agent_id: UUID
    user_id: str | None
    path: str
    content: str
    hash: str
    index_status: str  # pending | indexed
    embedder: str
    index_error: str
    created_at: datetime
    updated_at: datetime


class MemoryDocumentInfo(Struct, kw_only=True):
    """A memory document as lists show it: no content, its size and chunk count."""

    id: UUID
    agent_id: UUID
    agent_key: str
    user_id: str | None
    path: str
    hash: str
    index_status: str
    embedder: str
    size: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime


class MemoryChunk(Struct, kw_only=True):
    id: UUID
    document_id: UUID
    user_id: str | None
    path: str
    start_line: int
    end_line: int
    hash: str
    text: str
    embedder: str
    embedded: bool


class ChunkText(Struct, kw_only=True):
    """A chunk to embed."""

    id: UUID
    hash: str
    text: str


class ChunkHit(Struct, kw_only=True):
    """A chunk found by one side of a search, with that side's raw score."""

    path: str
    start_line: int
    end_line: int
    text: str
    user_id: str | None
    score: float


class SkillRow(Struct, kw_only=True):
    """A skill's metadata (its current version's); ``tenant_enabled``: the tenant's override, if any."""

    id: UUID
    tenant_id: UUID
    slug: str
    name: str
    description: str
    owner_id: str
    visibility: str
    tags: list[str]
    version: int
    enabled: bool
    tenant_enabled: bool | None
    status: str
    frontmatter: JSON
    file_hash: str
    file_size: int
    created_at: datetime
    updated_at: datetime


class SkillVersion(Struct, kw_only=True):
    version: int
    name: str
    description: str
    file_hash: str  # SHA-256 of the version's SKILL.md
    file_size: int  # of the uploaded zip
    file_count: int
    created_by: str
    created_at: datetime


class SkillFileInfo(Struct, kw_only=True):
    path: str
    size: int


class SkillAgentGrant(Struct, kw_only=True):
    agent_id: UUID
    agent_key: str
    pinned_version: int | None
    can_manage: bool
    granted_by: str
    created_at: datetime


class SkillUserGrant(Struct, kw_only=True):
    user_id: str
    granted_by: str
    created_at: datetime


class SkillForAgent(Struct, kw_only=True):
    """A skill of the tenant as an agent's list shows it: whether the agent holds a grant."""

    id: UUID
    slug: str
    name: str
    description: str
    version: int
    visibility: str
    tags: list[str]
    enabled: bool
    granted: bool
    pinned_version: int | None


class SkillCatalogRow(Struct, kw_only=True):
    """An enabled skill granted to one agent (``agent_id``) or one user (``user_id``); ``tenant_id``:
    the skill's (the master tenant's for a shared one)."""

    id: UUID
    tenant_id: UUID
    slug: str
    name: str
    description: str
    version: int
    agent_id: UUID | None
    user_id: str | None
