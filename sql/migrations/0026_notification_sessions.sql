-- Notifications that wake an agent outside a board's session (issue 14): ClawTasker's directives and
-- conversation messages run in the agent's session of their thread (agent:<key>:clawtasker:<thread>).
-- NULL keeps 0019's rule: the board's session (agent:<key>:mc:<team id>).
ALTER TABLE notifications
    ADD COLUMN session_rest text CHECK (length(session_rest) BETWEEN 1 AND 200);
