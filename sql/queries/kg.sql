-- Knowledge graph: entities, relations, traversal, graph views, dedup candidates and merges
-- (store/kg.py). $1 is always the tenant. A reader filter ``$n::text IS NULL OR user_id = '' OR
-- user_id = $n`` shows the entities shared by the agent's users and one user's own (NULL: everyone's).

-- name: entity_upsert
-- NULL parameters leave what is stored (GoClaw's null = unset); a new entity gets the defaults.
INSERT INTO kg_entities (tenant_id, agent_id, user_id, name, entity_type, external_id, description,
                         properties, source_id, confidence, valid_from, valid_until)
VALUES ($1, $2, $3, $4, $5, coalesce($6, ''), coalesce($7, ''), coalesce($8::jsonb, '{}'), coalesce($9, ''),
        coalesce($10::real, 1), $11, $12)
    ON CONFLICT (tenant_id, agent_id, user_id, name_key, entity_type) DO UPDATE
   SET name        = excluded.name,
       external_id = coalesce($6, kg_entities.external_id),
       description = coalesce($7, kg_entities.description),
       properties  = coalesce($8::jsonb, kg_entities.properties),
       source_id   = coalesce($9, kg_entities.source_id),
       confidence  = coalesce($10::real, kg_entities.confidence),
       valid_from  = coalesce($11, kg_entities.valid_from),
       valid_until = coalesce($12, kg_entities.valid_until),
       updated_at  = now()
RETURNING id, agent_id, user_id, external_id, name, entity_type, description, properties, source_id,
          confidence, embedder, valid_from, valid_until, created_at, updated_at;

-- name: entity_set_embedding
UPDATE kg_entities
   SET embedder  = $3,
       dims      = $4,
       embedding = $5
 WHERE tenant_id = $1
   AND id        = $2;

-- name: entity_get
SELECT e.id, e.agent_id, e.user_id, e.external_id, e.name, e.entity_type, e.description, e.properties,
       e.source_id, e.confidence, e.embedder, e.valid_from, e.valid_until, e.created_at, e.updated_at
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND e.id        = $3
   AND ($4::text IS NULL OR e.user_id = '' OR e.user_id = $4);

-- name: entity_find
-- An entity of scope $3 by its normalised name (the generated name_key's expression), of type $5 if given.
SELECT e.id, e.agent_id, e.user_id, e.external_id, e.name, e.entity_type, e.description, e.properties,
       e.source_id, e.confidence, e.embedder, e.valid_from, e.valid_until, e.created_at, e.updated_at
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND e.user_id   = $3
   AND e.name_key  = lower(regexp_replace(btrim($4), '\s+', ' ', 'g'))
   AND ($5::text IS NULL OR e.entity_type = $5)
 ORDER BY e.created_at
 LIMIT 1;

-- name: entity_delete
DELETE FROM kg_entities
 WHERE tenant_id = $1
   AND agent_id  = $2
   AND id        = $3;

-- name: entities_list
SELECT e.id, e.agent_id, e.user_id, e.external_id, e.name, e.entity_type, e.description, e.properties,
       e.source_id, e.confidence, e.embedder, e.valid_from, e.valid_until, e.created_at, e.updated_at
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND ($3::text IS NULL OR e.user_id = '' OR e.user_id = $3)
   AND ($4::text[] IS NULL OR e.entity_type = ANY($4))
 ORDER BY e.name_key, e.entity_type, e.user_id
 LIMIT $5 OFFSET $6;

-- name: entities_search_text
-- Words (ts_rank on the 'simple' tsvector of name and description) or a part of the name.
SELECT e.id, greatest(ts_rank(e.tsv, q),
                      CASE WHEN e.name_key = lower(btrim($4)) THEN 1.0
                           WHEN strpos(e.name_key, lower(btrim($4))) > 0 THEN 0.5
                           ELSE 0 END) AS score
  FROM kg_entities AS e,
       plainto_tsquery('simple', $4) AS q
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND ($3::text IS NULL OR e.user_id = '' OR e.user_id = $3)
   AND ($5::text[] IS NULL OR e.entity_type = ANY($5))
   AND (e.tsv @@ q OR strpos(e.name_key, lower(btrim($4))) > 0)
 ORDER BY score DESC
 LIMIT $6;

-- name: search_vector_384
-- Served by the partial HNSW index of halfvecs (same cast, same predicate as migration 0011).
SELECT e.id, 1 - ((e.embedding::vector(384)) <=> $4::vector(384)) AS score
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND ($3::text IS NULL OR e.user_id = '' OR e.user_id = $3)
   AND ($5::text[] IS NULL OR e.entity_type = ANY($5))
   AND e.dims      = 384
   AND e.embedder  = $6
 ORDER BY (e.embedding::halfvec(384)) <=> $4::halfvec(384)
 LIMIT $7;

-- name: search_vector
SELECT e.id, 1 - (e.embedding <=> $4) AS score
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND ($3::text IS NULL OR e.user_id = '' OR e.user_id = $3)
   AND ($5::text[] IS NULL OR e.entity_type = ANY($5))
   AND e.dims      = vector_dims($4)
   AND e.embedder  = $6
 ORDER BY e.embedding <=> $4
 LIMIT $7;

-- name: entities_by_ids
SELECT e.id, e.agent_id, e.user_id, e.external_id, e.name, e.entity_type, e.description, e.properties,
       e.source_id, e.confidence, e.embedder, e.valid_from, e.valid_until, e.created_at, e.updated_at
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND e.id        = ANY($3::uuid[]);

-- name: relation_upsert
-- Both ends must be entities of agent $2 in tenant $1 (the foreign keys say so).
INSERT INTO kg_relations (tenant_id, agent_id, source_entity_id, relation_type, target_entity_id, confidence,
                          properties, valid_from, valid_until)
VALUES ($1, $2, $3, $4, $5, coalesce($6::real, 1), coalesce($7::jsonb, '{}'), $8, $9)
    ON CONFLICT (tenant_id, source_entity_id, relation_type, target_entity_id) DO UPDATE
   SET confidence  = coalesce($6::real, kg_relations.confidence),
       properties  = coalesce($7::jsonb, kg_relations.properties),
       valid_from  = coalesce($8, kg_relations.valid_from),
       valid_until = coalesce($9, kg_relations.valid_until)
RETURNING id;

-- name: relations_of
-- The relations of entity $2 whose both ends the reader $3 sees.
SELECT r.id, r.source_entity_id, s.name AS source_name, r.relation_type, r.target_entity_id,
       t.name AS target_name, r.confidence, r.properties, r.valid_from, r.valid_until, r.created_at
  FROM kg_relations AS r
  JOIN kg_entities  AS s ON s.tenant_id = r.tenant_id AND s.id = r.source_entity_id
  JOIN kg_entities  AS t ON t.tenant_id = r.tenant_id AND t.id = r.target_entity_id
 WHERE r.tenant_id = $1
   AND (r.source_entity_id = $2 OR r.target_entity_id = $2)
   AND ($3::text IS NULL OR (s.user_id IN ('', $3) AND t.user_id IN ('', $3)))
 ORDER BY r.relation_type, s.name_key, t.name_key;

-- name: relations_among
-- The relations between entities of the set $3 (graph views).
SELECT r.id, r.source_entity_id, s.name AS source_name, r.relation_type, r.target_entity_id,
       t.name AS target_name, r.confidence, r.properties, r.valid_from, r.valid_until, r.created_at
  FROM kg_relations AS r
  JOIN kg_entities  AS s ON s.tenant_id = r.tenant_id AND s.id = r.source_entity_id
  JOIN kg_entities  AS t ON t.tenant_id = r.tenant_id AND t.id = r.target_entity_id
 WHERE r.tenant_id        = $1
   AND r.agent_id         = $2
   AND r.source_entity_id = ANY($3::uuid[])
   AND r.target_entity_id = ANY($3::uuid[])
 ORDER BY r.created_at;

-- name: graph_entities
SELECT e.id, e.agent_id, e.user_id, e.external_id, e.name, e.entity_type, e.description, e.properties,
       e.source_id, e.confidence, e.embedder, e.valid_from, e.valid_until, e.created_at, e.updated_at
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND ($3::text IS NULL OR e.user_id = '' OR e.user_id = $3)
 ORDER BY e.updated_at DESC, e.id
 LIMIT $4;

-- name: traverse_settings
SELECT set_config('statement_timeout', '5s', true);

-- name: traverse
-- From entity $4 along current relations in both directions (a reverse edge is labelled '~type'),
-- up to depth $5, never back to an entity already on the path (cycles end), through entities the
-- reader $3 sees; each entity once, at its smallest depth. Each step looks up the relations of the
-- entities just reached through the indexes (a lateral join), not all of the agent's.
WITH RECURSIVE walk (entity_id, depth, path, via) AS (
    SELECT $4::uuid, 0, ARRAY[$4::uuid], ''::text
     UNION ALL
    SELECT g.to_id, w.depth + 1, w.path || g.to_id, g.via
      FROM walk AS w
     CROSS JOIN LATERAL (
           SELECT r.target_entity_id AS to_id, r.relation_type AS via
             FROM kg_relations AS r
            WHERE r.tenant_id = $1 AND r.source_entity_id = w.entity_id
              AND r.agent_id = $2 AND r.valid_until IS NULL
            UNION ALL
           SELECT r.source_entity_id, '~' || r.relation_type
             FROM kg_relations AS r
            WHERE r.tenant_id = $1 AND r.target_entity_id = w.entity_id
              AND r.agent_id = $2 AND r.valid_until IS NULL) AS g
     WHERE w.depth < $5
       AND g.to_id <> ALL (w.path)
       AND EXISTS (SELECT 1
                     FROM kg_entities AS v
                    WHERE v.id = g.to_id AND v.tenant_id = $1 AND v.agent_id = $2
                      AND ($3::text IS NULL OR v.user_id = '' OR v.user_id = $3))
),
firsts AS (
    SELECT DISTINCT ON (w.entity_id) w.entity_id, w.depth, w.path, w.via
      FROM walk AS w
     WHERE w.depth > 0
     ORDER BY w.entity_id, w.depth, w.via
)
SELECT e.id, e.agent_id, e.user_id, e.external_id, e.name, e.entity_type, e.description, e.properties,
       e.source_id, e.confidence, e.embedder, e.valid_from, e.valid_until, e.created_at, e.updated_at,
       f.depth, f.path, f.via
  FROM firsts      AS f
  JOIN kg_entities AS e ON e.tenant_id = $1 AND e.id = f.entity_id
 ORDER BY f.depth, e.name_key
 LIMIT $6;

-- name: stats
SELECT (SELECT count(*) FROM kg_entities AS e
         WHERE e.tenant_id = $1 AND e.agent_id = $2
           AND ($3::text IS NULL OR e.user_id = '' OR e.user_id = $3)) AS entity_count,
       (SELECT count(*)
          FROM kg_relations AS r
          JOIN kg_entities  AS s ON s.tenant_id = r.tenant_id AND s.id = r.source_entity_id
          JOIN kg_entities  AS t ON t.tenant_id = r.tenant_id AND t.id = r.target_entity_id
         WHERE r.tenant_id = $1 AND r.agent_id = $2
           AND ($3::text IS NULL OR (s.user_id IN ('', $3) AND t.user_id IN ('', $3)))) AS relation_count,
       (SELECT coalesce(jsonb_object_agg(x.entity_type, x.n), '{}')
          FROM (SELECT e.entity_type, count(*) AS n FROM kg_entities AS e
                 WHERE e.tenant_id = $1 AND e.agent_id = $2
                   AND ($3::text IS NULL OR e.user_id = '' OR e.user_id = $3)
                 GROUP BY e.entity_type) AS x) AS entity_types,
       (SELECT coalesce(jsonb_object_agg(x.relation_type, x.n), '{}')
          FROM (SELECT r.relation_type, count(*) AS n
                  FROM kg_relations AS r
                  JOIN kg_entities  AS s ON s.tenant_id = r.tenant_id AND s.id = r.source_entity_id
                  JOIN kg_entities  AS t ON t.tenant_id = r.tenant_id AND t.id = r.target_entity_id
                 WHERE r.tenant_id = $1 AND r.agent_id = $2
                   AND ($3::text IS NULL OR (s.user_id IN ('', $3) AND t.user_id IN ('', $3)))
                 GROUP BY r.relation_type) AS x) AS relation_types,
       (SELECT count(*) FROM kg_dedup_candidates AS c
          JOIN kg_entities AS a ON a.tenant_id = c.tenant_id AND a.id = c.entity_a
         WHERE c.tenant_id = $1 AND c.agent_id = $2 AND c.status = 'pending'
           AND ($3::text IS NULL OR a.user_id = '' OR a.user_id = $3)) AS dedup_pending;

-- name: dedup_names
-- The names the name pass compares (one scope and type at a time, in the service).
SELECT e.id, e.user_id, e.entity_type, e.name_key
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
 ORDER BY e.id
 LIMIT $3;

-- name: dedup_vector_pairs
-- For each embedded entity, its nearest of the same scope, type and embedder at similarity >= $4
-- (an exact comparison: dimensions other than 384).
SELECT a.id AS entity_a, n.id AS entity_b, n.similarity
  FROM kg_entities AS a
 CROSS JOIN LATERAL (
       SELECT b.id, 1 - (b.embedding <=> a.embedding) AS similarity
         FROM kg_entities AS b
        WHERE b.tenant_id   = a.tenant_id
          AND b.agent_id    = a.agent_id
          AND b.user_id     = a.user_id
          AND b.entity_type = a.entity_type
          AND b.embedder    = a.embedder
          AND b.dims        = a.dims
          AND b.id          > a.id
          AND b.embedding IS NOT NULL
        ORDER BY b.embedding <=> a.embedding
        LIMIT 5) AS n
 WHERE a.tenant_id = $1
   AND a.agent_id  = $2
   AND a.embedder  = $3
   AND a.dims     <> 384
   AND a.embedding IS NOT NULL
   AND n.similarity >= $4;

-- name: dedup_vector_pairs_384
-- The same for the offline default's dimension, each entity's nearest read through the halfvec HNSW
-- index (an exact comparison of every pair grows with the square of the entities: 28 s at 5,000).
SELECT a.id AS entity_a, n.id AS entity_b, n.similarity
  FROM kg_entities AS a
 CROSS JOIN LATERAL (
       SELECT b.id, 1 - ((b.embedding::vector(384)) <=> (a.embedding::vector(384))) AS similarity
         FROM kg_entities AS b
        WHERE b.tenant_id   = a.tenant_id
          AND b.agent_id    = a.agent_id
          AND b.user_id     = a.user_id
          AND b.entity_type = a.entity_type
          AND b.embedder    = a.embedder
          AND b.dims        = 384
          AND b.id         <> a.id
        ORDER BY (b.embedding::halfvec(384)) <=> (a.embedding::halfvec(384))
        LIMIT 5) AS n
 WHERE a.tenant_id = $1
   AND a.agent_id  = $2
   AND a.embedder  = $3
   AND a.dims      = 384
   AND a.id        < n.id
   AND n.similarity >= $4;

-- name: dedup_upsert
-- New pairs are pending; a known pending pair keeps its best score; a dismissed pair stays dismissed.
INSERT INTO kg_dedup_candidates (tenant_id, agent_id, entity_a, entity_b, similarity, reason)
SELECT $1, $2, c.a, c.b, c.similarity, c.reason
  FROM unnest($3::uuid[], $4::uuid[], $5::real[], $6::text[]) AS c (a, b, similarity, reason)
    ON CONFLICT (tenant_id, entity_a, entity_b) DO UPDATE
   SET similarity = greatest(kg_dedup_candidates.similarity, excluded.similarity),
       reason     = CASE WHEN excluded.similarity > kg_dedup_candidates.similarity
                         THEN excluded.reason ELSE kg_dedup_candidates.reason END,
       updated_at = now()
 WHERE kg_dedup_candidates.status = 'pending';

-- name: dedup_list
SELECT c.id, c.entity_a AS entity_a_id, a.name AS entity_a_name, c.entity_b AS entity_b_id,
       b.name AS entity_b_name, a.entity_type, a.user_id, c.similarity, c.reason, c.status, c.created_at,
       c.updated_at
  FROM kg_dedup_candidates AS c
  JOIN kg_entities         AS a ON a.tenant_id = c.tenant_id AND a.id = c.entity_a
  JOIN kg_entities         AS b ON b.tenant_id = c.tenant_id AND b.id = c.entity_b
 WHERE c.tenant_id = $1
   AND c.agent_id  = $2
   AND ($3::text IS NULL OR a.user_id = '' OR a.user_id = $3)
   AND c.status    = $4
 ORDER BY c.similarity DESC, c.id
 LIMIT $5 OFFSET $6;

-- name: dedup_dismiss
UPDATE kg_dedup_candidates AS c
   SET status     = 'dismissed',
       updated_at = now()
  FROM kg_entities AS a
 WHERE c.tenant_id = $1
   AND c.agent_id  = $2
   AND c.id        = $3
   AND a.tenant_id = c.tenant_id
   AND a.id        = c.entity_a
   AND ($4::text IS NULL OR a.user_id = '' OR a.user_id = $4)
RETURNING c.id;

-- name: entities_lock
-- The entities of a merge, locked in id order (two merges of the same entities queue, never deadlock).
SELECT e.id, e.agent_id, e.user_id, e.external_id, e.name, e.entity_type, e.description, e.properties,
       e.source_id, e.confidence, e.embedder, e.valid_from, e.valid_until, e.created_at, e.updated_at
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.agent_id  = $2
   AND e.id        = ANY($3::uuid[])
 ORDER BY e.id
   FOR UPDATE;

-- name: merge_relations
-- Copy the relations of $3 (merged away) onto $4 (kept): ends re-pointed, a relation between the two
-- dropped, one already held by $4 not doubled. $3's own rows go with it (cascade).
INSERT INTO kg_relations (tenant_id, agent_id, source_entity_id, relation_type, target_entity_id, confidence,
                          properties, valid_from, valid_until, created_at)
SELECT r.tenant_id, r.agent_id, m.source_id, r.relation_type, m.target_id, r.confidence, r.properties,
       r.valid_from, r.valid_until, r.created_at
  FROM kg_relations AS r,
       LATERAL (SELECT CASE WHEN r.source_entity_id = $3 THEN $4::uuid ELSE r.source_entity_id END AS source_id,
                       CASE WHEN r.target_entity_id = $3 THEN $4::uuid ELSE r.target_entity_id END AS target_id) AS m
 WHERE r.tenant_id = $1
   AND r.agent_id  = $2
   AND (r.source_entity_id = $3 OR r.target_entity_id = $3)
   AND m.source_id <> m.target_id
    ON CONFLICT (tenant_id, source_entity_id, relation_type, target_entity_id) DO NOTHING;

-- name: merge_fields
-- The kept entity $4 takes what only $3 had: a description when it had none, properties it lacks.
UPDATE kg_entities AS k
   SET description = CASE WHEN k.description = '' THEN s.description ELSE k.description END,
       properties  = s.properties || k.properties,
       updated_at  = now()
  FROM kg_entities AS s
 WHERE k.tenant_id = $1
   AND k.agent_id  = $2
   AND k.id        = $4
   AND s.tenant_id = $1
   AND s.id        = $3;

-- name: pending_tenants
-- The tenants with entities to embed for embedder $1 (never embedded, or by another embedder).
SELECT DISTINCT e.tenant_id
  FROM kg_entities AS e
 WHERE e.embedder <> $1;

-- name: pending_entities
SELECT e.id, e.agent_id, e.user_id, e.external_id, e.name, e.entity_type, e.description, e.properties,
       e.source_id, e.confidence, e.embedder, e.valid_from, e.valid_until, e.created_at, e.updated_at
  FROM kg_entities AS e
 WHERE e.tenant_id = $1
   AND e.embedder <> $2
 ORDER BY e.updated_at
 LIMIT $3;

-- name: scope_exceeds
-- Whether agent $2 holds more than $3 entities (store/_vectors.py: an exact scan up to that size).
SELECT count(*) > $3
  FROM (SELECT 1 FROM kg_entities AS e WHERE e.tenant_id = $1 AND e.agent_id = $2 LIMIT $3 + 1) AS s;
