/*
 * it_access: a principal disabled through one gateway loses its open
 * connections on every gateway of the database within a second (NOTIFY),
 * each told so by an Error frame; other principals' connections carry on.
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

#define CLOSE_WITHIN_MS 1000         /* what the operator is promised */
#define OUT_MAX 4096

static struct itenv env;
static struct tgw other;             /* a second gateway on the same database */
static char dir[64];

static int setup(void **state)
{
    (void)state;
    if (!itmkdtemp(dir, sizeof dir, "access") || !itenv_up(&env, NULL))
        return -1;
    return tgw_start(&other, env.conninfo, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = tgw_stop(&other, SIGTERM);
    itrmtree(dir);
    return itenv_teardown(&env) == 0 && rc == 0 ? 0 : -1;
}

static void submit_ok(struct client_conn *c)
{
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_disabled_elsewhere_closes_within_a_second(void **state)
{
    (void)state;
    char id[24], out[OUT_MAX], err[OUT_MAX];
    struct client_conn *gone = itconnect(&env, "contact2");
    struct client_conn *gone_too = itconnect_gw(&other, "contact2");
    struct client_conn *keep = itconnect(&env, "contact1");
    submit_ok(gone);
    submit_ok(gone_too);
    submit_ok(keep);

    /* Disabled with the other gateway's config, as an operator on that
     * host would; no SIGHUP anywhere. */
    snprintf(id, sizeof id, "%lld", (long long)env.contact2);
    const char *disable[] = { "principal", "disable", id, NULL };
    assert_int_equal(itrun_minyid(dir, &other, disable, out, err, OUT_MAX), 0);
    long long took = itexpect_denied_close(gone, CLOSE_WITHIN_MS);
    fprintf(stderr, "closed %lld ms after the command returned\n", took);
    (void)itexpect_denied_close(gone_too, CLOSE_WITHIN_MS);
    client_close(gone);
    client_close(gone_too);
    submit_ok(keep);
    client_close(keep);

    const char *enable[] = { "principal", "enable", id, NULL };
    assert_int_equal(itrun_minyid(dir, &other, enable, out, err, OUT_MAX), 0);
    gone = itconnect(&env, "contact2");
    submit_ok(gone);
    client_close(gone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_elsewhere_closes_within_a_second),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
