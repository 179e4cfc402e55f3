-- pgbench reference: one report row per transaction, the same columns the
-- gateway stores.  Run with -M prepared and -D principal=ID -D situation=TEXT.
INSERT INTO reports (receipt, principal_id, client_report_id, payload_sha256, title, situation,
                     analysis, suggestions, category, urgency, reporter_name, reporter_unit,
                     reporter_kind, reporter_sector, region, phone_enc)
VALUES ('bench-' || gen_random_uuid(), :principal, gen_random_uuid(),
        sha256(gen_random_uuid()::text::bytea), '关于加快老旧小区加装电梯的建议', :situation,
        '费用分摊机制不明确,低楼层住户顾虑较多。', '建议出台分摊指导意见,并由街道牵头协调。',
        4, 1, '张三', '南湖区政协', 1, '经济界', '330402', sha256(''::bytea));
