-- 0025_writer_view: the writer reads its own report, and revises only what
-- it changes.
--
-- A contact point's resubmission names only the fields it changes: an
-- empty title, situation, analysis or suggestions, or a zero category or
-- urgency, keeps the current one (the text as it stands, an editor's
-- edits included), like an editor's EditRequest.  minyi_t_resubmit of
-- 0010_resubmit_conflict.sql merges them before comparing a retry and
-- storing the version, and checks the merged report's required parts.
--
-- minyi_t_show_own is the contact point's show: its own report only (the
-- owner filter; a report of another contact point is NOT_FOUND, as if it
-- did not exist), the current or an asked-for version, and every version
-- it submitted itself; nothing an editor alone sees (claims, similar
-- reports, deliveries, the reporter's personal fields).

CREATE OR REPLACE FUNCTION minyi_t_resubmit(p_principal bigint, p_receipt text, p_crid uuid,
                                            p_title text, p_situation text, p_analysis text,
                                            p_suggestions text, p_category int2,
                                            p_urgency int2)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
    v report_versions;
    m_title text;
    m_situation text;
    m_analysis text;
    m_suggestions text;
    m_category int2;
    m_urgency int2;
BEGIN
    SELECT * INTO r FROM reports
     WHERE receipt = p_receipt AND principal_id = p_principal FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('resubmit.receipt');
    END IF;
    m_title := coalesce(nullif(p_title, ''), r.title);
    m_situation := coalesce(nullif(p_situation, ''), r.situation);
    m_analysis := coalesce(nullif(p_analysis, ''), r.analysis);
    m_suggestions := coalesce(nullif(p_suggestions, ''), r.suggestions);
    m_category := coalesce(nullif(p_category, 0), r.category);
    m_urgency := coalesce(nullif(p_urgency, 0), r.urgency);
    SELECT * INTO v FROM report_versions
     WHERE report_id = r.id AND client_report_id = p_crid;
    IF FOUND AND v.version > 1 THEN
        -- A retry names the same changes; the fields it left out are
        -- those of the version it stored.
        IF (coalesce(nullif(p_title, ''), v.title), coalesce(nullif(p_situation, ''), v.situation),
            coalesce(nullif(p_analysis, ''), v.analysis),
            coalesce(nullif(p_suggestions, ''), v.suggestions),
            coalesce(nullif(p_category, 0), v.category), coalesce(nullif(p_urgency, 0), v.urgency))
           IS DISTINCT FROM
           (v.title, v.situation, v.analysis, v.suggestions, v.category, v.urgency) THEN
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
    -- URGENCY NORMAL (1) needs analysis and suggestions, as at intake.
    IF m_urgency = 1 AND m_analysis = '' THEN
        RETURN minyi_err(1, 'report.analysis', 'is required', '原因分析不能为空');
    END IF;
    IF m_urgency = 1 AND m_suggestions = '' THEN
        RETURN minyi_err(1, 'report.suggestions', 'is required', '意见建议不能为空');
    END IF;
    UPDATE reports
       SET title = m_title, situation = m_situation, analysis = m_analysis,
           suggestions = m_suggestions, category = m_category, urgency = m_urgency,
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

-- One version of a report as the shows answer it.
CREATE FUNCTION minyi_version_json(v report_versions)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'version', v.version, 'at_ms', minyi_ms(v.at),
        'author', coalesce((SELECT name FROM principals WHERE id = v.author), ''),
        'title', v.title, 'situation', v.situation, 'analysis', v.analysis,
        'suggestions', v.suggestions, 'category', v.category, 'note', v.note)
$$;

-- The contact point p_principal's view of its report p_receipt: version
-- p_version (0: the current one), and in 'submitted' every version it
-- submitted itself, oldest first.
CREATE FUNCTION minyi_t_show_own(p_principal bigint, p_receipt text, p_version int)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    r reports;
    v report_versions;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt AND principal_id = p_principal;
    IF NOT FOUND THEN
        RETURN minyi_not_found('show.receipt');
    END IF;
    SELECT * INTO v FROM report_versions
     WHERE report_id = r.id AND version = CASE WHEN p_version > 0 THEN p_version ELSE r.version END;
    IF NOT FOUND THEN
        RETURN minyi_not_found('show.version');
    END IF;
    RETURN jsonb_build_object(
        'code', 0, 'receipt', r.receipt, 'state', r.state, 'latest_version', r.version,
        'urgency', r.urgency, 'region', r.region, 'received_at_ms', minyi_ms(r.received_at),
        'version', minyi_version_json(v),
        'submitted', (SELECT coalesce(jsonb_agg(minyi_version_json(s) ORDER BY s.version),
                                      '[]'::jsonb)
                        FROM report_versions s
                       WHERE s.report_id = r.id AND s.author = p_principal));
END
$$;
