-- 0013_notify_new_gathered: one 'new' notification carries up to 100
-- reports of one contact point.
--
-- minyi_notify_received of 0003_intake_fast.sql sent a notification per
-- stored report.  Each costs the database a queue entry and a wake-up of
-- every listening backend, and each gateway a message to read and parse;
-- at intake rates that was 10 to 15 % of the rate of tests/bench/run's S2
-- (persistent connections, one report in flight; measured by leaving the
-- notifications out).  The gateway's listener (storage/listen.c) hands each
-- receipt of a gathered notification on as its own QueueEvent, so watching
-- editors see what they saw before.
--
-- Payload: {"kind":"new","state":"RECEIVED","actor":NAME,"receipts":[...],
-- "at_ms":[...]}, the two arrays parallel and in the order stored.  A
-- hundred receipts (at most 40 bytes each with their time) and a name of
-- 128 characters stay well under NOTIFY's 8000-byte payload limit.
-- Notifications of single changes (the events trigger) keep their form.

CREATE OR REPLACE FUNCTION minyi_notify_received(p_receipts text[], p_at_ms int8[],
                                                 p_principals int8[])
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_notify('minyi_queue', json_build_object(
                'kind', 'new', 'state', 'RECEIVED',
                'actor', coalesce(left(p.name, 128), ''),
                'receipts', g.receipts, 'at_ms', g.at_ms)::text)
       FROM (SELECT c.principal_id, min(c.ord) AS first,
                    array_agg(c.receipt ORDER BY c.ord) AS receipts,
                    array_agg(c.at_ms ORDER BY c.ord) AS at_ms
               FROM (SELECT u.*, (row_number() OVER (PARTITION BY u.principal_id
                                                      ORDER BY u.ord) - 1) / 100 AS chunk
                       FROM unnest(p_receipts, p_at_ms, p_principals) WITH ORDINALITY
                                AS u(receipt, at_ms, principal_id, ord)) c
              GROUP BY c.principal_id, c.chunk) g
       LEFT JOIN principals p ON p.id = g.principal_id
      ORDER BY g.first;
    RETURN cardinality(p_receipts);
END
$$;
