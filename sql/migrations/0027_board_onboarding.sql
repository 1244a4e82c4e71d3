-- Mission Control's board onboarding (reference 1.9; issue 14): a conversation between the user and
-- the gateway-main agent (here the tenant's default agent) that drafts the board's goal and lead.
-- Status flow: active (questions and answers) -> completed (the agent sent its draft) -> confirmed
-- (the user applied it to the board). One open (not confirmed) session per board: a partial unique
-- index, so two starts racing in two processes share one session.
CREATE TABLE board_onboarding_sessions (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL,
    board_id     uuid        NOT NULL,
    session_key  text        NOT NULL,
    status       text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'completed', 'confirmed')),
    messages     jsonb       NOT NULL DEFAULT '[]',  -- [{role: user | assistant, content, timestamp}]
    draft_goal   jsonb,                              -- the agent's completion, as sent
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, board_id) REFERENCES teams (tenant_id, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX board_onboarding_open_uidx ON board_onboarding_sessions (board_id) WHERE status <> 'confirmed';
CREATE INDEX board_onboarding_board_idx ON board_onboarding_sessions (tenant_id, board_id, created_at DESC);
