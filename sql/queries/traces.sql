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
SELECT t.*, t.start_time AS created_at
  FROM traces AS t
 WHERE t.tenant_id = $1
   AND ($2::text IS NULL OR t.user_id = $2)
   AND ($3::uuid IS NULL OR t.agent_id = $3)
   AND ($4::text IS NULL OR t.session_key = $4)
   AND ($7::text IS NULL OR t.status = $7)
   AND ($8::text IS NULL OR t.channel = $8)
   AND ($9::timestamptz IS NULL OR t.start_time >= $9)
   AND ($10::timestamptz IS NULL OR t.start_time < $10)
 ORDER BY t.start_time DESC
 LIMIT $5 OFFSET $6;

-- name: count
-- The traces `list` pages through (its filters, the same numbering).
SELECT count(*)
  FROM traces AS t
 WHERE t.tenant_id = $1
   AND ($2::text IS NULL OR t.user_id = $2)
   AND ($3::uuid IS NULL OR t.agent_id = $3)
   AND ($4::text IS NULL OR t.session_key = $4)
   AND ($5::text IS NULL OR t.status = $5)
   AND ($6::text IS NULL OR t.channel = $6)
   AND ($7::timestamptz IS NULL OR t.start_time >= $7)
   AND ($8::timestamptz IS NULL OR t.start_time < $8);

-- name: get
SELECT t.*, t.start_time AS created_at
  FROM traces AS t
 WHERE t.tenant_id = $1
   AND t.id        = $2;

-- name: spans
SELECT s.*, s.start_time AS created_at
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
SELECT t.*, t.start_time AS created_at
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

-- name: usage_buckets
-- Traces started in [$2, $3) per bucket of $9 (hour, day), and over the whole range (the row whose
-- bucket_time is NULL), from the same filtered rows. Provider and model live on the LLM spans.
SELECT date_trunc($9, t.start_time, 'UTC')                      AS bucket_time,
       count(*)                                                 AS request_count,
       count(*) FILTER (WHERE t.status = 'error')               AS error_count,
       count(DISTINCT t.user_id)                                AS unique_users,
       coalesce(sum(t.total_input_tokens), 0)::bigint           AS input_tokens,
       coalesce(sum(t.total_output_tokens), 0)::bigint          AS output_tokens,
       coalesce(sum(t.llm_call_count), 0)::bigint               AS llm_call_count,
       coalesce(sum(t.tool_call_count), 0)::bigint              AS tool_call_count,
       coalesce(round(avg(t.duration_ms)), 0)::bigint           AS avg_duration_ms
  FROM traces AS t
 WHERE t.tenant_id = $1
   AND t.start_time >= $2
   AND t.start_time <  $3
   AND ($4::text IS NULL OR t.user_id = $4)
   AND ($5::uuid IS NULL OR t.agent_id = $5)
   AND ($6::text IS NULL OR t.channel = $6)
   AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM spans AS s
                                     WHERE s.tenant_id = t.tenant_id AND s.trace_id = t.id
                                       AND s.span_type = 'llm_call' AND s.provider = $7))
   AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM spans AS s
                                     WHERE s.tenant_id = t.tenant_id AND s.trace_id = t.id
                                       AND s.span_type = 'llm_call' AND s.model = $8))
 GROUP BY GROUPING SETS ((date_trunc($9, t.start_time, 'UTC')), ())
 ORDER BY bucket_time NULLS FIRST;

-- name: usage_breakdown
-- The same traces as usage_buckets, by channel, or by the provider or model of their LLM calls.
SELECT coalesce(CASE $9 WHEN 'channel' THEN t.channel WHEN 'provider' THEN s.provider ELSE s.model END, '')
                                                                AS key,
       count(DISTINCT t.id)                                     AS request_count,
       count(s.id)                                              AS llm_call_count,
       coalesce(sum(s.input_tokens), 0)::bigint                 AS input_tokens,
       coalesce(sum(s.output_tokens), 0)::bigint                AS output_tokens,
       count(DISTINCT t.id) FILTER (WHERE t.status = 'error')   AS error_count,
       coalesce(round(avg(s.duration_ms)), 0)::bigint           AS avg_duration_ms
  FROM traces AS t
  LEFT JOIN spans AS s
         ON s.tenant_id = t.tenant_id AND s.trace_id = t.id AND s.span_type = 'llm_call'
 WHERE t.tenant_id = $1
   AND t.start_time >= $2
   AND t.start_time <  $3
   AND ($4::text IS NULL OR t.user_id = $4)
   AND ($5::uuid IS NULL OR t.agent_id = $5)
   AND ($6::text IS NULL OR t.channel = $6)
   AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM spans AS p
                                     WHERE p.tenant_id = t.tenant_id AND p.trace_id = t.id
                                       AND p.span_type = 'llm_call' AND p.provider = $7))
   AND ($8::text IS NULL OR EXISTS (SELECT 1 FROM spans AS m
                                     WHERE m.tenant_id = t.tenant_id AND m.trace_id = t.id
                                       AND m.span_type = 'llm_call' AND m.model = $8))
 GROUP BY 1
 ORDER BY coalesce(sum(s.input_tokens), 0) + coalesce(sum(s.output_tokens), 0) DESC, 1;
