/*
 * it_outbox: editors see, retry and cancel dead deliveries, with two real
 * instances (two databases on one cluster, two gateways).  The lower one
 * (body 330402) forwards to the upper one ([peer.province], the peer1
 * certificate) and to [peer.nowhere], a port where nothing listens.
 *
 * The upper instance does not know the lower's peer certificate at first,
 * so it refuses every delivery with PERMISSION_DENIED: a permanent error,
 * and the row goes dead at once.  The editors of the lower body find it in
 * the outbox list (with the reason) and through the queue's dead-delivery
 * filter; they cancel one dead row and one pending row (the one waiting to
 * retry nowhere), and both stay unsent; acting on a row in another state
 * is a conflict naming the state; contact points and peers are refused,
 * and an editor of another body sees none of it.  Then the operator
 * registers the peer at the upper instance, an editor retries the dead
 * delivery, and the report arrives there exactly once.  The `minyi outbox`
 * commands and `minyi queue --dead-delivery` are run once as a user would.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "itkit.h"

#define LOWER_REGION  "330402"
#define OTHER_REGION  "330411"        /* the body of editor2 at the lower instance */
#define DEAD_WITHIN_MS 30000          /* a refused delivery must be dead by then */
#define ARRIVE_WITHIN_MS 60000        /* a retried delivery must arrive by then */
/* A temporary failure waits 10..20 s before its next attempt: long enough
 * to see and cancel the pending row, short enough for a late retry. */
#define BACKOFF_MS 20000
#define QUEUE_PAGE 200                /* the largest queue page: every report here */
#define CLI_OUT_MAX (64 * 1024)

static struct itenv env;              /* the upper instance */

static struct {
    struct tgw gw;
    char conninfo[1024];
    int64_t editor1;
    struct client_conn *contact, *editor, *other_editor, *peer;
} lo;

static char dir[64];                  /* CLI profiles and output */
static char r1[IT_RECEIPT_MAX];       /* dead, retried in the end */

static struct client_conn *lower_connect(const char *certname)
{
    struct client_profile p;
    char err[256];
    tprofile(&p, certname, &lo.gw);
    struct client_conn *c = client_connect(&p, err, sizeof err);
    if (c == NULL)
        fprintf(stderr, "connect as %s: %s\n", certname, err);
    return c;
}

static bool write_profile(const char *name, const char *certname)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s.ini", dir, name);
    return tprofile_write(path, certname, &lo.gw);
}

static int setup(void **state)
{
    char ini[4096];
    (void)state;
    if (!itenv_up(&env, NULL))
        return -1;
    if (!tpg_create_db(&env.pg, "lower", lo.conninfo, sizeof lo.conninfo))
        return -1;
    snprintf(ini, sizeof ini,
             "[gateway]\nbody_region = " LOWER_REGION "\nbody_name = 南湖区政协\n"
             "[triage]\ndestinations = province, nowhere\n"
             "[forward]\npoll_ms = 100\nbackoff_min_ms = %d\nbackoff_max_ms = %d\n"
             "max_attempts = 5\ntimeout_ms = 5000\n"
             "[peer.province]\nhost = 127.0.0.1\nport = %d\nca = %s\nserver_name = localhost\n"
             "cert = %s\nkey = %s\n"
             "[peer.nowhere]\nhost = 127.0.0.1\nport = 1\nca = %s\nserver_name = localhost\n"
             "cert = %s\nkey = %s\n",
             BACKOFF_MS, BACKOFF_MS, env.gw.port, tcert("ca", "crt"), tcert("peer1", "crt"),
             tcert("peer1", "key"), tcert("ca", "crt"), tcert("peer1", "crt"),
             tcert("peer1", "key"));
    if (!tgw_start(&lo.gw, lo.conninfo, ini))
        return -1;
    lo.editor1 = tprincipal_add(lo.conninfo, "editor1", "editor", LOWER_REGION, true);
    if (lo.editor1 <= 0 ||
        tprincipal_add(lo.conninfo, "contact1", "contact", LOWER_REGION, true) <= 0 ||
        tprincipal_add(lo.conninfo, "editor2", "editor", OTHER_REGION, true) <= 0 ||
        tprincipal_add(lo.conninfo, "contact2", "peer", "330400", true) <= 0)
        return -1;
    lo.contact = lower_connect("contact1");
    lo.editor = lower_connect("editor1");
    lo.other_editor = lower_connect("editor2");
    lo.peer = lower_connect("contact2");
    snprintf(dir, sizeof dir, "/tmp/minyi-it-outbox-XXXXXX");
    if (mkdtemp(dir) == NULL || !write_profile("editor", "editor1") ||
        !write_profile("contact", "contact1"))
        return -1;
    return lo.contact && lo.editor && lo.other_editor && lo.peer ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    client_close(lo.contact);
    client_close(lo.editor);
    client_close(lo.other_editor);
    client_close(lo.peer);
    int lower = lo.gw.pid > 0 ? tgw_stop(&lo.gw, SIGTERM) : 0;
    int upper = itenv_down(&env);
    const char *names[] = {"editor.ini", "contact.ini", "out", "err"};
    char path[PATH_MAX + 32];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
    if (lower != 0 || upper != 0)
        fprintf(stderr, "minyid exited with %d (lower) and %d (upper)\n", lower, upper);
    return lower == 0 && upper == 0 ? 0 : -1;
}

/* ---- requests ------------------------------------------------------------- */

static void expect_body(const Frame *f, int body_case)
{
    if ((int)f->body_case != body_case)
        itexpect_error(f, 0, NULL); /* fails, naming the error */
}

/* Submits a report at the lower instance, and editor1 claims it and
 * forwards it to dest; copies the receipt. */
static void forwarded_report(const char *dest, char *receipt)
{
    itsubmit_forwarded(lo.contact, lo.editor, "待报送的信息", dest, receipt);
}

/* One page of the outbox; states NULL-terminated (NULL: any). */
static Frame *outbox_list(struct client_conn *c, const char *const *states, const char *dest,
                          const char *receipt, uint32_t limit, const char *cursor,
                          struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__OutboxRequest q = MINYI__V1__OUTBOX_REQUEST__INIT;
    Minyi__V1__OutboxFilter flt = MINYI__V1__OUTBOX_FILTER__INIT;
    ProtobufCBinaryData st[8];
    size_t n = 0;
    for (; states != NULL && states[n] != NULL; n++) {
        assert_true(n < 8);
        st[n] = frame_bytes(states[n]);
    }
    flt.states = n > 0 ? st : NULL;
    flt.n_states = n;
    flt.destination = frame_bytes(dest != NULL ? dest : "");
    flt.receipt = frame_bytes(receipt != NULL ? receipt : "");
    q.filter = &flt;
    q.limit = limit;
    q.cursor = frame_bytes(cursor != NULL ? cursor : "");
    f.body_case = MINYI__V1__FRAME__BODY_OUTBOX;
    f.outbox = &q;
    return itcall(c, &f, a);
}

static Frame *outbox_act(struct client_conn *c, long long id, int action, const char *note,
                         struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__OutboxActionRequest q = MINYI__V1__OUTBOX_ACTION_REQUEST__INIT;
    q.outbox_id = id;
    q.action = action;
    q.note = frame_bytes(note != NULL ? note : "");
    f.body_case = MINYI__V1__FRAME__BODY_OUTBOX_ACTION;
    f.outbox_action = &q;
    return itcall(c, &f, a);
}

static void act_ok(long long id, int action, const char *note)
{
    struct frame_arena *a = NULL;
    expect_body(outbox_act(lo.editor, id, action, note, &a), MINYI__V1__FRAME__BODY_OK);
    frame_arena_free(a);
}

/* Asserts CONFLICT on the id, with the row's state named in the message. */
static void act_conflict(long long id, int action, const char *state)
{
    struct frame_arena *a = NULL;
    char msg[512];
    Frame *f = outbox_act(lo.editor, id, action, NULL, &a);
    itexpect_error(f, MINYI__V1__ERROR_CODE__CONFLICT, "outbox_action.outbox_id");
    itcopy(&f->error->message, msg, sizeof msg);
    if (strstr(msg, state) == NULL)
        fail_msg("the conflict does not name the state %s: %s", state, msg);
    frame_arena_free(a);
}

/* The entry for receipt in a list answer, or NULL. */
static const Minyi__V1__OutboxEntry *entry_of(const Frame *f, const char *receipt)
{
    expect_body(f, MINYI__V1__FRAME__BODY_OUTBOX_OK);
    for (size_t i = 0; i < f->outbox_ok->n_items; i++) {
        char r[IT_RECEIPT_MAX];
        itcopy(&f->outbox_ok->items[i]->receipt, r, sizeof r);
        if (strcmp(r, receipt) == 0)
            return f->outbox_ok->items[i];
    }
    return NULL;
}

static bool bytes_eq(const ProtobufCBinaryData *b, const char *s)
{
    return b->len == strlen(s) && memcmp(b->data, s, b->len) == 0;
}

/* ---- the lower database --------------------------------------------------- */

static long long row_id(const char *receipt)
{
    const char *p[1] = { receipt };
    return tdb_scalar(lo.conninfo,
                      "SELECT o.id FROM outbox o JOIN reports r ON r.id = o.report_id"
                      " WHERE r.receipt = $1", 1, p);
}

static char *row_field(const char *receipt, const char *col)
{
    char sql[256];
    const char *p[1] = { receipt };
    snprintf(sql, sizeof sql, "SELECT o.%s::text FROM outbox o JOIN reports r"
             " ON r.id = o.report_id WHERE r.receipt = $1", col);
    char *v = itdb_text(lo.conninfo, sql, 1, p);
    assert_non_null(v);
    return v;
}

static void assert_row(const char *receipt, const char *col, const char *want)
{
    char *v = row_field(receipt, col);
    if (strcmp(v, want) != 0)
        fail_msg("outbox of %s: %s is %s, expected %s", receipt, col, v, want);
    free(v);
}

/* Polls until the row of receipt satisfies the SQL condition cond (on o). */
static bool wait_row(const char *receipt, const char *cond, int ms)
{
    char sql[512];
    const char *p[1] = { receipt };
    snprintf(sql, sizeof sql, "SELECT count(*) FROM outbox o JOIN reports r"
             " ON r.id = o.report_id WHERE r.receipt = $1 AND (%s)", cond);
    long long until = itnow_ms() + ms;
    do {
        if (tdb_scalar(lo.conninfo, sql, 1, p) == 1)
            return true;
        itsleep_ms(50);
    } while (itnow_ms() < until);
    return false;
}

static void wait_dead(const char *receipt)
{
    if (!wait_row(receipt, "o.state = 'dead'", DEAD_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("the delivery of %s did not go dead", receipt);
    }
}

static long long events_of(const char *receipt, const char *action)
{
    const char *p[2] = { receipt, action };
    return tdb_scalar(lo.conninfo,
                      "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                      " WHERE r.receipt = $1 AND e.action = $2", 2, p);
}

/* Reports the upper instance stored for this lower receipt. */
static long long arrived(const char *receipt)
{
    const char *p[2] = { LOWER_REGION, receipt };
    return tdb_scalar(env.conninfo,
                      "SELECT count(*) FROM reports WHERE origin_region = $1"
                      " AND origin_receipt = $2", 2, p);
}

/* ---- tests ---------------------------------------------------------------- */

/* Refused above (our certificate is unknown there): dead at once, with
 * the reason, in the list and in the queue's dead-delivery filter. */
static void test_dead_shown(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    const Minyi__V1__OutboxEntry *e;

    forwarded_report("province", r1);
    wait_dead(r1);
    assert_row(r1, "attempts", "1");
    assert_int_equal(events_of(r1, "delivery_dead"), 1);
    assert_int_equal(arrived(r1), 0);

    Frame *f = outbox_list(lo.editor, (const char *const[]){"dead", NULL}, NULL, NULL, 0, NULL,
                           &a);
    assert_non_null(e = entry_of(f, r1));
    char err[512];
    itcopy(&e->last_error, err, sizeof err);
    if (strstr(err, "certificate") == NULL || strstr(err, "province") == NULL)
        fail_msg("the reason does not say the certificate was refused above: %s", err);
    assert_true(bytes_eq(&e->destination, "province"));
    assert_true(bytes_eq(&e->state, "dead"));
    assert_int_equal(e->attempts, 1);
    assert_int_equal(e->outbox_id, row_id(r1));
    assert_true(e->created_ms > 0);
    assert_true(bytes_eq(&e->title, "关于加快老旧小区加装电梯的建议"));
    assert_int_equal(e->upstream_receipt.len, 0);
    frame_arena_free(a);
    a = NULL;

    /* The other filters: by receipt, by destination, by another state. */
    f = outbox_list(lo.editor, NULL, NULL, r1, 0, NULL, &a);
    assert_int_equal(f->outbox_ok->n_items, 1);
    assert_non_null(entry_of(f, r1));
    frame_arena_free(a);
    a = NULL;
    f = outbox_list(lo.editor, NULL, "province", r1, 0, NULL, &a);
    assert_non_null(entry_of(f, r1));
    frame_arena_free(a);
    a = NULL;
    f = outbox_list(lo.editor, NULL, "nowhere", r1, 0, NULL, &a);
    assert_null(entry_of(f, r1));
    frame_arena_free(a);
    a = NULL;
    f = outbox_list(lo.editor, (const char *const[]){"pending", "delivered", NULL}, NULL, r1, 0,
                    NULL, &a);
    assert_null(entry_of(f, r1));
    frame_arena_free(a);
    a = NULL;

    /* The queue: a forwarded report is not open, so only the filter finds it. */
    Frame qf = MINYI__V1__FRAME__INIT;
    Minyi__V1__QueueRequest q = MINYI__V1__QUEUE_REQUEST__INIT;
    Minyi__V1__QueueFilter flt = MINYI__V1__QUEUE_FILTER__INIT;
    q.filter = &flt;
    q.limit = QUEUE_PAGE;
    qf.body_case = MINYI__V1__FRAME__BODY_QUEUE;
    qf.queue = &q;
    bool found = false;
    f = itcall(lo.editor, &qf, &a);
    expect_body(f, MINYI__V1__FRAME__BODY_QUEUE_OK);
    for (size_t i = 0; i < f->queue_ok->n_items; i++)
        found |= bytes_eq(&f->queue_ok->items[i]->receipt, r1);
    assert_false(found);
    frame_arena_free(a);
    a = NULL;
    flt.dead_deliveries_only = true;
    f = itcall(lo.editor, &qf, &a);
    expect_body(f, MINYI__V1__FRAME__BODY_QUEUE_OK);
    for (size_t i = 0; i < f->queue_ok->n_items; i++) {
        found |= bytes_eq(&f->queue_ok->items[i]->receipt, r1);
        assert_int_equal(f->queue_ok->items[i]->state, MINYI__V1__REPORT_STATE__FORWARDED);
    }
    assert_true(found);
    frame_arena_free(a);
}

/* Only editors of this body: contact points and peers are refused, an
 * editor of another body finds nothing; bad input names its field. */
static void test_who_and_what(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    long long id = row_id(r1);
    assert_true(id > 0);

    struct client_conn *refused[2] = { lo.contact, lo.peer };
    for (int i = 0; i < 2; i++) {
        itexpect_error(outbox_list(refused[i], NULL, NULL, NULL, 0, NULL, &a),
                       MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
        frame_arena_free(a);
        a = NULL;
        itexpect_error(outbox_act(refused[i], id, MINYI__V1__OUTBOX_ACTION__RETRY, NULL, &a),
                       MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "principal.kind");
        frame_arena_free(a);
        a = NULL;
    }

    /* editor2 edits for another body: the row is as good as absent. */
    Frame *f = outbox_list(lo.other_editor, NULL, NULL, NULL, 0, NULL, &a);
    expect_body(f, MINYI__V1__FRAME__BODY_OUTBOX_OK);
    assert_int_equal(f->outbox_ok->n_items, 0);
    frame_arena_free(a);
    a = NULL;
    for (int action = MINYI__V1__OUTBOX_ACTION__RETRY; action <= MINYI__V1__OUTBOX_ACTION__CANCEL;
         action++) {
        itexpect_error(outbox_act(lo.other_editor, id, action, NULL, &a),
                       MINYI__V1__ERROR_CODE__NOT_FOUND, "outbox_action.outbox_id");
        frame_arena_free(a);
        a = NULL;
    }
    itexpect_error(outbox_act(lo.editor, id + 100000, MINYI__V1__OUTBOX_ACTION__RETRY, NULL, &a),
                   MINYI__V1__ERROR_CODE__NOT_FOUND, "outbox_action.outbox_id");
    frame_arena_free(a);
    a = NULL;
    assert_row(r1, "state", "dead");
    assert_int_equal(events_of(r1, "delivery_retry"), 0);
    assert_int_equal(events_of(r1, "delivery_cancelled"), 0);

    /* Bad input. */
    itexpect_error(outbox_act(lo.editor, 0, MINYI__V1__OUTBOX_ACTION__RETRY, NULL, &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "outbox_action.outbox_id");
    frame_arena_free(a);
    a = NULL;
    itexpect_error(outbox_act(lo.editor, id, MINYI__V1__OUTBOX_ACTION__OUTBOX_ACTION_UNSPECIFIED,
                              NULL, &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "outbox_action.action");
    frame_arena_free(a);
    a = NULL;
    itexpect_error(outbox_act(lo.editor, id, 7, NULL, &a), MINYI__V1__ERROR_CODE__INVALID_ARGUMENT,
                   "outbox_action.action");
    frame_arena_free(a);
    a = NULL;
    itexpect_error(outbox_act(lo.editor, id, MINYI__V1__OUTBOX_ACTION__RETRY, "bad\x01note", &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "outbox_action.note");
    frame_arena_free(a);
    a = NULL;
    itexpect_error(outbox_list(lo.editor, (const char *const[]){"lost", NULL}, NULL, NULL, 0,
                               NULL, &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "outbox.filter.states");
    frame_arena_free(a);
    a = NULL;
    itexpect_error(outbox_list(lo.editor, NULL, NULL, NULL, 201, NULL, &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "outbox.limit");
    frame_arena_free(a);
    a = NULL;
    itexpect_error(outbox_list(lo.editor, NULL, NULL, NULL, 0, "x1", &a),
                   MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, "outbox.cursor");
    frame_arena_free(a);
    assert_row(r1, "state", "dead");
}

/* Cancelling a dead row and a pending one: neither is sent; other states
 * are conflicts.  Paging is stable. */
static void test_cancel(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    char r2[IT_RECEIPT_MAX], r3[IT_RECEIPT_MAX];

    forwarded_report("province", r2);
    wait_dead(r2);
    long long id1 = row_id(r1), id2 = row_id(r2);

    /* Two dead rows, a page each, newest first. */
    Frame *f = outbox_list(lo.editor, (const char *const[]){"dead", NULL}, NULL, NULL, 1, NULL,
                           &a);
    expect_body(f, MINYI__V1__FRAME__BODY_OUTBOX_OK);
    assert_int_equal(f->outbox_ok->n_items, 1);
    assert_int_equal(f->outbox_ok->items[0]->outbox_id, id2);
    char cursor[64];
    itcopy(&f->outbox_ok->next_cursor, cursor, sizeof cursor);
    assert_true(cursor[0] != '\0');
    frame_arena_free(a);
    a = NULL;
    f = outbox_list(lo.editor, (const char *const[]){"dead", NULL}, NULL, NULL, 1, cursor, &a);
    expect_body(f, MINYI__V1__FRAME__BODY_OUTBOX_OK);
    assert_int_equal(f->outbox_ok->n_items, 1);
    assert_int_equal(f->outbox_ok->items[0]->outbox_id, id1);
    frame_arena_free(a);
    a = NULL;

    act_ok(id2, MINYI__V1__OUTBOX_ACTION__CANCEL, "该信息已另行报送");
    assert_row(r2, "state", "cancelled");
    assert_int_equal(events_of(r2, "delivery_cancelled"), 1);
    act_conflict(id2, MINYI__V1__OUTBOX_ACTION__CANCEL, "cancelled");
    act_conflict(id2, MINYI__V1__OUTBOX_ACTION__RETRY, "cancelled");

    /* Nothing listens at nowhere: a temporary failure, pending for a while. */
    forwarded_report("nowhere", r3);
    if (!wait_row(r3, "o.state = 'pending' AND o.attempts >= 1", DEAD_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("the delivery to nowhere did not fail and wait");
    }
    act_conflict(row_id(r3), MINYI__V1__OUTBOX_ACTION__RETRY, "pending");
    act_ok(row_id(r3), MINYI__V1__OUTBOX_ACTION__CANCEL, NULL);
    assert_row(r3, "state", "cancelled");
    char *note = itdb_text(lo.conninfo,
                           "SELECT e.note FROM events e JOIN reports r ON r.id = e.report_id"
                           " WHERE r.receipt = $1 AND e.action = 'delivery_cancelled'",
                           1, (const char *const[]){r3});
    assert_non_null(note);
    assert_string_equal(note, "撤销报送nowhere");
    free(note);

    /* Long past the backoff of the first failure: never attempted again. */
    f = outbox_list(lo.editor, NULL, NULL, r3, 0, NULL, &a);
    const Minyi__V1__OutboxEntry *e = entry_of(f, r3);
    assert_non_null(e);
    assert_true(bytes_eq(&e->state, "cancelled"));
    uint32_t attempts = e->attempts;
    frame_arena_free(a);
    itsleep_ms(BACKOFF_MS + 1000);
    char want[16];
    snprintf(want, sizeof want, "%u", attempts);
    assert_row(r3, "attempts", want);
    assert_row(r3, "state", "cancelled");
    assert_row(r2, "state", "cancelled");
    assert_int_equal(arrived(r2), 0);
}

/* ---- the CLI -------------------------------------------------------------- */

struct run {
    int rc;
    char out[CLI_OUT_MAX];
    char err[CLI_OUT_MAX];
};

/* Runs `minyi --profile dir/<profile>.ini args...` and asserts its exit status. */
static void cli(struct run *r, int want_rc, const char *profile, const char *const *args)
{
    char prof[PATH_MAX];
    snprintf(prof, sizeof prof, "%s/%s.ini", dir, profile);
    r->rc = itrun_cli(dir, prof, args, r->out, r->err, sizeof r->out);
    if (r->rc != want_rc)
        fail_msg("minyi %s exited with %d, expected %d", args[0], r->rc, want_rc);
}

static void test_cli(void **state)
{
    (void)state;
    static struct run r;
    char r4[IT_RECEIPT_MAX], ids[24];

    forwarded_report("province", r4);
    wait_dead(r4);
    snprintf(ids, sizeof ids, "%lld", row_id(r4));

    cli(&r, 0, "editor", (const char *const[]){"outbox", "--state", "dead", NULL});
    itexpect_contains(r.out, r4);
    itexpect_contains(r.out, "error: province: ");
    cli(&r, 0, "editor", (const char *const[]){"outbox", "--receipt", r4, "--json", NULL});
    json_error_t je;
    json_t *j = json_loads(r.out, 0, &je);
    assert_non_null(j);
    json_t *items = json_object_get(j, "items");
    assert_int_equal(json_array_size(items), 1);
    json_t *it = json_array_get(items, 0);
    assert_string_equal(json_string_value(json_object_get(it, "state")), "dead");
    assert_int_equal(json_integer_value(json_object_get(it, "outbox_id")), atoll(ids));
    assert_non_null(strstr(json_string_value(json_object_get(it, "last_error")), "certificate"));
    json_decref(j);
    cli(&r, 0, "editor", (const char *const[]){"queue", "--dead-delivery", NULL});
    itexpect_contains(r.out, r4);
    itexpect_contains(r.out, r1);

    /* Retried while the upper instance still refuses us: dead again. */
    cli(&r, 0, "editor", (const char *const[]){"outbox", "retry", ids, "--note", "再试一次", NULL});
    itexpect_contains(r.out, "pending");
    assert_int_equal(events_of(r4, "delivery_retry"), 1);
    if (!wait_row(r4, "o.state = 'dead' AND o.attempts = 1", DEAD_WITHIN_MS))
        fail_msg("the retried delivery did not go dead again");
    assert_int_equal(events_of(r4, "delivery_dead"), 2);

    cli(&r, 0, "editor", (const char *const[]){"outbox", "cancel", ids, "--json", NULL});
    itexpect_contains(r.out, "\"cancelled\"");
    cli(&r, 7, "editor", (const char *const[]){"outbox", "cancel", ids, NULL});
    itexpect_contains(r.err, "CONFLICT");
    cli(&r, 4, "contact", (const char *const[]){"outbox", NULL});
    itexpect_contains(r.err, "PERMISSION_DENIED");
    cli(&r, 2, "editor", (const char *const[]){"outbox", "retry", NULL});
    cli(&r, 2, "editor", (const char *const[]){"outbox", "--state", "lost", NULL});
    cli(&r, 2, "editor", (const char *const[]){"outbox", "cancel", ids, "--dest", "x", NULL});
    assert_row(r4, "state", "cancelled");
}

/* The operator registers our certificate above; the editor retries; the
 * report arrives there exactly once and the row is delivered. */
static void test_retry_arrives(void **state)
{
    (void)state;
    struct frame_arena *a = NULL;
    long long id = row_id(r1);
    assert_row(r1, "state", "dead");

    assert_true(tprincipal_add(env.conninfo, "peer1", "peer", LOWER_REGION, true) > 0);
    act_ok(id, MINYI__V1__OUTBOX_ACTION__RETRY, "已在上级登记本级证书");
    if (!wait_row(r1, "o.state = 'delivered'", ARRIVE_WITHIN_MS)) {
        tgw_dump_log(&lo.gw);
        fail_msg("the retried delivery did not arrive");
    }
    assert_int_equal(arrived(r1), 1);
    char *up = row_field(r1, "upstream_receipt");
    const char *p[2] = { LOWER_REGION, r1 };
    char *there = itdb_text(env.conninfo, "SELECT receipt FROM reports WHERE origin_region = $1"
                            " AND origin_receipt = $2", 2, p);
    assert_non_null(there);
    assert_string_equal(up, there);
    free(there);
    free(up);
    /* The whole budget again, and one attempt was enough. */
    assert_row(r1, "attempts", "1");
    assert_int_equal(events_of(r1, "delivered"), 1);
    char ed[24];
    snprintf(ed, sizeof ed, "%lld", (long long)lo.editor1);
    const char *q[2] = { r1, ed };
    char *note = itdb_text(lo.conninfo,
                           "SELECT e.note FROM events e JOIN reports r ON r.id = e.report_id"
                           " WHERE r.receipt = $1 AND e.action = 'delivery_retry'"
                           " AND e.actor = $2::int8", 2, q);
    assert_non_null(note);
    assert_string_equal(note, "重新报送province：已在上级登记本级证书");
    free(note);

    Frame *f = outbox_list(lo.editor, NULL, NULL, r1, 0, NULL, &a);
    const Minyi__V1__OutboxEntry *e = entry_of(f, r1);
    assert_non_null(e);
    assert_true(bytes_eq(&e->state, "delivered"));
    assert_true(e->upstream_receipt.len > 0);
    assert_int_equal(e->last_error.len, 0);
    frame_arena_free(a);

    /* Delivered is not dead: a second retry is a conflict, and nothing is sent again. */
    act_conflict(id, MINYI__V1__OUTBOX_ACTION__RETRY, "delivered");
    act_conflict(id, MINYI__V1__OUTBOX_ACTION__CANCEL, "delivered");
    itsleep_ms(1000);
    assert_int_equal(arrived(r1), 1);
    assert_row(r1, "state", "delivered");

    /* The contact point sees where its report went. */
    f = itstatus(lo.contact, r1, &a);
    expect_body(f, MINYI__V1__FRAME__BODY_STATUS_OK);
    bool retried = false;
    for (size_t i = 0; i < f->status_ok->n_history; i++)
        retried |= bytes_eq(&f->status_ok->history[i]->action, "delivery_retry");
    assert_true(retried);
    frame_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dead_shown),
        cmocka_unit_test(test_who_and_what),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_retry_arrives),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
