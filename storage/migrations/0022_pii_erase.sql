-- 0022_pii_erase: erasing a report's personal fields, by the operator
-- (minyid erase) or by the retention schedule ([privacy] retention_days),
-- each erasure an event in the same transaction.  The audit chain seals a
-- report by the columns its intake fixes (0019_audit.sql), not the sealed
-- personal fields, so it still verifies after an erasure.

ALTER TABLE reports ADD COLUMN pii_erased_at timestamptz;

-- Erases the personal fields of report p_report: the sealed phone and, for
-- a citizen reporter, the sealed name become empty, which a show answers
-- as no value; the ciphertexts are gone from every later dump.  An 'erase'
-- event records who (p_actor; NULL for the operator and the schedule) and
-- why (p_note).  Answers false when they were erased already.
CREATE FUNCTION minyi_pii_erase(p_report bigint, p_actor bigint, p_note text)
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
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (p_report, p_actor, 'erase', v_state, p_note);
    RETURN true;
END
$$;

-- The retention schedule's round: erases the personal fields of up to
-- p_limit closed reports (decided here or above: nothing more is done with
-- them) whose last change is more than p_days days before p_now, oldest
-- first.  p_now is the schedule's clock, so a test can move it forward.
-- Answers how many it erased.
CREATE FUNCTION minyi_pii_retain(p_now timestamptz, p_days int, p_limit int)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id bigint;
    v_n int := 0;
BEGIN
    FOR v_id IN
        SELECT r.id FROM reports r
         WHERE r.pii_erased_at IS NULL
           AND r.state IN ('ADOPTED', 'REJECTED', 'MERGED', 'ADOPTED_ABOVE', 'NOT_ADOPTED_ABOVE')
           AND greatest(r.received_at, (SELECT max(e.at) FROM events e WHERE e.report_id = r.id))
               < p_now - make_interval(days => p_days)
         ORDER BY r.id
         LIMIT p_limit
           FOR UPDATE OF r SKIP LOCKED
    LOOP
        IF minyi_pii_erase(v_id, NULL, 'retention: ' || p_days || ' days after closing') THEN
            v_n := v_n + 1;
        END IF;
    END LOOP;
    RETURN v_n;
END
$$;
