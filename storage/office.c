/*
 * office: the figures and 考核 points (office.h), each one call of a SQL
 * function of migration 0023_office.sql sent as a triage operation.
 */
#include "office.h"
#include "triage_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The breakdowns as minyi_stats_key() names them, by StatsBy value. */
static const char *stats_by_name(int by)
{
    switch (by) {
    case MINYI__V1__STATS_BY__STATS_BY_TOTAL: return "total";
    case MINYI__V1__STATS_BY__STATS_BY_CONTACT_POINT: return "contact_point";
    case MINYI__V1__STATS_BY__STATS_BY_REPORTER_KIND: return "reporter_kind";
    case MINYI__V1__STATS_BY__STATS_BY_SECTOR: return "sector";
    case MINYI__V1__STATS_BY__STATS_BY_CATEGORY: return "category";
    case MINYI__V1__STATS_BY__STATS_BY_REGION: return "region";
    case MINYI__V1__STATS_BY__STATS_BY_MONTH: return "month";
    default: return NULL;
    }
}

/* One row of figures: {"key", "label", "figures": {name: count}}. */
static bool build_row(const json_t *x, Minyi__V1__StatsRow *row)
{
    const json_t *figs = json_object_get(x, "figures");
    const char *name;
    json_t *v;

    if (!tj_bytes(&row->key, x, "key") || !tj_bytes(&row->label, x, "label"))
        return false;
    size_t n = json_object_size(figs);
    if (n > 0 && !(row->figures = calloc(n, sizeof *row->figures)))
        return false;
    json_object_foreach((json_t *)figs, name, v) {
        Minyi__V1__StatsFigure *f = malloc(sizeof *f);
        if (!f)
            return false;
        minyi__v1__stats_figure__init(f);
        row->figures[row->n_figures++] = f;
        if (!tj_set_bytes(&f->name, name))
            return false;
        f->count = (uint64_t)json_integer_value(v);
    }
    return true;
}

static bool stats_reply(const struct store *st, const struct store_op *op, const json_t *j,
                        ProtobufCMessage **msg)
{
    Minyi__V1__StatsResponse *m;
    const json_t *rows = json_object_get(j, "rows");
    size_t n = json_array_size(rows);

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__StatsResponse, minyi__v1__stats_response__init, m);
    if (!m || !(m->total = malloc(sizeof *m->total)))
        return false;
    minyi__v1__stats_row__init(m->total);
    if (!build_row(json_object_get(j, "total"), m->total))
        return false;
    if (n > 0 && !(m->rows = calloc(n, sizeof *m->rows)))
        return false;
    for (size_t i = 0; i < n; i++) {
        Minyi__V1__StatsRow *row = malloc(sizeof *row);
        if (!row)
            return false;
        minyi__v1__stats_row__init(row);
        m->rows[m->n_rows++] = row;
        if (!build_row(json_array_get(rows, i), row))
            return false;
    }
    return true;
}

/* A period the database can be asked about: false with op answered
 * INVALID_ARGUMENT on the field at fault. */
static bool period_ok(struct store *st, struct store_op *op, int64_t from_ms, int64_t to_ms,
                      const char *from_field, const char *to_field)
{
    if (from_ms <= 0) {
        triage_invalid(st, op, from_field, "the period's start is required",
                       "必须给出统计期间的起始时间");
        return false;
    }
    if (to_ms <= from_ms || to_ms - from_ms > OFFICE_PERIOD_MAX_MS) {
        triage_invalid(st, op, to_field,
                       "the period must end after it starts and span at most ten years",
                       "统计期间的结束须晚于开始，且不超过十年");
        return false;
    }
    return true;
}

void office_stats(struct store *st, int64_t actor, int64_t from_ms, int64_t to_ms, int by,
                  store_reply_cb cb, void *arg)
{
    struct store_op *op = triage_op_new(STMT_OFFICE_STATS, stats_reply, cb, arg);
    const char *by_name = stats_by_name(by);

    if (!period_ok(st, op, from_ms, to_ms, "stats.from_ms", "stats.to_ms"))
        return;
    if (by_name == NULL) {
        triage_invalid(st, op, "stats.by", "unknown breakdown", "未知的统计维度");
        return;
    }
    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, from_ms);
    triage_param_i64(op, 2, to_ms);
    triage_param_str(op, 3, by_name);
    store_op_enqueue(st, op);
}

static bool points_rows(const json_t *rows, Minyi__V1__PointsResponse *m)
{
    size_t n = json_array_size(rows);

    if (n > 0 && !(m->rows = calloc(n, sizeof *m->rows)))
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(rows, i);
        Minyi__V1__PointsRow *r = malloc(sizeof *r);
        if (!r)
            return false;
        minyi__v1__points_row__init(r);
        m->rows[m->n_rows++] = r;
        if (!tj_bytes(&r->key, x, "key") || !tj_bytes(&r->label, x, "label"))
            return false;
        r->points = json_number_value(json_object_get(x, "points"));
        r->items = (uint32_t)tj_int(x, "items");
    }
    return true;
}

static bool points_items(const json_t *items, Minyi__V1__PointsResponse *m)
{
    size_t n = json_array_size(items);

    if (n > 0 && !(m->items = calloc(n, sizeof *m->items)))
        return false;
    for (size_t i = 0; i < n; i++) {
        const json_t *x = json_array_get(items, i);
        Minyi__V1__PointsItem *it = malloc(sizeof *it);
        if (!it)
            return false;
        minyi__v1__points_item__init(it);
        m->items[m->n_items++] = it;
        if (!tj_bytes(&it->key, x, "key") || !tj_bytes(&it->receipt, x, "receipt") ||
            !tj_bytes(&it->figure, x, "figure") || !tj_bytes(&it->via_receipt, x, "via_receipt"))
            return false;
        it->event_id = tj_int(x, "event_id");
        it->at_ms = tj_int(x, "at_ms");
        it->points = json_number_value(json_object_get(x, "points"));
        it->writers = (uint32_t)tj_int(x, "writers");
    }
    return true;
}

static bool points_rules(const json_t *rules, Minyi__V1__PointsResponse *m)
{
    size_t n = json_object_size(rules);
    const char *name;
    json_t *v;

    if (n > 0 && !(m->rules = calloc(n, sizeof *m->rules)))
        return false;
    json_object_foreach((json_t *)rules, name, v) {
        Minyi__V1__PointsRule *r = malloc(sizeof *r);
        if (!r)
            return false;
        minyi__v1__points_rule__init(r);
        m->rules[m->n_rules++] = r;
        if (!tj_set_bytes(&r->figure, name))
            return false;
        r->points = json_number_value(v);
    }
    return true;
}

static bool points_reply(const struct store *st, const struct store_op *op, const json_t *j,
                         ProtobufCMessage **msg)
{
    Minyi__V1__PointsResponse *m;

    (void)st;
    (void)op;
    TRIAGE_NEW_MSG(Minyi__V1__PointsResponse, minyi__v1__points_response__init, m);
    if (!m)
        return false;
    m->merged_split = json_is_true(json_object_get(j, "split"));
    return points_rows(json_object_get(j, "rows"), m) &&
           points_items(json_object_get(j, "items"), m) &&
           points_rules(json_object_get(j, "rules"), m);
}

void office_points(struct store *st, int64_t actor, int64_t from_ms, int64_t to_ms,
                   const struct office_rules *rules, int by, bool explain, store_reply_cb cb,
                   void *arg)
{
    struct store_op *op = triage_op_new(STMT_OFFICE_POINTS, points_reply, cb, arg);

    if (!period_ok(st, op, from_ms, to_ms, "points.year", "points.year"))
        return;
    if (by != MINYI__V1__POINTS_BY__POINTS_BY_CONTACT_POINT &&
        by != MINYI__V1__POINTS_BY__POINTS_BY_REPORTER) {
        triage_invalid(st, op, "points.by", "unknown breakdown", "未知的统计维度");
        return;
    }
    json_t *table = json_object();
    if (table == NULL)
        triage_oom_abort();
    for (size_t i = 0; i < rules->n; i++)
        if (json_object_set_new(table, rules->figures[i], json_real(rules->points[i])) != 0)
            triage_oom_abort();
    char *text = json_dumps(table, JSON_COMPACT);
    json_decref(table);
    if (text == NULL)
        triage_oom_abort();
    triage_param_i64(op, 0, actor);
    triage_param_i64(op, 1, from_ms);
    triage_param_i64(op, 2, to_ms);
    triage_param_str(op, 3, text);
    free(text);
    triage_param_bool(op, 4, rules->split);
    triage_param_str(op, 5, by == MINYI__V1__POINTS_BY__POINTS_BY_REPORTER ? "reporter"
                                                                          : "contact_point");
    triage_param_bool(op, 6, explain);
    store_op_enqueue(st, op);
}
