-- Mission Control's agent API and the loop closed (issue 14, build items 2 and 4).
--
-- Agent tokens live in agent_presence (0017: token_prefix indexed, token_hash SHA-256). Here:
-- the agent-auth rate limit decided in PostgreSQL, and the once-only delivery of notifications
-- into an agent's ClawGate session.

-- MC's sliding window for agent auth (20 per 60 s per client IP), shared by every process: one row
-- per hit. A refused call still takes a slot (the oldest hit is dropped), as in MC.
CREATE UNLOGGED TABLE agent_auth_hits (
    key     text        NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    hit_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX agent_auth_hits_key_idx ON agent_auth_hits (key, hit_at);
CREATE INDEX agent_auth_hits_at_idx ON agent_auth_hits (hit_at);

-- A notification is made once per (event, recipient, kind), and delivered once: the process that
-- claims it (claimed_at set while NULL) starts the run; run_id and session_key record where it went.
ALTER TABLE notifications
    ADD COLUMN team_id     uuid,
    ADD COLUMN claimed_at  timestamptz,
    ADD COLUMN run_id      uuid,
    ADD COLUMN session_key text;
CREATE UNIQUE INDEX notifications_once_uidx
    ON notifications (event_seq, recipient_kind, recipient_id, kind)
    WHERE event_seq IS NOT NULL;
