-- 0002_triage: editors work the queue — versions, claims as leases, merges,
-- credits, the outbox of forwarded reports, duplicate hints and the
-- minyi_queue notifications.
--
-- Each triage operation is one function call (storage/triage.c sends it as
-- one prepared statement outside an explicit transaction), so each is one
-- transaction.  Every function returns one jsonb value: {"code": 0, ...}
-- with the result, or {"code": N, "field": ..., "msg": ..., "zh": ...}
-- with N a minyi.v1.ErrorCode.  A refusal changes nothing.

-- Duplicate hints use our own character shingles (minyi_shingles below)
-- rather than pg_trgm: pg_trgm only sees letters of the database's LC_CTYPE,
-- so under the C locale it finds no trigrams in Chinese text at all.

-- The text a report is searched and compared by.
CREATE FUNCTION minyi_report_text(p_title text, p_situation text, p_analysis text,
                                  p_suggestions text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_title || E'\n' || p_situation || E'\n' || p_analysis || E'\n' || p_suggestions
$$;

-- The distinct character trigrams of a text with white space removed
-- (the text is NFC already: intake and edits normalise it).  Chinese has no
-- spaces between words, so shingles of characters, not of words.  The
-- characters are walked once with a window (substr() at each position
-- would rescan the multi-byte text from its start: quadratic).
CREATE FUNCTION minyi_shingles(p_text text)
RETURNS text[] LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(DISTINCT z.s), '{}')
      FROM (SELECT ch || lead(ch, 1) OVER w || lead(ch, 2) OVER w AS s
              FROM unnest(string_to_array(regexp_replace(lower(p_text), '\s+', '', 'g'), NULL))
                   WITH ORDINALITY AS u(ch, i)
            WINDOW w AS (ORDER BY i)) z
     WHERE z.s IS NOT NULL
$$;

-- Jaccard similarity of two shingle sets, 0..1.
CREATE FUNCTION minyi_jaccard(a text[], b text[])
RETURNS real LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT CASE WHEN u.n = 0 THEN 0::real ELSE (i.n::real / u.n::real) END
      FROM (SELECT count(*) AS n FROM (SELECT unnest(a) INTERSECT SELECT unnest(b)) s) i,
           (SELECT count(*) AS n FROM (SELECT unnest(a) UNION SELECT unnest(b)) s) u
$$;

ALTER TABLE reports
    ADD COLUMN version          int NOT NULL DEFAULT 1,
    ADD COLUMN claimed_by       bigint REFERENCES principals (id),
    ADD COLUMN claim_expires_at timestamptz,
    ADD COLUMN merged_into      bigint REFERENCES reports (id),
    -- When the report entered its current state: deadlines count from here.
    ADD COLUMN state_since      timestamptz NOT NULL DEFAULT now(),
    -- NULL until computed.  Shingling a 4 KB text costs PostgreSQL about
    -- as much CPU as ten whole intake inserts, so it is kept off the intake
    -- path: minyi_fill_shingles() computes it for open reports when an
    -- editor opens one (see minyi_t_show).
    ADD COLUMN shingles         text[];
UPDATE reports SET state_since = received_at;

-- The queue: urgent first, then oldest first; the id breaks ties.
CREATE INDEX reports_queue_idx ON reports (urgency DESC, received_at, id);
CREATE INDEX reports_state_idx ON reports (state);
CREATE INDEX reports_shingles_idx ON reports USING gin (shingles);

-- A changed text needs its shingles again.
CREATE FUNCTION minyi_reports_shingle() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.shingles := NULL;
    RETURN NEW;
END
$$;
CREATE TRIGGER reports_shingle BEFORE UPDATE OF title, situation, analysis, suggestions
    ON reports FOR EACH ROW EXECUTE FUNCTION minyi_reports_shingle();

-- Computes the shingles of up to p_limit open reports that have none yet,
-- oldest first; rows another transaction holds are left for the next call.
CREATE FUNCTION minyi_fill_shingles(p_limit int)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    n int;
BEGIN
    UPDATE reports r
       SET shingles = minyi_shingles(minyi_report_text(r.title, r.situation,
                                                       r.analysis, r.suggestions))
     WHERE r.id IN (SELECT id FROM reports
                     WHERE shingles IS NULL AND state IN ('RECEIVED', 'IN_REVIEW')
                     ORDER BY id LIMIT p_limit
                       FOR UPDATE SKIP LOCKED);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Every version of a report's text.  Version 1 is the submitted text; each
-- edit and each resubmission adds one.  The reports row holds the current one.
CREATE TABLE report_versions (
    report_id        bigint NOT NULL REFERENCES reports (id),
    version          int NOT NULL CHECK (version >= 1),
    author           bigint NOT NULL REFERENCES principals (id),
    at               timestamptz NOT NULL DEFAULT now(),
    title            text NOT NULL,
    situation        text NOT NULL,
    analysis         text NOT NULL,
    suggestions      text NOT NULL,
    category         smallint NOT NULL,
    urgency          smallint NOT NULL,
    note             text NOT NULL DEFAULT '',
    -- The client_report_id of a resubmission, which makes its retries idempotent.
    client_report_id uuid,
    PRIMARY KEY (report_id, version),
    UNIQUE (report_id, client_report_id)
);
INSERT INTO report_versions (report_id, version, author, at, title, situation, analysis,
                             suggestions, category, urgency, client_report_id)
SELECT id, 1, principal_id, received_at, title, situation, analysis, suggestions, category,
       urgency, client_report_id
  FROM reports;

CREATE FUNCTION minyi_reports_first_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO report_versions (report_id, version, author, at, title, situation, analysis,
                                 suggestions, category, urgency, client_report_id)
    VALUES (NEW.id, 1, NEW.principal_id, NEW.received_at, NEW.title, NEW.situation,
            NEW.analysis, NEW.suggestions, NEW.category, NEW.urgency, NEW.client_report_id);
    RETURN NULL;
END
$$;
CREATE TRIGGER reports_first_version AFTER INSERT ON reports
    FOR EACH ROW EXECUTE FUNCTION minyi_reports_first_version();

-- Contact points credited with a report: the ones whose duplicates were
-- merged into it (the report's own contact point is credited implicitly).
CREATE TABLE report_credits (
    report_id     bigint NOT NULL REFERENCES reports (id),
    principal_id  bigint NOT NULL REFERENCES principals (id),
    via_report_id bigint NOT NULL REFERENCES reports (id),
    at            timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (report_id, via_report_id)
);

-- One row per destination of a forwarded report, written in the same
-- transaction as the FORWARD decision; the forwarder delivers them.
CREATE TABLE outbox (
    id               bigserial PRIMARY KEY,
    report_id        bigint NOT NULL REFERENCES reports (id),
    destination      text NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN (
                         'pending', 'in_flight', 'delivered', 'result', 'dead', 'cancelled')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text NOT NULL DEFAULT '',
    upstream_receipt text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (report_id, destination)
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_dead_idx ON outbox (report_id) WHERE state = 'dead';

-- Tells every listening gateway about a queue event.  The payload is small
-- (well under NOTIFY's 8000 bytes): kind, receipt, state, actor, time.
-- Events that do not change what an editor's queue shows send nothing.
CREATE FUNCTION minyi_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_kind    text;
    v_receipt text;
    v_actor   text;
BEGIN
    v_kind := CASE NEW.action
                  WHEN 'received' THEN 'new'
                  WHEN 'claim' THEN 'claimed'
                  WHEN 'release' THEN 'released'
                  WHEN 'edit' THEN 'edited'
                  WHEN 'resubmit' THEN 'resubmitted'
                  WHEN 'adopt' THEN 'decided'
                  WHEN 'reject' THEN 'decided'
                  WHEN 'return' THEN 'decided'
                  WHEN 'merge' THEN 'decided'
                  WHEN 'forward' THEN 'decided'
                  ELSE NULL
              END;
    IF v_kind IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT receipt INTO v_receipt FROM reports WHERE id = NEW.report_id;
    SELECT name INTO v_actor FROM principals WHERE id = NEW.actor;
    PERFORM pg_notify('minyi_queue', json_build_object(
        'kind', v_kind, 'receipt', v_receipt, 'state', NEW.state,
        'actor', coalesce(left(v_actor, 128), ''),
        'at_ms', (extract(epoch FROM NEW.at) * 1000)::int8)::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events
    FOR EACH ROW EXECUTE FUNCTION minyi_events_notify();

-- ---- helpers ----------------------------------------------------------------

CREATE FUNCTION minyi_err(p_code int, p_field text, p_msg text, p_zh text)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('code', p_code, 'field', p_field, 'msg', p_msg, 'zh', p_zh)
$$;

CREATE FUNCTION minyi_ms(p_at timestamptz)
RETURNS int8 LANGUAGE sql IMMUTABLE AS $$
    SELECT (extract(epoch FROM p_at) * 1000)::int8
$$;

CREATE FUNCTION minyi_not_found(p_field text)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(3, p_field, 'no report with this receipt', '没有此回执对应的信息')
$$;

-- Whose unexpired claim a report is under, or NULL.
CREATE FUNCTION minyi_claim_holder(r reports)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN r.claimed_by IS NOT NULL AND r.claim_expires_at > now()
                THEN r.claimed_by END
$$;

-- CONFLICT naming the editor who holds the claim on r.
CREATE FUNCTION minyi_claimed_conflict(r reports, p_field text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT minyi_err(4, p_field,
                     format('the report is claimed by %s until %s', p.name,
                            to_char(r.claim_expires_at AT TIME ZONE 'UTC',
                                    'YYYY-MM-DD"T"HH24:MI:SS"Z"')),
                     format('该信息已由%s认领，至 %s', p.name,
                            to_char(r.claim_expires_at AT TIME ZONE 'Asia/Shanghai',
                                    'YYYY-MM-DD HH24:MI:SS')))
      FROM principals p WHERE p.id = r.claimed_by
$$;

-- NULL when p_actor holds an unexpired claim on r (which must be locked),
-- else the refusal: claimed by someone else, or not claimed at all.
CREATE FUNCTION minyi_need_claim(r reports, p_actor bigint, p_field text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN minyi_claim_holder(r) = p_actor THEN NULL
        WHEN minyi_claim_holder(r) IS NOT NULL THEN minyi_claimed_conflict(r, p_field)
        ELSE minyi_err(4, p_field,
                       format('the report is %s and you do not hold its claim; claim it first',
                              r.state),
                       format('该信息状态为 %s，您未认领（或认领已过期），请先认领', r.state))
    END
$$;

CREATE FUNCTION minyi_state_conflict(p_state text, p_field text, p_what text, p_zh text)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(4, p_field,
                     format('the report is %s: %s', p_state, p_what),
                     format('该信息当前状态为 %s：%s', p_state, p_zh))
$$;

-- ---- operations -------------------------------------------------------------

-- Claims a report for p_lease_s seconds.  SKIP LOCKED: when another
-- transaction holds the row (another editor claiming or deciding at this
-- moment, perhaps through another gateway), we do not queue behind it to
-- claim after it; we wait only to read what it committed and refuse,
-- naming the holder.  So two editors can never both be told they hold it.
CREATE FUNCTION minyi_t_claim(p_actor bigint, p_receipt text, p_lease_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v_id bigint;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT id INTO v_id FROM reports WHERE receipt = p_receipt;
        IF NOT FOUND THEN
            RETURN minyi_not_found('claim.receipt');
        END IF;
        SELECT * INTO r FROM reports WHERE id = v_id FOR SHARE;
        IF minyi_claim_holder(r) IS NOT NULL AND r.claimed_by <> p_actor THEN
            RETURN minyi_claimed_conflict(r, 'claim.receipt');
        END IF;
        RETURN minyi_err(4, 'claim.receipt',
                         'another editor changed this report at the same moment; look again',
                         '其他编辑正在处理该信息，请刷新后重试');
    END IF;
    IF r.state NOT IN ('RECEIVED', 'IN_REVIEW') THEN
        RETURN minyi_state_conflict(r.state, 'claim.receipt',
                                    'only RECEIVED or IN_REVIEW reports can be claimed',
                                    '只有 RECEIVED 或 IN_REVIEW 状态的信息可以认领');
    END IF;
    IF minyi_claim_holder(r) IS NOT NULL AND r.claimed_by <> p_actor THEN
        RETURN minyi_claimed_conflict(r, 'claim.receipt');
    END IF;
    UPDATE reports
       SET state = 'IN_REVIEW',
           state_since = CASE WHEN state = 'IN_REVIEW' THEN state_since ELSE now() END,
           claimed_by = p_actor,
           claim_expires_at = now() + make_interval(secs => p_lease_s)
     WHERE id = r.id
     RETURNING * INTO r;
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (r.id, p_actor, 'claim', 'IN_REVIEW', '');
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt,
                              'expires_ms', minyi_ms(r.claim_expires_at));
END
$$;

-- Extends the caller's claim.  A lapsed claim may be renewed as long as
-- nobody else has claimed the report since.  Not an event: the report does
-- not change, only how long the editor keeps it.
CREATE FUNCTION minyi_t_renew(p_actor bigint, p_receipt text, p_lease_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('renew.receipt');
    END IF;
    IF r.state <> 'IN_REVIEW' OR r.claimed_by IS DISTINCT FROM p_actor THEN
        RETURN coalesce(minyi_need_claim(r, p_actor, 'renew.receipt'),
                        minyi_state_conflict(r.state, 'renew.receipt',
                                             'only a claimed IN_REVIEW report can be renewed',
                                             '只有已认领的 IN_REVIEW 信息可以续期'));
    END IF;
    UPDATE reports SET claim_expires_at = now() + make_interval(secs => p_lease_s)
     WHERE id = r.id RETURNING * INTO r;
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt,
                              'expires_ms', minyi_ms(r.claim_expires_at));
END
$$;

-- Gives the claim up; the report stays IN_REVIEW, free for any editor.
CREATE FUNCTION minyi_t_release(p_actor bigint, p_receipt text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('release.receipt');
    END IF;
    IF r.state <> 'IN_REVIEW' OR r.claimed_by IS DISTINCT FROM p_actor THEN
        RETURN coalesce(minyi_need_claim(r, p_actor, 'release.receipt'),
                        minyi_state_conflict(r.state, 'release.receipt',
                                             'only a claimed IN_REVIEW report can be released',
                                             '只有已认领的 IN_REVIEW 信息可以释放'));
    END IF;
    UPDATE reports SET claimed_by = NULL, claim_expires_at = NULL WHERE id = r.id;
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (r.id, p_actor, 'release', 'IN_REVIEW', '');
    RETURN jsonb_build_object('code', 0);
END
$$;

-- Replaces the non-NULL fields of the current text; a new version.
CREATE FUNCTION minyi_t_edit(p_actor bigint, p_receipt text, p_title text, p_situation text,
                             p_analysis text, p_suggestions text, p_category int2,
                             p_note text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    n reports;
    v_refusal jsonb;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('edit.receipt');
    END IF;
    IF r.state <> 'IN_REVIEW' THEN
        RETURN minyi_state_conflict(r.state, 'edit.receipt',
                                    'only a claimed IN_REVIEW report can be edited',
                                    '只有已认领的 IN_REVIEW 信息可以修改');
    END IF;
    v_refusal := minyi_need_claim(r, p_actor, 'edit.receipt');
    IF v_refusal IS NOT NULL THEN
        RETURN v_refusal;
    END IF;
    IF coalesce(p_title, r.title) = r.title AND coalesce(p_situation, r.situation) = r.situation
       AND coalesce(p_analysis, r.analysis) = r.analysis
       AND coalesce(p_suggestions, r.suggestions) = r.suggestions
       AND coalesce(p_category, r.category) = r.category THEN
        RETURN minyi_err(1, 'edit', 'the edit changes nothing', '修改内容与当前版本相同');
    END IF;
    UPDATE reports
       SET title = coalesce(p_title, title), situation = coalesce(p_situation, situation),
           analysis = coalesce(p_analysis, analysis),
           suggestions = coalesce(p_suggestions, suggestions),
           category = coalesce(p_category, category), version = version + 1
     WHERE id = r.id RETURNING * INTO n;
    INSERT INTO report_versions (report_id, version, author, title, situation, analysis,
                                 suggestions, category, urgency, note)
    VALUES (n.id, n.version, p_actor, n.title, n.situation, n.analysis, n.suggestions,
            n.category, n.urgency, p_note);
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (n.id, p_actor, 'edit', n.state,
            CASE WHEN p_note = '' THEN format('version %s', n.version)
                 ELSE format('version %s: %s', n.version, p_note) END);
    RETURN jsonb_build_object('code', 0, 'receipt', n.receipt, 'version', n.version);
END
$$;

-- A decision on a claimed IN_REVIEW report (see DESIGN.md's states):
-- adopt, reject, return, merge into p_into, forward to p_destinations (one
-- outbox row each, in this same transaction).  The claim ends with it.
CREATE FUNCTION minyi_t_decide(p_actor bigint, p_receipt text, p_decision text, p_note text,
                               p_into text, p_destinations text[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    t reports;
    v_refusal jsonb;
    v_state text;
    v_note text := p_note;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('decide.receipt');
    END IF;
    IF r.state <> 'IN_REVIEW' THEN
        RETURN minyi_state_conflict(r.state, 'decide.decision',
                                    format('%s needs a claimed IN_REVIEW report', p_decision),
                                    format('%s 需要已认领的 IN_REVIEW 信息', p_decision));
    END IF;
    v_refusal := minyi_need_claim(r, p_actor, 'decide.receipt');
    IF v_refusal IS NOT NULL THEN
        RETURN v_refusal;
    END IF;
    IF p_decision IN ('REJECT', 'RETURN') AND p_note = '' THEN
        RETURN minyi_err(1, 'decide.note', 'a reason is required', '必须说明理由');
    END IF;
    CASE p_decision
    WHEN 'ADOPT' THEN v_state := 'ADOPTED';
    WHEN 'REJECT' THEN v_state := 'REJECTED';
    WHEN 'RETURN' THEN v_state := 'RETURNED';
    WHEN 'FORWARD' THEN
        v_state := 'FORWARDED';
        IF coalesce(cardinality(p_destinations), 0) = 0 THEN
            RETURN minyi_err(1, 'decide.destinations', 'at least one destination is required',
                             '至少需要一个报送去向');
        END IF;
        INSERT INTO outbox (report_id, destination)
        SELECT r.id, d FROM unnest(p_destinations) AS d;
        IF v_note = '' THEN
            v_note := 'to ' || array_to_string(p_destinations, ', ');
        END IF;
    WHEN 'MERGE' THEN
        v_state := 'MERGED';
        SELECT * INTO t FROM reports WHERE receipt = p_into FOR UPDATE;
        IF NOT FOUND THEN
            RETURN minyi_not_found('decide.into_receipt');
        END IF;
        IF t.id = r.id THEN
            RETURN minyi_err(1, 'decide.into_receipt', 'a report cannot be merged into itself',
                             '信息不能合并到其自身');
        END IF;
        IF t.state = 'MERGED' THEN
            RETURN minyi_state_conflict(t.state, 'decide.into_receipt',
                                        'the target was itself merged; merge into its target',
                                        '目标信息已被合并，请合并到其目标信息');
        END IF;
        UPDATE reports SET merged_into = t.id WHERE id = r.id;
        INSERT INTO report_credits (report_id, principal_id, via_report_id)
        VALUES (t.id, r.principal_id, r.id)
        ON CONFLICT DO NOTHING;
        INSERT INTO events (report_id, actor, action, state, note)
        VALUES (t.id, p_actor, 'merged_from', t.state, r.receipt);
        v_note := CASE WHEN p_note = '' THEN 'into ' || t.receipt
                       ELSE 'into ' || t.receipt || ': ' || p_note END;
    ELSE
        RETURN minyi_err(1, 'decide.decision', 'unknown decision', '未知的处理决定');
    END CASE;
    UPDATE reports
       SET state = v_state, state_since = now(), claimed_by = NULL, claim_expires_at = NULL
     WHERE id = r.id;
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (r.id, p_actor, lower(p_decision), v_state, v_note);
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt, 'state', v_state);
END
$$;

-- A contact point's revision of its own RETURNED report: a new version
-- under the same receipt, back to RECEIVED.  Idempotent by the revision's
-- client_report_id.
CREATE FUNCTION minyi_t_resubmit(p_principal bigint, p_receipt text, p_crid uuid,
                                 p_title text, p_situation text, p_analysis text,
                                 p_suggestions text, p_category int2, p_urgency int2)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v report_versions;
BEGIN
    SELECT * INTO r FROM reports
     WHERE receipt = p_receipt AND principal_id = p_principal FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('resubmit.receipt');
    END IF;
    SELECT * INTO v FROM report_versions
     WHERE report_id = r.id AND client_report_id = p_crid;
    IF FOUND AND v.version > 1 THEN
        RETURN jsonb_build_object('code', 0, 'receipt', r.receipt, 'duplicate', true,
                                  'received_at_ms', minyi_ms(v.at));
    END IF;
    IF FOUND OR p_crid = r.client_report_id THEN
        RETURN minyi_err(4, 'report.client_report_id',
                         'a revision needs a client_report_id of its own',
                         '修改稿需要新的客户端报告编号');
    END IF;
    IF r.state <> 'RETURNED' THEN
        RETURN minyi_state_conflict(r.state, 'resubmit.receipt',
                                    'only a RETURNED report can be resubmitted',
                                    '只有被退回修改（RETURNED）的信息可以重新报送');
    END IF;
    UPDATE reports
       SET title = p_title, situation = p_situation, analysis = p_analysis,
           suggestions = p_suggestions, category = p_category, urgency = p_urgency,
           version = version + 1, state = 'RECEIVED', state_since = now()
     WHERE id = r.id RETURNING * INTO r;
    INSERT INTO report_versions (report_id, version, author, title, situation, analysis,
                                 suggestions, category, urgency, note, client_report_id)
    VALUES (r.id, r.version, p_principal, r.title, r.situation, r.analysis, r.suggestions,
            r.category, r.urgency, 'resubmitted', p_crid);
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (r.id, p_principal, 'resubmit', 'RECEIVED', format('version %s', r.version));
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt, 'duplicate', false,
                              'received_at_ms', minyi_ms(now()));
END
$$;

-- The deadline of a report in its state (NULL: none).
CREATE FUNCTION minyi_overdue(p_state text, p_since timestamptz, p_dl_received int,
                              p_dl_in_review int)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE p_state
        WHEN 'RECEIVED' THEN p_dl_received > 0
                             AND p_since + make_interval(secs => p_dl_received) < now()
        WHEN 'IN_REVIEW' THEN p_dl_in_review > 0
                              AND p_since + make_interval(secs => p_dl_in_review) < now()
        ELSE false
    END
$$;

-- The queue, one page.  The cursor is the position (urgency, received_at in
-- microseconds, id) of the last item of the previous page, so paging is
-- stable while reports come and go.
CREATE FUNCTION minyi_t_queue(p_actor bigint, p_states text[], p_categories int2[],
                              p_urgency int2, p_region_prefix text, p_contact bigint,
                              p_from_ms int8, p_to_ms int8, p_claimed_by_me boolean,
                              p_text text, p_overdue_only boolean, p_dead_only boolean,
                              p_cur_urgency int2, p_cur_us int8, p_cur_id int8,
                              p_limit int, p_dl_received int, p_dl_in_review int)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    WITH page AS (
        SELECT r.id, r.receipt, r.title, r.category, r.urgency, r.region, r.principal_id,
               r.state, r.received_at,
               (extract(epoch FROM r.received_at) * 1000000)::int8 AS us,
               minyi_claim_holder(r) AS holder, r.claim_expires_at,
               minyi_overdue(r.state, r.state_since, p_dl_received, p_dl_in_review) AS overdue
          FROM reports r
         WHERE r.state = ANY (coalesce(p_states, ARRAY['RECEIVED', 'IN_REVIEW']))
           AND (p_categories IS NULL OR r.category = ANY (p_categories))
           AND (p_urgency IS NULL OR r.urgency = p_urgency)
           AND (p_region_prefix IS NULL OR starts_with(r.region, p_region_prefix))
           AND (p_contact IS NULL OR r.principal_id = p_contact)
           AND (p_from_ms IS NULL OR r.received_at >= to_timestamp(p_from_ms / 1000.0))
           AND (p_to_ms IS NULL OR r.received_at < to_timestamp(p_to_ms / 1000.0))
           AND (NOT p_claimed_by_me OR (r.claimed_by = p_actor AND r.claim_expires_at > now()))
           AND (p_text IS NULL OR
                minyi_report_text(r.title, r.situation, r.analysis, r.suggestions)
                    ILIKE '%' || replace(replace(replace(p_text, '\', '\\'), '%', '\%'),
                                         '_', '\_') || '%')
           AND (NOT p_overdue_only
                OR minyi_overdue(r.state, r.state_since, p_dl_received, p_dl_in_review))
           AND (NOT p_dead_only
                OR EXISTS (SELECT 1 FROM outbox o WHERE o.report_id = r.id AND o.state = 'dead'))
           AND (p_cur_id IS NULL
                OR r.urgency < p_cur_urgency
                OR (r.urgency = p_cur_urgency
                    AND (r.received_at, r.id) >
                        ('epoch'::timestamptz + make_interval(secs => 0) +
                         p_cur_us * interval '1 microsecond', p_cur_id)))
         ORDER BY r.urgency DESC, r.received_at, r.id
         LIMIT p_limit + 1
    ), numbered AS (
        SELECT page.*, row_number() OVER (ORDER BY urgency DESC, received_at, id) AS n
          FROM page
    )
    SELECT jsonb_build_object(
        'code', 0,
        'items', coalesce((
            SELECT jsonb_agg(jsonb_build_object(
                       'receipt', x.receipt, 'title', x.title, 'category', x.category,
                       'urgency', x.urgency, 'contact_point', p.name,
                       'contact_point_id', x.principal_id,
                       'received_at_ms', minyi_ms(x.received_at), 'state', x.state,
                       'claimed_by', coalesce(h.name, ''),
                       'claim_expires_ms', CASE WHEN x.holder IS NULL THEN 0
                                                ELSE minyi_ms(x.claim_expires_at) END,
                       'overdue', x.overdue, 'region', x.region) ORDER BY x.n)
              FROM numbered x
              JOIN principals p ON p.id = x.principal_id
              LEFT JOIN principals h ON h.id = x.holder
             WHERE x.n <= p_limit), '[]'::jsonb),
        'next', (SELECT format('%s.%s.%s', x.urgency, x.us, x.id)
                   FROM numbered x WHERE x.n = p_limit
                    AND EXISTS (SELECT 1 FROM numbered y WHERE y.n > p_limit)))
$$;

-- Everything an editor sees when opening a report.  Personal fields are
-- returned sealed (hex); the gateway's store opens them with its key.
CREATE FUNCTION minyi_t_show(p_actor bigint, p_receipt text, p_version int,
                             p_similar_max int, p_similar_min real)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v report_versions;
    v1 report_versions;
    v_version int;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt;
    IF NOT FOUND THEN
        RETURN minyi_not_found('show.receipt');
    END IF;
    -- Shingles are computed here, off the intake path: this report's own,
    -- and a bounded number of other open reports' that still lack them.
    IF r.shingles IS NULL THEN
        UPDATE reports
           SET shingles = minyi_shingles(minyi_report_text(title, situation, analysis, suggestions))
         WHERE id = r.id
        RETURNING * INTO r;
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
                           minyi_jaccard(o.shingles, r.shingles) AS sim
                      FROM reports o
                     WHERE o.shingles && r.shingles AND o.id <> r.id
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
