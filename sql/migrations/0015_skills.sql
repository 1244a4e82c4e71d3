-- Skills (issue 13): GoClaw's skills / skill_agent_grants / skill_user_grants / skill_tenant_configs,
-- scoped by tenant. A skill is a folder with a SKILL.md, uploaded as a zip: each upload of a slug is
-- a new version (skill_versions), and every file of a version is kept here as bytea (skill_files):
-- skills are small (a 20 MB zip at most, 64 MB unpacked), and the database is the one store every
-- gateway process shares, so no process needs a shared disk to read another's upload.
-- The master tenant's skills of visibility 'public' are shared with every tenant (GoClaw's system
-- skills): each tenant may grant them to its own agents and users and switch them off for itself
-- (skill_tenant_configs); only the master tenant changes them. So grants and overrides carry the
-- tenant that made them (the grantee's), and reference the skill by id alone.
-- Grants reference (tenant_id, agent id): a skill cannot be granted to another tenant's agent.

CREATE UNIQUE INDEX IF NOT EXISTS agents_tenant_id_uidx ON agents (tenant_id, id);

CREATE TABLE skills (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    slug         text        NOT NULL CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$'),
    name         text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    description  text        NOT NULL DEFAULT '',
    owner_id     text        NOT NULL DEFAULT '',
    visibility   text        NOT NULL DEFAULT 'internal' CHECK (visibility IN ('private', 'internal', 'public')),
    tags         text[]      NOT NULL DEFAULT '{}',
    version      integer     NOT NULL DEFAULT 1,
    enabled      boolean     NOT NULL DEFAULT true,
    status       text        NOT NULL DEFAULT 'active',
    frontmatter  jsonb       NOT NULL DEFAULT '{}',
    file_hash    text        NOT NULL DEFAULT '',
    file_size    bigint      NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, slug),
    UNIQUE (tenant_id, id)
);

CREATE TABLE skill_versions (
    tenant_id    uuid        NOT NULL,
    skill_id     uuid        NOT NULL,
    version      integer     NOT NULL CHECK (version >= 1),
    name         text        NOT NULL,
    description  text        NOT NULL DEFAULT '',
    frontmatter  jsonb       NOT NULL DEFAULT '{}',
    file_hash    text        NOT NULL,
    file_size    bigint      NOT NULL DEFAULT 0,
    file_count   integer     NOT NULL DEFAULT 0,
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (skill_id, version),
    UNIQUE (tenant_id, skill_id, version),
    FOREIGN KEY (tenant_id, skill_id) REFERENCES skills (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE skill_files (
    tenant_id    uuid        NOT NULL,
    skill_id     uuid        NOT NULL,
    version      integer     NOT NULL,
    path         text        NOT NULL CHECK (length(path) BETWEEN 1 AND 512),
    content      bytea       NOT NULL,
    PRIMARY KEY (skill_id, version, path),
    FOREIGN KEY (tenant_id, skill_id, version) REFERENCES skill_versions (tenant_id, skill_id, version)
        ON DELETE CASCADE
);

CREATE TABLE skill_agent_grants (
    tenant_id      uuid        NOT NULL,
    skill_id       uuid        NOT NULL,
    agent_id       uuid        NOT NULL,
    pinned_version integer,
    can_manage     boolean     NOT NULL DEFAULT false,
    granted_by     text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (skill_id, agent_id),
    FOREIGN KEY (skill_id) REFERENCES skills (id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX skill_agent_grants_agent_idx ON skill_agent_grants (tenant_id, agent_id);

CREATE TABLE skill_user_grants (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    skill_id     uuid        NOT NULL REFERENCES skills (id) ON DELETE CASCADE,
    user_id      text        NOT NULL CHECK (length(user_id) BETWEEN 1 AND 255),
    granted_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, skill_id, user_id)
);

-- A tenant's override of a skill's enabled flag (GoClaw's per-tenant config); none: the skill's own.
CREATE TABLE skill_tenant_configs (
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    skill_id     uuid        NOT NULL REFERENCES skills (id) ON DELETE CASCADE,
    enabled      boolean     NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, skill_id)
);
