-- name: insert
INSERT INTO api_keys (tenant_id, is_system, name, prefix, key_hash, scopes, owner_id, created_by, expires_at,
                      rate_limit_rpm)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
RETURNING id, tenant_id, is_system, name, prefix, scopes, owner_id, created_by, expires_at,
          last_used_at, revoked, revoked_at, created_at, rate_limit_rpm;

-- name: list
SELECT k.id, k.tenant_id, k.is_system, k.name, k.prefix, k.scopes, k.owner_id, k.created_by,
       k.expires_at, k.last_used_at, k.revoked, k.revoked_at, k.created_at, k.rate_limit_rpm
  FROM api_keys AS k
 WHERE k.tenant_id = $1
 ORDER BY k.created_at DESC;

-- name: candidates_by_prefix
SELECT k.id, k.tenant_id, k.is_system, k.name, k.prefix, k.key_hash, k.scopes, k.owner_id,
       k.created_by, k.expires_at, k.last_used_at, k.revoked, k.revoked_at, k.created_at, k.rate_limit_rpm
  FROM api_keys AS k
 WHERE k.prefix = $1;

-- name: revoke
UPDATE api_keys
   SET revoked = true, revoked_at = coalesce(revoked_at, now())
 WHERE tenant_id = $1
   AND id        = $2
RETURNING id;

-- name: touch
UPDATE api_keys
   SET last_used_at = now()
 WHERE id = $1;
