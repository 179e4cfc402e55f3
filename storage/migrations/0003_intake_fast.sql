-- 0003_intake_fast: intake's per-report work in the database made cheaper.
--
-- 1. The minyi_queue notification of a new report leaves the intake
--    transaction.  PostgreSQL serialises every transaction that sent a
--    NOTIFY on one lock held until its commit record is flushed, so
--    notifying transactions cannot share a WAL flush (group commit): with
--    the notification inside, concurrent intake batches committed one
--    fsync after another.  The gateway now sends minyi_notify_received()
--    for the reports a batch stored, after that batch's COMMIT, as its own
--    transaction with an asynchronous commit (it writes nothing durable, so
--    it need not wait for a flush and holds the lock only briefly).  The
--    payload is the one the events trigger sent.  A crash between the two
--    transactions loses that live-queue hint, never a report: an editor
--    sees the report on the next queue listing.
--
-- 2. The first version of a report is copied by one statement-level trigger
--    per INSERT (a transition table) instead of one PL/pgSQL call per row.
--
-- 3. minyi_submit_batch answers the rows it inserted from the INSERT's own
--    RETURNING and looks up only the rest (retries and conflicts, which
--    are rare).  Looking every row up again cost a join with reports per
--    batch, and its cached plan could be a sequential scan made while the
--    table was nearly empty.  The lookup still runs as a statement of its
--    own, with a fresh snapshot (see 0001_init.sql).

-- The events trigger skips intake's RECEIVED events by its WHEN clause,
-- evaluated without calling the function at all.
DROP TRIGGER events_notify ON events;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.action <> 'received') EXECUTE FUNCTION minyi_events_notify();

-- Sends the 'new' notification of each stored report, given as parallel
-- arrays of receipts, receipt times (ms) and contact points, in order;
-- returns how many were sent.  The gateway has all of it from the batch's
-- answer, so no report is looked up.  Call it as a statement of its own (an
-- implicit transaction): it makes the commit of the transaction it runs in
-- asynchronous.
CREATE FUNCTION minyi_notify_received(p_receipts text[], p_at_ms int8[], p_principals int8[])
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int;
BEGIN
    PERFORM set_config('synchronous_commit', 'off', true);
    PERFORM pg_notify('minyi_queue', json_build_object(
                'kind', 'new', 'receipt', u.receipt, 'state', 'RECEIVED',
                'actor', coalesce(left(p.name, 128), ''), 'at_ms', u.at_ms)::text)
       FROM unnest(p_receipts, p_at_ms, p_principals) WITH ORDINALITY
                AS u(receipt, at_ms, principal_id, ord)
       LEFT JOIN principals p ON p.id = u.principal_id
      ORDER BY u.ord;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

CREATE FUNCTION minyi_reports_first_versions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_versions (report_id, version, author, at, title, situation, analysis,
                                 suggestions, category, urgency, client_report_id)
    SELECT n.id, 1, n.principal_id, n.received_at, n.title, n.situation, n.analysis,
           n.suggestions, n.category, n.urgency, n.client_report_id
      FROM new_reports n;
    RETURN NULL;
END
$$;
DROP TRIGGER reports_first_version ON reports;
DROP FUNCTION minyi_reports_first_version();
CREATE TRIGGER reports_first_version AFTER INSERT ON reports
    REFERENCING NEW TABLE AS new_reports
    FOR EACH STATEMENT EXECUTE FUNCTION minyi_reports_first_versions();

-- The intake function of 0001_init.sql with change 3 above; its comment
-- there still describes it.
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
    ), ev AS (
        INSERT INTO events (report_id, actor, action, state, note, at)
        SELECT i.id, i.principal_id, 'received', 'RECEIVED', '', i.received_at
          FROM ins i
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
