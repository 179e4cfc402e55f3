/*
 * it_public_flood: a flood of 10,000 messages at the public 码上商 form
 * does not take the protocol port from the contact points, nor the
 * gateway's memory past its budget, and every message it accepted is
 * stored once.
 *
 * The benchmark's S2 (minyi-bench: persistent connections, one report in
 * flight each) runs for a few seconds alone, then again while minyi-flood
 * sends 10,000 messages from many loopback addresses, each solving its
 * proof of work as the page does.  The ratio of the two rates is printed,
 * never asserted: on a shared two-core machine it says as much about the
 * neighbours as about the gateway (tests/bench/run measures it on a quiet
 * one).  What fails the test: S2 refused anything; the gateway died; its
 * resident memory went above [gateway] memory_budget_bytes (under
 * AddressSanitizer, whose shadow and quarantine make resident memory say
 * little, the memory it charged to that budget, sampled during the flood);
 * a database session waited for a lock (public writes to one contact
 * point beyond the one running, each holding a connection of the pool
 * that the contact points' reports need); a request of the flood got no answer, or a refusal
 * without a stable code; or the accepted messages are not exactly the
 * stored ones, each once under its own pickup code.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <jansson.h>

#include "itkit.h"
#include "public_msg.h"

#define FLOOD_MESSAGES 10000
#define FLOOD_CONNECTIONS 128           /* the flood's connections at once */
#define FLOOD_PER_ADDRESS 5             /* messages (10 calls) from one source address */
#define FLOOD_WITHIN_MS 180000          /* the whole flood must end by then */
#define FLOOD_HEAD_START_MS 1500        /* the flood is under way before S2 starts */
#define POW_BITS 8                      /* a few hundred hashes: the flood's cost is ours */
#define BUDGET (64u << 20)              /* [gateway] memory_budget_bytes */
#define S2_CONNECTIONS 8                /* as tests/bench/run's default S2 */
#define S2_SECONDS 4
#define SAMPLE_MS 200                   /* memory sampled this often during the flood */
#define METRICS_MAX (1u << 20)
#define OUT_MAX 65536

static struct itenv env;
static char dir[512], pub_key[600], prof_c1[600], token[300];

static int setup(void **state)
{
    char ini[2048];

    (void)state;
    if (!itmkdtemp(dir, sizeof dir, "flood"))
        return -1;
    itpublic_key(dir, pub_key, sizeof pub_key);
    /* One poster stands for the posters of many contact points, each
     * within its own limit: its rate_per_token is lifted, so the flood
     * meets only what guards the whole door (the proof of work, the
     * per-address limit, inflight_max) and writes to the database as often
     * as the door lets it.  S2's contact point is not to be rate-limited. */
    snprintf(ini, sizeof ini,
             "[gateway]\nmemory_budget_bytes = %u\nrate_per_s = 0\n"
             "[public]\ntoken_key_file = %s\nbase_url = https://127.0.0.1\n"
             "pow_difficulty = %d\nrate_per_token = 1000000\n",
             BUDGET, pub_key, POW_BITS);
    if (!itenv_up(&env, ini))
        return -1;
    snprintf(prof_c1, sizeof prof_c1, "%s/c1.conf", dir);
    return tprofile_write(prof_c1, "contact1", &env.gw) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int rc = itenv_teardown(&env);
    itrmtree(dir);
    return rc;
}

/* Runs S2 for S2_SECONDS; answers its rate, failing the test when any
 * report was refused or minyi-bench failed. */
static double run_s2(const char *name)
{
    char json[700], conns[16], secs[16];
    char *out = malloc(OUT_MAX), *err = malloc(OUT_MAX);
    json_error_t jerr;

    assert_non_null(out);
    assert_non_null(err);
    snprintf(json, sizeof json, "%s/%s.json", dir, name);
    snprintf(conns, sizeof conns, "%d", S2_CONNECTIONS);
    snprintf(secs, sizeof secs, "%d", S2_SECONDS);
    const char *const argv[] = { MINYI_BENCH_PATH, "--profile", prof_c1, "--connections", conns,
                                 "--inflight", "1", "--duration", secs, "--json", json, NULL };
    assert_int_equal(itrun(dir, argv, out, err, OUT_MAX), 0);
    free(out);
    free(err);
    json_t *o = json_load_file(json, 0, &jerr);
    assert_non_null(o);
    json_t *errors = json_object_get(o, "errors"), *rate = json_object_get(o, "rate");
    if (!json_is_integer(errors) || !json_is_number(rate))
        fail_msg("minyi-bench --json gave no \"errors\" and \"rate\"");
    if (json_integer_value(errors) != 0)
        fail_msg("S2 %s: %lld reports refused", name, (long long)json_integer_value(errors));
    double r = json_number_value(rate);
    json_decref(o);
    assert_true(r > 0);
    return r;
}

/* minyi_memory_charged_bytes of the gateway's /metrics. */
static double charged_bytes(void)
{
    char *page = malloc(METRICS_MAX);
    assert_non_null(page);
    assert_int_equal(tgw_http_get(&env.gw, "/metrics", page, METRICS_MAX), 200);
    double v = itmetric(page, "minyi_memory_charged_bytes");
    free(page);
    assert_false(isnan(v));
    return v;
}

/* Database sessions waiting for a row lock now.  Public messages to one
 * contact point are stored one after the other (minyi_p_submit locks its
 * row), so public writes in more sessions than one wait here, each holding
 * a connection of the gateway's pool; S2's batches take no row lock
 * another waits for.  (Advisory locks, which the gateway's once-per-database
 * work takes, are another wait_event.) */
static long long lock_waiters(void)
{
    return tdb_scalar(env.conninfo,
                      "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
                      " AND wait_event_type = 'Lock'"
                      " AND wait_event IN ('transactionid', 'tuple')", 0, NULL);
}

/* Waits for the flood to end, sampling meanwhile the gateway's memory and
 * the database sessions waiting for a lock; answers the most charged to
 * the budget that a sample saw, the most sessions waiting in
 * *waiters_max, and the flood's own CPU time in *cpu_s. */
static double wait_flood(pid_t pid, long *rss_max_kb, long long *waiters_max, double *cpu_s)
{
    long long until = itnow_ms() + FLOOD_WITHIN_MS;
    double charged_max = 0;
    int status;
    struct rusage ru;

    for (;;) {
        pid_t got = wait4(pid, &status, WNOHANG, &ru);
        if (got == pid)
            break;
        if (got < 0 && errno != EINTR)
            fail_msg("waitpid: %s", strerror(errno));
        if (itnow_ms() > until) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fail_msg("the flood did not end within %d ms", FLOOD_WITHIN_MS);
        }
        if (kill(env.gw.pid, 0) != 0)
            fail_msg("the gateway died during the flood");
        long rss = itrss_kb(env.gw.pid);
        if (rss > *rss_max_kb)
            *rss_max_kb = rss;
        double c = charged_bytes();
        if (c > charged_max)
            charged_max = c;
        long long w = lock_waiters();
        if (w > *waiters_max)
            *waiters_max = w;
        itsleep_ms(SAMPLE_MS);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("minyi-flood failed (status %d)", status);
    *cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return charged_max;
}

/* The pickup codes the flood was given, as a PostgreSQL text[] literal;
 * *n their number. */
static char *pickup_array(const char *path, long long *n)
{
    FILE *f = fopen(path, "r");
    char line[64];
    size_t cap = 16 + (size_t)FLOOD_MESSAGES * (PUBLIC_MSG_PICKUP_LEN + 1), len = 0;
    char *a = malloc(cap);

    assert_non_null(f);
    assert_non_null(a);
    a[len++] = '{';
    *n = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (strlen(line) != PUBLIC_MSG_PICKUP_LEN ||
            strspn(line, PUBLIC_MSG_PICKUP_ALPHABET) != PUBLIC_MSG_PICKUP_LEN)
            fail_msg("not a pickup code: \"%s\"", line);
        assert_true(len + PUBLIC_MSG_PICKUP_LEN + 3 < cap);
        if (*n > 0)
            a[len++] = ',';
        memcpy(a + len, line, PUBLIC_MSG_PICKUP_LEN);
        len += PUBLIC_MSG_PICKUP_LEN;
        (*n)++;
    }
    fclose(f);
    a[len++] = '}';
    a[len] = '\0';
    return a;
}

static void test_flood_beside_s2(void **state)
{
    char fjson[700], fpickups[700], fout[700], ferr[700], port[16], count[16], conns[16],
        per[16];
    json_error_t jerr;
    long rss_max_kb = 0;

    (void)state;
    itposter_token(dir, prof_c1, false, token, sizeof token);
    double alone = run_s2("s2-alone");

    snprintf(fjson, sizeof fjson, "%s/flood.json", dir);
    snprintf(fpickups, sizeof fpickups, "%s/pickups", dir);
    snprintf(fout, sizeof fout, "%s/flood.out", dir);
    snprintf(ferr, sizeof ferr, "%s/flood.err", dir);
    snprintf(port, sizeof port, "%d", env.gw.console_port);
    snprintf(count, sizeof count, "%d", FLOOD_MESSAGES);
    snprintf(conns, sizeof conns, "%d", FLOOD_CONNECTIONS);
    snprintf(per, sizeof per, "%d", FLOOD_PER_ADDRESS);
    const char *const argv[] = { MINYI_FLOOD_PATH, "--port", port, "--ca", tcert("ca", "crt"),
                                 "--token", token, "--count", count, "--connections", conns,
                                 "--per-address", per, "--json", fjson, "--pickups", fpickups,
                                 NULL };
    long long t0 = itnow_ms(), gw_cpu0 = itcpu_ms(env.gw.pid);
    pid_t pid = itspawn(argv, fout, ferr);
    itsleep_ms(FLOOD_HEAD_START_MS);
    double flooded = run_s2("s2-flood");
    long long s2_end = itnow_ms();
    double flood_cpu_s = 0;
    long long waiters_max = 0;
    double charged_max = wait_flood(pid, &rss_max_kb, &waiters_max, &flood_cpu_s);
    long long t1 = itnow_ms(), gw_cpu = itcpu_ms(env.gw.pid) - gw_cpu0;

    char *text = malloc(OUT_MAX);
    assert_non_null(text);
    itslurp(fout, text, OUT_MAX);
    fprintf(stderr, "%s", text);
    free(text);
    printf("S2 with flood / without = %.2f (%.0f / %.0f reports/s; the flood took %.1f s, "
           "S2 ran in its first %.1f s)\n",
           flooded / alone, flooded, alone, (double)(t1 - t0) / 1000, (double)(s2_end - t0) / 1000);
    /* CPU time says what the flood cost whatever else the machine did. */
    printf("CPU during the flood: gateway %.1f s (%.2f ms a message, S2's included), "
           "minyi-flood %.1f s\n", (double)gw_cpu / 1000, (double)gw_cpu / FLOOD_MESSAGES,
           flood_cpu_s);
    fflush(stdout);

    /* The gateway is alive and its memory stayed within the budget. */
    assert_int_equal(kill(env.gw.pid, 0), 0);
    long hwm_kb = itstatus_kb(env.gw.pid, "VmHWM");
    printf("gateway memory: VmHWM %ld kB, largest RSS sampled %ld kB, most charged %.0f kB; "
           "budget %u kB\n", hwm_kb, rss_max_kb, charged_max / 1024, BUDGET / 1024);
    if (IT_CHECK_RSS && hwm_kb > (long)(BUDGET / 1024))
        fail_msg("the gateway's resident memory peaked at %ld kB, above its budget of %u kB",
                 hwm_kb, BUDGET / 1024);
    if (charged_max > BUDGET)
        fail_msg("the gateway charged %.0f bytes, above its budget of %u", charged_max, BUDGET);

    /* The public door's writes waited for their one connection in the
     * gateway (storage's STORE_PUBLIC_CONNS_MAX) rather than in the
     * database, where each would hold a connection of the pool. */
    printf("database sessions waiting for a row lock: at most %lld seen\n", waiters_max);
    if (waiters_max > 0)
        fail_msg("%lld database sessions waited for a row lock at once: public writes held "
                 "connections of the pool", waiters_max);

    /* Every request was answered, every refusal with a stable code. */
    json_t *f = json_load_file(fjson, 0, &jerr);
    assert_non_null(f);
    long long accepted = json_integer_value(json_object_get(f, "accepted"));
    long long refused = json_integer_value(json_object_get(f, "refused"));
    assert_int_equal(json_integer_value(json_object_get(f, "count")), FLOOD_MESSAGES);
    assert_int_equal(json_integer_value(json_object_get(f, "unanswered")), 0);
    assert_int_equal(json_integer_value(json_object_get(f, "without_code")), 0);
    assert_int_equal(accepted + refused, FLOOD_MESSAGES);
    assert_true(accepted > 0);
    json_decref(f);

    /* Each accepted message is stored once under its own pickup code, and
     * nothing else of the flood's is stored. */
    long long n_pickups;
    char *codes = pickup_array(fpickups, &n_pickups);
    assert_int_equal(n_pickups, accepted);
    const char *params[] = { codes };
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(DISTINCT p) FROM unnest($1::text[]) AS p", 1, params),
                     accepted);
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM unnest($1::text[]) AS p"
                                " JOIN public_messages m"
                                " ON m.pickup_sha256 = sha256(convert_to(p, 'UTF8'))",
                                1, params),
                     accepted);
    free(codes);
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM public_messages WHERE what LIKE '压力测试 %'",
                                0, NULL),
                     accepted);
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(DISTINCT content_sha256) FROM public_messages"
                                " WHERE what LIKE '压力测试 %'", 0, NULL),
                     accepted);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flood_beside_s2),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
