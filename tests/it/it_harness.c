/*
 * it_harness: the test harness itself — throwaway clusters start, stop,
 * restart and vanish, a test process that dies without cleaning up does
 * not leave its cluster running, and a gateway started by the harness
 * accepts a report from a registered contact point.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "harness.h"

#define ORPHAN_WAIT_MS 20000

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void test_cluster_lifecycle(void **state)
{
    (void)state;
    struct tpg pg;
    char conninfo[1024];

    assert_true(tpg_start(&pg));
    assert_true(exists(pg.data));
    /* tests/run finds clusters that outlived their test by these markers. */
    char marker[4200];
    snprintf(marker, sizeof(marker), "%s/tests/clusters%s", MINYI_BINARY_DIR, strrchr(pg.root, '/'));
    assert_true(exists(marker));
    assert_true(tpg_create_db(&pg, "harness", conninfo, sizeof(conninfo)));
    assert_int_equal(tdb_scalar(conninfo, "SELECT 1 + $1::int", 1, (const char *[]){ "1" }), 2);
    /* minyid refuses to run without these, so the harness must set them. */
    assert_int_equal(tdb_scalar(conninfo,
                                "SELECT count(*) FROM pg_settings WHERE name IN "
                                "('fsync', 'synchronous_commit') AND setting = 'on'",
                                0, NULL), 2);
    assert_int_equal(tdb_scalar(conninfo, "SELECT count(*) FROM pg_settings "
                                          "WHERE name = 'listen_addresses' AND setting = ''",
                                0, NULL), 1);

    assert_true(tdb_exec(conninfo, "CREATE TABLE t (x int)", 0, NULL));

    /* A clean stop: nothing answers, then the same cluster comes back. */
    assert_true(tpg_stop(&pg, "fast"));
    assert_int_equal(tdb_scalar(conninfo, "SELECT 1", 0, NULL), -1);
    assert_true(tpg_start_again(&pg));
    assert_int_equal(tdb_scalar(conninfo, "SELECT 1", 0, NULL), 1);

    /* A crash: crash recovery brings the committed data back. */
    assert_int_equal(tdb_scalar(conninfo, "WITH i AS (INSERT INTO t VALUES (7) RETURNING x) "
                                          "SELECT x FROM i", 0, NULL), 7);
    assert_true(tpg_stop(&pg, "immediate"));
    assert_true(tpg_start_again(&pg));
    assert_int_equal(tdb_scalar(conninfo, "SELECT x FROM t", 0, NULL), 7);

    char root[sizeof(pg.root)];
    snprintf(root, sizeof(root), "%s", pg.root);
    tpg_destroy(&pg);
    assert_false(exists(root));
    assert_false(exists(marker));
}

/* Starts a cluster in a child process that then ends as `how` says,
 * without destroying the cluster; returns the cluster's directory. */
static void cluster_in_child(int how, char *root, size_t len)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct tpg pg;
        if (!tpg_start(&pg))
            _exit(1);
        char buf[sizeof(pg.root) + 1];
        snprintf(buf, sizeof(buf), "%s\n", pg.root);
        if (write(fds[1], buf, strlen(buf)) < 0)
            _exit(1);
        close(fds[1]);
        if (how == SIGKILL)
            kill(getpid(), SIGKILL);
        exit(0);
    }
    close(fds[1]);
    size_t got = 0;
    ssize_t n;
    while (got < len - 1 && (n = read(fds[0], root + got, len - 1 - got)) > 0)
        got += (size_t)n;
    root[got] = '\0';
    close(fds[0]);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (how == SIGKILL)
        assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    else
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    char *nl = strchr(root, '\n');
    assert_non_null(nl);
    *nl = '\0';
}

/* A test that fails half-way (cmocka goes on with the next test, the
 * program exits normally) leaves a cluster running until the exit handler
 * stops it, before the program is gone. */
static void test_exit_handler_stops_forgotten_cluster(void **state)
{
    (void)state;
    char root[4096], marker[4200];
    cluster_in_child(0, root, sizeof(root));
    assert_false(exists(root));
    snprintf(marker, sizeof(marker), "%s/tests/clusters%s", MINYI_BINARY_DIR, strrchr(root, '/'));
    assert_false(exists(marker));
}

/* A test process killed outright (as ctest does on a timeout) runs no exit
 * handler; the guardian must still stop its cluster and remove it. */
static void test_killed_process_leaves_no_cluster(void **state)
{
    (void)state;
    char root[4096];
    cluster_in_child(SIGKILL, root, sizeof(root));
    for (int waited = 0; exists(root) && waited < ORPHAN_WAIT_MS; waited += 50)
        clock_sleep_ms(50);
    assert_false(exists(root));
}

static void test_gateway_accepts_a_report(void **state)
{
    (void)state;
    struct tpg pg;
    struct tgw gw;
    struct client_profile prof;
    char conninfo[1024], err[256];
    struct frame_arena *arena = NULL;

    assert_true(tpg_start(&pg));
    assert_true(tpg_create_db(&pg, "minyi", conninfo, sizeof(conninfo)));
    assert_true(tgw_start(&gw, conninfo, "[log]\nlevel = debug\n"));
    assert_true(tgw_log_contains(&gw, "minyid ready"));
    assert_true(tprincipal_add(conninfo, "contact1", "contact", "330402", true) > 0);

    tprofile(&prof, "contact1", &gw);
    struct client_conn *c = client_connect(&prof, err, sizeof(err));
    if (c == NULL)
        fail_msg("connect: %s", err);
    char *text = treport_corpus("speech-simplified-a.txt");
    assert_non_null(text);
    Minyi__V1__Report *r = tmake_report(NULL, text);
    assert_non_null(r);
    Frame *resp = tsubmit(c, r, &arena, err, sizeof(err));
    if (resp == NULL)
        fail_msg("submit: %s", err);
    if (resp->body_case == MINYI__V1__FRAME__BODY_ERROR)
        fail_msg("submit refused: %s %.*s", client_error_code_name(resp->error->code),
                 (int)resp->error->message.len, (const char *)resp->error->message.data);
    assert_int_equal(resp->body_case, MINYI__V1__FRAME__BODY_SUBMIT_OK);
    assert_true(resp->submit_ok->receipt.len > 0);
    assert_int_equal(tdb_scalar(conninfo, "SELECT count(*) FROM reports", 0, NULL), 1);

    frame_arena_free(arena);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    free(text);
    client_close(c);
    assert_int_equal(tgw_stop(&gw, SIGTERM), 0);
    tpg_destroy(&pg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_lifecycle),
        cmocka_unit_test(test_exit_handler_stops_forgotten_cluster),
        cmocka_unit_test(test_killed_process_leaves_no_cluster),
        cmocka_unit_test(test_gateway_accepts_a_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
