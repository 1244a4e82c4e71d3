-- Skills: metadata, versions, files, grants and tenant overrides (store/skills.py). Every query
-- takes the tenant id as $1: the caller's (what it sees: its own skills and the master tenant's
-- public ones, with its own overrides and grants), or the owning tenant's for versions and files.

-- name: list
-- The skills tenant $1 sees (its own and master tenant $4's public ones), or the one $2 names (its
-- id or its slug; the tenant's own first).
SELECT s.id, s.tenant_id, s.slug, s.name, s.description, s.owner_id, s.visibility, s.tags, s.version,
       s.enabled, c.enabled AS tenant_enabled, s.status, s.frontmatter, s.file_hash, s.file_size,
       s.created_at, s.updated_at
  FROM skills                    AS s
  LEFT JOIN skill_tenant_configs AS c ON c.tenant_id = $1 AND c.skill_id = s.id
 WHERE (s.tenant_id = $1 OR (s.tenant_id = $4 AND s.visibility = 'public'))
   AND ($2::text IS NULL OR s.id = $3::uuid OR s.slug = $2)
 ORDER BY s.slug, s.tenant_id = $1 DESC;

-- name: lock_slug
-- The skill of slug $2 locked for the transaction (a concurrent upload of the same slug waits).
SELECT s.id, s.version, s.file_hash
  FROM skills AS s
 WHERE s.tenant_id = $1
   AND s.slug      = $2
   FOR UPDATE;

-- name: insert
INSERT INTO skills (tenant_id, slug, name, description, owner_id, visibility, tags, version, frontmatter,
                    file_hash, file_size)
VALUES ($1, $2, $3, $4, $5, $6, $7, $11, $8, $9, $10)
RETURNING id;

-- name: set_version
UPDATE skills
   SET version     = $3,
       name        = $4,
       description = $5,
       tags        = $6,
       frontmatter = $7,
       file_hash   = $8,
       file_size   = $9,
       updated_at  = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: version_insert
INSERT INTO skill_versions (tenant_id, skill_id, version, name, description, frontmatter, file_hash, file_size,
                            file_count, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: prune_versions
-- A skill's versions older than its last $3, except those an agent grant pins (a grant of any
-- tenant: the grants of a shared skill carry the granting tenant, and a pin must keep its version
-- whoever made it), with their files (ON DELETE CASCADE). Run under the skill's row lock.
DELETE FROM skill_versions AS v
 USING skills AS s
 WHERE s.tenant_id = $1
   AND s.id        = $2
   AND v.tenant_id = $1
   AND v.skill_id  = $2
   AND v.version  <= s.version - $3
   AND NOT EXISTS (SELECT 1
                     FROM skill_agent_grants AS g
                    WHERE g.skill_id       = v.skill_id
                      AND g.pinned_version = v.version);

-- name: share_lock
-- The skill's row shared-locked for the transaction: an upload (and its pruning) of the skill waits.
SELECT 1
  FROM skills AS s
 WHERE s.tenant_id = $1
   AND s.id        = $2
   FOR SHARE;

-- name: has_version
SELECT EXISTS (SELECT 1
                 FROM skill_versions AS v
                WHERE v.tenant_id = $1
                  AND v.skill_id  = $2
                  AND v.version   = $3);

-- name: file_insert
INSERT INTO skill_files (tenant_id, skill_id, version, path, content)
VALUES ($1, $2, $3, $4, $5);

-- name: update
UPDATE skills
   SET name        = coalesce($3, name),
       description = coalesce($4, description),
       visibility  = coalesce($5, visibility),
       tags        = coalesce($6, tags),
       updated_at  = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: toggle
UPDATE skills
   SET enabled    = $3,
       status     = CASE WHEN $3 THEN 'active' ELSE 'disabled' END,
       updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: delete
DELETE FROM skills
 WHERE tenant_id = $1
   AND id        = $2;

-- name: versions
SELECT v.version, v.name, v.description, v.file_hash, v.file_size, v.file_count, v.created_by, v.created_at
  FROM skill_versions AS v
 WHERE v.tenant_id = $1
   AND v.skill_id  = $2
 ORDER BY v.version DESC;

-- name: files
SELECT f.path, octet_length(f.content) AS size
  FROM skill_files AS f
 WHERE f.tenant_id = $1
   AND f.skill_id  = $2
   AND f.version   = $3
 ORDER BY f.path;

-- name: all_files
SELECT f.path, f.content
  FROM skill_files AS f
 WHERE f.tenant_id = $1
   AND f.skill_id  = $2
   AND f.version   = $3
 ORDER BY f.path;

-- name: file
SELECT f.content
  FROM skill_files AS f
 WHERE f.tenant_id = $1
   AND f.skill_id  = $2
   AND f.version   = $3
   AND f.path      = $4;

-- name: agent_grants
SELECT g.agent_id, a.agent_key, g.pinned_version, g.can_manage, g.granted_by, g.created_at
  FROM skill_agent_grants AS g
  JOIN agents             AS a ON a.tenant_id = g.tenant_id AND a.id = g.agent_id
 WHERE g.tenant_id = $1
   AND g.skill_id  = $2
   AND a.deleted_at IS NULL
 ORDER BY a.agent_key;

-- name: grant_agent
INSERT INTO skill_agent_grants (tenant_id, skill_id, agent_id, pinned_version, can_manage, granted_by)
VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (skill_id, agent_id)
    DO UPDATE SET pinned_version = excluded.pinned_version,
                  can_manage     = excluded.can_manage,
                  granted_by     = excluded.granted_by;

-- name: revoke_agent
DELETE FROM skill_agent_grants
 WHERE tenant_id = $1
   AND skill_id  = $2
   AND agent_id  = $3;

-- name: user_grants
SELECT g.user_id, g.granted_by, g.created_at
  FROM skill_user_grants AS g
 WHERE g.tenant_id = $1
   AND g.skill_id  = $2
 ORDER BY g.user_id;

-- name: grant_user
INSERT INTO skill_user_grants (tenant_id, skill_id, user_id, granted_by)
VALUES ($1, $2, $3, $4)
    ON CONFLICT (tenant_id, skill_id, user_id) DO UPDATE SET granted_by = excluded.granted_by;

-- name: revoke_user
DELETE FROM skill_user_grants
 WHERE tenant_id = $1
   AND skill_id  = $2
   AND user_id   = $3;

-- name: set_tenant_config
INSERT INTO skill_tenant_configs (tenant_id, skill_id, enabled)
VALUES ($1, $2, $3)
    ON CONFLICT (tenant_id, skill_id) DO UPDATE SET enabled = excluded.enabled, updated_at = now();

-- name: delete_tenant_config
DELETE FROM skill_tenant_configs
 WHERE tenant_id = $1
   AND skill_id  = $2;

-- name: agent_skills
-- Every skill tenant $1 sees (master tenant $3's public ones too) with whether agent $2 holds a
-- grant (GET /v1/agents/{id}/skills).
SELECT s.id, s.slug, s.name, s.description, s.version, s.visibility, s.tags,
       coalesce(c.enabled, s.enabled) AS enabled,
       g.agent_id IS NOT NULL        AS granted,
       g.pinned_version
  FROM skills                    AS s
  LEFT JOIN skill_tenant_configs AS c ON c.tenant_id = $1 AND c.skill_id = s.id
  LEFT JOIN skill_agent_grants   AS g ON g.tenant_id = $1 AND g.skill_id = s.id AND g.agent_id = $2
 WHERE (s.tenant_id = $1 OR (s.tenant_id = $3 AND s.visibility = 'public'))
 ORDER BY s.slug, s.tenant_id = $1 DESC;

-- name: catalog
-- The enabled skills tenant $1 sees (master tenant $2's public ones too) with its grants (to an
-- agent or a user, one row each), for the per-process catalog that runs read
-- (clawgate.services.skill_catalog.SkillCatalog). tenant_id: whose the files are.
SELECT s.id, s.tenant_id, s.slug, s.name, s.description, coalesce(g.pinned_version, s.version) AS version,
       g.agent_id, NULL::text AS user_id
  FROM skills                    AS s
  JOIN skill_agent_grants        AS g ON g.tenant_id = $1 AND g.skill_id = s.id
  JOIN agents                    AS a ON a.tenant_id = $1 AND a.id = g.agent_id AND a.deleted_at IS NULL
  LEFT JOIN skill_tenant_configs AS c ON c.tenant_id = $1 AND c.skill_id = s.id
 WHERE (s.tenant_id = $1 OR (s.tenant_id = $2 AND s.visibility = 'public'))
   AND coalesce(c.enabled, s.enabled)
UNION ALL
SELECT s.id, s.tenant_id, s.slug, s.name, s.description, s.version, NULL::uuid AS agent_id, u.user_id
  FROM skills                    AS s
  JOIN skill_user_grants         AS u ON u.tenant_id = $1 AND u.skill_id = s.id
  LEFT JOIN skill_tenant_configs AS c ON c.tenant_id = $1 AND c.skill_id = s.id
 WHERE (s.tenant_id = $1 OR (s.tenant_id = $2 AND s.visibility = 'public'))
   AND coalesce(c.enabled, s.enabled);

-- name: export_grants
SELECT g.skill_id, a.agent_key, g.pinned_version
  FROM skill_agent_grants AS g
  JOIN agents             AS a ON a.tenant_id = g.tenant_id AND a.id = g.agent_id AND a.deleted_at IS NULL
 WHERE g.tenant_id = $1
 ORDER BY a.agent_key;
