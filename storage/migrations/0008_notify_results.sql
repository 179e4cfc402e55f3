-- 0008_notify_results: editors watching the live queue are told when a
-- result arrives from above (kind "result": an adoption, a 批示, a
-- rejection, a merge or a forward further up) and when a delivery goes
-- dead (kind "delivery_dead"), both of which call for their attention as
-- much as a new report does.  Results carry no principal of this
-- instance, so the deciding body's name stands in as the actor.

CREATE OR REPLACE FUNCTION minyi_events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_kind    text;
    v_receipt text;
    v_actor   text;
BEGIN
    v_kind := CASE
                  WHEN NEW.action = 'received' THEN 'new'
                  WHEN NEW.action = 'claim' THEN 'claimed'
                  WHEN NEW.action = 'release' THEN 'released'
                  WHEN NEW.action = 'edit' THEN 'edited'
                  WHEN NEW.action = 'resubmit' THEN 'resubmitted'
                  WHEN NEW.action IN ('adopt', 'reject', 'return', 'merge', 'forward')
                      THEN 'decided'
                  WHEN NEW.action LIKE 'result\_%' THEN 'result'
                  WHEN NEW.action = 'delivery_dead' THEN 'delivery_dead'
                  ELSE NULL
              END;
    IF v_kind IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT receipt INTO v_receipt FROM reports WHERE id = NEW.report_id;
    SELECT name INTO v_actor FROM principals WHERE id = NEW.actor;
    PERFORM pg_notify('minyi_queue', json_build_object(
        'kind', v_kind, 'receipt', v_receipt, 'state', NEW.state,
        'actor', coalesce(left(coalesce(v_actor, NEW.body_name), 128), ''),
        'at_ms', (extract(epoch FROM NEW.at) * 1000)::int8)::text);
    RETURN NULL;
END
$$;
