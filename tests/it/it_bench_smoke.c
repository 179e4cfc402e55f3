/*
 * it_bench_smoke: minyi-bench itself still works.  It submits 50 reports
 * over two pipelined connections to a real gateway and must say that all
 * 50 were acknowledged, with no errors, and the database must hold them.
 * No timing is asserted: the benchmark's figures come from tests/bench/run.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "itkit.h"

#define SMOKE_REPORTS 50

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    return itenv_up(&env, "[gateway]\nrate_per_s = 0\n") ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_down(&env) == 0 ? 0 : -1;
}

static void test_bench_acknowledges_every_report(void **state)
{
    (void)state;
    struct client_profile p;
    char conf[PATH_MAX + 32], json[PATH_MAX + 32], cmd[4 * PATH_MAX];
    tprofile(&p, "contact1", &env.gw);
    snprintf(conf, sizeof(conf), "%s/bench.conf", env.gw.dir);
    snprintf(json, sizeof(json), "%s/bench.json", env.gw.dir);
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fprintf(f, "[client]\nhost = %s\nport = %s\nca = %s\ncert = %s\nkey = %s\nserver_name = %s\n",
            p.host, p.port, p.ca, p.cert, p.key, p.server_name);
    assert_int_equal(fclose(f), 0);

    snprintf(cmd, sizeof(cmd),
             "'%s' --profile '%s' --connections 2 --inflight 8 --size 4 --count %d --json '%s'",
             MINYI_BENCH_PATH, conf, SMOKE_REPORTS, json);
    int rc = system(cmd);
    assert_true(WIFEXITED(rc));
    assert_int_equal(WEXITSTATUS(rc), 0);

    json_error_t jerr;
    json_t *o = json_load_file(json, 0, &jerr);
    assert_non_null(o);
    /* json_integer_value answers 0 for a missing key, so a result without
     * "errors" would read as no errors: both keys must be there. */
    json_t *acked = json_object_get(o, "acked"), *errors = json_object_get(o, "errors");
    if (!json_is_integer(acked) || !json_is_integer(errors))
        fail_msg("minyi-bench --json gave no integer \"acked\" and \"errors\"");
    assert_int_equal(json_integer_value(acked), SMOKE_REPORTS);
    assert_int_equal(json_integer_value(errors), 0);
    json_decref(o);

    char id[32];
    snprintf(id, sizeof(id), "%lld", (long long)env.contact1);
    const char *params[] = {id};
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM reports WHERE principal_id = $1",
                                1, params),
                     SMOKE_REPORTS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_acknowledges_every_report),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
