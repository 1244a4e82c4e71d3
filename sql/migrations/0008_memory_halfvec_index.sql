-- Memory search at scale (issue 11): the HNSW index of 384-dimension chunk vectors holds them as
-- halfvec (2 bytes a number instead of 4: half the index pages to read, the same recall at this size,
-- bench/memory.py prints it). The column stays `vector`: exact scans and other dimensions are unchanged.
CREATE INDEX memory_chunks_embedding_384h_idx ON memory_chunks
 USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WHERE dims = 384;
DROP INDEX memory_chunks_embedding_384_idx;
