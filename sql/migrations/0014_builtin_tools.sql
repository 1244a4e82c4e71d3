-- Built-in tools per tenant (issue 13, item 1): GoClaw's builtin_tools enabled/settings and
-- builtin_tool_tenant_configs in one row per tenant and tool. No row: the tool's defaults (every
-- tool on but exec). `enabled` NULL keeps the default while `settings` holds the tenant's values.

CREATE TABLE builtin_tool_configs (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text        NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    enabled     boolean,
    settings    jsonb       NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);
