-- 0016_history_actor: every history line names who acted here.
--
-- A contact point reading its report's history, and an editor reading a
-- report's, see the display name of the principal behind each entry: the
-- contact point for its intake and resubmissions, the editor for claims,
-- edits, decisions and 批示.  Entries made by the system (deliveries) and
-- results from above name no one here; a result names its body instead.
-- minyi_history_rows gains the column, and minyi_history (the editors'
-- show) passes it on; the contact point's status reads it in
-- minyi_status_rows (0017_merge_credit.sql).

DROP FUNCTION minyi_history_rows(bigint);
CREATE FUNCTION minyi_history_rows(p_report bigint)
RETURNS TABLE (seq bigint, at timestamptz, action text, state text, note text,
               body_name text, body_region text, instruction text, instruction_level text,
               actor_name text)
LANGUAGE sql STABLE AS $$
    SELECT 0::bigint, r.received_at, 'received'::text, 'RECEIVED'::text, ''::text, NULL::text,
           NULL::text, NULL::text, NULL::text, p.name
      FROM reports r JOIN principals p ON p.id = r.principal_id WHERE r.id = p_report
    UNION ALL
    SELECT e.id, e.at, e.action, e.state, e.note, e.body_name, e.body_region::text, e.instruction,
           e.instruction_level, p.name
      FROM events e LEFT JOIN principals p ON p.id = e.actor WHERE e.report_id = p_report
$$;

CREATE OR REPLACE FUNCTION minyi_history(p_report bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'at_ms', minyi_ms(h.at), 'state', h.state, 'note', h.note, 'action', h.action,
               'body', coalesce(h.body_name, ''), 'body_region', coalesce(h.body_region, ''),
               'instruction', coalesce(h.instruction, ''),
               'instruction_level', coalesce(h.instruction_level, ''),
               'actor', coalesce(h.actor_name, '')) ORDER BY h.seq),
           '[]'::jsonb)
      FROM minyi_history_rows(p_report) h
$$;
