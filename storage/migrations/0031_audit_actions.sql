-- 0031_audit_actions: the changes the audit did not record yet.
--
-- A renewal of a claim is an event ('renew'): it decides how long the
-- editor keeps the report, so who extended it and when belongs in the
-- chain.  An erasure records who erased: a principal has an id, but the
-- operator running `minyid erase` and the retention schedule have none, so
-- events gain `operator` (NULL when a principal acted; 'operator:<unix
-- user>' or 'retention' otherwise), sealed in the chain (storage/audit.h
-- encodes it only when set, so entries sealed before it existed verify as
-- they did).  A contact point reading its history sees that its report's
-- personal fields were erased, not by whom or under which rule, and does
-- not see its editors' renewals.

ALTER TABLE events ADD COLUMN operator text;

DROP FUNCTION minyi_pii_retain(timestamptz, int, int);
DROP FUNCTION minyi_pii_erase(bigint, bigint, text);

-- minyi_pii_erase of 0026_report_keys.sql, with who erased: p_actor (a
-- principal) or p_operator (no principal).
CREATE FUNCTION minyi_pii_erase(p_report bigint, p_actor bigint, p_operator text, p_note text)
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
    DELETE FROM report_keys WHERE report_id = p_report;
    INSERT INTO events (report_id, actor, operator, action, state, note)
    VALUES (p_report, p_actor, p_operator, 'erase', v_state, p_note);
    RETURN true;
END
$$;

-- minyi_pii_retain of 0022_pii_erase.sql; its erasures name the schedule.
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
        IF minyi_pii_erase(v_id, NULL, 'retention',
                           'retention: ' || p_days || ' days after closing') THEN
            v_n := v_n + 1;
        END IF;
    END LOOP;
    RETURN v_n;
END
$$;

-- minyi_t_renew of 0002_triage.sql, writing a 'renew' event.
CREATE OR REPLACE FUNCTION minyi_t_renew(p_actor bigint, p_receipt text, p_lease_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r reports;
BEGIN
    SELECT * INTO r FROM reports WHERE receipt = p_receipt FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_not_found('renew.receipt');
    END IF;
    IF r.state <> 'IN_REVIEW' OR r.claimed_by IS DISTINCT FROM p_actor THEN
        RETURN coalesce(minyi_need_claim(r, p_actor, 'renew.receipt'),
                        minyi_state_conflict(r.state, 'renew.receipt',
                                             'only a claimed IN_REVIEW report can be renewed',
                                             '只有已认领的 IN_REVIEW 信息可以续期'));
    END IF;
    UPDATE reports SET claim_expires_at = now() + make_interval(secs => p_lease_s)
     WHERE id = r.id RETURNING * INTO r;
    INSERT INTO events (report_id, actor, action, state, note)
    VALUES (r.id, p_actor, 'renew', 'IN_REVIEW', '');
    RETURN jsonb_build_object('code', 0, 'receipt', r.receipt,
                              'expires_ms', minyi_ms(r.claim_expires_at));
END
$$;

-- minyi_status_rows of 0017_merge_credit.sql: an erasure shows without its
-- note or actor, and renewals not at all.
CREATE OR REPLACE FUNCTION minyi_status_rows(p_receipt text, p_principal bigint, p_depth_max int)
RETURNS TABLE (receipt text, state text, title text, received_at timestamptz, at timestamptz,
               action text, hstate text, note text, body_name text, body_region text,
               instruction text, instruction_level text, actor_name text)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE mine AS (
        SELECT r.id, r.receipt, r.title, r.received_at
          FROM reports r WHERE r.receipt = p_receipt AND r.principal_id = p_principal
    ), chain AS (
        SELECT m.id AS report_id, 0 AS part FROM mine m
        UNION ALL
        SELECT t.merged_into, c.part + 1
          FROM chain c JOIN reports t ON t.id = c.report_id
         WHERE t.merged_into IS NOT NULL AND c.part < p_depth_max
    ), survivor AS (
        SELECT s.state FROM chain c JOIN reports s ON s.id = c.report_id
         ORDER BY c.part DESC LIMIT 1
    )
    SELECT m.receipt, (SELECT state FROM survivor), m.title, m.received_at, h.at, h.action,
           h.state, CASE WHEN h.action = 'erase' THEN '' ELSE h.note END, h.body_name,
           h.body_region, h.instruction, h.instruction_level,
           CASE WHEN h.action = 'erase' THEN NULL ELSE h.actor_name END
      FROM mine m CROSS JOIN chain c CROSS JOIN LATERAL minyi_history_rows(c.report_id) h
     WHERE (c.part = 0 OR (h.seq <> 0 AND h.action <> 'merged_from')) AND h.action <> 'renew'
     ORDER BY c.part, h.seq
$$;

-- minyi_history_rows of 0016_history_actor.sql: an entry made without a
-- principal names the operator or the schedule that made it, for editors.
CREATE OR REPLACE FUNCTION minyi_history_rows(p_report bigint)
RETURNS TABLE (seq bigint, at timestamptz, action text, state text, note text,
               body_name text, body_region text, instruction text, instruction_level text,
               actor_name text)
LANGUAGE sql STABLE AS $$
    SELECT 0::bigint, r.received_at, 'received'::text, 'RECEIVED'::text, ''::text, NULL::text,
           NULL::text, NULL::text, NULL::text, p.name
      FROM reports r JOIN principals p ON p.id = r.principal_id WHERE r.id = p_report
    UNION ALL
    SELECT e.id, e.at, e.action, e.state, e.note, e.body_name, e.body_region::text, e.instruction,
           e.instruction_level, coalesce(p.name, e.operator)
      FROM events e LEFT JOIN principals p ON p.id = e.actor WHERE e.report_id = p_report
$$;
