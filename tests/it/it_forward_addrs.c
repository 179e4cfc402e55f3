/*
 * it_forward_addrs: a forwarder whose [peer.NAME] host lists several
 * addresses of the body above (here its two gateways, as a lower body
 * would list them without a load balancer).  Reports are delivered
 * through the first; when that gateway dies the forwarder moves to the
 * next address and goes on delivering, each report stored above exactly
 * once.
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
#define PER_PHASE 3            /* reports forwarded before and after the kill */

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city;   /* prov.gw2: the province's second gateway */
static char city_extra[256];
static char dir[64];

static int setup(void **state)
{
    (void)state;
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_up(&pg, &prov, "province", PROV_REGION, "浙江省政协", NULL, NULL, NULL,
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(prov.conninfo, "peer2", "peer", CITY_REGION, true) <= 0 ||
        !itinst_add_gw(&prov))
        return -1;
    /* Both of the province's gateways, the first one first. */
    snprintf(city_extra, sizeof city_extra,
             "[peer.province]\nhost = 127.0.0.1:%d, 127.0.0.1:%d\n", prov.gw.port, prov.gw2.port);
    if (!itinst_up_ini(&pg, &city, "city", CITY_REGION, "嘉兴市政协", "province", &prov, "peer2",
                       RESULTS_INTERVAL_MS, city_extra) ||
        tprincipal_add(city.conninfo, "contact1", "contact", "330402", true) <= 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/it_forward_addrs-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&city, &prov}, 2, &pg, pg_up, dir);
}

static const char *const delivered_sql =
    "SELECT o.state IN ('delivered', 'result')::text FROM outbox o"
    " JOIN reports r ON r.id = o.report_id WHERE r.receipt = $1";

/* Submits and forwards n reports at the city; each is delivered and stored
 * at the province exactly once. */
static void forward_n(int n)
{
    struct client_conn *c = itconnect_gw(&city.gw, "contact1");
    struct client_conn *ed = itconnect_gw(&city.gw, "editor1");
    char receipt[IT_RECEIPT_MAX];

    for (int i = 0; i < n; i++) {
        itsubmit_forwarded(c, ed, "需要上报的情况", "province", receipt);
        if (!itwait_text(city.conninfo, delivered_sql, receipt, "true", WITHIN_MS))
            fail_msg("%s was not delivered", receipt);
        const char *p[2] = { CITY_REGION, receipt };
        long long stored = tdb_scalar(prov.conninfo,
                                      "SELECT count(*) FROM reports WHERE origin_region = $1"
                                      " AND origin_receipt = $2", 2, p);
        if (stored != 1)
            fail_msg("%s is stored %lld times at the province", receipt, stored);
    }
    client_close(c);
    client_close(ed);
}

static void moves_to_the_next_address(void **state)
{
    (void)state;
    char want[64];

    forward_n(PER_PHASE);
    snprintf(want, sizeof want, "event=forward_connected dest=province address=127.0.0.1:%d",
             prov.gw.port);
    assert_true(tgw_log_contains(&city.gw, want));

    tgw_kill(&prov.gw);
    forward_n(PER_PHASE);
    snprintf(want, sizeof want, "event=forward_connected dest=province address=127.0.0.1:%d",
             prov.gw2.port);
    assert_true(tgw_log_contains(&city.gw, want));
    assert_true(tgw_log_contains(&city.gw, "event=forward_peer_next_address"));
    assert_int_equal(tdb_scalar(prov.conninfo, "SELECT count(*) FROM reports", 0, NULL),
                     2 * PER_PHASE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(moves_to_the_next_address),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
