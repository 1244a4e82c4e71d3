-- The vault (issue 11): GoClaw's vault_documents / vault_links / vault_versions, scoped by tenant.
-- A document belongs to the tenant (agent_id NULL: the shared vault of every agent), to one agent
-- (user_id NULL: shared by the agent's users) or to one user of an agent. `scope` is GoClaw's label
-- (personal / team / shared / custom); 'shared' is exactly the tenant-wide documents.
-- Each document carries a 'simple' tsvector (title, path, summary and the first 200,000 characters
-- of the content: a tsvector holds at most 1 MB, and memory.max_document_chars may be raised) and one
-- embedding with the name of the embedder that made it (NULL until embedded: search is then
-- full-text only for it). The HNSW index covers the offline default's 384 dimensions as halfvec, as memory_chunks (0008) does.
-- Links and versions reference (tenant_id, doc id): a link across tenants cannot exist.

CREATE TABLE vault_documents (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id      uuid        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    agent_id       uuid        REFERENCES agents (id) ON DELETE CASCADE,
    user_id        text        CHECK (user_id IS NULL OR length(user_id) BETWEEN 1 AND 255),
    scope          text        NOT NULL CHECK (scope IN ('personal', 'team', 'shared', 'custom')),
    custom_scope   text,
    chat_id        text,
    path           text        NOT NULL CHECK (length(path) BETWEEN 1 AND 512),
    path_basename  text        NOT NULL,
    title          text        NOT NULL DEFAULT '',
    doc_type       text        NOT NULL DEFAULT 'note' CHECK (length(doc_type) BETWEEN 1 AND 64),
    content        text        NOT NULL,
    content_hash   text        NOT NULL,
    summary        text        NOT NULL DEFAULT '',
    metadata       jsonb       NOT NULL DEFAULT '{}',
    version        integer     NOT NULL DEFAULT 1,
    tsv            tsvector    GENERATED ALWAYS AS (
                       setweight(to_tsvector('simple', title), 'A')
                    || setweight(to_tsvector('simple', translate(path, '/._-', '    ')), 'B')
                    || to_tsvector('simple', summary || ' ' || left(content, 200000))) STORED,
    embedder       text        NOT NULL DEFAULT '',
    dims           integer     NOT NULL DEFAULT 0,
    embedding      vector,
    index_error    text        NOT NULL DEFAULT '',
    created_by     text        NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    -- GoClaw's scope x ownership check: the shared vault is the tenant's, every other scope an agent's.
    CHECK ((scope = 'shared') = (agent_id IS NULL)),
    CHECK (agent_id IS NOT NULL OR user_id IS NULL),
    UNIQUE (tenant_id, id)
);
CREATE UNIQUE INDEX vault_documents_path_uidx
    ON vault_documents (tenant_id, coalesce(agent_id, '00000000-0000-0000-0000-000000000000'::uuid),
                        coalesce(user_id, ''), path);
CREATE INDEX vault_documents_scope_idx ON vault_documents (tenant_id, agent_id, user_id);
CREATE INDEX vault_documents_basename_idx ON vault_documents (tenant_id, lower(path_basename));
CREATE INDEX vault_documents_tsv_idx ON vault_documents USING gin (tsv);
CREATE INDEX vault_documents_pending_idx ON vault_documents (tenant_id) WHERE embedding IS NULL;
CREATE INDEX vault_documents_embedding_384h_idx ON vault_documents
 USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 64)
 WHERE dims = 384;

-- Which documents a read sees (the one predicate of every listing and search, inlined by the
-- planner): agent NULL (every agent's) or that agent's, with the shared vault when with_shared;
-- reader NULL (every user's) or the documents shared by the agent's users and the reader's own;
-- then the filters (a NULL one does not filter; prefix '' neither).
CREATE FUNCTION vault_visible(doc_agent uuid, doc_user text, doc_scope text, doc_type text, doc_path text,
                              agent uuid, with_shared boolean, reader text, scope text, types text[],
                              prefix text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (agent IS NULL OR doc_agent = agent OR (with_shared AND doc_agent IS NULL))
       AND (reader IS NULL OR doc_user IS NULL OR doc_user = reader)
       AND (scope IS NULL OR doc_scope = scope)
       AND (types IS NULL OR doc_type = ANY(types))
       AND starts_with(doc_path, prefix)
$$;

CREATE TABLE vault_versions (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id     uuid        NOT NULL,
    doc_id        uuid        NOT NULL,
    version       integer     NOT NULL CHECK (version >= 1),
    title         text        NOT NULL,
    content       text        NOT NULL,
    content_hash  text        NOT NULL,
    changed_by    text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, doc_id) REFERENCES vault_documents (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (doc_id, version)
);

CREATE TABLE vault_links (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    tenant_id    uuid        NOT NULL,
    from_doc_id  uuid        NOT NULL,
    to_doc_id    uuid        NOT NULL,
    link_type    text        NOT NULL DEFAULT 'wikilink' CHECK (length(link_type) BETWEEN 1 AND 64),
    context      text        NOT NULL DEFAULT '',
    -- true: drawn from a [[wiki link]] in the source's content (replaced when the content changes)
    extracted    boolean     NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, from_doc_id) REFERENCES vault_documents (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, to_doc_id) REFERENCES vault_documents (tenant_id, id) ON DELETE CASCADE,
    UNIQUE (tenant_id, from_doc_id, to_doc_id, link_type)
);
CREATE INDEX vault_links_to_idx ON vault_links (tenant_id, to_doc_id);

-- The background embedding ("enrichment") of a tenant's vault, stopped by POST
-- /v1/vault/enrichment/stop and resumed by POST /v1/vault/rescan: kept here so that every process
-- of the gateway obeys it.
CREATE TABLE vault_enrichment (
    tenant_id   uuid        PRIMARY KEY REFERENCES tenants (id) ON DELETE CASCADE,
    stopped     boolean     NOT NULL DEFAULT false,
    changed_by  text        NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now()
);
