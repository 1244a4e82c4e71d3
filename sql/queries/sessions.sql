-- name: get_by_key
SELECT s.*
  FROM sessions AS s
 WHERE s.tenant_id   = $1
   AND s.session_key = $2;

-- name: info
SELECT s.*, a.agent_key, a.display_name AS agent_name, a.context_window
  FROM sessions AS s
  JOIN agents   AS a ON a.id = s.agent_id
 WHERE s.tenant_id   = $1
   AND s.session_key = $2;

-- name: get_by_key_for_update
SELECT s.*
  FROM sessions AS s
 WHERE s.tenant_id   = $1
   AND s.session_key = $2
   FOR UPDATE;

-- name: insert
INSERT INTO sessions (tenant_id, session_key, agent_id, user_id, channel, label, model, provider, metadata)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (tenant_id, session_key) DO NOTHING
RETURNING *;

-- name: list
SELECT s.*, a.agent_key, a.display_name AS agent_name, a.context_window
  FROM sessions AS s
  JOIN agents   AS a ON a.id = s.agent_id
 WHERE s.tenant_id = $1
   AND ($2::text IS NULL OR s.user_id = $2)
   AND ($3::uuid IS NULL OR s.agent_id = $3)
   AND ($4::text IS NULL OR s.channel = $4 OR s.session_key LIKE '%:' || $4 || ':%')
 ORDER BY s.updated_at DESC
 LIMIT $5 OFFSET $6;

-- name: count
SELECT count(*)
  FROM sessions AS s
 WHERE s.tenant_id = $1
   AND ($2::text IS NULL OR s.user_id = $2)
   AND ($3::uuid IS NULL OR s.agent_id = $3)
   AND ($4::text IS NULL OR s.channel = $4 OR s.session_key LIKE '%:' || $4 || ':%');

-- name: patch
UPDATE sessions
   SET label      = coalesce($3, label),
       model      = coalesce($4, model),
       metadata   = coalesce($5, metadata),
       updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2
RETURNING *;

-- name: delete
DELETE FROM sessions
 WHERE tenant_id = $1
   AND id        = $2;

-- name: reset
UPDATE sessions
   SET summary = '', context_start = 0, message_count = 0, input_tokens = 0, output_tokens = 0,
       updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: delete_messages
DELETE FROM session_messages
 WHERE tenant_id  = $1
   AND session_id = $2;

-- name: set_context
UPDATE sessions
   SET summary = $3, context_start = $4, compaction_count = compaction_count + 1, updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2;

-- name: set_label_if_empty
UPDATE sessions
   SET label = $3
 WHERE tenant_id = $1
   AND id        = $2
   AND label     = ''
RETURNING id;

-- name: append_message
WITH bumped AS (
    UPDATE sessions
       SET message_count = message_count + 1, updated_at = now()
     WHERE tenant_id = $1
       AND id        = $2
    RETURNING message_count - 1 AS idx
)
INSERT INTO session_messages (tenant_id, session_id, idx, role, content, thinking, tool_calls,
                              tool_call_id, is_error, run_id, metadata)
SELECT $1, $2, bumped.idx, $3, $4, $5, $6, $7, $8, $9, $10
  FROM bumped
RETURNING idx, role, content, thinking, tool_calls, tool_call_id, is_error, run_id, metadata, created_at;

-- name: messages
SELECT m.idx, m.role, m.content, m.thinking, m.tool_calls, m.tool_call_id, m.is_error, m.run_id,
       m.metadata, m.created_at
  FROM session_messages AS m
 WHERE m.tenant_id  = $1
   AND m.session_id = $2
   AND m.idx       >= $3
 ORDER BY m.idx
 LIMIT $4;

-- name: copy_messages
INSERT INTO session_messages (tenant_id, session_id, idx, role, content, thinking, tool_calls,
                              tool_call_id, is_error, run_id, metadata, created_at)
SELECT m.tenant_id, $3, m.idx, m.role, m.content, m.thinking, m.tool_calls, m.tool_call_id,
       m.is_error, m.run_id, m.metadata, m.created_at
  FROM session_messages AS m
 WHERE m.tenant_id  = $1
   AND m.session_id = $2
   AND m.idx        < $4;

-- name: set_message_count
UPDATE sessions
   SET message_count = $3::integer, summary = $4, context_start = least($5::integer, $3::integer)
 WHERE tenant_id = $1
   AND id        = $2;
