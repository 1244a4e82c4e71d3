-- name: list
SELECT p.id, p.tenant_id, p.name, p.display_name, p.provider_type, p.api_base, p.api_key,
       p.enabled, p.settings, p.created_at, p.updated_at
  FROM llm_providers AS p
 WHERE p.tenant_id = $1
 ORDER BY p.created_at, p.name;

-- name: get_by_id
SELECT p.id, p.tenant_id, p.name, p.display_name, p.provider_type, p.api_base, p.api_key,
       p.enabled, p.settings, p.created_at, p.updated_at
  FROM llm_providers AS p
 WHERE p.tenant_id = $1
   AND p.id        = $2;

-- name: get_by_name
SELECT p.id, p.tenant_id, p.name, p.display_name, p.provider_type, p.api_base, p.api_key,
       p.enabled, p.settings, p.created_at, p.updated_at
  FROM llm_providers AS p
 WHERE p.tenant_id = $1
   AND p.name      = $2;

-- name: insert
INSERT INTO llm_providers (tenant_id, name, display_name, provider_type, api_base, api_key, enabled, settings)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, tenant_id, name, display_name, provider_type, api_base, api_key,
          enabled, settings, created_at, updated_at;

-- name: update
UPDATE llm_providers
   SET name          = $3,
       display_name  = $4,
       provider_type = $5,
       api_base      = $6,
       api_key       = $7,
       enabled       = $8,
       settings      = $9,
       updated_at    = now()
 WHERE tenant_id = $1
   AND id        = $2
RETURNING id, tenant_id, name, display_name, provider_type, api_base, api_key,
          enabled, settings, created_at, updated_at;

-- name: delete
DELETE FROM llm_providers
 WHERE tenant_id = $1
   AND id        = $2;
