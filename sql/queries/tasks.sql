-- Tasks, their edges (dependencies and links), and approvals (store/tasks.py). Every query takes the
-- tenant id first. A task's `blocked_by` is its depends_on targets that are not done.

-- name: next_number
INSERT INTO task_numbers AS n (tenant_id, last)
VALUES ($1, 1)
    ON CONFLICT (tenant_id) DO UPDATE
   SET last = n.last + 1
RETURNING last;

-- name: task_insert
INSERT INTO tasks (tenant_id, team_id, number, title, description, task_type, status, priority,
                   assignee_agent_id, created_by_user, created_by_agent_id, auto_created, auto_reason,
                   in_progress_at, due_at, channel, chat_id, user_id, custom_fields, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
RETURNING id;

-- name: tasks_select
-- One task ($3), or the tasks of a team ($2); filters: statuses $4, channel $5, chat id $6,
-- assignee $7 (NULL: any), only unassigned ones $10; newest first, page $8 / $9. `total` counts the
-- matches before the page.
-- The page is chosen first (with the count, on the bare rows), then only its rows are joined and
-- get their dependency arrays: a page of 200 of 10,000 costs 200 lookups, not 10,000.
WITH page AS (
    SELECT t.id, t.created_at, count(*) OVER () AS total
      FROM tasks AS t
     WHERE t.tenant_id = $1
       AND ($2::uuid IS NULL OR t.team_id = $2)
       AND ($3::uuid IS NULL OR t.id = $3)
       AND ($4::text[] IS NULL OR t.status = ANY($4))
       AND ($5::text IS NULL OR t.channel = $5)
       AND ($6::text IS NULL OR t.chat_id = $6)
       AND ($7::uuid IS NULL OR t.assignee_agent_id = $7)
       AND (NOT $10::boolean OR t.assignee_agent_id IS NULL)
     ORDER BY t.created_at DESC, t.id DESC
     LIMIT $8 OFFSET $9
)
SELECT t.id, t.tenant_id, t.team_id, t.number, t.mission_id, t.sprint_id, t.parent_id, t.title,
       t.description, t.task_type, t.status, t.priority, t.blocked, t.blocked_reason,
       t.assignee_agent_id, t.assignee_user_id, t.validator_agent_id, t.created_by_user,
       t.created_by_agent_id, t.auto_created, t.auto_reason, t.in_progress_at,
       t.previous_in_progress_at, t.due_at, t.progress, t.progress_step, t.result, t.channel, t.chat_id,
       t.user_id, t.custom_fields, t.metadata, t.comment_count, t.created_at, t.updated_at,
       oa.agent_key     AS assignee_agent_key,
       oa.display_name  AS assignee_display_name,
       ca.agent_key     AS created_by_agent_key,
       ARRAY(SELECT l.dst_task_id
               FROM task_links AS l
              WHERE l.src_task_id = t.id
                AND l.kind        = 'depends_on'
              ORDER BY l.created_at)                       AS depends_on,
       ARRAY(SELECT l.dst_task_id
               FROM task_links AS l
               JOIN tasks      AS d ON d.id = l.dst_task_id
              WHERE l.src_task_id = t.id
                AND l.kind        = 'depends_on'
                AND d.status     <> 'done'
              ORDER BY l.created_at)                       AS blocked_by,
       coalesce((SELECT jsonb_agg(jsonb_build_object('id', g.id, 'name', g.name, 'slug', g.slug, 'color', g.color)
                                  ORDER BY g.name, g.id)
                   FROM task_tags AS tt
                   JOIN tags      AS g ON g.id = tt.tag_id
                  WHERE tt.task_id = t.id), '[]'::jsonb)   AS tags,
       p.total
  FROM page        AS p
  JOIN tasks       AS t  ON t.id = p.id
  LEFT JOIN agents AS oa ON oa.tenant_id = t.tenant_id AND oa.id = t.assignee_agent_id
  LEFT JOIN agents AS ca ON ca.tenant_id = t.tenant_id AND ca.id = t.created_by_agent_id
 ORDER BY p.created_at DESC, p.id DESC;

-- name: active_by_chat
-- The open tasks started from one chat (GoClaw's chat sidebar, asked on every chat): the partial
-- index tasks_active_chat_idx answers it.
SELECT t.id, t.team_id, t.number, t.title, t.status, t.blocked, t.progress, t.progress_step,
       t.comment_count, a.agent_key AS assignee_agent_key, a.display_name AS assignee_display_name,
       EXISTS (SELECT 1
                 FROM task_links AS l
                 JOIN tasks      AS d ON d.id = l.dst_task_id
                WHERE l.src_task_id = t.id AND l.kind = 'depends_on' AND d.status <> 'done') AS waiting
  FROM tasks       AS t
  LEFT JOIN agents AS a ON a.tenant_id = t.tenant_id AND a.id = t.assignee_agent_id
 WHERE t.tenant_id = $1
   AND t.chat_id   = $2
   AND t.status IN ('backlog', 'ready', 'in_progress', 'review')
 ORDER BY t.created_at DESC
 LIMIT 50;

-- name: task_lock
SELECT t.id, t.team_id, t.status
  FROM tasks AS t
 WHERE t.tenant_id = $1
   AND t.id        = $2
   FOR UPDATE;

-- name: task_set
-- The state a service computed: every mutable field at once (the caller read it under task_lock).
UPDATE tasks
   SET title                   = $3,
       description             = $4,
       status                  = $5,
       priority                = $6,
       blocked                 = $7,
       blocked_reason          = $8,
       assignee_agent_id       = $9,
       in_progress_at          = $10,
       previous_in_progress_at = $11,
       due_at                  = $12,
       progress                = $13,
       progress_step           = $14,
       result                  = $15,
       custom_fields           = $16,
       metadata                = $17,
       updated_at              = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: task_count_comment
UPDATE tasks
   SET comment_count = comment_count + 1,
       updated_at    = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: tasks_delete
-- Tasks of team $2 among $3 whose status is one of $4; the ids deleted.
DELETE FROM tasks
 WHERE tenant_id = $1
   AND team_id   = $2
   AND id        = ANY($3::uuid[])
   AND status    = ANY($4::text[])
RETURNING id;

-- name: tasks_of_team
-- Which of the ids $3 are tasks of team $2 (the others are unknown, or another team's).
SELECT t.id
  FROM tasks AS t
 WHERE t.tenant_id = $1
   AND t.team_id   = $2
   AND t.id        = ANY($3::uuid[]);

-- name: team_graph_lock
-- Dependency edits of one team take turns (the cycle check reads the whole team's graph).
SELECT pg_advisory_xact_lock(hashtextextended('clawgate.task_graph:' || $1::uuid::text || ':' || $2::uuid::text, 0));

-- name: reaches
-- Whether task $3 is reachable from any of $2 along depends_on edges: adding "$3 depends on $2"
-- would then close a cycle. UNION (not ALL) stops on a cycle already there.
WITH RECURSIVE reach (id) AS (
    SELECT unnest($2::uuid[])
     UNION
    SELECT l.dst_task_id
      FROM task_links AS l
      JOIN reach      AS r ON l.src_task_id = r.id
     WHERE l.tenant_id = $1
       AND l.kind      = 'depends_on'
)
SELECT EXISTS (SELECT 1 FROM reach WHERE id = $3);

-- name: deps_replace
-- Task $3 of team $2 now depends on exactly $4.
WITH gone AS (
    DELETE FROM task_links
     WHERE tenant_id   = $1
       AND src_task_id = $3
       AND kind        = 'depends_on'
       AND NOT (dst_task_id = ANY($4::uuid[]))
)
INSERT INTO task_links (tenant_id, team_id, src_task_id, dst_task_id, kind)
SELECT $1, $2, $3, d, 'depends_on'
  FROM unnest($4::uuid[]) AS d
    ON CONFLICT DO NOTHING;

-- name: link_insert
INSERT INTO task_links (tenant_id, team_id, src_task_id, dst_task_id, kind)
VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT DO NOTHING
RETURNING created_at;

-- name: dependents
-- Tasks that depend on $2 and are not done.
SELECT t.id, t.status, t.assignee_agent_id, t.in_progress_at
  FROM task_links AS l
  JOIN tasks      AS t ON t.id = l.src_task_id
 WHERE l.tenant_id   = $1
   AND l.dst_task_id = $2
   AND l.kind        = 'depends_on'
   AND t.status     <> 'done';

-- name: approval_insert
INSERT INTO approvals (tenant_id, team_id, task_id, agent_id, action_type, payload, confidence, rubric_scores,
                       status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id;

-- name: approval_link
-- Link approval $2 to tasks $3; `pending` as the approval's status ($4). Raises a unique violation
-- when a task has a pending approval already (approval_tasks_one_pending_uidx).
INSERT INTO approval_tasks (tenant_id, approval_id, task_id, pending)
SELECT $1, $2, t, $4
  FROM unnest($3::uuid[]) AS t;

-- name: pending_conflicts
-- The pending approvals (other than $3) already covering any of the tasks $2.
SELECT x.task_id, x.approval_id
  FROM approval_tasks AS x
 WHERE x.tenant_id = $1
   AND x.task_id   = ANY($2::uuid[])
   AND x.pending
   AND x.approval_id <> coalesce($3::uuid, '00000000-0000-0000-0000-000000000000'::uuid)
 ORDER BY x.task_id;

-- name: approvals_select
-- One approval ($3) or the approvals of team $2, status $4 (NULL: any); newest first.
SELECT a.id, a.tenant_id, a.team_id, a.task_id, a.agent_id, a.action_type, a.payload, a.confidence,
       a.rubric_scores, a.status, a.resolved_by, a.created_at, a.resolved_at,
       ARRAY(SELECT x.task_id FROM approval_tasks AS x WHERE x.approval_id = a.id ORDER BY x.task_id) AS task_ids,
       count(*) OVER () AS total
  FROM approvals AS a
 WHERE a.tenant_id = $1
   AND ($2::uuid IS NULL OR a.team_id = $2)
   AND ($3::uuid IS NULL OR a.id = $3)
   AND ($4::text IS NULL OR a.status = $4)
 ORDER BY a.created_at DESC, a.id DESC
 LIMIT $5 OFFSET $6;

-- name: approval_resolve
WITH done AS (
    UPDATE approvals
       SET status      = $3,
           resolved_by = $4,
           resolved_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END
     WHERE tenant_id = $1
       AND id        = $2
    RETURNING id
)
UPDATE approval_tasks AS x
   SET pending = ($3 = 'pending')
  FROM done
 WHERE x.approval_id = done.id;

-- name: approval_states
-- Whether task $2 has a pending approval, and an approved one.
SELECT coalesce(bool_or(a.status = 'pending'), false)  AS pending,
       coalesce(bool_or(a.status = 'approved'), false) AS approved
  FROM approval_tasks AS x
  JOIN approvals      AS a ON a.id = x.approval_id
 WHERE x.tenant_id = $1
   AND x.task_id   = $2;

-- name: tags_known
-- Which of the tag ids $2 are the tenant's.
SELECT g.id
  FROM tags AS g
 WHERE g.tenant_id = $1
   AND g.id        = ANY($2::uuid[]);

-- name: tags_replace
-- Task $2 now carries exactly the tags $3 (the tenant's, checked by the caller).
WITH gone AS (
    DELETE FROM task_tags
     WHERE tenant_id = $1
       AND task_id   = $2
       AND NOT (tag_id = ANY($3::uuid[]))
)
INSERT INTO task_tags (tenant_id, task_id, tag_id)
SELECT $1, $2, g
  FROM unnest($3::uuid[]) AS g
    ON CONFLICT DO NOTHING;

-- name: task_move
-- Task $2 moves to team $3, unless an edge (a dependency or link, either way) or a pending approval
-- ties it to its team: then nothing moves and NULL is returned. The caller holds the task's row lock
-- and its team's graph lock.
UPDATE tasks AS t
   SET team_id    = $3,
       updated_at = now()
 WHERE t.tenant_id = $1
   AND t.id        = $2
   AND NOT EXISTS (SELECT 1
                     FROM task_links AS l
                    WHERE l.tenant_id = $1
                      AND $2 IN (l.src_task_id, l.dst_task_id))
   AND NOT EXISTS (SELECT 1
                     FROM approval_tasks AS x
                    WHERE x.tenant_id = $1
                      AND x.task_id   = $2
                      AND x.pending)
RETURNING t.id;

-- name: overloaded_insert
-- ClawTasker's `overloaded` console notification for agent $2 when it owns more than 4 active tasks
-- (ready, in progress, review), named by its key; once while not dismissed
-- (notifications_overloaded_uidx). Every surface's task writes ask it (TaskService.check_load).
-- The new id, else NULL.
WITH active AS (
    SELECT count(*) AS n
      FROM tasks AS t
     WHERE t.tenant_id         = $1
       AND t.assignee_agent_id = $2
       AND t.status IN ('ready', 'in_progress', 'review')
)
INSERT INTO notifications (tenant_id, recipient_kind, recipient_id, kind, title, body, channel, status,
                           subject_agent_id)
SELECT $1, 'user', 'ceo', 'overloaded', g.agent_key || ' is overloaded',
       g.agent_key || ' owns ' || a.n || ' active tasks (more than 4).', 'ui', 'sent', $2
  FROM active      AS a
  JOIN agents      AS g ON g.tenant_id = $1 AND g.id = $2
 WHERE a.n > 4
    ON CONFLICT (tenant_id, subject_agent_id)
 WHERE kind = 'overloaded' AND recipient_kind = 'user' AND NOT dismissed
    DO NOTHING
RETURNING id;
