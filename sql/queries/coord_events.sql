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

-- name: version
-- The version of tenant $1's log a cache is built from or checked against: the newest seq, the
-- oldest transaction open ($2, or the reading snapshot's own xmin when NULL) and how many of the
-- tenant's events come from it or later ones. An event a cache has not seen either takes a larger
-- seq or comes from a transaction still open when the cache was read (a seq is taken at INSERT, so
-- it may be smaller and commit later): then it is counted here. Read in the cache's own snapshot.
WITH s AS (SELECT coalesce($2::text::xid8, pg_snapshot_xmin(pg_current_snapshot())) AS xmin)
SELECT coalesce((SELECT max(e.seq) FROM coord_events AS e WHERE e.tenant_id = $1), 0) AS top,
       s.xmin::text                                                                   AS xmin,
       (SELECT count(*) FROM coord_events AS e WHERE e.tenant_id = $1 AND e.xid >= s.xmin) AS recent
  FROM s;

-- name: since_version
-- The task and kind of tenant $1's events a cache read at version (top $2, xmin $3) has not seen
-- (and a few it has: those of transactions at or after $3 that committed before it was read), at
-- most $4.
SELECT e.task_id, e.kind
  FROM coord_events AS e
 WHERE e.tenant_id = $1
   AND (e.seq > $2 OR e.xid >= $3::text::xid8)
 LIMIT $4;
