-- Sessions, their messages, runs (owned by the gateway, not the socket), traces and usage.

CREATE TABLE sessions (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_key       text        NOT NULL CHECK (length(session_key) BETWEEN 1 AND 512),
    agent_id          uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id           text        NOT NULL DEFAULT '',
    channel           text        NOT NULL DEFAULT '',
    label             text        NOT NULL DEFAULT '',
    model             text        NOT NULL DEFAULT '',
    provider          text        NOT NULL DEFAULT '',
    summary           text        NOT NULL DEFAULT '',
    -- Messages before this index are covered by `summary` and not sent to the model.
    context_start     integer     NOT NULL DEFAULT 0,
    message_count     integer     NOT NULL DEFAULT 0,
    input_tokens      bigint      NOT NULL DEFAULT 0,
    output_tokens     bigint      NOT NULL DEFAULT 0,
    compaction_count  integer     NOT NULL DEFAULT 0,
    metadata          jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, session_key)
);
CREATE INDEX sessions_tenant_user_idx ON sessions (tenant_id, user_id, updated_at DESC);
CREATE INDEX sessions_tenant_agent_idx ON sessions (tenant_id, agent_id, updated_at DESC);

CREATE TABLE session_messages (
    id            bigserial   PRIMARY KEY,
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_id    uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    idx           integer     NOT NULL,
    role          text        NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
    content       text        NOT NULL DEFAULT '',
    thinking      text        NOT NULL DEFAULT '',
    tool_calls    jsonb       NOT NULL DEFAULT '[]'::jsonb,
    tool_call_id  text        NOT NULL DEFAULT '',
    is_error      boolean     NOT NULL DEFAULT false,
    run_id        uuid,
    metadata      jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (session_id, idx)
);
CREATE INDEX session_messages_tenant_idx ON session_messages (tenant_id);

CREATE TABLE runs (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id        uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    session_id       uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    session_key      text        NOT NULL,
    agent_id         uuid        NOT NULL,
    user_id          text        NOT NULL DEFAULT '',
    process_id       text        NOT NULL,
    status           text        NOT NULL DEFAULT 'running'
                                 CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
    idempotency_key  text        CHECK (length(idempotency_key) <= 255),
    result           jsonb,
    error            text        NOT NULL DEFAULT '',
    input_tokens     bigint      NOT NULL DEFAULT 0,
    output_tokens    bigint      NOT NULL DEFAULT 0,
    started_at       timestamptz NOT NULL DEFAULT now(),
    heartbeat_at     timestamptz NOT NULL DEFAULT now(),
    ended_at         timestamptz
);
-- One active run per session, decided in Postgres (works across processes).
CREATE UNIQUE INDEX runs_one_active_uidx ON runs (session_id) WHERE status = 'running';
CREATE UNIQUE INDEX runs_idempotency_uidx ON runs (tenant_id, user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_process_idx ON runs (process_id) WHERE status = 'running';

CREATE TABLE traces (
    id                   uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id            uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    run_id               uuid,
    agent_id             uuid,
    user_id              text        NOT NULL DEFAULT '',
    session_key          text        NOT NULL DEFAULT '',
    name                 text        NOT NULL DEFAULT '',
    channel              text        NOT NULL DEFAULT '',
    status               text        NOT NULL DEFAULT 'running'
                                     CHECK (status IN ('running', 'completed', 'error', 'cancelled')),
    error                text        NOT NULL DEFAULT '',
    input_preview        text        NOT NULL DEFAULT '',
    output_preview       text        NOT NULL DEFAULT '',
    total_input_tokens   bigint      NOT NULL DEFAULT 0,
    total_output_tokens  bigint      NOT NULL DEFAULT 0,
    span_count           integer     NOT NULL DEFAULT 0,
    llm_call_count       integer     NOT NULL DEFAULT 0,
    tool_call_count      integer     NOT NULL DEFAULT 0,
    start_time           timestamptz NOT NULL DEFAULT now(),
    end_time             timestamptz,
    duration_ms          integer
);
CREATE INDEX traces_tenant_time_idx ON traces (tenant_id, start_time DESC);

CREATE TABLE spans (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    trace_id       uuid        NOT NULL REFERENCES traces (id) ON DELETE CASCADE,
    parent_span_id uuid,
    span_type      text        NOT NULL CHECK (span_type IN ('agent', 'llm_call', 'tool_call', 'event')),
    name           text        NOT NULL DEFAULT '',
    status         text        NOT NULL DEFAULT 'completed',
    model          text        NOT NULL DEFAULT '',
    provider       text        NOT NULL DEFAULT '',
    tool_name      text        NOT NULL DEFAULT '',
    tool_call_id   text        NOT NULL DEFAULT '',
    input_tokens   integer     NOT NULL DEFAULT 0,
    output_tokens  integer     NOT NULL DEFAULT 0,
    finish_reason  text        NOT NULL DEFAULT '',
    input_preview  text        NOT NULL DEFAULT '',
    output_preview text        NOT NULL DEFAULT '',
    error          text        NOT NULL DEFAULT '',
    start_time     timestamptz NOT NULL,
    end_time       timestamptz NOT NULL,
    duration_ms    integer     NOT NULL DEFAULT 0
);
CREATE INDEX spans_trace_idx ON spans (trace_id, start_time);

CREATE TABLE usage_records (
    id             bigserial   PRIMARY KEY,
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id       uuid,
    agent_key      text        NOT NULL DEFAULT '',
    user_id        text        NOT NULL DEFAULT '',
    session_key    text        NOT NULL DEFAULT '',
    run_id         uuid,
    model          text        NOT NULL DEFAULT '',
    provider       text        NOT NULL DEFAULT '',
    input_tokens   integer     NOT NULL DEFAULT 0,
    output_tokens  integer     NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX usage_records_tenant_idx ON usage_records (tenant_id, created_at DESC);
