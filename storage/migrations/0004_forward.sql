-- 0004_forward: reports forwarded to this body by a lower minyi instance
-- (a principal of kind peer), and their provenance.
--
-- A forwarded report is stored through the ordinary intake batch, under a
-- client_report_id the gateway derives from (origin region, origin
-- receipt), so the batch's (principal_id, client_report_id) key already
-- makes a resend store nothing new.  minyi_f_note() then records where the
-- report came from; the unique index below makes (origin region, origin
-- receipt) the key across all peers too.

ALTER TABLE reports
    ADD COLUMN origin_region  char(6) CHECK (origin_region ~ '^[0-9]{6}$'),
    ADD COLUMN origin_receipt text,
    ADD COLUMN origin_body    text,
    -- Region codes of the bodies the report passed through, origin first.
    ADD COLUMN origin_chain   text[];
CREATE UNIQUE INDEX reports_origin_idx ON reports (origin_region, origin_receipt)
    WHERE origin_receipt IS NOT NULL;

-- Records the provenance of the forwarded report p_receipt, stored just
-- before by p_peer.  Called again on every resend: the first call writes
-- the provenance and a 'forward_received' event, later ones only check that
-- they name the same origin.  Answers the receipt and when it was stored.
CREATE FUNCTION minyi_f_note(p_peer bigint, p_receipt text, p_origin_region text,
                             p_origin_receipt text, p_origin_body text, p_chain text[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v_dup boolean;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt AND principal_id = p_peer FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('forward.origin_receipt');
    END IF;
    v_dup := r.origin_receipt IS NOT NULL;
    IF v_dup THEN
        IF r.origin_region <> p_origin_region OR r.origin_receipt <> p_origin_receipt THEN
            RETURN minyi_err(4, 'forward.origin_receipt',
                             'the report was stored for another origin',
                             '该信息已对应其他来源');
        END IF;
    ELSE
        IF EXISTS (SELECT 1 FROM reports WHERE origin_region = p_origin_region
                                           AND origin_receipt = p_origin_receipt) THEN
            RETURN minyi_err(4, 'forward.origin_receipt',
                             'this origin receipt was forwarded here by another peer',
                             '该来源回执已由其他下级报送');
        END IF;
        UPDATE reports
           SET origin_region = p_origin_region, origin_receipt = p_origin_receipt,
               origin_body = p_origin_body, origin_chain = coalesce(p_chain, '{}')
         WHERE id = r.id;
        INSERT INTO events (report_id, actor, action, state, note)
        VALUES (r.id, p_peer, 'forward_received', r.state,
                format('from %s (%s) receipt %s', p_origin_body, p_origin_region,
                       p_origin_receipt));
    END IF;
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt, 'duplicate', v_dup,
                              'received_at_ms', minyi_ms(r.received_at));
END
$$;

-- ---- the lower side: delivering outbox rows --------------------------------
--
-- A forwarder claims due rows with a lease: state in_flight, attempts + 1,
-- and next_attempt_at the lease's end.  A row whose lease ran out (the
-- gateway holding it died between send and answer) is due again; the upper
-- instance's idempotency key makes the resend harmless.  The attempt
-- number a claim returns fences the answer: only the holder of the latest
-- attempt may mark the row delivered or failed.

CREATE INDEX outbox_in_flight_idx ON outbox (next_attempt_at) WHERE state = 'in_flight';

-- Claims up to p_limit due rows for the given destinations, oldest due
-- first, skipping rows another forwarder holds at this moment.  Answers
-- {"code": 0, "items": [...]}, each item the outbox row with its report's
-- text and provenance (the report's own, or where it came from when it was
-- forwarded here from below).  Personal fields are returned sealed (hex),
-- like minyi_t_show's.
CREATE FUNCTION minyi_fw_claim(p_dests text[], p_limit int, p_lease_s int)
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
               'origin_region', r.origin_region, 'origin_receipt', r.origin_receipt,
               'origin_body', r.origin_body, 'origin_chain', to_jsonb(r.origin_chain))
             ORDER BY c.next_attempt_at, c.id), '[]'::jsonb)
      INTO v_items
      FROM claimed c JOIN reports r ON r.id = c.report_id;
    RETURN jsonb_build_object('code', 0, 'items', v_items);
END
$$;

-- The fence: the row p_id, locked, when attempt p_attempt still holds it.
CREATE FUNCTION minyi_fw_held(p_id bigint, p_attempt int)
RETURNS outbox LANGUAGE sql VOLATILE AS $$
    SELECT * FROM outbox WHERE id = p_id AND state = 'in_flight' AND attempts = p_attempt
       FOR UPDATE
$$;

-- The upper instance answered with its receipt: delivered, and an event on
-- the report so its history shows where it went.
CREATE FUNCTION minyi_fw_delivered(p_id bigint, p_attempt int, p_upstream text)
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
    INSERT INTO events (report_id, actor, action, state, note)
    SELECT o.report_id, NULL, 'delivered', r.state,
           format('to %s, receipt there %s', o.destination, p_upstream)
      FROM reports r WHERE r.id = o.report_id;
    RETURN jsonb_build_object('code', 0);
END
$$;

-- An attempt failed.  Permanent failures, and temporary ones once
-- p_max_attempts attempts were made, make the row dead (shown to editors)
-- with an event; otherwise it is due again after an exponential backoff,
-- p_min_ms doubling per attempt up to p_max_ms, with "equal jitter" (half
-- fixed, half random) so that many rows failed together do not all come
-- back at the same moment.
CREATE FUNCTION minyi_fw_failed(p_id bigint, p_attempt int, p_error text, p_permanent boolean,
                                p_max_attempts int, p_min_ms int, p_max_ms int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    o outbox;
    v_ms float8;
BEGIN
    o := minyi_fw_held(p_id, p_attempt);
    IF o.id IS NULL THEN
        RETURN minyi_err(4, 'outbox', 'the delivery is no longer held by this attempt',
                         '该报送已不由本次尝试持有');
    END IF;
    IF p_permanent OR o.attempts >= p_max_attempts THEN
        UPDATE outbox SET state = 'dead', last_error = left(p_error, 500) WHERE id = o.id;
        INSERT INTO events (report_id, actor, action, state, note)
        SELECT o.report_id, NULL, 'delivery_dead', r.state,
               format('to %s after %s attempts: %s', o.destination, o.attempts,
                      left(p_error, 500))
          FROM reports r WHERE r.id = o.report_id;
        RETURN jsonb_build_object('code', 0, 'state', 'dead');
    END IF;
    v_ms := least(p_max_ms::float8, p_min_ms::float8 * power(2, o.attempts - 1));
    v_ms := v_ms / 2 + random() * v_ms / 2;
    UPDATE outbox
       SET state = 'pending', last_error = left(p_error, 500),
           next_attempt_at = now() + v_ms * interval '1 millisecond'
     WHERE id = o.id;
    RETURN jsonb_build_object('code', 0, 'state', 'pending', 'retry_in_ms', v_ms::int8);
END
$$;
