-- One round trip to record a finished request: its trace and spans, usage records, and (when the
-- request maps to a session) its messages and token counts. The session row is locked only for the
-- duration of this call, so concurrent requests of one session serialise on as little as possible.

CREATE FUNCTION clawgate_record_exchange(p jsonb) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    tenant  uuid  := (p->>'tenant_id')::uuid;
    t       jsonb := p->'trace';
    s       jsonb := p->'session';
    s_id    uuid;
    first   integer;
    n       integer;
BEGIN
    INSERT INTO traces (id, tenant_id, run_id, agent_id, user_id, session_key, name, channel, status, error,
                        input_preview, output_preview, total_input_tokens, total_output_tokens, span_count,
                        llm_call_count, tool_call_count, start_time, end_time, duration_ms)
    VALUES ((t->>'id')::uuid, tenant, (t->>'run_id')::uuid, (t->>'agent_id')::uuid, t->>'user_id',
            t->>'session_key', t->>'name', t->>'channel', t->>'status', t->>'error', t->>'input_preview',
            t->>'output_preview', (t->>'input_tokens')::bigint, (t->>'output_tokens')::bigint,
            (t->>'span_count')::integer, (t->>'llm_calls')::integer, (t->>'tool_calls')::integer,
            (t->>'start_time')::timestamptz, (t->>'end_time')::timestamptz,
            (extract(epoch FROM ((t->>'end_time')::timestamptz - (t->>'start_time')::timestamptz)) * 1000)::integer);

    INSERT INTO spans (tenant_id, trace_id, span_type, name, status, model, provider, tool_name, tool_call_id,
                       input_tokens, output_tokens, finish_reason, input_preview, output_preview, error,
                       start_time, end_time, duration_ms)
    SELECT tenant, (t->>'id')::uuid, x.span_type, x.name, x.status, x.model, x.provider, x.tool_name,
           x.tool_call_id, x.input_tokens, x.output_tokens, x.finish_reason, x.input_preview,
           x.output_preview, x.error, x.start_time, x.end_time,
           (extract(epoch FROM (x.end_time - x.start_time)) * 1000)::integer
      FROM jsonb_to_recordset(coalesce(p->'spans', '[]'::jsonb)) AS x(
               span_type text, name text, status text, model text, provider text, tool_name text,
               tool_call_id text, input_tokens integer, output_tokens integer, finish_reason text,
               input_preview text, output_preview text, error text, start_time timestamptz,
               end_time timestamptz);

    INSERT INTO usage_records (tenant_id, agent_id, agent_key, user_id, session_key, run_id, model, provider,
                               input_tokens, output_tokens)
    SELECT tenant, x.agent_id, x.agent_key, x.user_id, x.session_key, x.run_id, x.model, x.provider,
           x.input_tokens, x.output_tokens
      FROM jsonb_to_recordset(coalesce(p->'usage', '[]'::jsonb)) AS x(
               agent_id uuid, agent_key text, user_id text, session_key text, run_id uuid, model text,
               provider text, input_tokens integer, output_tokens integer);

    IF s IS NULL OR jsonb_typeof(s) = 'null' THEN
        RETURN;
    END IF;
    n := jsonb_array_length(coalesce(s->'messages', '[]'::jsonb));
    INSERT INTO sessions AS cur (tenant_id, session_key, agent_id, user_id, channel, model, provider,
                                 message_count, input_tokens, output_tokens)
    VALUES (tenant, s->>'key', (s->>'agent_id')::uuid, s->>'user_id', s->>'channel', s->>'model',
            s->>'provider', n, (s->>'input_tokens')::bigint, (s->>'output_tokens')::bigint)
        ON CONFLICT (tenant_id, session_key) DO UPDATE
       SET message_count = cur.message_count + n,
           input_tokens  = cur.input_tokens + excluded.input_tokens,
           output_tokens = cur.output_tokens + excluded.output_tokens,
           model         = CASE WHEN excluded.model = '' THEN cur.model ELSE excluded.model END,
           provider      = CASE WHEN excluded.provider = '' THEN cur.provider ELSE excluded.provider END,
           updated_at    = now()
    RETURNING cur.id, cur.message_count - n INTO s_id, first;

    INSERT INTO session_messages (tenant_id, session_id, idx, role, content, thinking, tool_calls,
                                  tool_call_id, run_id)
    SELECT tenant, s_id, first + (x.ord - 1)::integer, x.role, x.content, coalesce(x.thinking, ''),
           coalesce(x.tool_calls, '[]'::jsonb), coalesce(x.tool_call_id, ''), x.run_id
      FROM ROWS FROM (jsonb_to_recordset(coalesce(s->'messages', '[]'::jsonb)) AS (
               role text, content text, thinking text, tool_calls jsonb, tool_call_id text, run_id uuid))
           WITH ORDINALITY AS x(role, content, thinking, tool_calls, tool_call_id, run_id, ord);
END
$fn$;
