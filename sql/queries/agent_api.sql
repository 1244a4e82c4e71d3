-- Mission Control's agent API (store/agent_api.py): agent tokens, agent-auth hits, board
-- memory, the facts the agent rules read, and notifications into agents' sessions.

-- name: token_set
-- Mint (or, $3 NULL, revoke) the agent's token; the presence row is made on first use.
INSERT INTO agent_presence (tenant_id, agent_id, token_prefix, token_hash)
VALUES ($1, $2, $3, $4)
    ON CONFLICT (agent_id) DO UPDATE
   SET token_prefix = EXCLUDED.token_prefix,
       token_hash   = EXCLUDED.token_hash,
       updated_at   = now()
 WHERE agent_presence.tenant_id = EXCLUDED.tenant_id
RETURNING agent_id;

-- name: token_candidate
-- The agent whose token has this prefix (one at most: a unique index), with its key.
SELECT p.tenant_id, p.agent_id, p.token_hash, p.last_seen_at, a.agent_key, a.display_name
  FROM agent_presence AS p
  JOIN agents         AS a ON a.tenant_id = p.tenant_id AND a.id = p.agent_id
 WHERE p.token_prefix = $1
   AND a.deleted_at IS NULL;

-- name: memberships
-- The boards (teams) the agent is on, with its role on each.
SELECT m.team_id, m.role
  FROM team_members AS m
 WHERE m.tenant_id = $1
   AND m.agent_id  = $2
 ORDER BY m.joined_at, m.team_id;

-- name: heartbeat
-- The agent checked in: status (or provisioning -> online), last_seen_at, wake state reset.
INSERT INTO agent_presence (tenant_id, agent_id, status, last_seen_at)
VALUES ($1, $2, coalesce($3, 'online'), now())
    ON CONFLICT (agent_id) DO UPDATE
   SET status               = coalesce($3, CASE WHEN agent_presence.status = 'provisioning'
                                                THEN 'online' ELSE agent_presence.status END),
       last_seen_at         = now(),
       wake_attempts        = 0,
       checkin_deadline_at  = NULL,
       last_provision_error = NULL,
       updated_at           = now()
 WHERE agent_presence.tenant_id = EXCLUDED.tenant_id
RETURNING status, last_seen_at;

-- name: touch
-- Any authenticated agent request: seen now, online unless updating or deleting (MC's touch).
UPDATE agent_presence
   SET last_seen_at = now(),
       status       = CASE WHEN status IN ('updating', 'deleting') THEN status ELSE 'online' END
 WHERE tenant_id = $1
   AND agent_id  = $2;

-- name: board_agents
-- The agents of one board ($2) or of every board the caller may see ($3: board ids), with presence.
SELECT a.id, m.team_id AS board_id, a.agent_key, a.display_name, m.role,
       coalesce(p.status, 'provisioning') AS status, p.last_seen_at, a.created_at
  FROM team_members        AS m
  JOIN agents              AS a ON a.tenant_id = m.tenant_id AND a.id = m.agent_id
  LEFT JOIN agent_presence AS p ON p.agent_id = a.id AND p.tenant_id = a.tenant_id
 WHERE m.tenant_id = $1
   AND m.team_id   = ANY($2::uuid[])
   AND a.deleted_at IS NULL
 ORDER BY m.team_id, (m.role = 'lead') DESC, a.display_name, a.id;

-- name: memory_thread
-- The memory thread of board $3 ($2 = 'team') or of board group $3 ($2 = 'team_group'), made on first
-- use (a partial unique index per scope keeps one).
WITH made AS (
    INSERT INTO threads (tenant_id, scope, team_id, group_id, title)
    VALUES ($1, $2, CASE WHEN $2 = 'team' THEN $3::uuid END, CASE WHEN $2 = 'team_group' THEN $3::uuid END,
            CASE WHEN $2 = 'team' THEN 'board memory' ELSE 'board group memory' END)
        ON CONFLICT DO NOTHING
    RETURNING id
)
SELECT id FROM made
 UNION ALL
SELECT th.id
  FROM threads AS th
 WHERE th.tenant_id = $1
   AND th.scope     = $2
   AND coalesce(th.team_id, th.group_id) = $3
 LIMIT 1;

-- name: memory_insert
INSERT INTO messages (tenant_id, thread_id, author_kind, author_id, source, content, tags, is_chat)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, content, tags, source, is_chat, author_kind, author_id, created_at;

-- name: memory_list
-- The memory of board $3 ($2 = 'team') or board group $3 ($2 = 'team_group'), newest first; $4 filters
-- on is_chat (NULL: all); $7 one entry (NULL: any).
SELECT ms.id, ms.content, ms.tags, ms.source, ms.is_chat, ms.author_kind, ms.author_id, ms.created_at,
       count(*) OVER () AS total
  FROM messages AS ms
  JOIN threads  AS th ON th.id = ms.thread_id
 WHERE ms.tenant_id = $1
   AND th.tenant_id = $1
   AND th.scope     = $2
   AND coalesce(th.team_id, th.group_id) = $3
   AND ($4::boolean IS NULL OR ms.is_chat = $4)
   AND ($7::uuid IS NULL OR ms.id = $7)
 ORDER BY ms.created_at DESC, ms.id
 LIMIT $5 OFFSET $6;

-- name: last_submitter
-- The last agent other than $3 who moved the task to review.
SELECT e.agent_id
  FROM coord_events AS e
 WHERE e.tenant_id = $1
   AND e.task_id   = $2
   AND e.kind      = 'task.status_changed'
   AND e.data->>'to' = 'review'
   AND e.agent_id IS NOT NULL
   AND e.agent_id IS DISTINCT FROM $3
 ORDER BY e.seq DESC
 LIMIT 1;

-- name: commented_since
-- Whether the agent $3 commented on the task since $4 (NULL: ever).
SELECT EXISTS (SELECT 1
                 FROM coord_events AS e
                WHERE e.tenant_id = $1
                  AND e.task_id   = $2
                  AND e.kind      = 'task.comment'
                  AND e.agent_id  = $3
                  AND ($4::timestamptz IS NULL OR e.created_at >= $4)
                  AND btrim(coalesce(e.message, '')) <> '');

-- name: comment_texts
-- The task's comments, oldest first (for the mentions a lead's comment right reads).
SELECT e.message
  FROM coord_events AS e
 WHERE e.tenant_id = $1
   AND e.task_id   = $2
   AND e.kind      = 'task.comment'
 ORDER BY e.seq;

-- name: notification_insert
-- A notification for an agent from an event; once per (event, recipient, kind).
INSERT INTO notifications (tenant_id, event_seq, recipient_kind, recipient_id, kind, title, body, channel, team_id,
                           session_rest, by_agent_id)
VALUES ($1, $2, 'agent', $3, $4, $5, $6, 'gateway_session', $7, $8, $9)
    ON CONFLICT (event_seq, recipient_kind, recipient_id, kind) WHERE event_seq IS NOT NULL DO NOTHING
RETURNING id;

-- name: notification_claim
-- Claim a pending notification for delivery: one process wins.
UPDATE notifications
   SET claimed_at = now(),
       attempts   = attempts + 1
 WHERE id         = $1
   AND status     = 'pending'
   AND claimed_at IS NULL
RETURNING id, tenant_id, recipient_id, kind, title, body, team_id, session_rest, by_agent_id;

-- name: notifications_stale
-- Pending notifications nobody claimed for $1 seconds (their process died before its claim).
SELECT n.id
  FROM notifications AS n
 WHERE n.status     = 'pending'
   AND n.channel    = 'gateway_session'
   AND n.claimed_at IS NULL
   AND n.created_at < now() - make_interval(secs => $1)
 ORDER BY n.created_at
 LIMIT $2;

-- name: notification_done
UPDATE notifications
   SET status      = $2,
       last_error  = $3,
       run_id      = $4,
       session_key = $5,
       sent_at     = CASE WHEN $2 = 'sent' THEN now() END
 WHERE id = $1;

-- name: notifications_of
-- An agent's notifications, newest first.
SELECT n.id, n.kind, n.title, n.body, n.status, n.last_error, n.run_id, n.session_key, n.team_id,
       n.event_seq, n.created_at, n.sent_at
  FROM notifications AS n
 WHERE n.tenant_id      = $1
   AND n.recipient_kind = 'agent'
   AND n.recipient_id   = $2
 ORDER BY n.created_at DESC
 LIMIT $3;
