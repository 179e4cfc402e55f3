-- 0030_public: 码上商, messages from the public to a contact point.
--
-- A member of the public scans a contact point's poster, whose URL carries
-- a token naming the contact point and its token generation (signed by the
-- gateway; gateway/public_token.h).  Raising the generation revokes every
-- poster printed before.  What they send lands in that contact point's
-- inbox, never in the editors' queue.  Their name and phone are sealed in
-- the gateway under a data key of the message's own, wrapped by the master
-- key (storage/pii.h), like a report's personal fields.  The sender keeps a
-- pickup code; only its SHA-256 is stored, so the table alone cannot be used
-- to read anyone's answer.

ALTER TABLE principals ADD COLUMN public_token_gen int NOT NULL DEFAULT 1;

CREATE TABLE public_messages (
    id               bigserial PRIMARY KEY,
    contact_point_id bigint NOT NULL REFERENCES principals (id),
    what             text NOT NULL,                 -- what happened (情况)
    place            text NOT NULL,                 -- where
    name_enc         bytea,                         -- sealed; NULL when not given
    phone_enc        bytea,
    key_version      int NOT NULL,
    wrapped_key      bytea NOT NULL,                -- the message's data key, wrapped
    pickup_sha256    bytea NOT NULL UNIQUE CHECK (length(pickup_sha256) = 32),
    content_sha256   bytea NOT NULL CHECK (length(content_sha256) = 32),
    status           text NOT NULL DEFAULT 'new'
                     CHECK (status IN ('new', 'replied', 'converted', 'dismissed')),
    reply            text,                          -- the contact point's answer to the sender
    replied_at       timestamptz,
    dismiss_reason   text,
    report_id        bigint REFERENCES reports (id),
    received_at      timestamptz NOT NULL DEFAULT now(),
    handled_at       timestamptz
);
CREATE INDEX public_messages_inbox ON public_messages (contact_point_id, id DESC);
-- Duplicate suppression looks for the same text to the same contact point.
CREATE INDEX public_messages_content ON public_messages (contact_point_id, content_sha256);

CREATE TABLE public_photos (
    message_id  bigint NOT NULL REFERENCES public_messages (id) ON DELETE CASCADE,
    idx         smallint NOT NULL,
    media_type  text NOT NULL CHECK (media_type IN ('image/jpeg', 'image/png')),
    sha256      bytea NOT NULL CHECK (length(sha256) = 32),
    content     bytea NOT NULL,
    PRIMARY KEY (message_id, idx)
);

-- PERMISSION_DENIED on principal.kind, and NOT_FOUND on a message field.
CREATE FUNCTION minyi_p_denied()
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(2, 'principal.kind', 'only a contact point has an inbox',
                     '只有联系点有群众来信箱')
$$;

CREATE FUNCTION minyi_p_no_message(p_field text)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(3, p_field, 'no such message in this inbox', '收件箱中没有这条群众来信')
$$;

-- A contact point's poster: its name and current token generation, raised
-- first when p_rotate (which revokes every poster printed before).  A
-- contact point asks for its own (p_cp 0 or its id); an office or admin
-- for any contact point.
CREATE FUNCTION minyi_p_poster(p_actor bigint, p_cp bigint, p_rotate boolean)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_kind text;
    v_cp   principals;
BEGIN
    SELECT kind INTO v_kind FROM principals WHERE id = p_actor;
    IF v_kind = 'contact' AND p_cp IN (0, p_actor) THEN
        p_cp := p_actor;
    ELSIF v_kind NOT IN ('office', 'admin') OR p_cp = 0 THEN
        RETURN minyi_err(2, 'principal.kind',
                         'a contact point makes its own poster; an office names the contact point',
                         '联系点只能生成本联系点的二维码海报；办公室须指明联系点');
    END IF;
    IF p_rotate THEN
        UPDATE principals SET public_token_gen = public_token_gen + 1
         WHERE id = p_cp AND kind = 'contact' RETURNING * INTO v_cp;
    ELSE
        SELECT * INTO v_cp FROM principals WHERE id = p_cp AND kind = 'contact';
    END IF;
    IF v_cp.id IS NULL THEN
        RETURN minyi_err(3, 'poster.contact_point_id', 'no contact point with this id',
                         '没有此编号的联系点');
    END IF;
    RETURN jsonb_build_object('id', v_cp.id, 'name', v_cp.name, 'gen', v_cp.public_token_gen);
END
$$;

-- Stores a message from the public sent with a poster's token (contact
-- point p_cp at generation p_gen; the gateway checked its signature).  A
-- revoked token (another generation) or a contact point no longer active
-- is NOT_FOUND on token; the same text to the same contact point within
-- p_dup_window_s is CONFLICT on message.what, so a double tap or a script
-- repeating itself stores it once.
CREATE FUNCTION minyi_p_submit(p_cp bigint, p_gen int, p_what text, p_place text,
                               p_name_enc bytea, p_phone_enc bytea, p_key_version int,
                               p_wrapped bytea, p_pickup_sha bytea, p_types text[],
                               p_shas bytea[], p_contents bytea[], p_dup_window_s int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_sha bytea := sha256(convert_to(p_what || E'\n' || p_place, 'UTF8'));
    v_id  bigint;
BEGIN
    -- The contact point's row is locked, so two identical messages sent at
    -- the same moment are checked one after the other.
    PERFORM 1 FROM principals
      WHERE id = p_cp AND kind = 'contact' AND active AND public_token_gen = p_gen
      FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_err(3, 'token', 'this poster is no longer valid',
                         '此二维码已失效，请向联系点索取新的二维码');
    END IF;
    IF EXISTS (SELECT 1 FROM public_messages
                WHERE contact_point_id = p_cp AND content_sha256 = v_sha
                  AND received_at > now() - make_interval(secs => p_dup_window_s)) THEN
        RETURN minyi_err(4, 'message.what', 'the same message was received already',
                         '相同内容的来信已经收到，请勿重复提交');
    END IF;
    INSERT INTO public_messages (contact_point_id, what, place, name_enc, phone_enc,
                                 key_version, wrapped_key, pickup_sha256, content_sha256)
    VALUES (p_cp, p_what, p_place, p_name_enc, p_phone_enc, p_key_version, p_wrapped,
            p_pickup_sha, v_sha)
    RETURNING id INTO v_id;
    INSERT INTO public_photos (message_id, idx, media_type, sha256, content)
    SELECT v_id, (u.ord - 1)::smallint, u.t, u.s, u.c
      FROM unnest(p_types, p_shas, p_contents) WITH ORDINALITY AS u(t, s, c, ord);
    PERFORM pg_notify('minyi_inbox', p_cp::text);
    RETURN jsonb_build_object('id', v_id);
END
$$;

-- What the holder of a pickup code may see: the message's status, the
-- contact point's reply, and the outcome of the report it became (its
-- state, following merges to the surviving report), never its text or
-- anyone else's message.
CREATE FUNCTION minyi_p_pickup(p_pickup_sha bytea)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    m public_messages;
    r reports;
    v_depth int := 0;
BEGIN
    SELECT * INTO m FROM public_messages WHERE pickup_sha256 = p_pickup_sha;
    IF NOT FOUND THEN
        RETURN minyi_err(3, 'pickup', 'no message with this pickup code', '没有此查询码对应的来信');
    END IF;
    IF m.report_id IS NOT NULL THEN
        SELECT * INTO r FROM reports WHERE id = m.report_id;
        WHILE r.merged_into IS NOT NULL AND v_depth < 16 LOOP
            SELECT * INTO r FROM reports WHERE id = r.merged_into;
            v_depth := v_depth + 1;
        END LOOP;
    END IF;
    RETURN jsonb_build_object(
        'status', m.status,
        'received_at_ms', minyi_ms(m.received_at),
        'reply', coalesce(m.reply, ''),
        'replied_at_ms', coalesce(minyi_ms(m.replied_at), 0),
        'outcome', coalesce(r.state, ''),
        'outcome_at_ms', coalesce((SELECT minyi_ms(max(e.at)) FROM events e
                                    WHERE e.report_id = r.id), 0));
END
$$;

-- The contact point's inbox, newest first, p_limit from below p_cursor (0:
-- the top); p_status '' for every status.
CREATE FUNCTION minyi_p_inbox(p_actor bigint, p_status text, p_limit int, p_cursor bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_items jsonb;
    v_last  bigint;
    v_n     int;
BEGIN
    IF (SELECT kind FROM principals WHERE id = p_actor) IS DISTINCT FROM 'contact' THEN
        RETURN minyi_p_denied();
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object(
               'id', m.id, 'what', left(m.what, 200), 'place', m.place, 'status', m.status,
               'received_at_ms', minyi_ms(m.received_at),
               'photos', (SELECT count(*) FROM public_photos p WHERE p.message_id = m.id),
               'receipt', coalesce((SELECT receipt FROM reports WHERE id = m.report_id), ''))
               ORDER BY m.id DESC), '[]'::jsonb),
           min(m.id), count(*)
      INTO v_items, v_last, v_n
      FROM (SELECT * FROM public_messages
             WHERE contact_point_id = p_actor
               AND (p_status = '' OR status = p_status)
               AND (p_cursor = 0 OR id < p_cursor)
             ORDER BY id DESC LIMIT p_limit) m;
    RETURN jsonb_build_object('items', v_items,
                              'next_cursor', CASE WHEN v_n = p_limit THEN v_last::text ELSE '' END);
END
$$;

-- One message of the contact point's inbox in full, with its sealed fields
-- (hex) for the gateway to open and its photos.
CREATE FUNCTION minyi_p_show(p_actor bigint, p_id bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    m public_messages;
BEGIN
    IF (SELECT kind FROM principals WHERE id = p_actor) IS DISTINCT FROM 'contact' THEN
        RETURN minyi_p_denied();
    END IF;
    SELECT * INTO m FROM public_messages WHERE id = p_id AND contact_point_id = p_actor;
    IF NOT FOUND THEN
        RETURN minyi_p_no_message('inbox_show.id');
    END IF;
    RETURN jsonb_build_object(
        'id', m.id, 'what', m.what, 'place', m.place, 'status', m.status,
        'name_enc', coalesce(encode(m.name_enc, 'hex'), ''),
        'phone_enc', coalesce(encode(m.phone_enc, 'hex'), ''),
        'pii_key', encode(m.wrapped_key, 'hex'),
        'reply', coalesce(m.reply, ''), 'dismiss_reason', coalesce(m.dismiss_reason, ''),
        'receipt', coalesce((SELECT receipt FROM reports WHERE id = m.report_id), ''),
        'received_at_ms', minyi_ms(m.received_at),
        'photos', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'media_type', p.media_type, 'sha256', encode(p.sha256, 'hex'),
                                'content', translate(encode(p.content, 'base64'), E'\n', '')) ORDER BY p.idx)
                              FROM public_photos p WHERE p.message_id = m.id), '[]'::jsonb));
END
$$;

-- Replies to the sender (seen with the pickup code), or dismisses the
-- message with a reason.  A converted or dismissed message is closed:
-- CONFLICT.  A reply may be given again (the newest one counts).
CREATE FUNCTION minyi_p_answer(p_actor bigint, p_id bigint, p_dismiss boolean, p_text text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    m public_messages;
    v_field text := 'inbox_answer.id';
BEGIN
    IF (SELECT kind FROM principals WHERE id = p_actor) IS DISTINCT FROM 'contact' THEN
        RETURN minyi_p_denied();
    END IF;
    SELECT * INTO m FROM public_messages WHERE id = p_id AND contact_point_id = p_actor
       FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_p_no_message(v_field);
    END IF;
    IF m.status IN ('converted', 'dismissed') THEN
        RETURN minyi_err(4, v_field, format('the message is %s already', m.status),
                         format('该来信已%s', CASE m.status WHEN 'converted' THEN '转为信息'
                                                              ELSE '不予处理' END));
    END IF;
    IF p_dismiss THEN
        UPDATE public_messages SET status = 'dismissed', dismiss_reason = p_text,
                                   handled_at = now()
         WHERE id = p_id;
    ELSE
        UPDATE public_messages SET status = 'replied', reply = p_text, replied_at = now()
         WHERE id = p_id;
    END IF;
    RETURN '{}'::jsonb;
END
$$;

-- Converting messages into a report, in two calls around the report's
-- submission: p_receipt NULL checks that every message is the actor's and
-- still open, or converted already into the report of this very
-- conversion (the client_report_id p_crid: a retry); then, once the
-- report is stored, the call with its receipt marks them converted into
-- it.  A retry of either call answers the same.
CREATE FUNCTION minyi_p_link(p_actor bigint, p_ids bigint[], p_crid uuid, p_receipt text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_report bigint;
    v_bad    bigint;
BEGIN
    IF (SELECT kind FROM principals WHERE id = p_actor) IS DISTINCT FROM 'contact' THEN
        RETURN minyi_p_denied();
    END IF;
    SELECT id INTO v_report FROM reports
     WHERE principal_id = p_actor AND client_report_id = p_crid;
    IF p_receipt IS NOT NULL AND v_report IS NULL THEN
        RETURN minyi_not_found('inbox_convert.report');
    END IF;
    PERFORM 1 FROM public_messages WHERE id = ANY (p_ids) ORDER BY id FOR UPDATE;
    SELECT u.id INTO v_bad
      FROM unnest(p_ids) AS u(id)
      LEFT JOIN public_messages m ON m.id = u.id AND m.contact_point_id = p_actor
     WHERE m.id IS NULL
     LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN minyi_p_no_message('inbox_convert.ids');
    END IF;
    SELECT m.id INTO v_bad FROM public_messages m
     WHERE m.id = ANY (p_ids)
       AND (m.status = 'dismissed'
            OR (m.status = 'converted' AND m.report_id IS DISTINCT FROM v_report))
     LIMIT 1;
    IF v_bad IS NOT NULL THEN
        RETURN minyi_err(4, 'inbox_convert.ids',
                         format('message %s is dismissed or converted into another report', v_bad),
                         format('来信 %s 已不予处理或已转为其他信息', v_bad));
    END IF;
    IF p_receipt IS NOT NULL THEN
        UPDATE public_messages SET status = 'converted', report_id = v_report, handled_at = now()
         WHERE id = ANY (p_ids);
    END IF;
    RETURN '{}'::jsonb;
END
$$;
