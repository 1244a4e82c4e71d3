-- name: list_servers
SELECT s.id, s.tenant_id, s.name, s.transport, s.command, s.args, s.url, s.headers, s.env,
       s.api_key, s.tool_prefix, s.timeout_sec, s.agent_id, s.enabled, s.config, s.settings,
       s.created_by, s.created_at, s.updated_at
  FROM mcp_servers AS s
 WHERE s.tenant_id = $1
 ORDER BY s.name;

-- name: insert_server
INSERT INTO mcp_servers (tenant_id, name, transport, command, args, url, headers, env, api_key,
                         tool_prefix, timeout_sec, agent_id, enabled, config, settings, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
RETURNING id, tenant_id, name, transport, command, args, url, headers, env, api_key, tool_prefix,
          timeout_sec, agent_id, enabled, config, settings, created_by, created_at, updated_at;

-- name: update_server
UPDATE mcp_servers
   SET name = $3, transport = $4, command = $5, args = $6, url = $7, headers = $8, env = $9,
       api_key = $10, tool_prefix = $11, timeout_sec = $12, agent_id = $13, enabled = $14,
       config = $15, settings = $16, updated_at = now()
 WHERE tenant_id = $1
   AND id        = $2
RETURNING id, tenant_id, name, transport, command, args, url, headers, env, api_key, tool_prefix,
          timeout_sec, agent_id, enabled, config, settings, created_by, created_at, updated_at;

-- name: delete_server
DELETE FROM mcp_servers
 WHERE tenant_id = $1
   AND id        = $2;

-- name: list_agent_grants
SELECT g.server_id, g.agent_id, g.tool_allow, g.tool_deny, g.config_overrides, g.granted_by, g.created_at
  FROM mcp_agent_grants AS g
 WHERE g.tenant_id = $1
 ORDER BY g.created_at;

-- name: grant_agent
INSERT INTO mcp_agent_grants (tenant_id, server_id, agent_id, granted_by, tool_allow, tool_deny, config_overrides)
VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (server_id, agent_id)
    DO UPDATE SET tool_allow = excluded.tool_allow, tool_deny = excluded.tool_deny,
                  config_overrides = excluded.config_overrides, granted_by = excluded.granted_by;

-- name: revoke_agent
DELETE FROM mcp_agent_grants
 WHERE tenant_id = $1
   AND server_id = $2
   AND agent_id  = $3;

-- name: list_user_grants
SELECT g.server_id, g.user_id, g.tool_allow, g.tool_deny, g.granted_by, g.created_at
  FROM mcp_user_grants AS g
 WHERE g.tenant_id = $1
 ORDER BY g.created_at;

-- name: grant_user
INSERT INTO mcp_user_grants (tenant_id, server_id, user_id, granted_by, tool_allow, tool_deny)
VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (server_id, user_id)
    DO UPDATE SET tool_allow = excluded.tool_allow, tool_deny = excluded.tool_deny,
                  granted_by = excluded.granted_by;

-- name: revoke_user
DELETE FROM mcp_user_grants
 WHERE tenant_id = $1
   AND server_id = $2
   AND user_id   = $3;

-- name: put_credentials
INSERT INTO mcp_user_credentials (tenant_id, server_id, user_id, api_key, headers, env)
VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (server_id, user_id)
    DO UPDATE SET api_key = excluded.api_key, headers = excluded.headers, env = excluded.env,
                  updated_at = now()
RETURNING api_key, headers, env, updated_at;

-- name: delete_credentials
DELETE FROM mcp_user_credentials
 WHERE tenant_id = $1
   AND server_id = $2
   AND user_id   = $3;

-- name: list_credentials
SELECT c.server_id, c.user_id, c.api_key, c.headers, c.env, c.updated_at
  FROM mcp_user_credentials AS c
 WHERE c.tenant_id = $1;

-- name: insert_request
INSERT INTO mcp_access_requests (tenant_id, server_id, agent_id, user_id, requested_by, reason, tool_allow)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, server_id, agent_id, user_id, requested_by, reason, tool_allow, status, reviewed_by,
          review_note, created_at, reviewed_at;

-- name: list_requests
SELECT r.id, r.server_id, r.agent_id, r.user_id, r.requested_by, r.reason, r.tool_allow, r.status,
       r.reviewed_by, r.review_note, r.created_at, r.reviewed_at
  FROM mcp_access_requests AS r
 WHERE r.tenant_id = $1
   AND ($2::text IS NULL OR r.status = $2)
 ORDER BY r.created_at
 LIMIT 1000;

-- name: review_request
UPDATE mcp_access_requests
   SET status = $3, reviewed_by = $4, review_note = $5, reviewed_at = now()
 WHERE tenant_id = $1
   AND id        = $2
   AND status    = 'pending'
RETURNING id, server_id, agent_id, user_id, requested_by, reason, tool_allow, status, reviewed_by,
          review_note, created_at, reviewed_at;
