-- name: spill
INSERT INTO bus_spill (tenant_id, body)
VALUES ($1, $2)
RETURNING id;

-- name: fetch_spill
SELECT s.body
  FROM bus_spill AS s
 WHERE s.id = $1;

-- name: prune_spill
DELETE FROM bus_spill
 WHERE created_at < now() - interval '1 hour';

-- name: notify
SELECT pg_notify($1, $2);

-- name: notify_all
-- Listeners get a transaction's notifications in the order they were sent: the order of the array.
SELECT pg_notify($1, p.body)
  FROM unnest($2::text[]) WITH ORDINALITY AS p(body, n)
 ORDER BY p.n;
