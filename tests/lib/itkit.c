#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <openssl/rand.h>

#include "client_err.h"
#include "clock.h"
#include "hex.h"
#include "itkit.h"

#define IT_ERR_LEN 512

bool itenv_up(struct itenv *e, const char *extra_ini)
{
    memset(e, 0, sizeof(*e));
    if (!tpg_start(&e->pg))
        return false;
    e->pg_up = true;
    if (!tpg_create_db(&e->pg, "minyi", e->conninfo, sizeof(e->conninfo)))
        return false;
    if (!tgw_start(&e->gw, e->conninfo, extra_ini))
        return false;
    e->gw_up = true;
    e->contact1 = tprincipal_add(e->conninfo, "contact1", "contact", IT_REGION, true);
    e->contact2 = tprincipal_add(e->conninfo, "contact2", "contact", IT_REGION, true);
    e->editor1 = tprincipal_add(e->conninfo, "editor1", "editor", "330400", true);
    return e->contact1 > 0 && e->contact2 > 0 && e->editor1 > 0;
}

int itenv_down(struct itenv *e)
{
    int code = -1;
    if (e->gw_up && e->gw.pid > 0)
        code = tgw_stop(&e->gw, SIGTERM);
    e->gw_up = false;
    if (e->pg_up)
        tpg_destroy(&e->pg);
    e->pg_up = false;
    return code;
}

/* Set when a group's teardown found a gateway that stopped badly, read by
 * itexit_strict: cmocka reports a failed group teardown but leaves it out of the
 * count it returns, so a leak LeakSanitizer reports at a gateway's exit
 * would pass. */
static bool it_teardown_failed;

int itenv_teardown(struct itenv *e)
{
    int code = itenv_down(e);
    if (code != 0) {
        fprintf(stderr, "minyid exited with %d after SIGTERM\n", code);
        it_teardown_failed = true;
    }
    return code == 0 ? 0 : -1;
}

struct client_conn *ittry_connect(const struct itenv *e, const char *certname, char *err,
                                  size_t errlen)
{
    struct client_profile p;
    tprofile(&p, certname, &e->gw);
    return client_connect(&p, err, errlen);
}

struct client_conn *itconnect_gw(const struct tgw *gw, const char *certname)
{
    struct client_profile p;
    char err[IT_ERR_LEN];
    tprofile(&p, certname, gw);
    struct client_conn *c = client_connect(&p, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect to port %d as %s: %s", gw->port,
                 certname ? certname : "(no certificate)", err);
    return c;
}

struct client_conn *itconnect(const struct itenv *e, const char *certname)
{
    return itconnect_gw(&e->gw, certname);
}

void itset_raw(ProtobufCBinaryData *d, const void *p, size_t len)
{
    uint8_t *copy = malloc(len + 1);
    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, p, len);
    copy[len] = 0;
    free(d->data);
    d->data = copy;
    d->len = len;
}

void itadd_unknown(ProtobufCMessage *m, uint32_t field, ProtobufCWireType wire_type,
                   const void *data, size_t len)
{
    ProtobufCMessageUnknownField *u =
        realloc(m->unknown_fields, (m->n_unknown_fields + 1) * sizeof(*u));
    assert_non_null(u);
    m->unknown_fields = u;
    u += m->n_unknown_fields++;
    u->tag = field;
    u->wire_type = wire_type;
    u->len = len;
    u->data = malloc(len + 1);
    assert_non_null(u->data);
    memcpy(u->data, data, len);
}

void itset(ProtobufCBinaryData *d, const char *s)
{
    itset_raw(d, s, strlen(s));
}

static void send_frame(struct client_conn *c, const Frame *f)
{
    if (!client_send(c, f))
        fail_msg("sending request id %llu failed", (unsigned long long)f->id);
}

void itsend_submit(struct client_conn *c, uint64_t id, Minyi__V1__Report *r)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__SubmitRequest req = MINYI__V1__SUBMIT_REQUEST__INIT;
    req.report = r;
    f.id = id;
    f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
    f.submit = &req;
    send_frame(c, &f);
}

void itsend_status(struct client_conn *c, uint64_t id, const char *receipt)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__StatusRequest req = MINYI__V1__STATUS_REQUEST__INIT;
    req.receipt = frame_bytes(receipt);
    f.id = id;
    f.body_case = MINYI__V1__FRAME__BODY_STATUS;
    f.status = &req;
    send_frame(c, &f);
}

void itsend_list(struct client_conn *c, uint64_t id, uint32_t limit, const char *cursor)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ListMineRequest req = MINYI__V1__LIST_MINE_REQUEST__INIT;
    req.limit = limit;
    req.cursor = frame_bytes(cursor != NULL ? cursor : "");
    f.id = id;
    f.body_case = MINYI__V1__FRAME__BODY_LIST_MINE;
    f.list_mine = &req;
    send_frame(c, &f);
}

Frame *itrecv(struct client_conn *c, struct frame_arena **arena)
{
    char err[IT_ERR_LEN];
    Frame *f = client_recv(c, arena, err, sizeof(err));
    if (f == NULL)
        fail_msg("no answer: %s", err);
    return f;
}

/* Waits for the answer with this id; answers to other ids are a failure
 * here, because these helpers are used without other requests in flight. */
static Frame *wait_for(struct client_conn *c, uint64_t id, struct frame_arena **arena)
{
    Frame *f = itrecv(c, arena);
    if (f->id != id)
        fail_msg("answer for id %llu while waiting for %llu", (unsigned long long)f->id,
                 (unsigned long long)id);
    return f;
}

pid_t itspawn(const char *const *argv, const char *out_path, const char *err_path)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(127);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* argv for `minyi --profile profile args...`, in out (IT_CLI_MAX_ARGS + 4). */
static void cli_argv(const char *profile, const char *const *args, const char **out)
{
    int n = 0;
    out[n++] = MINYI_CLI_PATH;
    out[n++] = "--profile";
    out[n++] = profile;
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(i < IT_CLI_MAX_ARGS);
        out[n++] = args[i];
    }
    out[n] = NULL;
}

pid_t itspawn_cli(const char *profile, const char *const *args, const char *out_path,
                  const char *err_path)
{
    const char *argv[IT_CLI_MAX_ARGS + 4];
    cli_argv(profile, args, argv);
    return itspawn(argv, out_path, err_path);
}

bool itmkdtemp(char *out, size_t len, const char *name)
{
    int n = snprintf(out, len, "/tmp/minyi-%s-XXXXXX", name);
    return n > 0 && (size_t)n < len && mkdtemp(out) != NULL;
}

void itrmtree(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
}

long long itexpect_denied_close(struct client_conn *c, long long max_ms)
{
    char err[512];
    struct frame_arena *arena = NULL;
    long long t0 = itnow_ms();
    Frame *f = client_recv(c, &arena, err, sizeof(err));
    if (f == NULL)
        fail_msg("expected an Error frame before the close: %s", err);
    assert_int_equal(f->id, 0);
    itexpect_error(f, MINYI__V1__ERROR_CODE__PERMISSION_DENIED, "certificate");
    frame_arena_free(arena);
    arena = NULL;
    f = client_recv(c, &arena, err, sizeof(err));
    if (f != NULL)
        fail_msg("expected a close, got a frame with id %llu", (unsigned long long)f->id);
    long long took = itnow_ms() - t0;
    if (client_err_is(err, CLIENT_ERR_TIMEOUT) || took > max_ms)
        fail_msg("the connection was not closed within %lld ms (%lld ms): %s", max_ms, took, err);
    return took;
}

void itslurp(const char *path, char *buf, size_t len)
{
    FILE *fp = fopen(path, "r");
    size_t n = fp != NULL ? fread(buf, 1, len - 1, fp) : 0;
    buf[n] = '\0';
    if (fp != NULL)
        fclose(fp);
}

int itrun(const char *dir, const char *const *argv, char *out, char *err, size_t len)
{
    char out_path[PATH_MAX], err_path[PATH_MAX];
    int status;

    snprintf(out_path, sizeof out_path, "%s/out", dir);
    snprintf(err_path, sizeof err_path, "%s/err", dir);
    pid_t pid = itspawn(argv, out_path, err_path);
    while (waitpid(pid, &status, 0) < 0)
        assert_int_equal(errno, EINTR);
    int rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    itslurp(out_path, out, len);
    itslurp(err_path, err, len);
    fprintf(stderr, "$");
    for (size_t i = 0; argv[i] != NULL; i++)
        fprintf(stderr, " %s", argv[i]);
    fprintf(stderr, " -> %d\n%s%s", rc, out, err);
    return rc;
}

int itrun_cli(const char *dir, const char *profile, const char *const *args, char *out,
              char *err, size_t len)
{
    const char *argv[IT_CLI_MAX_ARGS + 4];
    cli_argv(profile, args, argv);
    return itrun(dir, argv, out, err, len);
}

int itrun_minyid(const char *dir, const struct tgw *gw, const char *const *args, char *out,
                 char *err, size_t len)
{
    const char *argv[IT_CLI_MAX_ARGS + 4];
    int n = 0;
    argv[n++] = MINYID_PATH;
    argv[n++] = "-c";
    argv[n++] = gw->conf;
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_true(i < IT_CLI_MAX_ARGS);
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    return itrun(dir, argv, out, err, len);
}

void itexpect_contains(const char *haystack, const char *needle)
{
    if (strstr(haystack, needle) == NULL)
        fail_msg("\"%s\" not found in:\n%s", needle, haystack);
}

void itfirst_line(const char *text, char *out, size_t len)
{
    size_t n = strcspn(text, "\n");
    if (n >= len)
        n = len - 1;
    memcpy(out, text, n);
    out[n] = '\0';
}

void itwrite_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        fail_msg("cannot write %s: %s", path, strerror(errno));
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

void itpublic_key(const char *dir, char *path, size_t len)
{
    uint8_t key[32];
    char hex[2 * sizeof key + 1];

    snprintf(path, len, "%s/public.key", dir);
    if (RAND_bytes(key, sizeof key) != 1)
        fail_msg("RAND_bytes failed");
    hex_encode(key, sizeof key, hex);
    itwrite_file(path, hex);
    if (chmod(path, 0600) != 0)
        fail_msg("chmod %s: %s", path, strerror(errno));
}

void itposter_token(const char *dir, const char *profile, bool rotate, char *token, size_t len)
{
    char svg[PATH_MAX], url[IT_POSTER_URL_MAX];
    char *out = malloc(IT_POSTER_OUT_MAX), *err = malloc(IT_POSTER_OUT_MAX);

    assert_non_null(out);
    assert_non_null(err);
    snprintf(svg, sizeof svg, "%s/poster.svg", dir);
    const char *const plain[] = { "poster", "--svg", svg, NULL };
    const char *const rot[] = { "poster", "--rotate", "--svg", svg, NULL };
    assert_int_equal(itrun_cli(dir, profile, rotate ? rot : plain, out, err, IT_POSTER_OUT_MAX), 0);
    itfirst_line(out, url, sizeof url);
    free(out);
    free(err);
    const char *t = strstr(url, "?t=");
    if (t == NULL)
        fail_msg("minyi poster printed no URL with a token: %s", url);
    snprintf(token, len, "%s", t + 3);
}

Frame *itcall(struct client_conn *c, Frame *f, struct frame_arena **arena)
{
    char err[256];
    f->id = client_next_id(c);
    Frame *r = client_call(c, f, arena, err, sizeof(err));
    if (r == NULL)
        fail_msg("no answer: %s", err);
    return r;
}

const Minyi__V1__ShowResponse *itshow_ok(struct client_conn *c, const char *receipt,
                                         struct frame_arena **arena)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ShowRequest q = MINYI__V1__SHOW_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    f.body_case = MINYI__V1__FRAME__BODY_SHOW;
    f.show = &q;
    Frame *ans = itcall(c, &f, arena);
    if (ans->body_case != MINYI__V1__FRAME__BODY_SHOW_OK)
        itexpect_error(ans, 0, NULL); /* fails, naming the error */
    return ans->show_ok;
}

Frame *itstats(struct client_conn *c, int64_t from_ms, int64_t to_ms, int by,
               struct frame_arena **a)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__StatsRequest q = MINYI__V1__STATS_REQUEST__INIT;
    q.from_ms = from_ms;
    q.to_ms = to_ms;
    q.by = by;
    f.body_case = MINYI__V1__FRAME__BODY_STATS;
    f.stats = &q;
    return itcall(c, &f, a);
}

void itclaim_ok(struct client_conn *c, const char *receipt)
{
    struct frame_arena *a = NULL;
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__ClaimRequest q = MINYI__V1__CLAIM_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    f.body_case = MINYI__V1__FRAME__BODY_CLAIM;
    f.claim = &q;
    Frame *ans = itcall(c, &f, &a);
    if (ans->body_case != MINYI__V1__FRAME__BODY_CLAIM_OK)
        itexpect_error(ans, 0, NULL); /* fails, naming the error */
    frame_arena_free(a);
}

void itdecide_req_ok(struct client_conn *c, Minyi__V1__DecideRequest *q)
{
    struct frame_arena *a = NULL;
    Frame f = MINYI__V1__FRAME__INIT;
    f.body_case = MINYI__V1__FRAME__BODY_DECIDE;
    f.decide = q;
    Frame *ans = itcall(c, &f, &a);
    if (ans->body_case != MINYI__V1__FRAME__BODY_DECIDE_OK)
        itexpect_error(ans, 0, NULL); /* fails, naming the error */
    frame_arena_free(a);
}

void itdecide_ok(struct client_conn *c, const char *receipt, int decision, const char *dest)
{
    Minyi__V1__DecideRequest q = MINYI__V1__DECIDE_REQUEST__INIT;
    ProtobufCBinaryData d = frame_bytes(dest != NULL ? dest : "");
    q.receipt = frame_bytes(receipt);
    q.decision = decision;
    if (dest != NULL) {
        q.destinations = &d;
        q.n_destinations = 1;
    }
    itdecide_req_ok(c, &q);
}

void itforward_ok(struct client_conn *c, const char *receipt, const char *dest)
{
    itdecide_ok(c, receipt, MINYI__V1__DECISION__FORWARD, dest);
}

void itsubmit_forwarded(struct client_conn *contact, struct client_conn *editor,
                        const char *situation, const char *dest, char *out)
{
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    assert_non_null(r);
    itsubmit_ok(contact, r, out);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    itclaim_ok(editor, out);
    itforward_ok(editor, out, dest);
}

Frame *itsubmit(struct client_conn *c, Minyi__V1__Report *r, struct frame_arena **arena)
{
    uint64_t id = client_next_id(c);
    itsend_submit(c, id, r);
    return wait_for(c, id, arena);
}

Frame *itstatus(struct client_conn *c, const char *receipt, struct frame_arena **arena)
{
    uint64_t id = client_next_id(c);
    itsend_status(c, id, receipt);
    return wait_for(c, id, arena);
}

Frame *itlist(struct client_conn *c, uint32_t limit, const char *cursor,
              struct frame_arena **arena)
{
    uint64_t id = client_next_id(c);
    itsend_list(c, id, limit, cursor);
    return wait_for(c, id, arena);
}

bool itbytes_is(const ProtobufCBinaryData *b, const char *want)
{
    return b->len == strlen(want) && memcmp(b->data, want, b->len) == 0;
}

bool itbytes_has(const ProtobufCBinaryData *b, const char *want)
{
    char buf[IT_TEXT_MAX];
    itcopy(b, buf, sizeof buf);
    return strstr(buf, want) != NULL;
}

const Minyi__V1__HistoryEntry *itstatus_entry(const Minyi__V1__StatusResponse *s,
                                              const char *action, const char *note)
{
    for (size_t i = 0; i < s->n_history; i++)
        if (itbytes_is(&s->history[i]->action, action) && itbytes_has(&s->history[i]->note, note))
            return s->history[i];
    fail_msg("no history entry %s with note %s", action, note);
    return NULL;
}

void itcopy(const ProtobufCBinaryData *b, char *out, size_t outlen)
{
    size_t n = b->len < outlen - 1 ? b->len : outlen - 1;
    if (n > 0)
        memcpy(out, b->data, n);
    out[n] = '\0';
}

static const char *body_name(int body_case)
{
    switch (body_case) {
    case MINYI__V1__FRAME__BODY_ERROR: return "error";
    case MINYI__V1__FRAME__BODY_SUBMIT_OK: return "submit_ok";
    case MINYI__V1__FRAME__BODY_STATUS_OK: return "status_ok";
    case MINYI__V1__FRAME__BODY_LIST_MINE_OK: return "list_mine_ok";
    case MINYI__V1__FRAME__BODY__NOT_SET: return "(none)";
    default: return "(request type)";
    }
}

void itexpect_error(const Frame *f, int code, const char *field)
{
    if (f->body_case != MINYI__V1__FRAME__BODY_ERROR)
        fail_msg("expected error %s field %s, got %s", client_error_code_name(code),
                 field ? field : "(any)", body_name(f->body_case));
    char got_field[128], msg[512];
    itcopy(&f->error->field, got_field, sizeof(got_field));
    itcopy(&f->error->message, msg, sizeof(msg));
    if ((int)f->error->code != code || (field != NULL && strcmp(got_field, field) != 0))
        fail_msg("expected error %s field %s, got %s field %s (%s)",
                 client_error_code_name(code), field ? field : "(any)",
                 client_error_code_name(f->error->code), got_field, msg);
    /* Every refusal carries a human message in both languages. */
    assert_true(f->error->message.len > 0);
    assert_true(f->error->message_zh.len > 0);
}

bool itreceipt_well_formed(const char *s)
{
    static regex_t re;
    static bool compiled;
    if (!compiled) {
        if (regcomp(&re, "^[0-9]{6}-[0-9]{4}-[0-9]{6}$", REG_EXTENDED | REG_NOSUB) != 0)
            return false;
        compiled = true;
    }
    return regexec(&re, s, 0, NULL, 0) == 0;
}

void itexpect_receipt(const Frame *f, char *out)
{
    char receipt[IT_RECEIPT_MAX];
    if (f->body_case == MINYI__V1__FRAME__BODY_ERROR) {
        char field[128], msg[512];
        itcopy(&f->error->field, field, sizeof(field));
        itcopy(&f->error->message, msg, sizeof(msg));
        fail_msg("expected a receipt for id %llu, got error %s field %s (%s)",
                 (unsigned long long)f->id, client_error_code_name(f->error->code), field, msg);
    }
    if (f->body_case != MINYI__V1__FRAME__BODY_SUBMIT_OK)
        fail_msg("expected submit_ok, got %s", body_name(f->body_case));
    itcopy(&f->submit_ok->receipt, receipt, sizeof(receipt));
    if (!itreceipt_well_formed(receipt))
        fail_msg("malformed receipt '%s'", receipt);
    assert_true(f->submit_ok->received_at_ms > 0);
    if (out != NULL)
        memcpy(out, receipt, sizeof(receipt));
}

void itsubmit_ok(struct client_conn *c, Minyi__V1__Report *r, char *out)
{
    struct frame_arena *arena = NULL;
    Frame *f = itsubmit(c, r, &arena);
    itexpect_receipt(f, out);
    frame_arena_free(arena);
}

void itsubmit_invalid(struct client_conn *c, Minyi__V1__Report *r, const char *field)
{
    struct frame_arena *arena = NULL;
    Frame *f = itsubmit(c, r, &arena);
    itexpect_error(f, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, field);
    frame_arena_free(arena);
}

static PGconn *db_connect(const char *conninfo)
{
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        char msg[IT_ERR_LEN];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        PQfinish(conn);
        fail_msg("database connection failed: %s", msg);
    }
    return conn;
}

void itdb_exec(const char *conninfo, const char *sql)
{
    PGconn *conn = db_connect(conninfo);
    PGresult *res = PQexec(conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        char msg[IT_ERR_LEN];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        PQclear(res);
        PQfinish(conn);
        fail_msg("%s: %s", sql, msg);
    }
    PQclear(res);
    PQfinish(conn);
}

char *itdb_text(const char *conninfo, const char *sql, int nparams, const char *const *params)
{
    PGconn *conn = db_connect(conninfo);
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        char msg[IT_ERR_LEN];
        snprintf(msg, sizeof(msg), "%s", PQerrorMessage(conn));
        PQclear(res);
        PQfinish(conn);
        fail_msg("%s: %s", sql, msg);
    }
    char *out = NULL;
    if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
        out = strdup(PQgetvalue(res, 0, 0));
        assert_non_null(out);
    }
    PQclear(res);
    PQfinish(conn);
    return out;
}

static long long count1(const char *conninfo, const char *sql, const char *param)
{
    long long n = tdb_scalar(conninfo, sql, 1, (const char *const[]){ param });
    if (n < 0)
        fail_msg("query failed: %s", sql);
    return n;
}

long long itdb_rows_receipt(const char *conninfo, const char *receipt)
{
    return count1(conninfo, "SELECT count(*) FROM reports WHERE receipt = $1", receipt);
}

long long itdb_rows_crid(const char *conninfo, const char *crid)
{
    return count1(conninfo, "SELECT count(*) FROM reports WHERE client_report_id = $1::uuid",
                  crid);
}

int itinst_down(struct itinst *const *all, size_t n, struct tpg *pg, bool pg_up,
                const char *dir)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        struct tgw *gws[2] = { &all[i]->gw, &all[i]->gw2 };
        for (size_t k = 0; k < 2; k++) {
            if (gws[k]->pid > 0) {
                int code = tgw_stop(gws[k], SIGTERM);
                if (code != 0) {
                    fprintf(stderr, "minyid (%s%s) exited with %d after SIGTERM\n",
                            all[i]->name, k ? ", second gateway" : "", code);
                    it_teardown_failed = true;
                    bad = 1;
                }
            }
        }
    }
    if (pg_up)
        tpg_destroy(pg);
    if (dir != NULL && dir[0] != '\0') {
        char cmd[PATH_MAX + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            bad = 1;
    }
    return bad ? -1 : 0;
}

bool itinst_up(struct tpg *pg, struct itinst *in, const char *db, const char *region,
               const char *name, const char *upper_dest, const struct itinst *upper,
               const char *peer_cert, int results_ms)
{
    return itinst_up_ini(pg, in, db, region, name, upper_dest, upper, peer_cert, results_ms,
                         NULL);
}

bool itinst_up_ini(struct tpg *pg, struct itinst *in, const char *db, const char *region,
                   const char *name, const char *upper_dest, const struct itinst *upper,
                   const char *peer_cert, int results_ms, const char *extra)
{
    char *ini = in->ini;
    size_t cap = sizeof in->ini;
    int n;

    in->region = region;
    in->name = name;
    if (!tpg_create_db(pg, db, in->conninfo, sizeof in->conninfo))
        return false;
    n = snprintf(ini, cap, "[gateway]\nbody_region = %s\nbody_name = %s\n", region, name);
    if (upper != NULL)
        n += snprintf(ini + n, cap - (size_t)n,
                      "[triage]\ndestinations = %s\n"
                      "[forward]\npoll_ms = 100\nresults_interval_ms = %d\n"
                      "backoff_min_ms = 200\nbackoff_max_ms = 800\ntimeout_ms = 5000\n"
                      "[peer.%s]\nhost = 127.0.0.1\nport = %d\nca = %s\nserver_name = localhost\n"
                      "cert = %s\nkey = %s\n",
                      upper_dest, results_ms, upper_dest, upper->gw.port, tcert("ca", "crt"),
                      tcert(peer_cert, "crt"), tcert(peer_cert, "key"));
    if (extra != NULL && (size_t)n < cap)
        n += snprintf(ini + n, cap - (size_t)n, "%s", extra);
    if ((size_t)n >= cap)
        return false;
    return tgw_start(&in->gw, in->conninfo, ini) &&
           tprincipal_add(in->conninfo, "editor1", "editor", region, true) > 0;
}

bool itinst_chain_up(struct tpg *pg, struct itinst *prov, struct itinst *city,
                     struct itinst *dist, int results_ms)
{
    return itinst_chain_up_ini(pg, prov, city, dist, results_ms, NULL);
}

bool itinst_chain_up_ini(struct tpg *pg, struct itinst *prov, struct itinst *city,
                         struct itinst *dist, int results_ms, const char *city_extra)
{
    return itinst_up(pg, prov, "province", IT_PROV_REGION, IT_PROV_NAME, NULL, NULL, NULL,
                     results_ms) &&
           tprincipal_add(prov->conninfo, "peer2", "peer", IT_CITY_REGION, true) > 0 &&
           itinst_up_ini(pg, city, "city", IT_CITY_REGION, IT_CITY_NAME, "province", prov,
                         "peer2", results_ms, city_extra) &&
           tprincipal_add(city->conninfo, "peer1", "peer", IT_DIST_REGION, true) > 0 &&
           itinst_up(pg, dist, "district", IT_DIST_REGION, IT_DIST_NAME, "city", city, "peer1",
                     results_ms);
}

bool itinst_add_gw(struct itinst *in)
{
    char ini[sizeof in->ini + PATH_MAX + 64];
    int n = snprintf(ini, sizeof ini, "%s[privacy]\nkey_file = %s/pii.key\n", in->ini, in->gw.dir);

    if (n < 0 || (size_t)n >= sizeof ini) {
        fprintf(stderr, "itkit: the second gateway's config of %s is too long\n", in->name);
        return false;
    }
    return tgw_start(&in->gw2, in->conninfo, ini);
}

bool itwait_text(const char *conninfo, const char *sql, const char *param, const char *want,
                 int ms)
{
    const char *p[1] = { param };
    long long until = itnow_ms() + ms;
    do {
        char *v = itdb_text(conninfo, sql, param != NULL ? 1 : 0, param != NULL ? p : NULL);
        bool ok = v != NULL && strcmp(v, want) == 0;
        free(v);
        if (ok)
            return true;
        itsleep_ms(50);
    } while (itnow_ms() < until);
    return false;
}

long long itnow_ms(void)
{
    return (long long)clock_mono_ms();
}

void itsleep_ms(int ms)
{
    clock_sleep_ms(ms);
}

/* Set by itskip, read by itexit: cmocka reports no count of skipped tests. */
static bool it_skipped;

void itskip(const char *why)
{
    print_message("skipped: %s\n", why);
    it_skipped = true;
    skip();
    /* skip() leaves the test through cmocka's longjmp. */
    abort();
}

int itexit(int failed)
{
    /* One status for any number of failures, so that no count of them can
     * read as IT_SKIP_RC or wrap to 0. */
    if (failed != 0)
        return 1;
    return it_skipped ? IT_SKIP_RC : 0;
}

int itexit_strict(int failed)
{
    return it_teardown_failed ? 1 : itexit(failed);
}

bool itaudit_ini(const char *dir, int sign_every, char *ini, size_t len)
{
    char cmd[PATH_MAX + 128];
    snprintf(cmd, sizeof cmd,
             "umask 077 && openssl genpkey -algorithm ed25519 -out '%s/audit.key' 2>/dev/null", dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "itkit: cannot make %s/audit.key\n", dir);
        return false;
    }
    int n = snprintf(ini, len,
                     "[audit]\nseal_interval_ms = 100\nsign_every = %d\n"
                     "signing_key_file = %s/audit.key\n", sign_every, dir);
    return n > 0 && (size_t)n < len;
}

void itinst_forward(const struct itinst *in, const char *receipt, const char *dest, char *up)
{
    static const char *const delivered_sql =
        "SELECT o.state IN ('delivered', 'result')::text FROM outbox o"
        " JOIN reports r ON r.id = o.report_id WHERE r.receipt = $1";
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    itclaim_ok(ed, receipt);
    itforward_ok(ed, receipt, dest);
    client_close(ed);
    if (!itwait_text(in->conninfo, delivered_sql, receipt, "true", IT_INST_WITHIN_MS))
        fail_msg("%s: %s was not delivered", in->name, receipt);
    char *v = itdb_text(in->conninfo,
                        "SELECT o.upstream_receipt FROM outbox o JOIN reports r"
                        " ON r.id = o.report_id WHERE r.receipt = $1",
                        1, (const char *const[]){receipt});
    if (v == NULL)
        fail_msg("%s: %s has no receipt above", in->name, receipt);
    snprintf(up, IT_RECEIPT_MAX, "%s", v);
    free(v);
}

Frame *itinst_instruct(const struct itinst *in, const char *cert, const char *receipt, int level,
                       const char *text, int64_t given_at_ms, struct frame_arena **a)
{
    struct client_conn *c = itconnect_gw(&in->gw, cert);
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__InstructRequest q = MINYI__V1__INSTRUCT_REQUEST__INIT;
    q.receipt = frame_bytes(receipt);
    q.level = level;
    q.text = frame_bytes(text);
    q.leader = frame_bytes("省委副书记");
    q.given_at_ms = given_at_ms;
    f.body_case = MINYI__V1__FRAME__BODY_INSTRUCT;
    f.instruct = &q;
    Frame *ans = itcall(c, &f, a);
    client_close(c);
    return ans;
}

void itinst_expect_state(const struct itinst *in, const char *receipt, const char *state)
{
    if (!itwait_text(in->conninfo, "SELECT state FROM reports WHERE receipt = $1", receipt, state,
                     IT_INST_WITHIN_MS))
        fail_msg("%s: %s never became %s", in->name, receipt, state);
}

long itstatus_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t n = strlen(field);
    long kb = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, field, n) == 0 && line[n] == ':' &&
            sscanf(line + n + 1, " %ld kB", &kb) == 1)
            break;
    fclose(f);
    if (kb < 0)
        fail_msg("no %s in %s", field, path);
    return kb;
}

long itrss_kb(pid_t pid)
{
    return itstatus_kb(pid, "VmRSS");
}

long long itcpu_ms(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut = 0, st = 0;

    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may contain anything; the fields follow its ')'. */
    char *p = strrchr(buf, ')');
    /* state ppid pgrp session tty_nr tpgid flags minflt cminflt majflt
     * cmajflt utime stime */
    if (p == NULL || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                            &ut, &st) != 2)
        fail_msg("cannot read the CPU times in %s", path);
    return (long long)((ut + st) * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

void itraise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* The value of one sample (series is the name with its labels exactly as
 * rendered, e.g. minyi_errors_total{code="INVALID_ARGUMENT"}), or NAN when
 * the page has no such sample. */
double itmetric(const char *page, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = page; p != NULL && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}
