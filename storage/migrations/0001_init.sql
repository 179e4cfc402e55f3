-- 0001_init: principals, reports, attachments, events and the intake function.
--
-- Applied by store_preflight() inside one transaction under an advisory lock.

-- Who may connect: found by the SHA-256 fingerprint of the client certificate.
CREATE TABLE principals (
    id          bigserial PRIMARY KEY,
    fingerprint bytea NOT NULL UNIQUE CHECK (length(fingerprint) = 32),
    kind        text NOT NULL CHECK (kind IN ('contact', 'editor', 'peer', 'admin')),
    name        text NOT NULL,
    region      char(6) NOT NULL CHECK (region ~ '^[0-9]{6}$'),
    sector      text NOT NULL DEFAULT '',
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Receipt numbers come from one sequence: they are unique and increasing per
-- instance (per database), not per year or per region, and may have gaps
-- (a retry that turns out to be a duplicate still draws a number).  A sequence
-- never makes two transactions wait for each other, unlike a counter row.
CREATE SEQUENCE receipt_seq;

CREATE TABLE reports (
    id                bigserial PRIMARY KEY,
    receipt           text NOT NULL UNIQUE,
    principal_id      bigint NOT NULL REFERENCES principals (id),
    client_report_id  uuid NOT NULL,
    payload_sha256    bytea NOT NULL CHECK (length(payload_sha256) = 32),
    title             text NOT NULL,
    situation         text NOT NULL,
    analysis          text NOT NULL DEFAULT '',
    suggestions       text NOT NULL DEFAULT '',
    category          smallint NOT NULL,
    urgency           smallint NOT NULL,
    -- The reporter's name is personal data when the reporter is a citizen
    -- (群众): then only the sealed form is stored (AES-256-GCM, see
    -- storage/pii.h), otherwise the plain form.
    reporter_name     text,
    reporter_name_enc bytea,
    reporter_unit     text NOT NULL DEFAULT '',
    reporter_kind     smallint NOT NULL,
    reporter_sector   text NOT NULL DEFAULT '',
    region            char(6) NOT NULL CHECK (region ~ '^[0-9]{6}$'),
    phone_enc         bytea NOT NULL,
    pii_key_version   int NOT NULL,
    state             text NOT NULL DEFAULT 'RECEIVED' CHECK (state IN (
                          'RECEIVED', 'IN_REVIEW', 'ADOPTED', 'REJECTED', 'RETURNED',
                          'MERGED', 'FORWARDED', 'ADOPTED_ABOVE', 'NOT_ADOPTED_ABOVE')),
    received_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (principal_id, client_report_id),
    CHECK ((reporter_name IS NULL) <> (reporter_name_enc IS NULL))
);

-- A contact point lists its own reports newest first.
CREATE INDEX reports_principal_id_idx ON reports (principal_id, id DESC);

CREATE TABLE attachments (
    report_id   bigint NOT NULL REFERENCES reports (id),
    idx         smallint NOT NULL,
    name        text NOT NULL,
    media_type  text NOT NULL,
    sha256      bytea NOT NULL CHECK (length(sha256) = 32),
    content     bytea NOT NULL,
    PRIMARY KEY (report_id, idx)
);

-- Every state change of a report, appended in the same transaction as the change.
CREATE TABLE events (
    id          bigserial PRIMARY KEY,
    report_id   bigint NOT NULL REFERENCES reports (id),
    actor       bigint REFERENCES principals (id),
    action      text NOT NULL,
    state       text NOT NULL,
    note        text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX events_report_id_idx ON events (report_id, id);

-- Stores one batch of validated reports, given as parallel arrays (one
-- element per report; attachments as their own parallel arrays that name
-- their report by its 1-based position).  Reports whose
-- (principal_id, client_report_id) exists already are not stored again.
--
-- Returns one row per report: its position, its receipt, when it was first
-- stored, whether this call stored it, and the payload hash stored with it
-- (when that differs from the one given, the call is a CONFLICT, not a retry).
--
-- The lookup of existing rows runs as a second statement on purpose: under
-- READ COMMITTED it takes a fresh snapshot, so it sees a row that a concurrent
-- transaction committed while our INSERT waited for it on the unique index.
-- A single statement would not see that row.
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
    v_inserted int[];
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
        RETURNING id, principal_id, client_report_id, received_at
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
    SELECT coalesce(array_agg(s.ord::int), '{}')
      INTO v_inserted
      FROM ins i
      JOIN src s ON s.principal_id = i.principal_id
                AND s.client_report_id = i.client_report_id;

    RETURN QUERY
    SELECT k.ord::int, r.receipt,
           (extract(epoch FROM r.received_at) * 1000)::bigint,
           k.ord::int = ANY (v_inserted),
           r.payload_sha256
      FROM unnest(p_principal, p_crid) WITH ORDINALITY
               AS k(principal_id, client_report_id, ord)
      JOIN reports r ON r.principal_id = k.principal_id
                    AND r.client_report_id = k.client_report_id;
END
$$;
