-- ClawGate foundation schema: tenancy, agents, providers, API keys, system configs, event spill.
-- Forward-only. Every row of tenant data carries tenant_id NOT NULL and every query filters by it.

CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE tenants (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text        NOT NULL,
    slug        text        NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$'),
    status      text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    settings    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- GoClaw's master tenant id, so that ids carried over from GoClaw keep meaning the same thing.
INSERT INTO tenants (id, name, slug)
VALUES ('0193a5b0-7000-7000-8000-000000000001', 'Master', 'master');

CREATE TABLE tenant_users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    role          text        NOT NULL DEFAULT 'operator'
                              CHECK (role IN ('owner', 'admin', 'operator', 'viewer')),
    display_name  text        NOT NULL DEFAULT '',
    metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, user_id)
);
CREATE INDEX tenant_users_user_idx ON tenant_users (user_id);

CREATE TABLE llm_providers (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name           text        NOT NULL CHECK (name ~ '^[a-zA-Z0-9_-]{1,100}$'),
    display_name   text        NOT NULL DEFAULT '',
    provider_type  text        NOT NULL DEFAULT 'openai_compat',
    api_base       text        NOT NULL DEFAULT '',
    api_key        text        NOT NULL DEFAULT '',   -- aes-gcm:base64(nonce||ciphertext||tag)
    enabled        boolean     NOT NULL DEFAULT true,
    settings       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name)
);

CREATE TABLE agents (
    id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id            uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_key            text        NOT NULL CHECK (agent_key ~ '^[a-zA-Z0-9_-]{1,100}$'),
    display_name         text        NOT NULL DEFAULT '',
    agent_description    text        NOT NULL DEFAULT '',
    owner_id             text        NOT NULL DEFAULT '',
    provider             text        NOT NULL DEFAULT '',
    model                text        NOT NULL DEFAULT '',
    context_window       integer     NOT NULL DEFAULT 200000 CHECK (context_window > 0),
    max_tool_iterations  integer     NOT NULL DEFAULT 20 CHECK (max_tool_iterations > 0),
    max_tokens           integer     NOT NULL DEFAULT 8192 CHECK (max_tokens > 0),
    temperature          real        NOT NULL DEFAULT 0.7,
    thinking_level       text        NOT NULL DEFAULT '',
    workspace            text        NOT NULL DEFAULT '',
    restrict_to_workspace boolean    NOT NULL DEFAULT true,
    agent_type           text        NOT NULL DEFAULT 'open' CHECK (agent_type IN ('open', 'predefined')),
    status               text        NOT NULL DEFAULT 'active'
                                     CHECK (status IN ('active', 'inactive', 'summoning', 'summon_failed')),
    is_default           boolean     NOT NULL DEFAULT false,
    emoji                text        NOT NULL DEFAULT '',
    tools_config         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    sandbox_config       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    subagents_config     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    memory_config        jsonb       NOT NULL DEFAULT '{}'::jsonb,
    compaction_config    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    context_pruning      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    other_config         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    model_fallback       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    deleted_at           timestamptz
);
CREATE UNIQUE INDEX agents_tenant_key_uidx ON agents (tenant_id, agent_key) WHERE deleted_at IS NULL;

CREATE TABLE agent_context_files (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id    uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    file_name   text        NOT NULL CHECK (file_name ~ '^[A-Za-z0-9_.-]{1,128}$'),
    content     text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, file_name)
);
CREATE INDEX agent_context_files_tenant_idx ON agent_context_files (tenant_id);

-- API keys: only the SHA-256 of the raw key is kept; `prefix` (8 hex) is shown and indexed.
-- is_system: a key made by an owner that may act in any tenant (GoClaw's tenant_id NULL keys);
-- tenant_id is then the tenant it was created in (master).
CREATE TABLE api_keys (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    is_system     boolean     NOT NULL DEFAULT false,
    name          text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    prefix        text        NOT NULL,
    key_hash      text        NOT NULL UNIQUE,
    scopes        text[]      NOT NULL DEFAULT '{}',
    owner_id      text,
    created_by    text        NOT NULL DEFAULT '',
    expires_at    timestamptz,
    last_used_at  timestamptz,
    revoked       boolean     NOT NULL DEFAULT false,
    revoked_at    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_prefix_idx ON api_keys (prefix) WHERE NOT revoked;
CREATE INDEX api_keys_tenant_idx ON api_keys (tenant_id);

CREATE TABLE system_configs (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    key         text        NOT NULL CHECK (key ~ '^[a-zA-Z0-9_.-]{1,128}$'),
    value       text        NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

-- Event payloads too large for NOTIFY (8000 bytes) are spilled here; NOTIFY carries the id.
CREATE TABLE bus_spill (
    id          bigserial   PRIMARY KEY,
    tenant_id   uuid        NOT NULL,
    body        bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
