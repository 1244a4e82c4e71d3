-- Episodic summaries: written when a session is compacted, listed and searched (store/episodic.py).
-- $1 is always the tenant. A reader $3 sees its own summaries and those of sessions without a user
-- ('' ); NULL: everyone's.

-- name: insert
-- Once per (agent, source): a second writer of the same compaction finds the row there.
INSERT INTO episodic_summaries (tenant_id, agent_id, user_id, session_key, summary, l0_abstract, source_type,
                                source_id, turn_count, token_count, started_at, ended_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
    ON CONFLICT (tenant_id, agent_id, source_id) DO NOTHING
RETURNING id;

-- name: set_embedding
UPDATE episodic_summaries
   SET embedder  = $3,
       dims      = $4,
       embedding = $5
 WHERE tenant_id = $1
   AND id        = $2;

-- name: list
SELECT s.id, s.agent_id, s.user_id, s.session_key, s.summary, s.l0_abstract, s.key_topics, s.source_type,
       s.source_id, s.turn_count, s.token_count, s.started_at, s.ended_at, s.expires_at, s.recall_count,
       s.last_recalled_at, s.embedder, s.created_at
  FROM episodic_summaries AS s
 WHERE s.tenant_id = $1
   AND s.agent_id  = $2
   AND ($3::text IS NULL OR s.user_id = '' OR s.user_id = $3)
 ORDER BY s.created_at DESC, s.id
 LIMIT $4 OFFSET $5;

-- name: by_ids
SELECT s.id, s.agent_id, s.user_id, s.session_key, s.summary, s.l0_abstract, s.key_topics, s.source_type,
       s.source_id, s.turn_count, s.token_count, s.started_at, s.ended_at, s.expires_at, s.recall_count,
       s.last_recalled_at, s.embedder, s.created_at
  FROM episodic_summaries AS s
 WHERE s.tenant_id = $1
   AND s.agent_id  = $2
   AND s.id        = ANY($3::uuid[]);

-- name: search_text
SELECT s.id, ts_rank(s.search_vector, q) AS score
  FROM episodic_summaries AS s,
       plainto_tsquery('english', $4) AS q
 WHERE s.tenant_id = $1
   AND s.agent_id  = $2
   AND ($3::text IS NULL OR s.user_id = '' OR s.user_id = $3)
   AND s.search_vector @@ q
 ORDER BY score DESC
 LIMIT $5;

-- name: search_vector_384
-- Served by the partial HNSW index of halfvecs (same cast, same predicate as migration 0011).
SELECT s.id, 1 - ((s.embedding::vector(384)) <=> $4::vector(384)) AS score
  FROM episodic_summaries AS s
 WHERE s.tenant_id = $1
   AND s.agent_id  = $2
   AND ($3::text IS NULL OR s.user_id = '' OR s.user_id = $3)
   AND s.dims      = 384
   AND s.embedder  = $5
 ORDER BY (s.embedding::halfvec(384)) <=> $4::halfvec(384)
 LIMIT $6;

-- name: search_vector
SELECT s.id, 1 - (s.embedding <=> $4) AS score
  FROM episodic_summaries AS s
 WHERE s.tenant_id = $1
   AND s.agent_id  = $2
   AND ($3::text IS NULL OR s.user_id = '' OR s.user_id = $3)
   AND s.dims      = vector_dims($4)
   AND s.embedder  = $5
 ORDER BY s.embedding <=> $4
 LIMIT $6;

-- name: recalled
UPDATE episodic_summaries
   SET recall_count     = recall_count + 1,
       last_recalled_at = now()
 WHERE tenant_id = $1
   AND id        = ANY($2::uuid[]);

-- name: pending_tenants
-- The tenants with summaries to embed for embedder $1 (never embedded, or by another embedder).
SELECT DISTINCT s.tenant_id
  FROM episodic_summaries AS s
 WHERE s.embedder <> $1;

-- name: pending
SELECT s.id, s.summary
  FROM episodic_summaries AS s
 WHERE s.tenant_id = $1
   AND s.embedder <> $2
 ORDER BY s.created_at
 LIMIT $3;

-- name: idle_sessions
-- Sessions of the last 7 days quiet for their agent's idle time (compaction_config.episodicIdleMinutes,
-- else $1 minutes; 0 turns it off), with at least $2 messages in context, whose present state has no
-- idle episode yet: the sweep's work list, oldest first (every tenant's; each row names its tenant).
SELECT s.tenant_id, s.id, s.session_key, s.agent_id, s.user_id, s.summary, s.context_start, s.message_count
  FROM sessions AS s
  JOIN agents   AS a ON a.tenant_id = s.tenant_id AND a.id = s.agent_id AND a.deleted_at IS NULL
 CROSS JOIN LATERAL (
       SELECT CASE WHEN jsonb_typeof(a.compaction_config -> 'episodicIdleMinutes') = 'number'
                   THEN (a.compaction_config ->> 'episodicIdleMinutes')::float8
                   ELSE $1::float8 END AS minutes) AS idle
 WHERE s.updated_at > now() - interval '7 days'
   AND idle.minutes > 0
   AND s.updated_at < now() - make_interval(secs => idle.minutes * 60)
   AND s.message_count - s.context_start >= $2
   AND NOT EXISTS (SELECT 1
                     FROM episodic_summaries AS e
                    WHERE e.tenant_id = s.tenant_id
                      AND e.agent_id  = s.agent_id
                      AND e.source_id = s.id::text || ':idle:' || s.message_count)
 ORDER BY s.updated_at
 LIMIT $3;

-- name: scope_exceeds
-- Whether agent $2 holds more than $3 summaries (store/_vectors.py: an exact scan up to that size).
SELECT count(*) > $3
  FROM (SELECT 1 FROM episodic_summaries AS s WHERE s.tenant_id = $1 AND s.agent_id = $2
         LIMIT $3 + 1) AS s;

-- name: expire
-- Delete up to $1 summaries past their expiry, of every tenant (the background pass; rows another
-- transaction holds are left to the next round).
DELETE FROM episodic_summaries
 WHERE id IN (SELECT s.id
                FROM episodic_summaries AS s
               WHERE s.expires_at < now()
               LIMIT $1
                 FOR UPDATE SKIP LOCKED);
