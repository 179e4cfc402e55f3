-- 0041_drop_pii_key_version: reports.pii_key_version goes.  Since
-- 0026_report_keys.sql each report's fields are sealed under a data key of
-- its own, whose row in report_keys names the master key version that
-- wraps it, and a value sealed before data keys names its version inside
-- the sealed bytes (storage/pii.h), so nothing read the column any more:
-- it only said, wrongly after a rewrap, which version wrote the report.

-- minyi_submit_batch of 0026_report_keys.sql without the column; p_key_version
-- still names the version that wraps each new data key.
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
                             reporter_kind, reporter_sector, region, phone_enc)
        SELECT p_body_region || '-' || v_year || '-' ||
                   lpad(s.n, greatest(6, length(s.n)), '0'),
               s.principal_id, s.client_report_id, s.payload_sha256, s.title,
               s.situation, s.analysis, s.suggestions, s.category, s.urgency,
               s.reporter_name, s.reporter_name_enc, s.reporter_unit,
               s.reporter_kind, s.reporter_sector, s.region, s.phone_enc
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

ALTER TABLE reports DROP COLUMN pii_key_version;
