/*
 * triage_diff: the line diff that show gives of the shown version against
 * version 1 (see triage_line_diff in triage_int.h).
 */
#include "triage_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A diff compares at most this many line pairs (the LCS table's cells). */
#define TRIAGE_DIFF_CELLS_MAX (4u * 1000u * 1000u)

/* The lines of a version as one document, so a diff shows every field. */
static char *version_doc(const json_t *v)
{
    const char *cat =
        triage_enum_name(&minyi__v1__category__descriptor, (int)tj_int(v, "category"));
    char *doc = NULL;

    if (asprintf(&doc, "title: %s\ncategory: %s\nsituation:\n%s\nanalysis:\n%s\nsuggestions:\n%s",
                 tj_str(v, "title"), cat ? cat : "?", tj_str(v, "situation"), tj_str(v, "analysis"),
                 tj_str(v, "suggestions")) < 0)
        return NULL;
    return doc;
}

struct lines {
    char **v;
    size_t n;
};

/* Splits doc in place at newlines. */
static bool split_lines(char *doc, struct lines *l)
{
    size_t cap = 16;
    char *p = doc;

    l->n = 0;
    l->v = malloc(cap * sizeof *l->v);
    if (!l->v)
        return false;
    for (;;) {
        char *nl = strchr(p, '\n');
        if (l->n == cap) {
            char **v = realloc(l->v, cap * 2 * sizeof *v);
            if (!v)
                return false;
            l->v = v;
            cap *= 2;
        }
        l->v[l->n++] = p;
        if (!nl)
            return true;
        *nl = '\0';
        p = nl + 1;
    }
}

struct outbuf {
    char *p;
    size_t len, cap;
    bool failed;
};

/* Appends "<mark> <line>\n", or the line alone when mark is 0. */
static void out_line(struct outbuf *o, char mark, const char *line)
{
    size_t n = strlen(line) + 3;

    if (o->failed)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap ? o->cap * 2 : 1024) + n;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->failed = true;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    if (mark)
        o->len += (size_t)snprintf(o->p + o->len, o->cap - o->len, "%c %s\n", mark, line);
    else
        o->len += (size_t)snprintf(o->p + o->len, o->cap - o->len, "%s\n", line);
}

/*
 * A line diff of b (the shown version) against a (version 1): every line,
 * marked ' ' (in both), '-' (only in version 1) or '+' (only in b), in the
 * order of a longest common subsequence.  Common first and last lines are
 * taken off before the LCS table is made; when what is left is still too
 * big for the table, the middle is shown as all removed, then all added.
 */
bool triage_line_diff(const json_t *a_json, const json_t *b_json, uint32_t b_version,
                      ProtobufCBinaryData *out)
{
    char *da = version_doc(a_json), *db = version_doc(b_json), head[64];
    struct lines a = { 0 }, b = { 0 };
    struct outbuf o = { 0 };
    uint16_t *t = NULL;
    size_t pre = 0, suf = 0, n, m, i, j;
    bool ok = false;

    if (!da || !db || !split_lines(da, &a) || !split_lines(db, &b))
        goto done;
    snprintf(head, sizeof head, "--- version 1\n+++ version %" PRIu32, b_version);
    out_line(&o, 0, head);
    while (pre < a.n && pre < b.n && strcmp(a.v[pre], b.v[pre]) == 0)
        pre++;
    while (suf < a.n - pre && suf < b.n - pre &&
           strcmp(a.v[a.n - 1 - suf], b.v[b.n - 1 - suf]) == 0)
        suf++;
    for (i = 0; i < pre; i++)
        out_line(&o, ' ', a.v[i]);
    n = a.n - pre - suf;
    m = b.n - pre - suf;
    if (n > 0 && m > 0 && n <= TRIAGE_DIFF_LINES_MAX && m <= TRIAGE_DIFF_LINES_MAX &&
        (n + 1) * (m + 1) <= TRIAGE_DIFF_CELLS_MAX)
        t = calloc((n + 1) * (m + 1), sizeof *t);
    if (t) {
        /* t[i][j]: LCS length of a[pre+i..] and b[pre+j..]. */
        for (i = n; i-- > 0;)
            for (j = m; j-- > 0;)
                t[i * (m + 1) + j] =
                    strcmp(a.v[pre + i], b.v[pre + j]) == 0
                        ? (uint16_t)(t[(i + 1) * (m + 1) + j + 1] + 1)
                        : (t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1]
                               ? t[(i + 1) * (m + 1) + j] : t[i * (m + 1) + j + 1]);
        i = j = 0;
        while (i < n || j < m) {
            if (i < n && j < m && strcmp(a.v[pre + i], b.v[pre + j]) == 0) {
                out_line(&o, ' ', a.v[pre + i]);
                i++;
                j++;
            } else if (i < n && (j == m || t[(i + 1) * (m + 1) + j] >= t[i * (m + 1) + j + 1])) {
                /* On a tie the removal comes first, as diff(1) prints it. */
                out_line(&o, '-', a.v[pre + i++]);
            } else {
                out_line(&o, '+', b.v[pre + j++]);
            }
        }
    } else {
        for (i = 0; i < n; i++)
            out_line(&o, '-', a.v[pre + i]);
        for (j = 0; j < m; j++)
            out_line(&o, '+', b.v[pre + j]);
    }
    for (i = a.n - suf; i < a.n; i++)
        out_line(&o, ' ', a.v[i]);
    if (o.failed)
        goto done;
    out->data = (uint8_t *)o.p;
    out->len = o.len;
    o.p = NULL;
    ok = true;
done:
    free(t);
    free(o.p);
    free(a.v);
    free(b.v);
    free(da);
    free(db);
    return ok;
}
