-- name: insert
INSERT INTO runs (tenant_id, session_id, session_key, agent_id, user_id, process_id, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: get
SELECT r.*
  FROM runs AS r
 WHERE r.tenant_id = $1
   AND r.id        = $2;

-- name: active_for_session
SELECT r.*
  FROM runs AS r
 WHERE r.tenant_id  = $1
   AND r.session_id = $2
   AND r.status     = 'running';

-- name: by_idempotency
SELECT r.*
  FROM runs AS r
 WHERE r.tenant_id       = $1
   AND r.user_id         = $2
   AND r.idempotency_key = $3
   AND r.started_at      > now() - interval '24 hours';

-- name: finish
UPDATE runs
   SET status = $3, result = $4, error = $5, input_tokens = $6, output_tokens = $7, ended_at = now()
 WHERE tenant_id = $1
   AND id        = $2
   AND status    = 'running'
RETURNING id;

-- name: heartbeat
UPDATE runs
   SET heartbeat_at = now()
 WHERE process_id = $1
   AND status     = 'running';

-- name: running_processes
SELECT DISTINCT r.process_id
  FROM runs AS r
 WHERE r.status      = 'running'
   AND r.process_id <> $1;

-- name: fail_process
UPDATE runs
   SET status = 'failed', error = $2, ended_at = now()
 WHERE process_id = $1
   AND status     = 'running'
RETURNING id, tenant_id, session_key, user_id,
          coalesce((SELECT a.agent_key FROM agents AS a WHERE a.tenant_id = runs.tenant_id AND a.id = runs.agent_id),
                   agent_id::text) AS agent_key;

-- name: hold_liveness
SELECT pg_advisory_lock($1, hashtext($2));

-- name: other_live_processes
SELECT count(*)
  FROM pg_locks
 WHERE locktype = 'advisory'
   AND granted
   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND classid  = $1::int::oid
   AND objsubid = 2
   AND objid   <> hashtext($2)::oid;

-- name: liveness_free
SELECT pg_try_advisory_xact_lock($1, hashtext($2));

-- name: expire_idempotency
UPDATE runs
   SET idempotency_key = NULL
 WHERE idempotency_key IS NOT NULL
   AND started_at < now() - interval '24 hours';

-- name: checkpoint
-- A finished tool round in one statement (issue 13): its messages ($3, [{role, content, thinking,
-- tool_calls, tool_call_id, is_error}]) appended after the session's counter, and the user messages
-- after $4 committed before the statement began (injections). One that commits while the update
-- waits for the session's row lock comes after every one found (the lock orders their indexes), so
-- the next check (the next checkpoint or the run's end) finds it.
WITH bumped AS (
    UPDATE sessions
       SET message_count = message_count + jsonb_array_length($3::jsonb), updated_at = now()
     WHERE tenant_id = $1
       AND id        = $2
    RETURNING message_count - jsonb_array_length($3::jsonb) AS idx
), added AS (
    INSERT INTO session_messages (tenant_id, session_id, idx, role, content, thinking, tool_calls,
                                  tool_call_id, is_error, run_id)
    SELECT $1, $2, bumped.idx + m.n::integer - 1, m.v->>'role', m.v->>'content', m.v->>'thinking',
           m.v->'tool_calls', m.v->>'tool_call_id', (m.v->>'is_error')::boolean, $5
      FROM bumped, jsonb_array_elements($3::jsonb) WITH ORDINALITY AS m(v, n)
)
SELECT bumped.idx,
       (SELECT coalesce(jsonb_agg(jsonb_build_object('idx', u.idx, 'content', u.content) ORDER BY u.idx), '[]')
          FROM session_messages AS u
         WHERE u.tenant_id  = $1
           AND u.session_id = $2
           AND u.idx        > $4
           AND u.role       = 'user') AS unseen
  FROM bumped;

-- name: finish_completed
SELECT f.idx, f.unseen, f.version
  FROM clawgate_finish_run($1::jsonb) AS f;

-- name: decide_send
-- on_board: whether the agent is on a board (its runs get the board tools), answered here so that a
-- run needs no statement of its own for it.
SELECT d.outcome, d.session, d.run, d.active, d.user_idx,
       EXISTS (SELECT 1
                 FROM team_members AS m
                WHERE m.tenant_id = ($1::jsonb ->> 'tenant_id')::uuid
                  AND m.agent_id  = ($1::jsonb ->> 'agent_id')::uuid) AS on_board
  FROM clawgate_decide_send($1::jsonb) AS d;
