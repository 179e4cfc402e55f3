/*
 * cli_office: `minyi stats` and `minyi points` (see cli_office.h).  Each
 * asks the gateway on a fresh connection (stats --xlsx once per
 * breakdown) and prints the answer as a table, JSON, CSV or a workbook.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_office.h"
#include "cli_table.h"
#include "cli_triage.h"
#include "cli_util.h"
#include "cli_xlsx.h"
#include "client_err.h"
#include "labels.h"
#include "level.h"

enum oopt {
    O_PROFILE = 256,
    O_JSON,
    O_CSV,
    O_XLSX,
    O_FROM,
    O_TO,
    O_BY,
    O_YEAR,
    O_EXPLAIN,
};

#define STATS_ONLY (1u << CLI_OFFICE_STATS)
#define POINTS_ONLY (1u << CLI_OFFICE_POINTS)
#define BOTH (STATS_ONLY | POINTS_ONLY)

static const struct cli_opt_def oopts[] = {
    {{"profile", required_argument, NULL, O_PROFILE}, BOTH},
    {{"json", no_argument, NULL, O_JSON}, BOTH},
    {{"csv", no_argument, NULL, O_CSV}, BOTH},
    {{"help", no_argument, NULL, 'h'}, BOTH},
    {{"by", required_argument, NULL, O_BY}, BOTH},
    {{"xlsx", required_argument, NULL, O_XLSX}, STATS_ONLY},
    {{"from", required_argument, NULL, O_FROM}, STATS_ONLY},
    {{"to", required_argument, NULL, O_TO}, STATS_ONLY},
    {{"year", required_argument, NULL, O_YEAR}, POINTS_ONLY},
    {{"explain", no_argument, NULL, O_EXPLAIN}, POINTS_ONLY},
};
#define N_OOPTS (sizeof(oopts) / sizeof(oopts[0]))
/* Options of one command line, at most this many in all. */
#define OFFICE_MAX_OPTS 32

/* The breakdowns: the CLI's name, the protocol's value, the sheet's name
 * and the header of the key column. */
static const struct breakdown {
    const char *name;
    int by;
    const char *sheet;
    const char *key_header;
} breakdowns[] = {
    {"total", MINYI__V1__STATS_BY__STATS_BY_TOTAL, "总计", "分组"},
    {"contact-point", MINYI__V1__STATS_BY__STATS_BY_CONTACT_POINT, "按联系点", "联系点编号"},
    {"reporter", MINYI__V1__STATS_BY__STATS_BY_REPORTER_KIND, "按反映人类别", "反映人类别"},
    {"sector", MINYI__V1__STATS_BY__STATS_BY_SECTOR, "按界别", "界别"},
    {"category", MINYI__V1__STATS_BY__STATS_BY_CATEGORY, "按类别", "类别"},
    {"region", MINYI__V1__STATS_BY__STATS_BY_REGION, "按地区", "地区代码"},
    {"month", MINYI__V1__STATS_BY__STATS_BY_MONTH, "按月份", "月份"},
};
#define N_BREAKDOWNS (sizeof(breakdowns) / sizeof(breakdowns[0]))

/* The figures in the order of the columns, with their Chinese headers;
 * the 批示 levels follow adopted_above (one column per level of level.h). */
static const struct figure {
    const char *name;
    const char *header;
} figures_before[] = {
    {"received", "编报"},
    {"adopted", "本级采用"},
    {"issued", "编发"},
    {"forwarded", "上报"},
    {"adopted_above:county", "县级采用"},
    {"adopted_above:city", "市级采用"},
    {"adopted_above:provincial", "省级采用"},
    {"adopted_above:national", "全国采用"},
    {"external_sent", "报送"},
    {"external_responses", "报送反馈"},
}, figures_after[] = {
    {"rejected", "不予采用"},
    {"returned", "退回修改"},
    {"merged", "合并"},
};
#define N_BEFORE (sizeof(figures_before) / sizeof(figures_before[0]))
#define N_AFTER (sizeof(figures_after) / sizeof(figures_after[0]))
/* 批示 levels: as many as level.h has (numbered from 1). */
#define LEVELS_MAX 8
#define FIGURE_NAME_MAX 64
#define HEADER_MAX 64

/* The figure columns: names and headers, filled once. */
struct columns {
    char name[N_BEFORE + LEVELS_MAX + N_AFTER][FIGURE_NAME_MAX];
    char header[N_BEFORE + LEVELS_MAX + N_AFTER][HEADER_MAX];
    size_t n;
};

static void columns_init(struct columns *c)
{
    c->n = 0;
    for (size_t i = 0; i < N_BEFORE; i++, c->n++) {
        snprintf(c->name[c->n], FIGURE_NAME_MAX, "%s", figures_before[i].name);
        snprintf(c->header[c->n], HEADER_MAX, "%s", figures_before[i].header);
    }
    for (int l = 1; l <= LEVELS_MAX && level_label(l) != NULL; l++, c->n++) {
        snprintf(c->name[c->n], FIGURE_NAME_MAX, "instruction:%s", level_label(l));
        snprintf(c->header[c->n], HEADER_MAX, "%s批示", level_label(l));
    }
    for (size_t i = 0; i < N_AFTER; i++, c->n++) {
        snprintf(c->name[c->n], FIGURE_NAME_MAX, "%s", figures_after[i].name);
        snprintf(c->header[c->n], HEADER_MAX, "%s", figures_after[i].header);
    }
}

void cli_office_usage(FILE *out)
{
    fputs(
        "Office (offices, admins and editors read the whole body; a contact point its own):\n"
        "  stats --from DATE --to DATE [--by B] [--json | --csv | --xlsx FILE]\n"
        "        Figures of the period from the history: received (编报), adopted here,\n"
        "        issued in a 专报 issue (编发), forwarded, adopted by each level above,\n"
        "        报送 and responses, 批示 by level, rejected, returned, merged; each\n"
        "        report once per figure.\n"
        "        DATE is YYYY-MM-DD (China time); --to's whole day is included.\n"
        "        B is contact-point, reporter (the reporter's kind), sector, category,\n"
        "        region or month (default: the total only).  --xlsx writes a workbook\n"
        "        with one sheet per breakdown (every one unless --by names one).\n"
        "  points --year Y [--by contact-point|reporter] [--explain] [--json | --csv]\n"
        "        考核 points of the year under the gateway's [points] table, most\n"
        "        first; --explain lists every item with the event that earned it.\n",
        out);
}

bool cli_office_is_command(const char *name)
{
    return strcmp(name, "stats") == 0 || strcmp(name, "points") == 0;
}

bool cli_office_option_wants_value(const char *name, size_t len)
{
    return cli_opt_wants_value(oopts, N_OOPTS, name, len);
}

static const struct breakdown *breakdown_of(int by)
{
    for (size_t i = 0; i < N_BREAKDOWNS; i++)
        if (breakdowns[i].by == by)
            return &breakdowns[i];
    return &breakdowns[0];
}

static bool set_format(struct cli_office_args *a, enum cli_office_format f, char *err,
                       size_t errlen)
{
    if (a->format != CLI_OFFICE_TEXT && a->format != f)
        return cli_fail(err, errlen, "--json, --csv and --xlsx exclude each other");
    a->format = f;
    return true;
}

static bool apply_by(struct cli_office_args *a, const char *val, char *err, size_t errlen)
{
    a->by_given = true;
    if (a->cmd == CLI_OFFICE_POINTS) {
        if (strcmp(val, "contact-point") == 0)
            a->by = MINYI__V1__POINTS_BY__POINTS_BY_CONTACT_POINT;
        else if (strcmp(val, "reporter") == 0)
            a->by = MINYI__V1__POINTS_BY__POINTS_BY_REPORTER;
        else
            return cli_fail(err, errlen, "--by wants contact-point or reporter, not %s", val);
        return true;
    }
    for (size_t i = 1; i < N_BREAKDOWNS; i++)
        if (strcmp(val, breakdowns[i].name) == 0) {
            a->by = breakdowns[i].by;
            return true;
        }
    return cli_fail(err, errlen,
                    "--by wants contact-point, reporter, sector, category, region or month, "
                    "not %s",
                    val);
}

static bool apply_opt(struct cli_office_args *a, int id, const char *val, char *err,
                      size_t errlen)
{
    unsigned long v;
    switch (id) {
    case O_PROFILE:
        a->profile_path = val;
        return true;
    case O_JSON:
        return set_format(a, CLI_OFFICE_JSON, err, errlen);
    case O_CSV:
        return set_format(a, CLI_OFFICE_CSV, err, errlen);
    case O_XLSX:
        if (val[0] == '\0')
            return cli_fail(err, errlen, "--xlsx wants a file name");
        a->xlsx_path = val;
        return set_format(a, CLI_OFFICE_XLSX, err, errlen);
    case O_FROM:
        if (!cli_triage_parse_time(val, false, &a->from_ms))
            return cli_fail(err, errlen, "--from wants a date YYYY-MM-DD, not %s", val);
        return true;
    case O_TO:
        if (!cli_triage_parse_time(val, true, &a->to_ms))
            return cli_fail(err, errlen, "--to wants a date YYYY-MM-DD, not %s", val);
        return true;
    case O_BY:
        return apply_by(a, val, err, errlen);
    case O_YEAR:
        if (!cli_parse_uint(val, 9999, &v) || v < 2000 || v > 2999)
            return cli_fail(err, errlen, "--year wants a year from 2000 to 2999, not %s", val);
        a->year = (int)v;
        return true;
    case O_EXPLAIN:
        a->explain = true;
        return true;
    default:
        abort(); /* every option in oopts has a case */
    }
}

bool cli_office_parse(int argc, char **argv, struct cli_office_args *a, char *err,
                      size_t errlen)
{
    struct cli_raw_opt raw[OFFICE_MAX_OPTS];
    size_t n_raw;

    memset(a, 0, sizeof(*a));
    if (!cli_opts_collect(argc, argv, oopts, N_OOPTS, O_PROFILE, raw, OFFICE_MAX_OPTS, &n_raw,
                          &a->help, err, errlen))
        return false;
    if (a->help)
        return true;
    if (optind >= argc || !cli_office_is_command(argv[optind]))
        return cli_fail(err, errlen, "no office command");
    a->cmd = strcmp(argv[optind], "stats") == 0 ? CLI_OFFICE_STATS : CLI_OFFICE_POINTS;
    if (optind + 1 < argc)
        return cli_fail(err, errlen, "unexpected argument %s", argv[optind + 1]);
    for (size_t k = 0; k < n_raw; k++) {
        if ((cli_opt_cmds(oopts, N_OOPTS, raw[k].id) & (1u << a->cmd)) == 0)
            return cli_fail(err, errlen, "--%s does not belong to %s",
                            cli_opt_name(oopts, N_OOPTS, raw[k].id), argv[optind]);
        if (!apply_opt(a, raw[k].id, raw[k].value, err, errlen))
            return false;
    }
    if (a->cmd == CLI_OFFICE_STATS) {
        if (a->from_ms == 0 || a->to_ms == 0)
            return cli_fail(err, errlen, "stats wants --from and --to");
        if (a->to_ms <= a->from_ms)
            return cli_fail(err, errlen, "--to must not be before --from");
    } else if (a->year == 0) {
        return cli_fail(err, errlen, "points wants --year");
    }
    return true;
}

/* ---- stats ---------------------------------------------------------------- */

static uint64_t figure_count(const Minyi__V1__StatsRow *row, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; row != NULL && i < row->n_figures; i++)
        if (row->figures[i]->name.len == len && memcmp(row->figures[i]->name.data, name, len) == 0)
            return row->figures[i]->count;
    return 0;
}

static void bytes_str(const ProtobufCBinaryData *b, char *out, size_t len)
{
    snprintf(out, len, "%.*s", (int)b->len, b->len > 0 ? (const char *)b->data : "");
}

/* The label people read for a row's key under a breakdown. */
static void key_label(int by, const Minyi__V1__StatsRow *row, char *out, size_t len)
{
    char key[256];
    bytes_str(&row->key, key, sizeof(key));
    unsigned long n = strtoul(key, NULL, 10);
    if (by == MINYI__V1__STATS_BY__STATS_BY_CATEGORY && labels_category(n) != NULL)
        snprintf(out, len, "%s", labels_category(n));
    else if (by == MINYI__V1__STATS_BY__STATS_BY_REPORTER_KIND && labels_reporter_kind(n) != NULL)
        snprintf(out, len, "%s", labels_reporter_kind(n));
    else if (by == MINYI__V1__STATS_BY__STATS_BY_SECTOR && key[0] == '\0')
        snprintf(out, len, "（未填）");
    else
        bytes_str(&row->label, out, len);
}

static bool add_stats_row(struct cli_table *t, const struct columns *cols, const char *key,
                          const char *label, const Minyi__V1__StatsRow *row)
{
    long r = cli_table_add_row(t);
    if (r < 0 || !cli_table_set_text(t, (size_t)r, 0, key) ||
        !cli_table_set_text(t, (size_t)r, 1, label))
        return false;
    for (size_t i = 0; i < cols->n; i++)
        cli_table_set_number(t, (size_t)r, 2 + i, (double)figure_count(row, cols->name[i]));
    return true;
}

/* The table of one breakdown: a row per key, then the total. */
static bool stats_table(const Minyi__V1__StatsResponse *m, int by, struct cli_table *t)
{
    struct columns cols;
    const char *headers[CLI_TABLE_COLS_MAX];
    const struct breakdown *b = breakdown_of(by);
    char key[256], label[256];

    columns_init(&cols);
    headers[0] = b->key_header;
    headers[1] = "名称";
    for (size_t i = 0; i < cols.n; i++)
        headers[2 + i] = cols.header[i];
    if (!cli_table_init(t, b->sheet, headers, 2 + cols.n))
        return false;
    for (size_t i = 0; i < m->n_rows; i++) {
        bytes_str(&m->rows[i]->key, key, sizeof(key));
        key_label(by, m->rows[i], label, sizeof(label));
        if (!add_stats_row(t, &cols, key, label, m->rows[i]))
            goto fail;
    }
    if (!add_stats_row(t, &cols, "合计", "合计", m->total))
        goto fail;
    return true;
fail:
    cli_table_free(t);
    return false;
}

static json_t *figures_json(const struct columns *cols, const Minyi__V1__StatsRow *row)
{
    json_t *o = json_object();
    for (size_t i = 0; o != NULL && i < cols->n; i++)
        json_object_set_new(o, cols->name[i],
                            json_integer((json_int_t)figure_count(row, cols->name[i])));
    return o;
}

static void print_stats_json(const struct cli_office_args *a, const Minyi__V1__StatsResponse *m)
{
    struct columns cols;
    char label[256];
    columns_init(&cols);
    json_t *rows = json_array();
    for (size_t i = 0; i < m->n_rows; i++) {
        key_label(a->by, m->rows[i], label, sizeof(label));
        json_array_append_new(rows, json_pack("{s:o,s:s,s:o}", "key", cli_jbytes(&m->rows[i]->key),
                                              "label", label, "figures",
                                              figures_json(&cols, m->rows[i])));
    }
    json_t *j = json_pack("{s:I,s:I,s:s,s:o,s:o}", "from_ms", (json_int_t)a->from_ms, "to_ms",
                          (json_int_t)a->to_ms, "by", breakdown_of(a->by)->name, "total",
                          figures_json(&cols, m->total), "rows", rows);
    if (j != NULL)
        cli_print_json(j);
}

static Frame *ask_stats(const struct client_profile *p, const struct cli_office_args *a, int by,
                        struct frame_arena **arena, int *rc)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__StatsRequest q = MINYI__V1__STATS_REQUEST__INIT;
    q.from_ms = a->from_ms;
    q.to_ms = a->to_ms;
    q.by = (Minyi__V1__StatsBy)by;
    f.body_case = MINYI__V1__FRAME__BODY_STATS;
    f.stats = &q;
    Frame *ans = cli_call_expect(p, a->format == CLI_OFFICE_JSON, &f,
                                 MINYI__V1__FRAME__BODY_STATS_OK, arena, rc);
    if (ans != NULL && ans->stats_ok == NULL) {
        *rc = cli_report_failure(false, CLIENT_ERR_PROTOCOL "answer without a body");
        return NULL;
    }
    return ans;
}

/* --xlsx: every breakdown (or the total and the one --by names), one sheet
 * each, asked one after the other. */
static int stats_xlsx(const struct client_profile *p, const struct cli_office_args *a)
{
    struct cli_table tables[N_BREAKDOWNS];
    size_t n = 0;
    int rc = CLI_EXIT_DONE;
    char err[CLI_ERR_LEN];

    for (size_t i = 0; i < N_BREAKDOWNS && rc == CLI_EXIT_DONE; i++) {
        if (a->by_given && i != 0 && breakdowns[i].by != a->by)
            continue;
        struct frame_arena *arena = NULL;
        fprintf(stderr, "minyi: %s …\n", breakdowns[i].sheet);
        Frame *ans = ask_stats(p, a, breakdowns[i].by, &arena, &rc);
        if (ans != NULL) {
            if (stats_table(ans->stats_ok, breakdowns[i].by, &tables[n]))
                n++;
            else
                rc = cli_report_failure(false, "out of memory");
        }
        frame_arena_free(arena);
    }
    if (rc == CLI_EXIT_DONE && !cli_xlsx_write(a->xlsx_path, tables, n, err, sizeof(err)))
        rc = cli_report_failure(false, err);
    if (rc == CLI_EXIT_DONE)
        printf("%s: %zu sheets\n", a->xlsx_path, n);
    for (size_t i = 0; i < n; i++)
        cli_table_free(&tables[i]);
    return rc;
}

static int run_stats(const struct client_profile *p, struct cli_office_args *a)
{
    struct frame_arena *arena = NULL;
    struct cli_table t;
    int rc = CLI_EXIT_DONE;

    if (a->format == CLI_OFFICE_XLSX)
        return stats_xlsx(p, a);
    if (!a->by_given)
        a->by = MINYI__V1__STATS_BY__STATS_BY_TOTAL;
    Frame *ans = ask_stats(p, a, a->by, &arena, &rc);
    if (ans != NULL) {
        if (a->format == CLI_OFFICE_JSON) {
            print_stats_json(a, ans->stats_ok);
        } else if (!stats_table(ans->stats_ok, a->by, &t)) {
            rc = cli_report_failure(false, "out of memory");
        } else {
            if (a->format == CLI_OFFICE_CSV)
                cli_table_csv(stdout, &t);
            else
                cli_table_print(stdout, &t);
            cli_table_free(&t);
        }
    }
    frame_arena_free(arena);
    return rc;
}

/* ---- points --------------------------------------------------------------- */

static bool points_table(const Minyi__V1__PointsResponse *m, bool reporter, struct cli_table *t)
{
    const char *headers[] = {reporter ? "反映人" : "联系点编号", "名称", "积分", "条目数"};
    char buf[256];

    if (!cli_table_init(t, "积分", headers, 4))
        return false;
    for (size_t i = 0; i < m->n_rows; i++) {
        const Minyi__V1__PointsRow *x = m->rows[i];
        long r = cli_table_add_row(t);
        if (r < 0)
            goto fail;
        bytes_str(&x->key, buf, sizeof(buf));
        if (!cli_table_set_text(t, (size_t)r, 0, buf))
            goto fail;
        bytes_str(&x->label, buf, sizeof(buf));
        if (!cli_table_set_text(t, (size_t)r, 1, buf))
            goto fail;
        cli_table_set_number(t, (size_t)r, 2, x->points);
        cli_table_set_number(t, (size_t)r, 3, x->items);
    }
    return true;
fail:
    cli_table_free(t);
    return false;
}

static bool items_table(const Minyi__V1__PointsResponse *m, bool reporter, struct cli_table *t)
{
    const char *headers[] = {reporter ? "反映人" : "联系点编号", "回执", "指标", "事件",
                             "时间", "积分", "共享人数", "本人信息"};
    char buf[256];

    if (!cli_table_init(t, "积分明细", headers, 8))
        return false;
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__PointsItem *x = m->items[i];
        long r = cli_table_add_row(t);
        if (r < 0)
            goto fail;
        size_t row = (size_t)r;
        bytes_str(&x->key, buf, sizeof(buf));
        bool ok = cli_table_set_text(t, row, 0, buf);
        bytes_str(&x->receipt, buf, sizeof(buf));
        ok = ok && cli_table_set_text(t, row, 1, buf);
        bytes_str(&x->figure, buf, sizeof(buf));
        ok = ok && cli_table_set_text(t, row, 2, buf);
        cli_table_set_number(t, row, 3, (double)x->event_id);
        cli_format_time(x->at_ms, buf, sizeof(buf));
        ok = ok && cli_table_set_text(t, row, 4, buf);
        cli_table_set_number(t, row, 5, x->points);
        cli_table_set_number(t, row, 6, x->writers);
        bytes_str(&x->via_receipt, buf, sizeof(buf));
        ok = ok && cli_table_set_text(t, row, 7, buf);
        if (!ok)
            goto fail;
    }
    return true;
fail:
    cli_table_free(t);
    return false;
}

static void print_points_json(const struct cli_office_args *a, const Minyi__V1__PointsResponse *m)
{
    json_t *rows = json_array(), *items = json_array(), *rules = json_object();
    for (size_t i = 0; i < m->n_rows; i++)
        json_array_append_new(rows, json_pack("{s:o,s:o,s:f,s:I}", "key",
                                              cli_jbytes(&m->rows[i]->key), "label",
                                              cli_jbytes(&m->rows[i]->label), "points",
                                              m->rows[i]->points, "items",
                                              (json_int_t)m->rows[i]->items));
    for (size_t i = 0; i < m->n_items; i++) {
        const Minyi__V1__PointsItem *x = m->items[i];
        json_array_append_new(
            items, json_pack("{s:o,s:o,s:o,s:I,s:I,s:f,s:I,s:o}", "key", cli_jbytes(&x->key),
                             "receipt", cli_jbytes(&x->receipt), "figure", cli_jbytes(&x->figure),
                             "event_id", (json_int_t)x->event_id, "at_ms", (json_int_t)x->at_ms,
                             "points", x->points, "writers", (json_int_t)x->writers,
                             "via_receipt", cli_jbytes(&x->via_receipt)));
    }
    for (size_t i = 0; i < m->n_rules; i++) {
        char name[FIGURE_NAME_MAX];
        bytes_str(&m->rules[i]->figure, name, sizeof(name));
        json_object_set_new(rules, name, json_real(m->rules[i]->points));
    }
    json_t *j = json_pack("{s:i,s:s,s:o,s:b,s:o,s:o}", "year", a->year, "by",
                          a->by == MINYI__V1__POINTS_BY__POINTS_BY_REPORTER ? "reporter"
                                                                            : "contact-point",
                          "rules", rules, "merged_split", (int)m->merged_split, "rows", rows,
                          "items", items);
    if (j != NULL)
        cli_print_json(j);
}

static void print_rules(const Minyi__V1__PointsResponse *m)
{
    char name[FIGURE_NAME_MAX];
    fputs("积分表:", stdout);
    for (size_t i = 0; i < m->n_rules; i++) {
        bytes_str(&m->rules[i]->figure, name, sizeof(name));
        printf(" %s=%g", name, m->rules[i]->points);
    }
    printf("  合并信息: %s\n", m->merged_split ? "平分" : "各得全分");
}

static int run_points(const struct client_profile *p, const struct cli_office_args *a)
{
    struct frame_arena *arena = NULL;
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__PointsRequest q = MINYI__V1__POINTS_REQUEST__INIT;
    struct cli_table t, items;
    int rc = CLI_EXIT_DONE;
    bool reporter = a->by == MINYI__V1__POINTS_BY__POINTS_BY_REPORTER;

    q.year = a->year;
    q.by = (Minyi__V1__PointsBy)a->by;
    q.explain = a->explain;
    f.body_case = MINYI__V1__FRAME__BODY_POINTS;
    f.points = &q;
    Frame *ans = cli_call_expect(p, a->format == CLI_OFFICE_JSON, &f,
                                 MINYI__V1__FRAME__BODY_POINTS_OK, &arena, &rc);
    if (ans != NULL && ans->points_ok == NULL)
        rc = cli_report_failure(false, CLIENT_ERR_PROTOCOL "answer without a body");
    else if (ans != NULL && a->format == CLI_OFFICE_JSON)
        print_points_json(a, ans->points_ok);
    else if (ans != NULL) {
        const Minyi__V1__PointsResponse *m = ans->points_ok;
        bool ok = a->explain ? items_table(m, reporter, &items) : points_table(m, reporter, &t);
        if (!ok) {
            rc = cli_report_failure(false, "out of memory");
        } else if (a->format == CLI_OFFICE_CSV) {
            cli_table_csv(stdout, a->explain ? &items : &t);
        } else {
            print_rules(m);
            cli_table_print(stdout, a->explain ? &items : &t);
        }
        if (ok)
            cli_table_free(a->explain ? &items : &t);
    }
    frame_arena_free(arena);
    return rc;
}

/* ---- main ----------------------------------------------------------------- */

int cli_office_main(int argc, char **argv, void (*usage)(FILE *out))
{
    struct cli_office_args a;
    struct client_profile profile;
    char err[CLI_ERR_LEN];

    bool parsed = cli_office_parse(argc, argv, &a, err, sizeof(err));
    int rc = cli_command_begin(parsed, err, a.help, a.profile_path, &profile, usage);
    if (rc >= 0)
        return rc;
    rc = a.cmd == CLI_OFFICE_STATS ? run_stats(&profile, &a) : run_points(&profile, &a);
    return cli_command_end(rc);
}
