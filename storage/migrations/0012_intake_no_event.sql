-- 0012_intake_no_event: intake writes no 'received' event.
--
-- Until now minyi_submit_batch wrote, beside each report, an events row
-- (action 'received', state RECEIVED, the contact point as actor, the
-- report's received_at as its time).  Every column of it is in the reports
-- row already, yet it cost the database a heap row, two index entries, two
-- foreign-key checks and two trigger conditions per report: in
-- tests/bench/run (4 KB reports, 64 connections x 32 in flight) PostgreSQL's
-- CPU per report was 118 us with it and 89 us without.
--
-- A report's history now begins with a row derived from the report itself
-- (minyi_history_rows below); events holds what happened after intake.  The
-- 'received' rows stored so far say nothing the reports do not, and would
-- appear twice in the history, so they go.  No result refers to them
-- (results_out and results_in name only the events of results).

DELETE FROM events WHERE action = 'received';

-- The intake function of 0003_intake_fast.sql without its events insert.
CREATE OR REPLACE FUNCTION minyi_submit_batch(
    p_body_region  text,
    p_principal    bigint[],
    p_crid         uuid[],
    p_sha          bytea[],
    p_title        text[],
    p_situation    text[],
    p_analysis     text[],
    p_suggestions  text[],
    p_category     smallint[],
    p_urgency      smallint[],
    p_rname        text[],
    p_rname_enc    bytea[],
    p_runit        text[],
    p_rkind        smallint[],
    p_rsector      text[],
    p_region       text[],
    p_phone_enc    bytea[],
    p_key_version  int,
    p_att_ord      int[],
    p_att_idx      smallint[],
    p_att_name     text[],
    p_att_type     text[],
    p_att_sha      bytea[],
    p_att_content  bytea[])
RETURNS TABLE (o_ord int, o_receipt text, o_received_at_ms bigint,
               o_inserted boolean, o_sha bytea)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    -- The receipt's year is the year in China at the time of storing, not
    -- the server's time zone's.
    v_year text := to_char(now() AT TIME ZONE 'Asia/Shanghai', 'YYYY');
    v_ord     int[];
    v_receipt text[];
    v_at_ms   int8[];
    v_sha     bytea[];
BEGIN
    WITH src AS (
        SELECT * FROM unnest(p_principal, p_crid, p_sha, p_title, p_situation,
                             p_analysis, p_suggestions, p_category, p_urgency,
                             p_rname, p_rname_enc, p_runit, p_rkind, p_rsector,
                             p_region, p_phone_enc)
            WITH ORDINALITY AS s(principal_id, client_report_id, payload_sha256,
                                 title, situation, analysis, suggestions, category,
                                 urgency, reporter_name, reporter_name_enc,
                                 reporter_unit, reporter_kind, reporter_sector,
                                 region, phone_enc, ord)
    ), ins AS (
        INSERT INTO reports (receipt, principal_id, client_report_id, payload_sha256,
                             title, situation, analysis, suggestions, category, urgency,
                             reporter_name, reporter_name_enc, reporter_unit,
                             reporter_kind, reporter_sector, region, phone_enc,
                             pii_key_version)
        SELECT p_body_region || '-' || v_year || '-' ||
                   lpad(s.n, greatest(6, length(s.n)), '0'),
               s.principal_id, s.client_report_id, s.payload_sha256, s.title,
               s.situation, s.analysis, s.suggestions, s.category, s.urgency,
               s.reporter_name, s.reporter_name_enc, s.reporter_unit,
               s.reporter_kind, s.reporter_sector, s.region, s.phone_enc,
               p_key_version
          FROM (SELECT src.*, nextval('receipt_seq')::text AS n
                  FROM src ORDER BY src.ord) s
        ON CONFLICT (principal_id, client_report_id) DO NOTHING
        RETURNING id, principal_id, client_report_id, received_at, receipt, payload_sha256
    ), att AS (
        INSERT INTO attachments (report_id, idx, name, media_type, sha256, content)
        SELECT i.id, a.idx, a.name, a.media_type, a.sha256, a.content
          FROM unnest(p_att_ord, p_att_idx, p_att_name, p_att_type, p_att_sha,
                      p_att_content) AS a(ord, idx, name, media_type, sha256, content)
          JOIN src s ON s.ord = a.ord
          JOIN ins i ON i.principal_id = s.principal_id
                    AND i.client_report_id = s.client_report_id
    )
    SELECT coalesce(array_agg(s.ord::int), '{}'), array_agg(i.receipt),
           array_agg((extract(epoch FROM i.received_at) * 1000)::int8),
           array_agg(i.payload_sha256)
      INTO v_ord, v_receipt, v_at_ms, v_sha
      FROM ins i
      JOIN src s ON s.principal_id = i.principal_id
                AND s.client_report_id = i.client_report_id;

    RETURN QUERY
    SELECT u.ord, u.receipt, u.at_ms, true, u.sha
      FROM unnest(v_ord, v_receipt, v_at_ms, v_sha) AS u(ord, receipt, at_ms, sha);

    IF cardinality(v_ord) < cardinality(p_crid) THEN
        RETURN QUERY
        SELECT k.ord::int, r.receipt,
               (extract(epoch FROM r.received_at) * 1000)::bigint,
               false,
               r.payload_sha256
          FROM unnest(p_principal, p_crid) WITH ORDINALITY
                   AS k(principal_id, client_report_id, ord)
          JOIN reports r ON r.principal_id = k.principal_id
                        AND r.client_report_id = k.client_report_id
         WHERE k.ord::int <> ALL (v_ord);
    END IF;
END
$$;

-- A report's history, oldest first: its intake (seq 0, from the reports
-- row), then its events (seq = events.id).  The one definition of history
-- for minyi_history and the contact point's status (storage/queries.c).
CREATE FUNCTION minyi_history_rows(p_report bigint)
RETURNS TABLE (seq bigint, at timestamptz, action text, state text, note text,
               body_name text, body_region text, instruction text, instruction_level text)
LANGUAGE sql STABLE AS $$
    SELECT 0::bigint, r.received_at, 'received'::text, 'RECEIVED'::text, ''::text, NULL::text,
           NULL::text, NULL::text, NULL::text
      FROM reports r WHERE r.id = p_report
    UNION ALL
    SELECT e.id, e.at, e.action, e.state, e.note, e.body_name, e.body_region::text, e.instruction,
           e.instruction_level
      FROM events e WHERE e.report_id = p_report
$$;

-- minyi_history of 0005_results.sql over minyi_history_rows.
CREATE OR REPLACE FUNCTION minyi_history(p_report bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'at_ms', minyi_ms(h.at), 'state', h.state, 'note', h.note, 'action', h.action,
               'body', coalesce(h.body_name, ''), 'body_region', coalesce(h.body_region, ''),
               'instruction', coalesce(h.instruction, ''),
               'instruction_level', coalesce(h.instruction_level, '')) ORDER BY h.seq),
           '[]'::jsonb)
      FROM minyi_history_rows(p_report) h
$$;
