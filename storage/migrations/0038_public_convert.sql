-- 0038_public_convert: converting messages from the public into a report
-- in one transaction.
--
-- Until now the gateway converted in three calls: minyi_p_link checked the
-- messages, the intake batch stored the report, and minyi_p_link marked the
-- messages converted into it.  A failure between the last two left a
-- stored report whose messages still looked open in the inbox and to their
-- senders' pickup codes.  minyi_p_convert is one statement, so one
-- transaction: it locks and checks the messages (minyi_p_link without a
-- receipt), stores the report through minyi_submit_batch as a batch of one
-- (the same receipt, data key and attachments as any submission, credited
-- to the contact point with its 群众 reporter), and marks the messages
-- converted into it.  A failure anywhere leaves neither the report nor the
-- marks.  A retry with the same client_report_id finds the report and its
-- messages converted into it, and answers it as a duplicate.

CREATE FUNCTION minyi_p_convert(p_actor bigint, p_ids bigint[], p_body_region text,
                                p_crid uuid, p_sha bytea, p_title text, p_situation text,
                                p_analysis text, p_suggestions text, p_category smallint,
                                p_urgency smallint, p_rname text, p_rname_enc bytea,
                                p_runit text, p_rkind smallint, p_rsector text, p_region text,
                                p_phone_enc bytea, p_dek bytea, p_key_version int,
                                p_att_name text[], p_att_type text[], p_att_sha bytea[],
                                p_att_content bytea[])
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_n    int := coalesce(cardinality(p_att_name), 0);
    v_sync text := current_setting('synchronous_commit');
    v_ans  jsonb;
    b      record;
BEGIN
    -- The messages' rows stay locked to the end of the transaction, so
    -- what this check found still holds when they are marked.
    v_ans := minyi_p_link(p_actor, p_ids, p_crid, NULL);
    IF v_ans ? 'code' THEN
        RETURN v_ans;
    END IF;
    SELECT * INTO b
      FROM minyi_submit_batch(p_body_region, ARRAY[p_actor], ARRAY[p_crid], ARRAY[p_sha],
                              ARRAY[p_title], ARRAY[p_situation], ARRAY[p_analysis],
                              ARRAY[p_suggestions], ARRAY[p_category], ARRAY[p_urgency],
                              ARRAY[p_rname], ARRAY[p_rname_enc], ARRAY[p_runit],
                              ARRAY[p_rkind], ARRAY[p_rsector], ARRAY[p_region],
                              ARRAY[p_phone_enc], ARRAY[p_dek], p_key_version,
                              array_fill(1, ARRAY[v_n]),
                              ARRAY(SELECT (i - 1)::smallint FROM generate_series(1, v_n) i ORDER BY i),
                              coalesce(p_att_name, '{}'), coalesce(p_att_type, '{}'),
                              coalesce(p_att_sha, '{}'), coalesce(p_att_content, '{}'));
    IF b.o_sha IS DISTINCT FROM p_sha THEN
        RETURN minyi_err(4, 'report.client_report_id',
                         'this client_report_id was already used for a different report',
                         '该 client_report_id 已用于另一份内容不同的信息');
    END IF;
    v_ans := minyi_p_link(p_actor, p_ids, p_crid, b.o_receipt);
    IF v_ans ? 'code' THEN
        -- Cannot happen under the locks above; should it, the report goes too.
        RAISE EXCEPTION 'minyi_p_convert: checked messages not linked: %', v_ans;
    END IF;
    IF b.o_inserted THEN
        -- The editors' queue hears of it as of any new report.  That
        -- function turns synchronous_commit off for the intake's
        -- notification-only transactions; this one stores a report, whose
        -- answer must wait for its commit, so the setting is put back.
        PERFORM minyi_notify_received(ARRAY[b.o_receipt], ARRAY[b.o_received_at_ms],
                                      ARRAY[p_actor]);
        PERFORM set_config('synchronous_commit', v_sync, true);
    END IF;
    RETURN jsonb_build_object('receipt', b.o_receipt, 'duplicate', NOT b.o_inserted,
                              'received_at_ms', b.o_received_at_ms);
END
$$;
