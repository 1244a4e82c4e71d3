-- Cron jobs and their run records (issue 12). Every query of a tenant's data takes the tenant id;
-- the scheduler's claim is the one statement that spans tenants (due jobs of every tenant).

-- name: insert
INSERT INTO cron_jobs (tenant_id, agent_id, user_id, name, enabled, schedule_kind, at_time, every_ms,
                       anchor_at, cron_expr, timezone, message, deliver, deliver_channel, deliver_to,
                       wake_heartbeat, stateless, delete_after_run, catch_up, catch_up_grace_ms,
                       timeout_ms, max_retries, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)
RETURNING *;

-- name: update
UPDATE cron_jobs
   SET agent_id = $3, name = $4, enabled = $5, schedule_kind = $6, at_time = $7, every_ms = $8,
       anchor_at = $9, cron_expr = $10, timezone = $11, message = $12, deliver = $13,
       deliver_channel = $14, deliver_to = $15, wake_heartbeat = $16, stateless = $17,
       delete_after_run = $18, catch_up = $19, catch_up_grace_ms = $20, timeout_ms = $21,
       max_retries = $22, next_run_at = $23, updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2
RETURNING *;

-- name: get
SELECT j.*
  FROM cron_jobs AS j
 WHERE j.tenant_id = $1
   AND j.id        = $2;

-- name: get_for_update
SELECT j.*
  FROM cron_jobs AS j
 WHERE j.tenant_id = $1
   AND j.id        = $2
   FOR UPDATE;

-- name: list
SELECT j.*
  FROM cron_jobs AS j
 WHERE j.tenant_id = $1
   AND ($2::text IS NULL OR j.user_id = $2)
   AND ($3::uuid IS NULL OR j.agent_id = $3)
   AND (j.enabled OR $4)
 ORDER BY j.created_at, j.id;

-- name: counts
SELECT count(*)                          AS jobs,
       count(*) FILTER (WHERE j.enabled) AS enabled
  FROM cron_jobs AS j
 WHERE j.tenant_id = $1
   AND ($2::text IS NULL OR j.user_id = $2);

-- name: delete
DELETE FROM cron_jobs
 WHERE tenant_id = $1
   AND id        = $2
RETURNING id;

-- name: set_enabled
UPDATE cron_jobs
   SET enabled = $3, next_run_at = $4, updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2
RETURNING *;

-- name: runs
SELECT r.*
  FROM cron_runs AS r
 WHERE r.tenant_id = $1
   AND ($2::uuid IS NULL OR r.job_id = $2)
   AND ($3::text IS NULL OR r.user_id = $3)
 ORDER BY r.scheduled_at DESC, r.created_at DESC
 LIMIT $4 OFFSET $5;

-- name: runs_count
SELECT count(*)
  FROM cron_runs AS r
 WHERE r.tenant_id = $1
   AND ($2::uuid IS NULL OR r.job_id = $2)
   AND ($3::text IS NULL OR r.user_id = $3);

-- name: next_due
-- The earliest due time of any enabled job or heartbeat (the scheduler sleeps until then).
SELECT least((SELECT min(j.next_run_at) FROM cron_jobs AS j WHERE j.enabled AND j.next_run_at IS NOT NULL),
             (SELECT min(h.next_run_at)
                FROM agent_heartbeats AS h
                JOIN agents AS a ON a.id = h.agent_id AND a.deleted_at IS NULL
               WHERE h.enabled AND h.next_run_at IS NOT NULL))
       AS next_at,
       now() AS db_now;

-- name: claim
-- Due jobs of every tenant, locked for this transaction; others claiming at the same time skip them.
SELECT j.*,
       EXISTS (SELECT 1 FROM cron_runs AS r WHERE r.job_id = j.id AND r.status = 'running') AS busy,
       now() AS db_now
  FROM cron_jobs AS j
 WHERE j.enabled
   AND j.next_run_at <= now()
 ORDER BY j.next_run_at
 LIMIT $1
   FOR UPDATE OF j SKIP LOCKED;

-- name: advance
UPDATE cron_jobs AS j
   SET next_run_at = u.next_run_at,
       enabled     = u.enabled
  FROM unnest($1::uuid[], $2::timestamptz[], $3::boolean[]) AS u (id, next_run_at, enabled)
 WHERE j.id = u.id;

-- name: record
-- One record per due time (or manual run); a due time recorded already is left alone.
INSERT INTO cron_runs (tenant_id, job_id, job_name, agent_id, user_id, trigger, scheduled_at, started_at,
                       ended_at, status, error, session_key, process_id)
SELECT u.tenant_id, u.job_id, u.job_name, u.agent_id, u.user_id, u.trigger, u.scheduled_at,
       CASE WHEN u.status = 'running' THEN now() END,
       CASE WHEN u.status = 'running' THEN NULL ELSE now() END,
       u.status, u.error, u.session_key, $11
  FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::text[], $6::text[], $7::timestamptz[],
              $8::text[], $9::text[], $10::text[])
       AS u (tenant_id, job_id, job_name, agent_id, user_id, trigger, scheduled_at, status, error, session_key)
    ON CONFLICT (job_id, scheduled_at) WHERE trigger = 'schedule' DO NOTHING
RETURNING id, job_id, scheduled_at, status, started_at;

-- name: mark_last
-- The job's last outcome as its records say (jobs deleted meanwhile are skipped).
UPDATE cron_jobs AS j
   SET last_run_at = u.at, last_status = u.status, last_error = u.error
  FROM unnest($1::uuid[], $2::timestamptz[], $3::text[], $4::text[]) AS u (id, at, status, error)
 WHERE j.id = u.id;

-- name: delete_many
DELETE FROM cron_jobs
 WHERE id = ANY($1::uuid[]);

-- name: finish_run
WITH done AS (
    UPDATE cron_runs
       SET status = $3, attempts = $4, summary = $5, error = $6, duration_ms = $7, input_tokens = $8,
           output_tokens = $9, run_id = $10, session_key = $11, ended_at = now()
     WHERE tenant_id = $1
       AND id        = $2
       AND status    = 'running'
    RETURNING job_id, ended_at, status, error
)
UPDATE cron_jobs AS j
   SET last_run_at = done.ended_at, last_status = done.status, last_error = done.error
  FROM done
 WHERE j.id = done.job_id
RETURNING j.id;

-- name: run_get
SELECT r.*
  FROM cron_runs AS r
 WHERE r.tenant_id = $1
   AND r.id        = $2;

-- name: running_processes
SELECT DISTINCT r.process_id
  FROM cron_runs AS r
 WHERE r.status      = 'running'
   AND r.process_id <> $1;

-- name: interrupt_process
WITH cut AS (
    UPDATE cron_runs
       SET status = 'interrupted', error = $2, ended_at = now(),
           duration_ms = (extract(epoch FROM now() - coalesce(started_at, now())) * 1000)::bigint
     WHERE process_id = $1
       AND status     = 'running'
    RETURNING id, tenant_id, job_id, job_name, user_id, ended_at
), last AS (
    UPDATE cron_jobs AS j
       SET last_run_at = cut.ended_at, last_status = 'interrupted', last_error = $2
      FROM cut
     WHERE j.id = cut.job_id
)
SELECT cut.id, cut.tenant_id, cut.job_id, cut.job_name, cut.user_id
  FROM cut;
