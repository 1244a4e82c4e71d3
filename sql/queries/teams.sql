-- Teams (GoClaw teams = MC boards = CT projects), their agent members, user access and groups
-- (store/teams.py). Every query takes the tenant id first.

-- name: team_insert
INSERT INTO teams (tenant_id, kind, name, slug, description, settings, created_by, group_id, key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id;

-- name: teams_select
-- One team ($2) or all; $3 non-NULL: only those the user $3 may read (an access row, Mission
-- Control's all-boards flags on their member row, or made by them).
-- With the lead (the member of role lead) and the member count.
SELECT t.id, t.tenant_id, t.group_id AS board_group_id, t.kind, t.key, t.name, t.slug, t.description, t.status, t.settings,
       t.gateway_id, t.board_type, t.objective, t.success_metrics, t.target_date, t.goal_confirmed,
       t.goal_source, t.require_approval_for_done, t.require_review_before_done,
       t.comment_required_for_review, t.block_status_changes_with_pending_approval,
       t.only_lead_can_change_status, t.max_agents, t.project, t.created_by, t.created_at, t.updated_at,
       lead.agent_id                                                    AS lead_agent_id,
       la.agent_key                                                     AS lead_agent_key,
       la.display_name                                                  AS lead_display_name,
       (SELECT count(*) FROM team_members AS m WHERE m.team_id = t.id) AS member_count
  FROM teams             AS t
  LEFT JOIN team_members AS lead ON lead.team_id = t.id AND lead.role = 'lead'
  LEFT JOIN agents       AS la   ON la.tenant_id = t.tenant_id AND la.id = lead.agent_id
 WHERE t.tenant_id = $1
   AND ($2::uuid IS NULL OR t.id = $2)
   AND ($3::text IS NULL
        OR t.created_by = $3
        OR EXISTS (SELECT 1
                     FROM team_access AS ac
                    WHERE ac.team_id = t.id
                      AND ac.user_id = $3
                      AND (ac.can_read OR ac.can_write))
        OR EXISTS (SELECT 1
                     FROM org_members AS om
                    WHERE om.tenant_id = $1
                      AND om.user_id   = $3
                      AND (om.all_teams_read OR om.all_teams_write)))
 ORDER BY t.created_at, t.id
 LIMIT $4 OFFSET $5;

-- name: readers
-- The users who may read team $2 (the set form of ``teams_select``'s filter for one user): its author,
-- those with an access row (read or write), and those with Mission Control's all-boards flags on
-- their member row. Admins and owners are not listed: they read every team.
SELECT t.created_by AS user_id
  FROM teams AS t
 WHERE t.tenant_id = $1 AND t.id = $2 AND t.created_by <> ''
 UNION
SELECT ac.user_id
  FROM team_access AS ac
 WHERE ac.tenant_id = $1 AND ac.team_id = $2 AND (ac.can_read OR ac.can_write)
 UNION
SELECT om.user_id
  FROM org_members AS om
 WHERE om.tenant_id = $1 AND (om.all_teams_read OR om.all_teams_write);

-- name: team_lock
SELECT t.id
  FROM teams AS t
 WHERE t.tenant_id = $1
   AND t.id        = $2
   FOR UPDATE;

-- name: team_update
-- NULL leaves a field as it is.
UPDATE teams
   SET name        = coalesce($3, name),
       description = coalesce($4, description),
       settings    = coalesce($5, settings),
       status      = coalesce($6, status),
       updated_at  = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: team_delete
DELETE FROM teams
 WHERE tenant_id = $1
   AND id        = $2;

-- name: member_put
-- Add an agent, or change its role.
INSERT INTO team_members (tenant_id, team_id, agent_id, role)
VALUES ($1, $2, $3, $4)
    ON CONFLICT (team_id, agent_id) DO UPDATE
   SET role = EXCLUDED.role;

-- name: member_remove
DELETE FROM team_members
 WHERE tenant_id = $1
   AND team_id   = $2
   AND agent_id  = $3
RETURNING role;

-- name: members_list
SELECT m.team_id, m.agent_id, m.role, m.joined_at, a.agent_key, a.display_name, a.agent_description, a.emoji
  FROM team_members AS m
  JOIN agents       AS a ON a.tenant_id = m.tenant_id AND a.id = m.agent_id
 WHERE m.tenant_id = $1
   AND m.team_id   = $2
 ORDER BY (m.role = 'lead') DESC, m.joined_at, a.agent_key;

-- name: led_by
-- The team the agent leads, if any.
SELECT t.id, t.name
  FROM team_members AS m
  JOIN teams        AS t ON t.id = m.team_id
 WHERE m.tenant_id = $1
   AND m.agent_id  = $2
   AND m.role      = 'lead';

-- name: access_put
INSERT INTO team_access (tenant_id, team_id, user_id, can_read, can_write)
VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (team_id, user_id) DO UPDATE
   SET can_read  = EXCLUDED.can_read,
       can_write = EXCLUDED.can_write;

-- name: known_users
-- The users a team has seen: who made its tasks, and who acted in its events (GoClaw's known users).
SELECT u.user_id
  FROM (SELECT t.user_id, t.created_at
          FROM tasks AS t
         WHERE t.tenant_id = $1 AND t.team_id = $2 AND t.user_id <> ''
         UNION ALL
        SELECT e.user_id, e.created_at
          FROM coord_events AS e
         WHERE e.tenant_id = $1 AND e.team_id = $2 AND e.user_id IS NOT NULL AND e.user_id <> '') AS u
 GROUP BY u.user_id
 ORDER BY max(u.created_at) DESC
 LIMIT $3;

-- name: scopes
-- The (channel, chat id) pairs the team's tasks came from (GoClaw's task scopes).
SELECT t.channel, t.chat_id, count(*) AS task_count
  FROM tasks AS t
 WHERE t.tenant_id = $1
   AND t.team_id   = $2
 GROUP BY t.channel, t.chat_id
 ORDER BY max(t.created_at) DESC
 LIMIT 200;

-- name: can_write
-- Whether user $3 may change team $2: its author, an access row with can_write, or Mission
-- Control's all-boards write flag on their member row.
SELECT EXISTS (SELECT 1 FROM teams AS t WHERE t.tenant_id = $1 AND t.id = $2 AND t.created_by = $3)
    OR EXISTS (SELECT 1 FROM team_access AS ac
                WHERE ac.tenant_id = $1 AND ac.team_id = $2 AND ac.user_id = $3 AND ac.can_write)
    OR EXISTS (SELECT 1 FROM org_members AS om
                WHERE om.tenant_id = $1 AND om.user_id = $3 AND om.all_teams_write);

-- name: board_set
-- Mission Control's board fields, all at once (the service merged the PATCH into the row).
UPDATE teams
   SET name                                       = $3,
       slug                                       = $4,
       description                                = $5,
       gateway_id                                 = $6,
       group_id                                   = $7,
       board_type                                 = $8,
       objective                                  = $9,
       success_metrics                            = $10,
       target_date                                = $11,
       goal_confirmed                             = $12,
       goal_source                                = $13,
       require_approval_for_done                  = $14,
       require_review_before_done                 = $15,
       comment_required_for_review                = $16,
       block_status_changes_with_pending_approval = $17,
       only_lead_can_change_status                = $18,
       max_agents                                 = $19,
       updated_at                                 = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: agent_exists
SELECT EXISTS (SELECT 1 FROM agents AS a WHERE a.tenant_id = $1 AND a.id = $2 AND a.deleted_at IS NULL);

-- name: attachment_put
-- Link a workspace file ($5 path, relative to the team's workspace) to task $3 of team $2; the
-- same path again refreshes its name, type and size.
INSERT INTO task_attachments (tenant_id, team_id, task_id, chat_id, path, file_name, mime_type, size, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (tenant_id, task_id, path)
    DO UPDATE SET file_name = EXCLUDED.file_name,
                  mime_type = EXCLUDED.mime_type,
                  size      = EXCLUDED.size
RETURNING id;

-- name: attachments_select
-- The attachments of team $2: one ($3), those of one task ($4), or all; oldest first.
SELECT at.id, at.team_id, at.task_id, at.chat_id, at.path, at.file_name, at.mime_type, at.size,
       at.created_by, at.created_at
  FROM task_attachments AS at
 WHERE at.tenant_id = $1
   AND at.team_id   = $2
   AND ($3::uuid IS NULL OR at.id = $3)
   AND ($4::uuid IS NULL OR at.task_id = $4)
 ORDER BY at.created_at, at.id;

-- name: attachment_counts
-- How many attachments each task of team $2 has (tasks without any are not listed).
SELECT at.task_id, count(*)::int AS n
  FROM task_attachments AS at
 WHERE at.tenant_id = $1
   AND at.team_id   = $2
 GROUP BY at.task_id;
