-- 0027_issues: 专报 issues — editors compile adopted reports into numbered
-- issues; a published issue is immutable, and each of its items counts
-- as 编发 (figure 'issued') for the report's writers.
--
-- An issue belongs to a series (e.g. 社情民意专报) and a year.  It is a
-- draft until published; only then does it get its number, the next of
-- its series and year, so abandoned drafts leave no gaps and two issues
-- published at once never share a number (an advisory lock per series and
-- year orders them, and a unique index is the backstop).  Each item holds
-- its own edited title and text: the issue prints what the editor made of
-- the report, not the report as it stands later.
--
-- Publication writes one 'issue' event per item on its report, so the
-- writer's status shows it (credited writers of merged reports too, since
-- their status follows the merge) and the figures and points read it from
-- the history like every other fact.

CREATE TABLE issues (
    id             bigserial PRIMARY KEY,
    series         text NOT NULL,
    year           int NOT NULL CHECK (year BETWEEN 2000 AND 2999),
    number         int CHECK (number > 0),
    title          text NOT NULL,
    editor_note    text NOT NULL DEFAULT '',
    body_name      text NOT NULL,
    created_by     bigint NOT NULL REFERENCES principals (id),
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_by   bigint REFERENCES principals (id),
    published_at   timestamptz,
    CHECK ((number IS NULL) = (published_at IS NULL)),
    CHECK ((published_by IS NULL) = (published_at IS NULL))
);
CREATE UNIQUE INDEX issues_number_idx ON issues (series, year, number);

CREATE TABLE issue_items (
    id         bigserial PRIMARY KEY,
    issue_id   bigint NOT NULL REFERENCES issues (id),
    report_id  bigint NOT NULL REFERENCES reports (id),
    position   int NOT NULL CHECK (position > 0),
    title      text NOT NULL,
    text       text NOT NULL,
    UNIQUE (issue_id, report_id),
    -- Positions move by whole statements (an insertion shifts the rest),
    -- so they need be unique only once the transaction ends.
    UNIQUE (issue_id, position) DEFERRABLE INITIALLY DEFERRED
);

-- A published issue and its items cannot be changed or removed, by the
-- gateway or by anyone with psql: the database refuses it, not only the
-- functions below.  Publication itself is the one change allowed, the
-- draft's UPDATE that sets published_at.
CREATE FUNCTION minyi_issue_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_issue bigint;
BEGIN
    IF TG_TABLE_NAME = 'issues' THEN
        IF OLD.published_at IS NOT NULL THEN
            RAISE EXCEPTION 'issue % (%, % no. %) is published and cannot be changed',
                  OLD.id, OLD.series, OLD.year, OLD.number
                  USING ERRCODE = 'object_not_in_prerequisite_state';
        END IF;
    ELSE
        FOREACH v_issue IN ARRAY ARRAY[CASE WHEN TG_OP <> 'INSERT' THEN OLD.issue_id END,
                                       CASE WHEN TG_OP <> 'DELETE' THEN NEW.issue_id END] LOOP
            IF EXISTS (SELECT 1 FROM issues i WHERE i.id = v_issue
                                                AND i.published_at IS NOT NULL) THEN
                RAISE EXCEPTION 'issue % is published: its items cannot be changed', v_issue
                      USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
        END LOOP;
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER issues_frozen BEFORE UPDATE OR DELETE ON issues
    FOR EACH ROW EXECUTE FUNCTION minyi_issue_frozen();
CREATE TRIGGER issue_items_frozen BEFORE INSERT OR UPDATE OR DELETE ON issue_items
    FOR EACH ROW EXECUTE FUNCTION minyi_issue_frozen();

-- TRUNCATE fires no row triggers; refuse it outright while anything is
-- published.
CREATE FUNCTION minyi_issue_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM issues WHERE published_at IS NOT NULL) THEN
        RAISE EXCEPTION 'published issues cannot be truncated'
              USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER issues_no_truncate BEFORE TRUNCATE ON issues
    FOR EACH STATEMENT EXECUTE FUNCTION minyi_issue_no_truncate();
CREATE TRIGGER issue_items_no_truncate BEFORE TRUNCATE ON issue_items
    FOR EACH STATEMENT EXECUTE FUNCTION minyi_issue_no_truncate();

-- Who may do what with issues: NULL when allowed, else the refusal.
-- Editors compose; offices and admins (and editors) read.
CREATE FUNCTION minyi_issue_denied(p_actor bigint, p_compose boolean)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p.kind = 'editor' THEN NULL
        WHEN NOT p_compose AND p.kind IN ('office', 'admin') THEN NULL
        WHEN p_compose THEN minyi_err(2, 'principal.kind', 'only editors compile issues',
                                      '只有信息编辑可以编辑专报')
        ELSE minyi_err(2, 'principal.kind', 'only editors, offices and admins read issues',
                       '只有信息编辑、办公室和管理员可以查阅专报')
    END
      FROM (SELECT (SELECT kind FROM principals WHERE id = p_actor AND active) AS kind) p
$$;

CREATE FUNCTION minyi_issue_not_found()
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(3, 'issue_id', 'no issue with this id', '没有此编号的专报')
$$;

CREATE FUNCTION minyi_issue_published_conflict(i issues)
RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
    SELECT minyi_err(4, 'issue_id',
                     format('issue %s is published (%s %s no. %s) and cannot be changed',
                            i.id, i.series, i.year, i.number),
                     format('专报已印发（《%s》%s年第%s期），不能修改', i.series, i.year, i.number))
$$;

-- The writers credited with a report, by display name, joined with 、.
CREATE FUNCTION minyi_issue_source(p_report bigint)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(DISTINCT p.name, '、'), '')
      FROM minyi_writers(p_report) w JOIN principals p ON p.id = w.principal_id
$$;

-- An issue as the protocol's Issue, with its items when p_items.
CREATE FUNCTION minyi_issue_json(p_issue bigint, p_items boolean)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
               'id', i.id, 'series', i.series, 'year', i.year, 'number', coalesce(i.number, 0),
               'title', i.title, 'editor_note', i.editor_note, 'body_name', i.body_name,
               'created_at_ms', minyi_ms(i.created_at),
               'published_at_ms', coalesce(minyi_ms(i.published_at), 0),
               'published_by', coalesce(pb.name, ''),
               'item_count', (SELECT count(*) FROM issue_items x WHERE x.issue_id = i.id),
               'items', CASE WHEN p_items THEN
                   (SELECT coalesce(jsonb_agg(jsonb_build_object(
                               'position', x.position, 'receipt', r.receipt, 'title', x.title,
                               'text', x.text, 'source', minyi_issue_source(r.id),
                               'category', r.category) ORDER BY x.position), '[]'::jsonb)
                      FROM issue_items x JOIN reports r ON r.id = x.report_id
                     WHERE x.issue_id = i.id)
                   ELSE '[]'::jsonb END)
      FROM issues i LEFT JOIN principals pb ON pb.id = i.published_by
     WHERE i.id = p_issue
$$;

CREATE FUNCTION minyi_issue_answer(p_issue bigint)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('code', 0, 'issue', minyi_issue_json(p_issue, true))
$$;

-- NULL when p_actor may change the draft p_issue, which is then locked
-- until the transaction ends; else the refusal: not an editor, no such
-- issue, or published already.
CREATE FUNCTION minyi_issue_draft_refused(p_actor bigint, p_issue bigint)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_denied jsonb := minyi_issue_denied(p_actor, true);
    i issues;
BEGIN
    IF v_denied IS NOT NULL THEN
        RETURN v_denied;
    END IF;
    SELECT * INTO i FROM issues WHERE id = p_issue FOR UPDATE;
    IF NOT FOUND THEN
        RETURN minyi_issue_not_found();
    END IF;
    IF i.published_at IS NOT NULL THEN
        RETURN minyi_issue_published_conflict(i);
    END IF;
    RETURN NULL;
END
$$;

-- A new draft.  p_year 0 is this year in China time.
CREATE FUNCTION minyi_i_new(p_actor bigint, p_series text, p_year int, p_title text,
                            p_note text, p_body_name text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_denied jsonb := minyi_issue_denied(p_actor, true);
    v_id bigint;
BEGIN
    IF v_denied IS NOT NULL THEN
        RETURN v_denied;
    END IF;
    INSERT INTO issues (series, year, title, editor_note, body_name, created_by)
    VALUES (p_series,
            CASE WHEN p_year = 0
                 THEN extract(year FROM now() AT TIME ZONE 'Asia/Shanghai')::int
                 ELSE p_year END,
            p_title, p_note, p_body_name, p_actor)
    RETURNING id INTO v_id;
    RETURN minyi_issue_answer(v_id);
END
$$;

-- Puts a report into a draft at p_position (0: at the end, or where it is
-- already), with its own title and text (empty: the item's when it is
-- there already, else the report's current text).  At most p_items_max
-- items.
CREATE FUNCTION minyi_i_add(p_actor bigint, p_issue bigint, p_receipt text, p_title text,
                            p_text text, p_position int, p_items_max int)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_refused jsonb := minyi_issue_draft_refused(p_actor, p_issue);
    i issues;
    r reports;
    x issue_items;
    v_n int;
    v_pos int;
BEGIN
    IF v_refused IS NOT NULL THEN
        RETURN v_refused;
    END IF;
    SELECT * INTO i FROM issues WHERE id = p_issue;
    SELECT * INTO r FROM reports WHERE receipt = p_receipt;
    IF NOT FOUND THEN
        RETURN minyi_not_found('issue_add.receipt');
    END IF;
    IF r.state NOT IN ('ADOPTED', 'FORWARDED', 'ADOPTED_ABOVE') THEN
        RETURN minyi_state_conflict(r.state, 'issue_add.receipt',
                                    'an issue compiles adopted or forwarded reports',
                                    '专报只能编入已采用或已上报的信息');
    END IF;
    SELECT * INTO x FROM issue_items WHERE issue_id = i.id AND report_id = r.id;
    SELECT count(*) INTO v_n FROM issue_items WHERE issue_id = i.id;
    IF x.id IS NULL AND v_n >= p_items_max THEN
        RETURN minyi_err(4, 'issue_add.receipt',
                         format('an issue holds at most %s items', p_items_max),
                         format('一期专报最多编入%s条信息', p_items_max));
    END IF;
    IF x.id IS NOT NULL THEN
        DELETE FROM issue_items WHERE id = x.id;
        UPDATE issue_items SET position = position - 1
         WHERE issue_id = i.id AND position > x.position;
        v_n := v_n - 1;
    END IF;
    v_pos := CASE WHEN p_position > 0 THEN least(p_position, v_n + 1)
                  WHEN x.id IS NOT NULL THEN least(x.position, v_n + 1)
                  ELSE v_n + 1 END;
    UPDATE issue_items SET position = position + 1 WHERE issue_id = i.id AND position >= v_pos;
    INSERT INTO issue_items (issue_id, report_id, position, title, text)
    VALUES (i.id, r.id, v_pos,
            coalesce(nullif(p_title, ''), x.title, r.title),
            coalesce(nullif(p_text, ''), x.text,
                     concat_ws(E'\n\n', nullif(r.situation, ''), nullif(r.analysis, ''),
                               nullif(r.suggestions, ''))));
    RETURN minyi_issue_answer(i.id);
END
$$;

CREATE FUNCTION minyi_i_remove(p_actor bigint, p_issue bigint, p_receipt text)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_refused jsonb := minyi_issue_draft_refused(p_actor, p_issue);
    i issues;
    x issue_items;
BEGIN
    IF v_refused IS NOT NULL THEN
        RETURN v_refused;
    END IF;
    SELECT * INTO i FROM issues WHERE id = p_issue;
    SELECT x0.* INTO x FROM issue_items x0 JOIN reports r ON r.id = x0.report_id
     WHERE x0.issue_id = i.id AND r.receipt = p_receipt;
    IF NOT FOUND THEN
        RETURN minyi_err(3, 'issue_remove.receipt', 'the issue has no item of this report',
                         '本期专报未编入此信息');
    END IF;
    DELETE FROM issue_items WHERE id = x.id;
    UPDATE issue_items SET position = position - 1
     WHERE issue_id = i.id AND position > x.position;
    RETURN minyi_issue_answer(i.id);
END
$$;

-- Publishes a draft: the next number of its series and year, the time
-- and the editor, and an 'issue' event (编发) on each item's report.
-- Publishing a published issue again is a CONFLICT naming its number.
CREATE FUNCTION minyi_i_publish(p_actor bigint, p_issue bigint)
RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_refused jsonb := minyi_issue_draft_refused(p_actor, p_issue);
    i issues;
    v_number int;
BEGIN
    IF v_refused IS NOT NULL THEN
        RETURN v_refused;
    END IF;
    SELECT * INTO i FROM issues WHERE id = p_issue;
    IF NOT EXISTS (SELECT 1 FROM issue_items WHERE issue_id = i.id) THEN
        RETURN minyi_err(4, 'issue_id', 'an issue without items cannot be published',
                         '专报尚未编入信息，不能印发');
    END IF;
    -- Numbers of one series and year are handed out one transaction at a
    -- time, so the next is always the highest so far plus one.
    PERFORM pg_advisory_xact_lock(hashtextextended('minyi_issue:' || i.series || ':' || i.year,
                                                   0));
    SELECT coalesce(max(number), 0) + 1 INTO v_number
      FROM issues WHERE series = i.series AND year = i.year AND number IS NOT NULL;
    UPDATE issues SET number = v_number, published_at = now(), published_by = p_actor
     WHERE id = i.id;
    INSERT INTO events (report_id, actor, action, state, note)
    SELECT x.report_id, p_actor, 'issue', r.state,
           format('编发：《%s》%s年第%s期 第%s条', i.series, i.year, v_number, x.position)
      FROM issue_items x JOIN reports r ON r.id = x.report_id
     WHERE x.issue_id = i.id
     ORDER BY x.position;
    RETURN minyi_issue_answer(i.id);
END
$$;

CREATE FUNCTION minyi_i_show(p_actor bigint, p_issue bigint)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_denied jsonb := minyi_issue_denied(p_actor, false);
BEGIN
    IF v_denied IS NOT NULL THEN
        RETURN v_denied;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM issues WHERE id = p_issue) THEN
        RETURN minyi_issue_not_found();
    END IF;
    RETURN minyi_issue_answer(p_issue);
END
$$;

-- The issues of p_year (0: all): the newest year first, then by series,
-- its drafts (no number yet) first and then its published issues, the
-- highest number first.  At most p_limit.
CREATE FUNCTION minyi_i_list(p_actor bigint, p_year int, p_limit int)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_denied jsonb := minyi_issue_denied(p_actor, false);
BEGIN
    IF v_denied IS NOT NULL THEN
        RETURN v_denied;
    END IF;
    RETURN jsonb_build_object('code', 0, 'issues',
        (SELECT coalesce(jsonb_agg(minyi_issue_json(s.id, false) ORDER BY s.rank), '[]'::jsonb)
           FROM (SELECT id, row_number() OVER (ORDER BY year DESC, series,
                                                    number DESC NULLS FIRST, id DESC) AS rank
                   FROM issues WHERE p_year = 0 OR year = p_year
                  ORDER BY 2 LIMIT p_limit) s));
END
$$;

-- 编发 counts in the figures: each item of a published issue is a fact
-- 'issued' of its report at the time of publication.
CREATE OR REPLACE FUNCTION minyi_event_figure(p_action text, p_body_region text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE p_action
        WHEN 'adopt' THEN 'adopted'
        WHEN 'forward' THEN 'forwarded'
        WHEN 'reject' THEN 'rejected'
        WHEN 'return' THEN 'returned'
        WHEN 'merge' THEN 'merged'
        WHEN 'issue' THEN 'issued'
        WHEN 'external' THEN 'external_sent'
        WHEN 'external_response' THEN 'external_responses'
        WHEN 'result_adopt' THEN 'adopted_above:' || minyi_region_level(p_body_region)
    END
$$;
