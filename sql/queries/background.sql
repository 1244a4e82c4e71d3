-- Background rounds (gateway/services/background.py): one process at a time runs a job.

-- name: claim_job
-- Takes the job's lock until the transaction ends (false: another process runs the job now).
SELECT pg_try_advisory_xact_lock($1, hashtext($2));
