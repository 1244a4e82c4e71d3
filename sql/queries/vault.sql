-- The vault: documents, their versions and links, searches, and the enrichment state (store/vault.py).
-- Who sees a document: vault_visible (migration 0010) with $2..$7 (agent, with_shared, user, scope,
-- doc types, path prefix: store.vault.Reader).

-- name: doc_get
SELECT d.id, d.tenant_id, d.agent_id, a.agent_key, d.user_id, d.scope, d.custom_scope, d.chat_id, d.path,
       d.title, d.doc_type, d.content, d.content_hash, d.summary, d.metadata, d.version, d.embedder,
       d.embedding IS NOT NULL AS embedded, d.index_error, d.created_by, d.created_at, d.updated_at
  FROM vault_documents AS d
  LEFT JOIN agents     AS a ON a.id = d.agent_id AND a.tenant_id = d.tenant_id
 WHERE d.tenant_id = $1
   AND d.id        = $2;

-- name: doc_lock
SELECT d.id
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND d.id        = $2
   FOR UPDATE;

-- name: doc_find
-- The document of an owner (agent $2, NULL: the shared vault; user $3, NULL: shared) at path $4.
SELECT d.id
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND d.agent_id IS NOT DISTINCT FROM $2::uuid
   AND d.user_id  IS NOT DISTINCT FROM $3::text
   AND d.path      = $4;

-- name: docs_brief
-- Documents found by a search, with the start of their content.
SELECT d.id, d.agent_id, d.user_id, d.scope, d.path, d.title, d.doc_type, left(d.content, $3) AS snippet
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND d.id        = ANY($2::uuid[]);

-- name: doc_insert
-- NULL when the owner has a document at that path already.
INSERT INTO vault_documents (tenant_id, agent_id, user_id, scope, custom_scope, chat_id, path, path_basename,
                             title, doc_type, content, content_hash, summary, metadata, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
    ON CONFLICT DO NOTHING
RETURNING id;

-- name: doc_update
-- A new version when the content changed; the embedding goes when the embedded text changed.
UPDATE vault_documents AS d
   SET scope         = $3,
       custom_scope  = $4,
       chat_id       = $5,
       path          = $6,
       path_basename = $7,
       title         = $8,
       doc_type      = $9,
       content       = $10,
       content_hash  = $11,
       summary       = $12,
       metadata      = $13,
       version       = d.version + (d.content_hash <> $11)::integer,
       embedding     = CASE WHEN $14 THEN NULL ELSE d.embedding END,
       embedder      = CASE WHEN $14 THEN '' ELSE d.embedder END,
       dims          = CASE WHEN $14 THEN 0 ELSE d.dims END,
       updated_at    = now()
 WHERE d.tenant_id = $1
   AND d.id        = $2
RETURNING d.version;

-- name: doc_delete
DELETE FROM vault_documents
 WHERE tenant_id = $1
   AND id        = $2;

-- name: docs_list
-- $2 agent, $3 with_shared, $4 user, $5 scope, $6 doc types, $7 path prefix; total before the page.
SELECT d.id, d.agent_id, a.agent_key, d.user_id, d.scope, d.custom_scope, d.chat_id, d.path, d.title,
       d.doc_type, d.content_hash, d.summary, d.metadata, d.version, d.embedder,
       d.embedding IS NOT NULL AS embedded, length(d.content) AS size, d.created_by, d.created_at,
       d.updated_at, count(*) OVER () AS total
  FROM vault_documents AS d
  LEFT JOIN agents     AS a ON a.id = d.agent_id AND a.tenant_id = d.tenant_id
 WHERE d.tenant_id = $1
   AND vault_visible(d.agent_id, d.user_id, d.scope, d.doc_type, d.path, $2, $3, $4, $5, $6, $7)
 ORDER BY d.path, a.agent_key NULLS FIRST, d.user_id NULLS FIRST
 LIMIT $8 OFFSET $9;

-- name: docs_resolve
-- Candidates for [[wiki link]] targets seen from a document of agent $2 (NULL: a shared one) and
-- user $3 (NULL: shared by the agent's users): by path ($4) or by basename or title ($5, lowercase).
SELECT d.id, d.agent_id, d.user_id, d.path, d.path_basename, d.title
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND (d.agent_id IS NULL OR d.agent_id = $2)
   AND (d.user_id IS NULL OR d.user_id = $3)
   AND (d.path = ANY($4::text[]) OR lower(d.path_basename) = ANY($5::text[]) OR lower(d.title) = ANY($5::text[]));

-- name: docs_all
-- Every document of the tenant (rescan), in pages by id.
SELECT d.id
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND ($2::uuid IS NULL OR d.agent_id = $2)
   AND d.id > $3
 ORDER BY d.id
 LIMIT $4;

-- name: version_insert
INSERT INTO vault_versions (tenant_id, doc_id, version, title, content, content_hash, changed_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
    ON CONFLICT (doc_id, version) DO NOTHING;

-- name: versions_of
SELECT v.version, v.title, v.content_hash, length(v.content) AS size, v.changed_by, v.created_at
  FROM vault_versions AS v
 WHERE v.tenant_id = $1
   AND v.doc_id    = $2
 ORDER BY v.version DESC;

-- name: link_upsert
INSERT INTO vault_links (tenant_id, from_doc_id, to_doc_id, link_type, context, extracted)
VALUES ($1, $2, $3, $4, $5, false)
    ON CONFLICT (tenant_id, from_doc_id, to_doc_id, link_type) DO UPDATE
   SET context = excluded.context, extracted = false
RETURNING id, from_doc_id, to_doc_id, link_type, context, extracted, created_at;

-- name: links_extracted_insert
-- The [[wiki links]] of a document ($2), drawn again from its content (links_extracted_clear first;
-- not in one statement: its insert would not see the delete). A manual link of the same type stays.
INSERT INTO vault_links (tenant_id, from_doc_id, to_doc_id, link_type, context, extracted)
SELECT $1, $2, t.to_doc_id, 'wikilink', t.context, true
  FROM unnest($3::uuid[], $4::text[]) AS t (to_doc_id, context)
    ON CONFLICT (tenant_id, from_doc_id, to_doc_id, link_type) DO NOTHING;

-- name: links_extracted_clear
DELETE FROM vault_links
 WHERE tenant_id = $1 AND from_doc_id = $2 AND extracted;

-- name: link_get
SELECT l.id, l.from_doc_id, l.to_doc_id, l.link_type, l.context, l.extracted, l.created_at
  FROM vault_links AS l
 WHERE l.tenant_id = $1
   AND l.id        = $2;

-- name: link_delete
DELETE FROM vault_links
 WHERE tenant_id = $1
   AND id        = $2;

-- name: links_of
-- Links from or to any of the documents $2, with the document at the other end; $3, $4 the reader
-- (agent, user) as in docs_list, so a link to a document the reader cannot see is not shown.
SELECT l.id, l.from_doc_id, l.to_doc_id, l.link_type, l.context, l.extracted, l.created_at,
       f.path AS from_path, f.title AS from_title, t.path AS to_path, t.title AS to_title
  FROM vault_links     AS l
  JOIN vault_documents AS f ON f.tenant_id = l.tenant_id AND f.id = l.from_doc_id
  JOIN vault_documents AS t ON t.tenant_id = l.tenant_id AND t.id = l.to_doc_id
 WHERE l.tenant_id = $1
   AND (l.from_doc_id = ANY($2::uuid[]) OR l.to_doc_id = ANY($2::uuid[]))
   AND ($3::uuid IS NULL OR f.agent_id IS NULL OR f.agent_id = $3)
   AND ($3::uuid IS NULL OR t.agent_id IS NULL OR t.agent_id = $3)
   AND ($4::text IS NULL OR f.user_id IS NULL OR f.user_id = $4)
   AND ($4::text IS NULL OR t.user_id IS NULL OR t.user_id = $4)
 ORDER BY l.created_at, l.id;

-- name: graph_edges
-- The links among the documents $2.
SELECT l.id, l.from_doc_id, l.to_doc_id, l.link_type
  FROM vault_links AS l
 WHERE l.tenant_id = $1
   AND l.from_doc_id = ANY($2::uuid[])
   AND l.to_doc_id   = ANY($2::uuid[])
 ORDER BY l.id;

-- name: search_text
-- $2..$7 as in docs_list; $8 the query; ts_rank over title (A), path (B) and content; whether the
-- document has an embedding by $10.
SELECT d.id, ts_rank(d.tsv, q) AS score, (d.embedding IS NOT NULL AND d.embedder = $10) AS embedded
  FROM vault_documents AS d,
       plainto_tsquery('simple', $8) AS q
 WHERE d.tenant_id = $1
   AND vault_visible(d.agent_id, d.user_id, d.scope, d.doc_type, d.path, $2, $3, $4, $5, $6, $7)
   AND d.tsv @@ q
 ORDER BY score DESC
 LIMIT $9;

-- name: scope_exceeds
-- Whether the documents a reader of agent $2 (with the shared vault when $3; NULL: the whole tenant)
-- may see number more than $4, counted on the scope index only (an upper bound of what the filters
-- leave) and stopping at $4 + 1.
SELECT count(*) > $4
  FROM (SELECT 1 FROM vault_documents AS d
         WHERE d.tenant_id = $1
           AND ($2::uuid IS NULL OR d.agent_id = $2 OR ($3 AND d.agent_id IS NULL))
         LIMIT $4 + 1) AS s;

-- name: search_vector_384
-- A reader of more documents than the exact-scan size, at the offline default's dimension: through the partial HNSW index of halfvecs (same cast and
-- predicate as migration 0010), the filters applied during the (iterative) scan.
SELECT d.id, 1 - ((d.embedding::vector(384)) <=> $8::vector(384)) AS score, true AS embedded
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND vault_visible(d.agent_id, d.user_id, d.scope, d.doc_type, d.path, $2, $3, $4, $5, $6, $7)
   AND d.dims     = 384
   AND d.embedder = $9
 ORDER BY (d.embedding::halfvec(384)) <=> $8::halfvec(384)
 LIMIT $10;

-- name: search_vector
-- An exact scan of the reader's documents: any dimension other than 384, and readers of few enough
-- documents that reading them all costs less than a filtered HNSW scan (and misses none).
SELECT d.id, 1 - (d.embedding <=> $8) AS score, true AS embedded
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND vault_visible(d.agent_id, d.user_id, d.scope, d.doc_type, d.path, $2, $3, $4, $5, $6, $7)
   AND d.dims     = vector_dims($8)
   AND d.embedder = $9
 ORDER BY d.embedding <=> $8
 LIMIT $10;

-- name: pending_in_scope
-- How many of the reader's documents ($2..$7 as in docs_list) are not embedded by $8 yet.
SELECT count(*)
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND vault_visible(d.agent_id, d.user_id, d.scope, d.doc_type, d.path, $2, $3, $4, $5, $6, $7)
   AND (d.embedding IS NULL OR d.embedder <> $8);

-- name: docs_pending
-- Documents to embed with $2 (not embedded, or by another embedder); $3 a document, or NULL for any.
-- A document not embedded, without an error, written less than $5 seconds ago and after the
-- enrichment last resumed is its writer's to embed (it does so as it answers): left out, so that
-- no background pass embeds it at the same time. (One written while the enrichment was stopped was
-- not embedded by its writer: the pass takes it as soon as the enrichment resumes.)
SELECT d.id, d.tenant_id, d.path, d.title, d.summary, d.content, d.updated_at
  FROM vault_documents AS d
 WHERE d.tenant_id = $1
   AND (d.embedding IS NULL OR d.embedder <> $2)
   AND ($3::uuid IS NULL OR d.id = $3)
   AND NOT (d.embedding IS NULL AND d.index_error = ''
            AND d.updated_at > now() - make_interval(secs => $5)
            AND d.updated_at > coalesce((SELECT e.updated_at FROM vault_enrichment AS e
                                          WHERE e.tenant_id = d.tenant_id), '-infinity'))
 ORDER BY d.updated_at
 LIMIT $4;

-- name: pending_tenants
-- The tenants with documents to embed with $1 whose enrichment is not stopped.
SELECT DISTINCT d.tenant_id
  FROM vault_documents AS d
  LEFT JOIN vault_enrichment AS e ON e.tenant_id = d.tenant_id
 WHERE (d.embedding IS NULL OR d.embedder <> $1)
   AND NOT coalesce(e.stopped, false);

-- name: doc_set_embedding
-- Unless the document changed since it was read ($3: its updated_at then).
UPDATE vault_documents
   SET embedder    = $4,
       dims        = vector_dims($5::vector),
       embedding   = $5::vector,
       index_error = ''
 WHERE tenant_id  = $1
   AND id         = $2
   AND updated_at = $3;

-- name: doc_set_error
UPDATE vault_documents
   SET index_error = $3
 WHERE tenant_id = $1
   AND id        = $2;

-- name: enrichment_status
SELECT coalesce((SELECT e.stopped FROM vault_enrichment AS e WHERE e.tenant_id = $1), false) AS stopped,
       count(*) AS total,
       count(*) FILTER (WHERE d.embedding IS NOT NULL AND d.embedder = $2) AS embedded,
       count(*) FILTER (WHERE d.index_error <> '') AS failed
  FROM vault_documents AS d
 WHERE d.tenant_id = $1;

-- name: enrichment_set
INSERT INTO vault_enrichment (tenant_id, stopped, changed_by)
VALUES ($1, $2, $3)
    ON CONFLICT (tenant_id) DO UPDATE
   SET stopped = excluded.stopped, changed_by = excluded.changed_by, updated_at = now();

-- name: enrichment_stopped
SELECT coalesce((SELECT e.stopped FROM vault_enrichment AS e WHERE e.tenant_id = $1), false);
