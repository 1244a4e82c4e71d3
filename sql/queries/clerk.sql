-- Clerk users of Mission Control (store/clerk.py): a Clerk user id ($1, the token's `sub`) is a
-- user of the tenants it has tenant_users rows in; which one its requests act in is its row of
-- clerk_active_tenants. Every statement names the user and reaches only that user's memberships.

-- name: memberships
-- The user's tenants, oldest membership first, with its tenant role, the MC role of its member row
-- (null before the row is made) and whether it is the stored active one.
SELECT t.id AS tenant_id, t.slug, t.name, t.status, tu.role, m.role AS member_role,
       (a.tenant_id IS NOT NULL) AS is_active
  FROM tenant_users AS tu
  JOIN tenants      AS t ON t.id = tu.tenant_id
  LEFT JOIN org_members AS m ON m.tenant_id = tu.tenant_id AND m.user_id = tu.user_id
  LEFT JOIN clerk_active_tenants AS a ON a.user_id = tu.user_id AND a.tenant_id = tu.tenant_id
 WHERE tu.user_id = $1
 ORDER BY tu.created_at, t.created_at, t.id;

-- name: set_active
-- Tenant $2 becomes the user's active one, only when the user is a member of it (else no row).
INSERT INTO clerk_active_tenants AS a (user_id, tenant_id)
SELECT tu.user_id, tu.tenant_id
  FROM tenant_users AS tu
 WHERE tu.user_id   = $1
   AND tu.tenant_id = $2
    ON CONFLICT (user_id) DO UPDATE
   SET tenant_id  = EXCLUDED.tenant_id,
       updated_at = now()
RETURNING a.tenant_id;

-- name: join
-- The user becomes a user of tenant $2 at least as $3 (an invite accepted): made when missing, a
-- role only ever rises (viewer < operator < admin < owner). The row as it is now comes back.
INSERT INTO tenant_users AS tu (tenant_id, user_id, role)
VALUES ($2, $1, $3)
    ON CONFLICT (tenant_id, user_id) DO UPDATE
   SET role = CASE WHEN array_position(ARRAY['viewer', 'operator', 'admin', 'owner'], EXCLUDED.role)
                      > array_position(ARRAY['viewer', 'operator', 'admin', 'owner'], tu.role)
                   THEN EXCLUDED.role ELSE tu.role END
RETURNING tu.role;

-- name: seed_profile
-- The member row of user $1 in tenant $2 made with these profile fields (first sight: the token's
-- claims, or the user's profile in the tenant it came from); an existing row is left as it is
-- (what the user set is never overwritten). Its role and flags are the defaults, raised later.
INSERT INTO org_members (tenant_id, user_id, email, name, preferred_name, pronouns, timezone, notes, context)
VALUES ($2, $1, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (tenant_id, user_id) DO NOTHING;

-- name: invite_tenant
-- The tenant of the pending invite whose token hashes to $1 (the token is the proof: whoever holds
-- it may accept it); none for an unknown, used or revoked token.
SELECT i.tenant_id
  FROM org_invites AS i
 WHERE i.token_hash  = $1
   AND i.accepted_at IS NULL;
