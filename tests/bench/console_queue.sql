-- The console's queue page at S7 (tests/bench/run): :n reports waiting in
-- the queue (RECEIVED), from 200 contact points, received over the last
-- 30 days.  Loaded as the database superuser with triggers off, like
-- office_history.sql: the queue reads the reports table only.

SET session_replication_role = replica;

INSERT INTO principals (fingerprint, kind, name, region, sector)
SELECT sha256(convert_to('bench-queue-cp-' || g, 'UTF8')), 'contact', '联系点' || g, '330402', ''
  FROM generate_series(1, 200) g
ON CONFLICT DO NOTHING;

CREATE TEMP TABLE bench_qcp AS
SELECT row_number() OVER (ORDER BY id) - 1 AS i, id FROM principals
 WHERE name LIKE '联系点%' AND kind = 'contact';

INSERT INTO reports (receipt, principal_id, client_report_id, payload_sha256, title, situation,
                     category, urgency, reporter_name, reporter_unit, reporter_kind,
                     reporter_sector, region, phone_enc, state, received_at)
SELECT '330400-2026-q' || lpad(g::text, 7, '0'), cp.id, gen_random_uuid(),
       sha256(convert_to('bench-queue-' || g, 'UTF8')), '关于基层治理的建议' || g,
       '基层反映的情况。', 1 + g % 7, 1 + (g % 20 = 0)::int, '委员' || (g % 997), '某单位',
       1 + g % 7, '', '3304' || lpad((g % 9)::text, 2, '0'), '\x00', 'RECEIVED',
       now() - (g::float8 / :n) * interval '30 days'
  FROM generate_series(1, :n) g
  JOIN bench_qcp cp ON cp.i = g % 200;

ANALYZE reports;
