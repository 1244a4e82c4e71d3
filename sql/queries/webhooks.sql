-- Mission Control's board webhooks and their payloads (store/webhooks.py). Every query takes the
-- tenant, except the ingest's lookup (ingest_target): the public URL names board and webhook.

-- name: insert
INSERT INTO board_webhooks (tenant_id, team_id, agent_id, description, enabled, secret, signature_header)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, team_id, agent_id, description, enabled, secret, signature_header, created_at, updated_at;

-- name: list
-- A board's webhooks, newest first, with the total.
SELECT w.id, w.team_id, w.agent_id, w.description, w.enabled, w.secret, w.signature_header,
       w.created_at, w.updated_at,
       count(*) OVER () AS total
  FROM board_webhooks AS w
 WHERE w.tenant_id = $1
   AND w.team_id   = $2
 ORDER BY w.created_at DESC, w.id
 LIMIT $3 OFFSET $4;

-- name: get
SELECT w.id, w.team_id, w.agent_id, w.description, w.enabled, w.secret, w.signature_header,
       w.created_at, w.updated_at
  FROM board_webhooks AS w
 WHERE w.tenant_id = $1
   AND w.team_id   = $2
   AND w.id        = $3;

-- name: update
-- The service merged the PATCH into the row: every field at once.
UPDATE board_webhooks
   SET agent_id         = $4,
       description      = $5,
       enabled          = $6,
       secret           = $7,
       signature_header = $8,
       updated_at       = now()
 WHERE tenant_id = $1
   AND team_id   = $2
   AND id        = $3
RETURNING id, team_id, agent_id, description, enabled, secret, signature_header, created_at, updated_at;

-- name: delete
-- The webhook and (ON DELETE CASCADE) its payloads.
DELETE FROM board_webhooks
 WHERE tenant_id = $1
   AND team_id   = $2
   AND id        = $3;

-- name: ingest_target
-- The webhook a public ingest URL names (board $1, webhook $2), with its tenant.
SELECT w.tenant_id, w.id, w.team_id, w.agent_id, w.description, w.enabled, w.secret, w.signature_header,
       w.created_at, w.updated_at
  FROM board_webhooks AS w
 WHERE w.team_id = $1
   AND w.id      = $2;

-- name: payload_insert
INSERT INTO board_webhook_payloads (tenant_id, team_id, webhook_id, payload, headers, source_ip, content_type)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, team_id, webhook_id, payload, headers, source_ip, content_type, received_at;

-- name: payload_list
-- A webhook's payloads, newest first, with the total.
SELECT p.id, p.team_id, p.webhook_id, p.payload, p.headers, p.source_ip, p.content_type, p.received_at,
       count(*) OVER () AS total
  FROM board_webhook_payloads AS p
 WHERE p.tenant_id  = $1
   AND p.team_id    = $2
   AND p.webhook_id = $3
 ORDER BY p.received_at DESC, p.id
 LIMIT $4 OFFSET $5;

-- name: payload_get
SELECT p.id, p.team_id, p.webhook_id, p.payload, p.headers, p.source_ip, p.content_type, p.received_at
  FROM board_webhook_payloads AS p
 WHERE p.tenant_id  = $1
   AND p.team_id    = $2
   AND p.webhook_id = $3
   AND p.id         = $4;
