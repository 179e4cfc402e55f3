-- 0035_issue_sends: a published 专报 issue is sent (报送) to destinations
-- outside the hierarchy — 市委办公室, 市政府办公室, departments — and what
-- comes back on each item reaches its writers.
--
-- Sending an issue sends each item's report to the external destination
-- the way a FORWARD's external 报送 does (minyi_external_send of
-- 0034_external.sql): its outbox row, delivered at once, with the issue's
-- number as the document (《社情民意专报》2026年第3期), and an 'external'
-- event, which the figures count as external_sent and which travels down
-- to the writers as a result.  A response on an item — 采纳, a leader's
-- 批示, a department's 办理答复 — is then recorded on the item's report with
-- minyi_t_external_response like any other, and reaches the writers the
-- same way.  issue_sends keeps where each issue went; an issue goes to a
-- destination once.

CREATE TABLE issue_sends (
    issue_id      bigint NOT NULL REFERENCES issues (id),
    destination   text NOT NULL,
    display_name  text NOT NULL,
    sent_at       timestamptz NOT NULL,
    sent_by       bigint NOT NULL REFERENCES principals (id),
    PRIMARY KEY (issue_id, destination)
);

-- The issue's sends as the protocol's IssueSend, oldest first.
CREATE FUNCTION minyi_issue_sends_json(p_issue bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'destination', s.destination, 'display_name', s.display_name,
               'sent_at_ms', minyi_ms(s.sent_at), 'sent_by', p.name)
               ORDER BY s.sent_at, s.destination), '[]'::jsonb)
      FROM issue_sends s JOIN principals p ON p.id = s.sent_by
     WHERE s.issue_id = p_issue
$$;

CREATE OR REPLACE FUNCTION minyi_issue_answer(p_issue bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('code', 0, 'issue',
                              minyi_issue_json(p_issue, true)
                              || jsonb_build_object('sends', minyi_issue_sends_json(p_issue)))
$$;

-- The issue's document number as the 报送 names it.
CREATE FUNCTION minyi_issue_document(i issues)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT format('《%s》%s年第%s期', i.series, i.year, i.number)
$$;

-- Sends the published issue p_issue to the external destination p_dest
-- (display name p_display, which only the gateway's config knows) with
-- the document dated p_at_ms (0: now; not more than p_future_slack_s in
-- the future).
CREATE FUNCTION minyi_i_send(p_actor bigint, p_issue bigint, p_dest text, p_display text,
                             p_at_ms int8, p_future_slack_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_denied jsonb := minyi_issue_denied(p_actor, true);
    i issues;
    v_at timestamptz := minyi_ms_or_now(p_at_ms);
BEGIN
    IF v_denied IS NOT NULL THEN
        RETURN v_denied;
    END IF;
    SELECT * INTO i FROM issues WHERE id = p_issue FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_issue_not_found();
    END IF;
    IF i.published_at IS NULL THEN
        RETURN minyi_err(4, 'issue_id', 'a draft is not sent: publish it first',
                         '专报尚未印发，不能报送');
    END IF;
    IF EXISTS (SELECT 1 FROM issue_sends WHERE issue_id = i.id AND destination = p_dest) THEN
        RETURN minyi_err(4, 'issue_send.destination',
                         format('issue %s was sent to %s already', i.id, p_display),
                         format('本期专报已报送%s', p_display));
    END IF;
    IF v_at > now() + make_interval(secs => p_future_slack_s) THEN
        RETURN minyi_err(1, 'issue_send.sent_at_ms', 'the date of a 报送 cannot be in the future',
                         '报送日期不能晚于当前时间');
    END IF;
    IF v_at < date_trunc('day', i.published_at) THEN
        RETURN minyi_err(1, 'issue_send.sent_at_ms',
                         'an issue cannot be sent before it was published',
                         '报送日期不能早于印发日期');
    END IF;
    INSERT INTO issue_sends (issue_id, destination, display_name, sent_at, sent_by)
    VALUES (i.id, p_dest, p_display, v_at, p_actor);
    PERFORM minyi_external_send(x.report_id, p_actor, p_dest, p_display,
                                minyi_issue_document(i), v_at)
       FROM issue_items x WHERE x.issue_id = i.id
      ORDER BY x.position;
    RETURN minyi_issue_answer(i.id);
END
$$;
