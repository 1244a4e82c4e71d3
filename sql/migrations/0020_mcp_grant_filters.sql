-- MCP grants that narrow what they give (issue 13): GoClaw's tool_allow / tool_deny on agent and user
-- grants (tool names as the server lists them, or as agents see them with the prefix; an empty
-- allow list allows every tool, deny wins), config_overrides on agent grants (tool_prefix and
-- timeout_sec for that agent's runs), and the tool_allow an access request asks for, which its
-- approval puts on the grant.

ALTER TABLE mcp_agent_grants
    ADD COLUMN tool_allow       jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN tool_deny        jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN config_overrides jsonb NOT NULL DEFAULT '{}'::jsonb;

ALTER TABLE mcp_user_grants
    ADD COLUMN tool_allow jsonb NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN tool_deny  jsonb NOT NULL DEFAULT '[]'::jsonb;

ALTER TABLE mcp_access_requests
    ADD COLUMN tool_allow jsonb NOT NULL DEFAULT '[]'::jsonb;
