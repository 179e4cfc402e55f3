-- 0011_shingles_table: duplicate-hint shingles in a table of their own.
--
-- 0002_triage.sql kept them in reports.shingles and filled them when an
-- editor opened a report: an UPDATE of up to 200 open reports (and of the
-- opened one) inside the show's transaction.  Those row locks made a claim
-- of any of these reports at that moment find its row locked (claims use
-- FOR UPDATE SKIP LOCKED) and answer CONFLICT "another editor changed this
-- report at the same moment" although nobody had.  Shingles now live in
-- report_shingles: filling them inserts there and never locks a report.
-- A changed text deletes its row, so the next show computes it again.

-- No foreign key, on purpose: checking one takes a KEY SHARE lock on the
-- report, which a claim's FOR UPDATE SKIP LOCKED would skip just the same.
-- The table is a cache of the reports' text, and reports are never deleted.
CREATE TABLE report_shingles (
    report_id bigint PRIMARY KEY,
    shingles  text[] NOT NULL
);
INSERT INTO report_shingles (report_id, shingles)
SELECT id, shingles FROM reports WHERE shingles IS NOT NULL;
CREATE INDEX report_shingles_idx ON report_shingles USING gin (shingles);

DROP TRIGGER reports_shingle ON reports;
DROP FUNCTION minyi_reports_shingle();
ALTER TABLE reports DROP COLUMN shingles;   -- drops reports_shingles_idx too

-- A changed text needs its shingles again.
CREATE FUNCTION minyi_reports_unshingle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM report_shingles WHERE report_id = NEW.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER reports_unshingle
    AFTER UPDATE OF title, situation, analysis, suggestions ON reports
    FOR EACH ROW EXECUTE FUNCTION minyi_reports_unshingle();

-- Computes the shingles of up to p_limit open reports that have none yet,
-- oldest first.  Two shows filling at once: the second waits for the
-- first's rows and skips them (ON CONFLICT), never a claim.
CREATE OR REPLACE FUNCTION minyi_fill_shingles(p_limit int)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int;
BEGIN
    INSERT INTO report_shingles (report_id, shingles)
    SELECT r.id, minyi_shingles(minyi_report_text(r.title, r.situation, r.analysis,
                                                  r.suggestions))
      FROM reports r
     WHERE r.state IN ('RECEIVED', 'IN_REVIEW')
       AND NOT EXISTS (SELECT 1 FROM report_shingles s WHERE s.report_id = r.id)
     ORDER BY r.id
     LIMIT p_limit
    ON CONFLICT (report_id) DO NOTHING;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- minyi_t_show of 0002_triage.sql (renamed minyi_t_show_0002 by
-- 0005_results.sql, which wraps it) reading and filling report_shingles.
CREATE OR REPLACE FUNCTION minyi_t_show_0002(p_actor bigint, p_receipt text, p_version int,
                                             p_similar_max int, p_similar_min real)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v report_versions;
    v1 report_versions;
    v_version int;
    v_shingles text[];
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt;
    IF NOT FOUND THEN
        RETURN minyi_not_found('show.receipt');
    END IF;
    -- Shingles are computed here, off the intake path: this report's own,
    -- and a bounded number of other open reports' that still lack them.
    SELECT s.shingles INTO v_shingles FROM report_shingles s WHERE s.report_id = r.id;
    IF NOT FOUND THEN
        v_shingles := minyi_shingles(minyi_report_text(r.title, r.situation, r.analysis,
                                                       r.suggestions));
        INSERT INTO report_shingles (report_id, shingles) VALUES (r.id, v_shingles)
        ON CONFLICT (report_id) DO NOTHING;
    END IF;
    PERFORM minyi_fill_shingles(200);
    v_version := CASE WHEN p_version > 0 THEN p_version ELSE r.version END;
    SELECT * INTO v FROM report_versions WHERE report_id = r.id AND version = v_version;
    IF NOT FOUND THEN
        RETURN minyi_err(3, 'show.version', format('the report has versions 1 to %s', r.version),
                         format('该信息只有第 1 至 %s 版', r.version));
    END IF;
    SELECT * INTO v1 FROM report_versions WHERE report_id = r.id AND version = 1;
    RETURN jsonb_build_object(
        'code', 0,
        'receipt', r.receipt,
        'state', r.state,
        'latest_version', r.version,
        'urgency', r.urgency,
        'region', r.region,
        'received_at_ms', minyi_ms(r.received_at),
        'reporter_name', r.reporter_name,
        'reporter_name_enc', encode(r.reporter_name_enc, 'hex'),
        'reporter_unit', r.reporter_unit,
        'reporter_kind', r.reporter_kind,
        'reporter_sector', r.reporter_sector,
        'phone_enc', encode(r.phone_enc, 'hex'),
        'contact_point', (SELECT name FROM principals WHERE id = r.principal_id),
        'claimed_by', coalesce((SELECT name FROM principals WHERE id = minyi_claim_holder(r)), ''),
        'claim_expires_ms', CASE WHEN minyi_claim_holder(r) IS NULL THEN 0
                                 ELSE minyi_ms(r.claim_expires_at) END,
        'version', jsonb_build_object(
            'version', v.version, 'at_ms', minyi_ms(v.at),
            'author', (SELECT name FROM principals WHERE id = v.author),
            'title', v.title, 'situation', v.situation, 'analysis', v.analysis,
            'suggestions', v.suggestions, 'category', v.category, 'note', v.note),
        'first', jsonb_build_object(
            'title', v1.title, 'situation', v1.situation, 'analysis', v1.analysis,
            'suggestions', v1.suggestions, 'category', v1.category),
        'history', coalesce((
            SELECT jsonb_agg(jsonb_build_object('at_ms', minyi_ms(e.at), 'state', e.state,
                                                'note', e.note, 'action', e.action)
                             ORDER BY e.id)
              FROM events e WHERE e.report_id = r.id), '[]'::jsonb),
        'similar', coalesce((
            SELECT jsonb_agg(jsonb_build_object('receipt', s.receipt, 'title', s.title,
                                                'state', s.state, 'similarity', s.sim)
                             ORDER BY s.sim DESC, s.id)
              FROM (SELECT o.id, o.receipt, o.title, o.state,
                           minyi_jaccard(os.shingles, v_shingles) AS sim
                      FROM report_shingles os JOIN reports o ON o.id = os.report_id
                     WHERE os.shingles && v_shingles AND o.id <> r.id
                       AND o.state IN ('RECEIVED', 'IN_REVIEW')
                     ORDER BY sim DESC, o.id
                     LIMIT p_similar_max) s
             WHERE s.sim >= p_similar_min), '[]'::jsonb),
        'merged_into', (SELECT receipt FROM reports WHERE id = r.merged_into),
        'merged_from', coalesce((
            SELECT jsonb_agg(m.receipt ORDER BY m.id)
              FROM reports m WHERE m.merged_into = r.id), '[]'::jsonb),
        'deliveries', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'destination', o.destination, 'state', o.state,
                       'attempts', o.attempts, 'next_attempt_ms', minyi_ms(o.next_attempt_at),
                       'last_error', o.last_error, 'upstream_receipt', o.upstream_receipt)
                             ORDER BY o.id)
              FROM outbox o WHERE o.report_id = r.id), '[]'::jsonb));
END
$$;
