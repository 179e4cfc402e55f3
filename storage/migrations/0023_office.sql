-- 0023_office: the office reads; figures and 考核 points from the history.
--
-- An office (办公室) principal reads everything at its body and changes
-- nothing; a principal of kind 'admin' is treated the same way (the
-- gateway lets both read and refuses both every change).
--
-- Figures and points are derived from the history alone, never from
-- counters kept on the side, so they can be recomputed for any period and
-- checked event by event.  The history of a report is its intake (the
-- reports row: received_at, see 0012_intake_no_event.sql) and its events.
-- One fact is one (report, figure, time, event); a figure counts distinct
-- reports, so a report forwarded twice or given two 批示 of one level
-- counts once in that figure.
--
-- Figures (names as the protocol's StatsFigure.name):
--   received                    the report arrived here (编报)
--   adopted                     adopted here (本级采用)
--   forwarded                   forwarded upward (上报)
--   rejected, returned, merged  decided so here
--   adopted_above:LEVEL         a result 'adopt' from a body above, LEVEL
--                               from the deciding body's region code
--                               (minyi_region_level: city, provincial, national)
--   instruction:LABEL           a 批示 of that level (proto/level.c's labels,
--                               e.g. 省领导), here or from above
--   external_sent               报送 to a destination outside the hierarchy
--   external_responses          a response recorded for such a 报送
-- The last two count the events 'external' and 'external_response' that
-- external destinations (issue 12) record; until those exist they are 0.

ALTER TABLE principals DROP CONSTRAINT principals_kind_check;
ALTER TABLE principals ADD CONSTRAINT principals_kind_check
    CHECK (kind IN ('contact', 'editor', 'peer', 'admin', 'office'));

-- Figures of a period read the events of that period by time.
CREATE INDEX events_at_idx ON events (at);
-- And the reports received in it.  Reports arrive in time order, so a
-- BRIN index (a few pages, a summary per block range) finds a year among
-- many without costing intake a B-tree entry per report.
CREATE INDEX reports_received_at_idx ON reports USING brin (received_at);

-- The level of the body with this region code (GB/T 2260): 000000 or
-- 100000 the national body, ..0000 a province, ....00 a city, else a county.
CREATE FUNCTION minyi_region_level(p_region text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN p_region IS NULL THEN NULL
        WHEN p_region IN ('000000', '100000') THEN 'national'
        WHEN p_region ~ '^[0-9]{2}0000$' THEN 'provincial'
        WHEN p_region ~ '^[0-9]{4}00$' THEN 'city'
        ELSE 'county'
    END
$$;

-- The figure an event makes, if any, besides its 批示 (below).
CREATE FUNCTION minyi_event_figure(p_action text, p_body_region text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_action
        WHEN 'adopt' THEN 'adopted'
        WHEN 'forward' THEN 'forwarded'
        WHEN 'reject' THEN 'rejected'
        WHEN 'return' THEN 'returned'
        WHEN 'merge' THEN 'merged'
        WHEN 'external' THEN 'external_sent'
        WHEN 'external_response' THEN 'external_responses'
        WHEN 'result_adopt' THEN 'adopted_above:' || minyi_region_level(p_body_region)
    END
$$;

-- Every fact of [p_from, p_to): one row per report received, and per
-- event that makes a figure (an event with a 批示 makes an instruction
-- figure too, so an adoption with a 批示 gives two rows).
CREATE FUNCTION minyi_facts(p_from timestamptz, p_to timestamptz)
RETURNS TABLE (report_id bigint, figure text, at timestamptz, event_id bigint)
LANGUAGE sql STABLE AS $$
    SELECT r.id, 'received'::text, r.received_at, NULL::bigint
      FROM reports r
     WHERE r.received_at >= p_from AND r.received_at < p_to
    UNION ALL
    SELECT e.report_id, f.figure, e.at, e.id
      FROM events e
     CROSS JOIN LATERAL (
           VALUES (minyi_event_figure(e.action, e.body_region)),
                  (CASE WHEN coalesce(e.instruction, '') <> ''
                         AND coalesce(e.instruction_level, '') <> ''
                        THEN 'instruction:' || e.instruction_level END)) AS f(figure)
     WHERE e.at >= p_from AND e.at < p_to AND f.figure IS NOT NULL
$$;

-- Who may read figures and points, and whose: NULL when p_actor may not
-- (a peer, an inactive or unknown principal), 0 for every report of the
-- body (office, admin, editor), else the contact point's own id.
CREATE FUNCTION minyi_office_scope(p_actor bigint)
RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p.kind IN ('office', 'admin', 'editor') THEN 0::bigint
                WHEN p.kind = 'contact' THEN p.id END
      FROM principals p WHERE p.id = p_actor AND p.active
$$;

CREATE FUNCTION minyi_office_denied()
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(2, 'principal.kind',
                     'only offices, admins, editors and contact points may read figures',
                     '只有办公室、管理员、信息编辑和联系点可以查看统计')
$$;

-- The group key of a report for a breakdown (the protocol's StatsBy
-- names in lower case); the month is the fact's, in China time.
CREATE FUNCTION minyi_stats_key(p_by text, r reports, p_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE p_by
        WHEN 'contact_point' THEN r.principal_id::text
        WHEN 'reporter_kind' THEN r.reporter_kind::text
        WHEN 'sector' THEN r.reporter_sector
        WHEN 'category' THEN r.category::text
        WHEN 'region' THEN r.region::text
        WHEN 'month' THEN to_char(p_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')
        ELSE ''
    END
$$;

-- The figures of [p_from, p_to) for p_actor, broken down by p_by ('total'
-- or a key of minyi_stats_key).  Answers {"code": 0, "total": {...},
-- "rows": [{"key", "label", "figures": {name: count}}]} with the rows
-- ordered by key; a figure no report made is left out.
CREATE FUNCTION minyi_stats(p_actor bigint, p_from timestamptz, p_to timestamptz, p_by text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_scope bigint := minyi_office_scope(p_actor);
    v_rows jsonb;
    v_total jsonb;
BEGIN
    IF v_scope IS NULL THEN
        RETURN minyi_office_denied();
    END IF;
    WITH f AS (
        SELECT x.report_id, x.figure, minyi_stats_key(p_by, r, x.at) AS key, r.principal_id
          FROM minyi_facts(p_from, p_to) x JOIN reports r ON r.id = x.report_id
         WHERE v_scope = 0 OR r.principal_id = v_scope
    ), total AS (
        SELECT figure, count(DISTINCT report_id) AS n FROM f GROUP BY figure
    ), grouped AS (
        SELECT key, figure, count(DISTINCT report_id) AS n FROM f GROUP BY key, figure
    ), byrow AS (
        SELECT g.key, jsonb_object_agg(g.figure, g.n) AS figures FROM grouped g GROUP BY g.key
    )
    SELECT (SELECT coalesce(jsonb_object_agg(figure, n), '{}'::jsonb) FROM total),
           CASE WHEN p_by = 'total' THEN '[]'::jsonb ELSE
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'key', b.key,
                       'label', CASE WHEN p_by = 'contact_point'
                                     THEN (SELECT p.name FROM principals p
                                            WHERE p.id::text = b.key)
                                     ELSE b.key END,
                       'figures', b.figures) ORDER BY b.key), '[]'::jsonb)
              FROM byrow b) END
      INTO v_total, v_rows;
    RETURN jsonb_build_object('code', 0, 'total', jsonb_build_object('figures', v_total),
                              'rows', v_rows);
END
$$;

-- The writers credited with a report: its own writer, and the writer of
-- every report merged into it (report_credits, 0002_triage.sql), each with
-- the report they wrote and the reporter named there.  A citizen's name is
-- sealed, so a citizen counts as 群众 of their contact point.
CREATE FUNCTION minyi_writers(p_report bigint)
RETURNS TABLE (principal_id bigint, via_report bigint, reporter text)
LANGUAGE sql STABLE AS $$
    SELECT w.principal_id, w.id,
           CASE WHEN w.reporter_name IS NULL
                THEN '群众（' || p.name || '）'
                ELSE w.reporter_name || CASE WHEN w.reporter_unit <> ''
                                             THEN '（' || w.reporter_unit || '）' ELSE '' END
           END
      FROM (SELECT r.id, r.principal_id, r.reporter_name, r.reporter_unit
              FROM reports r WHERE r.id = p_report
            UNION
            SELECT v.id, c.principal_id, v.reporter_name, v.reporter_unit
              FROM report_credits c JOIN reports v ON v.id = c.via_report_id
             WHERE c.report_id = p_report) w
      JOIN principals p ON p.id = w.principal_id
$$;

-- 考核 points of [p_from, p_to) for p_actor: p_rules maps figure names to
-- points (the gateway's [points] table); a fact of a figure without a rule
-- earns nothing.  Each item (report, figure) earns its points once, at its
-- first fact in the period, and every writer credited with the report gets
-- them all, or an equal share when p_split.  p_by is 'contact_point' or
-- 'reporter'.  Answers {"code": 0, "rows": [{"key", "label", "points",
-- "items"}], "items": [...], "rules": p_rules, "split": p_split} with the
-- items only when p_explain.
CREATE FUNCTION minyi_points(p_actor bigint, p_from timestamptz, p_to timestamptz,
                             p_rules jsonb, p_split boolean, p_by text, p_explain boolean)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_scope bigint := minyi_office_scope(p_actor);
    v_rows jsonb;
    v_items jsonb;
BEGIN
    IF v_scope IS NULL THEN
        RETURN minyi_office_denied();
    END IF;
    WITH first AS (
        SELECT DISTINCT ON (x.report_id, x.figure) x.report_id, x.figure, x.at, x.event_id,
               (p_rules->>x.figure)::float8 AS value
          FROM minyi_facts(p_from, p_to) x
         WHERE p_rules ? x.figure
         ORDER BY x.report_id, x.figure, x.at, x.event_id
    ), credited AS (
        SELECT f.*, w.principal_id, w.via_report, w.reporter,
               count(*) OVER (PARTITION BY f.report_id, f.figure) AS n
          FROM first f CROSS JOIN LATERAL minyi_writers(f.report_id) w
    ), items AS (
        SELECT CASE WHEN p_by = 'reporter' THEN c.reporter ELSE c.principal_id::text END AS key,
               CASE WHEN p_by = 'reporter' THEN c.reporter ELSE p.name END AS label,
               r.receipt, c.figure, c.event_id, c.at,
               CASE WHEN p_split THEN c.value / c.n ELSE c.value END AS points, c.n AS writers,
               CASE WHEN c.via_report <> c.report_id THEN v.receipt ELSE '' END AS via_receipt
          FROM credited c
          JOIN reports r ON r.id = c.report_id
          JOIN reports v ON v.id = c.via_report
          JOIN principals p ON p.id = c.principal_id
         WHERE v_scope = 0 OR c.principal_id = v_scope
    )
    SELECT (SELECT coalesce(jsonb_agg(jsonb_build_object('key', s.key, 'label', s.label,
                                                         'points', s.pts, 'items', s.n)
                                      ORDER BY s.pts DESC, s.key), '[]'::jsonb)
              FROM (SELECT i.key, min(i.label) AS label, sum(i.points) AS pts, count(*) AS n
                      FROM items i GROUP BY i.key) s),
           CASE WHEN p_explain THEN
           (SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'key', i.key, 'receipt', i.receipt, 'figure', i.figure,
                       'event_id', coalesce(i.event_id, 0), 'at_ms', minyi_ms(i.at),
                       'points', i.points, 'writers', i.writers, 'via_receipt', i.via_receipt)
                       ORDER BY i.at, i.receipt, i.figure, i.key), '[]'::jsonb)
              FROM items i) ELSE '[]'::jsonb END
      INTO v_rows, v_items;
    RETURN jsonb_build_object('code', 0, 'rows', v_rows, 'items', v_items, 'rules', p_rules,
                              'split', p_split);
END
$$;
