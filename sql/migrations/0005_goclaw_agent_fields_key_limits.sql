-- GoClaw's agent fields that ClawGate stores without giving them a behaviour (frontmatter,
-- self_evolve, budget_monthly_cents, reasoning_config ...), as GoClaw's dashboard sends them: one jsonb
-- object of the fields that are set (a field sent as null is removed: unset). Issue 10, dashboard 2.
ALTER TABLE agents ADD COLUMN goclaw_fields jsonb NOT NULL DEFAULT '{}'::jsonb;

-- An API key's own chat limit (requests per minute; NULL: the gateway's gateway.rate_limit_rpm,
-- 0: not limited). Issue 10, item 7.
ALTER TABLE api_keys ADD COLUMN rate_limit_rpm integer CHECK (rate_limit_rpm >= 0);
