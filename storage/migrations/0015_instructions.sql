-- 0015_instructions: a leader's 批示 is an event of its own.
--
-- Leaders write 批示 days after an item was adopted or passed up, and
-- several leaders may write on one item (a 省领导, then a 市领导 once it is
-- passed down).  Each is recorded with minyi_t_instruct as an 'instruction'
-- event: the level (the label of the protocol's closed list, e.g. 省领导),
-- the text, who gave it and whether it came on paper (in the note), and
-- the date it was given as the event's time.  Like a decision it is a
-- result: the trigger of 0005_results.sql owes it to the peer below when
-- the report came from one, and each instance below relays it further
-- ('result_instruction'), so it reaches every body down to the writer.

CREATE OR REPLACE FUNCTION minyi_result_kind(p_action text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_action IN ('adopt', 'reject', 'merge', 'forward', 'delivered', 'instruction')
            THEN p_action
        WHEN starts_with(p_action, 'result_') THEN substr(p_action, 8)
    END
$$;

DROP TRIGGER events_results ON events;
CREATE TRIGGER events_results AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.action IN ('adopt', 'reject', 'merge', 'forward', 'delivered',
                                      'instruction')
                       OR starts_with(NEW.action, 'result_'))
    EXECUTE FUNCTION minyi_results_owe();

-- Records a 批示 on an adopted or forwarded report (no claim needed: it
-- changes no state).  p_level is the level's label, checked by the
-- gateway against the closed list; p_given_ms the date it was given (0:
-- now), neither in the future nor before the report arrived here.
CREATE FUNCTION minyi_t_instruct(p_actor bigint, p_receipt text, p_level text, p_leader text,
                                 p_text text, p_given_ms int8, p_on_paper boolean,
                                 p_future_slack_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v_at timestamptz;
    v_note text;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('instruct.receipt');
    END IF;
    IF r.state NOT IN ('ADOPTED', 'FORWARDED', 'ADOPTED_ABOVE', 'NOT_ADOPTED_ABOVE') THEN
        RETURN minyi_state_conflict(r.state, 'instruct.receipt',
                                    'a 批示 is recorded on an adopted or forwarded report',
                                    '批示只能录入已采用或已上报的信息');
    END IF;
    v_at := CASE WHEN p_given_ms > 0 THEN to_timestamp(p_given_ms / 1000.0) ELSE now() END;
    IF v_at > now() + make_interval(secs => p_future_slack_s) THEN
        RETURN minyi_err(1, 'instruct.given_at_ms', 'the date of a 批示 cannot be in the future',
                         '批示日期不能晚于当前时间');
    END IF;
    IF v_at < r.received_at THEN
        RETURN minyi_err(1, 'instruct.given_at_ms',
                         'the date of a 批示 cannot be before the report arrived here',
                         '批示日期不能早于信息收到时间');
    END IF;
    v_note := concat_ws('; ', nullif(p_leader, ''),
                        CASE WHEN p_on_paper THEN '纸质批示，由编辑录入' END);
    INSERT INTO events (report_id, actor, action, state, note, at, instruction,
                        instruction_level)
    VALUES (r.id, p_actor, 'instruction', r.state, v_note, v_at, p_text, p_level);
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt, 'state', r.state);
END
$$;
