-- 0032_audit_read: the gateway's own admin events, the sealer's check of
-- the whole chain, and the office's read of the audit (storage/audit_ops.h,
-- PROTOCOL.md §3.17).

-- An admin event the gateway records through its pool (a config reload
-- that changed options); answers as the triage functions do.
CREATE FUNCTION minyi_admin_note(p_actor text, p_action text, p_subject text, p_note text)
RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    INSERT INTO admin_events (actor, action, subject, note)
    VALUES (p_actor, p_action, p_subject, p_note);
    SELECT jsonb_build_object('code', 0);
$$;

-- The sealer's last check of the whole chain (gateway/sealer.c): it read
-- `entries` entries and found the first broken one at broken_seq (NULL:
-- none), what says what is wrong there.  One row.
CREATE TABLE audit_status (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    checked_at  timestamptz NOT NULL,
    entries     bigint NOT NULL,
    broken_seq  bigint,
    what        text NOT NULL DEFAULT ''
);

-- A report's entries are found by their rows, not by walking the chain.
CREATE INDEX audit_chain_ref ON audit_chain (source, ref_id);

-- The sealed entries with seq > p_after, changes in [p_from, p_to) (NULL:
-- unbounded), of the report with receipt p_receipt (NULL: all), at most
-- p_limit, for p_actor, who must be an active office or admin.  Each entry
-- shows its row as it stands now: a row gone since it was sealed shows as
-- missing (the chain's status says it is broken there).
CREATE FUNCTION minyi_audit_read(p_actor bigint, p_from timestamptz, p_to timestamptz,
                                 p_receipt text, p_after bigint, p_limit int)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_report bigint;
    v_rows jsonb;
    v_n int;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM principals p
                    WHERE p.id = p_actor AND p.active AND p.kind IN ('office', 'admin')) THEN
        RETURN minyi_err(2, 'principal.kind', 'only offices and admins may read the audit',
                         '只有办公室和管理员可以查看审计记录');
    END IF;
    IF p_receipt IS NOT NULL THEN
        SELECT r.id INTO v_report FROM reports r WHERE r.receipt = p_receipt;
        IF NOT FOUND THEN
            RETURN minyi_err(3, 'audit.receipt', 'no report with this receipt',
                             '没有此回执对应的信息');
        END IF;
    END IF;
    WITH picked AS (
        SELECT c.* FROM audit_chain c
         WHERE c.seq > p_after AND v_report IS NULL
        UNION ALL
        SELECT c.* FROM audit_chain c
         WHERE v_report IS NOT NULL AND c.seq > p_after
           AND ((c.source = 'r' AND c.ref_id = v_report)
                OR (c.source = 'e' AND c.ref_id IN (SELECT e.id FROM events e
                                                     WHERE e.report_id = v_report)))
    ), entries AS (
        SELECT c.seq, c.hash, c.source, x.*
          FROM picked c
          LEFT JOIN LATERAL (
              SELECT r.received_at AS at, 'received'::text AS action, p.name AS actor,
                     r.receipt, 'RECEIVED'::text AS state, ''::text AS note, ''::text AS subject
                FROM reports r LEFT JOIN principals p ON p.id = r.principal_id
               WHERE c.source = 'r' AND r.id = c.ref_id
              UNION ALL
              SELECT e.at, e.action, coalesce(p.name, e.operator), r.receipt, e.state, e.note, ''
                FROM events e JOIN reports r ON r.id = e.report_id
                LEFT JOIN principals p ON p.id = e.actor
               WHERE c.source = 'e' AND e.id = c.ref_id
              UNION ALL
              SELECT a.at, a.action, a.actor, NULL, NULL, a.note, a.subject
                FROM admin_events a WHERE c.source = 'a' AND a.id = c.ref_id
          ) x ON true
         WHERE (p_from IS NULL OR x.at >= p_from) AND (p_to IS NULL OR x.at < p_to)
         ORDER BY c.seq
         LIMIT p_limit + 1
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'seq', seq, 'hash', encode(hash, 'hex'),
               'source', CASE source WHEN 'r' THEN 'report' WHEN 'e' THEN 'event' ELSE 'admin' END,
               'at_ms', coalesce(minyi_ms(at), 0), 'action', coalesce(action, ''),
               'actor', coalesce(actor, ''), 'receipt', coalesce(receipt, ''),
               'state', coalesce(state, ''), 'note', coalesce(note, ''),
               'subject', coalesce(subject, ''), 'missing', action IS NULL) ORDER BY seq),
           '[]'::jsonb), count(*)
      INTO v_rows, v_n
      FROM entries;
    IF v_n > p_limit THEN
        v_rows := v_rows - p_limit;
    END IF;
    RETURN jsonb_build_object(
        'code', 0, 'entries', v_rows, 'more', v_n > p_limit,
        'head_seq', coalesce((SELECT max(seq) FROM audit_chain), 0),
        'signed_seq', coalesce((SELECT max(seq) FROM audit_heads), 0),
        'checked_at_ms', coalesce((SELECT minyi_ms(checked_at) FROM audit_status), 0),
        'verified_seq', coalesce((SELECT CASE WHEN broken_seq IS NULL THEN entries
                                              ELSE broken_seq - 1 END FROM audit_status), 0),
        'broken_seq', coalesce((SELECT broken_seq FROM audit_status), 0),
        'broken_what', coalesce((SELECT what FROM audit_status), ''));
END
$$;
