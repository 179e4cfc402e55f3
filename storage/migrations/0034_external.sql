-- 0034_external: 报送 to destinations outside the hierarchy, destinations
-- named by their display names, forwarding again only where the report
-- was returned from, and merged credit carried upward.
--
-- External destinations.  Besides the minyi instances above it ([peer.NAME]),
-- a body sends items to offices that run no gateway (市委办公室,
-- 市政府办公室, named departments; [external.NAME] in the gateway's config).
-- Such a 报送 is part of an ordinary FORWARD, mixed with gateway
-- destinations in one decision and one transaction: each destination gets
-- its outbox row as before, but an external one is sent at once (state
-- 'delivered', nobody claims it) under the document number and date the
-- editor gives, and an 'external' event records it.  What comes back (采纳,
-- a leader's 批示, a department's 办理答复) an editor records later with
-- minyi_t_external_response as an 'external_response' event, which moves
-- the row to 'result'.  Both events are results: they travel down to every
-- body below and every writer like a decision above (0005_results.sql), and
-- the office's figures count them (0023_office.sql).
--
-- Display names.  Only the gateway's config knows what a destination is
-- called, so the decision passes the display names along and they are kept
-- with the outbox row: the history names 浙江省政协 or 市委办公室, not the
-- config's key, also for the deliveries that follow.
--
-- Forwarding again.  After a return from above (0024_returns.sql) the
-- report may go again only to the destinations that returned it (or to
-- ones it never went to): a destination that holds the report and did not
-- return it would be sent a revision of an item that is not open for one,
-- and the delivery would go dead with CONFLICT up there.  The decision is
-- refused instead, naming the destinations and which of them returned it.
--
-- The results' lists below are those of 0029_issue_results.sql (which keeps
-- 'issue') with 'external' and 'external_response' added.
--
-- Merged credit upward.  A forwarded report carries, besides its own
-- reporter, every reporter credited on it: the writers of the reports merged
-- into it here, and those it arrived with from below (forward_credits).
-- Results on a report are owed not only to the peer that sent it but also
-- to each peer whose report was merged into it, under that report, so the
-- merged writers below hear of them too; a return reaches them as
-- 'returned_above' (information only: their report is not the one reopened).

ALTER TABLE outbox
    ADD COLUMN display_name    text,                  -- NULL: the destination's name
    ADD COLUMN external        boolean NOT NULL DEFAULT false,
    ADD COLUMN document_number text,                  -- external: the 报送's document
    ADD COLUMN document_date   timestamptz,
    ADD COLUMN returned        boolean NOT NULL DEFAULT false;  -- returned the report since its last forward

-- The reporters a report forwarded from below was credited with there,
-- besides its own reporter, in the order they were sent.  A citizen's name
-- is not sent upward (it stays with the body that holds it sealed).
CREATE TABLE forward_credits (
    report_id       bigint NOT NULL REFERENCES reports (id),
    ord             int NOT NULL,
    reporter_name   text NOT NULL DEFAULT '',
    reporter_unit   text NOT NULL DEFAULT '',
    reporter_kind   smallint NOT NULL,
    reporter_sector text NOT NULL DEFAULT '',
    PRIMARY KEY (report_id, ord)
);

-- One event may now be owed to several peers (the sender, and those whose
-- reports were merged into it), each under its own report.
ALTER TABLE results_out DROP CONSTRAINT results_out_event_id_key;
ALTER TABLE results_out ADD CONSTRAINT results_out_event_report_key UNIQUE (event_id, report_id);

CREATE OR REPLACE FUNCTION minyi_result_kind(p_action text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_action IN ('adopt', 'reject', 'return', 'merge', 'forward', 'delivered',
                          'instruction', 'issue', 'external', 'external_response')
            THEN p_action
        WHEN p_action IN ('result_return', 'result_returned_above') THEN 'returned_above'
        WHEN starts_with(p_action, 'result_') THEN substr(p_action, 8)
    END
$$;

CREATE OR REPLACE FUNCTION minyi_results_owe() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO results_out (peer_id, report_id, event_id, kind, body_name, body_region, at,
                             note, instruction, instruction_level, destination, dest_receipt)
    SELECT w.peer_id, w.report_id, NEW.id,
           CASE WHEN w.credited AND minyi_result_kind(NEW.action) = 'return'
                THEN 'returned_above' ELSE minyi_result_kind(NEW.action) END,
           NEW.body_name, NEW.body_region, NEW.at, NEW.note, coalesce(NEW.instruction, ''),
           coalesce(NEW.instruction_level, ''), coalesce(NEW.destination, ''),
           coalesce(NEW.dest_receipt, '')
      FROM (SELECT r.principal_id AS peer_id, r.id AS report_id, false AS credited
              FROM reports r JOIN principals p ON p.id = r.principal_id
             WHERE r.id = NEW.report_id AND p.kind = 'peer'
            UNION ALL
            SELECT v.principal_id, v.id, true
              FROM report_credits c
              JOIN reports v ON v.id = c.via_report_id
              JOIN principals p ON p.id = v.principal_id
             WHERE c.report_id = NEW.report_id AND p.kind = 'peer') w;
    RETURN NULL;
END
$$;

DROP TRIGGER events_results ON events;
CREATE TRIGGER events_results AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.action IN ('adopt', 'reject', 'return', 'merge', 'forward',
                                      'delivered', 'instruction', 'issue', 'external',
                                      'external_response')
                       OR starts_with(NEW.action, 'result_'))
    EXECUTE FUNCTION minyi_results_owe();

-- minyi_return_reopen of 0024_returns.sql, which also marks the delivery
-- the return came through (minyi_r_apply has just stored its results_in
-- row, its event not yet linked) as returned, whether or not the report
-- was still FORWARDED: a second destination's return is a return too.
CREATE OR REPLACE FUNCTION minyi_return_reopen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE outbox o SET returned = true
      FROM results_in i
     WHERE i.report_id = NEW.report_id AND i.event_id IS NULL
       AND o.report_id = NEW.report_id AND o.destination = i.destination;
    UPDATE reports
       SET state = 'RECEIVED', state_since = now(), returned_above = NEW.note
     WHERE id = NEW.report_id AND state = 'FORWARDED';
    IF FOUND THEN
        NEW.state := 'RECEIVED';
        UPDATE outbox SET state = 'result'
         WHERE report_id = NEW.report_id AND state = 'delivered';
    END IF;
    RETURN NEW;
END
$$;

-- The display name a destination was forwarded under.
CREATE FUNCTION minyi_dest_display(p_destination text, p_display text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(nullif(p_display, ''), p_destination)
$$;

-- minyi_fw_delivered of 0005_results.sql, its history line naming the
-- destination by its display name.
CREATE OR REPLACE FUNCTION minyi_fw_delivered(p_id bigint, p_attempt int, p_upstream text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    o outbox;
BEGIN
    o := minyi_fw_held(p_id, p_attempt);
    IF o.id IS NULL THEN
        RETURN minyi_err(4, 'outbox', 'the delivery is no longer held by this attempt',
                         '该报送已不由本次尝试持有');
    END IF;
    UPDATE outbox SET state = 'delivered', upstream_receipt = p_upstream, last_error = ''
     WHERE id = o.id;
    INSERT INTO events (report_id, actor, action, state, note, destination, dest_receipt)
    SELECT o.report_id, NULL, 'delivered', r.state,
           format('to %s, receipt there %s', minyi_dest_display(o.destination, o.display_name),
                  p_upstream),
           o.destination, p_upstream
      FROM reports r WHERE r.id = o.report_id;
    RETURN jsonb_build_object('code', 0);
END
$$;

-- A date given in milliseconds since the epoch; 0: now.
CREATE FUNCTION minyi_ms_or_now(p_ms int8)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_ms > 0 THEN to_timestamp(p_ms / 1000.0) ELSE now() END
$$;

-- A 报送 document's date as the history writes it (China time).
CREATE FUNCTION minyi_doc_date(p_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD')
$$;

-- Sends report p_report to the external destination p_dest (display name
-- p_display) under document p_doc of date p_at, on behalf of p_actor: its
-- outbox row (made here unless the decision made it) is delivered at once,
-- external, with the document, and an 'external' event records it.  For
-- whatever sends an item outside the hierarchy: a FORWARD here, a 专报
-- issue.
CREATE FUNCTION minyi_external_send(p_report bigint, p_actor bigint, p_dest text,
                                    p_display text, p_doc text, p_at timestamptz)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM outbox WHERE report_id = p_report AND destination = p_dest) THEN
        INSERT INTO outbox (report_id, destination) VALUES (p_report, p_dest);
    END IF;
    UPDATE outbox
       SET display_name = p_display, external = true, returned = false,
           document_number = p_doc, document_date = p_at, state = 'delivered',
           upstream_receipt = p_doc, last_error = ''
     WHERE report_id = p_report AND destination = p_dest;
    INSERT INTO events (report_id, actor, action, state, note, destination, dest_receipt)
    SELECT r.id, p_actor, 'external', r.state,
           format('报送%s，文号 %s，%s', p_display, p_doc, minyi_doc_date(p_at)), p_dest, p_doc
      FROM reports r WHERE r.id = p_report;
END
$$;

-- minyi_t_decide of 0005_results.sql for a FORWARD to several destinations,
-- gateway and external mixed: p_dests is a jsonb array of objects name
-- (the id), display and external, which the gateway resolved from its
-- config; p_doc_number and p_doc_ms are the external 报送's document.
-- Other decisions pass through unchanged.
ALTER FUNCTION minyi_t_decide(bigint, text, text, text, text, text[], text, text)
    RENAME TO minyi_t_decide_0005;
CREATE FUNCTION minyi_t_decide(p_actor bigint, p_receipt text, p_decision text, p_note text,
                               p_into text, p_dests jsonb, p_instruction text, p_level text,
                               p_doc_number text, p_doc_ms int8, p_future_slack_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v jsonb;
    v_refusal jsonb;
    v_held text;
    v_returned text;
    v_doc_at timestamptz := minyi_ms_or_now(p_doc_ms);
    v_names text[];
    v_display text;
    v_external boolean;
BEGIN
    SELECT array_agg(d.x->>'name' ORDER BY d.n),
           string_agg(d.x->>'display', ', ' ORDER BY d.n),
           bool_or((d.x->>'external')::boolean)
      INTO v_names, v_display, v_external
      FROM jsonb_array_elements(coalesce(p_dests, '[]'::jsonb)) WITH ORDINALITY AS d(x, n);
    IF p_decision <> 'FORWARD' THEN
        RETURN minyi_t_decide_0005(p_actor, p_receipt, p_decision, p_note, p_into, v_names,
                                   p_instruction, p_level);
    END IF;
    IF v_external THEN
        IF coalesce(p_doc_number, '') = '' THEN
            RETURN minyi_err(1, 'decide.document_number',
                             'a 报送 to an external destination needs its document number',
                             '报送至外部去向须填写文号');
        END IF;
        IF v_doc_at > now() + make_interval(secs => p_future_slack_s) THEN
            RETURN minyi_err(1, 'decide.document_date_ms',
                             'the date of a document cannot be in the future',
                             '文件日期不能晚于当前时间');
        END IF;
    END IF;
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE;
    IF FOUND AND r.state = 'IN_REVIEW' THEN
        v_refusal := minyi_need_claim(r, p_actor, 'decide.receipt');
        IF v_refusal IS NOT NULL THEN
            RETURN v_refusal;
        END IF;
        SELECT string_agg(minyi_dest_display(o.destination, o.display_name)
                          || ' (' || o.destination || ')', ', ' ORDER BY o.id)
                   FILTER (WHERE NOT o.returned AND o.destination = ANY (v_names)),
               string_agg(minyi_dest_display(o.destination, o.display_name)
                          || ' (' || o.destination || ')', ', ' ORDER BY o.id)
                   FILTER (WHERE o.returned)
          INTO v_held, v_returned
          FROM outbox o WHERE o.report_id = r.id;
        IF v_held IS NOT NULL THEN
            RETURN minyi_err(4, 'decide.destinations',
                             format('the report went to %s before and was not returned from '
                                    'there; forward it again only to a destination that '
                                    'returned it%s', v_held,
                                    coalesce(' (returned by ' || v_returned || ')', '')),
                             format('该信息已报送%s且未被退回；再次报送只能报送至退回它的去向%s',
                                    v_held, coalesce('（退回方：' || v_returned || '）', '')));
        END IF;
    END IF;
    v := minyi_t_decide_0005(p_actor, p_receipt, p_decision,
                             coalesce(nullif(p_note, ''), 'to ' || v_display), p_into,
                             v_names, p_instruction, p_level);
    IF (v->>'code')::int <> 0 THEN
        RETURN v;
    END IF;
    -- The rows the decision wrote (or made due again) keep the names, and
    -- an external one is sent at once under its document.
    UPDATE outbox o
       SET display_name = d.x->>'display', returned = false
      FROM jsonb_array_elements(p_dests) AS d(x)
     WHERE o.report_id = r.id AND o.destination = d.x->>'name';
    PERFORM minyi_external_send(r.id, p_actor, d.x->>'name', d.x->>'display', p_doc_number,
                                v_doc_at)
       FROM jsonb_array_elements(p_dests) WITH ORDINALITY AS d(x, n)
      WHERE (d.x->>'external')::boolean
      ORDER BY d.n;
    RETURN v;
END
$$;

-- Records what an external destination answered on a 报送 (editors; no
-- claim needed, the state does not change): p_kind 'adopted' (采纳),
-- 'instruction' (a leader's 批示, with p_level, the level's label, and the
-- leader in p_leader) or 'reply' (办理答复, p_text required).  The event
-- names the destination as the body that acted, and its note begins with
-- the kind's label, so every history below reads it alike.
CREATE FUNCTION minyi_t_external_response(p_actor bigint, p_receipt text, p_dest text,
                                          p_kind text, p_text text, p_level text,
                                          p_leader text, p_at_ms int8, p_future_slack_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    o outbox;
    v_at timestamptz := minyi_ms_or_now(p_at_ms);
    v_label text;
    v_sent text;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('external_response.receipt');
    END IF;
    SELECT * INTO o FROM outbox
     WHERE report_id = r.id AND destination = p_dest AND external FOR UPDATE;
    IF NOT FOUND THEN
        SELECT string_agg(minyi_dest_display(x.destination, x.display_name)
                          || ' (' || x.destination || ')', ', ' ORDER BY x.id)
          INTO v_sent FROM outbox x WHERE x.report_id = r.id AND x.external;
        RETURN minyi_err(3, 'external_response.destination',
                         format('the report was not sent (报送) to %s; it was sent to: %s',
                                p_dest, coalesce(v_sent, '(no external destination)')),
                         format('该信息未报送至 %s；已报送的外部去向：%s',
                                p_dest, coalesce(v_sent, '（无）')));
    END IF;
    IF v_at > now() + make_interval(secs => p_future_slack_s) THEN
        RETURN minyi_err(1, 'external_response.responded_at_ms',
                         'the date of a response cannot be in the future',
                         '反馈日期不能晚于当前时间');
    END IF;
    IF v_at < date_trunc('day', o.document_date) THEN
        RETURN minyi_err(1, 'external_response.responded_at_ms',
                         'the date of a response cannot be before the 报送 was sent',
                         '反馈日期不能早于报送日期');
    END IF;
    v_label := CASE p_kind WHEN 'adopted' THEN '采纳' WHEN 'instruction' THEN '批示'
                           WHEN 'reply' THEN '办理答复' END;
    IF v_label IS NULL THEN
        RAISE EXCEPTION 'minyi_t_external_response: unknown kind %', p_kind;
    END IF;
    INSERT INTO events (report_id, actor, action, state, note, at, body_name, instruction,
                        instruction_level, destination, dest_receipt)
    VALUES (r.id, p_actor, 'external_response', r.state,
            v_label || CASE WHEN p_kind = 'instruction'
                            THEN coalesce('（' || nullif(p_leader, '') || '）', '')
                            ELSE coalesce('：' || nullif(p_text, ''), '') END,
            v_at, minyi_dest_display(o.destination, o.display_name),
            CASE WHEN p_kind = 'instruction' THEN p_text END,
            CASE WHEN p_kind = 'instruction' THEN p_level END,
            o.destination, o.document_number);
    UPDATE outbox SET state = 'result' WHERE id = o.id;
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt, 'state', r.state);
END
$$;

-- The reporters credited on report p_report besides its own, as they go
-- upward with it: the writers of the reports merged into it here, then
-- those it came with from below.  A citizen's name stays here.
CREATE FUNCTION minyi_credited(p_report bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'name', x.name, 'unit', x.unit, 'kind', x.kind, 'sector', x.sector)
               ORDER BY x.part, x.ord), '[]'::jsonb)
      FROM (SELECT 0 AS part, v.id AS ord, coalesce(v.reporter_name, '') AS name,
                   v.reporter_unit AS unit, v.reporter_kind AS kind, v.reporter_sector AS sector
              FROM report_credits c JOIN reports v ON v.id = c.via_report_id
             WHERE c.report_id = p_report
            UNION ALL
            SELECT 1, f.ord, f.reporter_name, f.reporter_unit, f.reporter_kind, f.reporter_sector
              FROM forward_credits f WHERE f.report_id = p_report
            UNION ALL
            SELECT 2, g.ord, g.reporter_name, g.reporter_unit, g.reporter_kind, g.reporter_sector
              FROM report_credits c JOIN forward_credits g ON g.report_id = c.via_report_id
             WHERE c.report_id = p_report) x
$$;

-- minyi_fw_claim of 0024_returns.sql, each item with its credited reporters.
ALTER FUNCTION minyi_fw_claim(text[], int, int) RENAME TO minyi_fw_claim_0024;
CREATE FUNCTION minyi_fw_claim(p_dests text[], p_limit int, p_lease_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v jsonb;
BEGIN
    v := minyi_fw_claim_0024(p_dests, p_limit, p_lease_s);
    RETURN jsonb_set(v, '{items}', (
        SELECT coalesce(jsonb_agg(i.x || jsonb_build_object(
                   'credited', minyi_credited(o.report_id)) ORDER BY i.n), '[]'::jsonb)
          FROM jsonb_array_elements(v->'items') WITH ORDINALITY AS i(x, n)
          JOIN outbox o ON o.id = (i.x->>'outbox_id')::int8));
END
$$;

-- minyi_f_note of 0004_forward.sql, which also keeps the reporters the
-- report came credited with (p_credited, a jsonb array of objects name,
-- unit, kind, sector).  A resend or a revision brings the list again; the
-- first one stays, since merges below happen before the first forward.
ALTER FUNCTION minyi_f_note(bigint, text, text, text, text, text[]) RENAME TO minyi_f_note_0004;
CREATE FUNCTION minyi_f_note(p_peer bigint, p_receipt text, p_origin_region text,
                             p_origin_receipt text, p_origin_body text, p_chain text[],
                             p_credited jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v jsonb;
BEGIN
    v := minyi_f_note_0004(p_peer, p_receipt, p_origin_region, p_origin_receipt, p_origin_body,
                           p_chain);
    IF (v->>'code')::int = 0 THEN
        INSERT INTO forward_credits (report_id, ord, reporter_name, reporter_unit,
                                     reporter_kind, reporter_sector)
        SELECT r.id, c.n, coalesce(c.x->>'name', ''), coalesce(c.x->>'unit', ''),
               (c.x->>'kind')::int2, coalesce(c.x->>'sector', '')
          FROM reports r,
               jsonb_array_elements(coalesce(p_credited, '[]'::jsonb)) WITH ORDINALITY AS c(x, n)
         WHERE r.receipt = p_receipt
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN v;
END
$$;

-- minyi_t_show of 0024_returns.sql with the credited reporters (editors
-- see every writer the report stands for) and each delivery's display
-- name and, for an external one, its document.
ALTER FUNCTION minyi_t_show(bigint, text, int, int, real) RENAME TO minyi_t_show_0024;
CREATE FUNCTION minyi_t_show(p_actor bigint, p_receipt text, p_version int,
                             p_similar_max int, p_similar_min real)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v jsonb;
    v_id bigint;
BEGIN
    v := minyi_t_show_0024(p_actor, p_receipt, p_version, p_similar_max, p_similar_min);
    IF (v->>'code')::int <> 0 THEN
        RETURN v;
    END IF;
    SELECT id INTO v_id FROM reports WHERE receipt = p_receipt;
    RETURN v || jsonb_build_object(
        'credited', minyi_credited(v_id),
        'deliveries', (
            SELECT coalesce(jsonb_agg(i.x || jsonb_build_object(
                       'display_name', minyi_dest_display(o.destination, o.display_name),
                       'external', o.external,
                       'document_number', coalesce(o.document_number, ''),
                       'document_date_ms', coalesce(minyi_ms(o.document_date), 0))
                       ORDER BY i.n), '[]'::jsonb)
              FROM jsonb_array_elements(v->'deliveries') WITH ORDINALITY AS i(x, n)
              JOIN (SELECT ob.*, row_number() OVER (ORDER BY ob.id) AS n
                      FROM outbox ob WHERE ob.report_id = v_id) o ON o.n = i.n));
END
$$;
