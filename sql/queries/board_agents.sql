-- Mission Control's agents as boards see them (store/board_agents.py): the agents of a tenant with
-- their board and presence, the worker count that max_agents limits, the tasks an agent leaves when
-- it goes, and the user notifications an agent's ask-user makes.

-- name: tenant_agents
-- Live agents of the tenant with presence and their board ($3 first, else the first they joined);
-- $2 one agent, $3 only the agents of one board.
SELECT a.id, m.team_id AS board_id, a.agent_key, a.display_name, coalesce(m.role, '') AS role,
       coalesce(p.status, 'provisioning') AS status, p.last_seen_at, a.is_default, a.created_at,
       coalesce(p.identity_profile, '{}') AS identity_profile,
       coalesce(p.heartbeat_config, '{"every": "10m", "target": "last", "includeReasoning": false}') AS heartbeat_config
  FROM agents              AS a
  LEFT JOIN LATERAL (SELECT tm.team_id, tm.role
                       FROM team_members AS tm
                      WHERE tm.tenant_id = a.tenant_id
                        AND tm.agent_id  = a.id
                      ORDER BY (tm.team_id = $3) DESC NULLS LAST, tm.joined_at, tm.team_id
                      LIMIT 1) AS m ON true
  LEFT JOIN agent_presence AS p ON p.agent_id = a.id AND p.tenant_id = a.tenant_id
 WHERE a.tenant_id = $1
   AND a.deleted_at IS NULL
   AND ($2::uuid IS NULL OR a.id = $2)
   AND ($3::uuid IS NULL OR m.team_id = $3)
 ORDER BY a.created_at, a.id;

-- name: workers_count
-- The board's agents other than its lead (what max_agents limits); the caller holds the team's lock.
SELECT count(*)
  FROM team_members AS m
  JOIN agents       AS a ON a.tenant_id = m.tenant_id AND a.id = m.agent_id
 WHERE m.tenant_id = $1
   AND m.team_id   = $2
   AND m.role     <> 'lead'
   AND a.deleted_at IS NULL;

-- name: presence_profile
-- Identity profile and heartbeat config of the agent's MC side ($3/$4 NULL: kept).
INSERT INTO agent_presence (tenant_id, agent_id, identity_profile, heartbeat_config)
VALUES ($1, $2, coalesce($3::jsonb, '{}'),
        coalesce($4::jsonb, '{"every": "10m", "target": "last", "includeReasoning": false}'))
    ON CONFLICT (agent_id) DO UPDATE
   SET identity_profile = coalesce($3::jsonb, agent_presence.identity_profile),
       heartbeat_config = coalesce($4::jsonb, agent_presence.heartbeat_config),
       updated_at       = now()
 WHERE agent_presence.tenant_id = EXCLUDED.tenant_id;

-- name: release_tasks
-- The agent's open tasks ($3: on one board; NULL: everywhere) lose their assignee; in progress ones
-- go back to the inbox (MC's agent delete).
UPDATE tasks
   SET assignee_agent_id = NULL,
       status            = CASE WHEN status = 'in_progress' THEN 'backlog' ELSE status END,
       in_progress_at    = CASE WHEN status = 'in_progress' THEN NULL ELSE in_progress_at END,
       updated_at        = now()
 WHERE tenant_id         = $1
   AND assignee_agent_id = $2
   AND ($3::uuid IS NULL OR team_id = $3)
   AND status NOT IN ('done', 'cancelled')
RETURNING id, team_id;

-- name: user_notification
-- A message for the tenant's users (MC's ask-user), listed with ClawTasker's console notifications.
INSERT INTO notifications (tenant_id, event_seq, recipient_kind, recipient_id, kind, title, body, channel, status,
                           team_id, sent_at)
VALUES ($1, $2, 'user', $3, $4, $5, $6, 'ui', 'sent', $7, now())
RETURNING id;

-- name: leave_all
-- The agent leaves every board (it is deleted); the boards it was on.
DELETE FROM team_members
 WHERE tenant_id = $1
   AND agent_id  = $2
RETURNING team_id;
