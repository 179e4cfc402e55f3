-- 0010_resubmit_conflict: a resubmission's client_report_id names one
-- revision.  minyi_t_resubmit of 0002_triage.sql answered any second use of
-- it as a retry (duplicate, the same receipt), even when the text differed,
-- so a client that reused an id for a new revision was told it was stored
-- while the new text was dropped.  Intake refuses that case with CONFLICT
-- (storage/batch.c compares the payload hash); a resubmission now does the
-- same, comparing the fields a revision stores.

CREATE OR REPLACE FUNCTION minyi_t_resubmit(p_principal bigint, p_receipt text, p_crid uuid,
                                            p_title text, p_situation text, p_analysis text,
                                            p_suggestions text, p_category int2,
                                            p_urgency int2)
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
        IF (v.title, v.situation, v.analysis, v.suggestions, v.category, v.urgency)
           IS DISTINCT FROM
           (p_title, p_situation, p_analysis, p_suggestions, p_category, p_urgency) THEN
            RETURN minyi_err(4, 'report.client_report_id',
                             'this client_report_id was already used for a different revision',
                             '该客户端报告编号已用于另一份内容不同的修改稿');
        END IF;
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
