-- 0009_results_offered: a result the peer below never acknowledges must not
-- hold back the ones behind it.
--
-- minyi_r_pull of 0005_results.sql offered the oldest owed results first,
-- up to the peer's limit.  A result the peer cannot store (its report is
-- unknown there: a restored database, an operator's deletion) stays owed,
-- and once the peer's limit of them had gathered, every pull returned the
-- same stuck rows and no newer result ever went down.  Now each row counts
-- how often it was offered; after RESULTS_OFFERED_SINK offers without an
-- acknowledgement it goes behind every row offered fewer times, so new
-- results still arrive at the next pull while the stuck ones wait (still
-- owed, still offered when there is room) for an operator.

ALTER TABLE results_out ADD COLUMN offered int NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION minyi_r_pull(p_peer bigint, p_ack bigint[], p_limit int,
                                        p_body_region text, p_body_name text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    -- Offers without an acknowledgement before a row sinks behind newer ones.
    RESULTS_OFFERED_SINK CONSTANT int := 3;
    v_acked int;
    v_items jsonb;
    v_n int;
BEGIN
    UPDATE results_out SET acked_at = now()
     WHERE peer_id = p_peer AND id = ANY (coalesce(p_ack, '{}')) AND acked_at IS NULL;
    GET DIAGNOSTICS v_acked = ROW_COUNT;
    WITH owed AS (
        SELECT *, offered >= RESULTS_OFFERED_SINK AS sunk FROM results_out
         WHERE peer_id = p_peer AND acked_at IS NULL
         ORDER BY offered >= RESULTS_OFFERED_SINK, id
         LIMIT p_limit + 1
    ), numbered AS (
        SELECT owed.*, row_number() OVER (ORDER BY sunk, id) AS n FROM owed
    ), offer AS (
        UPDATE results_out o SET offered = o.offered + 1
          FROM numbered x WHERE o.id = x.id AND x.n <= p_limit
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', x.id, 'receipt', r.receipt,
               'origin_region', coalesce(r.origin_region, ''),
               'origin_receipt', coalesce(r.origin_receipt, ''),
               'kind', x.kind, 'body', coalesce(x.body_name, p_body_name),
               'body_region', coalesce(x.body_region, p_body_region),
               'at_ms', minyi_ms(x.at), 'note', x.note, 'instruction', x.instruction,
               'instruction_level', x.instruction_level, 'destination', x.destination,
               'destination_receipt', x.dest_receipt) ORDER BY x.sunk, x.id)
               FILTER (WHERE x.n <= p_limit), '[]'::jsonb),
           count(*)
      INTO v_items, v_n
      FROM numbered x JOIN reports r ON r.id = x.report_id;
    RETURN jsonb_build_object('code', 0, 'acked', v_acked, 'items', v_items,
                              'more', v_n > p_limit);
END
$$;
