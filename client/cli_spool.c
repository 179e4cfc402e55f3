/*
 * cli_spool: submissions sent through the spool (see cli_spool.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "clock.h"
#include "cli_spool.h"
#include "cli_util.h"
#include "client_err.h"
#include "spool.h"

#define CLI_BACKOFF_FIRST_MS 500
#define CLI_BACKOFF_MAX_MS 8000
/* A gateway's retry_after_ms is honoured up to this much. */
#define CLI_RETRY_AFTER_MAX_MS 30000

enum sent {
    SENT_OK,      /* the gateway answered with a receipt */
    SENT_REFUSED, /* it refused for good (or the entry cannot be read) */
    SENT_WAITING, /* it could not be reached or could not take it now */
};

/* What became of one submission.  ans is the last answer (a receipt or an
 * Error frame) when there was one, else err says what failed. */
struct sent_result {
    enum sent outcome;
    Frame *ans;
    struct frame_arena *arena;
    char err[CLI_ERR_LEN];
};

static int backoff_ms(int attempt, uint32_t retry_after_ms)
{
    if (retry_after_ms > 0)
        return retry_after_ms > CLI_RETRY_AFTER_MAX_MS ? CLI_RETRY_AFTER_MAX_MS : (int)retry_after_ms;
    int64_t ms = (int64_t)CLI_BACKOFF_FIRST_MS << (attempt > 10 ? 10 : attempt - 1);
    return ms > CLI_BACKOFF_MAX_MS ? CLI_BACKOFF_MAX_MS : (int)ms;
}

/* The tests' way to kill the CLI at a chosen moment (see cli_spool.h). */
static void crash_point(const char *where)
{
    const char *at = getenv(CLI_SPOOL_CRASH_ENV);
    if (at != NULL && strcmp(at, where) == 0) {
        fflush(NULL);
        raise(SIGKILL);
    }
}

/* One attempt on a fresh connection. */
static Frame *send_once(const struct client_profile *p, Frame *req, struct frame_arena **arena,
                        char *err, size_t errlen)
{
    *arena = NULL;
    struct client_conn *c = client_connect(p, err, errlen);
    if (c == NULL)
        return NULL;
    req->id = client_next_id(c);
    Frame *ans = NULL;
    if (client_send_why(c, req, err, errlen)) {
        crash_point("sent");
        ans = client_await(c, req->id, arena, err, errlen);
    }
    client_close(c);
    return ans;
}

static bool code_is_transient(int code)
{
    return code == MINYI__V1__ERROR_CODE__UNAVAILABLE ||
           code == MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED ||
           code == MINYI__V1__ERROR_CODE__INTERNAL;
}

/* Sends req, trying again up to retries times after a failure that
 * another try may cure; every try carries the same client_report_id, so
 * the gateway keeps one report however many arrive. */
static void send_with_retries(const struct client_profile *p, Frame *req, int retries,
                              struct sent_result *res)
{
    uint32_t retry_after = 0;
    res->ans = NULL;
    res->arena = NULL;
    res->err[0] = '\0';
    for (int attempt = 0;; attempt++) {
        if (attempt > 0)
            clock_sleep_ms(backoff_ms(attempt, retry_after));
        retry_after = 0;
        frame_arena_free(res->arena);
        res->arena = NULL;
        res->ans = send_once(p, req, &res->arena, res->err, sizeof(res->err));
        if (res->ans == NULL) {
            res->outcome = cli_failure_is_transient(res->err) ? SENT_WAITING : SENT_REFUSED;
            if (res->outcome == SENT_WAITING && attempt < retries) {
                fprintf(stderr, "minyi: %s; trying again\n", res->err);
                continue;
            }
            return;
        }
        if (res->ans->body_case == MINYI__V1__FRAME__BODY_ERROR && res->ans->error != NULL) {
            int code = res->ans->error->code;
            res->outcome = code_is_transient(code) ? SENT_WAITING : SENT_REFUSED;
            if (res->outcome == SENT_WAITING && attempt < retries) {
                retry_after = res->ans->error->retry_after_ms;
                fprintf(stderr, "minyi: %s from the gateway; trying again\n",
                        client_error_code_name(code));
                continue;
            }
            return;
        }
        if (res->ans->body_case != MINYI__V1__FRAME__BODY_SUBMIT_OK || res->ans->submit_ok == NULL) {
            snprintf(res->err, sizeof(res->err), CLIENT_ERR_PROTOCOL "unexpected answer to %s",
                     req->body_case == MINYI__V1__FRAME__BODY_RESUBMIT ? "resubmit" : "submit");
            frame_arena_free(res->arena);
            res->arena = NULL;
            res->ans = NULL;
            res->outcome = SENT_REFUSED;
            return;
        }
        res->outcome = SENT_OK;
        return;
    }
}

/* Prints the error of a submission that did not get through; answers the
 * exit status for it. */
static int report_not_sent(bool json, const struct sent_result *res, json_t *extra)
{
    if (res->ans != NULL && res->ans->body_case == MINYI__V1__FRAME__BODY_ERROR &&
        res->ans->error != NULL)
        return cli_report_error_frame_with(json, res->ans->error, extra);
    return cli_report_failure_with(json, res->err, extra);
}

/* Sends the waiting entry crid and settles it: gone once the gateway has
 * it, marked refused when the gateway will never take it (or the file is
 * damaged), left alone while the gateway cannot be reached. */
static void send_entry(const struct client_profile *p, const char *crid, int retries,
                       struct sent_result *res)
{
    char err[CLI_ERR_LEN];
    struct frame_arena *stored_arena = NULL;
    Frame *stored = spool_load(p->spool, crid, &stored_arena, res->err, sizeof(res->err));
    res->ans = NULL;
    res->arena = NULL;
    if (stored == NULL) {
        res->outcome = SENT_REFUSED;
        if (!spool_mark_refused(p->spool, crid, err, sizeof(err)))
            fprintf(stderr, "minyi: %s\n", err);
        return;
    }
    send_with_retries(p, stored, retries, res);
    frame_arena_free(stored_arena);
    bool ok = true;
    if (res->outcome == SENT_OK)
        ok = spool_remove(p->spool, crid, err, sizeof(err));
    else if (res->outcome == SENT_REFUSED)
        ok = spool_mark_refused(p->spool, crid, err, sizeof(err));
    if (!ok)
        fprintf(stderr, "minyi: %s\n", err);
}

/* After a submission got through, the gateway is there: whatever else
 * waits goes too, each tried once, and the first that cannot get through
 * leaves the rest for later.  Said on standard error, so the receipt stays
 * the first line of standard output. */
static void send_others(const struct client_profile *p, const char *skip)
{
    char err[CLI_ERR_LEN];
    struct spool_entry *v = NULL;
    size_t n = 0;
    if (!spool_list(p->spool, &v, &n, err, sizeof(err))) {
        fprintf(stderr, "minyi: %s\n", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i].refused || strcmp(v[i].crid, skip) == 0)
            continue;
        struct sent_result res;
        send_entry(p, v[i].crid, 0, &res);
        if (res.outcome == SENT_OK) {
            fprintf(stderr, "minyi: spooled %s sent: receipt %.*s\n", v[i].crid,
                    (int)res.ans->submit_ok->receipt.len,
                    (const char *)res.ans->submit_ok->receipt.data);
        } else {
            fprintf(stderr, "minyi: spooled %s %s:\n", v[i].crid,
                    res.outcome == SENT_REFUSED ? "refused" : "still waits");
            report_not_sent(false, &res, NULL);
        }
        frame_arena_free(res.arena);
        if (res.outcome == SENT_WAITING)
            break;
    }
    free(v);
}

static json_t *crid_extra(const char *crid, bool spooled)
{
    return json_pack("{s:s,s:b}", "client_report_id", crid, "spooled", spooled);
}

int cli_spool_submit(const struct client_profile *p, bool json, int retries, const char *crid,
                     Frame *req, Frame **ok, struct frame_arena **arena)
{
    char err[CLI_ERR_LEN], why[CLI_ERR_LEN / 2];
    struct sent_result res;

    *ok = NULL;
    *arena = NULL;
    if (!spool_put(p->spool, crid, req, why, sizeof(why))) {
        snprintf(err, sizeof(err), CLIENT_ERR_CONFIG "%s; nothing was sent", why);
        int rc = cli_report_failure_with(json, err, crid_extra(crid, false));
        fprintf(stderr, "minyi: client_report_id=%s\n", crid);
        return rc;
    }
    crash_point("spooled");
    send_with_retries(p, req, retries, &res);
    if (res.outcome == SENT_WAITING) {
        report_not_sent(json, &res, crid_extra(crid, true));
        fprintf(stderr,
                "minyi: SPOOLED the report waits in the spool %s as client_report_id=%s; "
                "`minyi spool` sends it, and so does the next submit\n",
                p->spool, crid);
        frame_arena_free(res.arena);
        return CLI_EXIT_SPOOLED;
    }
    /* The gateway answered: with a receipt, or with a refusal the user
     * reads now, so the entry has served its purpose either way. */
    if (!spool_remove(p->spool, crid, err, sizeof(err)))
        fprintf(stderr, "minyi: %s\n", err);
    if (res.outcome == SENT_REFUSED) {
        int rc = report_not_sent(json, &res, crid_extra(crid, false));
        fprintf(stderr, "minyi: client_report_id=%s\n", crid);
        frame_arena_free(res.arena);
        return rc;
    }
    send_others(p, crid);
    *ok = res.ans;
    *arena = res.arena;
    return CLI_EXIT_DONE;
}

static const char *entry_state_name(enum sent s)
{
    return s == SENT_OK ? "sent" : s == SENT_REFUSED ? "refused" : "waiting";
}

/* What an entry holds, for the listing: the title, and the receipt a
 * resubmission revises (empty for a new report). */
static void entry_summary(const struct client_profile *p, const char *crid, json_t *obj)
{
    char err[CLI_ERR_LEN];
    struct frame_arena *arena = NULL;
    Frame *f = spool_load(p->spool, crid, &arena, err, sizeof(err));
    const Minyi__V1__Report *r = NULL;
    if (f != NULL && f->body_case == MINYI__V1__FRAME__BODY_SUBMIT && f->submit != NULL)
        r = f->submit->report;
    else if (f != NULL && f->body_case == MINYI__V1__FRAME__BODY_RESUBMIT && f->resubmit != NULL) {
        r = f->resubmit->report;
        json_object_set_new(obj, "resubmits", cli_jbytes(&f->resubmit->receipt));
    }
    if (r != NULL)
        json_object_set_new(obj, "title", cli_jbytes(&r->title));
    frame_arena_free(arena);
}

static void print_entry_line(const json_t *e)
{
    char when[64];
    cli_format_time(json_integer_value(json_object_get(e, "spooled_at_ms")), when, sizeof(when));
    const char *receipt = json_string_value(json_object_get(e, "receipt"));
    const char *error = json_string_value(json_object_get(e, "error"));
    const char *title = json_string_value(json_object_get(e, "title"));
    const char *resubmits = json_string_value(json_object_get(e, "resubmits"));
    printf("%s\t%s\t%s\t%s%s%s%s%s\n", json_string_value(json_object_get(e, "client_report_id")),
           json_string_value(json_object_get(e, "state")), when,
           receipt != NULL ? receipt : "-", resubmits != NULL ? "\tresubmits " : "",
           resubmits != NULL ? resubmits : "", title != NULL ? "\t" : "", title != NULL ? title : "");
    if (error != NULL)
        printf("\t%s\n", error);
}

/* The error of an entry that did not get through, as one line of text. */
static json_t *error_text(const struct sent_result *res)
{
    char buf[CLI_ERR_LEN];
    const Minyi__V1__Error *e =
        res->ans != NULL && res->ans->body_case == MINYI__V1__FRAME__BODY_ERROR ? res->ans->error
                                                                               : NULL;
    if (e == NULL)
        return json_string(res->err);
    snprintf(buf, sizeof(buf), "%s %.*s: %.*s", client_error_code_name(e->code), (int)e->field.len,
             (const char *)e->field.data, (int)e->message.len, (const char *)e->message.data);
    return json_string(buf);
}

int cli_spool_command(const struct client_profile *p, bool json, bool send, int retries)
{
    char err[CLI_ERR_LEN];
    struct spool_entry *v = NULL;
    size_t n = 0;
    bool waits = false, unreachable = false;

    if (!spool_list(p->spool, &v, &n, err, sizeof(err)))
        return cli_report_failure(json, err);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_pack("{s:s,s:s,s:I}", "client_report_id", v[i].crid, "state",
                              v[i].refused ? "refused" : "waiting", "spooled_at_ms",
                              (json_int_t)v[i].spooled_at_ms);
        if (e == NULL)
            continue;
        if (!v[i].refused)
            entry_summary(p, v[i].crid, e);
        /* Once the gateway could not be reached, the rest is not tried:
         * they would wait for the same reason. */
        if (send && !v[i].refused && !unreachable) {
            struct sent_result res;
            send_entry(p, v[i].crid, retries, &res);
            json_object_set_new(e, "state", json_string(entry_state_name(res.outcome)));
            if (res.outcome == SENT_OK)
                json_object_set_new(e, "receipt", cli_jbytes(&res.ans->submit_ok->receipt));
            else
                json_object_set_new(e, "error", error_text(&res));
            unreachable = res.outcome == SENT_WAITING;
            frame_arena_free(res.arena);
        }
        waits = waits || strcmp(json_string_value(json_object_get(e, "state")), "waiting") == 0;
        if (!json)
            print_entry_line(e);
        json_array_append_new(arr, e);
    }
    free(v);
    if (json) {
        json_t *j = json_pack("{s:s,s:o}", "spool", p->spool, "entries", arr);
        if (j != NULL)
            cli_print_json(j);
    } else {
        json_decref(arr);
        if (n == 0)
            printf("the spool %s is empty\n", p->spool);
    }
    return waits ? CLI_EXIT_SPOOLED : CLI_EXIT_DONE;
}

void cli_spool_usage(FILE *out)
{
    fputs("  spool [--list] [--retries N] [--json]\n"
          "        Lists the submissions kept in the profile's spool (CRID, state, when,\n"
          "        receipt, title) and sends the waiting ones; --list only lists.  A\n"
          "        submit or resubmit is written to the spool before it is sent and\n"
          "        stays there while the gateway cannot be reached (exit status 9);\n"
          "        a refused one stays as 'refused' until its file is removed.\n",
          out);
}
