-- 0028_office_reads: what the office reads that it could not before —
-- the outbox of its body (read-only: actions stay with editors), and
-- credit along chained merges.

-- The region of the body whose outbox p_actor may read: editors', offices'
-- and admins' own; NULL for anyone else.  Actions on a delivery still ask
-- minyi_editor_body (0006_outbox_admin.sql): editors only.
CREATE FUNCTION minyi_reader_body(p_actor bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT region::text FROM principals
     WHERE id = p_actor AND kind IN ('editor', 'office', 'admin') AND active
$$;

-- The outbox, one page, newest first, for an editor, an office or an admin
-- (0006_outbox_admin.sql had editors only).  p_states, p_dest and p_receipt
-- NULL mean any.  The cursor is the id of the last row of the previous page:
-- rows only ever get larger ids, so a later page never repeats a row.
CREATE OR REPLACE FUNCTION minyi_o_list(p_actor bigint, p_states text[], p_dest text,
                                        p_receipt text, p_cur_id int8, p_limit int)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_body text := minyi_reader_body(p_actor);
BEGIN
    IF v_body IS NULL THEN
        RETURN minyi_err(2, 'principal.kind',
                         'only editors, offices and admins may list the outbox',
                         '只有信息编辑、办公室和管理员可以查阅报送');
    END IF;
    RETURN (
        WITH page AS (
            SELECT o.id, o.destination, o.state, o.attempts, o.next_attempt_at, o.last_error,
                   o.upstream_receipt, o.created_at, r.receipt, r.title,
                   row_number() OVER (ORDER BY o.id DESC) AS n
              FROM outbox o
              JOIN reports r ON r.id = o.report_id
             WHERE minyi_receipt_body(r.receipt) = v_body
               AND (p_states IS NULL OR o.state = ANY (p_states))
               AND (p_dest IS NULL OR o.destination = p_dest)
               AND (p_receipt IS NULL OR r.receipt = p_receipt)
               AND (p_cur_id IS NULL OR o.id < p_cur_id)
             ORDER BY o.id DESC
             LIMIT p_limit + 1
        )
        SELECT jsonb_build_object(
            'code', 0,
            'items', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                           'outbox_id', x.id, 'receipt', x.receipt, 'title', x.title,
                           'destination', x.destination, 'state', x.state,
                           'attempts', x.attempts,
                           'next_attempt_ms', minyi_ms(x.next_attempt_at),
                           'last_error', x.last_error, 'upstream_receipt', x.upstream_receipt,
                           'created_ms', minyi_ms(x.created_at)) ORDER BY x.n)
                  FROM page x WHERE x.n <= p_limit), '[]'::jsonb),
            'next', (SELECT x.id::text FROM page x
                      WHERE x.n = p_limit AND EXISTS (SELECT 1 FROM page y WHERE y.n > p_limit))));
END
$$;

-- Credit follows chained merges: when A was merged into B and B later
-- into C, A's writer shares C's credit as B's does.  The credits of a
-- report are those of the reports merged into it, and theirs in turn.
CREATE OR REPLACE FUNCTION minyi_writers(p_report bigint)
RETURNS TABLE (principal_id bigint, via_report bigint, reporter text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE merged(id) AS (
        SELECT p_report
        UNION
        SELECT c.via_report_id FROM merged m JOIN report_credits c ON c.report_id = m.id
    )
    SELECT w.principal_id, w.id,
           CASE WHEN w.reporter_name IS NULL
                THEN '群众（' || p.name || '）'
                ELSE w.reporter_name || CASE WHEN w.reporter_unit <> ''
                                             THEN '（' || w.reporter_unit || '）' ELSE '' END
           END
      FROM merged m JOIN reports w ON w.id = m.id
      JOIN principals p ON p.id = w.principal_id
$$;
