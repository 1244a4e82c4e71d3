-- Agent memory: documents, their chunks, searches, and the embedding cache (store/memory.py).
-- A document's owner is ($agent, user) where user '' means shared by the agent's users
-- (user_id NULL); coalesce(user_id, '') matches the unique index.

-- name: document_get
SELECT d.id, d.tenant_id, d.agent_id, d.user_id, d.path, d.content, d.hash, d.index_status,
       d.embedder, d.index_error, d.created_at, d.updated_at
  FROM memory_documents AS d
 WHERE d.tenant_id             = $1
   AND d.agent_id              = $2
   AND coalesce(d.user_id, '') = $3
   AND d.path                  = $4;

-- name: document_upsert
INSERT INTO memory_documents (tenant_id, agent_id, user_id, path, content, hash)
VALUES ($1, $2, nullif($3, ''), $4, $5, $6)
    ON CONFLICT (tenant_id, agent_id, coalesce(user_id, ''), path) DO UPDATE
   SET content      = excluded.content,
       hash         = excluded.hash,
       index_status = 'pending',
       embedder     = '',
       index_error  = '',
       updated_at   = now()
RETURNING id, tenant_id, agent_id, user_id, path, content, hash, index_status, embedder, index_error,
          created_at, updated_at;

-- name: document_delete
DELETE FROM memory_documents
 WHERE tenant_id             = $1
   AND agent_id              = $2
   AND coalesce(user_id, '') = $3
   AND path                  = $4;

-- name: document_mark
UPDATE memory_documents
   SET index_status = $4,
       embedder     = $5,
       index_error  = $6
 WHERE tenant_id = $1
   AND id        = $2
   AND hash      = $3;

-- name: documents_list
-- $2 NULL: every agent of the tenant; $3 NULL: every user's documents, else shared ones and $3's.
SELECT d.id, d.agent_id, a.agent_key, d.user_id, d.path, d.hash, d.index_status, d.embedder,
       length(d.content) AS size,
       (SELECT count(*) FROM memory_chunks AS c WHERE c.document_id = d.id) AS chunk_count,
       d.created_at, d.updated_at
  FROM memory_documents AS d
  JOIN agents           AS a ON a.id = d.agent_id AND a.tenant_id = d.tenant_id
 WHERE d.tenant_id = $1
   AND ($2::uuid IS NULL OR d.agent_id = $2)
   AND ($3::text IS NULL OR d.user_id IS NULL OR d.user_id = $3)
 ORDER BY a.agent_key, d.path, d.user_id NULLS FIRST
 LIMIT $4 OFFSET $5;

-- name: documents_pending
-- Documents waiting for embeddings, or embedded by another embedder than $4 (the current one).
-- A pending document written less than $5 seconds ago without an error is its writer's to embed
-- (it does so as it answers): left out, so that no other pass embeds it at the same time.
SELECT d.id, d.tenant_id, d.agent_id, d.user_id, d.path, d.content, d.hash, d.index_status,
       d.embedder, d.index_error, d.created_at, d.updated_at
  FROM memory_documents AS d
 WHERE d.tenant_id = $1
   AND ($2::uuid IS NULL OR d.agent_id = $2)
   AND (d.index_status = 'pending' OR d.embedder <> $4)
   AND NOT (d.index_status = 'pending' AND d.index_error = ''
            AND d.updated_at > now() - make_interval(secs => $5))
 ORDER BY d.updated_at
 LIMIT $3;

-- name: pending_tenants
-- The tenants with documents to index for embedder $1 (the background indexer's work list).
SELECT DISTINCT d.tenant_id
  FROM memory_documents AS d
 WHERE d.index_status = 'pending'
    OR d.embedder <> $1;

-- name: chunks_delete
DELETE FROM memory_chunks
 WHERE tenant_id   = $1
   AND document_id = $2;

-- name: chunks_insert
INSERT INTO memory_chunks (tenant_id, agent_id, document_id, user_id, path, start_line, end_line, hash, text)
SELECT $1, $2, $3, nullif($4, ''), $5, c.start_line, c.end_line, c.hash, c.text
  FROM unnest($6::integer[], $7::integer[], $8::text[], $9::text[]) AS c (start_line, end_line, hash, text);

-- name: chunks_insert_embedded
-- Chunks whose embeddings the writer computed ($10 vectors of embedder $11, all of one dimension).
INSERT INTO memory_chunks (tenant_id, agent_id, document_id, user_id, path, start_line, end_line, hash, text,
                           embedder, dims, embedding)
SELECT $1, $2, $3, nullif($4, ''), $5, c.start_line, c.end_line, c.hash, c.text, $11, vector_dims(c.embedding),
       c.embedding
  FROM unnest($6::integer[], $7::integer[], $8::text[], $9::text[], $10::vector[])
       AS c (start_line, end_line, hash, text, embedding);

-- name: chunks_of_document
SELECT c.id, c.hash, c.text
  FROM memory_chunks AS c
 WHERE c.tenant_id   = $1
   AND c.document_id = $2
 ORDER BY c.start_line;

-- name: chunk_set_embedding
UPDATE memory_chunks
   SET embedder  = $3,
       dims      = $4,
       embedding = $5
 WHERE tenant_id = $1
   AND id        = $2;

-- name: chunks_list
-- $3 NULL: every user's chunks, else the shared ones and $3's. $4 NULL: every document.
SELECT c.id, c.document_id, c.user_id, c.path, c.start_line, c.end_line, c.hash, c.text, c.embedder,
       c.embedding IS NOT NULL AS embedded
  FROM memory_chunks AS c
 WHERE c.tenant_id = $1
   AND c.agent_id  = $2
   AND ($3::text IS NULL OR c.user_id IS NULL OR c.user_id = $3)
   AND ($4::text IS NULL OR c.path = $4)
 ORDER BY c.path, c.user_id NULLS FIRST, c.start_line
 LIMIT $5 OFFSET $6;

-- name: search_settings
-- Filtered vector searches keep their recall: the HNSW scan goes on (up to max_scan_tuples index
-- tuples) until enough rows pass the filters. Sorting is off for the transaction so that the planner
-- reads the agent's nearest chunks through HNSW rather than fetching all its chunks through the
-- tenant/agent index and sorting them (its estimates favour the latter; it is 10x slower at 100k).
SELECT set_config('hnsw.iterative_scan', 'relaxed_order', true),
       set_config('hnsw.ef_search', $1::integer::text, true),
       set_config('hnsw.max_scan_tuples', $2::integer::text, true),
       set_config('enable_sort', 'off', true);

-- name: scope_exceeds
-- Whether the agent holds more than $3 chunks (an index-only count that stops at $3 + 1).
SELECT count(*) > $3
  FROM (SELECT 1 FROM memory_chunks AS c WHERE c.tenant_id = $1 AND c.agent_id = $2 LIMIT $3 + 1) AS s;

-- name: search_text
SELECT c.path, c.start_line, c.end_line, c.text, c.user_id, ts_rank(c.tsv, q) AS score
  FROM memory_chunks AS c,
       plainto_tsquery('simple', $4) AS q
 WHERE c.tenant_id = $1
   AND c.agent_id  = $2
   AND (c.user_id IS NULL OR c.user_id = $3)
   AND starts_with(c.path, $5)
   AND c.tsv @@ q
 ORDER BY score DESC
 LIMIT $6;

-- name: search_vector_384
-- An agent above the exact-scan size, at the offline default's dimension: its chunks admitted to the
-- partial HNSW index of halfvecs (migration 0012: same cast, same predicate), the filters applied
-- during the scan, and its chunks not admitted yet by an exact scan (the backlog index); the score
-- from the full vectors.
WITH ann AS MATERIALIZED (
    SELECT c.path, c.start_line, c.end_line, c.text, c.user_id, c.embedding
      FROM memory_chunks AS c
     WHERE c.tenant_id = $1
       AND c.agent_id  = $2
       AND (c.user_id IS NULL OR c.user_id = $3)
       AND starts_with(c.path, $5)
       AND c.dims      = 384
       AND c.in_ann
       AND c.embedder  = $6
     ORDER BY (c.embedding::halfvec(384)) <=> $4::halfvec(384)
     LIMIT $7
), backlog AS MATERIALIZED (
    SELECT c.path, c.start_line, c.end_line, c.text, c.user_id, c.embedding
      FROM memory_chunks AS c
     WHERE c.tenant_id = $1
       AND c.agent_id  = $2
       AND (c.user_id IS NULL OR c.user_id = $3)
       AND starts_with(c.path, $5)
       AND c.dims      = 384
       AND NOT c.in_ann
       AND c.embedder  = $6
     ORDER BY (c.embedding::vector(384)) <=> $4::vector(384)
     LIMIT $7
)
SELECT u.path, u.start_line, u.end_line, u.text, u.user_id,
       1 - ((u.embedding::vector(384)) <=> $4::vector(384)) AS score
  FROM (SELECT * FROM ann UNION ALL SELECT * FROM backlog) AS u
 ORDER BY score DESC
 LIMIT $7;

-- name: ann_backlog_agents
-- Agents with embedded 384-dimension chunks not admitted to the HNSW index yet (a loose scan of the
-- backlog index: one probe an agent) that hold more than $1 chunks (an index-only count that stops
-- at $1 + 1).
WITH RECURSIVE a AS (
    (SELECT b.tenant_id, b.agent_id FROM memory_chunks AS b
      WHERE b.dims = 384 AND NOT b.in_ann ORDER BY b.tenant_id, b.agent_id LIMIT 1)
    UNION ALL
    SELECT n.tenant_id, n.agent_id
      FROM a, LATERAL (SELECT b.tenant_id, b.agent_id FROM memory_chunks AS b
                        WHERE b.dims = 384 AND NOT b.in_ann AND (b.tenant_id, b.agent_id) > (a.tenant_id, a.agent_id)
                        ORDER BY b.tenant_id, b.agent_id LIMIT 1) AS n
)
SELECT a.tenant_id, a.agent_id
  FROM a
 WHERE (SELECT count(*) FROM (SELECT 1 FROM memory_chunks AS c
                               WHERE c.tenant_id = a.tenant_id AND c.agent_id = a.agent_id LIMIT $1 + 1) AS s) > $1;

-- name: ann_admit
-- Admit up to $3 of the agent's chunks to the HNSW index; rows another process is admitting are
-- skipped (SKIP LOCKED), so concurrent rounds take disjoint batches.
WITH batch AS (
    SELECT c.id FROM memory_chunks AS c
     WHERE c.tenant_id = $1 AND c.agent_id = $2 AND c.dims = 384 AND NOT c.in_ann
     LIMIT $3
       FOR UPDATE SKIP LOCKED
)
UPDATE memory_chunks AS c
   SET in_ann = true
  FROM batch
 WHERE c.tenant_id = $1
   AND c.id = batch.id;

-- name: search_vector
-- An exact scan of the agent's chunks: any dimension other than 384, and agents small enough that
-- reading all their chunks costs less than the HNSW scan that looks for them among everyone's.
SELECT c.path, c.start_line, c.end_line, c.text, c.user_id, 1 - (c.embedding <=> $4) AS score
  FROM memory_chunks AS c
 WHERE c.tenant_id = $1
   AND c.agent_id  = $2
   AND (c.user_id IS NULL OR c.user_id = $3)
   AND starts_with(c.path, $5)
   AND c.dims      = vector_dims($4)
   AND c.embedder  = $6
 ORDER BY c.embedding <=> $4
 LIMIT $7;

-- name: cache_get
SELECT e.hash, e.embedding
  FROM embedding_cache AS e
 WHERE e.tenant_id = $1
   AND e.embedder  = $2
   AND e.hash      = ANY($3::text[]);

-- name: cache_put
INSERT INTO embedding_cache (tenant_id, embedder, hash, dims, embedding)
VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (tenant_id, embedder, hash) DO NOTHING;

-- name: document_owners
-- Who owns documents of the agent: '' for the shared ones, else user ids (at most $3 of them; the
-- memory recall's per-agent flag, see gateway/services/recall.py).
SELECT DISTINCT coalesce(d.user_id, '') AS owner
  FROM memory_documents AS d
 WHERE d.tenant_id = $1
   AND d.agent_id  = $2
 LIMIT $3;
