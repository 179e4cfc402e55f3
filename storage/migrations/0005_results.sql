-- 0005_results: results flow back down the hierarchy.
--
-- The upper side.  Every result-worthy event on a report that a peer (a
-- lower minyi instance) forwarded here is owed to that peer: a trigger on
-- events writes a results_out row in the same transaction as the event, so
-- a decision and the promise to tell the body below commit together.
-- Result-worthy are the decisions adopt (with its 批示), reject, merge and
-- forward, the delivery further up ('delivered', with the receipt there),
-- and every result this instance itself received from above ('result_*'),
-- which is relayed unchanged: the body named stays the one that decided,
-- two or more levels up.
--
-- The peer pulls its rows with minyi_r_pull and acknowledges, in its next
-- pull, the ones it has stored.  A row is owed until acknowledged, so
-- nothing is lost when either side was down in between.  Rows are found by
-- their acked flag, never by "id greater than the last one seen": bigserial
-- ids are drawn before commit, so a transaction that commits late can hold
-- a smaller id than rows already seen, and a cursor would skip it.
--
-- The lower side.  minyi_r_apply stores a pulled batch in one transaction:
-- each result becomes an event on the report it concerns (found through
-- the outbox row's destination and upstream receipt), moves the report
-- FORWARDED -> ADOPTED_ABOVE on an adoption at any level above, or
-- FORWARDED -> NOT_ADOPTED_ABOVE on a rejection while nothing above has
-- adopted it, and marks the outbox row 'result' on a decision.  results_in
-- makes it idempotent per (destination, upstream result id): a result
-- pulled again because its acknowledgement was lost is not applied twice.
-- Because that event is a 'result_*' event, the trigger above relays it
-- further down when this report, too, came from a peer.

-- What a result needs besides action and note.  NULL when it does not
-- apply; body_name and body_region are NULL for what happened at this body.
ALTER TABLE events
    ADD COLUMN body_name         text,
    ADD COLUMN body_region       char(6) CHECK (body_region ~ '^[0-9]{6}$'),
    ADD COLUMN instruction       text,     -- 批示 text with an adoption
    ADD COLUMN instruction_level text,     -- the leader's level, e.g. 省领导
    ADD COLUMN destination       text,     -- forward, delivered: where it went
    ADD COLUMN dest_receipt      text;     -- delivered: the receipt there

-- ---- the upper side ----------------------------------------------------------

CREATE TABLE results_out (
    id                bigserial PRIMARY KEY,
    peer_id           bigint NOT NULL REFERENCES principals (id),
    report_id         bigint NOT NULL REFERENCES reports (id),
    event_id          bigint NOT NULL UNIQUE REFERENCES events (id),
    kind              text NOT NULL,
    body_name         text,                -- NULL: this body (named by the pull)
    body_region       char(6),
    at                timestamptz NOT NULL,
    note              text NOT NULL DEFAULT '',
    instruction       text NOT NULL DEFAULT '',
    instruction_level text NOT NULL DEFAULT '',
    destination       text NOT NULL DEFAULT '',
    dest_receipt      text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    acked_at          timestamptz          -- NULL: still owed
);
CREATE INDEX results_out_owed_idx ON results_out (peer_id, id) WHERE acked_at IS NULL;

-- The actions that are results, and the kind each is sent as.
CREATE FUNCTION minyi_result_kind(p_action text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_action IN ('adopt', 'reject', 'merge', 'forward', 'delivered') THEN p_action
        WHEN starts_with(p_action, 'result_') THEN substr(p_action, 8)
    END
$$;

CREATE FUNCTION minyi_results_owe() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_peer bigint;
BEGIN
    SELECT p.id INTO v_peer
      FROM reports r JOIN principals p ON p.id = r.principal_id
     WHERE r.id = NEW.report_id AND p.kind = 'peer';
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    INSERT INTO results_out (peer_id, report_id, event_id, kind, body_name, body_region, at,
                             note, instruction, instruction_level, destination, dest_receipt)
    VALUES (v_peer, NEW.report_id, NEW.id, minyi_result_kind(NEW.action), NEW.body_name,
            NEW.body_region, NEW.at, NEW.note, coalesce(NEW.instruction, ''),
            coalesce(NEW.instruction_level, ''), coalesce(NEW.destination, ''),
            coalesce(NEW.dest_receipt, ''));
    RETURN NULL;
END
$$;
-- The WHEN clause (minyi_result_kind spelt out) keeps the trigger off
-- intake's 'received' events, and every other action, without a call.
CREATE TRIGGER events_results AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.action IN ('adopt', 'reject', 'merge', 'forward', 'delivered')
                       OR starts_with(NEW.action, 'result_'))
    EXECUTE FUNCTION minyi_results_owe();

-- A peer's pull: acknowledges p_ack (only rows owed to p_peer; unknown or
-- already acknowledged ids are ignored, so a resent acknowledgement is
-- harmless), then answers up to p_limit rows still owed, oldest first, and
-- whether more are owed.  What happened at this body is named with
-- p_body_name and p_body_region, which only the gateway's config knows.
CREATE FUNCTION minyi_r_pull(p_peer bigint, p_ack bigint[], p_limit int, p_body_region text,
                             p_body_name text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_acked int;
    v_items jsonb;
    v_n int;
BEGIN
    UPDATE results_out SET acked_at = now()
     WHERE peer_id = p_peer AND id = ANY (coalesce(p_ack, '{}')) AND acked_at IS NULL;
    GET DIAGNOSTICS v_acked = ROW_COUNT;
    WITH owed AS (
        SELECT * FROM results_out
         WHERE peer_id = p_peer AND acked_at IS NULL
         ORDER BY id
         LIMIT p_limit + 1
    ), numbered AS (
        SELECT owed.*, row_number() OVER (ORDER BY id) AS n FROM owed
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', x.id, 'receipt', r.receipt,
               'origin_region', coalesce(r.origin_region, ''),
               'origin_receipt', coalesce(r.origin_receipt, ''),
               'kind', x.kind, 'body', coalesce(x.body_name, p_body_name),
               'body_region', coalesce(x.body_region, p_body_region),
               'at_ms', minyi_ms(x.at), 'note', x.note, 'instruction', x.instruction,
               'instruction_level', x.instruction_level, 'destination', x.destination,
               'destination_receipt', x.dest_receipt) ORDER BY x.id)
               FILTER (WHERE x.n <= p_limit), '[]'::jsonb),
           count(*)
      INTO v_items, v_n
      FROM numbered x JOIN reports r ON r.id = x.report_id;
    RETURN jsonb_build_object('code', 0, 'acked', v_acked, 'items', v_items,
                              'more', v_n > p_limit);
END
$$;

-- ---- decisions and deliveries record what the results need -------------------

-- minyi_t_decide of 0002_triage.sql with the 批示 of an adoption
-- (p_instruction, p_level; only with ADOPT, the level only with a text) and
-- the destinations of a forward recorded in the event's own columns.
DROP FUNCTION minyi_t_decide(bigint, text, text, text, text, text[]);
CREATE FUNCTION minyi_t_decide(p_actor bigint, p_receipt text, p_decision text, p_note text,
                               p_into text, p_destinations text[], p_instruction text,
                               p_level text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    t reports;
    v_refusal jsonb;
    v_state text;
    v_note text := p_note;
    v_instruction text := nullif(coalesce(p_instruction, ''), '');
    v_level text := nullif(coalesce(p_level, ''), '');
BEGIN
    IF v_instruction IS NOT NULL AND p_decision <> 'ADOPT' THEN
        RETURN minyi_err(1, 'decide.instruction', 'an instruction (批示) goes only with ADOPT',
                         '批示只能随采用决定一并录入');
    END IF;
    IF v_level IS NOT NULL AND v_instruction IS NULL THEN
        RETURN minyi_err(1, 'decide.instruction_level',
                         'a leader''s level needs the instruction (批示) text',
                         '批示领导级别须与批示内容一并录入');
    END IF;
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
    INSERT INTO events (report_id, actor, action, state, note, instruction, instruction_level,
                        destination)
    VALUES (r.id, p_actor, lower(p_decision), v_state, v_note, v_instruction, v_level,
            CASE WHEN p_decision = 'FORWARD' THEN array_to_string(p_destinations, ',') END);
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt, 'state', v_state);
END
$$;

-- minyi_fw_delivered of 0004_forward.sql, with the destination and the
-- receipt there in the event's own columns (the result sent down names them).
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
           format('to %s, receipt there %s', o.destination, p_upstream), o.destination,
           p_upstream
      FROM reports r WHERE r.id = o.report_id;
    RETURN jsonb_build_object('code', 0);
END
$$;

-- A report's history with the result columns, oldest first: for
-- minyi_t_show below (the contact point's status reads the columns itself).
CREATE FUNCTION minyi_history(p_report bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'at_ms', minyi_ms(e.at), 'state', e.state, 'note', e.note, 'action', e.action,
               'body', coalesce(e.body_name, ''), 'body_region', coalesce(e.body_region, ''),
               'instruction', coalesce(e.instruction, ''),
               'instruction_level', coalesce(e.instruction_level, '')) ORDER BY e.id),
           '[]'::jsonb)
      FROM events e WHERE e.report_id = p_report
$$;

-- minyi_t_show of 0002_triage.sql, its history with the result columns.
-- The function itself stays as it is under another name; this one only
-- replaces the history in its answer.
ALTER FUNCTION minyi_t_show(bigint, text, int, int, real) RENAME TO minyi_t_show_0002;
CREATE FUNCTION minyi_t_show(p_actor bigint, p_receipt text, p_version int,
                             p_similar_max int, p_similar_min real)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v jsonb;
BEGIN
    v := minyi_t_show_0002(p_actor, p_receipt, p_version, p_similar_max, p_similar_min);
    IF (v->>'code')::int = 0 THEN
        v := jsonb_set(v, '{history}',
                       minyi_history((SELECT id FROM reports WHERE receipt = p_receipt)));
    END IF;
    RETURN v;
END
$$;

-- ---- the lower side ------------------------------------------------------------

-- The results stored here, one per (destination, upstream result id).
CREATE TABLE results_in (
    destination text NOT NULL,
    upstream_id bigint NOT NULL,
    report_id   bigint NOT NULL REFERENCES reports (id),
    event_id    bigint REFERENCES events (id),
    stored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (destination, upstream_id)
);

-- A result names its report by the receipt above, which the outbox row
-- holds once delivered.
CREATE INDEX outbox_upstream_idx ON outbox (destination, upstream_receipt)
    WHERE upstream_receipt <> '';

-- Stores the results pulled from the peer p_dest (a [peer.NAME]), given as
-- a jsonb array of objects with the fields of the protocol's Result
-- (validated by the gateway), in one transaction.  Answers the ids to
-- acknowledge: those stored now and those stored before.  A result whose
-- report cannot be found here is not acknowledged, so it comes again (the
-- only way that happens in order is a delivery answered above but not yet
-- marked here; the report's origin finds it then).  p_body_region is this
-- body's region code: the origin of reports first received here.
CREATE FUNCTION minyi_r_apply(p_dest text, p_body_region text, p_items jsonb)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    x jsonb;
    r reports;
    v_id bigint;
    v_report bigint;
    v_outbox bigint;
    v_kind text;
    v_state text;
    v_event bigint;
    v_ack bigint[] := '{}';
    v_applied int := 0;
    v_unmatched int := 0;
BEGIN
    FOR x IN SELECT e FROM jsonb_array_elements(p_items) AS e ORDER BY (e->>'id')::int8 LOOP
        v_id := (x->>'id')::int8;
        v_kind := x->>'kind';
        IF EXISTS (SELECT 1 FROM results_in WHERE destination = p_dest AND upstream_id = v_id) THEN
            v_ack := v_ack || v_id;
            CONTINUE;
        END IF;
        SELECT o.id, o.report_id INTO v_outbox, v_report FROM outbox o
         WHERE o.destination = p_dest AND o.upstream_receipt = x->>'receipt'
           AND x->>'receipt' <> ''
         ORDER BY o.id LIMIT 1;
        IF NOT FOUND THEN
            SELECT o.id, o.report_id INTO v_outbox, v_report
              FROM outbox o JOIN reports rr ON rr.id = o.report_id
             WHERE o.destination = p_dest
               AND ((rr.origin_receipt IS NULL AND x->>'origin_region' = p_body_region
                     AND rr.receipt = x->>'origin_receipt')
                    OR (rr.origin_region = x->>'origin_region'
                        AND rr.origin_receipt = x->>'origin_receipt'))
             ORDER BY o.id LIMIT 1;
            IF NOT FOUND THEN
                v_unmatched := v_unmatched + 1;
                CONTINUE;
            END IF;
        END IF;
        -- A second gateway storing the same batch at this moment waits
        -- here and then finds the row: applied once.
        INSERT INTO results_in (destination, upstream_id, report_id)
        VALUES (p_dest, v_id, v_report)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            v_ack := v_ack || v_id;
            CONTINUE;
        END IF;
        SELECT * INTO r FROM reports WHERE id = v_report FOR UPDATE;
        v_state := CASE
            WHEN v_kind = 'adopt' AND r.state IN ('FORWARDED', 'NOT_ADOPTED_ABOVE')
                THEN 'ADOPTED_ABOVE'
            WHEN v_kind = 'reject' AND r.state = 'FORWARDED' THEN 'NOT_ADOPTED_ABOVE'
            ELSE r.state
        END;
        IF v_state <> r.state THEN
            UPDATE reports SET state = v_state, state_since = now() WHERE id = r.id;
        END IF;
        IF v_kind IN ('adopt', 'reject', 'merge', 'forward') THEN
            UPDATE outbox SET state = 'result' WHERE id = v_outbox AND state = 'delivered';
        END IF;
        INSERT INTO events (report_id, actor, action, state, note, at, body_name, body_region,
                            instruction, instruction_level, destination, dest_receipt)
        VALUES (r.id, NULL, 'result_' || v_kind, v_state, coalesce(x->>'note', ''),
                CASE WHEN (x->>'at_ms')::int8 > 0
                     THEN to_timestamp((x->>'at_ms')::int8 / 1000.0) ELSE now() END,
                nullif(x->>'body', ''), nullif(x->>'body_region', ''),
                nullif(x->>'instruction', ''), nullif(x->>'instruction_level', ''),
                nullif(x->>'destination', ''), nullif(x->>'destination_receipt', ''))
        RETURNING id INTO v_event;
        UPDATE results_in SET event_id = v_event
         WHERE destination = p_dest AND upstream_id = v_id;
        v_ack := v_ack || v_id;
        v_applied := v_applied + 1;
    END LOOP;
    RETURN jsonb_build_object('code', 0, 'ack', to_jsonb(v_ack), 'applied', v_applied,
                              'unmatched', v_unmatched);
END
$$;
