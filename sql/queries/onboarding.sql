-- Mission Control's board onboarding sessions (store/onboarding.py, migration 0025).

-- name: open
-- The board's open session, made when there is none (one per board: a partial unique index).
WITH made AS (
    INSERT INTO board_onboarding_sessions (tenant_id, board_id, session_key)
    VALUES ($1, $2, $3)
        ON CONFLICT (board_id) WHERE status <> 'confirmed' DO NOTHING
    RETURNING id
)
SELECT id FROM made
 UNION ALL
SELECT s.id FROM board_onboarding_sessions AS s
 WHERE s.tenant_id = $1 AND s.board_id = $2 AND s.status <> 'confirmed'
 LIMIT 1;

-- name: latest
-- The board's newest session.
SELECT s.id, s.board_id, s.session_key, s.status, s.messages, s.draft_goal, s.created_at, s.updated_at
  FROM board_onboarding_sessions AS s
 WHERE s.tenant_id = $1
   AND s.board_id  = $2
 ORDER BY s.created_at DESC, (s.status <> 'confirmed') DESC
 LIMIT 1;

-- name: lock
SELECT s.id, s.board_id, s.session_key, s.status, s.messages, s.draft_goal, s.created_at, s.updated_at
  FROM board_onboarding_sessions AS s
 WHERE s.tenant_id = $1
   AND s.id        = $2
   FOR UPDATE;

-- name: save
UPDATE board_onboarding_sessions
   SET status     = $3,
       messages   = $4,
       draft_goal = $5,
       updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2
RETURNING id, board_id, session_key, status, messages, draft_goal, created_at, updated_at;
