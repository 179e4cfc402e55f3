-- 0006_outbox_admin: the editors' side of the outbox — list the deliveries
-- of forwarded reports, retry one that went dead, cancel one that should
-- not be sent (any more).
--
-- Like the triage functions of 0002, each operation is one function call
-- and so one transaction, and answers one jsonb value: {"code": 0, ...}, or
-- a refusal made by minyi_err() that changes nothing.
--
-- Who may: only active editors (anyone else is PERMISSION_DENIED on
-- principal.kind; the gateway refuses other kinds before asking, this is
-- the second line).  An editor works for one body, the one whose region
-- code is the editor's principal region; a report belongs to the body that
-- received it, whose region code heads its receipt (minyi_submit_batch
-- writes body_region || '-' || year || '-' || sequence).  An editor sees
-- and acts on the outbox rows of their own body's reports only.  Any other
-- row is NOT_FOUND with the same message as an id that does not exist, so
-- that ids of other bodies cannot be probed.

-- The region of the body p_actor edits for; NULL when p_actor is not an
-- active editor.
CREATE FUNCTION minyi_editor_body(p_actor bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT region::text FROM principals WHERE id = p_actor AND kind = 'editor' AND active
$$;

-- The region of the body that received a report (see above).
CREATE FUNCTION minyi_receipt_body(p_receipt text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(p_receipt, 6)
$$;

CREATE FUNCTION minyi_o_not_editor()
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(2, 'principal.kind', 'only editors may work the outbox',
                     '只有信息编辑可以处理报送')
$$;

CREATE FUNCTION minyi_o_not_found()
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(3, 'outbox_action.outbox_id', 'no delivery with this id',
                     '没有此编号的报送')
$$;

-- The outbox, one page, newest first.  p_states, p_dest and p_receipt NULL
-- mean any.  The cursor is the id of the last row of the previous page:
-- rows only ever get larger ids, so a later page never repeats a row.
CREATE FUNCTION minyi_o_list(p_actor bigint, p_states text[], p_dest text, p_receipt text,
                             p_cur_id int8, p_limit int)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_body text := minyi_editor_body(p_actor);
BEGIN
    IF v_body IS NULL THEN
        RETURN minyi_o_not_editor();
    END IF;
    RETURN (
        WITH page AS (
            SELECT o.id, o.destination, o.state, o.attempts, o.next_attempt_at, o.last_error,
                   o.upstream_receipt, o.created_at, r.receipt, r.title,
                   row_number() OVER (ORDER BY o.id DESC) AS n
              FROM outbox o
              JOIN reports r ON r.id = o.report_id
             WHERE minyi_receipt_body(r.receipt) = v_body
               AND (p_states IS NULL OR o.state = ANY (p_states))
               AND (p_dest IS NULL OR o.destination = p_dest)
               AND (p_receipt IS NULL OR r.receipt = p_receipt)
               AND (p_cur_id IS NULL OR o.id < p_cur_id)
             ORDER BY o.id DESC
             LIMIT p_limit + 1
        )
        SELECT jsonb_build_object(
            'code', 0,
            'items', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                           'outbox_id', x.id, 'receipt', x.receipt, 'title', x.title,
                           'destination', x.destination, 'state', x.state,
                           'attempts', x.attempts,
                           'next_attempt_ms', minyi_ms(x.next_attempt_at),
                           'last_error', x.last_error, 'upstream_receipt', x.upstream_receipt,
                           'created_ms', minyi_ms(x.created_at)) ORDER BY x.n)
                  FROM page x WHERE x.n <= p_limit), '[]'::jsonb),
            'next', (SELECT x.id::text FROM page x
                      WHERE x.n = p_limit AND EXISTS (SELECT 1 FROM page y WHERE y.n > p_limit))));
END
$$;

-- An editor's action on one delivery: RETRY a dead one (pending again, due
-- now, attempts back to 0 so that it gets the whole retry budget again;
-- the last error stays until the next attempt replaces it), or CANCEL a
-- dead or pending one (never sent).  Rows in flight are refused: their
-- attempt's answer decides them.  Either action writes an event with the
-- editor as actor and the note.  The row is locked first; a forwarder
-- claiming at the same moment skips it (SKIP LOCKED), and one marking an
-- attempt waits and then finds it no longer in flight.
CREATE FUNCTION minyi_o_act(p_actor bigint, p_id bigint, p_action text, p_note text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_body text := minyi_editor_body(p_actor);
    o outbox;
    r reports;
    v_state text;
    v_event text;
BEGIN
    IF v_body IS NULL THEN
        RETURN minyi_o_not_editor();
    END IF;
    SELECT * INTO o FROM outbox WHERE id = p_id FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_o_not_found();
    END IF;
    SELECT * INTO r FROM reports WHERE id = o.report_id;
    IF minyi_receipt_body(r.receipt) <> v_body THEN
        RETURN minyi_o_not_found();
    END IF;
    CASE p_action
    WHEN 'RETRY' THEN
        IF o.state <> 'dead' THEN
            RETURN minyi_err(4, 'outbox_action.outbox_id',
                             format('the delivery is %s: only a dead delivery can be retried',
                                    o.state),
                             format('该报送当前状态为 %s：只有已失败（dead）的报送可以重试',
                                    o.state));
        END IF;
        UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = now()
         WHERE id = o.id;
        v_state := 'pending';
        v_event := 'delivery_retry';
    WHEN 'CANCEL' THEN
        IF o.state NOT IN ('dead', 'pending') THEN
            RETURN minyi_err(4, 'outbox_action.outbox_id',
                             format('the delivery is %s: only a dead or pending delivery can be'
                                    ' cancelled', o.state),
                             format('该报送当前状态为 %s：只有已失败（dead）或待发送（pending）'
                                    '的报送可以取消', o.state));
        END IF;
        UPDATE outbox SET state = 'cancelled' WHERE id = o.id;
        v_state := 'cancelled';
        v_event := 'delivery_cancelled';
    ELSE
        RETURN minyi_err(1, 'outbox_action.action', 'action must be RETRY or CANCEL',
                         '操作须为重试或取消');
    END CASE;
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (r.id, p_actor, v_event, r.state,
            CASE WHEN p_note = '' THEN format('to %s', o.destination)
                 ELSE format('to %s: %s', o.destination, p_note) END);
    RETURN jsonb_build_object('code', 0, 'outbox_id', o.id, 'state', v_state);
END
$$;
