-- 0024_returns: a return from above reopens the report below, and its
-- revision goes up again as a new version of the same upstream item.
--
-- The upper side.  A RETURN decision on a report a peer forwarded here is
-- now a result (kind 'return', with the reason as its note), owed to that
-- peer like an adoption.  What an instance relays from further up is not
-- the body below's to act on: a 'result_return' event is relayed with the
-- kind 'returned_above', which reopens nothing and only tells the bodies
-- further down (and their writers) what happened.
--
-- The lower side.  When a 'return' result arrives for a FORWARDED report,
-- the report re-enters this body's queue: state RECEIVED, with the reason
-- kept in reports.returned_above so the queue and show mark it as
-- returned from above.  Its editor claims it and either revises and
-- forwards it again, or returns it further down (to the contact point, or
-- to the body below, which gets a 'return' result in turn).
--
-- Forwarding again reuses the report's delivery row for that destination
-- (one row per report and destination, as before): it is due again with
-- its revision counted up, and it keeps the receipt above, so the request
-- upward names the item it revises (ForwardRequest.upstream_receipt and
-- revision) and the results that follow still find the row.

ALTER TABLE reports ADD COLUMN returned_above text;   -- the reason; NULL: not returned from above
ALTER TABLE outbox ADD COLUMN revision int NOT NULL DEFAULT 1;

CREATE OR REPLACE FUNCTION minyi_result_kind(p_action text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_action IN ('adopt', 'reject', 'return', 'merge', 'forward', 'delivered',
                          'instruction')
            THEN p_action
        WHEN p_action IN ('result_return', 'result_returned_above') THEN 'returned_above'
        WHEN starts_with(p_action, 'result_') THEN substr(p_action, 8)
    END
$$;

DROP TRIGGER events_results ON events;
CREATE TRIGGER events_results AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.action IN ('adopt', 'reject', 'return', 'merge', 'forward',
                                      'delivered', 'instruction')
                       OR starts_with(NEW.action, 'result_'))
    EXECUTE FUNCTION minyi_results_owe();

-- A 'return' result (minyi_r_apply writes it as a 'result_return' event,
-- the report row locked) reopens a FORWARDED report: the event records the
-- state it leads to, the report goes back to RECEIVED with the reason, and
-- its settled deliveries are marked as answered.  A return for a report
-- that is no longer FORWARDED (it was reopened already, or answered from
-- another destination) is recorded and changes nothing.
CREATE FUNCTION minyi_return_reopen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
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
CREATE TRIGGER events_return_reopen BEFORE INSERT ON events
    FOR EACH ROW WHEN (NEW.action = 'result_return')
    EXECUTE FUNCTION minyi_return_reopen();

-- A forward to a destination the report went to before (it came back
-- returned and was reopened) makes the existing delivery row due again
-- instead of adding a second one: the revision counts up, the attempts
-- start afresh like an editor's retry, and upstream_receipt stays, naming
-- the item above that this revision replaces.  Forwarding also ends the
-- report's returned-from-above mark.
CREATE FUNCTION minyi_outbox_again() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reports SET returned_above = NULL
     WHERE id = NEW.report_id AND returned_above IS NOT NULL;
    UPDATE outbox
       SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = '',
           revision = revision + 1
     WHERE report_id = NEW.report_id AND destination = NEW.destination;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER outbox_again BEFORE INSERT ON outbox
    FOR EACH ROW EXECUTE FUNCTION minyi_outbox_again();

-- minyi_fw_claim of 0014_attachments_up.sql, each item with its revision
-- and, from the second on, the receipt above that it revises.
ALTER FUNCTION minyi_fw_claim(text[], int, int) RENAME TO minyi_fw_claim_0014;
CREATE FUNCTION minyi_fw_claim(p_dests text[], p_limit int, p_lease_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v jsonb;
BEGIN
    v := minyi_fw_claim_0014(p_dests, p_limit, p_lease_s);
    RETURN jsonb_set(v, '{items}', (
        SELECT coalesce(jsonb_agg(i.x || jsonb_build_object(
                   'revision', o.revision,
                   'upstream_receipt', CASE WHEN o.revision > 1 THEN o.upstream_receipt
                                            ELSE '' END) ORDER BY i.n), '[]'::jsonb)
          FROM jsonb_array_elements(v->'items') WITH ORDINALITY AS i(x, n)
          JOIN outbox o ON o.id = (i.x->>'outbox_id')::int8));
END
$$;

-- minyi_t_queue of 0002_triage.sql, each item with its returned-from-above
-- reason ('' when it has none).
ALTER FUNCTION minyi_t_queue(bigint, text[], int2[], int2, text, bigint, int8, int8, boolean,
                             text, boolean, boolean, int2, int8, int8, int, int, int)
    RENAME TO minyi_t_queue_0002;
CREATE FUNCTION minyi_t_queue(p_actor bigint, p_states text[], p_categories int2[],
                              p_urgency int2, p_region_prefix text, p_contact bigint,
                              p_from_ms int8, p_to_ms int8, p_claimed_by_me boolean,
                              p_text text, p_overdue_only boolean, p_dead_only boolean,
                              p_cur_urgency int2, p_cur_us int8, p_cur_id int8,
                              p_limit int, p_dl_received int, p_dl_in_review int)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v jsonb;
BEGIN
    v := minyi_t_queue_0002(p_actor, p_states, p_categories, p_urgency, p_region_prefix,
                            p_contact, p_from_ms, p_to_ms, p_claimed_by_me, p_text,
                            p_overdue_only, p_dead_only, p_cur_urgency, p_cur_us, p_cur_id,
                            p_limit, p_dl_received, p_dl_in_review);
    RETURN jsonb_set(v, '{items}', (
        SELECT coalesce(jsonb_agg(i.x || jsonb_build_object(
                   'returned_above', coalesce(r.returned_above, '')) ORDER BY i.n), '[]'::jsonb)
          FROM jsonb_array_elements(v->'items') WITH ORDINALITY AS i(x, n)
          JOIN reports r ON r.receipt = i.x->>'receipt'));
END
$$;

-- minyi_t_show of 0014_attachments_up.sql with the returned-from-above reason.
ALTER FUNCTION minyi_t_show(bigint, text, int, int, real) RENAME TO minyi_t_show_0014;
CREATE FUNCTION minyi_t_show(p_actor bigint, p_receipt text, p_version int,
                             p_similar_max int, p_similar_min real)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v jsonb;
BEGIN
    v := minyi_t_show_0014(p_actor, p_receipt, p_version, p_similar_max, p_similar_min);
    IF (v->>'code')::int = 0 THEN
        v := v || jsonb_build_object('returned_above', (
            SELECT coalesce(r.returned_above, '') FROM reports r WHERE r.receipt = p_receipt));
    END IF;
    RETURN v;
END
$$;
