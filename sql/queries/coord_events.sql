-- The coordination event log (store/coord_events.py): append, and read after a cursor.

-- name: append
INSERT INTO coord_events (tenant_id, team_id, group_id, task_id, agent_id, user_id, kind, message, data)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING seq, id, created_at;

-- name: after
-- Events of tenant $1 after seq $2, of team $3 / task $4 / kinds $5 / board group $7 (NULL: any),
-- oldest first, at most $6. Only those below the oldest transaction still open: a seq is taken at INSERT, so a
-- smaller one may commit after a larger one; a reader that moved past it would never see it.
SELECT e.seq, e.id, e.tenant_id, e.team_id, e.group_id, e.task_id, e.agent_id, e.user_id, e.kind,
       e.message, e.data, e.created_at
  FROM coord_events AS e
 WHERE e.tenant_id = $1
   AND e.seq       > $2
   AND ($3::uuid IS NULL OR e.team_id = $3)
   AND ($4::uuid IS NULL OR e.task_id = $4)
   AND ($5::text[] IS NULL OR e.kind = ANY($5))
   AND ($7::uuid IS NULL OR e.group_id = $7)
   AND e.xid < pg_snapshot_xmin(pg_current_snapshot())
 ORDER BY e.seq
 LIMIT $6;

-- name: page
-- Events of team $2 / task $3 / kinds $4 (NULL: any), newest first, page $5 / $6.
SELECT e.seq, e.id, e.tenant_id, e.team_id, e.group_id, e.task_id, e.agent_id, e.user_id, e.kind,
       e.message, e.data, e.created_at
  FROM coord_events AS e
 WHERE e.tenant_id = $1
   AND ($2::uuid IS NULL OR e.team_id = $2)
   AND ($3::uuid IS NULL OR e.task_id = $3)
   AND ($4::text[] IS NULL OR e.kind = ANY($4))
 ORDER BY e.seq DESC
 LIMIT $5 OFFSET $6;

-- name: cursor_at
-- The cursor just before time $2 (MC's since=): the last event of the tenant created before it.
SELECT coalesce(max(e.seq), 0)
  FROM coord_events AS e
 WHERE e.tenant_id  = $1
   AND e.created_at < $2;

-- name: cursor_now
SELECT coalesce(max(e.seq), 0)
  FROM coord_events AS e
 WHERE e.tenant_id = $1;
