-- 0014_attachments_up: a report's attachments are shown to its editors,
-- fetched one at a time, and travel upward with every forward.
--
-- The receiving instance checks each attachment's SHA-256 against its
-- content as it checks any submission's, so one damaged here is refused
-- there (the delivery goes dead with that reason) instead of passed on.

-- An editor's view of a report lists its attachments: index, name, media
-- type, size and SHA-256, not the content (see minyi_t_attachment).  The
-- function of 0005_results.sql stays as it is under another name; this one
-- adds the list to its answer.
ALTER FUNCTION minyi_t_show(bigint, text, int, int, real) RENAME TO minyi_t_show_0005;
CREATE FUNCTION minyi_t_show(p_actor bigint, p_receipt text, p_version int,
                             p_similar_max int, p_similar_min real)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v jsonb;
BEGIN
    v := minyi_t_show_0005(p_actor, p_receipt, p_version, p_similar_max, p_similar_min);
    IF (v->>'code')::int = 0 THEN
        v := v || jsonb_build_object('attachments', (
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                       'index', a.idx, 'name', a.name, 'media_type', a.media_type,
                       'size', octet_length(a.content), 'sha256', encode(a.sha256, 'hex'))
                     ORDER BY a.idx), '[]'::jsonb)
              FROM attachments a JOIN reports r ON r.id = a.report_id
             WHERE r.receipt = p_receipt));
    END IF;
    RETURN v;
END
$$;

-- One attachment of a report, with its content (hex), for an editor who
-- saves it to a file.  NOT_FOUND on attachment.receipt or attachment.index.
CREATE FUNCTION minyi_t_attachment(p_actor bigint, p_receipt text, p_index int)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_report bigint;
    a attachments;
BEGIN
    SELECT id INTO v_report FROM reports WHERE receipt = p_receipt;
    IF NOT FOUND THEN
        RETURN minyi_not_found('attachment.receipt');
    END IF;
    SELECT * INTO a FROM attachments WHERE report_id = v_report AND idx = p_index;
    IF NOT FOUND THEN
        RETURN minyi_err(3, 'attachment.index', 'the report has no attachment with this index',
                         '该信息没有此序号的附件');
    END IF;
    RETURN jsonb_build_object('code', 0, 'index', a.idx, 'name', a.name,
                              'media_type', a.media_type, 'sha256', encode(a.sha256, 'hex'),
                              'content', encode(a.content, 'hex'));
END
$$;

-- minyi_fw_claim of 0004_forward.sql, each item with the report's
-- attachments as stored here (content and SHA-256 in hex), so the request
-- upward carries them byte for byte.
CREATE OR REPLACE FUNCTION minyi_fw_claim(p_dests text[], p_limit int, p_lease_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_items jsonb;
BEGIN
    WITH due AS (
        SELECT id FROM outbox
         WHERE destination = ANY (p_dests)
           AND state IN ('pending', 'in_flight') AND next_attempt_at <= now()
         ORDER BY next_attempt_at, id
         LIMIT p_limit
           FOR UPDATE SKIP LOCKED
    ), claimed AS (
        UPDATE outbox o
           SET state = 'in_flight', attempts = o.attempts + 1,
               next_attempt_at = now() + make_interval(secs => p_lease_s)
          FROM due WHERE o.id = due.id
        RETURNING o.*
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'outbox_id', c.id, 'destination', c.destination, 'attempt', c.attempts,
               'receipt', r.receipt, 'title', r.title, 'situation', r.situation,
               'analysis', r.analysis, 'suggestions', r.suggestions,
               'category', r.category, 'urgency', r.urgency, 'region', r.region,
               'reporter_name', r.reporter_name,
               'reporter_name_enc', encode(r.reporter_name_enc, 'hex'),
               'reporter_unit', r.reporter_unit, 'reporter_kind', r.reporter_kind,
               'reporter_sector', r.reporter_sector,
               'phone_enc', encode(r.phone_enc, 'hex'),
               'origin_region', r.origin_region, 'origin_receipt', r.origin_receipt,
               'origin_body', r.origin_body, 'origin_chain', to_jsonb(r.origin_chain),
               'attachments', (
                   SELECT coalesce(jsonb_agg(jsonb_build_object(
                              'name', a.name, 'media_type', a.media_type,
                              'sha256', encode(a.sha256, 'hex'),
                              'content', encode(a.content, 'hex')) ORDER BY a.idx), '[]'::jsonb)
                     FROM attachments a WHERE a.report_id = r.id))
             ORDER BY c.next_attempt_at, c.id), '[]'::jsonb)
      INTO v_items
      FROM claimed c JOIN reports r ON r.id = c.report_id;
    RETURN jsonb_build_object('code', 0, 'items', v_items);
END
$$;
