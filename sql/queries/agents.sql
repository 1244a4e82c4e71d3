-- name: list
SELECT a.*
  FROM agents AS a
 WHERE a.tenant_id = $1
   AND a.deleted_at IS NULL
 ORDER BY a.is_default DESC, a.created_at, a.agent_key;

-- name: get_by_id
SELECT a.*
  FROM agents AS a
 WHERE a.tenant_id = $1
   AND a.id        = $2
   AND a.deleted_at IS NULL;

-- name: get_by_key
SELECT a.*
  FROM agents AS a
 WHERE a.tenant_id = $1
   AND a.agent_key = $2
   AND a.deleted_at IS NULL;

-- name: get_default
SELECT a.*
  FROM agents AS a
 WHERE a.tenant_id = $1
   AND a.deleted_at IS NULL
 ORDER BY a.is_default DESC, a.created_at
 LIMIT 1;

-- name: clear_default
UPDATE agents
   SET is_default = false
 WHERE tenant_id = $1
   AND id       <> $2
   AND is_default;

-- name: soft_delete
UPDATE agents
   SET deleted_at = now(), is_default = false
 WHERE tenant_id = $1
   AND id        = $2
   AND deleted_at IS NULL;

-- name: list_files
SELECT f.file_name, length(f.content) AS size, f.updated_at
  FROM agent_context_files AS f
 WHERE f.tenant_id = $1
   AND f.agent_id  = $2
 ORDER BY f.file_name;

-- name: get_file
SELECT f.file_name, f.content, f.updated_at
  FROM agent_context_files AS f
 WHERE f.tenant_id = $1
   AND f.agent_id  = $2
   AND f.file_name = $3;

-- name: put_file
INSERT INTO agent_context_files (tenant_id, agent_id, file_name, content)
VALUES ($1, $2, $3, $4)
    ON CONFLICT (agent_id, file_name)
    DO UPDATE SET content = excluded.content, updated_at = now()
RETURNING file_name, content, updated_at;

-- name: insert
INSERT INTO agents (tenant_id, agent_key, display_name, agent_description, owner_id, provider, model,
                    context_window, max_tool_iterations, max_tokens, temperature, thinking_level,
                    workspace, restrict_to_workspace, agent_type, status, is_default, emoji,
                    tools_config, sandbox_config, subagents_config, memory_config, compaction_config,
                    context_pruning, other_config, model_fallback, goclaw_fields)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
        $19, $20, $21, $22, $23, $24, $25, $26, $27)
RETURNING *;

-- name: update
UPDATE agents
   SET agent_key = $3, display_name = $4, agent_description = $5, owner_id = $6, provider = $7,
       model = $8, context_window = $9, max_tool_iterations = $10, max_tokens = $11,
       temperature = $12, thinking_level = $13, workspace = $14, restrict_to_workspace = $15,
       agent_type = $16, status = $17, is_default = $18, emoji = $19, tools_config = $20,
       sandbox_config = $21, subagents_config = $22, memory_config = $23, compaction_config = $24,
       context_pruning = $25, other_config = $26, model_fallback = $27, goclaw_fields = $28,
       updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2
   AND deleted_at IS NULL
RETURNING *;

-- name: get_for_update
SELECT a.*
  FROM agents AS a
 WHERE a.tenant_id = $1
   AND a.id        = $2
   AND a.deleted_at IS NULL
   FOR UPDATE;

-- name: all_files
SELECT f.file_name, f.content, f.updated_at
  FROM agent_context_files AS f
 WHERE f.tenant_id = $1
   AND f.agent_id  = $2
 ORDER BY f.file_name;
