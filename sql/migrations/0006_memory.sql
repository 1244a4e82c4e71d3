-- Agent memory (GoClaw's memory_documents / memory_chunks) and the embedding cache (issue 11).
-- A document belongs to an agent, and to one user or (user_id NULL) to all the agent's users.
-- Chunks carry their line range, a 'simple' tsvector for full-text search, and an embedding with
-- the name of the embedder that made it beside it: vectors of several embedders (and dimensions)
-- live side by side, so changing the embedder never drops data. The HNSW index covers the offline
-- default's 384 dimensions (a partial expression index; another dimension gets its own later).

CREATE TABLE memory_documents (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id      uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    user_id       text        CHECK (user_id IS NULL OR length(user_id) BETWEEN 1 AND 255),
    path          text        NOT NULL CHECK (length(path) BETWEEN 1 AND 512),
    content       text        NOT NULL,
    hash          text        NOT NULL,
    -- pending: chunks stored, embeddings missing (no embedder, or it was down); indexed: embedded
    index_status  text        NOT NULL DEFAULT 'pending' CHECK (index_status IN ('pending', 'indexed')),
    embedder      text        NOT NULL DEFAULT '',
    index_error   text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX memory_documents_path_uidx
    ON memory_documents (tenant_id, agent_id, coalesce(user_id, ''), path);
CREATE INDEX memory_documents_pending_idx
    ON memory_documents (tenant_id, agent_id) WHERE index_status = 'pending';

CREATE TABLE memory_chunks (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id     uuid        NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
    document_id  uuid        NOT NULL REFERENCES memory_documents (id) ON DELETE CASCADE,
    user_id      text,
    path         text        NOT NULL,
    start_line   integer     NOT NULL CHECK (start_line >= 1),
    end_line     integer     NOT NULL CHECK (end_line >= start_line),
    hash         text        NOT NULL,
    text         text        NOT NULL,
    tsv          tsvector    GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED,
    embedder     text        NOT NULL DEFAULT '',
    dims         integer     NOT NULL DEFAULT 0,
    embedding    vector,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX memory_chunks_document_idx ON memory_chunks (document_id, start_line);
CREATE INDEX memory_chunks_scope_idx ON memory_chunks (tenant_id, agent_id, user_id);
CREATE INDEX memory_chunks_tsv_idx ON memory_chunks USING gin (tsv);
CREATE INDEX memory_chunks_embedding_384_idx ON memory_chunks
 USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE dims = 384;

-- Embeddings by (content hash, embedder), per tenant: re-indexing unchanged text costs nothing.
CREATE TABLE embedding_cache (
    tenant_id   uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    embedder    text        NOT NULL,
    hash        text        NOT NULL,
    dims        integer     NOT NULL,
    embedding   vector      NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, embedder, hash)
);
