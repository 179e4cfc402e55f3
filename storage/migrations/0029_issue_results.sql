-- 0029_issue_results: 编发 reaches the writers below.
--
-- An item of a published 专报 issue is an 'issue' event on its report
-- (0027_issues.sql).  When the report came from a body below, that body's
-- writer should hear of it like of an adoption: the event becomes a result
-- of kind 'issue' owed to the peer below (0005_results.sql), which records
-- it as 'result_issue' (body, note 编发：《…》YYYY年第N期 第K条) and passes it
-- on down in turn.  The lists below are those of 0024_returns.sql with
-- 'issue' added; a later migration that redefines them must keep it
-- (tests/it/it_issue_results.c fails otherwise).

CREATE OR REPLACE FUNCTION minyi_result_kind(p_action text)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_action IN ('adopt', 'reject', 'return', 'merge', 'forward', 'delivered',
                          'instruction', 'issue')
            THEN p_action
        WHEN p_action IN ('result_return', 'result_returned_above') THEN 'returned_above'
        WHEN starts_with(p_action, 'result_') THEN substr(p_action, 8)
    END
$$;

DROP TRIGGER events_results ON events;
CREATE TRIGGER events_results AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.action IN ('adopt', 'reject', 'return', 'merge', 'forward',
                                      'delivered', 'instruction', 'issue')
                       OR starts_with(NEW.action, 'result_'))
    EXECUTE FUNCTION minyi_results_owe();
