-- MCP servers (issue 13): GoClaw's mcp_servers, mcp_agent_grants, mcp_user_grants and
-- mcp_user_credentials, scoped by tenant. api_key and the per-user credentials are SecretBox text
-- (aes-gcm:...), never returned. agent_id binds a server to one agent (it then counts as granted).

CREATE TABLE mcp_servers (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    transport    text        NOT NULL CHECK (transport IN ('stdio', 'sse', 'streamable-http')),
    command      text        NOT NULL DEFAULT '',
    args         jsonb       NOT NULL DEFAULT '[]',
    url          text        NOT NULL DEFAULT '',
    headers      jsonb       NOT NULL DEFAULT '{}',
    env          jsonb       NOT NULL DEFAULT '{}',
    api_key      text        NOT NULL DEFAULT '',
    tool_prefix  text        NOT NULL DEFAULT '',
    timeout_sec  integer     NOT NULL DEFAULT 60 CHECK (timeout_sec BETWEEN 1 AND 600),
    agent_id     uuid        REFERENCES agents (id) ON DELETE SET NULL,
    enabled      boolean     NOT NULL DEFAULT true,
    config       jsonb       NOT NULL DEFAULT '{}',
    settings     jsonb       NOT NULL DEFAULT '{}',
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, name),
    UNIQUE (tenant_id, id)
);

CREATE TABLE mcp_agent_grants (
    tenant_id   uuid        NOT NULL,
    server_id   uuid        NOT NULL,
    agent_id    uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    granted_by  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, agent_id),
    FOREIGN KEY (tenant_id, server_id) REFERENCES mcp_servers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX mcp_agent_grants_agent ON mcp_agent_grants (tenant_id, agent_id);

CREATE TABLE mcp_user_grants (
    tenant_id   uuid        NOT NULL,
    server_id   uuid        NOT NULL,
    user_id     text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    granted_by  text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, user_id),
    FOREIGN KEY (tenant_id, server_id) REFERENCES mcp_servers (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE mcp_user_credentials (
    tenant_id   uuid        NOT NULL,
    server_id   uuid        NOT NULL,
    user_id     text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    api_key     text        NOT NULL DEFAULT '',
    headers     text        NOT NULL DEFAULT '',
    env         text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, user_id),
    FOREIGN KEY (tenant_id, server_id) REFERENCES mcp_servers (tenant_id, id) ON DELETE CASCADE
);

-- Access requests: anyone of the tenant asks for a server for an agent or a user; an admin
-- approves (the grant is made in the same transaction) or rejects.
CREATE TABLE mcp_access_requests (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL,
    server_id     uuid        NOT NULL,
    agent_id      uuid        REFERENCES agents (id) ON DELETE CASCADE,
    user_id       text        CHECK (user_id IS NULL OR length(user_id) BETWEEN 1 AND 255),
    requested_by  text        NOT NULL DEFAULT '',
    reason        text        NOT NULL DEFAULT '',
    status        text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'rejected')),
    reviewed_by   text        NOT NULL DEFAULT '',
    review_note   text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    reviewed_at   timestamptz,
    CHECK ((agent_id IS NULL) <> (user_id IS NULL)),
    FOREIGN KEY (tenant_id, server_id) REFERENCES mcp_servers (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX mcp_access_requests_pending ON mcp_access_requests (tenant_id, created_at) WHERE status = 'pending';
