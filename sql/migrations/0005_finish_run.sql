-- A completed run's end in one statement (issue 9): its answer appended to the session, then, unless
-- a user message came in meanwhile, the run marked completed and its tokens added to the session. One
-- round trip and one commit instead of six. Each statement of a VOLATILE function sees what was
-- committed before it started (READ COMMITTED): a message injected while the append waited for the
-- session's row lock is found by the check that follows it.
--
-- p = {tenant_id, session_id, run_id, last_seen, content, thinking, result, input_tokens,
--      output_tokens, model, provider}. Returns the answer's index, the user messages after
-- last_seen ([{idx, content}], then the run goes on and nothing else was changed), and the
-- session's new updated_at when the run was ended.

CREATE FUNCTION clawgate_finish_run(p jsonb, OUT idx integer, OUT unseen jsonb, OUT version timestamptz)
LANGUAGE plpgsql AS $fn$
DECLARE
    tenant   uuid    := (p->>'tenant_id')::uuid;
    session  uuid    := (p->>'session_id')::uuid;
    run      uuid    := (p->>'run_id')::uuid;
BEGIN
    UPDATE sessions
       SET message_count = message_count + 1, updated_at = now()
     WHERE tenant_id = tenant
       AND id        = session
    RETURNING message_count - 1 INTO idx;
    IF idx IS NULL THEN
        RAISE EXCEPTION 'session % is gone', session USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO session_messages (tenant_id, session_id, idx, role, content, thinking, run_id)
    VALUES (tenant, session, idx, 'assistant', p->>'content', p->>'thinking', run);

    SELECT coalesce(jsonb_agg(jsonb_build_object('idx', m.idx, 'content', m.content) ORDER BY m.idx), '[]')
      INTO unseen
      FROM session_messages AS m
     WHERE m.tenant_id  = tenant
       AND m.session_id = session
       AND m.idx        > (p->>'last_seen')::integer
       AND m.role       = 'user';
    IF jsonb_array_length(unseen) > 0 THEN
        RETURN;
    END IF;

    UPDATE runs
       SET status = 'completed', result = (p->'result') || jsonb_build_object('message_id', idx),
           input_tokens = (p->>'input_tokens')::bigint, output_tokens = (p->>'output_tokens')::bigint,
           ended_at = now()
     WHERE tenant_id = tenant
       AND id        = run
       AND status    = 'running';

    UPDATE sessions
       SET input_tokens  = input_tokens + (p->>'input_tokens')::bigint,
           output_tokens = output_tokens + (p->>'output_tokens')::bigint,
           model         = CASE WHEN p->>'model' = '' THEN model ELSE p->>'model' END,
           provider      = CASE WHEN p->>'provider' = '' THEN provider ELSE p->>'provider' END,
           updated_at    = now()
     WHERE tenant_id = tenant
       AND id        = session
    RETURNING updated_at INTO version;
END
$fn$;
