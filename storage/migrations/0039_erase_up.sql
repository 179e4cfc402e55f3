-- 0039_erase_up: an erasure reaches the copies above.  A report forwarded
-- to a minyi instance above is stored there too, its personal fields
-- sealed under that instance's own data key, so destroying the key here
-- (minyid erase, retention) leaves that copy readable.  Each erasure
-- therefore owes every gateway destination the report was forwarded to an
-- EraseRequest (PROTOCOL.md §3.8.1): a row of erase_out, in the same
-- transaction as the erasure, which the forwarder delivers like a forward
-- (claimed with a lease, retried with backoff, dead after its limit).  The
-- instance above erases its copy the same way, so it passes the erasure
-- further up by the same rows.

CREATE TABLE erase_out (
    id              bigserial PRIMARY KEY,
    report_id       bigint NOT NULL REFERENCES reports (id),
    destination     text NOT NULL,
    state           text NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'in_flight', 'done', 'dead')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (report_id, destination)
);
CREATE INDEX erase_out_due_idx ON erase_out (next_attempt_at)
    WHERE state IN ('pending', 'in_flight');

-- minyi_pii_erase of 0031_audit_actions.sql that also owes the erasure to
-- every minyi instance the report was forwarded to (not to an external
-- destination, which is no gateway and keeps its own paper).  Whatever
-- the delivery's state: one that was sent may have arrived even when its
-- answer was lost, and the instance above answers an erasure of a report
-- it does not hold with ok.
CREATE OR REPLACE FUNCTION minyi_pii_erase(p_report bigint, p_actor bigint, p_operator text,
                                           p_note text)
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
    INSERT INTO events (report_id, actor, operator, action, state, note)
    VALUES (p_report, p_actor, p_operator, 'erase', v_state, p_note);
    INSERT INTO erase_out (report_id, destination)
    SELECT p_report, o.destination FROM outbox o
     WHERE o.report_id = p_report AND NOT o.external
    ON CONFLICT (report_id, destination) DO NOTHING;
    RETURN true;
END
$$;

-- The forwarder claims due erasures for p_dests with a lease, like
-- minyi_fw_claim's deliveries.  An erasure waits while its destination's
-- delivery is pending or in flight: sent before that delivery arrives, it
-- would find nothing above, and the delivery (sent before the erasure
-- with the fields still in it) would then store them there.  Each item
-- names the report as the forward did: its origin, or this body and its
-- receipt here when it was received here (origin_receipt null).
CREATE FUNCTION minyi_fw_claim_erase(p_dests text[], p_limit int, p_lease_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_items jsonb;
BEGIN
    WITH due AS (
        SELECT e.id FROM erase_out e
         WHERE e.destination = ANY (p_dests)
           AND e.state IN ('pending', 'in_flight') AND e.next_attempt_at <= now()
           AND NOT EXISTS (SELECT 1 FROM outbox o
                            WHERE o.report_id = e.report_id AND o.destination = e.destination
                              AND o.state IN ('pending', 'in_flight'))
         ORDER BY e.next_attempt_at, e.id
         LIMIT p_limit
           FOR UPDATE OF e SKIP LOCKED
    ), claimed AS (
        UPDATE erase_out e
           SET state = 'in_flight', attempts = e.attempts + 1,
               next_attempt_at = now() + make_interval(secs => p_lease_s)
          FROM due WHERE e.id = due.id
        RETURNING e.*
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'erase_id', c.id, 'destination', c.destination, 'attempt', c.attempts,
               'receipt', r.receipt, 'origin_region', r.origin_region,
               'origin_receipt', r.origin_receipt)
             ORDER BY c.next_attempt_at, c.id), '[]'::jsonb)
      INTO v_items
      FROM claimed c JOIN reports r ON r.id = c.report_id;
    RETURN jsonb_build_object('erasures', v_items);
END
$$;

-- The erasure p_id, claimed by attempt p_attempt, was done above (or there
-- was nothing to erase there): the report's history says so, naming the
-- destination by its display name, in the words of the delivery lines.
CREATE FUNCTION minyi_fw_erased(p_id bigint, p_attempt int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e erase_out;
BEGIN
    UPDATE erase_out SET state = 'done', last_error = ''
     WHERE id = p_id AND attempts = p_attempt AND state = 'in_flight'
    RETURNING * INTO e;
    IF NOT FOUND THEN
        RETURN minyi_err(4, 'erase_out', 'the erasure is no longer held by this attempt',
                         '该删除通知已不由本次尝试持有');
    END IF;
    INSERT INTO events (report_id, actor, action, state, note, destination)
    SELECT e.report_id, NULL, 'erase_sent', r.state,
           format('已通知%s删除个人信息', minyi_dest_display(o.destination, o.display_name)),
           e.destination
      FROM reports r
      LEFT JOIN outbox o ON o.report_id = r.id AND o.destination = e.destination
     WHERE r.id = e.report_id;
    RETURN jsonb_build_object('code', 0);
END
$$;

-- An attempt at erasure p_id failed: dead at once when permanent or after
-- p_max_attempts (the history says so, for the operator to act), else due
-- again after a backoff from p_min_ms doubling up to p_max_ms, half of it
-- random, as deliveries are (minyi_fw_failed).
CREATE FUNCTION minyi_fw_erase_failed(p_id bigint, p_attempt int, p_error text,
                                      p_permanent boolean, p_max_attempts int, p_min_ms int,
                                      p_max_ms int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    e erase_out;
    v_ms float8;
BEGIN
    SELECT * INTO e FROM erase_out
     WHERE id = p_id AND attempts = p_attempt AND state = 'in_flight' FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_err(4, 'erase_out', 'the erasure is no longer held by this attempt',
                         '该删除通知已不由本次尝试持有');
    END IF;
    IF p_permanent OR e.attempts >= p_max_attempts THEN
        UPDATE erase_out SET state = 'dead', last_error = left(p_error, 500) WHERE id = e.id;
        INSERT INTO events (report_id, actor, action, state, note, destination)
        SELECT e.report_id, NULL, 'erase_dead', r.state,
               format('通知%s删除个人信息失败（已尝试 %s 次）：%s',
                      minyi_dest_display(o.destination, o.display_name), e.attempts,
                      left(p_error, 500)), e.destination
          FROM reports r
          LEFT JOIN outbox o ON o.report_id = r.id AND o.destination = e.destination
         WHERE r.id = e.report_id;
        RETURN jsonb_build_object('code', 0, 'state', 'dead');
    END IF;
    v_ms := least(p_max_ms::float8, p_min_ms::float8 * power(2, e.attempts - 1));
    v_ms := v_ms / 2 + random() * v_ms / 2;
    UPDATE erase_out
       SET state = 'pending', last_error = left(p_error, 500),
           next_attempt_at = now() + v_ms * interval '1 millisecond'
     WHERE id = e.id;
    RETURN jsonb_build_object('code', 0, 'state', 'pending');
END
$$;

-- The upper side: peer p_peer erased the report it forwarded here as
-- (p_origin_region, p_origin_receipt), so this copy's personal fields go
-- too, with an 'erase' event whose actor is the peer, and the erasure is
-- owed further up wherever this body forwarded the copy.  A report this
-- body does not hold (never arrived, or forwarded by no one) has nothing
-- to erase: code 0 all the same, so the peer stops asking.  Another peer's
-- report is PERMISSION_DENIED.
CREATE FUNCTION minyi_f_erase(p_peer bigint, p_origin_region text, p_origin_receipt text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v_erased boolean;
BEGIN
    SELECT * INTO r FROM reports
     WHERE origin_region = p_origin_region AND origin_receipt = p_origin_receipt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN jsonb_build_object('code', 0, 'held', false, 'erased', false);
    END IF;
    IF r.principal_id IS DISTINCT FROM p_peer THEN
        RETURN minyi_err(2, 'erase.origin_receipt',
                         'this report was forwarded here by another peer',
                         '该信息由其他下级报送，不能由你方删除');
    END IF;
    v_erased := minyi_pii_erase(r.id, p_peer, NULL,
                                format('下级已删除：%s（%s）回执 %s', r.origin_body,
                                       p_origin_region, p_origin_receipt));
    RETURN jsonb_build_object('code', 0, 'held', true, 'erased', v_erased,
                              'receipt', r.receipt);
END
$$;
