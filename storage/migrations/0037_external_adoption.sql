-- 0037_external_adoption: an adoption by a destination outside the
-- hierarchy counts like an adoption above.
--
-- When 市委办公室 adopts (采纳) an item the city sent it, or a leader gives
-- a 批示 on it there, the item has been taken up above the city as surely
-- as when the province adopts it: its writers expect the report to read
-- 上级采用 (ADOPTED_ABOVE), not 已上报 for good.  A 批示 counts as well,
-- because an office records a leader's 批示 without a separate adoption
-- before it.  A department's 办理答复 alone is an answer, not an adoption,
-- and leaves the state as it is.
--
-- The rule is that of a peer's adoption (0005_results.sql): FORWARDED or
-- NOT_ADOPTED_ABOVE becomes ADOPTED_ABOVE; any other state stays (a report
-- reopened by a return is being revised, and ADOPTED_ABOVE is already
-- there).  It holds at the body that recorded the response ('external_response')
-- and at every body below it, where the response arrives as a result
-- ('result_external_response') with the same note and 批示, so the trigger
-- below decides for both from the event alone: an instruction, or a note
-- that begins with 采纳 (minyi_t_external_response writes the kind's label
-- first; PROTOCOL.md §3.11.2).

-- Whether an external response with this note and 批示 adopts the item.
CREATE FUNCTION minyi_response_adopts(p_note text, p_instruction text)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(p_instruction, '') <> '' OR starts_with(coalesce(p_note, ''), '采纳')
$$;

-- Before an adopting response is stored, its report becomes ADOPTED_ABOVE
-- where a peer's adoption would make it so, and the event records the
-- state it leads to.
CREATE FUNCTION minyi_external_adopt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF minyi_response_adopts(NEW.note, NEW.instruction) THEN
        UPDATE reports SET state = 'ADOPTED_ABOVE', state_since = now()
         WHERE id = NEW.report_id AND state IN ('FORWARDED', 'NOT_ADOPTED_ABOVE');
        IF FOUND THEN
            NEW.state := 'ADOPTED_ABOVE';
        END IF;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER events_external_adopt BEFORE INSERT ON events
    FOR EACH ROW WHEN (NEW.action IN ('external_response', 'result_external_response'))
    EXECUTE FUNCTION minyi_external_adopt();

-- minyi_t_external_response of 0034_external.sql, answering with the
-- state the response led to.
ALTER FUNCTION minyi_t_external_response(bigint, text, text, text, text, text, text, int8, int)
    RENAME TO minyi_t_external_response_0034;
CREATE FUNCTION minyi_t_external_response(p_actor bigint, p_receipt text, p_dest text,
                                          p_kind text, p_text text, p_level text,
                                          p_leader text, p_at_ms int8, p_future_slack_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v jsonb;
BEGIN
    v := minyi_t_external_response_0034(p_actor, p_receipt, p_dest, p_kind, p_text, p_level,
                                        p_leader, p_at_ms, p_future_slack_s);
    IF (v->>'code')::int = 0 THEN
        v := v || jsonb_build_object(
            'state', (SELECT state FROM reports WHERE receipt = p_receipt));
    END IF;
    RETURN v;
END
$$;
