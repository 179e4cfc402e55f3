-- A year of a busy province for the office's figures (tests/bench/run, S6):
-- :n reports from 200 contact points received over 2026, each with the
-- history an editor and the bodies above would have given it — a claim,
-- then 40 % forwarded (half of those adopted above: by the province, one in
-- ten nationally, a third of them with a 省领导 批示), 20 % adopted here (a
-- fifth with a 市领导 批示), 20 % rejected, 10 % returned, 10 % merged.
-- Loaded as the database superuser with triggers off (no queue
-- notifications, no results owed): the figures read reports and events only.

SET session_replication_role = replica;

INSERT INTO principals (fingerprint, kind, name, region, sector)
SELECT sha256(convert_to('bench-office-cp-' || g, 'UTF8')), 'contact', '联系点' || g,
       '330402', ''
  FROM generate_series(1, 200) g
ON CONFLICT DO NOTHING;

CREATE TEMP TABLE bench_cp AS
SELECT row_number() OVER (ORDER BY id) - 1 AS i, id FROM principals
 WHERE name LIKE '联系点%' AND kind = 'contact';

INSERT INTO reports (receipt, principal_id, client_report_id, payload_sha256, title, situation,
                     category, urgency, reporter_name, reporter_unit, reporter_kind,
                     reporter_sector, region, phone_enc, state, received_at)
SELECT '330000-2026-b' || lpad(g::text, 7, '0'), cp.id, gen_random_uuid(),
       sha256(convert_to('bench-office-' || g, 'UTF8')), '关于基层治理的建议' || g,
       '基层反映的情况。', 1 + g % 7, 1, '委员' || (g % 997), '某单位', 1 + g % 7,
       (ARRAY['经济界', '教育界', '医药卫生界', '农业界', ''])[1 + g % 5],
       '3304' || lpad((g % 9)::text, 2, '0'), '\x00',
       CASE g % 10 WHEN 0 THEN 'MERGED' WHEN 1 THEN 'RETURNED' WHEN 2 THEN 'REJECTED'
                   WHEN 3 THEN 'REJECTED' WHEN 4 THEN 'ADOPTED' WHEN 5 THEN 'ADOPTED'
                   ELSE 'FORWARDED' END,
       timestamptz '2026-01-01 00:00+08' + (g::float8 / :n) * interval '360 days'
  FROM generate_series(1, :n) g
  JOIN bench_cp cp ON cp.i = g % 200;

-- Every report is claimed an hour after it arrived, and decided an hour later.
INSERT INTO events (report_id, actor, action, state, note, at)
SELECT r.id, NULL, 'claim', 'IN_REVIEW', '', r.received_at + interval '1 hour'
  FROM reports r WHERE r.receipt LIKE '330000-2026-b%';

INSERT INTO events (report_id, actor, action, state, note, at, instruction, instruction_level)
SELECT r.id, NULL,
       CASE r.state WHEN 'MERGED' THEN 'merge' WHEN 'RETURNED' THEN 'return'
                    WHEN 'REJECTED' THEN 'reject' WHEN 'ADOPTED' THEN 'adopt'
                    ELSE 'forward' END,
       r.state, '', r.received_at + interval '2 hours',
       CASE WHEN r.state = 'ADOPTED' AND r.id % 5 = 0 THEN '请有关部门研究。' END,
       CASE WHEN r.state = 'ADOPTED' AND r.id % 5 = 0 THEN '市领导' END
  FROM reports r WHERE r.receipt LIKE '330000-2026-b%';

-- Results from above, a week later, for half of the forwarded reports.
INSERT INTO events (report_id, actor, action, state, note, at, body_name, body_region,
                    instruction, instruction_level)
SELECT r.id, NULL, 'result_adopt', 'ADOPTED_ABOVE', '', r.received_at + interval '7 days',
       CASE WHEN r.id % 20 = 0 THEN '全国政协' ELSE '浙江省政协' END,
       CASE WHEN r.id % 20 = 0 THEN '100000' ELSE '330000' END,
       CASE WHEN r.id % 3 = 0 THEN '请省民政厅研究。' END,
       CASE WHEN r.id % 3 = 0 THEN '省领导' END
  FROM reports r WHERE r.receipt LIKE '330000-2026-b%' AND r.state = 'FORWARDED'
   AND r.id % 2 = 0;

SET session_replication_role = DEFAULT;
ANALYZE reports;
ANALYZE events;
