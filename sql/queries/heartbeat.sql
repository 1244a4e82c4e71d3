-- Agent heartbeats and their run records (issue 12). Every query of a tenant's data takes the tenant
-- id; the scheduler's claim spans tenants (due heartbeats of live agents of every tenant).

-- name: get
SELECT h.*
  FROM agent_heartbeats AS h
 WHERE h.tenant_id = $1
   AND h.agent_id  = $2;

-- name: get_for_update
SELECT h.*
  FROM agent_heartbeats AS h
 WHERE h.tenant_id = $1
   AND h.agent_id  = $2
   FOR UPDATE;

-- name: upsert
INSERT INTO agent_heartbeats (tenant_id, agent_id, enabled, interval_sec, prompt, provider_name, model,
                              isolated_session, light_context, ack_max_chars, max_retries, active_hours_start,
                              active_hours_end, timezone, channel, chat_id, next_run_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
    ON CONFLICT (tenant_id, agent_id) DO UPDATE
   SET enabled = EXCLUDED.enabled, interval_sec = EXCLUDED.interval_sec, prompt = EXCLUDED.prompt,
       provider_name = EXCLUDED.provider_name, model = EXCLUDED.model,
       isolated_session = EXCLUDED.isolated_session, light_context = EXCLUDED.light_context,
       ack_max_chars = EXCLUDED.ack_max_chars, max_retries = EXCLUDED.max_retries,
       active_hours_start = EXCLUDED.active_hours_start, active_hours_end = EXCLUDED.active_hours_end,
       timezone = EXCLUDED.timezone, channel = EXCLUDED.channel, chat_id = EXCLUDED.chat_id,
       next_run_at = EXCLUDED.next_run_at, updated_at = now()
RETURNING *;

-- name: wake
-- Due now (heartbeat.test, a cron job's wakeHeartbeat); only an enabled heartbeat.
UPDATE agent_heartbeats
   SET next_run_at = now()
 WHERE tenant_id = $1
   AND agent_id  = $2
   AND enabled
RETURNING id;

-- name: logs
SELECT r.*
  FROM heartbeat_runs AS r
 WHERE r.tenant_id = $1
   AND r.agent_id  = $2
 ORDER BY r.scheduled_at DESC, r.created_at DESC
 LIMIT $3 OFFSET $4;

-- name: logs_count
SELECT count(*)
  FROM heartbeat_runs AS r
 WHERE r.tenant_id = $1
   AND r.agent_id  = $2;

-- name: claim
SELECT h.*, a.agent_key,
       EXISTS (SELECT 1 FROM runs AS r
                WHERE r.tenant_id = h.tenant_id AND r.agent_id = h.agent_id AND r.status = 'running') AS busy,
       coalesce((SELECT f.content FROM agent_context_files AS f
                  WHERE f.agent_id = h.agent_id AND f.file_name = 'HEARTBEAT.md'), '') AS checklist,
       now() AS db_now
  FROM agent_heartbeats AS h
  JOIN agents AS a ON a.id = h.agent_id AND a.deleted_at IS NULL
 WHERE h.enabled
   AND h.next_run_at <= now()
 ORDER BY h.next_run_at
 LIMIT $1
   FOR UPDATE OF h SKIP LOCKED;

-- name: advance
UPDATE agent_heartbeats AS h
   SET next_run_at = u.next_run_at
  FROM unnest($1::uuid[], $2::timestamptz[]) AS u (id, next_run_at)
 WHERE h.id = u.id;

-- name: record
INSERT INTO heartbeat_runs (tenant_id, heartbeat_id, agent_id, trigger, scheduled_at, started_at, ended_at,
                            status, skip_reason, error, process_id)
SELECT u.tenant_id, u.heartbeat_id, u.agent_id, 'schedule', u.scheduled_at,
       CASE WHEN u.status = 'running' THEN now() END,
       CASE WHEN u.status = 'running' THEN NULL ELSE now() END,
       u.status, u.skip_reason, u.error, $8
  FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::timestamptz[], $5::text[], $6::text[], $7::text[])
       AS u (tenant_id, heartbeat_id, agent_id, scheduled_at, status, skip_reason, error)
    ON CONFLICT (heartbeat_id, scheduled_at) WHERE trigger = 'schedule' DO NOTHING
RETURNING id, heartbeat_id, scheduled_at, status;

-- name: mark_skipped
UPDATE agent_heartbeats AS h
   SET last_run_at = now(), last_status = 'skipped', last_error = u.reason
  FROM unnest($1::uuid[], $2::text[]) AS u (id, reason)
 WHERE h.id = u.id;

-- name: finish_run
WITH done AS (
    UPDATE heartbeat_runs
       SET status = $3, attempts = $4, summary = $5, error = $6, duration_ms = $7, input_tokens = $8,
           output_tokens = $9, run_id = $10, session_key = $11, ended_at = now()
     WHERE tenant_id = $1
       AND id        = $2
       AND status    = 'running'
    RETURNING heartbeat_id, ended_at, status, error
)
UPDATE agent_heartbeats AS h
   SET last_run_at = done.ended_at, last_status = done.status, last_error = done.error,
       run_count = h.run_count + 1,
       suppress_count = h.suppress_count + (done.status = 'suppressed')::int
  FROM done
 WHERE h.id = done.heartbeat_id
RETURNING h.id;

-- name: running_processes
SELECT DISTINCT r.process_id
  FROM heartbeat_runs AS r
 WHERE r.status      = 'running'
   AND r.process_id <> $1;

-- name: interrupt_process
WITH cut AS (
    UPDATE heartbeat_runs
       SET status = 'interrupted', error = $2, ended_at = now()
     WHERE process_id = $1
       AND status     = 'running'
    RETURNING id, tenant_id, heartbeat_id, agent_id, ended_at
), last AS (
    UPDATE agent_heartbeats AS h
       SET last_run_at = cut.ended_at, last_status = 'interrupted', last_error = $2
      FROM cut
     WHERE h.id = cut.heartbeat_id
)
SELECT cut.id, cut.tenant_id, cut.agent_id
  FROM cut;

-- name: targets
-- Sessions of the agent a heartbeat may deliver to (ClawGate has no channels: a target is a session).
SELECT s.session_key, s.channel, s.label, s.user_id
  FROM sessions AS s
 WHERE s.tenant_id = $1
   AND s.agent_id  = $2
   AND ($3::text IS NULL OR s.user_id = $3)
   AND s.channel NOT IN ('cron', 'heartbeat')
 ORDER BY s.updated_at DESC
 LIMIT 50;
