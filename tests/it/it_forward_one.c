/*
 * it_forward_one: one forwarder per database.  A city body runs two
 * gateways on its one database (as behind HAProxy); both are configured to
 * forward to the province.  Exactly one of them holds the forwarder's
 * advisory lock and forwards, the other waits; when the one forwarding is
 * killed (SIGKILL, in the middle of forwarding) the other takes over, and
 * every report forwarded, including those the killed one had claimed, is
 * stored at the province exactly once.  When the database restarts (as in
 * a failover, which loses every session and with it the lock), the
 * surviving gateway takes the lock again and goes on forwarding.
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

#include "itkit.h"

#define PROV_REGION "330000"
#define CITY_REGION "330400"
#define WITHIN_MS 30000
#define RESULTS_INTERVAL_MS 1000
#define BEFORE_KILL 4          /* reports forwarded and delivered before the kill */
#define AT_KILL 6              /* reports forwarded right before the kill */
#define AFTER_KILL 3           /* reports forwarded once the other has taken over */
/* A row claimed by the killed gateway is due again after its lease; short,
 * so the test does not wait the default two minutes. */
#define CITY_EXTRA "[forward]\nlease_s = 5\n"
#define N_ALL (BEFORE_KILL + AT_KILL + AFTER_KILL + 1)

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city;   /* city.gw2: the city's second gateway */
static char dir[64];
static char receipts[N_ALL][IT_RECEIPT_MAX];
static int n_receipts;

static int setup(void **state)
{
    (void)state;
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_up(&pg, &prov, "province", PROV_REGION, "浙江省政协", NULL, NULL, NULL,
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(prov.conninfo, "peer2", "peer", CITY_REGION, true) <= 0 ||
        !itinst_up_ini(&pg, &city, "city", CITY_REGION, "嘉兴市政协", "province", &prov, "peer2",
                       RESULTS_INTERVAL_MS, CITY_EXTRA) ||
        tprincipal_add(city.conninfo, "contact1", "contact", "330402", true) <= 0 ||
        !itinst_add_gw(&city))
        return -1;
    snprintf(dir, sizeof dir, "/tmp/it_forward_one-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&city, &prov}, 2, &pg, pg_up, dir);
}

/* 1 or 0 from the gateway's minyi_forwarder_active, -1 without an answer. */
static int active(const struct tgw *gw)
{
    char body[64 * 1024];
    const char *at;

    if (gw->pid <= 0 || tgw_http_get(gw, "/metrics", body, sizeof body) != 200 ||
        (at = strstr(body, "\nminyi_forwarder_active ")) == NULL)
        return -1;
    return atoi(at + strlen("\nminyi_forwarder_active "));
}

/* Waits until gw is the forwarder and other (when running) is not; fails
 * the test when that does not happen within WITHIN_MS. */
static void expect_sole_forwarder(const struct tgw *gw, const struct tgw *other)
{
    long long until = itnow_ms() + WITHIN_MS;
    int a = -1, b = -1;

    do {
        a = active(gw);
        b = other->pid > 0 ? active(other) : 0;
        if (a == 1 && b == 0)
            return;
        itsleep_ms(100);
    } while (itnow_ms() < until);
    fail_msg("gateway on port %d forwarder_active=%d, the other %d; want 1 and 0", gw->port, a, b);
}

/* Waits until gw's /healthz answers 200 (its database connections are
 * back after a restart). */
static void expect_healthy(const struct tgw *gw)
{
    char body[512];
    long long until = itnow_ms() + WITHIN_MS;

    while (tgw_http_get(gw, "/healthz", body, sizeof body) != 200) {
        if (itnow_ms() >= until)
            fail_msg("the gateway on port %d is not healthy: %s", gw->port, body);
        itsleep_ms(100);
    }
}

/* Submits a report at gw and forwards it to the province; kept for the
 * final check. */
static void submit_forward(const struct tgw *gw)
{
    struct client_conn *c = itconnect_gw(gw, "contact1");
    struct client_conn *ed = itconnect_gw(gw, "editor1");

    assert_true(n_receipts < N_ALL);
    itsubmit_forwarded(c, ed, "需要上报的情况", "province", receipts[n_receipts++]);
    client_close(c);
    client_close(ed);
}

static const char *const delivered_sql =
    "SELECT (count(*) FILTER (WHERE o.state IN ('delivered', 'result')) = count(*))::text"
    " FROM outbox o JOIN reports r ON r.id = o.report_id WHERE r.receipt = $1";

/* Every report forwarded so far is delivered, and stored at the province
 * exactly once. */
static void expect_all_delivered_once(void)
{
    for (int i = 0; i < n_receipts; i++) {
        if (!itwait_text(city.conninfo, delivered_sql, receipts[i], "true", WITHIN_MS))
            fail_msg("%s was not delivered", receipts[i]);
        const char *p[2] = { CITY_REGION, receipts[i] };
        long long n = tdb_scalar(prov.conninfo,
                                 "SELECT count(*) FROM reports WHERE origin_region = $1"
                                 " AND origin_receipt = $2", 2, p);
        if (n != 1)
            fail_msg("%s is stored %lld times at the province", receipts[i], n);
    }
    assert_int_equal(tdb_scalar(prov.conninfo, "SELECT count(*) FROM reports", 0, NULL),
                     n_receipts);
}

static void one_forwards_and_the_other_takes_over(void **state)
{
    (void)state;
    /* Whichever took the lock first. */
    struct tgw *first = &city.gw, *second = &city.gw2;
    long long until = itnow_ms() + WITHIN_MS;
    while (active(first) != 1 && active(second) != 1 && itnow_ms() < until)
        itsleep_ms(100);
    if (active(second) == 1) {
        first = &city.gw2;
        second = &city.gw;
    }
    expect_sole_forwarder(first, second);

    for (int i = 0; i < BEFORE_KILL; i++)
        submit_forward(i % 2 ? second : first);
    expect_all_delivered_once();
    assert_true(tgw_log_contains(first, "event=forward_delivered"));
    assert_false(tgw_log_contains(second, "event=forward_delivered"));
    assert_false(tgw_log_contains(second, "event=forwarder_active"));

    /* Forwarded through the standby's door, so the forwarder is busy
     * with them when it dies. */
    for (int i = 0; i < AT_KILL; i++)
        submit_forward(second);
    tgw_kill(first);
    expect_sole_forwarder(second, first);
    for (int i = 0; i < AFTER_KILL; i++)
        submit_forward(second);
    expect_all_delivered_once();
    assert_true(tgw_log_contains(second, "event=forward_delivered"));

    /* The database restarts: every session ends, the lock with it. */
    assert_true(tpg_stop(&pg, "fast"));
    assert_true(tpg_start_again(&pg));
    expect_sole_forwarder(second, first);
    assert_true(tgw_log_contains(second, "event=forwarder_standby"));
    expect_healthy(second);
    submit_forward(second);
    expect_all_delivered_once();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(one_forwards_and_the_other_takes_over),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
