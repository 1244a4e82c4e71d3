-- ClawTasker's /api on the shared coordination model (store/clawtasker.py): the company row, the
-- roster (agents with their presence), CT's task keys (T-<number>), links, missions,
-- sprints, conversations and notifications. Every query takes the tenant id first.

-- name: org_get
SELECT o.company_name, o.tagline, o.ceo_name, o.ceo_role, o.chief_agent, o.settings
  FROM ct_org AS o
 WHERE o.tenant_id = $1;

-- name: org_put
INSERT INTO ct_org AS o (tenant_id, company_name, tagline, ceo_name, ceo_role, chief_agent, settings)
VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (tenant_id) DO UPDATE
   SET company_name = EXCLUDED.company_name,
       tagline      = EXCLUDED.tagline,
       ceo_name     = EXCLUDED.ceo_name,
       ceo_role     = EXCLUDED.ceo_role,
       chief_agent  = EXCLUDED.chief_agent,
       settings     = EXCLUDED.settings,
       updated_at   = now();

-- name: roster
-- The tenant's live agents with their presence (an agent never checked in has none: NULLs), by key;
-- $2 non-NULL: only that key.
SELECT a.id, a.agent_key, a.display_name, a.emoji,
       p.status, p.last_seen_at, p.current_task_id, ct.number AS current_task_number,
       coalesce(p.doing_summary, '') AS doing_summary, coalesce(p.done_summary, '') AS done_summary,
       coalesce(p.next_summary, '') AS next_summary, coalesce(p.blockers, '{}') AS blockers,
       coalesce(p.speaking, false) AS speaking, coalesce(p.profile, '{}') AS profile, p.retired_at,
       sa.agent_key AS successor_key
  FROM agents              AS a
  LEFT JOIN agent_presence AS p  ON p.agent_id = a.id AND p.tenant_id = a.tenant_id
  LEFT JOIN tasks          AS ct ON ct.tenant_id = a.tenant_id AND ct.id = p.current_task_id
  LEFT JOIN agents         AS sa ON sa.tenant_id = a.tenant_id AND sa.id = p.successor_agent_id
 WHERE a.tenant_id  = $1
   AND a.deleted_at IS NULL
   AND ($2::text IS NULL OR a.agent_key = $2)
 ORDER BY a.agent_key;

-- name: health_counts
-- GET /api/health's counts: the tenant's live agents (as the roster lists them) and its tasks.
SELECT (SELECT count(*) FROM agents AS a WHERE a.tenant_id = $1 AND a.deleted_at IS NULL) AS agents,
       (SELECT count(*) FROM tasks  AS t WHERE t.tenant_id = $1)                          AS tasks;

-- name: agent_insert
-- NULL when a live agent has the key already (made meanwhile by a racing registration).
INSERT INTO agents (tenant_id, agent_key, display_name, emoji, agent_description)
VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (tenant_id, agent_key) WHERE deleted_at IS NULL DO NOTHING
RETURNING id;

-- name: agent_rename
UPDATE agents
   SET display_name = $3,
       emoji        = $4,
       updated_at   = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: presence_put
-- The agent's CT card: status and profile (the roster fields), kept beside MC's liveness fields.
INSERT INTO agent_presence AS p (tenant_id, agent_id, status, profile)
VALUES ($1, $2, $3, $4)
    ON CONFLICT (agent_id) DO UPDATE
   SET status     = EXCLUDED.status,
       profile    = EXCLUDED.profile,
       retired_at = NULL,
       updated_at = now()
 WHERE p.tenant_id = EXCLUDED.tenant_id;

-- name: presence_heartbeat
INSERT INTO agent_presence AS p (tenant_id, agent_id, status, last_seen_at, current_task_id, doing_summary,
                                 done_summary, next_summary, blockers, speaking, profile)
VALUES ($1, $2, $3, now(), $4, $5, $6, $7, $8, $9, $10)
    ON CONFLICT (agent_id) DO UPDATE
   SET status          = EXCLUDED.status,
       last_seen_at    = now(),
       current_task_id = EXCLUDED.current_task_id,
       doing_summary   = EXCLUDED.doing_summary,
       done_summary    = EXCLUDED.done_summary,
       next_summary    = EXCLUDED.next_summary,
       blockers        = EXCLUDED.blockers,
       speaking        = EXCLUDED.speaking,
       profile         = p.profile || EXCLUDED.profile,
       updated_at      = now()
 WHERE p.tenant_id = EXCLUDED.tenant_id;

-- name: presence_assign
-- CT's assignment sync: the owner works on task $3 with status $4.
INSERT INTO agent_presence AS p (tenant_id, agent_id, status, current_task_id)
VALUES ($1, $2, $4, $3)
    ON CONFLICT (agent_id) DO UPDATE
   SET status          = EXCLUDED.status,
       current_task_id = EXCLUDED.current_task_id,
       updated_at      = now()
 WHERE p.tenant_id = EXCLUDED.tenant_id;

-- name: presence_release
UPDATE agent_presence
   SET status          = 'idle',
       current_task_id = NULL,
       updated_at      = now()
 WHERE tenant_id       = $1
   AND agent_id        = $2
   AND current_task_id = $3;

-- name: presence_retire
-- Offline and unassigned; retired (with a successor) when $3 is true.
UPDATE agent_presence
   SET status             = 'offline',
       current_task_id    = NULL,
       retired_at         = CASE WHEN $3 THEN now() ELSE retired_at END,
       successor_agent_id = CASE WHEN $3 THEN $4 ELSE successor_agent_id END,
       updated_at         = now()
 WHERE tenant_id = $1
   AND agent_id  = $2;

-- name: work_transfer
-- Open tasks owned or validated by agent $2 go to $3 (NULL: nobody); missions it owns likewise.
WITH owned AS (
    UPDATE tasks
       SET assignee_agent_id = $3, updated_at = now()
     WHERE tenant_id         = $1
       AND assignee_agent_id = $2
       AND status NOT IN ('done', 'cancelled')
    RETURNING id
), validated AS (
    UPDATE tasks
       SET validator_agent_id = $3, updated_at = now()
     WHERE tenant_id          = $1
       AND validator_agent_id = $2
       AND status NOT IN ('done', 'cancelled')
    RETURNING id
), missions_owned AS (
    UPDATE missions
       SET owner_agent_id = $3, updated_at = now()
     WHERE tenant_id      = $1
       AND owner_agent_id = $2
    RETURNING id
)
SELECT (SELECT count(*) FROM owned) AS owned, (SELECT count(*) FROM validated) AS validated,
       (SELECT count(*) FROM missions_owned) AS missions;

-- name: agent_soft_delete
UPDATE agents
   SET deleted_at = now(),
       agent_key  = agent_key
 WHERE tenant_id  = $1
   AND id         = $2
   AND deleted_at IS NULL;

-- name: task_by_number
SELECT t.id
  FROM tasks AS t
 WHERE t.tenant_id = $1
   AND t.number    = $2;

-- name: task_numbers
SELECT t.id, t.number
  FROM tasks AS t
 WHERE t.tenant_id = $1
   AND t.id        = ANY($2::uuid[]);

-- name: task_ct_set
-- CT's fields beside the shared state: validator, mission, sprint and type.
UPDATE tasks
   SET validator_agent_id = $3,
       mission_id         = $4,
       sprint_id          = $5,
       task_type          = $6
 WHERE tenant_id = $1
   AND id        = $2;

-- name: links_of
-- Every edge touching tasks $2, either end.
SELECT l.src_task_id, l.dst_task_id, l.kind, l.created_at
  FROM task_links AS l
 WHERE l.tenant_id = $1
   AND (l.src_task_id = ANY($2::uuid[]) OR l.dst_task_id = ANY($2::uuid[]))
 ORDER BY l.created_at;

-- name: project_by_key
SELECT t.id
  FROM teams AS t
 WHERE t.tenant_id = $1
   AND t.key       = $2;

-- name: project_set
UPDATE teams
   SET project    = $3,
       name       = $4,
       updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: comments_recent
-- The newest task comments of the tenant (the snapshot's per-task comments).
SELECT e.task_id, e.id, e.user_id, e.agent_id, a.agent_key, e.message, e.data, e.created_at
  FROM coord_events AS e
  LEFT JOIN agents  AS a ON a.tenant_id = e.tenant_id AND a.id = e.agent_id
 WHERE e.tenant_id = $1
   AND e.kind      = 'task.comment'
   AND ($2::uuid IS NULL OR e.task_id = $2)
 ORDER BY e.seq DESC
 LIMIT $3;

-- name: missions_select
SELECT m.id, m.key, m.title, m.objective, m.status, m.priority, m.horizon, m.source, m.details,
       m.created_at, m.updated_at, oa.agent_key AS owner_key, tm.key AS project_key,
       ARRAY(SELECT t.number FROM tasks AS t
              WHERE t.tenant_id = m.tenant_id AND t.mission_id = m.id ORDER BY t.number) AS task_numbers
  FROM missions    AS m
  LEFT JOIN agents AS oa ON oa.tenant_id = m.tenant_id AND oa.id = m.owner_agent_id
  LEFT JOIN teams  AS tm ON tm.tenant_id = m.tenant_id AND tm.id = m.team_id
 WHERE m.tenant_id = $1
   AND ($2::text IS NULL OR m.key = $2)
 ORDER BY m.created_at, m.key;

-- name: mission_upsert
INSERT INTO missions AS m (tenant_id, key, title, objective, status, priority, horizon, owner_agent_id, team_id,
                           details, source)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
    ON CONFLICT (tenant_id, key) DO UPDATE
   SET title          = EXCLUDED.title,
       objective      = EXCLUDED.objective,
       status         = EXCLUDED.status,
       priority       = EXCLUDED.priority,
       horizon        = EXCLUDED.horizon,
       owner_agent_id = EXCLUDED.owner_agent_id,
       team_id        = EXCLUDED.team_id,
       details        = EXCLUDED.details,
       source         = EXCLUDED.source,
       updated_at     = now()
RETURNING id, (xmax = 0) AS created;

-- name: mission_tasks
-- Stamp mission $2 on tasks numbered $3.
UPDATE tasks
   SET mission_id = $2
 WHERE tenant_id = $1
   AND number    = ANY($3::bigint[]);

-- name: mission_delete
DELETE FROM missions
 WHERE tenant_id = $1
   AND key       = $2
RETURNING id;

-- name: sprints_select
SELECT s.id, s.key, s.name, s.goal, s.start_date, s.end_date, s.status, s.velocity, s.created_at,
       tm.key AS project_key
  FROM sprints    AS s
  LEFT JOIN teams AS tm ON tm.tenant_id = s.tenant_id AND tm.id = s.team_id
 WHERE s.tenant_id = $1
   AND ($2::text IS NULL OR s.key = $2)
 ORDER BY s.key;

-- name: sprint_upsert
INSERT INTO sprints AS s (tenant_id, key, name, goal, start_date, end_date, status, velocity, team_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (tenant_id, key) DO UPDATE
   SET name       = EXCLUDED.name,
       goal       = EXCLUDED.goal,
       start_date = EXCLUDED.start_date,
       end_date   = EXCLUDED.end_date,
       status     = EXCLUDED.status,
       velocity   = EXCLUDED.velocity,
       team_id    = EXCLUDED.team_id
RETURNING id;

-- name: sprint_lock
-- Sprint numbers are handed out one at a time per tenant (transaction-scoped lock), then counted
-- (in a statement of its own: its snapshot must be taken after the lock).
SELECT pg_advisory_xact_lock(hashtextextended('ct_sprint:' || $1::uuid::text, 0));

-- name: sprint_count
SELECT count(*) FROM sprints AS s WHERE s.tenant_id = $1;

-- name: sprint_velocity
-- Σ story points (1 when unset) of the sprint's done tasks.
SELECT coalesce(sum(coalesce((t.metadata -> 'ct' ->> 'story_points')::int, 1)), 0)::int
  FROM tasks AS t
 WHERE t.tenant_id = $1
   AND t.sprint_id = $2
   AND t.status    = 'done';

-- name: sprint_delete
DELETE FROM sprints
 WHERE tenant_id = $1
   AND key       = $2
RETURNING id;

-- name: notifications_select
SELECT n.id, n.kind, n.title, n.body, n.recipient_id, n.read, n.dismissed, n.created_at,
       a.agent_key AS agent_key
  FROM notifications AS n
  LEFT JOIN agents   AS a ON a.tenant_id = n.tenant_id AND a.id = n.subject_agent_id
 WHERE n.tenant_id      = $1
   AND n.recipient_kind = 'user'
   AND NOT n.dismissed
 ORDER BY n.created_at DESC
 LIMIT 100;

-- name: notification_insert
INSERT INTO notifications (tenant_id, recipient_kind, recipient_id, kind, title, body, channel, status)
VALUES ($1, 'user', 'ceo', $2, $3, $4, 'ui', 'sent')
RETURNING id;

-- name: notifications_dismiss
-- One ($2) or all ($2 NULL).
UPDATE notifications
   SET dismissed = true,
       read      = true
 WHERE tenant_id      = $1
   AND recipient_kind = 'user'
   AND ($2::uuid IS NULL OR id = $2)
   AND NOT dismissed;

-- name: threads_select
SELECT th.id, th.key, th.title, th.mode, th.participants, th.session_key, tm.key AS project_key, th.created_at
  FROM threads    AS th
  LEFT JOIN teams AS tm ON tm.tenant_id = th.tenant_id AND tm.id = th.team_id
 WHERE th.tenant_id = $1
   AND th.scope     = 'direct'
 ORDER BY th.created_at;

-- name: thread_find
-- By key ($2), else by participants ($3, any order).
SELECT th.id, th.key, th.participants
  FROM threads AS th
 WHERE th.tenant_id = $1
   AND th.scope     = 'direct'
   AND (th.key = $2 OR ($2::text IS NULL AND th.participants @> $3::text[] AND th.participants <@ $3::text[]))
 LIMIT 1;

-- name: thread_insert
INSERT INTO threads (tenant_id, scope, key, title, mode, participants, session_key)
VALUES ($1, 'direct', $2, $3, $4, $5, $6)
RETURNING id;

-- name: messages_recent
-- The newest 80 messages of each direct thread ($2: directives only when true).
SELECT m.id, m.thread_id, m.author_kind, m.author_id, m.source, m.content, m.category, m.task_id,
       tk.number AS task_number, m.directive, m.created_at
  FROM (SELECT m.*, row_number() OVER (PARTITION BY m.thread_id ORDER BY m.created_at DESC) AS rn
          FROM messages AS m
         WHERE m.tenant_id = $1) AS m
  JOIN threads    AS th ON th.tenant_id = m.tenant_id AND th.id = m.thread_id AND th.scope = 'direct'
  LEFT JOIN tasks AS tk ON tk.tenant_id = m.tenant_id AND tk.id = m.task_id
 WHERE m.rn <= 80
   AND (NOT $2 OR m.category = 'directive')
 ORDER BY m.created_at;

-- name: message_insert
INSERT INTO messages (tenant_id, thread_id, author_kind, author_id, source, content, category, task_id, directive)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id, created_at;

-- name: reset
-- Blank reset: CT's data of the tenant (projects made on CT cascade to their tasks and links;
-- MC boards and GoClaw teams stay; agents stay ClawGate agents, their CT cards are emptied).
WITH t  AS (DELETE FROM teams WHERE tenant_id = $1 AND kind = 'project'),
     m  AS (DELETE FROM missions WHERE tenant_id = $1),
     s  AS (DELETE FROM sprints WHERE tenant_id = $1),
     th AS (DELETE FROM threads WHERE tenant_id = $1 AND scope = 'direct'),
     n  AS (DELETE FROM notifications WHERE tenant_id = $1 AND recipient_kind = 'user'),
     p  AS (UPDATE agent_presence SET profile = '{}', status = 'offline' WHERE tenant_id = $1)
DELETE FROM ct_org WHERE tenant_id = $1;
