-- Cron jobs, their run records, and agent heartbeats (issue 12).
--
-- A job's `next_run_at` is the next due time nobody has claimed yet. A scheduler claims due jobs
-- with `FOR UPDATE SKIP LOCKED`, writes one `cron_runs` row per due time it handles and moves
-- `next_run_at` past them in the same transaction. The partial unique index on
-- (job_id, scheduled_at) of scheduled records is the backstop: a due time can never be recorded
-- twice, whichever process claims it. Records outlive their job (a deleted `at` job keeps its run),
-- so `job_id` is not a foreign key.

CREATE TABLE cron_jobs (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id          uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id           uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id            text        NOT NULL DEFAULT '',
    name               text        NOT NULL CHECK (name ~ '^[a-z0-9]([a-z0-9-]*[a-z0-9])?$' AND length(name) <= 100),
    enabled            boolean     NOT NULL DEFAULT true,
    schedule_kind      text        NOT NULL CHECK (schedule_kind IN ('at', 'every', 'cron')),
    at_time            timestamptz,
    every_ms           bigint      CHECK (every_ms IS NULL OR every_ms > 0),
    -- Due times of an `every` job are anchor + k * every_ms: anchored on schedule, never on a run.
    anchor_at          timestamptz,
    cron_expr          text        NOT NULL DEFAULT '',
    timezone           text        NOT NULL DEFAULT '',
    message            text        NOT NULL,
    deliver            boolean     NOT NULL DEFAULT false,
    deliver_channel    text        NOT NULL DEFAULT '',
    deliver_to         text        NOT NULL DEFAULT '',
    wake_heartbeat     boolean     NOT NULL DEFAULT false,
    stateless          boolean     NOT NULL DEFAULT true,
    delete_after_run   boolean     NOT NULL DEFAULT false,
    catch_up           text        NOT NULL DEFAULT 'run_once' CHECK (catch_up IN ('skip', 'run_once')),
    catch_up_grace_ms  bigint      NOT NULL DEFAULT 3600000 CHECK (catch_up_grace_ms >= 0),
    timeout_ms         bigint      NOT NULL DEFAULT 600000 CHECK (timeout_ms > 0),
    max_retries        integer     NOT NULL DEFAULT 3 CHECK (max_retries BETWEEN 0 AND 10),
    next_run_at        timestamptz,
    last_run_at        timestamptz,
    last_status        text        NOT NULL DEFAULT '',
    last_error         text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, agent_id, name)
);
CREATE INDEX cron_jobs_due_idx ON cron_jobs (next_run_at) WHERE enabled AND next_run_at IS NOT NULL;
CREATE INDEX cron_jobs_owner_idx ON cron_jobs (tenant_id, user_id);

CREATE TABLE cron_runs (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    job_id         uuid        NOT NULL,
    job_name       text        NOT NULL,
    agent_id       uuid        NOT NULL,
    user_id        text        NOT NULL DEFAULT '',
    -- schedule: a due time; manual: cron.run
    trigger        text        NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'manual')),
    scheduled_at   timestamptz NOT NULL,
    started_at     timestamptz,
    ended_at       timestamptz,
    status         text        NOT NULL
                               CHECK (status IN ('running', 'ok', 'error', 'missed', 'skipped', 'interrupted')),
    attempts       integer     NOT NULL DEFAULT 0,
    summary        text        NOT NULL DEFAULT '',
    error          text        NOT NULL DEFAULT '',
    duration_ms    bigint,
    input_tokens   bigint      NOT NULL DEFAULT 0,
    output_tokens  bigint      NOT NULL DEFAULT 0,
    run_id         uuid,
    session_key    text        NOT NULL DEFAULT '',
    process_id     text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX cron_runs_due_uidx ON cron_runs (job_id, scheduled_at) WHERE trigger = 'schedule';
CREATE INDEX cron_runs_job_idx ON cron_runs (tenant_id, job_id, scheduled_at DESC);
CREATE INDEX cron_runs_running_idx ON cron_runs (process_id) WHERE status = 'running';

-- One heartbeat per agent (GoClaw's agent_heartbeats): a periodic wake-up with the agent's
-- HEARTBEAT.md checklist, claimed by the same scheduler as cron jobs.
CREATE TABLE agent_heartbeats (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id           uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id            uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    enabled             boolean     NOT NULL DEFAULT false,
    interval_sec        integer     NOT NULL DEFAULT 1800 CHECK (interval_sec >= 300),
    prompt              text        NOT NULL DEFAULT '',
    provider_name       text        NOT NULL DEFAULT '',
    model               text        NOT NULL DEFAULT '',
    isolated_session    boolean     NOT NULL DEFAULT true,
    light_context       boolean     NOT NULL DEFAULT false,
    ack_max_chars       integer     NOT NULL DEFAULT 300 CHECK (ack_max_chars >= 0),
    max_retries         integer     NOT NULL DEFAULT 2 CHECK (max_retries BETWEEN 0 AND 10),
    active_hours_start  text        NOT NULL DEFAULT '',
    active_hours_end    text        NOT NULL DEFAULT '',
    timezone            text        NOT NULL DEFAULT '',
    channel             text        NOT NULL DEFAULT '',
    chat_id             text        NOT NULL DEFAULT '',
    next_run_at         timestamptz,
    last_run_at         timestamptz,
    last_status         text        NOT NULL DEFAULT '',
    last_error          text        NOT NULL DEFAULT '',
    run_count           integer     NOT NULL DEFAULT 0,
    suppress_count      integer     NOT NULL DEFAULT 0,
    metadata            jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, agent_id)
);
CREATE INDEX agent_heartbeats_due_idx ON agent_heartbeats (next_run_at) WHERE enabled AND next_run_at IS NOT NULL;

CREATE TABLE heartbeat_runs (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    heartbeat_id   uuid        NOT NULL,
    agent_id       uuid        NOT NULL,
    trigger        text        NOT NULL DEFAULT 'schedule' CHECK (trigger IN ('schedule', 'manual', 'cron')),
    scheduled_at   timestamptz NOT NULL,
    started_at     timestamptz,
    ended_at       timestamptz,
    status         text        NOT NULL
                               CHECK (status IN ('running', 'ok', 'suppressed', 'error', 'skipped', 'interrupted')),
    skip_reason    text        NOT NULL DEFAULT '',
    attempts       integer     NOT NULL DEFAULT 0,
    summary        text        NOT NULL DEFAULT '',
    error          text        NOT NULL DEFAULT '',
    duration_ms    bigint,
    input_tokens   bigint      NOT NULL DEFAULT 0,
    output_tokens  bigint      NOT NULL DEFAULT 0,
    run_id         uuid,
    session_key    text        NOT NULL DEFAULT '',
    process_id     text        NOT NULL DEFAULT '',
    metadata       jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX heartbeat_runs_due_uidx ON heartbeat_runs (heartbeat_id, scheduled_at) WHERE trigger = 'schedule';
CREATE INDEX heartbeat_runs_agent_idx ON heartbeat_runs (tenant_id, agent_id, scheduled_at DESC);
CREATE INDEX heartbeat_runs_running_idx ON heartbeat_runs (process_id) WHERE status = 'running';
