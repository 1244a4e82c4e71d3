-- Many finished requests in one call (group commit): the gateway collects the exchanges that finish
-- while a write is in flight and records them together, one statement and one commit per batch.
-- Concurrent requests of one session then no longer queue on its row lock, one commit each.

CREATE FUNCTION clawgate_record_exchanges(p jsonb) RETURNS void
LANGUAGE plpgsql AS $fn$
DECLARE
    e jsonb;
BEGIN
    FOR e IN SELECT value FROM jsonb_array_elements(p) LOOP
        PERFORM clawgate_record_exchange(e);
    END LOOP;
END
$fn$;
