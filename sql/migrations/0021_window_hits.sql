-- One sliding-window rate limit in PostgreSQL for every limit that must hold across processes
-- (store/windows.py): Mission Control's agent auth (0019's agent_auth_hits, now window_hits) and
-- ClawTasker's writes (0018's ct_write_hits, dropped: its keys now name the tenant and the IP).
-- Rows are hits of the last window only; any hit drops up to 200 expired rows of any key.
ALTER TABLE agent_auth_hits RENAME TO window_hits;
ALTER INDEX agent_auth_hits_key_idx RENAME TO window_hits_key_idx;
ALTER INDEX agent_auth_hits_at_idx RENAME TO window_hits_at_idx;
DROP TABLE ct_write_hits;
