-- Knowledge graph (GoClaw's kg_entities / kg_relations / kg_dedup_candidates) and episodic summaries
-- (GoClaw's episodic_summaries), issue 11. Every row carries its tenant and agent; user_id '' means
-- shared by the agent's users. An entity is unique per (normalised name, type) in its scope.
-- Relations and dedup candidates reference entities through (tenant_id, agent_id, id): the database
-- itself refuses to link entities of two agents or two tenants. Vectors are stored with their
-- embedder's name and dimension, as memory chunks are; the 384-dimension ones are indexed by HNSW
-- as halfvec (migration 0008's choice).

CREATE TABLE kg_entities (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id     uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id      text        NOT NULL DEFAULT '' CHECK (length(user_id) <= 255),
    external_id  text        NOT NULL DEFAULT '' CHECK (length(external_id) <= 255),
    name         text        NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 500),
    name_key     text        GENERATED ALWAYS AS (lower(regexp_replace(btrim(name), '\s+', ' ', 'g'))) STORED,
    entity_type  text        NOT NULL CHECK (length(entity_type) BETWEEN 1 AND 100),
    description  text        NOT NULL DEFAULT '',
    properties   jsonb       NOT NULL DEFAULT '{}',
    source_id    text        NOT NULL DEFAULT '',
    confidence   real        NOT NULL DEFAULT 1 CHECK (confidence BETWEEN 0 AND 1),
    tsv          tsvector    GENERATED ALWAYS AS (to_tsvector('simple', name || ' ' || description)) STORED,
    embedder     text        NOT NULL DEFAULT '',
    dims         integer     NOT NULL DEFAULT 0,
    embedding    vector,
    valid_from   timestamptz,
    valid_until  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, agent_id, id)
);
CREATE UNIQUE INDEX kg_entities_name_uidx ON kg_entities (tenant_id, agent_id, user_id, name_key, entity_type);
CREATE INDEX kg_entities_tsv_idx ON kg_entities USING gin (tsv);
CREATE INDEX kg_entities_embedding_384h_idx ON kg_entities
 USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WHERE dims = 384;

CREATE TABLE kg_relations (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id         uuid        NOT NULL,
    agent_id          uuid        NOT NULL,
    source_entity_id  uuid        NOT NULL,
    relation_type     text        NOT NULL CHECK (length(relation_type) BETWEEN 1 AND 100),
    target_entity_id  uuid        NOT NULL,
    confidence        real        NOT NULL DEFAULT 1 CHECK (confidence BETWEEN 0 AND 1),
    properties        jsonb       NOT NULL DEFAULT '{}',
    valid_from        timestamptz,
    valid_until       timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (source_entity_id <> target_entity_id),
    FOREIGN KEY (tenant_id, agent_id, source_entity_id)
        REFERENCES kg_entities (tenant_id, agent_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id, target_entity_id)
        REFERENCES kg_entities (tenant_id, agent_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, source_entity_id, relation_type, target_entity_id)
);
CREATE INDEX kg_relations_target_idx ON kg_relations (tenant_id, target_entity_id);
CREATE INDEX kg_relations_agent_idx ON kg_relations (tenant_id, agent_id);

-- Pairs that may be one entity: entity_a < entity_b, one row a pair; a dismissed pair stays dismissed.
CREATE TABLE kg_dedup_candidates (
    id          uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id   uuid        NOT NULL,
    agent_id    uuid        NOT NULL,
    entity_a    uuid        NOT NULL,
    entity_b    uuid        NOT NULL,
    similarity  real        NOT NULL,
    reason      text        NOT NULL CHECK (reason IN ('name', 'embedding')),
    status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'dismissed')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (entity_a < entity_b),
    FOREIGN KEY (tenant_id, agent_id, entity_a) REFERENCES kg_entities (tenant_id, agent_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id, entity_b) REFERENCES kg_entities (tenant_id, agent_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, entity_a, entity_b)
);
CREATE INDEX kg_dedup_candidates_agent_idx ON kg_dedup_candidates (tenant_id, agent_id, status);

-- Summaries of compacted conversations. source_id names what was summarised (a session and the
-- range of its messages): written once however many processes compact.
CREATE TABLE episodic_summaries (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id       uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id        text        NOT NULL DEFAULT '',
    session_key    text        NOT NULL,
    summary        text        NOT NULL CHECK (length(summary) > 0),
    l0_abstract    text        NOT NULL DEFAULT '',
    key_topics     text[]      NOT NULL DEFAULT '{}',
    source_type    text        NOT NULL DEFAULT 'compaction',
    source_id      text        NOT NULL,
    turn_count     integer     NOT NULL DEFAULT 0,
    token_count    integer     NOT NULL DEFAULT 0,
    started_at     timestamptz,
    ended_at       timestamptz,
    expires_at     timestamptz,
    recall_count   integer     NOT NULL DEFAULT 0,
    last_recalled_at timestamptz,
    search_vector  tsvector    GENERATED ALWAYS AS (to_tsvector('english', summary)) STORED,
    embedder       text        NOT NULL DEFAULT '',
    dims           integer     NOT NULL DEFAULT 0,
    embedding      vector,
    created_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, agent_id, source_id)
);
CREATE INDEX episodic_summaries_scope_idx ON episodic_summaries (tenant_id, agent_id, user_id, created_at DESC);
CREATE INDEX episodic_summaries_tsv_idx ON episodic_summaries USING gin (search_vector);
CREATE INDEX episodic_summaries_embedding_384h_idx ON episodic_summaries
 USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WHERE dims = 384;

-- The idle-session sweep reads sessions by their last change (episodic summaries of idle sessions).
CREATE INDEX sessions_updated_idx ON sessions (updated_at);
