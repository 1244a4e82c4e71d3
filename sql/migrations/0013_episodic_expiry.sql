-- Episodic summaries expire 90 days after they were written (GoClaw's TTL): the background pass
-- (gateway/services/episodic.py expire_old) deletes them through this index.
UPDATE episodic_summaries
   SET expires_at = created_at + interval '90 days'
 WHERE expires_at IS NULL;

CREATE INDEX episodic_summaries_expires_idx ON episodic_summaries (expires_at) WHERE expires_at IS NOT NULL;
