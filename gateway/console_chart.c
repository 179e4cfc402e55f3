/*
 * console_chart: see console_chart.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "console_api.h"
#include "console_chart.h"
#include "labels.h"

#define CHART_PREFIX "/chart/"
/* Longest query value read (a number or an enum's name). */
#define CHART_VALUE_MAX 40

/* The drawing, in SVG user units (pixels on screen). */
#define CHART_WIDTH 760
#define CHART_LABEL_RIGHT 190       /* labels end here, right-aligned */
#define CHART_BAR_LEFT 200
#define CHART_BAR_MAX 440           /* the longest bar; its number follows it */
#define CHART_TOP 64                /* below the title and the legend */
#define CHART_BAR_HEIGHT 12
#define CHART_ROW_GAP 12
#define CHART_FOOT 40

enum fill { FILL_WHITE, FILL_BLACK, FILL_HATCH };

/* The figures of the stats chart, each with its name and fill. */
static const struct series {
    const char *figure;
    const char *name;
    enum fill fill;
} stats_series[] = {
    { "received", "编报", FILL_WHITE },
    { "adopted", "本级采用", FILL_BLACK },
    { "forwarded", "上报", FILL_HATCH },
};
#define N_STATS_SERIES (sizeof(stats_series) / sizeof(stats_series[0]))

static const struct {
    const char *by;
    const char *title;
} stats_titles[] = {
    { "STATS_BY_TOTAL", "总计" },
    { "STATS_BY_CONTACT_POINT", "按联系点" },
    { "STATS_BY_REPORTER_KIND", "按反映人类别" },
    { "STATS_BY_SECTOR", "按界别" },
    { "STATS_BY_CATEGORY", "按类别" },
    { "STATS_BY_REGION", "按地区" },
    { "STATS_BY_MONTH", "按月份" },
};

static const char *fill_attr(enum fill f)
{
    switch (f) {
    case FILL_WHITE: return "#fff";
    case FILL_BLACK: return "#000";
    case FILL_HATCH: return "url(#hatch)";
    }
    return "#fff";
}

/* Text as SVG character data, the markup characters escaped. */
static void svg_text(struct evbuffer *out, const uint8_t *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<': evbuffer_add(out, "&lt;", 4); break;
        case '>': evbuffer_add(out, "&gt;", 4); break;
        case '&': evbuffer_add(out, "&amp;", 5); break;
        case '"': evbuffer_add(out, "&quot;", 6); break;
        default: evbuffer_add(out, &s[i], 1); break;
        }
    }
}

/* A row's label, cut to CONSOLE_CHART_LABEL_CHARS characters (UTF-8 is
 * counted by its lead bytes; the text is valid UTF-8 from the store). */
static void svg_label(struct evbuffer *out, const uint8_t *s, size_t n)
{
    size_t chars = 0, i = 0;
    for (; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80 && chars++ == CONSOLE_CHART_LABEL_CHARS)
            break;
    }
    svg_text(out, s, i);
    if (i < n)
        evbuffer_add_printf(out, "…");
}

/* The chart's frame: its size, title (escaped: it may hold a query's
 * value), the hatch pattern and a white ground, so it prints as shown. */
static void svg_open(struct evbuffer *out, int height, const char *title)
{
    evbuffer_add_printf(out,
                        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                        "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"13\">\n"
                        "<title>",
                        CHART_WIDTH, height, CHART_WIDTH, height);
    svg_text(out, (const uint8_t *)title, strlen(title));
    evbuffer_add_printf(out,
                        "</title>\n"
                        "<defs><pattern id=\"hatch\" patternUnits=\"userSpaceOnUse\" width=\"6\" "
                        "height=\"6\"><rect width=\"6\" height=\"6\" fill=\"#fff\"/>"
                        "<path d=\"M0,6 L6,0 M-1,1 L1,-1 M5,7 L7,5\" stroke=\"#000\" "
                        "stroke-width=\"1.5\"/></pattern></defs>\n"
                        "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>\n"
                        "<text x=\"10\" y=\"24\" font-size=\"16\" font-weight=\"bold\">",
                        CHART_WIDTH, height);
    svg_text(out, (const uint8_t *)title, strlen(title));
    evbuffer_add_printf(out, "</text>\n");
}

static void svg_legend(struct evbuffer *out, int i, const char *name, enum fill f)
{
    int x = 10 + i * 130;
    evbuffer_add_printf(out,
                        "<rect x=\"%d\" y=\"36\" width=\"16\" height=\"12\" fill=\"%s\" "
                        "stroke=\"#000\"/><text x=\"%d\" y=\"47\">%s</text>\n",
                        x, fill_attr(f), x + 22, name);
}

/* One bar of value at y, scaled to max, with its number after it. */
static void svg_bar(struct evbuffer *out, int y, double value, double max, enum fill f,
                    const char *number)
{
    int w = max > 0 ? (int)(value / max * CHART_BAR_MAX + 0.5) : 0;
    evbuffer_add_printf(out,
                        "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"%s\" "
                        "stroke=\"#000\"/><text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>\n",
                        CHART_BAR_LEFT, y, w, CHART_BAR_HEIGHT, fill_attr(f),
                        CHART_BAR_LEFT + w + 6, y + CHART_BAR_HEIGHT - 2, number);
}

static void svg_row_label(struct evbuffer *out, int y, const uint8_t *s, size_t n)
{
    evbuffer_add_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", CHART_LABEL_RIGHT, y);
    svg_label(out, s, n);
    evbuffer_add_printf(out, "</text>\n");
}

static void svg_close(struct evbuffer *out, int y, size_t left_out)
{
    if (left_out > 0)
        evbuffer_add_printf(out, "<text x=\"10\" y=\"%d\">另有 %zu 行未画出，见下表。</text>\n",
                            y + 20, left_out);
    evbuffer_add_printf(out, "</svg>\n");
}

static void reply_svg(struct console_req *r, struct evbuffer *out)
{
    console_reply(r, 200, "image/svg+xml; charset=utf-8", out);
    evbuffer_free(out);
}

/* The value of the query parameter name of r, or "" when absent. */
static void query_value(struct console_req *r, const char *name, char out[CHART_VALUE_MAX + 1])
{
    out[0] = '\0';
    if (r->req == NULL)
        return;
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    struct evkeyvalq kv;
    if (q == NULL || evhttp_parse_query_str(q, &kv) != 0)
        return;
    const char *v = evhttp_find_header(&kv, name);
    if (v != NULL && strlen(v) <= CHART_VALUE_MAX)
        snprintf(out, CHART_VALUE_MAX + 1, "%s", v);
    evhttp_clear_headers(&kv);
}

static uint64_t figure_of(const Minyi__V1__StatsRow *row, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; row != NULL && i < row->n_figures; i++)
        if (row->figures[i]->name.len == len && memcmp(row->figures[i]->name.data, name, len) == 0)
            return row->figures[i]->count;
    return 0;
}

/* The label people read for a stats row under the breakdown by: coded
 * keys by their names, else the row's own label. */
static const char *coded_label(const char *by, const Minyi__V1__StatsRow *row)
{
    char key[CHART_VALUE_MAX + 1];
    snprintf(key, sizeof(key), "%.*s", (int)row->key.len,
             row->key.len > 0 ? (const char *)row->key.data : "");
    unsigned long n = strtoul(key, NULL, 10);
    if (strcmp(by, "STATS_BY_CATEGORY") == 0)
        return labels_category(n);
    if (strcmp(by, "STATS_BY_REPORTER_KIND") == 0)
        return labels_reporter_kind(n);
    if (strcmp(by, "STATS_BY_SECTOR") == 0 && row->key.len == 0)
        return "（未填）";
    return NULL;
}

static void render_stats(struct console_req *r, const ProtobufCMessage *m)
{
    const Minyi__V1__StatsResponse *s = (const Minyi__V1__StatsResponse *)m;
    char by[CHART_VALUE_MAX + 1], title[128];
    query_value(r, "by", by);
    const char *by_title = "总计";
    for (size_t i = 0; i < sizeof(stats_titles) / sizeof(stats_titles[0]); i++)
        if (strcmp(by, stats_titles[i].by) == 0)
            by_title = stats_titles[i].title;
    snprintf(title, sizeof(title), "社情民意信息数字（%s）", by_title);

    /* The total alone when there is no breakdown. */
    Minyi__V1__StatsRow *const *rows = s->n_rows > 0 ? s->rows : &s->total;
    size_t n = s->n_rows > 0 ? s->n_rows : (s->total != NULL ? 1 : 0);
    size_t drawn = n < CONSOLE_CHART_ROWS_MAX ? n : CONSOLE_CHART_ROWS_MAX;
    double max = 0;
    for (size_t i = 0; i < drawn; i++)
        for (size_t k = 0; k < N_STATS_SERIES; k++) {
            double v = (double)figure_of(rows[i], stats_series[k].figure);
            max = v > max ? v : max;
        }
    int row_h = (int)N_STATS_SERIES * CHART_BAR_HEIGHT + CHART_ROW_GAP;
    int height = CHART_TOP + (int)drawn * row_h + CHART_FOOT;
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        return;
    }
    svg_open(out, height, title);
    for (size_t k = 0; k < N_STATS_SERIES; k++)
        svg_legend(out, (int)k, stats_series[k].name, stats_series[k].fill);
    for (size_t i = 0; i < drawn; i++) {
        int y = CHART_TOP + (int)i * row_h;
        const char *coded = coded_label(by, rows[i]);
        if (s->n_rows == 0)
            coded = "合计";
        if (coded != NULL)
            svg_row_label(out, y + row_h / 2, (const uint8_t *)coded, strlen(coded));
        else
            svg_row_label(out, y + row_h / 2, rows[i]->label.data, rows[i]->label.len);
        for (size_t k = 0; k < N_STATS_SERIES; k++) {
            uint64_t v = figure_of(rows[i], stats_series[k].figure);
            char number[24];
            snprintf(number, sizeof(number), "%llu", (unsigned long long)v);
            svg_bar(out, y + (int)k * CHART_BAR_HEIGHT, (double)v, max, stats_series[k].fill,
                    number);
        }
    }
    svg_close(out, CHART_TOP + (int)drawn * row_h, n - drawn);
    reply_svg(r, out);
}

static void render_points(struct console_req *r, const ProtobufCMessage *m)
{
    const Minyi__V1__PointsResponse *p = (const Minyi__V1__PointsResponse *)m;
    char year[CHART_VALUE_MAX + 1], by[CHART_VALUE_MAX + 1], title[128];
    query_value(r, "year", year);
    query_value(r, "by", by);
    snprintf(title, sizeof(title), "%s年考核积分（%s）", year,
             strcmp(by, "POINTS_BY_REPORTER") == 0 ? "按反映人" : "按联系点");
    size_t drawn = p->n_rows < CONSOLE_CHART_ROWS_MAX ? p->n_rows : CONSOLE_CHART_ROWS_MAX;
    double max = 0;
    for (size_t i = 0; i < drawn; i++)
        max = p->rows[i]->points > max ? p->rows[i]->points : max;
    int row_h = CHART_BAR_HEIGHT + CHART_ROW_GAP;
    int height = CHART_TOP + (int)drawn * row_h + CHART_FOOT;
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        return;
    }
    svg_open(out, height, title);
    svg_legend(out, 0, "积分", FILL_BLACK);
    for (size_t i = 0; i < drawn; i++) {
        int y = CHART_TOP + (int)i * row_h;
        char number[48];
        snprintf(number, sizeof(number), "%.1f 分（%u 条）", p->rows[i]->points, p->rows[i]->items);
        svg_row_label(out, y + CHART_BAR_HEIGHT - 1, p->rows[i]->label.data, p->rows[i]->label.len);
        svg_bar(out, y, p->rows[i]->points, max, FILL_BLACK, number);
    }
    svg_close(out, CHART_TOP + (int)drawn * row_h, p->n_rows - drawn);
    reply_svg(r, out);
}

/* Reads the query's parameters into a request object: each of names[] as
 * an integer (ints) or a text (an enum's name); any other parameter, or
 * one that is not a whole number where a number belongs, is refused
 * naming it.  NULL when answered. */
static json_t *query_object(struct console_req *r, const char *const *ints,
                            const char *const *texts)
{
    const char *q = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(r->req));
    struct evkeyvalq kv;
    json_t *o = json_object();
    if (o == NULL) {
        console_fail(r, 503, "RESOURCE_EXHAUSTED", "", "out of memory", "服务器内存不足");
        return NULL;
    }
    if (q == NULL)
        return o;
    if (evhttp_parse_query_str(q, &kv) != 0) {
        json_decref(o);
        console_fail(r, 400, "INVALID_ARGUMENT", "query", "the query string is malformed",
                     "查询参数格式错误");
        return NULL;
    }
    const char *bad = NULL;
    for (struct evkeyval *e = kv.tqh_first; e != NULL && bad == NULL; e = e->next.tqe_next) {
        bool known = false;
        for (size_t i = 0; ints[i] != NULL && !known; i++) {
            if (strcmp(e->key, ints[i]) != 0)
                continue;
            known = true;
            char *end = NULL;
            errno = 0;
            long long v = strtoll(e->value, &end, 10);
            if (e->value[0] == '\0' || *end != '\0' || errno != 0 ||
                json_object_set_new(o, e->key, json_integer(v)) != 0)
                bad = e->key;
        }
        for (size_t i = 0; texts[i] != NULL && !known; i++) {
            if (strcmp(e->key, texts[i]) != 0)
                continue;
            known = true;
            if (strlen(e->value) > CHART_VALUE_MAX ||
                json_object_set_new(o, e->key, json_string(e->value)) != 0)
                bad = e->key;
        }
        if (!known)
            bad = e->key;
    }
    if (bad != NULL) {
        char field[CHART_VALUE_MAX + 8];
        snprintf(field, sizeof(field), "%.*s", CHART_VALUE_MAX, bad);
        json_decref(o);
        evhttp_clear_headers(&kv);
        console_fail(r, 400, "INVALID_ARGUMENT", field,
                     "this parameter is unknown or not a whole number where one belongs",
                     "该参数未定义或数值格式错误");
        return NULL;
    }
    evhttp_clear_headers(&kv);
    return o;
}

void console_chart_handle(struct console_req *r)
{
    static const char *const stats_ints[] = { "from_ms", "to_ms", NULL };
    static const char *const points_ints[] = { "year", NULL };
    static const char *const by[] = { "by", NULL };
    const char *name = r->path + strlen(CHART_PREFIX);
    const char *op;
    console_api_render render;
    json_t *body;

    if (r->method != EVHTTP_REQ_GET || r->req == NULL) {
        console_fail(r, 405, "INVALID_ARGUMENT", "method", "charts are read with GET",
                     "图表只能以 GET 读取");
        return;
    }
    if (strcmp(name, "stats.svg") == 0) {
        op = "stats";
        render = render_stats;
        body = query_object(r, stats_ints, by);
    } else if (strcmp(name, "points.svg") == 0) {
        op = "points";
        render = render_points;
        body = query_object(r, points_ints, by);
    } else {
        console_fail(r, 404, "NOT_FOUND", "path", "no such chart", "没有该图表");
        return;
    }
    if (body == NULL)
        return;
    console_api_run(r, op, body, render);
    json_decref(body);
}
