-- name: list_all
SELECT t.id, t.name, t.slug, t.status, t.settings, t.created_at, t.updated_at
  FROM tenants AS t
 ORDER BY t.created_at, t.slug;

-- name: list_for_user
SELECT t.id, t.name, t.slug, t.status, t.settings, t.created_at, t.updated_at
  FROM tenants      AS t
  JOIN tenant_users AS tu ON tu.tenant_id = t.id
 WHERE tu.user_id = $1
 ORDER BY t.created_at, t.slug;

-- name: get_by_id
SELECT t.id, t.name, t.slug, t.status, t.settings, t.created_at, t.updated_at
  FROM tenants AS t
 WHERE t.id = $1;

-- name: get_by_slug
SELECT t.id, t.name, t.slug, t.status, t.settings, t.created_at, t.updated_at
  FROM tenants AS t
 WHERE t.slug = $1;

-- name: insert
INSERT INTO tenants (name, slug, settings)
VALUES ($1, $2, $3)
RETURNING id, name, slug, status, settings, created_at, updated_at;

-- name: update
UPDATE tenants
   SET name       = coalesce($2, name),
       status     = coalesce($3, status),
       settings   = coalesce($4, settings),
       updated_at = now()
 WHERE id = $1
RETURNING id, name, slug, status, settings, created_at, updated_at;

-- name: list_users
SELECT tu.id, tu.tenant_id, tu.user_id, tu.role, tu.display_name, tu.metadata, tu.created_at
  FROM tenant_users AS tu
 WHERE tu.tenant_id = $1
 ORDER BY tu.created_at, tu.user_id;

-- name: get_user
SELECT tu.id, tu.tenant_id, tu.user_id, tu.role, tu.display_name, tu.metadata, tu.created_at
  FROM tenant_users AS tu
 WHERE tu.tenant_id = $1
   AND tu.user_id   = $2;

-- name: upsert_user
INSERT INTO tenant_users (tenant_id, user_id, role, display_name)
VALUES ($1, $2, $3, $4)
    ON CONFLICT (tenant_id, user_id)
    DO UPDATE SET role = excluded.role, display_name = excluded.display_name
RETURNING id, tenant_id, user_id, role, display_name, metadata, created_at;

-- name: delete_user
DELETE FROM tenant_users
 WHERE tenant_id = $1
   AND user_id   = $2;
