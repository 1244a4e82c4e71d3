-- Mission Control's board webhooks (issue 14; reference 1.10, 2.9): inbound endpoints a board
-- configures, and the payloads they received. The ingest route is public (no bearer): a webhook is
-- found by its (board, id) from the URL, and its secret (AES-256-GCM, clawgate.crypto.SecretBox)
-- signs the body (HMAC-SHA256). The per-IP ingest limit is a window in window_hits (0021).

CREATE TABLE board_webhooks (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    team_id           uuid        NOT NULL,
    -- The agent a payload wakes; NULL (or an agent no longer on the board): the board's lead.
    agent_id          uuid,
    description       text        NOT NULL CHECK (length(description) BETWEEN 1 AND 20000),
    enabled           boolean     NOT NULL DEFAULT true,
    secret            text,       -- aes-gcm:... ; NULL: payloads are not signed
    signature_header  text        CHECK (length(signature_header) BETWEEN 1 AND 100),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, team_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id) ON DELETE SET NULL (agent_id)
);
CREATE INDEX board_webhooks_team_idx ON board_webhooks (tenant_id, team_id, created_at);

-- A payload as received: the JSON sent, or the body as a JSON string when it is not JSON; the
-- headers kept (content-type, user-agent, x-* but signatures and credentials).
CREATE TABLE board_webhook_payloads (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL,
    team_id       uuid        NOT NULL,
    webhook_id    uuid        NOT NULL,
    payload       jsonb       NOT NULL,
    headers       jsonb       NOT NULL DEFAULT '{}',
    source_ip     text,
    content_type  text,
    received_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, webhook_id) REFERENCES board_webhooks (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX board_webhook_payloads_webhook_idx ON board_webhook_payloads (tenant_id, webhook_id, received_at);
