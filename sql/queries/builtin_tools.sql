-- name: list
SELECT c.name, c.enabled, c.settings, c.updated_at
  FROM builtin_tool_configs AS c
 WHERE c.tenant_id = $1
 ORDER BY c.name;

-- name: put
INSERT INTO builtin_tool_configs (tenant_id, name, enabled, settings)
VALUES ($1, $2, $3, $4)
    ON CONFLICT (tenant_id, name)
    DO UPDATE SET enabled = excluded.enabled, settings = excluded.settings, updated_at = now()
RETURNING name, enabled, settings, updated_at;

-- name: delete
DELETE FROM builtin_tool_configs
 WHERE tenant_id = $1
   AND name      = $2;
