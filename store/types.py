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
    "ConfigEntry",
    "ProviderRow",
    "TenantRow",
    "TenantUserRow",
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


class ApiKeySecretRow(ApiKeyRow, kw_only=True):
    key_hash: str


class ConfigEntry(Struct, kw_only=True):
    key: str
    value: str
    updated_at: datetime
