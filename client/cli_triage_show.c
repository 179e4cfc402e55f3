/*
 * cli_triage_show: how the editors' `queue` and `show` print their answers
 * (see cli_triage_show.h) — the queue as a table lined up for a terminal,
 * a report with its versions, deliveries, attachments and history, the
 * writer's own view of it — or each as JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_table.h"
#include "cli_triage_show.h"
#include "cli_util.h"

/* Widths of the queue table's fixed columns: the longest state name
 * (NOT_ADOPTED_ABOVE), a contact point's id (POINT, the number
 * --contact-point takes), and a time as cli_format_time writes it. */
#define QUEUE_W_STATE 17
#define QUEUE_W_POINT 6
#define QUEUE_W_TIME 25

static void category_text(int c, char *buf, size_t len)
{
    cli_enum_text(&minyi__v1__category__descriptor, c, "CATEGORY_", buf, len);
}

static void urgency_text(int u, char *buf, size_t len)
{
    cli_enum_text(&minyi__v1__urgency__descriptor, u, "URGENCY_", buf, len);
}

static size_t display_width(const ProtobufCBinaryData *b)
{
    return cli_text_width_n(b->data, b->len);
}

static void print_padded_bytes(const ProtobufCBinaryData *b, size_t width)
{
    cli_print_bytes(b);
    for (size_t w = display_width(b); w < width; w++)
        fputc(' ', stdout);
}

static json_t *history_json(Minyi__V1__HistoryEntry **h, size_t n)
{
    return cli_history_json(h, n);
}

void cli_triage_print_queue(bool json, const Minyi__V1__QueueResponse *q)
{
    char st[32], cat[32], urg[32], when[64];
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; i < q->n_items; i++) {
            const Minyi__V1__QueueItem *it = q->items[i];
            cli_state_text(it->state, st, sizeof(st));
            category_text(it->category, cat, sizeof(cat));
            urgency_text(it->urgency, urg, sizeof(urg));
            json_array_append_new(
                arr, json_pack("{s:o,s:o,s:s,s:s,s:o,s:I,s:I,s:s,s:o,s:I,s:b,s:o}", "receipt",
                               cli_jbytes(&it->receipt), "title", cli_jbytes(&it->title),
                               "category", cat, "urgency", urg, "contact_point",
                               cli_jbytes(&it->contact_point), "contact_point_id",
                               (json_int_t)it->contact_point_id, "received_at_ms",
                               (json_int_t)it->received_at_ms, "state", st, "claimed_by",
                               cli_jbytes(&it->claimed_by), "claim_expires_ms",
                               (json_int_t)it->claim_expires_ms, "overdue", it->overdue, "region",
                               cli_jbytes(&it->region)));
            json_object_set_new(json_array_get(arr, json_array_size(arr) - 1), "returned_above",
                                cli_jbytes(&it->returned_above));
        }
        json_t *j = json_pack("{s:o,s:o}", "items", arr, "next_cursor", cli_jbytes(&q->next_cursor));
        if (j != NULL)
            cli_print_json(j);
        return;
    }
    /* Column widths from the rows, so receipts of any level line up; the
     * fixed ones hold their longest value (NOT_ADOPTED_ABOVE, a time with
     * its zone). */
    static const ProtobufCBinaryData head_receipt = {7, (uint8_t *)"RECEIPT"};
    static const ProtobufCBinaryData head_claimed = {10, (uint8_t *)"CLAIMED BY"};
    size_t w_receipt = display_width(&head_receipt), w_claimed = display_width(&head_claimed);
    for (size_t i = 0; i < q->n_items; i++) {
        size_t w = display_width(&q->items[i]->receipt);
        if (w > w_receipt)
            w_receipt = w;
        w = display_width(&q->items[i]->claimed_by);
        if (w > w_claimed)
            w_claimed = w;
    }
    print_padded_bytes(&head_receipt, w_receipt);
    printf("  %-7s %-14s %-*s %-*s %-*s ", "URGENCY", "CATEGORY", QUEUE_W_STATE, "STATE",
           QUEUE_W_POINT, "POINT", QUEUE_W_TIME, "RECEIVED");
    print_padded_bytes(&head_claimed, w_claimed);
    printf(" %-3s %s\n", "DUE", "TITLE");
    for (size_t i = 0; i < q->n_items; i++) {
        const Minyi__V1__QueueItem *it = q->items[i];
        cli_state_text(it->state, st, sizeof(st));
        category_text(it->category, cat, sizeof(cat));
        urgency_text(it->urgency, urg, sizeof(urg));
        cli_format_time(it->received_at_ms, when, sizeof(when));
        print_padded_bytes(&it->receipt, w_receipt);
        printf("  %-7s %-14s %-*s %-*lld %-*s ", urg, cat, QUEUE_W_STATE, st, QUEUE_W_POINT,
               (long long)it->contact_point_id, QUEUE_W_TIME, when);
        if (it->claimed_by.len > 0) {
            print_padded_bytes(&it->claimed_by, w_claimed);
        } else {
            static const ProtobufCBinaryData dash = {1, (uint8_t *)"-"};
            print_padded_bytes(&dash, w_claimed);
        }
        printf(" %-3s ", it->overdue ? "!" : "");
        cli_print_bytes(&it->title);
        if (it->returned_above.len > 0) {
            fputs("  (returned from above: ", stdout);
            cli_print_bytes(&it->returned_above);
            fputc(')', stdout);
        }
        fputc('\n', stdout);
    }
    if (q->next_cursor.len > 0) {
        fputs("next_cursor=", stdout);
        cli_print_bytes(&q->next_cursor);
        fputc('\n', stdout);
    }
}

/* A multi-line text, each line indented. */
static void print_block(const char *label, const ProtobufCBinaryData *b)
{
    printf("%s:\n", label);
    if (b->len == 0) {
        fputs("    -\n", stdout);
        return;
    }
    fputs("    ", stdout);
    for (size_t i = 0; i < b->len; i++) {
        fputc(b->data[i], stdout);
        if (b->data[i] == '\n' && i + 1 < b->len)
            fputs("    ", stdout);
    }
    if (b->data[b->len - 1] != '\n')
        fputc('\n', stdout);
}

static void print_field(const char *label, const ProtobufCBinaryData *b)
{
    printf("%s: ", label);
    if (b->len > 0)
        cli_print_bytes(b);
    else
        fputc('-', stdout);
    fputc('\n', stdout);
}

static json_t *version_json(const Minyi__V1__ReportVersion *v)
{
    char cat[32];
    if (v == NULL)
        return json_null();
    category_text(v->category, cat, sizeof(cat));
    return json_pack("{s:I,s:I,s:o,s:o,s:o,s:o,s:o,s:s,s:o}", "version", (json_int_t)v->version,
                     "at_ms", (json_int_t)v->at_ms, "author", cli_jbytes(&v->author), "title",
                     cli_jbytes(&v->title), "situation", cli_jbytes(&v->situation), "analysis",
                     cli_jbytes(&v->analysis), "suggestions", cli_jbytes(&v->suggestions),
                     "category", cat, "note", cli_jbytes(&v->note));
}

static json_t *attachments_json(const Minyi__V1__ShowResponse *s)
{
    char hex[CLI_TRIAGE_SHA256_HEX];
    json_t *arr = json_array();
    for (size_t i = 0; i < s->n_attachments; i++) {
        const Minyi__V1__AttachmentInfo *x = s->attachments[i];
        cli_hex(&x->sha256, hex, sizeof(hex));
        json_array_append_new(arr, json_pack("{s:I,s:o,s:o,s:I,s:s}", "index", (json_int_t)x->index,
                                             "name", cli_jbytes(&x->name), "media_type",
                                             cli_jbytes(&x->media_type), "size",
                                             (json_int_t)x->size, "sha256", hex));
    }
    return arr;
}

static void print_attachments(const Minyi__V1__ShowResponse *s)
{
    char hex[CLI_TRIAGE_SHA256_HEX];
    fputs("attachments:\n", stdout);
    if (s->n_attachments == 0)
        fputs("  -\n", stdout);
    for (size_t i = 0; i < s->n_attachments; i++) {
        const Minyi__V1__AttachmentInfo *x = s->attachments[i];
        cli_hex(&x->sha256, hex, sizeof(hex));
        printf("  %u\t", x->index);
        cli_print_bytes(&x->name);
        fputc('\t', stdout);
        cli_print_bytes(&x->media_type);
        printf("\t%llu bytes\tsha256=%s\n", (unsigned long long)x->size, hex);
    }
}

static void print_show_json(const Minyi__V1__ShowResponse *s)
{
    char st[32], urg[32], kind[32];
    json_t *reporter = json_null();
    if (s->reporter != NULL) {
        cli_enum_text(&minyi__v1__reporter_kind__descriptor, s->reporter->kind, "KIND_", kind,
                      sizeof(kind));
        reporter = json_pack("{s:o,s:o,s:s,s:o}", "name", cli_jbytes(&s->reporter->name), "unit",
                             cli_jbytes(&s->reporter->unit), "kind", kind, "sector",
                             cli_jbytes(&s->reporter->sector));
    }
    json_t *similar = json_array();
    for (size_t i = 0; i < s->n_similar; i++) {
        const Minyi__V1__SimilarReport *m = s->similar[i];
        cli_state_text(m->state, st, sizeof(st));
        json_array_append_new(similar, json_pack("{s:o,s:o,s:s,s:f}", "receipt",
                                                 cli_jbytes(&m->receipt), "title",
                                                 cli_jbytes(&m->title), "state", st, "similarity",
                                                 (double)m->similarity));
    }
    json_t *merged_from = json_array();
    for (size_t i = 0; i < s->n_merged_from; i++)
        json_array_append_new(merged_from, cli_jbytes(&s->merged_from[i]));
    json_t *deliveries = json_array();
    for (size_t i = 0; i < s->n_deliveries; i++) {
        const Minyi__V1__Delivery *d = s->deliveries[i];
        json_array_append_new(
            deliveries,
            json_pack("{s:o,s:o,s:I,s:I,s:o,s:o,s:o,s:b,s:o,s:I}", "destination",
                      cli_jbytes(&d->destination), "state", cli_jbytes(&d->state), "attempts",
                      (json_int_t)d->attempts, "next_attempt_ms", (json_int_t)d->next_attempt_ms,
                      "last_error", cli_jbytes(&d->last_error), "upstream_receipt",
                      cli_jbytes(&d->upstream_receipt), "display_name",
                      cli_jbytes(&d->display_name), "external", (int)d->external,
                      "document_number", cli_jbytes(&d->document_number), "document_date_ms",
                      (json_int_t)d->document_date_ms));
    }
    cli_state_text(s->state, st, sizeof(st));
    urgency_text(s->urgency, urg, sizeof(urg));
    json_t *j = json_pack(
        "{s:o,s:s,s:o,s:I,s:o,s:s,s:o,s:o,s:o,s:o,s:I,s:o,s:I,s:o,s:o,s:o,s:o,s:o}", "receipt",
        cli_jbytes(&s->receipt), "state", st, "version", version_json(s->version),
        "latest_version", (json_int_t)s->latest_version, "diff", cli_jbytes(&s->diff), "urgency",
        urg, "reporter", reporter, "region", cli_jbytes(&s->region), "phone", cli_jbytes(&s->phone),
        "contact_point", cli_jbytes(&s->contact_point), "received_at_ms",
        (json_int_t)s->received_at_ms, "claimed_by", cli_jbytes(&s->claimed_by),
        "claim_expires_ms", (json_int_t)s->claim_expires_ms, "history",
        history_json(s->history, s->n_history), "similar", similar, "merged_into",
        cli_jbytes(&s->merged_into), "merged_from", merged_from, "deliveries", deliveries);
    if (j != NULL) {
        json_object_set_new(j, "attachments", attachments_json(s));
        json_object_set_new(j, "returned_above", cli_jbytes(&s->returned_above));
        json_t *credited = json_array();
        for (size_t i = 0; i < s->n_credited; i++) {
            const Minyi__V1__Reporter *c = s->credited[i];
            cli_enum_text(&minyi__v1__reporter_kind__descriptor, c->kind, "KIND_", kind,
                          sizeof(kind));
            json_array_append_new(credited, json_pack("{s:o,s:o,s:s,s:o}", "name",
                                                      cli_jbytes(&c->name), "unit",
                                                      cli_jbytes(&c->unit), "kind", kind,
                                                      "sector", cli_jbytes(&c->sector)));
        }
        json_object_set_new(j, "credited", credited);
        cli_print_json(j);
    }
}

/* Whether a delivery is still to be made (pending, or in flight and due
 * again should the attempt fail), so its next attempt time means something. */
static bool delivery_waits(const Minyi__V1__Delivery *d)
{
    static const char *const waiting[] = {"pending", "in_flight"};
    for (size_t i = 0; i < sizeof(waiting) / sizeof(waiting[0]); i++)
        if (d->state.len == strlen(waiting[i]) &&
            memcmp(d->state.data, waiting[i], d->state.len) == 0)
            return true;
    return false;
}

/* One version's text: its number, when and by whom, and its parts. */
static void print_version(const Minyi__V1__ReportVersion *v, uint32_t latest)
{
    char cat[32], when[64];
    cli_format_time(v->at_ms, when, sizeof(when));
    if (latest > 0)
        printf("version: %u of %u, %s by ", v->version, latest, when);
    else
        printf("version %u, %s by ", v->version, when);
    cli_print_bytes(&v->author);
    fputc('\n', stdout);
    category_text(v->category, cat, sizeof(cat));
    printf("category: %s\n", cat);
    print_field("title", &v->title);
    print_block("situation", &v->situation);
    print_block("analysis", &v->analysis);
    print_block("suggestions", &v->suggestions);
}

/* A contact point's view of its own report (the answer has submitted
 * set): the current text, then every version it submitted. */
static void print_show_own(bool json, const Minyi__V1__ShowResponse *s)
{
    char st[32], urg[32], when[64];
    cli_state_text(s->state, st, sizeof(st));
    urgency_text(s->urgency, urg, sizeof(urg));
    if (json) {
        json_t *sub = json_array();
        for (size_t i = 0; i < s->n_submitted; i++)
            json_array_append_new(sub, version_json(s->submitted[i]));
        json_t *j = json_pack("{s:o,s:s,s:s,s:o,s:I,s:o,s:I,s:o}", "receipt",
                              cli_jbytes(&s->receipt), "state", st, "urgency", urg, "region",
                              cli_jbytes(&s->region), "received_at_ms",
                              (json_int_t)s->received_at_ms, "version", version_json(s->version),
                              "latest_version", (json_int_t)s->latest_version, "submitted", sub);
        if (j != NULL)
            cli_print_json(j);
        return;
    }
    print_field("receipt", &s->receipt);
    printf("state: %s\n", st);
    printf("urgency: %s\n", urg);
    print_field("region", &s->region);
    cli_format_time(s->received_at_ms, when, sizeof(when));
    printf("received: %s\n", when);
    if (s->version != NULL)
        print_version(s->version, s->latest_version);
    for (size_t i = 0; i < s->n_submitted; i++) {
        fputs("\nsubmitted ", stdout);
        print_version(s->submitted[i], 0);
    }
}

void cli_triage_print_show(bool json, const Minyi__V1__ShowResponse *s)
{
    char st[32], urg[32], cat[32], kind[32], when[64];
    if (s->n_submitted > 0) {
        print_show_own(json, s);
        return;
    }
    if (json) {
        print_show_json(s);
        return;
    }
    const Minyi__V1__ReportVersion *v = s->version;
    cli_state_text(s->state, st, sizeof(st));
    urgency_text(s->urgency, urg, sizeof(urg));
    print_field("receipt", &s->receipt);
    printf("state: %s\n", st);
    if (v != NULL) {
        cli_format_time(v->at_ms, when, sizeof(when));
        printf("version: %u of %u, %s by ", v->version, s->latest_version, when);
        cli_print_bytes(&v->author);
        fputc('\n', stdout);
        category_text(v->category, cat, sizeof(cat));
        printf("category: %s\n", cat);
    }
    printf("urgency: %s\n", urg);
    print_field("region", &s->region);
    print_field("contact point", &s->contact_point);
    cli_format_time(s->received_at_ms, when, sizeof(when));
    printf("received: %s\n", when);
    if (s->claimed_by.len > 0) {
        cli_format_time(s->claim_expires_ms, when, sizeof(when));
        fputs("claimed by: ", stdout);
        cli_print_bytes(&s->claimed_by);
        printf(" until %s\n", when);
    } else {
        fputs("claimed by: -\n", stdout);
    }
    if (s->reporter != NULL) {
        cli_enum_text(&minyi__v1__reporter_kind__descriptor, s->reporter->kind, "KIND_", kind,
                      sizeof(kind));
        print_field("reporter", &s->reporter->name);
        print_field("unit", &s->reporter->unit);
        printf("reporter kind: %s\n", kind);
        if (s->reporter->sector.len > 0)
            print_field("sector", &s->reporter->sector);
    }
    print_field("phone", &s->phone);
    for (size_t i = 0; i < s->n_credited; i++) {
        const Minyi__V1__Reporter *c = s->credited[i];
        cli_enum_text(&minyi__v1__reporter_kind__descriptor, c->kind, "KIND_", kind,
                      sizeof(kind));
        fputs("also credited: ", stdout);
        if (c->name.len > 0)
            cli_print_bytes(&c->name);
        else
            fputs("-", stdout);
        if (c->unit.len > 0) {
            fputs(", ", stdout);
            cli_print_bytes(&c->unit);
        }
        printf(" (%s)\n", kind);
    }
    if (s->returned_above.len > 0)
        print_field("returned from above", &s->returned_above);
    if (s->merged_into.len > 0)
        print_field("merged into", &s->merged_into);
    if (s->n_merged_from > 0) {
        fputs("merged from:", stdout);
        for (size_t i = 0; i < s->n_merged_from; i++) {
            fputc(' ', stdout);
            cli_print_bytes(&s->merged_from[i]);
        }
        fputc('\n', stdout);
    }
    if (v != NULL) {
        print_field("title", &v->title);
        print_block("situation", &v->situation);
        print_block("analysis", &v->analysis);
        print_block("suggestions", &v->suggestions);
        if (v->note.len > 0)
            print_field("note", &v->note);
    }
    if (s->diff.len > 0)
        print_block("diff against version 1", &s->diff);
    fputs("history:\n", stdout);
    cli_print_history(s->history, s->n_history);
    fputs("similar:\n", stdout);
    if (s->n_similar == 0)
        fputs("  -\n", stdout);
    for (size_t i = 0; i < s->n_similar; i++) {
        const Minyi__V1__SimilarReport *m = s->similar[i];
        cli_state_text(m->state, st, sizeof(st));
        fputs("  ", stdout);
        cli_print_bytes(&m->receipt);
        printf("\t%.2f\t%s\t", (double)m->similarity, st);
        cli_print_bytes(&m->title);
        fputc('\n', stdout);
    }
    fputs("deliveries:\n", stdout);
    if (s->n_deliveries == 0)
        fputs("  -\n", stdout);
    for (size_t i = 0; i < s->n_deliveries; i++) {
        const Minyi__V1__Delivery *d = s->deliveries[i];
        fputs("  ", stdout);
        if (d->display_name.len > 0) {
            cli_print_bytes(&d->display_name);
            fputs(" (", stdout);
            cli_print_bytes(&d->destination);
            fputs(d->external ? ", external)" : ")", stdout);
        } else {
            cli_print_bytes(&d->destination);
        }
        fputc('\t', stdout);
        cli_print_bytes(&d->state);
        printf("\tattempts=%u", d->attempts);
        /* Only a delivery still to be made has a next attempt. */
        if (delivery_waits(d)) {
            cli_format_time(d->next_attempt_ms, when, sizeof(when));
            printf("\tnext=%s", when);
        }
        if (d->external && d->document_number.len > 0) {
            cli_format_time(d->document_date_ms, when, sizeof(when));
            fputs("\tdocument=", stdout);
            cli_print_bytes(&d->document_number);
            printf("\tsent=%s", when);
        } else if (d->upstream_receipt.len > 0) {
            fputs("\tupstream=", stdout);
            cli_print_bytes(&d->upstream_receipt);
        }
        if (d->last_error.len > 0) {
            fputs("\terror=", stdout);
            cli_print_bytes(&d->last_error);
        }
        fputc('\n', stdout);
    }
    print_attachments(s);
}
