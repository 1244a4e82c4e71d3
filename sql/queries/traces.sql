-- name: insert_trace
INSERT INTO traces (id, tenant_id, run_id, agent_id, user_id, session_key, name, channel, input_preview, start_time)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: finish_trace
UPDATE traces
   SET status = $3, error = $4, output_preview = $5, total_input_tokens = $6, total_output_tokens = $7,
       span_count = $8, llm_call_count = $9, tool_call_count = $10, end_time = $11,
       duration_ms = (extract(epoch FROM ($11 - start_time)) * 1000)::int
 WHERE tenant_id = $1
   AND id        = $2;

-- name: insert_span
INSERT INTO spans (tenant_id, trace_id, parent_span_id, span_type, name, status, model, provider, tool_name,
                   tool_call_id, input_tokens, output_tokens, finish_reason, input_preview, output_preview,
                   error, start_time, end_time, duration_ms)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19);

-- name: list
SELECT t.*
  FROM traces AS t
 WHERE t.tenant_id = $1
   AND ($2::text IS NULL OR t.user_id = $2)
   AND ($3::uuid IS NULL OR t.agent_id = $3)
   AND ($4::text IS NULL OR t.session_key = $4)
 ORDER BY t.start_time DESC
 LIMIT $5 OFFSET $6;

-- name: get
SELECT t.*
  FROM traces AS t
 WHERE t.tenant_id = $1
   AND t.id        = $2;

-- name: spans
SELECT s.*
  FROM spans AS s
 WHERE s.tenant_id = $1
   AND s.trace_id  = $2
 ORDER BY s.start_time, s.id;

-- name: insert_usage
INSERT INTO usage_records (tenant_id, agent_id, agent_key, user_id, session_key, run_id, model, provider,
                           input_tokens, output_tokens)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: usage_list
SELECT u.agent_key, u.session_key, u.model, u.provider, u.input_tokens, u.output_tokens, u.created_at
  FROM usage_records AS u
 WHERE u.tenant_id = $1
   AND ($2::text IS NULL OR u.agent_key = $2)
   AND ($3::text IS NULL OR u.user_id = $3)
 ORDER BY u.created_at DESC
 LIMIT $4 OFFSET $5;

-- name: usage_count
SELECT count(*)
  FROM usage_records AS u
 WHERE u.tenant_id = $1
   AND ($2::text IS NULL OR u.agent_key = $2)
   AND ($3::text IS NULL OR u.user_id = $3);

-- name: usage_summary
SELECT u.agent_key,
       sum(u.input_tokens)::bigint   AS input_tokens,
       sum(u.output_tokens)::bigint  AS output_tokens,
       count(DISTINCT u.session_key) AS sessions,
       count(*)                      AS records
  FROM usage_records AS u
 WHERE u.tenant_id = $1
   AND ($2::text IS NULL OR u.user_id = $2)
 GROUP BY u.agent_key;

-- name: follow
SELECT t.*
  FROM traces AS t
 WHERE t.tenant_id = $1
   AND ($2::text IS NULL OR t.user_id = $2)
   AND ($3::uuid IS NULL OR t.agent_id = $3)
   AND ($4::text IS NULL OR t.session_key = $4)
   AND ($5::text IS NULL OR t.status = $5)
   AND ($6::text IS NULL OR t.channel = $6)
   AND coalesce(t.end_time, t.start_time) > $7
 ORDER BY coalesce(t.end_time, t.start_time), t.id
 LIMIT $8;

-- name: record_exchanges
-- set_config(..., true) is SET LOCAL for this statement's own transaction, still in force when it
-- commits: the commit does not wait for the WAL flush.
SELECT set_config('synchronous_commit', 'off', true), clawgate_record_exchanges($1::jsonb);
