/*
 * cli_triage_run: runs one of the editors' commands (cli_triage_main, see
 * cli_triage.h): parse, build, send on a fresh connection and print the
 * answer — or, for `attachment`, check the file's SHA-256 and write it,
 * and for `watch`, subscribe and print one line per pushed QueueEvent
 * until interrupted or the connection drops.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cli_triage.h"
#include "cli_triage_show.h"
#include "cli_util.h"
#include "client_err.h"

/* Writes an attachment to a new file after checking that its content is
 * what its SHA-256 says; answers the exit status. */
static int save_attachment(const struct cli_triage_args *a, const Minyi__V1__Attachment *x)
{
    char path[PATH_MAX], err[CLI_ERR_LEN], hex[CLI_TRIAGE_SHA256_HEX];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;

    if (EVP_Digest(x->content.data != NULL ? x->content.data : (const uint8_t *)"",
                   x->content.len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
        x->sha256.len != mdlen || memcmp(md, x->sha256.data, mdlen) != 0)
        return cli_report_failure(a->json, CLIENT_ERR_PROTOCOL
                                  "the attachment's content does not match its SHA-256");
    if (a->out != NULL)
        snprintf(path, sizeof(path), "%s", a->out);
    else if (x->name.len == 0 || x->name.len >= sizeof(path) ||
             memchr(x->name.data, '/', x->name.len) != NULL)
        return cli_report_failure(a->json, CLIENT_ERR_PROTOCOL
                                  "the attachment's name is not a file name; give --out FILE");
    else
        snprintf(path, sizeof(path), "%.*s", (int)x->name.len, (const char *)x->name.data);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (fp == NULL) {
        snprintf(err, sizeof(err), "attachment: cannot create %.900s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return cli_report_invalid(a->json, err);
    }
    bool ok = fwrite(x->content.data, 1, x->content.len, fp) == x->content.len;
    ok = fclose(fp) == 0 && ok;
    if (!ok) {
        unlink(path);
        snprintf(err, sizeof(err), "attachment: cannot write %.900s", path);
        return cli_report_invalid(a->json, err);
    }
    cli_hex(&x->sha256, hex, sizeof(hex));
    if (a->json) {
        json_t *j = json_pack("{s:s,s:o,s:o,s:I,s:s}", "file", path, "name", cli_jbytes(&x->name),
                              "media_type", cli_jbytes(&x->media_type), "size",
                              (json_int_t)x->content.len, "sha256", hex);
        if (j != NULL)
            cli_print_json(j);
    } else {
        printf("%s\t%zu bytes\tsha256=%s\n", path, x->content.len, hex);
    }
    return CLI_EXIT_DONE;
}

static void print_answer(const struct cli_triage_args *a, const Frame *ans)
{
    char st[32], when[64];
    bool json = a->json;
    json_t *j = NULL;
    switch (a->cmd) {
    case CLI_TRIAGE_QUEUE:
        cli_triage_print_queue(json, ans->queue_ok);
        return;
    case CLI_TRIAGE_SHOW:
        cli_triage_print_show(json, ans->show_ok);
        return;
    case CLI_TRIAGE_CLAIM:
    case CLI_TRIAGE_RENEW: {
        const Minyi__V1__ClaimResponse *c = ans->claim_ok;
        if (json) {
            j = json_pack("{s:o,s:I}", "receipt", cli_jbytes(&c->receipt), "expires_ms",
                          (json_int_t)c->expires_ms);
            break;
        }
        cli_format_time(c->expires_ms, when, sizeof(when));
        cli_print_bytes(&c->receipt);
        printf(" %s until %s\n", a->cmd == CLI_TRIAGE_CLAIM ? "claimed" : "renewed", when);
        return;
    }
    case CLI_TRIAGE_RELEASE:
        if (json) {
            j = json_pack("{s:s,s:b}", "receipt", a->receipt, "released", 1);
            break;
        }
        printf("%s released\n", a->receipt);
        return;
    case CLI_TRIAGE_EDIT: {
        const Minyi__V1__EditResponse *e = ans->edit_ok;
        if (json) {
            j = json_pack("{s:o,s:I}", "receipt", cli_jbytes(&e->receipt), "version",
                          (json_int_t)e->version);
            break;
        }
        cli_print_bytes(&e->receipt);
        printf(" version %u\n", e->version);
        return;
    }
    case CLI_TRIAGE_ADOPT:
    case CLI_TRIAGE_REJECT:
    case CLI_TRIAGE_RETURN:
    case CLI_TRIAGE_MERGE:
    case CLI_TRIAGE_FORWARD:
    case CLI_TRIAGE_INSTRUCT:
    case CLI_TRIAGE_RESPOND: {
        const Minyi__V1__DecideResponse *d = ans->decide_ok;
        cli_state_text(d->state, st, sizeof(st));
        if (json) {
            j = json_pack("{s:o,s:s}", "receipt", cli_jbytes(&d->receipt), "state", st);
            break;
        }
        cli_print_bytes(&d->receipt);
        printf(" %s\n", st);
        return;
    }
    case CLI_TRIAGE_WATCH:
    case CLI_TRIAGE_ATTACHMENT:
    case CLI_TRIAGE_N_CMDS:
        abort(); /* watch prints its own events, attachment writes a file */
    }
    if (j != NULL)
        cli_print_json(j);
}

/* The answer's message is present (protobuf-c leaves a oneof member NULL
 * only when the frame is malformed, but the gateway is not trusted). */
static bool answer_present(const Frame *f)
{
    switch (f->body_case) {
    case MINYI__V1__FRAME__BODY_QUEUE_OK:
        return f->queue_ok != NULL;
    case MINYI__V1__FRAME__BODY_SHOW_OK:
        return f->show_ok != NULL;
    case MINYI__V1__FRAME__BODY_CLAIM_OK:
        return f->claim_ok != NULL;
    case MINYI__V1__FRAME__BODY_EDIT_OK:
        return f->edit_ok != NULL;
    case MINYI__V1__FRAME__BODY_DECIDE_OK:
        return f->decide_ok != NULL;
    case MINYI__V1__FRAME__BODY_OK:
        return f->ok != NULL;
    case MINYI__V1__FRAME__BODY_ATTACHMENT_OK:
        return f->attachment_ok != NULL;
    default:
        return false;
    }
}

/* ---- watch --------------------------------------------------------------- */

static void print_event(bool json, const Minyi__V1__QueueEvent *e)
{
    char st[32], when[64];
    cli_state_text(e->state, st, sizeof(st));
    if (json) {
        json_t *j = json_pack("{s:o,s:o,s:s,s:o,s:I}", "kind", cli_jbytes(&e->kind), "receipt",
                              cli_jbytes(&e->receipt), "state", st, "actor", cli_jbytes(&e->actor),
                              "at_ms", (json_int_t)e->at_ms);
        if (j != NULL)
            cli_print_json_line(j);
    } else {
        cli_format_time(e->at_ms, when, sizeof(when));
        printf("%s\t", when);
        cli_print_bytes(&e->kind);
        fputc('\t', stdout);
        cli_print_bytes(&e->receipt);
        printf("\t%s\t", st);
        cli_print_bytes(&e->actor);
        fputc('\n', stdout);
    }
    /* A watcher is usually piped into another program: every event must
     * leave at once, not when a buffer fills. */
    fflush(stdout);
}

/* Subscribes and prints events until the connection ends.  A quiet period
 * longer than the profile's timeout is normal here, so a receive timeout
 * only means "nothing happened yet". */
static int run_watch(const struct cli_triage_args *a, const struct client_profile *p,
                     struct cli_triage_request *r)
{
    char err[CLI_ERR_LEN];
    struct frame_arena *arena = NULL;
    int rc;
    struct client_conn *c = client_connect(p, err, sizeof(err));
    if (c == NULL)
        return cli_report_failure(a->json, err);
    r->frame.id = client_next_id(c);
    Frame *ans = client_call(c, &r->frame, &arena, err, sizeof(err));
    if (ans == NULL) {
        rc = cli_report_failure(a->json, err);
        goto done;
    }
    if (ans->body_case == MINYI__V1__FRAME__BODY_ERROR && ans->error != NULL) {
        rc = cli_report_error_frame(a->json, ans->error);
        goto done;
    }
    if (ans->body_case != MINYI__V1__FRAME__BODY_OK) {
        rc = cli_report_failure(a->json, CLIENT_ERR_PROTOCOL "unexpected answer to watch");
        goto done;
    }
    /* Said once the watch is in force, so a program reading the events
     * knows that a listing of the queue made from now on misses nothing
     * (PROTOCOL.md §3.12.9). */
    if (!a->json) {
        fputs("watching the queue; interrupt to stop\n", stderr);
    } else {
        json_t *j = json_pack("{s:b}", "watching", 1);
        if (j != NULL)
            cli_print_json_line(j);
        fflush(stdout);
    }
    /* From here on standard output is one JSON object per event; an error
     * goes to standard error only, so the stream stays parseable. */
    for (;;) {
        frame_arena_free(arena);
        arena = NULL;
        Frame *f = client_recv(c, &arena, err, sizeof(err));
        if (f == NULL) {
            if (client_err_is(err, CLIENT_ERR_TIMEOUT))
                continue;
            rc = cli_report_failure(false, err);
            goto done;
        }
        if (f->body_case == MINYI__V1__FRAME__BODY_ERROR && f->error != NULL) {
            rc = cli_report_error_frame(false, f->error);
            goto done;
        }
        if (f->body_case == MINYI__V1__FRAME__BODY_QUEUE_EVENT && f->queue_event != NULL)
            print_event(a->json, f->queue_event);
        /* Anything else is not addressed to a watcher; ignore it. */
    }
done:
    frame_arena_free(arena);
    client_close(c);
    return rc;
}

/* ---- main ---------------------------------------------------------------- */

int cli_triage_main(int argc, char **argv, void (*usage)(FILE *out))
{
    struct cli_triage_args a;
    struct cli_triage_request r;
    struct client_profile profile;
    struct frame_arena *arena = NULL;
    char err[CLI_ERR_LEN];

    bool parsed = cli_triage_parse(argc, argv, &a, err, sizeof(err));
    int rc = cli_command_begin(parsed, err, a.help, a.profile_path, &profile, usage);
    if (rc >= 0)
        return rc;
    rc = CLI_EXIT_DONE;
    if (!cli_triage_build(&a, &r, err, sizeof(err))) {
        rc = cli_report_invalid(a.json, err);
        goto done;
    }
    if (a.cmd == CLI_TRIAGE_WATCH) {
        rc = run_watch(&a, &profile, &r);
        goto done;
    }
    Frame *ans = cli_call_expect(&profile, a.json, &r.frame, r.answer, &arena, &rc);
    if (ans != NULL) {
        if (answer_present(ans) && a.cmd == CLI_TRIAGE_ATTACHMENT)
            rc = save_attachment(&a, ans->attachment_ok);
        else if (answer_present(ans))
            print_answer(&a, ans);
        else
            rc = cli_report_failure(a.json, CLIENT_ERR_PROTOCOL "answer without a body");
    }
    frame_arena_free(arena);
done:
    cli_triage_request_free(&r);
    return cli_command_end(rc);
}
