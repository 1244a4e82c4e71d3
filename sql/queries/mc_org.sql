-- Mission Control's organisation (store/mc_org.py): the tenant's members with their board access,
-- invites (the token kept as its SHA-256), and MC's gateway records. Every query takes the tenant
-- id first. Roles rank member < admin < owner (array_position over ARRAY['member','admin','owner']).

-- name: member_merge
-- The member $2 at least as $3 with at least the all-boards flags $4/$5 (made when missing): a
-- role only ever rises and a flag only ever turns on (an invite accepted, the caller's floor).
-- The row is written only when something rises; the row as it is now comes back either way
-- (none only when a concurrent first insert is not visible yet: the caller asks again).
WITH up AS (
    INSERT INTO org_members AS m (tenant_id, user_id, role, all_teams_read, all_teams_write)
    VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (tenant_id, user_id) DO UPDATE
       SET role            = CASE WHEN array_position(ARRAY['member', 'admin', 'owner'], EXCLUDED.role)
                                     > array_position(ARRAY['member', 'admin', 'owner'], m.role)
                                  THEN EXCLUDED.role ELSE m.role END,
           all_teams_read  = m.all_teams_read OR EXCLUDED.all_teams_read,
           all_teams_write = m.all_teams_write OR EXCLUDED.all_teams_write,
           updated_at      = now()
     WHERE array_position(ARRAY['member', 'admin', 'owner'], EXCLUDED.role)
           > array_position(ARRAY['member', 'admin', 'owner'], m.role)
        OR (EXCLUDED.all_teams_read AND NOT m.all_teams_read)
        OR (EXCLUDED.all_teams_write AND NOT m.all_teams_write)
    RETURNING m.id, m.tenant_id, m.user_id, m.role, m.email, m.name, m.preferred_name, m.pronouns, m.timezone,
              m.notes, m.context, m.all_teams_read, m.all_teams_write, m.created_at, m.updated_at
)
SELECT * FROM up
 UNION ALL
SELECT m.id, m.tenant_id, m.user_id, m.role, m.email, m.name, m.preferred_name, m.pronouns, m.timezone,
       m.notes, m.context, m.all_teams_read, m.all_teams_write, m.created_at, m.updated_at
  FROM org_members AS m
 WHERE m.tenant_id = $1
   AND m.user_id   = $2
   AND NOT EXISTS (SELECT 1 FROM up);

-- name: member_get
SELECT m.id, m.tenant_id, m.user_id, m.role, m.email, m.name, m.preferred_name, m.pronouns, m.timezone,
       m.notes, m.context, m.all_teams_read, m.all_teams_write, m.created_at, m.updated_at
  FROM org_members AS m
 WHERE m.tenant_id = $1
   AND m.id        = $2;

-- name: members_page
-- A page of members by email then name, with the total.
SELECT m.id, m.tenant_id, m.user_id, m.role, m.email, m.name, m.preferred_name, m.pronouns, m.timezone,
       m.notes, m.context, m.all_teams_read, m.all_teams_write, m.created_at, m.updated_at,
       count(*) OVER () AS total
  FROM org_members AS m
 WHERE m.tenant_id = $1
 ORDER BY lower(m.email) NULLS LAST, m.name NULLS LAST, m.created_at, m.id
 LIMIT $2 OFFSET $3;

-- name: member_profile
-- MC's profile fields of user $2, all at once (the service merged the PATCH into the row).
UPDATE org_members
   SET email          = $3,
       name           = $4,
       preferred_name = $5,
       pronouns       = $6,
       timezone       = $7,
       notes          = $8,
       context        = $9,
       updated_at     = now()
 WHERE tenant_id = $1
   AND user_id   = $2;

-- name: member_role
UPDATE org_members
   SET role       = $3,
       updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: member_flags
UPDATE org_members
   SET all_teams_read  = $3,
       all_teams_write = $4,
       updated_at      = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: member_delete
DELETE FROM org_members
 WHERE tenant_id = $1
   AND id        = $2;

-- name: owners_lock
-- The tenant's owners, locked: removing or demoting one takes turns, so the last owner stays.
SELECT m.id
  FROM org_members AS m
 WHERE m.tenant_id = $1
   AND m.role      = 'owner'
   FOR UPDATE;

-- name: access_of
-- User $2's per-board access rows (MC organization_board_access).
SELECT ac.team_id AS board_id, ac.can_read, ac.can_write, ac.created_at
  FROM team_access AS ac
 WHERE ac.tenant_id = $1
   AND ac.user_id   = $2
 ORDER BY ac.created_at, ac.team_id;

-- name: access_clear
DELETE FROM team_access
 WHERE tenant_id = $1
   AND user_id   = $2;

-- name: access_merge
-- Per-board access of user $2 from an invite's list ($3: [{board_id, can_read, can_write}]):
-- rights only ever turn on; boards no longer there are skipped.
INSERT INTO team_access AS ac (tenant_id, team_id, user_id, can_read, can_write)
SELECT $1, t.id, $2, coalesce((e ->> 'can_read')::boolean, true), coalesce((e ->> 'can_write')::boolean, false)
  FROM jsonb_array_elements($3::jsonb) AS e
  JOIN teams AS t ON t.tenant_id = $1 AND t.id = (e ->> 'board_id')::uuid
    ON CONFLICT (team_id, user_id) DO UPDATE
   SET can_read  = ac.can_read OR EXCLUDED.can_read,
       can_write = ac.can_write OR EXCLUDED.can_write;

-- name: boards_found
-- Which of the boards $2 are the tenant's.
SELECT t.id
  FROM teams AS t
 WHERE t.tenant_id = $1
   AND t.id        = ANY($2::uuid[]);

-- name: invite_insert
INSERT INTO org_invites (tenant_id, invited_email, token_hash, role, all_teams_read, all_teams_write,
                         team_access, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, tenant_id, invited_email, role, all_teams_read, all_teams_write, team_access, created_by,
          accepted_by, accepted_at, created_at;

-- name: invites_page
-- The pending invites, newest first, with the total.
SELECT i.id, i.tenant_id, i.invited_email, i.role, i.all_teams_read, i.all_teams_write, i.team_access,
       i.created_by, i.accepted_by, i.accepted_at, i.created_at, count(*) OVER () AS total
  FROM org_invites AS i
 WHERE i.tenant_id = $1
   AND i.accepted_at IS NULL
 ORDER BY i.created_at DESC, i.id
 LIMIT $2 OFFSET $3;

-- name: invite_delete
DELETE FROM org_invites AS i
 WHERE i.tenant_id = $1
   AND i.id        = $2
RETURNING i.id, i.tenant_id, i.invited_email, i.role, i.all_teams_read, i.all_teams_write, i.team_access,
          i.created_by, i.accepted_by, i.accepted_at, i.created_at;

-- name: invite_claim
-- Accept the pending invite whose token hashes to $2, once: two callers racing, one gets the row.
UPDATE org_invites AS i
   SET accepted_by = $3,
       accepted_at = now()
 WHERE i.tenant_id   = $1
   AND i.token_hash  = $2
   AND i.accepted_at IS NULL
RETURNING i.id, i.tenant_id, i.invited_email, i.role, i.all_teams_read, i.all_teams_write, i.team_access,
          i.created_by, i.accepted_by, i.accepted_at, i.created_at;

-- name: member_exists_by_email
SELECT EXISTS (SELECT 1 FROM org_members AS m WHERE m.tenant_id = $1 AND lower(m.email) = lower($2));

-- name: gateway_self
-- This ClawGate's own gateway row of the tenant, made once (the partial unique index decides).
INSERT INTO mc_gateways (tenant_id, name, is_self)
VALUES ($1, $2, true)
    ON CONFLICT (tenant_id) WHERE is_self DO NOTHING;

-- name: gateways_page
SELECT g.id, g.tenant_id, g.name, g.url, g.token, g.workspace_root, g.allow_insecure_tls,
       g.disable_device_pairing, g.is_self, g.created_at, g.updated_at, count(*) OVER () AS total
  FROM mc_gateways AS g
 WHERE g.tenant_id = $1
 ORDER BY g.is_self DESC, g.created_at, g.id
 LIMIT $2 OFFSET $3;

-- name: gateway_get
SELECT g.id, g.tenant_id, g.name, g.url, g.token, g.workspace_root, g.allow_insecure_tls,
       g.disable_device_pairing, g.is_self, g.created_at, g.updated_at
  FROM mc_gateways AS g
 WHERE g.tenant_id = $1
   AND g.id        = $2;

-- name: gateway_insert
INSERT INTO mc_gateways (tenant_id, name, url, token, workspace_root, allow_insecure_tls, disable_device_pairing)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id;

-- name: gateway_set
-- Every field at once (the service merged the PATCH into the row).
UPDATE mc_gateways
   SET name                   = $3,
       url                    = $4,
       token                  = $5,
       workspace_root         = $6,
       allow_insecure_tls     = $7,
       disable_device_pairing = $8,
       updated_at             = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: gateway_delete
DELETE FROM mc_gateways
 WHERE tenant_id = $1
   AND id        = $2
   AND NOT is_self;

-- -- the organisation deleted (DELETE /organizations/me): Mission Control's data of one tenant -----------

-- name: members_lock
-- Every member of the tenant, locked (a deletion of the organisation or of its last user takes turns).
SELECT m.id
  FROM org_members AS m
 WHERE m.tenant_id = $1
 ORDER BY m.id
   FOR UPDATE;

-- name: wipe_board_events
-- The event log of the boards made on Mission Control (the boards go next).
DELETE FROM coord_events AS e
 USING teams AS t
 WHERE e.tenant_id = $1
   AND t.tenant_id = $1
   AND t.kind      = 'board'
   AND e.team_id   = t.id;

-- name: wipe_boards
-- The boards made on Mission Control, with their tasks, approvals, memory, webhooks, onboarding and
-- access rows (foreign keys cascade); GoClaw's teams and ClawTasker's projects stay.
DELETE FROM teams
 WHERE tenant_id = $1
   AND kind      = 'board';

-- name: wipe_groups
DELETE FROM team_groups
 WHERE tenant_id = $1;

-- name: wipe_tags
DELETE FROM tags
 WHERE tenant_id = $1;

-- name: wipe_fields
DELETE FROM custom_field_defs
 WHERE tenant_id = $1;

-- name: wipe_gateways
DELETE FROM mc_gateways
 WHERE tenant_id = $1;

-- name: wipe_invites
DELETE FROM org_invites
 WHERE tenant_id = $1;

-- name: wipe_members
DELETE FROM org_members
 WHERE tenant_id = $1;
