-- Memory ingest without an HNSW insert on the write path (issue 11). An HNSW insert costs ~97 % of
-- writing a chunk (410 chunks/s with it, 14,500 without, measured on the benchmark's data), and an
-- agent of at most memory.exact_search_max_chunks chunks is searched exactly anyway. So a chunk is
-- written outside the index (in_ann false) and admitted to it in the background, in batches, once
-- its agent is larger than that (MemoryService's admission round, store/memory.py:ann_admit). A
-- search of a larger agent reads the index for the admitted chunks and scans the few not admitted
-- yet (the backlog index below), so nothing written is missed meanwhile.
ALTER TABLE memory_chunks ADD COLUMN in_ann boolean NOT NULL DEFAULT false;
DROP INDEX memory_chunks_embedding_384h_idx;
CREATE INDEX memory_chunks_ann_384h_idx ON memory_chunks
 USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WHERE dims = 384 AND in_ann;
CREATE INDEX memory_chunks_ann_backlog_idx ON memory_chunks (tenant_id, agent_id)
 WHERE dims = 384 AND NOT in_ann;
