-- Mission Control's active organisation of a Clerk user (issue 14): a Clerk user (its `sub`) may be
-- a user of several tenants (tenant_users rows); the tenant its requests act in is the one stored
-- here (PATCH /api/v1/organizations/me/active), so that every gateway process agrees. A row names a
-- tenant the user is a member of when written (the statement checks tenant_users); a membership
-- removed later leaves the row pointing at a tenant the user is no longer in, which authentication
-- ignores (it falls back to the default: clerk.tenant if a member, else the oldest membership).
CREATE TABLE clerk_active_tenants (
    user_id     text        PRIMARY KEY CHECK (length(user_id) BETWEEN 1 AND 255),
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX clerk_active_tenants_tenant_idx ON clerk_active_tenants (tenant_id);
