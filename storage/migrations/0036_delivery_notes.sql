-- 0036_delivery_notes: the history's delivery lines in Chinese, naming
-- each destination by its display name.
--
-- A contact point reads every line of its report's history, the results
-- from above included (a body above relays its notes unchanged), so a
-- line such as "to province, receipt there 330000-2026-000001" showed it
-- the gateway's config key and English.  From here on the lines a forward
-- and its deliveries write read as a person in the office would write
-- them:
--
--   forward             报送浙江省政协、市委办公室（：the editor's note）
--   delivered           已送达浙江省政协，对方回执 330000-2026-000001
--   delivery_dead       报送浙江省政协失败（已尝试 8 次）：the error
--   delivery_retry      重新报送浙江省政协（：note）
--   delivery_cancelled  撤销报送浙江省政协（：note）
--
-- An editor's note on a forward no longer replaces the destinations: the
-- line names them and adds the note.  Events already written keep their
-- text (the audit chain seals them as they are).

-- The destinations of a FORWARD as its history line names them: the
-- display names of p_dests (a jsonb array of objects name, display and
-- external, as minyi_t_decide takes it) in the order given.
CREATE FUNCTION minyi_dests_display(p_dests jsonb)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(minyi_dest_display(d.x->>'name', d.x->>'display'), '、' ORDER BY d.n)
      FROM jsonb_array_elements(coalesce(p_dests, '[]'::jsonb)) WITH ORDINALITY AS d(x, n)
$$;

-- A line naming what happened to a delivery, with the note when one was
-- given.
CREATE FUNCTION minyi_with_note(p_line text, p_note text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT p_line || coalesce('：' || nullif(p_note, ''), '')
$$;

-- minyi_t_decide of 0034_external.sql, whose FORWARD line names the
-- destinations (报送…) before the editor's note.  Other decisions pass
-- through unchanged.
ALTER FUNCTION minyi_t_decide(bigint, text, text, text, text, jsonb, text, text, text, int8, int)
    RENAME TO minyi_t_decide_0034;
CREATE FUNCTION minyi_t_decide(p_actor bigint, p_receipt text, p_decision text, p_note text,
                               p_into text, p_dests jsonb, p_instruction text, p_level text,
                               p_doc_number text, p_doc_ms int8, p_future_slack_s int)
RETURNS jsonb LANGUAGE sql VOLATILE AS $$
    SELECT minyi_t_decide_0034(
        p_actor, p_receipt, p_decision,
        CASE WHEN p_decision = 'FORWARD' AND minyi_dests_display(p_dests) IS NOT NULL
             THEN minyi_with_note('报送' || minyi_dests_display(p_dests), p_note)
             ELSE p_note END,
        p_into, p_dests, p_instruction, p_level, p_doc_number, p_doc_ms, p_future_slack_s)
$$;

-- minyi_fw_delivered of 0034_external.sql in Chinese.
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
           format('已送达%s，对方回执 %s', minyi_dest_display(o.destination, o.display_name),
                  p_upstream),
           o.destination, p_upstream
      FROM reports r WHERE r.id = o.report_id;
    RETURN jsonb_build_object('code', 0);
END
$$;

-- minyi_fw_failed of 0004_forward.sql, whose delivery going dead is told
-- in Chinese by display name; an attempt that leaves the delivery pending
-- writes no event and goes on as before.
ALTER FUNCTION minyi_fw_failed(bigint, int, text, boolean, int, int, int)
    RENAME TO minyi_fw_failed_0004;
CREATE FUNCTION minyi_fw_failed(p_id bigint, p_attempt int, p_error text, p_permanent boolean,
                                p_max_attempts int, p_min_ms int, p_max_ms int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    o outbox;
BEGIN
    o := minyi_fw_held(p_id, p_attempt);
    IF o.id IS NULL OR NOT (p_permanent OR o.attempts >= p_max_attempts) THEN
        RETURN minyi_fw_failed_0004(p_id, p_attempt, p_error, p_permanent, p_max_attempts,
                                    p_min_ms, p_max_ms);
    END IF;
    UPDATE outbox SET state = 'dead', last_error = left(p_error, 500) WHERE id = o.id;
    INSERT INTO events (report_id, actor, action, state, note)
    SELECT o.report_id, NULL, 'delivery_dead', r.state,
           format('报送%s失败（已尝试 %s 次）：%s',
                  minyi_dest_display(o.destination, o.display_name), o.attempts,
                  left(p_error, 500))
      FROM reports r WHERE r.id = o.report_id;
    RETURN jsonb_build_object('code', 0, 'state', 'dead');
END
$$;

-- minyi_o_act of 0006_outbox_admin.sql, whose retry or cancellation is
-- told in Chinese by display name.
CREATE OR REPLACE FUNCTION minyi_o_act(p_actor bigint, p_id bigint, p_action text, p_note text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_body text := minyi_editor_body(p_actor);
    o outbox;
    r reports;
    v_state text;
    v_event text;
    v_line text;
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
        v_line := '重新报送';
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
        v_line := '撤销报送';
    ELSE
        RETURN minyi_err(1, 'outbox_action.action', 'action must be RETRY or CANCEL',
                         '操作须为重试或取消');
    END CASE;
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (r.id, p_actor, v_event, r.state,
            minyi_with_note(v_line || minyi_dest_display(o.destination, o.display_name),
                            p_note));
    RETURN jsonb_build_object('code', 0, 'outbox_id', o.id, 'state', v_state);
END
$$;
