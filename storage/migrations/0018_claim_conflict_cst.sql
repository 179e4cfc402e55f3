-- A claim conflict named its expiry in UTC in English and in Asia/Shanghai
-- in Chinese, so one answer held two zones.  Times for people are China
-- Standard Time (Asia/Shanghai) everywhere, with the offset written out.
CREATE OR REPLACE FUNCTION minyi_claimed_conflict(r reports, p_field text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT minyi_err(4, p_field,
                     format('the report is claimed by %s until %s', p.name,
                            to_char(r.claim_expires_at AT TIME ZONE 'Asia/Shanghai',
                                    'YYYY-MM-DD"T"HH24:MI:SS"+08:00"')),
                     format('该信息已由%s认领，至 %s', p.name,
                            to_char(r.claim_expires_at AT TIME ZONE 'Asia/Shanghai',
                                    'YYYY-MM-DD"T"HH24:MI:SS"+08:00"')))
      FROM principals p WHERE p.id = r.claimed_by
$$;
