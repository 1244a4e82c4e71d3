-- name: list
SELECT c.key, c.value, c.updated_at
  FROM system_configs AS c
 WHERE c.tenant_id = $1
 ORDER BY c.key;

-- name: get
SELECT c.key, c.value, c.updated_at
  FROM system_configs AS c
 WHERE c.tenant_id = $1
   AND c.key       = $2;

-- name: put
INSERT INTO system_configs (tenant_id, key, value)
VALUES ($1, $2, $3)
    ON CONFLICT (tenant_id, key)
    DO UPDATE SET value = excluded.value, updated_at = now()
RETURNING key, value, updated_at;

-- name: delete
DELETE FROM system_configs
 WHERE tenant_id = $1
   AND key       = $2;
