-- ClawTasker's console API (/api, issue 14 build item 3) on the shared coordination model of
-- 0017: a CT project is a team (teams.key = CT's string id), a CT agent is a ClawGate agent (its
-- roster card in agent_presence.profile), a CT task is a task (T-<number>), missions, sprints,
-- conversations (threads scope 'direct'), directives (messages, category 'directive') and
-- notifications are 0017's tables. Only what CT adds beside them is here.

-- The company document's own fields (CT's /api/org/configure, ui settings): one row per tenant.
CREATE TABLE ct_org (
    tenant_id     uuid        PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    company_name  text        NOT NULL DEFAULT 'ClawGate',
    tagline       text        NOT NULL DEFAULT '',
    ceo_name      text        NOT NULL DEFAULT 'CEO',
    ceo_role      text        NOT NULL DEFAULT 'Chief Executive',
    chief_agent   text        NOT NULL DEFAULT 'orion',
    settings      jsonb       NOT NULL DEFAULT '{}',  -- ui_settings and the other free-form keys
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- CT's write limit (30 accepted writes per 60 s per client IP, sliding window): one row per
-- accepted write, decided in PostgreSQL under a transaction-scoped advisory lock on (tenant, IP),
-- so the limit holds across processes. Writes are authenticated before they are counted (as CT
-- does), so the window is per tenant and IP; rows older than the window are deleted by the next
-- write of the same IP.
CREATE TABLE ct_write_hits (
    tenant_id  uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    ip         text        NOT NULL,
    at         timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ct_write_hits_ip_idx ON ct_write_hits (tenant_id, ip, at);

-- A mission's and a sprint's tasks (CT's task_ids lists are read from tasks.mission_id / sprint_id).
CREATE INDEX tasks_mission_idx ON tasks (tenant_id, mission_id) WHERE mission_id IS NOT NULL;
CREATE INDEX tasks_sprint_idx ON tasks (tenant_id, sprint_id) WHERE sprint_id IS NOT NULL;
