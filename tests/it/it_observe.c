/*
 * it_observe: what an operator sees of a running gateway.  /metrics is
 * accepted by Prometheus's own parser (promtool check metrics) and its
 * values match known traffic; /healthz turns 503 when PostgreSQL stops and
 * 200 again when it is back; the configured log level holds for the store's
 * lines as much as for the gateway's.
 */
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itkit.h"

#define ACCEPTED 5              /* submissions made one by one, each answered with a receipt */
#define REJECTED 3              /* submissions refused by validation */
#define PIPELINED 40            /* submissions sent at once, to make batches of several */
#define METRICS_MAX (1u << 20)  /* bytes of a /metrics page read */
#define HEALTH_CHANGE_MS 30000  /* /healthz must follow the database within this */
#define HEALTH_STEP_MS 200
#define LOWER_REGION "330401"   /* the lower instance that forwards to env's gateway */
#define ARRIVE_MS 20000         /* a forwarded report must be delivered within this */

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    return itenv_up(&env, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

/* Fetches gw's /metrics, asserts 200 and that promtool accepts the page. */
static char *scrape_gw(const struct tgw *gw)
{
    char *page = malloc(METRICS_MAX);
    char path[PATH_MAX + 32], cmd[2 * PATH_MAX + 64], out[4096] = "";
    assert_non_null(page);
    assert_int_equal(tgw_http_get(gw, "/metrics", page, METRICS_MAX), 200);

    snprintf(path, sizeof(path), "%s/metrics.txt", gw->dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(page, f);
    assert_int_equal(fclose(f), 0);
    snprintf(cmd, sizeof(cmd), "promtool check metrics < '%s' 2>&1", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, sizeof(out) - 1, p);
    out[got] = '\0';
    int rc = pclose(p);
    if (rc != 0 || got != 0) {
        fprintf(stderr, "promtool check metrics (status %d):\n%s\n--- page ---\n%s\n", rc, out,
                page);
        fail_msg("promtool rejects the /metrics page");
    }
    return page;
}

static char *scrape(void)
{
    return scrape_gw(&env.gw);
}

static void test_metrics_count_known_traffic(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    struct frame_arena *arena = NULL;

    char *before = scrape();
    double batches_before = itmetric(before, "minyi_intake_batch_size_count");
    assert_true(batches_before == 0);
    assert_true(itmetric(before, "minyi_database_up") == 1);
    free(before);

    for (int i = 0; i < ACCEPTED; i++) {
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        itsubmit_ok(c, r, NULL);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    for (int i = 0; i < REJECTED; i++) {
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        itset(&r->region, "33040a");
        itsubmit_invalid(c, r, "report.region");
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    char *page = scrape();
    assert_true(itmetric(page, "minyi_reports_accepted_total") == ACCEPTED);
    assert_true(itmetric(page, "minyi_reports_duplicate_total") == 0);
    assert_true(itmetric(page, "minyi_reports_rejected_total{code=\"INVALID_ARGUMENT\"}") == REJECTED);
    assert_true(itmetric(page, "minyi_errors_total{code=\"INVALID_ARGUMENT\"}") == REJECTED);
    assert_true(itmetric(page, "minyi_requests_total{type=\"submit\"}") == ACCEPTED + REJECTED);
    /* Submitted one at a time, each report is a transaction of its own. */
    assert_true(itmetric(page, "minyi_intake_batch_size_count") == ACCEPTED);
    assert_true(itmetric(page, "minyi_intake_batch_size_sum") == ACCEPTED);
    assert_true(itmetric(page, "minyi_intake_batch_size_bucket{le=\"1\"}") == ACCEPTED);
    assert_true(itmetric(page, "minyi_intake_commit_seconds_count") == ACCEPTED);
    assert_true(itmetric(page, "minyi_ack_seconds_count") == ACCEPTED);
    assert_true(itmetric(page, "minyi_ack_seconds_bucket{le=\"+Inf\"}") == ACCEPTED);
    assert_true(itmetric(page, "minyi_queue_reports{state=\"RECEIVED\"}") == ACCEPTED);
    assert_true(itmetric(page, "minyi_queue_reports{state=\"ADOPTED\"}") == 0);
    assert_true(itmetric(page, "minyi_frames_received_total") >= ACCEPTED + REJECTED);
    assert_true(itmetric(page, "minyi_frames_sent_total") >= ACCEPTED + REJECTED);
    assert_true(itmetric(page, "minyi_tls_handshakes_total") >= 1);
    assert_true(itmetric(page, "minyi_connections{state=\"READY\"}") >= 1);
    assert_true(itmetric(page, "minyi_frame_buffer_bytes{direction=\"in\"}") >= 0);
    free(page);

    /* Pipelined, the same number of reports goes in fewer transactions,
     * and the sizes still add up to the reports stored. */
    Minyi__V1__Report *rs[PIPELINED];
    for (int i = 0; i < PIPELINED; i++) {
        rs[i] = tmake_report(NULL, NULL);
        assert_non_null(rs[i]);
        itsend_submit(c, 1000 + (uint64_t)i, rs[i]);
    }
    for (int i = 0; i < PIPELINED; i++) {
        Frame *f = itrecv(c, &arena);
        itexpect_receipt(f, NULL);
        frame_arena_free(arena);
        arena = NULL;
    }
    /* A retry is answered with the first receipt, counted as a duplicate. */
    itsubmit_ok(c, rs[0], NULL);
    for (int i = 0; i < PIPELINED; i++)
        protobuf_c_message_free_unpacked(&rs[i]->base, NULL);
    page = scrape();
    double batches = itmetric(page, "minyi_intake_batch_size_count") - ACCEPTED;
    assert_true(itmetric(page, "minyi_intake_batch_size_sum") == ACCEPTED + PIPELINED + 1);
    assert_true(batches >= 1 && batches <= PIPELINED + 1);
    assert_true(itmetric(page, "minyi_reports_accepted_total") == ACCEPTED + PIPELINED + 1);
    assert_true(itmetric(page, "minyi_reports_duplicate_total") == 1);
    assert_true(itmetric(page, "minyi_queue_reports{state=\"RECEIVED\"}") == ACCEPTED + PIPELINED);
    free(page);
    client_close(c);
}

/* A client whose certificate the gateway's CA did not sign fails the
 * handshake, and the failure is counted. */
static void test_metrics_count_handshake_failures(void **state)
{
    (void)state;
    char err[256];
    char *page = scrape();
    double failures = itmetric(page, "minyi_tls_handshake_failures_total");
    free(page);

    struct client_conn *c = ittry_connect(&env, "stranger", err, sizeof(err));
    if (c != NULL) {
        /* TLS 1.3 may report the refusal only on the first read. */
        struct frame_arena *arena = NULL;
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        Frame *f = tsubmit(c, r, &arena, err, sizeof(err));
        assert_null(f);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        client_close(c);
    }
    for (int waited = 0;; waited += HEALTH_STEP_MS) {
        page = scrape();
        double now = itmetric(page, "minyi_tls_handshake_failures_total");
        free(page);
        if (now == failures + 1)
            break;
        if (waited >= HEALTH_CHANGE_MS)
            fail_msg("handshake failures %g, expected %g", now, failures + 1);
        itsleep_ms(HEALTH_STEP_MS);
    }
}

/* Polls /healthz until it answers want; returns the last body. */
static void await_health(int want, char *body, size_t len)
{
    long long deadline = itnow_ms() + HEALTH_CHANGE_MS;
    int got;
    while ((got = tgw_http_get(&env.gw, "/healthz", body, len)) != want) {
        if (itnow_ms() > deadline)
            fail_msg("/healthz answered %d (\"%s\"), not %d, for %d ms", got, body, want,
                     HEALTH_CHANGE_MS);
        itsleep_ms(HEALTH_STEP_MS);
    }
}

static void test_healthz_follows_the_database(void **state)
{
    (void)state;
    char body[512] = "";

    assert_int_equal(tgw_http_get(&env.gw, "/healthz", body, sizeof(body)), 200);
    assert_string_equal(body, "ok\n");
    assert_true(tpg_stop(&env.pg, "fast"));
    await_health(503, body, sizeof(body));
    assert_non_null(strstr(body, "database"));
    /* The page still comes, saying the database is down. */
    char *page = scrape();
    assert_true(itmetric(page, "minyi_database_up") == 0);
    assert_true(isnan(itmetric(page, "minyi_queue_reports{state=\"RECEIVED\"}")));
    free(page);

    assert_true(tpg_start_again(&env.pg));
    await_health(200, body, sizeof(body));
    assert_string_equal(body, "ok\n");
    page = scrape();
    assert_true(itmetric(page, "minyi_database_up") == 1);
    free(page);
}

/* A report forwarded to a destination shows in its outbox backlog with
 * the age of its oldest row (no peer is configured: it stays pending). */
static void test_metrics_show_the_outbox(void **state)
{
    (void)state;
    char receipt[IT_RECEIPT_MAX];
    struct client_conn *contact = itconnect(&env, "contact1");
    struct client_conn *editor = itconnect(&env, "editor1");

    itsubmit_forwarded(contact, editor, "转报上级的情况说明", "province", receipt);
    char *page = scrape();
    assert_true(itmetric(page, "minyi_outbox_backlog{destination=\"province\"}") == 1);
    assert_true(itmetric(page, "minyi_outbox_rows{destination=\"province\",state=\"pending\"}") == 1);
    assert_true(itmetric(page, "minyi_outbox_oldest_age_seconds{destination=\"province\"}") >= 0);
    assert_true(itmetric(page, "minyi_queue_reports{state=\"FORWARDED\"}") == 1);
    assert_true(itmetric(page, "minyi_requests_total{type=\"decide\"}") >= 1);
    free(page);
    client_close(contact);
    client_close(editor);
}

/* A lower instance forwards a report to env's gateway: its backlog drains
 * to 0 and its pull of results is recent; once the report is adopted above,
 * the upper instance owes the lower one that result.  The lower pulls only
 * when it connects, so the result stays owed while the test looks. */
static void test_metrics_follow_a_delivery(void **state)
{
    (void)state;
    struct tgw lower;
    char conninfo[1024], ini[4096], receipt[IT_RECEIPT_MAX], series[256];
    int64_t peer_id = tprincipal_add(env.conninfo, "peer1", "peer", LOWER_REGION, true);

    assert_true(peer_id > 0);
    assert_true(tpg_create_db(&env.pg, "observe_lower", conninfo, sizeof(conninfo)));
    snprintf(ini, sizeof(ini),
             "[gateway]\nbody_region = %s\nbody_name = 南湖区政协\n"
             "[forward]\npoll_ms = 100\nresults_interval_ms = 3600000\n"
             "[peer.province]\nhost = 127.0.0.1\nport = %d\nca = %s\nserver_name = localhost\n"
             "cert = %s\nkey = %s\n",
             LOWER_REGION, env.gw.port, tcert("ca", "crt"), tcert("peer1", "crt"),
             tcert("peer1", "key"));
    assert_true(tgw_start(&lower, conninfo, ini));
    assert_true(tprincipal_add(conninfo, "contact1", "contact", LOWER_REGION, true) > 0);
    assert_true(tprincipal_add(conninfo, "editor1", "editor", LOWER_REGION, true) > 0);
    struct client_conn *contact = itconnect_gw(&lower, "contact1");
    struct client_conn *editor = itconnect_gw(&lower, "editor1");

    itsubmit_forwarded(contact, editor, "区里转报的情况", "province", receipt);
    const char *params[1] = { receipt };
    char *up = NULL;
    for (long long until = itnow_ms() + ARRIVE_MS; up == NULL || up[0] == '\0';) {
        free(up);
        up = itdb_text(conninfo,
                       "SELECT o.upstream_receipt FROM outbox o JOIN reports r"
                       " ON r.id = o.report_id WHERE r.receipt = $1 AND o.state = 'delivered'",
                       1, params);
        if ((up == NULL || up[0] == '\0') && itnow_ms() > until)
            fail_msg("the report was not delivered within %d ms", ARRIVE_MS);
        if (up == NULL || up[0] == '\0')
            itsleep_ms(HEALTH_STEP_MS);
    }
    char *page = scrape_gw(&lower);
    assert_true(itmetric(page, "minyi_outbox_backlog{destination=\"province\"}") == 0);
    assert_true(isnan(itmetric(page, "minyi_outbox_oldest_age_seconds{destination=\"province\"}")));
    double age = itmetric(page, "minyi_results_pull_age_seconds{peer=\"province\"}");
    assert_true(age >= 0 && age < 3600);
    assert_true(itmetric(page, "minyi_forwarder_progressing") == 1);
    free(page);

    struct client_conn *upper_editor = itconnect(&env, "editor1");
    itclaim_ok(upper_editor, up);
    itdecide_ok(upper_editor, up, MINYI__V1__DECISION__ADOPT, NULL);
    page = scrape();
    snprintf(series, sizeof(series), "minyi_results_owed{peer_id=\"%lld\",peer=\"peer1\"}",
             (long long)peer_id);
    assert_true(itmetric(page, series) == 1);
    snprintf(series, sizeof(series),
             "minyi_results_lag_seconds{peer_id=\"%lld\",peer=\"peer1\"}", (long long)peer_id);
    assert_true(itmetric(page, series) >= 0);
    free(page);
    free(up);
    client_close(upper_editor);
    client_close(contact);
    client_close(editor);
    assert_int_equal(tgw_stop(&lower, SIGTERM), 0);
}

static void test_unknown_admin_path_is_404(void **state)
{
    (void)state;
    char body[256];
    assert_int_equal(tgw_http_get(&env.gw, "/nothing", body, sizeof(body)), 404);
}

/* With [log] level = warn, neither the gateway nor the store writes an
 * info line; the store's info lines do appear at level info. */
static void test_log_level_holds_for_the_store(void **state)
{
    (void)state;
    struct tgw quiet;


    assert_true(tgw_log_contains(&env.gw, "module=store event=db_conn_up"));
    assert_true(tgw_start(&quiet, env.conninfo, "[log]\nlevel = warn\n"));
    struct client_conn *c = itconnect_gw(&quiet, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
    assert_int_equal(tgw_stop(&quiet, SIGTERM), 0);
    if (tgw_log_contains(&quiet, "level=info") || tgw_log_contains(&quiet, "level=debug")) {
        tgw_dump_log(&quiet);
        fail_msg("a gateway at level warn wrote lines below warn");
    }
    assert_true(tgw_log_contains(&quiet, "minyid ready"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_count_known_traffic),
        cmocka_unit_test(test_metrics_count_handshake_failures),
        cmocka_unit_test(test_metrics_show_the_outbox),
        cmocka_unit_test(test_metrics_follow_a_delivery),
        cmocka_unit_test(test_unknown_admin_path_is_404),
        cmocka_unit_test(test_log_level_holds_for_the_store),
        cmocka_unit_test(test_healthz_follows_the_database),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
