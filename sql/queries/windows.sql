-- Sliding-window rate limits decided in PostgreSQL (store/windows.py). The caller holds the key's
-- transaction advisory lock (lock), so two processes never both take the last slot.

-- name: lock
SELECT pg_advisory_xact_lock(hashtextextended($1, 19));

-- name: hit
-- One hit of key $1 in a window of $2 seconds, limit $3: drops up to 200 hits (of any key) out of
-- the window that no other transaction holds (so keys that stop coming leave nothing behind, and
-- two callers never wait on each other's rows), records this one unless the window is full and
-- $4 is false (a refused hit counts only when $4), and returns how many hits of $1 were in the
-- window before it and the age of the oldest of them (seconds).
WITH gone AS (
    DELETE FROM window_hits
     WHERE ctid IN (SELECT ctid
                      FROM window_hits
                     WHERE hit_at < clock_timestamp() - make_interval(secs => $2)
                     LIMIT 200
                       FOR UPDATE SKIP LOCKED)
), counted AS (
    SELECT count(*) AS n,
           coalesce(extract(epoch FROM clock_timestamp() - min(hit_at)), 0)::float8 AS oldest_age
      FROM window_hits
     WHERE key = $1
       AND hit_at >= clock_timestamp() - make_interval(secs => $2)
), added AS (
    INSERT INTO window_hits (key)
    SELECT $1 FROM counted WHERE $4 OR counted.n < $3
)
SELECT n, oldest_age FROM counted;

-- name: trim
-- A refused hit that counts takes the oldest one's slot: drops the key's oldest hit and returns the
-- age (seconds) of the oldest left (the statement sees the rows as they were before its delete).
WITH oldest AS (
    DELETE FROM window_hits
     WHERE ctid = (SELECT ctid FROM window_hits WHERE key = $1 ORDER BY hit_at LIMIT 1)
)
SELECT extract(epoch FROM clock_timestamp() - hit_at)::float8
  FROM window_hits
 WHERE key = $1
 ORDER BY hit_at
OFFSET 1
 LIMIT 1;
