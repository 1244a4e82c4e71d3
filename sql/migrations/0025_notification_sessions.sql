-- Notifications that wake an agent outside a board's session (issue 14): ClawTasker's directives and
-- conversation messages run in the agent's session of their thread (agent:<key>:clawtasker:<thread>).
-- NULL keeps 0019's rule: the board's session (agent:<key>:mc:<team id>).
ALTER TABLE notifications
    ADD COLUMN session_rest text CHECK (length(session_rest) BETWEEN 1 AND 200);

-- ClawTasker's `overloaded` notification names the agent it is about (CT's `agent_id`), and is made
-- once while it is not dismissed: the unique index decides, in every process.
ALTER TABLE notifications
    ADD COLUMN subject_agent_id uuid;
CREATE UNIQUE INDEX notifications_overloaded_uidx
    ON notifications (tenant_id, subject_agent_id)
    WHERE kind = 'overloaded' AND recipient_kind = 'user' AND NOT dismissed;
