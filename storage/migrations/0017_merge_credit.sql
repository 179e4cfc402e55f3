-- 0016_merge_credit: credit follows the merge.
--
-- A report merged into another stays its writer's report (same receipt),
-- but what becomes of it is now the surviving report's fate: its state,
-- its decisions, its results and 批示 from above.  The contact point's
-- status (storage/queries.c) reads these rows: the report's own history,
-- then that of the report it was merged into (and of that one's target,
-- should it have been merged in turn), and the surviving report's state.
-- The surviving report's intake row and its 'merged_from' entries are left
-- out: they name another writer's report, which is none of this writer's
-- business.

CREATE FUNCTION minyi_status_rows(p_receipt text, p_principal bigint, p_depth_max int)
RETURNS TABLE (receipt text, state text, title text, received_at timestamptz, at timestamptz,
               action text, hstate text, note text, body_name text, body_region text,
               instruction text, instruction_level text, actor_name text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE mine AS (
        SELECT r.id, r.receipt, r.title, r.received_at
          FROM reports r WHERE r.receipt = p_receipt AND r.principal_id = p_principal
    ), chain AS (
        SELECT m.id AS report_id, 0 AS part FROM mine m
        UNION ALL
        SELECT t.merged_into, c.part + 1
          FROM chain c JOIN reports t ON t.id = c.report_id
         WHERE t.merged_into IS NOT NULL AND c.part < p_depth_max
    ), survivor AS (
        SELECT s.state FROM chain c JOIN reports s ON s.id = c.report_id
         ORDER BY c.part DESC LIMIT 1
    )
    SELECT m.receipt, (SELECT state FROM survivor), m.title, m.received_at, h.at, h.action,
           h.state, h.note, h.body_name, h.body_region, h.instruction, h.instruction_level,
           h.actor_name
      FROM mine m CROSS JOIN chain c CROSS JOIN LATERAL minyi_history_rows(c.report_id) h
     WHERE c.part = 0 OR (h.seq <> 0 AND h.action <> 'merged_from')
     ORDER BY c.part, h.seq
$$;
