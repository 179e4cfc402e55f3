-- 0026_report_keys: a data key per report.  Each report's personal fields
-- are sealed with a fresh random key of its own (storage/pii.h), and that
-- key is stored here wrapped under the master key of key_version.  Erasing
-- a report deletes its row: the sealed fields can then be opened by no one,
-- in the database or in any dump made afterwards, and rotating the master
-- key rewraps these rows rather than every field.  Reports sealed before
-- this migration have no row and open with the master key as before until
-- minyid pii rewrap gives them a data key.

CREATE TABLE report_keys (
    report_id   bigint PRIMARY KEY REFERENCES reports (id) ON DELETE CASCADE,
    key_version int NOT NULL,
    wrapped     bytea NOT NULL
);

-- minyi_submit_batch of 0012_intake_no_event.sql with p_dek, each report's
-- wrapped data key, inserted beside the report in the same statement.
DROP FUNCTION minyi_submit_batch(text, bigint[], uuid[], bytea[], text[], text[], text[], text[],
    smallint[], smallint[], text[], bytea[], text[], smallint[], text[], text[], bytea[], int,
    int[], smallint[], text[], text[], bytea[], bytea[]);
CREATE FUNCTION minyi_submit_batch(
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
    p_dek          bytea[],
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
                             p_region, p_phone_enc, p_dek)
            WITH ORDINALITY AS s(principal_id, client_report_id, payload_sha256,
                                 title, situation, analysis, suggestions, category,
                                 urgency, reporter_name, reporter_name_enc,
                                 reporter_unit, reporter_kind, reporter_sector,
                                 region, phone_enc, dek, ord)
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
    ), dek AS (
        INSERT INTO report_keys (report_id, key_version, wrapped)
        SELECT i.id, p_key_version, s.dek
          FROM ins i
          JOIN src s ON s.principal_id = i.principal_id
                    AND s.client_report_id = i.client_report_id
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

-- minyi_t_show_0002 of 0011_shingles_table.sql with the report's wrapped
-- data key (pii_key; null for a report without one), which opens its
-- sealed fields.
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
        'pii_key', (SELECT encode(k.wrapped, 'hex') FROM report_keys k WHERE k.report_id = r.id),
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

-- minyi_fw_claim of 0014_attachments_up.sql (renamed minyi_fw_claim_0014
-- by 0024_returns.sql, which wraps it) with each report's wrapped data key,
-- so the forwarder can open the fields it sends upward.
CREATE OR REPLACE FUNCTION minyi_fw_claim_0014(p_dests text[], p_limit int, p_lease_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_items jsonb;
BEGIN
    WITH due AS (
        SELECT id FROM outbox
         WHERE destination = ANY (p_dests)
           AND state IN ('pending', 'in_flight') AND next_attempt_at <= now()
         ORDER BY next_attempt_at, id
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE outbox o
           SET state = 'in_flight', attempts = o.attempts + 1,
               next_attempt_at = now() + make_interval(secs => p_lease_s)
          FROM due WHERE o.id = due.id
        RETURNING o.*
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'outbox_id', c.id, 'destination', c.destination, 'attempt', c.attempts,
               'receipt', r.receipt, 'title', r.title, 'situation', r.situation,
               'analysis', r.analysis, 'suggestions', r.suggestions,
               'category', r.category, 'urgency', r.urgency, 'region', r.region,
               'reporter_name', r.reporter_name,
               'reporter_name_enc', encode(r.reporter_name_enc, 'hex'),
               'reporter_unit', r.reporter_unit, 'reporter_kind', r.reporter_kind,
               'reporter_sector', r.reporter_sector,
               'phone_enc', encode(r.phone_enc, 'hex'),
               'pii_key', (SELECT encode(k.wrapped, 'hex') FROM report_keys k WHERE k.report_id = r.id),
               'origin_region', r.origin_region, 'origin_receipt', r.origin_receipt,
               'origin_body', r.origin_body, 'origin_chain', to_jsonb(r.origin_chain),
               'attachments', (
                   SELECT coalesce(jsonb_agg(jsonb_build_object(
                              'name', a.name, 'media_type', a.media_type,
                              'sha256', encode(a.sha256, 'hex'),
                              'content', encode(a.content, 'hex')) ORDER BY a.idx), '[]'::jsonb)
                     FROM attachments a WHERE a.report_id = r.id))
             ORDER BY c.next_attempt_at, c.id), '[]'::jsonb)
      INTO v_items
      FROM claimed c JOIN reports r ON r.id = c.report_id;
    RETURN jsonb_build_object('code', 0, 'items', v_items);
END
$$;

-- minyi_pii_erase of 0022_pii_erase.sql that also destroys the data key.
CREATE OR REPLACE FUNCTION minyi_pii_erase(p_report bigint, p_actor bigint, p_note text)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_state text;
BEGIN
    UPDATE reports
       SET phone_enc = '\x'::bytea,
           reporter_name_enc = CASE WHEN reporter_name_enc IS NULL THEN NULL ELSE '\x'::bytea END,
           pii_erased_at = now()
     WHERE id = p_report AND pii_erased_at IS NULL
    RETURNING state INTO v_state;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM report_keys WHERE report_id = p_report;
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (p_report, p_actor, 'erase', v_state, p_note);
    RETURN true;
END
$$;
