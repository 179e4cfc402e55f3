/*
 * it_memory: the gateway's memory stays bounded by its budget, whatever
 * its clients do, and goes back to the system afterwards.
 *
 *  - 2,000 connections each send the length prefix of a 1 MiB frame and as
 *    much of its body as the gateway takes.  The frames that get memory
 *    stay partial; the others wait.  The gateway's resident memory grows by
 *    at most the budget plus a fixed cost per connection (its input window
 *    and TLS state, measured before the frames began), a contact point
 *    keeps submitting meanwhile, a large report waits for memory and is
 *    taken once the holders are gone, and the resident memory returns to
 *    within 10 % of where it started.
 *  - A client that pipelines requests with large answers and never reads
 *    them stops being read at the high-water mark and is closed after the
 *    stall timeout, its queued answers bounded.
 *
 * Under AddressSanitizer resident memory says little (its quarantine and
 * shadow memory), so there the tests assert what the gateway itself
 * accounted, from its log: the peak charged to the budget, and the answers
 * queued when the client was cut off.
 */
#include <errno.h>
#include <stdbool.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "itkit.h"

#define HOGS 2000
#define BUDGET (32u << 20)               /* memory_budget_bytes of the gateway */
#define HOG_FRAME (1u << 20)             /* the length each hog announces: max_frame_bytes */
#define FRAME_TIMEOUT_MS 120000          /* hogs must outlive the test's hold phase */
#define HIGH_WATER (64u << 10)           /* output_high_water_bytes */
#define STALL_MS 2000                    /* output_stall_timeout_ms */
#define WINDOW (16u << 10)               /* the gateway's SESSION_INPUT_WINDOW */
/* What one connection's window may cost resident: its bytes, and malloc's
 * rounding of the chains that hold them (at most the same again). */
#define WINDOW_COST_KB (2 * WINDOW / 1024)
/* Answers cannot wait for memory: queued while the frames hold the whole
 * budget, they take the total over it by their size. */
#define ANSWER_SLACK (64u << 10)
#define SLACK_KB (16 * 1024)             /* heap bookkeeping, libevent's tables, the submits */
#define RETURN_PERCENT 10                /* after the close, RSS within this of the start */
#define PUMP_IDLE_ROUNDS 5               /* rounds without progress: the gateway takes no more */
#define PUMP_MS 60000
#define SUBMITS_DURING 20
#define LARGE_SITUATION_CHARS 6000       /* 18,000 bytes of 民: above the window */
#define WAIT_SHOWN_MS 1500               /* the large report is not answered this long */
#define SETTLE_MS 15000
#define METRICS_PAGE_MAX (1u << 20)      /* bytes of a /metrics page read */
#define PIPELINED 200000                 /* list requests the non-reading client sends */
#define LIST_LIMIT 100
#define REPORTS_TO_LIST 40               /* makes each list answer a few kB */
/* Queued answers allowed when the non-reader is cut off: the mark, plus the
 * answers to the requests it had in flight (max_inflight 256 of a few kB). */
#define QUEUED_MAX (4u << 20)

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    /* Room for the hogs on both ends (minyid inherits it). */
    itraise_nofile();
    char extra[512];
    snprintf(extra, sizeof(extra),
             "[gateway]\nmemory_budget_bytes = %u\nmax_frame_bytes = %u\n"
             "frame_timeout_ms = %d\noutput_high_water_bytes = %u\n"
             "output_stall_timeout_ms = %d\nmax_connections_per_ip = 100000\nrate_per_s = 0\n",
             BUDGET, HOG_FRAME, FRAME_TIMEOUT_MS, HIGH_WATER, STALL_MS);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

/* The number after key= in the last log line holding event, or -1. */
static long long log_figure(const char *event, const char *key)
{
    FILE *f = fopen(env.gw.log, "r");
    if (f == NULL)
        fail_msg("cannot read %s", env.gw.log);
    char line[2048];
    long long v = -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, event) == NULL)
            continue;
        const char *p = strstr(line, key);
        if (p != NULL)
            v = strtoll(p + strlen(key), NULL, 10);
    }
    fclose(f);
    return v;
}

static void wait_log(const char *needle, int ms)
{
    long long until = itnow_ms() + ms;
    while (!tgw_log_contains(&env.gw, needle) && itnow_ms() < until)
        itsleep_ms(100);
    if (!tgw_log_contains(&env.gw, needle))
        fail_msg("the gateway never logged %s", needle);
}

/* Waits until the gateway's RSS is at most kb (true) or ms pass (false). */
static bool rss_falls_to(long kb, int ms, long *now)
{
    long long until = itnow_ms() + ms;
    while ((*now = itrss_kb(env.gw.pid)) > kb && itnow_ms() < until)
        itsleep_ms(200);
    return *now <= kb;
}

/* Our kernel would otherwise take a whole frame into its send buffer while
 * the gateway reads none of it; a small one makes "sent" mean "the gateway
 * took it" (give or take the two kernels' buffers) and keeps the test fast. */
#define CLIENT_SNDBUF (16u << 10)

static void small_sndbuf(struct client_conn *c)
{
    int v = CLIENT_SNDBUF;
    assert_int_equal(setsockopt(client_fd(c), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
}

/* Closes with a reset, as a client that gives up does: a FIN would wait
 * behind the unsent rest of the frame for the gateway to read it. */
static void close_abruptly(struct client_conn *c)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    assert_int_equal(setsockopt(client_fd(c), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
    client_close(c);
}

/* CPU seconds the gateway has used. */
static double gw_cpu_s(void)
{
    return (double)itcpu_ms(env.gw.pid) / 1000;
}

static double my_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

struct hog {
    struct client_conn *c;
    size_t sent;
};

/* Sends more of each hog's frame until the gateway has taken all it will. */
static size_t pump(struct hog *hogs, int n, const uint8_t *frame, size_t len)
{
    size_t total = 0;
    int idle = 0;
    long long until = itnow_ms() + PUMP_MS;
    while (idle < PUMP_IDLE_ROUNDS && itnow_ms() < until) {
        size_t round = 0;
        for (int i = 0; i < n; i++) {
            if (hogs[i].sent == len)
                continue;
            long k = client_send_nowait(hogs[i].c, frame + hogs[i].sent, len - hogs[i].sent);
            if (k < 0)
                fail_msg("hog %d was closed after %zu bytes", i, hogs[i].sent);
            hogs[i].sent += (size_t)k;
            round += (size_t)k;
        }
        total += round;
        if (round == 0) {
            idle++;
            itsleep_ms(100);
        } else {
            idle = 0;
        }
    }
    return total;
}

static void test_partial_frames_bounded(void **state)
{
    (void)state;
    /* A frame of HOG_FRAME bytes announced, one byte of it never sent. */
    size_t len = 4 + HOG_FRAME - 1;
    uint8_t *frame = calloc(1, len);
    assert_non_null(frame);
    frame[0] = (uint8_t)(HOG_FRAME >> 24);
    frame[1] = (uint8_t)(HOG_FRAME >> 16);
    frame[2] = (uint8_t)(HOG_FRAME >> 8);
    frame[3] = (uint8_t)HOG_FRAME;
    struct hog *hogs = calloc(HOGS, sizeof(*hogs));
    assert_non_null(hogs);

    struct client_conn *contact = itconnect(&env, "contact2");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(contact, r, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    itsleep_ms(1200);
    long rss_start = itrss_kb(env.gw.pid);
    print_message("gateway RSS at start: anonymous %ld kB, file %ld kB\n",
                  itstatus_kb(env.gw.pid, "RssAnon"), itstatus_kb(env.gw.pid, "RssFile"));

    long long t0 = itnow_ms();
    double gw0 = gw_cpu_s(), me0 = my_cpu_s();
    for (int i = 0; i < HOGS; i++) {
        hogs[i].c = itconnect(&env, "contact1");
        small_sndbuf(hogs[i].c);
    }
    print_message("connecting: gateway %.1f s CPU, test %.1f s CPU\n", gw_cpu_s() - gw0,
                  my_cpu_s() - me0);
    itsleep_ms(500);
    long rss_conns = itrss_kb(env.gw.pid);
    long long t1 = itnow_ms();
    size_t taken = pump(hogs, HOGS, frame, len);
    long long t2 = itnow_ms();
    long rss_held = itrss_kb(env.gw.pid);
    int whole = 0;
    for (int i = 0; i < HOGS; i++)
        whole += hogs[i].sent == len;
    print_message("%d connections in %lld ms; %zu bytes of frames sent in %lld ms, %d frames "
                  "sent to their last byte but one\n",
                  HOGS, t1 - t0, taken, t2 - t1, whole);
    print_message("gateway RSS: %ld kB at start, %ld kB with the connections, %ld kB holding "
                  "the partial frames (budget %u kB)\n",
                  rss_start, rss_conns, rss_held, BUDGET / 1024);
    /* The budget bit: most frames wait, and some were taken whole. */
    assert_true(tgw_log_contains(&env.gw, "event=memory_wait_begin"));
    assert_true(whole > 0 && whole < HOGS);
    if (IT_CHECK_RSS) {
        long bound = rss_conns + (long)(BUDGET / 1024) + (long)HOGS * WINDOW_COST_KB + SLACK_KB;
        if (rss_held > bound)
            fail_msg("RSS %ld kB holding partial frames, above the bound %ld kB", rss_held, bound);
    }

    /* /metrics shows the budget full and the frames' bytes held: no more
     * than the frames granted plus each connection's input window. */
    char *page = malloc(METRICS_PAGE_MAX);
    assert_non_null(page);
    assert_int_equal(tgw_http_get(&env.gw, "/metrics", page, METRICS_PAGE_MAX), 200);
    double charged = itmetric(page, "minyi_memory_charged_bytes");
    double in = itmetric(page, "minyi_frame_buffer_bytes{direction=\"in\"}");
    print_message("/metrics: %.0f bytes charged, %.0f bytes of frames held\n", charged, in);
    assert_true(itmetric(page, "minyi_memory_budget_bytes") == (double)BUDGET);
    assert_true(charged > (double)(BUDGET - HOG_FRAME) && charged <= (double)(BUDGET + ANSWER_SLACK));
    assert_true(in > 0 && in <= charged + (double)HOGS * WINDOW);
    free(page);

    /* A contact point keeps submitting meanwhile. */
    for (int i = 0; i < SUBMITS_DURING; i++) {
        long long s0 = itnow_ms();
        r = tmake_report(NULL, NULL);
        assert_non_null(r);
        itsubmit_ok(contact, r, NULL);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        if (i == 0)
            print_message("a submit while the budget is held: %lld ms\n", itnow_ms() - s0);
    }
    /* A report larger than the window waits for memory ... */
    size_t zh = strlen("民");
    char *situation = malloc(LARGE_SITUATION_CHARS * zh + 1);
    assert_non_null(situation);
    for (int i = 0; i < LARGE_SITUATION_CHARS; i++)
        memcpy(situation + i * zh, "民", zh);
    situation[LARGE_SITUATION_CHARS * zh] = '\0';
    r = tmake_report(NULL, situation);
    assert_non_null(r);
    free(situation);
    struct client_conn *large = itconnect(&env, "contact2");
    itsend_submit(large, 1, r);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    struct pollfd pfd = { .fd = client_fd(large), .events = POLLIN };
    assert_int_equal(poll(&pfd, 1, WAIT_SHOWN_MS), 0);

    /* ... and is taken once the holders are gone. */
    long long c0 = itnow_ms();
    for (int i = 0; i < HOGS; i++)
        close_abruptly(hogs[i].c);
    struct frame_arena *arena = NULL;
    Frame *f = itrecv(large, &arena);
    print_message("the large report answered %lld ms after the holders began to close\n",
                  itnow_ms() - c0);
    char receipt[IT_RECEIPT_MAX];
    itexpect_receipt(f, receipt);
    frame_arena_free(arena);
    client_close(large);

    wait_log("event=memory_wait_end", SETTLE_MS);
    long long peak = log_figure("event=memory_wait_end", "peak=");
    print_message("peak charged to the budget: %lld bytes of %u\n", peak, BUDGET);
    assert_true(peak > 0 && peak <= (long long)(BUDGET + ANSWER_SLACK));
    if (IT_CHECK_RSS) {
        long now;
        long want = rss_start + rss_start * RETURN_PERCENT / 100;
        bool back = rss_falls_to(want, SETTLE_MS, &now);
        print_message("gateway RSS after the close: %ld kB (start %ld kB); anonymous %ld kB, "
                      "file %ld kB\n",
                      now, rss_start, itstatus_kb(env.gw.pid, "RssAnon"),
                      itstatus_kb(env.gw.pid, "RssFile"));
        if (!back)
            fail_msg("RSS %ld kB after the close, above the start %ld kB + %d %%", now, rss_start,
                     RETURN_PERCENT);
    }
    client_close(contact);
    free(hogs);
    free(frame);
}

static void test_non_reading_pipeliner_cut_off(void **state)
{
    (void)state;
    /* Reports to list, so each answer is a few kB for a request of a few bytes. */
    struct client_conn *c = itconnect(&env, "contact1");
    small_sndbuf(c);
    for (int i = 0; i < REPORTS_TO_LIST; i++) {
        Minyi__V1__Report *r = tmake_report(NULL, NULL);
        assert_non_null(r);
        itsubmit_ok(c, r, NULL);
        protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    long rss0 = itrss_kb(env.gw.pid);

    Minyi__V1__Frame req = MINYI__V1__FRAME__INIT;
    Minyi__V1__ListMineRequest lm = MINYI__V1__LIST_MINE_REQUEST__INIT;
    lm.limit = LIST_LIMIT;
    req.body_case = MINYI__V1__FRAME__BODY_LIST_MINE;
    req.list_mine = &lm;
    req.id = 1;
    size_t one = frame_encoded_size(&req);
    size_t len = one * PIPELINED, sent = 0;
    uint8_t *buf = malloc(len);
    assert_non_null(buf);
    for (size_t i = 0; i < PIPELINED; i++)
        frame_encode_to(&req, buf + i * one);
    /* Send without reading until the gateway cuts the connection off. */
    long long until = itnow_ms() + STALL_MS * 5;
    bool cut = false;
    while (sent < len && itnow_ms() < until) {
        long k = client_send_nowait(c, buf + sent, len - sent);
        if (k < 0) {
            cut = true;
            break;
        }
        sent += (size_t)k;
        if (k == 0)
            itsleep_ms(50);
    }
    free(buf);
    client_close(c);
    print_message("the client sent %zu of %zu bytes of list requests without reading\n", sent,
                  len);
    assert_true(cut);
    assert_true(sent < len);
    wait_log("answers not read", STALL_MS * 5);
    long long queued = log_figure("answers not read", "(");
    long rss1 = itrss_kb(env.gw.pid);
    print_message("cut off with %lld bytes of answers queued; gateway RSS %ld kB before, %ld kB "
                  "after\n",
                  queued, rss0, rss1);
    assert_true(queued > (long long)HIGH_WATER && queued <= (long long)QUEUED_MAX);
    if (IT_CHECK_RSS)
        assert_true(rss1 - rss0 < (long)(QUEUED_MAX / 1024) + SLACK_KB);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_partial_frames_bounded),
        cmocka_unit_test(test_non_reading_pipeliner_cut_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
