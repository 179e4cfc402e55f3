/*
 * results: see results.h.
 *
 * Each peer goes around one cycle: send a request (carrying the ids stored
 * since the last one), wait for its answer, store the batch, and — when
 * something was stored — send the next request at once, which
 * acknowledges that batch and asks for more.  Otherwise the timer starts
 * the next cycle.  At most one request or one store call is outstanding
 * per peer, so results of one peer are applied in the order they came.
 *
 * An acknowledgement is sent only for ids the store said are committed; it
 * is dropped once the upper instance answered the request carrying it (the
 * acknowledgement and the pull are one transaction there).  When that
 * answer is lost, the next request carries the same ids again; when the
 * gateway stops before sending them, the upper instance sends those
 * results again and the store finds them stored.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "forwarder.h"
#include "log.h"
#include "request.h"
#include "results.h"
#include "triage.h"
#include "validate.h"

#define RESULTS_RECEIPT_MAX REQUEST_RECEIPT_MAX

struct rpeer {
    struct results *rs;
    int idx;                       /* among cfg.peers and the forwarder's connections */
    uint64_t frame_id;             /* the request waiting for its answer; 0: none */
    long long sent_ms;             /* when it was sent */
    bool storing;                  /* a batch is being stored */
    size_t n_storing;              /* results in that batch */
    bool failing;                  /* the last pull failed (logged once, not every time) */
    int64_t answered_ms;           /* monotonic: last pull answered with results_ok (or start) */
    int64_t ack[RESULTS_ACK_MAX];  /* stored, to acknowledge in the next request */
    size_t n_ack;
};

struct results {
    struct gw *gw;
    struct forwarder *fw;
    struct event *timer;
    struct rpeer *peers;
    int n_peers;
    bool stopping;
};

static const char *peer_name(const struct rpeer *p)
{
    return p->rs->gw->cfg.peers[p->idx].name;
}

/* As many results as one answer frame of ours can hold, at most the
 * protocol's default. */
static uint32_t pull_limit(const struct gw_config *cfg)
{
    size_t n = cfg->max_frame_bytes / RESULTS_ITEM_BYTES_MAX;

    if (n < 1)
        n = 1;
    return n > RESULTS_LIMIT_DEFAULT ? RESULTS_LIMIT_DEFAULT : (uint32_t)n;
}

static void pull(struct rpeer *p)
{
    struct results *rs = p->rs;
    const struct gw_config *cfg = &rs->gw->cfg;

    if (rs->stopping || p->storing)
        return;
    if (p->frame_id != 0) {
        if (clock_mono_ms() - p->sent_ms < cfg->fwd_timeout_ms)
            return;
        /* No answer in time: ask again (the answer to the old request is
         * ignored when it still comes; asking twice is harmless). */
        log_warnx("event=results_no_answer dest=%s", peer_name(p));
        p->frame_id = 0;
    }
    Minyi__V1__ResultsRequest q = MINYI__V1__RESULTS_REQUEST__INIT;
    Frame f = MINYI__V1__FRAME__INIT;
    q.ack = p->ack;
    q.n_ack = p->n_ack;
    q.limit = pull_limit(cfg);
    q.audit_head = forwarder_audit_head(rs->fw);
    f.body_case = MINYI__V1__FRAME__BODY_RESULTS;
    f.results = &q;
    /* Not up: the forwarder connects, and results_conn_up pulls. */
    if (!forwarder_peer_send(rs->fw, p->idx, &f))
        return;
    p->frame_id = f.id;
    p->sent_ms = clock_mono_ms();
    log_debug("event=results_pull dest=%s acks=%zu", peer_name(p), p->n_ack);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct results *rs = arg;

    (void)fd;
    (void)what;
    for (int i = 0; i < rs->n_peers; i++)
        pull(&rs->peers[i]);
}

static void on_stored(void *arg, struct store_reply *reply)
{
    struct rpeer *p = arg;
    const Minyi__V1__ResultsRequest *m = (const Minyi__V1__ResultsRequest *)reply->msg;
    size_t added = 0;

    p->storing = false;
    if (reply->code != 0) {
        /* Nothing is acknowledged: the upper instance sends them again. */
        log_warnx("event=results_store_failed dest=%s code=%d reason=\"%s\"", peer_name(p),
                  reply->code, reply->message);
    } else if (m != NULL) {
        for (size_t i = 0; i < m->n_ack && p->n_ack < RESULTS_ACK_MAX; i++) {
            p->ack[p->n_ack++] = m->ack[i];
            added++;
        }
        log_info("event=results_stored dest=%s acks=%zu", peer_name(p), added);
        /* Not found here: asked for again, and found once the delivery
         * that names it is marked (or never, which needs an operator). */
        if (m->n_ack < p->n_storing)
            log_warnx("event=results_unmatched dest=%s n=%zu", peer_name(p),
                      p->n_storing - m->n_ack);
    }
    if (reply->msg != NULL)
        protobuf_c_message_free_unpacked(reply->msg, NULL);
    /* Acknowledge at once and ask for more; with nothing stored, wait. */
    if (added > 0)
        pull(p);
}

/* Optional fields of a result may be empty; present ones must be in form. */
static bool digits6(const ProtobufCBinaryData *b, bool may_be_empty)
{
    return b->len == 0 ? may_be_empty : validate_region_code(b->data, b->len);
}

static bool receipt_ok(const ProtobufCBinaryData *b, bool may_be_empty)
{
    return b->len == 0 ? may_be_empty
                       : validate_receipt_chars(b->data, b->len, RESULTS_RECEIPT_MAX);
}

static bool kind_ok(const ProtobufCBinaryData *b)
{
    if (b->len == 0 || b->len > RESULTS_KIND_MAX)
        return false;
    for (size_t i = 0; i < b->len; i++)
        if (!((b->data[i] >= 'a' && b->data[i] <= 'z') || b->data[i] == '_'))
            return false;
    return true;
}

/* A result about an external 报送 names the document it went under where
 * other results name a receipt above. */
static bool about_external(const ProtobufCBinaryData *kind)
{
    static const char *const kinds[] = {"external", "external_response"};

    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (kind->len == strlen(kinds[i]) && memcmp(kind->data, kinds[i], kind->len) == 0)
            return true;
    return false;
}

/* The receipt there, or for an external 报送 its document number (short
 * text). */
static bool dest_receipt_ok(const Minyi__V1__Result *x)
{
    char doc[TRIAGE_DOC_NUMBER_MAX + 1];

    if (about_external(&x->kind))
        return request_take_short(&x->destination_receipt, TRIAGE_DOC_NUMBER_MAX, doc);
    return receipt_ok(&x->destination_receipt, true);
}

static bool short_ok(const ProtobufCBinaryData *b, size_t max)
{
    char buf[RESULTS_DEST_MAX + 1];

    return max <= RESULTS_DEST_MAX && request_take_short(b, max, buf);
}

/* Checks one result from above as strictly as any input; its free texts
 * come out NFC in note, instruction and level (malloc'd).  False with the
 * field at fault. */
static bool result_ok(const struct gw *gw, const Minyi__V1__Result *x, char **note,
                      char **instruction, char **level, const char **bad)
{
    struct validation_error verr;

    *note = *instruction = *level = NULL;
    *bad = x->id <= 0                                          ? "id"
           : !receipt_ok(&x->receipt, false)                   ? "receipt"
           : !digits6(&x->origin_region, true)                 ? "origin_region"
           : !receipt_ok(&x->origin_receipt, true)             ? "origin_receipt"
           : !kind_ok(&x->kind)                                ? "kind"
           : !short_ok(&x->body, RESULTS_BODY_MAX)             ? "body"
           : !digits6(&x->body_region, true)                   ? "body_region"
           : !short_ok(&x->destination, RESULTS_DEST_MAX)      ? "destination"
           : !dest_receipt_ok(x)                               ? "destination_receipt"
                                                               : NULL;
    if (*bad != NULL)
        return false;
    if (!validate_text(&x->note, VALIDATE_TEXT_NOTE, "note", "说明", false, &gw->limits, note,
                       &verr) ||
        !validate_text(&x->instruction, VALIDATE_TEXT_INSTRUCTION, "instruction", "批示", false,
                       &gw->limits, instruction, &verr) ||
        !validate_text(&x->instruction_level, VALIDATE_TEXT_LEVEL, "instruction_level",
                       "批示领导级别", false, &gw->limits, level, &verr)) {
        free(*note);
        free(*instruction);
        *note = *instruction = NULL;
        *bad = verr.field;
        return false;
    }
    return true;
}

static ProtobufCBinaryData text_bytes(char *s)
{
    ProtobufCBinaryData b = { strlen(s), (uint8_t *)s };
    return b;
}

/* A batch arrived: store what is valid in one call.  A result that fails
 * validation cannot be stored; it is acknowledged (dropped) with a warning
 * rather than asked for again forever. */
static void store_batch(struct rpeer *p, const Minyi__V1__ResultsResponse *m)
{
    struct results *rs = p->rs;
    size_t n = m->n_results, k = 0;
    Minyi__V1__Result *copies = calloc(n ? n : 1, sizeof(*copies));
    const Minyi__V1__Result **valid = calloc(n ? n : 1, sizeof(*valid));
    char **texts = calloc(3 * (n ? n : 1), sizeof(*texts));

    if (copies == NULL || valid == NULL || texts == NULL) {
        log_warnx("event=results_store_failed dest=%s reason=\"out of memory\"", peer_name(p));
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const Minyi__V1__Result *x = m->results[i];
        const char *bad = NULL;
        char **t = &texts[3 * k];

        if (x == NULL)
            continue;
        if (!result_ok(rs->gw, x, &t[0], &t[1], &t[2], &bad)) {
            log_warnx("event=result_refused dest=%s id=%lld field=%s", peer_name(p),
                      (long long)x->id, bad != NULL ? bad : "");
            if (x->id > 0 && p->n_ack < RESULTS_ACK_MAX)
                p->ack[p->n_ack++] = x->id;
            continue;
        }
        copies[k] = *x;
        copies[k].note = text_bytes(t[0]);
        copies[k].instruction = text_bytes(t[1]);
        copies[k].instruction_level = text_bytes(t[2]);
        valid[k] = &copies[k];
        k++;
    }
    if (k > 0) {
        p->storing = true;
        p->n_storing = k;
        /* The results are copied into the call's parameters before it returns. */
        triage_r_apply(rs->gw->store, peer_name(p), rs->gw->cfg.body_region, valid, k,
                       on_stored, p);
    }
out:
    if (texts != NULL)
        for (size_t i = 0; i < 3 * k; i++)
            free(texts[i]);
    free(texts);
    free(valid);
    free(copies);
}

bool results_on_answer(struct results *rs, int peer, const Frame *f)
{
    struct rpeer *p;

    if (rs == NULL || peer < 0 || peer >= rs->n_peers)
        return false;
    p = &rs->peers[peer];
    if (p->frame_id == 0 || f->id != p->frame_id) {
        /* A late answer to a request given up on: its results come again. */
        return f->body_case == MINYI__V1__FRAME__BODY_RESULTS_OK;
    }
    p->frame_id = 0;
    if (f->body_case == MINYI__V1__FRAME__BODY_ERROR && f->error != NULL) {
        /* The acknowledgements were not taken; they go with the next request. */
        if (!p->failing)
            log_warnx("event=results_pull_failed dest=%s code=%d field=%.*s", peer_name(p),
                      (int)f->error->code, (int)(f->error->field.len < 64 ? f->error->field.len : 64),
                      (const char *)f->error->field.data);
        p->failing = true;
        return true;
    }
    if (f->body_case != MINYI__V1__FRAME__BODY_RESULTS_OK || f->results_ok == NULL) {
        log_warnx("event=results_pull_failed dest=%s reason=\"unexpected answer\"", peer_name(p));
        return true;
    }
    if (p->failing)
        log_info("event=results_pull_recovered dest=%s", peer_name(p));
    p->failing = false;
    p->answered_ms = clock_mono_ms();
    /* The upper instance has committed these acknowledgements. */
    p->n_ack = 0;
    if (rs->stopping)
        return true;
    if (f->results_ok->n_results > 0)
        log_info("event=results_received dest=%s n=%zu more=%d", peer_name(p),
                 f->results_ok->n_results, f->results_ok->more ? 1 : 0);
    store_batch(p, f->results_ok);
    /* Only refused results (acknowledged, nothing to store): go on. */
    if (!p->storing && p->n_ack > 0)
        pull(p);
    return true;
}

void results_conn_up(struct results *rs, int peer)
{
    if (rs == NULL || peer < 0 || peer >= rs->n_peers)
        return;
    /* A request sent on an earlier connection will not be answered. */
    rs->peers[peer].frame_id = 0;
    pull(&rs->peers[peer]);
}

struct results *results_new(struct gw *gw, struct forwarder *fw)
{
    const struct gw_config *cfg = &gw->cfg;
    struct results *rs = calloc(1, sizeof(*rs));

    if (rs == NULL)
        return NULL;
    rs->gw = gw;
    rs->fw = fw;
    rs->n_peers = cfg->n_peers;
    rs->peers = calloc(cfg->n_peers > 0 ? (size_t)cfg->n_peers : 1, sizeof(*rs->peers));
    rs->timer = event_new(gw->base, -1, EV_PERSIST, on_timer, rs);
    if (rs->peers == NULL || rs->timer == NULL) {
        results_free(rs);
        return NULL;
    }
    for (int i = 0; i < rs->n_peers; i++) {
        rs->peers[i].rs = rs;
        rs->peers[i].idx = i;
        rs->peers[i].answered_ms = clock_mono_ms();
    }
    struct timeval tv = clock_tv_ms(cfg->results_interval_ms);
    event_add(rs->timer, &tv);
    /* The first pull makes the connections; it need not wait a whole interval. */
    event_active(rs->timer, EV_TIMEOUT, 0);
    return rs;
}

void results_stop(struct results *rs)
{
    if (rs == NULL)
        return;
    rs->stopping = true;
    if (rs->timer != NULL)
        event_del(rs->timer);
}

void results_free(struct results *rs)
{
    if (rs == NULL)
        return;
    if (rs->timer != NULL)
        event_free(rs->timer);
    free(rs->peers);
    free(rs);
}

int64_t results_pull_age_ms(const struct results *rs, int peer)
{
    if (rs == NULL || peer < 0 || peer >= rs->n_peers)
        return -1;
    return clock_mono_ms() - rs->peers[peer].answered_ms;
}
