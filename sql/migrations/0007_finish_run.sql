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

-- chat.send's decision in one statement (issue 9): under the session's row lock (the session created
-- first if need be), replay a repeated idempotency key, abort or inject into the active run, or store
-- the user message and a new run. One round trip and one commit before the model is called, instead
-- of six. As above, each statement sees what was committed before it started: the active run is
-- looked up once the lock is held. A run insert refused by the unique indexes (a concurrent send
-- won) fails the whole statement, and the caller decides again.
--
-- p = {tenant_id, key, agent_id, user_id, channel, content, metadata, sees_all, idempotency_key,
--      cancel, process_id}. outcome: forbidden (another user's session), replay (run: the earlier
-- run), abort or injected (active: the active run), started (run: the new run, user_idx).

CREATE FUNCTION clawgate_decide_send(p jsonb, OUT outcome text, OUT session jsonb, OUT run jsonb,
                                     OUT active uuid, OUT user_idx integer)
LANGUAGE plpgsql AS $fn$
DECLARE
    tenant  uuid := (p->>'tenant_id')::uuid;
    idem    text := p->>'idempotency_key';
    s       sessions%ROWTYPE;
BEGIN
    SELECT * INTO s FROM sessions WHERE tenant_id = tenant AND session_key = p->>'key' FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO sessions (tenant_id, session_key, agent_id, user_id, channel)
        VALUES (tenant, p->>'key', (p->>'agent_id')::uuid, p->>'user_id', p->>'channel')
            ON CONFLICT (tenant_id, session_key) DO NOTHING;
        SELECT * INTO s FROM sessions WHERE tenant_id = tenant AND session_key = p->>'key' FOR UPDATE;
    END IF;
    session := to_jsonb(s);
    IF NOT (p->>'sees_all')::boolean AND s.user_id <> '' AND s.user_id <> p->>'user_id' THEN
        outcome := 'forbidden';
        RETURN;
    END IF;
    IF idem IS NOT NULL THEN
        SELECT to_jsonb(r) INTO run
          FROM runs AS r
         WHERE r.tenant_id = tenant AND r.user_id = p->>'user_id' AND r.idempotency_key = idem
           AND r.started_at > now() - interval '24 hours';
        IF run IS NOT NULL THEN
            outcome := 'replay';
            RETURN;
        END IF;
    END IF;
    SELECT r.id INTO active FROM runs AS r WHERE r.tenant_id = tenant AND r.session_id = s.id AND r.status = 'running';
    IF active IS NOT NULL AND (p->>'cancel')::boolean THEN
        outcome := 'abort';
        RETURN;
    END IF;

    UPDATE sessions SET message_count = message_count + 1, updated_at = now()
     WHERE tenant_id = tenant AND id = s.id
    RETURNING message_count - 1 INTO user_idx;
    INSERT INTO session_messages (tenant_id, session_id, idx, role, content, metadata)
    VALUES (tenant, s.id, user_idx, 'user', p->>'content',
            CASE WHEN active IS NULL THEN p->'metadata' ELSE '{}'::jsonb END);
    IF active IS NOT NULL THEN
        outcome := 'injected';
        RETURN;
    END IF;

    IF idem IS NOT NULL THEN  -- a key past 24 hours is free again: the unique index would refuse it
        UPDATE runs SET idempotency_key = NULL
         WHERE tenant_id = tenant AND user_id = p->>'user_id' AND idempotency_key = idem
           AND started_at <= now() - interval '24 hours';
    END IF;
    INSERT INTO runs (tenant_id, session_id, session_key, agent_id, user_id, process_id, idempotency_key)
    VALUES (tenant, s.id, p->>'key', (p->>'agent_id')::uuid, p->>'user_id', p->>'process_id', idem)
    RETURNING to_jsonb(runs) INTO run;
    outcome := 'started';
END
$fn$;
