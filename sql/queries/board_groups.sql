-- Mission Control's board groups (team_groups), their boards and agents, and MC's heartbeat every
-- (store/board_groups.py); group memory is agent_api.sql's memory_thread / memory_list. Every query takes the tenant id first.

-- name: group_insert
INSERT INTO team_groups (tenant_id, name, slug, description)
VALUES ($1, $2, $3, $4)
RETURNING id, tenant_id, name, slug, description, created_at, updated_at;

-- name: groups_select
-- One group ($2) or all, by name; $3 non-NULL: only those user $3 may read, by ``teams_select``'s
-- rule: every group with Mission Control's all-boards flags on their member row, else those with a
-- board they may read (an access row, or a board they made).
SELECT g.id, g.tenant_id, g.name, g.slug, g.description, g.created_at, g.updated_at,
       count(*) OVER () AS total
  FROM team_groups AS g
 WHERE g.tenant_id = $1
   AND ($2::uuid IS NULL OR g.id = $2)
   AND ($3::text IS NULL
        OR EXISTS (SELECT 1
                     FROM teams AS t
                    WHERE t.tenant_id = g.tenant_id
                      AND t.group_id  = g.id
                      AND (t.created_by = $3
                           OR EXISTS (SELECT 1
                                        FROM team_access AS ac
                                       WHERE ac.team_id = t.id
                                         AND ac.user_id = $3
                                         AND (ac.can_read OR ac.can_write))))
        OR EXISTS (SELECT 1
                     FROM org_members AS om
                    WHERE om.tenant_id = $1
                      AND om.user_id   = $3
                      AND (om.all_teams_read OR om.all_teams_write)))
 ORDER BY lower(g.name), g.id
 LIMIT $4 OFFSET $5;

-- name: group_update
-- The service merged the PATCH into the row.
UPDATE team_groups
   SET name        = $3,
       slug        = $4,
       description = $5,
       updated_at  = now()
 WHERE tenant_id = $1
   AND id        = $2
RETURNING id, tenant_id, name, slug, description, created_at, updated_at;

-- name: group_delete
-- Its boards leave it (the foreign key sets their group_id NULL); its memory goes with it.
DELETE FROM team_groups
 WHERE tenant_id = $1
   AND id        = $2;

-- name: group_board_ids
-- The group's boards, by name.
SELECT t.id
  FROM teams AS t
 WHERE t.tenant_id = $1
   AND t.group_id  = $2
 ORDER BY lower(t.name), t.id;

-- name: group_agents
-- The agents of the group's boards, one row per (agent, board), leads first.
SELECT m.agent_id, m.team_id AS board_id, m.role, a.agent_key, a.display_name
  FROM teams        AS t
  JOIN team_members AS m ON m.tenant_id = t.tenant_id AND m.team_id = t.id
  JOIN agents       AS a ON a.tenant_id = m.tenant_id AND a.id = m.agent_id
 WHERE t.tenant_id = $1
   AND t.group_id  = $2
   AND a.deleted_at IS NULL
 ORDER BY (m.role = 'lead') DESC, lower(t.name), t.id, a.agent_key;

-- name: heartbeat_every
-- MC's heartbeat_config.every of an agent (the presence row is made on first use).
INSERT INTO agent_presence (tenant_id, agent_id, heartbeat_config)
VALUES ($1, $2, jsonb_build_object('every', $3::text, 'target', 'last', 'includeReasoning', false))
    ON CONFLICT (agent_id) DO UPDATE
   SET heartbeat_config = agent_presence.heartbeat_config || jsonb_build_object('every', $3::text),
       updated_at       = now()
 WHERE agent_presence.tenant_id = EXCLUDED.tenant_id;
