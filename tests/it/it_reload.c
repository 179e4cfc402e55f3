/*
 * it_reload: SIGHUP.  The gateway reads its config, certificates and CRL
 * again: a changed limit applies at once, a connection whose principal was
 * disabled or whose certificate the new CRL revokes is closed, a new
 * connection with the revoked certificate is refused, and the other
 * connections carry on undisturbed on their old TLS sessions.
 *
 * The test revokes a certificate, so it works on its own copy of the test
 * CA (the shared one is used by tests running at the same time).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client_err.h"
#include "itkit.h"

#define CLOSE_MAX_MS 5000        /* a re-checked connection must close within this */
#define RATE_PER_S 1             /* the limit the reloaded config sets */
#define PIPELINED 5              /* requests sent at once against that limit */
#define RELOAD_NOTE_MS 500       /* ample for a reload's admin event to be stored */
#define SEAL_WAIT_MS 10000       /* a running sealer seals what waits within this */
#define UNSEALED_HOLD_MS 3000    /* far beyond the default interval of 1000 ms */
#define FIRST_ROUND_MS 1000      /* a new sealer's first round is done within this */

static struct itenv env;
static char cadir[64];

static void run(const char *cmd)
{
    int rc = system(cmd);
    if (rc != 0)
        fail_msg("command failed (%d): %s", rc, cmd);
}

static int setup(void **state)
{
    (void)state;
    char cmd[512], extra[256];
    snprintf(cadir, sizeof(cadir), "/tmp/minyi-reload-XXXXXX");
    if (mkdtemp(cadir) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd), "cp -rp '%s'/. '%s'/", MINYI_BINARY_DIR "/tests/certs", cadir);
    if (system(cmd) != 0)
        return -1;
    snprintf(extra, sizeof(extra), "[tls]\ncrl = %s/crl.pem\n[gateway]\nrate_per_s = 0\n", cadir);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    int rc = itenv_down(&env);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", cadir);
    if (system(cmd) != 0)
        return -1;
    return rc == 0 ? 0 : -1;
}

static void hup(void)
{
    assert_true(env.gw.pid > 0);
    assert_int_equal(kill(env.gw.pid, SIGHUP), 0);
}

/* How many lines of the gateway's log contain needle. */
static int logged(const char *needle)
{
    int seen = 0;
    FILE *f = fopen(env.gw.log, "r");
    if (f != NULL) {
        char line[2048];
        while (fgets(line, sizeof(line), f) != NULL)
            seen += strstr(line, needle) != NULL;
        fclose(f);
    }
    return seen;
}

/* Waits until the gateway's log shows needle in n lines. */
static void wait_logged(const char *needle, int n)
{
    long long until = itnow_ms() + CLOSE_MAX_MS;
    while (logged(needle) < n) {
        if (itnow_ms() > until)
            fail_msg("the gateway did not log %s %d times", needle, n);
        itsleep_ms(50);
    }
}

/* Waits until the gateway's log shows its nth reload. */
static void wait_reloaded(int nth)
{
    wait_logged("event=reloaded", nth);
}

/* The gateway tells c its access is gone and closes it, before the
 * client's own timeout. */
static void expect_closed(struct client_conn *c)
{
    (void)itexpect_denied_close(c, CLOSE_MAX_MS);
}

static void submit_ok(struct client_conn *c)
{
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static int reloads;

/* A lower rate in the file applies to the open connection after SIGHUP. */
static void test_reload_applies_limits(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    for (int i = 0; i < PIPELINED; i++)
        itsend_status(c, 100 + i, "330400-2026-000001");
    for (int i = 0; i < PIPELINED; i++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(c, &arena);
        assert_int_not_equal(f->error != NULL ? f->error->code : 0,
                             MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED);
        frame_arena_free(arena);
    }
    FILE *conf = fopen(env.gw.conf, "a");
    assert_non_null(conf);
    fprintf(conf, "\n[gateway]\nrate_per_s = %d\nrate_burst = 1\n", RATE_PER_S);
    assert_int_equal(fclose(conf), 0);
    hup();
    wait_reloaded(++reloads);
    /* The reload is in the audit: the operator changed these options (by
     * name; their values stay out of it). */
    assert_true(itwait_text(env.conninfo, "SELECT string_agg(note, '|' ORDER BY id)"
                            " FROM admin_events WHERE action = 'config_reload'"
                            " AND actor = 'operator' AND subject = $1", env.gw.conf,
                            "gateway.rate_per_s, gateway.rate_burst", CLOSE_MAX_MS));
    for (int i = 0; i < PIPELINED; i++)
        itsend_status(c, 200 + i, "330400-2026-000001");
    int exhausted = 0;
    for (int i = 0; i < PIPELINED; i++) {
        struct frame_arena *arena = NULL;
        Frame *f = itrecv(c, &arena);
        if (f->error != NULL && f->error->code == MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED) {
            assert_true(f->error->retry_after_ms > 0);
            exhausted++;
        }
        frame_arena_free(arena);
    }
    assert_true(exhausted >= PIPELINED - 2);
    /* Back to no limit for the other tests. */
    conf = fopen(env.gw.conf, "a");
    assert_non_null(conf);
    fprintf(conf, "\n[gateway]\nrate_per_s = 0\n");
    assert_int_equal(fclose(conf), 0);
    hup();
    wait_reloaded(++reloads);
    submit_ok(c);
    client_close(c);
}

/* minyid principal disable + SIGHUP closes that principal's connections only. */
static void test_disabled_principal_closed(void **state)
{
    (void)state;
    char cmd[8192];
    struct client_conn *keep = itconnect(&env, "contact1");
    struct client_conn *gone = itconnect(&env, "contact2");
    submit_ok(keep);
    submit_ok(gone);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' principal disable %lld", MINYID_PATH, env.gw.conf,
             (long long)env.contact2);
    run(cmd);
    hup();
    expect_closed(gone);
    client_close(gone);
    submit_ok(keep);
    snprintf(cmd, sizeof(cmd), "'%s' -c '%s' principal enable %lld", MINYID_PATH, env.gw.conf,
             (long long)env.contact2);
    run(cmd);
    wait_reloaded(++reloads);
    client_close(keep);
    /* That reload changed no option: one event per reload that changed
     * something, so still the two of the test before. */
    itsleep_ms(RELOAD_NOTE_MS);
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM admin_events"
                                " WHERE action = 'config_reload'", 0, NULL), 2);
}

/* A certificate revoked in the CRL file: its open connection is closed at
 * SIGHUP and a new one is refused by the new TLS context. */
static void test_revoked_certificate_closed(void **state)
{
    (void)state;
    char cmd[1024], err[512];
    struct client_conn *keep = itconnect(&env, "contact1");
    struct client_conn *gone = itconnect(&env, "contact2");
    submit_ok(keep);
    submit_ok(gone);
    snprintf(cmd, sizeof(cmd), "'%s/deploy/certs' revoke '%s' contact2 >/dev/null",
             MINYI_SOURCE_DIR, cadir);
    run(cmd);
    hup();
    expect_closed(gone);
    client_close(gone);
    wait_reloaded(++reloads);
    submit_ok(keep);
    /* TLS 1.3 reports a refused client certificate after the client's side
     * of the handshake: on connect or on the first answer. */
    struct client_conn *again = ittry_connect(&env, "contact2", err, sizeof(err));
    if (again != NULL) {
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        struct frame_arena *arena = NULL;
        Frame *f = tsubmit(again, r, &arena, err, sizeof(err));
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (f != NULL)
            fail_msg("a revoked certificate was served after the reload");
        client_close(again);
    }
    client_close(keep);
    assert_true(tgw_log_contains(&env.gw, "certificate revoked (reload)"));
}

static void append_conf(const char *text)
{
    FILE *conf = fopen(env.gw.conf, "a");
    assert_non_null(conf);
    fputs(text, conf);
    assert_int_equal(fclose(conf), 0);
}

/* The sealer process runs with the reloaded [audit] seal_interval_ms and
 * [log] level, not those it was started with: it is started again with
 * them.  An interval of an hour keeps a new report unsealed; back at
 * 100 ms it is sealed at once; at level debug the sealer's own debug lines
 * appear. */
static void test_reload_reaches_the_sealer(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    int started = logged("event=sealer_started"), active = logged("event=sealer_active");
    assert_true(started >= 1);
    append_conf("\n[audit]\nseal_interval_ms = 3600000\n");
    hup();
    wait_reloaded(++reloads);
    wait_logged("event=sealer_started", started + 1);
    /* Its first round seals what waits once it holds the lock; then it
     * rests an hour, and a report submitted now stays unsealed. */
    wait_logged("event=sealer_active", active + 1);
    itsleep_ms(FIRST_ROUND_MS);
    char receipt[IT_RECEIPT_MAX];
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, receipt);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    itsleep_ms(UNSEALED_HOLD_MS);
    const char *p[] = { receipt };
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM audit_chain c JOIN reports r"
                                " ON c.source = 'r' AND c.ref_id = r.id WHERE r.receipt = $1",
                                1, p), 0);

    assert_int_equal(logged("event=sealed rows="), 0);
    append_conf("\n[audit]\nseal_interval_ms = 100\n[log]\nlevel = debug\n");
    hup();
    wait_reloaded(++reloads);
    wait_logged("event=sealer_started", started + 2);
    assert_true(itwait_text(env.conninfo, "SELECT ((SELECT count(*) FROM reports)"
                            " + (SELECT count(*) FROM events) + (SELECT count(*) FROM admin_events)"
                            " = (SELECT count(*) FROM audit_chain))::text", NULL, "true",
                            SEAL_WAIT_MS));
    wait_logged("event=sealed rows=", 1);
    /* A reload that changes nothing the sealer runs with leaves it be. */
    append_conf("\n[log]\nlevel = info\n");
    hup();
    wait_reloaded(++reloads);
    wait_logged("event=sealer_started", started + 3);
    append_conf("\n[gateway]\nrate_burst = 2\n");
    hup();
    wait_reloaded(++reloads);
    itsleep_ms(UNSEALED_HOLD_MS);
    assert_int_equal(logged("event=sealer_started"), started + 3);
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reload_applies_limits),
        cmocka_unit_test(test_disabled_principal_closed),
        cmocka_unit_test(test_revoked_certificate_closed),
        cmocka_unit_test(test_reload_reaches_the_sealer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
