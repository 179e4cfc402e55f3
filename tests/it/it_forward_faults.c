/*
 * it_forward_faults: forwarding between two real instances through faults
 * of the way between them, and what must survive: every report arrives
 * above exactly once and every outbox row ends delivered.
 *
 *  - The upper gateway stopped (its listener gone) while 24 reports are
 *    forwarded, for many retry intervals: the rows wait, the lower gateway
 *    dials the dead peer far less often than it polls (a per-peer reconnect
 *    backoff), each row's attempts stay far below the number of polls, and
 *    its CPU stays near idle; then the upper starts again and every report
 *    arrives once.
 *  - An upper that accepts connections and never answers (as behind a link
 *    that is down): the same, through handshake timeouts.
 *  - The answer lost after the upper stored the report: a relay between
 *    the instances holds back what the upper sends once the handshake is
 *    done, and closes the connection when the upper has answered; the
 *    lower resends and gets the same receipt; the upper stores it once.
 *  - The lower gateway killed with SIGKILL after the upper stored the
 *    report and before the lower could mark it (the relay holds the
 *    answer): a new gateway on the same database resends once the claim's
 *    lease has run out; still once.
 *
 * The relay is a thread passing TCP bytes between the lower and the upper
 * on loopback.  It cannot read the TLS inside, and need not: the lower's
 * second flight of the handshake (anything after its ClientHello record)
 * can only be sent after the upper's whole first flight went through, and
 * the upper sends no session tickets, so whatever the upper sends after
 * that is an answer.  The upper's log says when it answered the report.
 *
 * MINYI_FWD_OUTAGE_S (default 8) sets how long the upper stays unreachable
 * in the first two tests; tests/faults runs them for minutes.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "itkit.h"

#define UPPER_REGION "330400"          /* the harness's default body */

/* The lower instance's forwarding settings: short, so that an outage of a
 * few seconds spans many retry intervals. */
#define POLL_MS 100
#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 2000
#define RECONNECT_MIN_MS 200           /* the peer's own backoff */
#define RECONNECT_MAX_MS 2000
#define SILENT_RECONNECT_MAX_MS 4000   /* the same, against the silent upper */
#define TIMEOUT_MS 10000               /* connect + handshake, and each answer */
/* The same when the upper never answers: short, so that without a backoff
 * for the peer the lower would try it more often than the bound below. */
#define SILENT_TIMEOUT_MS 300
#define LEASE_S 10
#define CLOCK_SLACK_MS 200             /* the database's clock against ours */

#define OUTAGE_S_DEFAULT 8
#define OUTAGE_REPORTS 24
#define OUTAGE_BEFORE_STOP 6           /* of them forwarded while the upper is still up */
#define SILENT_REPORTS 12
/* Without backoff the lower would dial the unreachable upper again, and
 * attempt each due row, on every poll once the last dial failed: when the
 * dial is refused at once, on every poll; when the upper stays silent,
 * once per timeout and poll.  With the backoff it must do so at most 1/GAIN
 * as often.  (A silent upper slows the dials down by itself, so the gain
 * asked of the backoff there is smaller.) */
#define BACKOFF_GAIN_REFUSED 5
#define BACKOFF_GAIN_SILENT 2
#define ATTEMPTS_MIN 3                 /* retries did happen during the outage */
/* CPU time of the lower gateway while the upper is unreachable, in
 * thousandths of the outage's wall time: near idle (a gateway spinning on
 * the dead peer burns one core, 1000). */
#define CPU_IDLE_MAX_PERMILLE 50
#define DELIVER_WITHIN_MS 60000        /* after the fault ends, or the lease runs out */
#define WAIT_STEP_MS 50

static struct itenv env;
static int outage_ms = OUTAGE_S_DEFAULT * 1000;

static int setup(void **state)
{
    (void)state;
    const char *s = getenv("MINYI_FWD_OUTAGE_S");
    if (s != NULL && atoi(s) > 0)
        outage_ms = atoi(s) * 1000;
    if (!itenv_up(&env, NULL))
        return -1;
    /* Every lower instance below uses the peer1 certificate. */
    return tprincipal_add(env.conninfo, "peer1", "peer", IT_REGION, true) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

/* Each test starts with the upper gateway running, also after a test that
 * failed while it was stopped. */
static int upper_running(void **state)
{
    (void)state;
    if (env.gw.pid > 0)
        return 0;
    return tgw_start_again(&env.gw) ? 0 : -1;
}

/* ---- the relay ---------------------------------------------------------------- */

#define RELAY_PAIRS_MAX 16
#define RELAY_POLL_MS 20
#define RELAY_BUF 16384
#define TLS_RECORD_HEADER 5

enum relay_fault {
    RELAY_PASS,          /* both ways unchanged */
    RELAY_HOLD,          /* answers are never passed on, until relay_cut closes it */
    RELAY_SILENT,        /* accepted, read, never answered, not even the handshake */
};

struct relay_pair {
    int down, up;              /* the lower's side, the upper's side; -1: none */
    enum relay_fault fault;
    uint8_t hello_hdr[TLS_RECORD_HEADER];
    size_t from_lower;         /* bytes the lower sent */
};

struct relay {
    int lfd, port, upstream_port;
    pthread_t thread;
    bool running;
    atomic_bool stop;
    atomic_int fault;          /* given to the next `faulty` connections */
    atomic_int faulty;
    atomic_bool cut;           /* close the held connections (the thread clears it) */
    atomic_int accepted;       /* connections the lower made */
    atomic_llong held;         /* bytes of answers held back */
    struct relay_pair pairs[RELAY_PAIRS_MAX];   /* the relay thread's own */
};

/* One relay at a time, never on a test's stack: a failing test leaves its
 * function by longjmp while the thread still runs. */
static struct relay relay;

static bool send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void pair_close(struct relay_pair *p)
{
    if (p->down >= 0)
        close(p->down);
    if (p->up >= 0)
        close(p->up);
    p->down = p->up = -1;
}

static int connect_loopback(int port)
{
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void relay_accept(struct relay *r)
{
    int fd = accept(r->lfd, NULL, NULL);
    struct relay_pair *p = NULL;

    if (fd < 0)
        return;
    atomic_fetch_add(&r->accepted, 1);
    for (int i = 0; i < RELAY_PAIRS_MAX && p == NULL; i++)
        if (r->pairs[i].down < 0)
            p = &r->pairs[i];
    if (p == NULL) {
        close(fd);
        return;
    }
    memset(p, 0, sizeof(*p));
    p->down = fd;
    p->up = -1;
    p->fault = RELAY_PASS;
    if (atomic_load(&r->faulty) > 0) {
        atomic_fetch_sub(&r->faulty, 1);
        p->fault = (enum relay_fault)atomic_load(&r->fault);
    }
    if (p->fault == RELAY_SILENT)
        return;
    p->up = connect_loopback(r->upstream_port);
    if (p->up < 0)
        pair_close(p);   /* as if the upper were down: the lower sees the close */
}

/* The lower's ClientHello is the first TLS record it sends; anything
 * after it is the lower's second flight or a request. */
static bool past_hello(const struct relay_pair *p)
{
    if (p->from_lower < TLS_RECORD_HEADER)
        return false;
    size_t len = (size_t)p->hello_hdr[3] << 8 | p->hello_hdr[4];
    return p->from_lower > TLS_RECORD_HEADER + len;
}

static void relay_from_lower(struct relay_pair *p)
{
    uint8_t buf[RELAY_BUF];
    ssize_t n = recv(p->down, buf, sizeof(buf), 0);

    if (n <= 0) {
        pair_close(p);
        return;
    }
    for (size_t i = 0; i < (size_t)n && p->from_lower + i < TLS_RECORD_HEADER; i++)
        p->hello_hdr[p->from_lower + i] = buf[i];
    p->from_lower += (size_t)n;
    if (p->fault != RELAY_SILENT && !send_all(p->up, buf, (size_t)n))
        pair_close(p);
}

static void relay_from_upper(struct relay *r, struct relay_pair *p)
{
    uint8_t buf[RELAY_BUF];
    ssize_t n = recv(p->up, buf, sizeof(buf), 0);

    if (n <= 0) {
        pair_close(p);
        return;
    }
    if (p->fault == RELAY_HOLD && past_hello(p)) {
        atomic_fetch_add(&r->held, n);
        return;
    }
    if (!send_all(p->down, buf, (size_t)n))
        pair_close(p);
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;

    while (!atomic_load(&r->stop)) {
        struct pollfd pfd[1 + 2 * RELAY_PAIRS_MAX];
        int down_at[RELAY_PAIRS_MAX], up_at[RELAY_PAIRS_MAX];
        nfds_t n = 0;

        pfd[n++] = (struct pollfd){ .fd = r->lfd, .events = POLLIN };
        for (int i = 0; i < RELAY_PAIRS_MAX; i++) {
            struct relay_pair *p = &r->pairs[i];
            down_at[i] = up_at[i] = -1;
            if (p->down < 0)
                continue;
            down_at[i] = (int)n;
            pfd[n++] = (struct pollfd){ .fd = p->down, .events = POLLIN };
            if (p->up >= 0) {
                up_at[i] = (int)n;
                pfd[n++] = (struct pollfd){ .fd = p->up, .events = POLLIN };
            }
        }
        if (poll(pfd, n, RELAY_POLL_MS) <= 0)
            continue;
        const short ready = POLLIN | POLLHUP | POLLERR;
        for (int i = 0; i < RELAY_PAIRS_MAX; i++) {
            struct relay_pair *p = &r->pairs[i];
            if (down_at[i] >= 0 && p->down >= 0 && (pfd[down_at[i]].revents & ready))
                relay_from_lower(p);
            if (up_at[i] >= 0 && p->up >= 0 && (pfd[up_at[i]].revents & ready))
                relay_from_upper(r, p);
        }
        if (pfd[0].revents & POLLIN)
            relay_accept(r);
        if (atomic_load(&r->cut)) {
            for (int i = 0; i < RELAY_PAIRS_MAX; i++)
                if (r->pairs[i].down >= 0 && r->pairs[i].fault == RELAY_HOLD)
                    pair_close(&r->pairs[i]);
            atomic_store(&r->cut, false);
        }
    }
    for (int i = 0; i < RELAY_PAIRS_MAX; i++)
        pair_close(&r->pairs[i]);
    return NULL;
}

/* Starts a relay on a free loopback port in front of the upper gateway;
 * the next `faulty` connections get `fault`, the rest pass unchanged. */
static void relay_start(struct relay *r, enum relay_fault fault, int faulty)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    socklen_t alen = sizeof(a);
    int one = 1;

    memset(r, 0, sizeof(*r));
    for (int i = 0; i < RELAY_PAIRS_MAX; i++)
        r->pairs[i].down = r->pairs[i].up = -1;
    r->upstream_port = env.gw.port;
    atomic_init(&r->stop, false);
    atomic_init(&r->fault, fault);
    atomic_init(&r->faulty, faulty);
    atomic_init(&r->cut, false);
    atomic_init(&r->accepted, 0);
    atomic_init(&r->held, 0);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->lfd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(r->lfd >= 0);
    assert_int_equal(setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)), 0);
    assert_int_equal(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(r->lfd, 64), 0);
    assert_int_equal(getsockname(r->lfd, (struct sockaddr *)&a, &alen), 0);
    r->port = ntohs(a.sin_port);
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
    r->running = true;
}

/* From now on, every connection passes unchanged. */
static void relay_heal(struct relay *r)
{
    atomic_store(&r->faulty, 0);
}

/* Closes the held connections, answers unsent: the lower sees the close. */
static void relay_cut(struct relay *r)
{
    atomic_store(&r->cut, true);
    while (atomic_load(&r->cut))
        itsleep_ms(RELAY_POLL_MS);
}

static void relay_stop(struct relay *r)
{
    if (!r->running)
        return;
    atomic_store(&r->stop, true);
    pthread_join(r->thread, NULL);
    close(r->lfd);
    r->running = false;
}

/* ---- the lower instance ------------------------------------------------------ */

struct lower {
    struct tgw gw;
    char conninfo[1024];
    const char *region;           /* its body: the prefix of its receipts */
    struct client_conn *contact, *editor;
};

/* A lower instance on a database of its own, forwarding to 127.0.0.1:port
 * (the upper gateway or a relay in front of it). */
static void lower_up(struct lower *lo, const char *dbname, const char *region, int port,
                     int timeout_ms, int reconnect_max_ms)
{
    char ini[4096];

    memset(lo, 0, sizeof(*lo));
    lo->region = region;
    assert_true(tpg_create_db(&env.pg, dbname, lo->conninfo, sizeof(lo->conninfo)));
    snprintf(ini, sizeof ini,
             "[gateway]\nbody_region = %s\nbody_name = 下级政协\n"
             "[forward]\npoll_ms = %d\nbackoff_min_ms = %d\nbackoff_max_ms = %d\n"
             "reconnect_min_ms = %d\nreconnect_max_ms = %d\n"
             "max_attempts = 1000\ntimeout_ms = %d\nlease_s = %d\n"
             "[peer.province]\nhost = 127.0.0.1\nport = %d\nca = %s\nserver_name = localhost\n"
             "cert = %s\nkey = %s\n",
             region, POLL_MS, BACKOFF_MIN_MS, BACKOFF_MAX_MS, RECONNECT_MIN_MS, reconnect_max_ms,
             timeout_ms, LEASE_S, port, tcert("ca", "crt"), tcert("peer1", "crt"),
             tcert("peer1", "key"));
    assert_true(tgw_start(&lo->gw, lo->conninfo, ini));
    /* Reports carry the contact points' region, which the editor covers. */
    assert_true(tprincipal_add(lo->conninfo, "contact1", "contact", IT_REGION, true) > 0);
    assert_true(tprincipal_add(lo->conninfo, "editor1", "editor", IT_REGION, true) > 0);
    lo->contact = itconnect_gw(&lo->gw, "contact1");
    lo->editor = itconnect_gw(&lo->gw, "editor1");
}

static void lower_down(struct lower *lo)
{
    client_close(lo->contact);
    client_close(lo->editor);
    lo->contact = lo->editor = NULL;
    int code = tgw_stop(&lo->gw, SIGTERM);
    if (code != 0)
        fail_msg("lower minyid exited with %d", code);
}

/* A contact point of the lower instance submits a report, and its editor
 * claims it and forwards it to province; copies the lower receipt. */
static void forward_one(struct lower *lo, char *receipt)
{
    itsubmit_forwarded(lo->contact, lo->editor, "需要上报的情况", "province", receipt);
}

/* A column of the outbox row of the lower report `receipt` (malloc'd). */
static char *outbox_col(const struct lower *lo, const char *receipt, const char *col)
{
    char sql[256];
    const char *p[1] = { receipt };
    snprintf(sql, sizeof sql, "SELECT o.%s::text FROM outbox o JOIN reports r ON"
             " r.id = o.report_id WHERE r.receipt = $1", col);
    char *v = itdb_text(lo->conninfo, sql, 1, p);
    assert_non_null(v);
    return v;
}

static bool outbox_is(const struct lower *lo, const char *receipt, const char *state)
{
    char *st = outbox_col(lo, receipt, "state");
    bool ok = strcmp(st, state) == 0;
    free(st);
    return ok;
}

static void wait_delivered(const struct lower *lo, const char *receipt, long long until)
{
    while (!outbox_is(lo, receipt, "delivered")) {
        if (itnow_ms() > until) {
            tgw_dump_log(&lo->gw);
            fail_msg("%s not delivered", receipt);
        }
        itsleep_ms(WAIT_STEP_MS);
    }
}

/* Reports stored above for the lower report `receipt`. */
static long long upper_copies(const struct lower *lo, const char *receipt)
{
    const char *p[2] = { lo->region, receipt };
    return tdb_scalar(env.conninfo, "SELECT count(*) FROM reports WHERE origin_region = $1"
                      " AND origin_receipt = $2", 2, p);
}

/* Exactly one report above for it, whose receipt the lower recorded, and
 * one 'delivered' event below. */
static void assert_arrived_once(const struct lower *lo, const char *receipt)
{
    const char *p[2] = { lo->region, receipt };
    assert_int_equal(upper_copies(lo, receipt), 1);
    char *there = itdb_text(env.conninfo, "SELECT receipt FROM reports WHERE origin_region = $1"
                            " AND origin_receipt = $2", 2, p);
    assert_non_null(there);
    char *up = outbox_col(lo, receipt, "upstream_receipt");
    assert_string_equal(up, there);
    free(up);
    free(there);
    const char *r[1] = { receipt };
    assert_int_equal(tdb_scalar(lo->conninfo,
                                "SELECT count(*) FROM events e JOIN reports r ON r.id = e.report_id"
                                " WHERE r.receipt = $1 AND e.action = 'delivered'", 1, r), 1);
}

/* Size of a file now: where a later count of log lines starts. */
static long log_size(const struct tgw *gw)
{
    FILE *f = fopen(gw->log, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Lines of a gateway's log after byte `from` that contain needle. */
static int log_count(const struct tgw *gw, long from, const char *needle)
{
    FILE *f = fopen(gw->log, "r");
    char line[4096];
    int n = 0;

    assert_non_null(f);
    fseek(f, from, SEEK_SET);
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, needle) != NULL)
            n++;
    fclose(f);
    return n;
}

/* The dials and retries the lower made while the upper was unreachable
 * for `ms`, each failed dial taking dial_ms, and its CPU time, against what
 * polling without backoff makes. */
static void assert_backed_off(const struct lower *lo, long log_from, long long cpu_from,
                              long long ms, int dial_ms, int gain, const char *what)
{
    long long unbacked = ms / (dial_ms + POLL_MS);
    long long cpu = itcpu_ms(lo->gw.pid) - cpu_from;
    int dials = log_count(&lo->gw, log_from, "event=forward_connection_lost dest=province");
    long long attempts = tdb_scalar(lo->conninfo,
                                    "SELECT max(attempts) FROM outbox WHERE state <> 'delivered'",
                                    0, NULL);
    long long dead = tdb_scalar(lo->conninfo, "SELECT count(*) FROM outbox WHERE state = 'dead'",
                                0, NULL);

    fprintf(stderr, "%s for %lld ms: %lld dials without backoff, %d failed connections,"
            " at most %lld attempts per row, %lld ms CPU\n", what, ms, unbacked, dials, attempts,
            cpu);
    assert_int_equal(dead, 0);
    if (attempts < ATTEMPTS_MIN)
        fail_msg("only %lld attempts: the rows were not retried", attempts);
    if (dials > unbacked / gain)
        fail_msg("%d connections where polling would make %lld: no backoff for the peer",
                 dials, unbacked);
    if (attempts > unbacked / gain)
        fail_msg("%lld attempts of one row where polling would make %lld: no backoff",
                 attempts, unbacked);
    if (cpu * 1000 > ms * CPU_IDLE_MAX_PERMILLE)
        fail_msg("%lld ms CPU in %lld ms: not idle", cpu, ms);
}

/* ---- the tests ------------------------------------------------------------------ */

/* The lower instance of the running test, static for the same reason as
 * the relay. */
static struct lower lower;

/* Whatever a failed test left running goes; the next starts clean. */
static int test_cleanup(void **state)
{
    (void)state;
    relay_stop(&relay);
    if (lower.contact != NULL)
        client_close(lower.contact);
    if (lower.editor != NULL)
        client_close(lower.editor);
    lower.contact = lower.editor = NULL;
    tgw_kill(&lower.gw);
    return 0;
}

static void test_upper_stopped(void **state)
{
    (void)state;
    struct lower *lo = &lower;
    static char receipts[OUTAGE_REPORTS][IT_RECEIPT_MAX];

    lower_up(lo, "lower_stopped", "330411", env.gw.port, TIMEOUT_MS, RECONNECT_MAX_MS);
    for (int i = 0; i < OUTAGE_BEFORE_STOP; i++)
        forward_one(lo, receipts[i]);
    /* Stopped while the first are on their way: what it committed it
     * answers, the rest wait below. */
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    for (int i = OUTAGE_BEFORE_STOP; i < OUTAGE_REPORTS; i++)
        forward_one(lo, receipts[i]);

    long log_from = log_size(&lo->gw);
    long long cpu_from = itcpu_ms(lo->gw.pid);
    long long t0 = itnow_ms();
    while (itnow_ms() - t0 < outage_ms) {
        for (int i = OUTAGE_BEFORE_STOP; i < OUTAGE_REPORTS; i++)
            if (outbox_is(lo, receipts[i], "delivered"))
                fail_msg("%s delivered while the upper was stopped", receipts[i]);
        itsleep_ms(500);
    }
    assert_backed_off(lo, log_from, cpu_from, itnow_ms() - t0, 0, BACKOFF_GAIN_REFUSED,
                      "upper stopped");

    assert_true(tgw_start_again(&env.gw));
    long long until = itnow_ms() + DELIVER_WITHIN_MS;
    for (int i = 0; i < OUTAGE_REPORTS; i++)
        wait_delivered(lo, receipts[i], until);
    for (int i = 0; i < OUTAGE_REPORTS; i++)
        assert_arrived_once(lo, receipts[i]);
    const char *p[1] = { lo->region };
    assert_int_equal(tdb_scalar(env.conninfo,
                                "SELECT count(*) FROM reports WHERE origin_region = $1", 1, p),
                     OUTAGE_REPORTS);
    assert_int_equal(tdb_scalar(lo->conninfo,
                                "SELECT count(*) FROM outbox WHERE state <> 'delivered'", 0, NULL),
                     0);
    lower_down(lo);
}

/* The upper accepts the connection and never answers, not even the
 * handshake: each attempt ends by the lower's timeout. */
static void test_upper_silent(void **state)
{
    (void)state;
    struct lower *lo = &lower;
    static char receipts[SILENT_REPORTS][IT_RECEIPT_MAX];

    relay_start(&relay, RELAY_SILENT, INT32_MAX);
    lower_up(lo, "lower_silent", "330421", relay.port, SILENT_TIMEOUT_MS,
             SILENT_RECONNECT_MAX_MS);
    for (int i = 0; i < SILENT_REPORTS; i++)
        forward_one(lo, receipts[i]);

    long log_from = log_size(&lo->gw);
    long long cpu_from = itcpu_ms(lo->gw.pid);
    long long t0 = itnow_ms();
    while (itnow_ms() - t0 < outage_ms) {
        for (int i = 0; i < SILENT_REPORTS; i++)
            if (outbox_is(lo, receipts[i], "delivered"))
                fail_msg("%s delivered through a silent upper", receipts[i]);
        itsleep_ms(500);
    }
    assert_backed_off(lo, log_from, cpu_from, itnow_ms() - t0, SILENT_TIMEOUT_MS,
                      BACKOFF_GAIN_SILENT, "upper silent");
    assert_true(log_count(&lo->gw, log_from, "reason=\"timeout talking to") > 0);

    relay_heal(&relay);
    long long until = itnow_ms() + DELIVER_WITHIN_MS;
    for (int i = 0; i < SILENT_REPORTS; i++)
        wait_delivered(lo, receipts[i], until);
    for (int i = 0; i < SILENT_REPORTS; i++)
        assert_arrived_once(lo, receipts[i]);
    lower_down(lo);
}

/* Lines of the upper's log answering the lower report `receipt`; with
 * `tail` (e.g. "receipt=X duplicate=1") only those that go on so. */
static int upper_answers(const struct lower *lo, const char *receipt, const char *tail)
{
    char needle[256];
    snprintf(needle, sizeof needle, "op=forward result=0 origin=%s/%s %s", lo->region, receipt,
             tail);
    return log_count(&env.gw, 0, needle);
}

/* The upper answered once with duplicate=0, and at least once more with
 * duplicate=1, always with the receipt the lower recorded. */
static void assert_answered_again(const struct lower *lo, const char *receipt)
{
    char *up = outbox_col(lo, receipt, "upstream_receipt");
    char tail[128];

    snprintf(tail, sizeof tail, "receipt=%s duplicate=0", up);
    assert_int_equal(upper_answers(lo, receipt, tail), 1);
    snprintf(tail, sizeof tail, "receipt=%s duplicate=1", up);
    int dup = upper_answers(lo, receipt, tail);
    free(up);
    assert_true(dup >= 1);
    assert_int_equal(upper_answers(lo, receipt, ""), 1 + dup);
}

/* Waits until the upper answered the report through the relay, which
 * holds the answer back: stored above, not known below. */
static void wait_answer_held(const struct lower *lo, const char *receipt)
{
    long long until = itnow_ms() + DELIVER_WITHIN_MS;
    while (upper_answers(lo, receipt, "") == 0) {
        if (itnow_ms() > until) {
            tgw_dump_log(&lo->gw);
            fail_msg("the upper never answered %s", receipt);
        }
        itsleep_ms(WAIT_STEP_MS / 5);
    }
    assert_int_equal(upper_copies(lo, receipt), 1);
    assert_true(outbox_is(lo, receipt, "in_flight"));
    char *att = outbox_col(lo, receipt, "attempts");
    assert_string_equal(att, "1");
    free(att);
}

static void test_answer_lost(void **state)
{
    (void)state;
    struct lower *lo = &lower;
    char r1[IT_RECEIPT_MAX];

    relay_start(&relay, RELAY_HOLD, 1);
    lower_up(lo, "lower_lost", "330424", relay.port, TIMEOUT_MS, RECONNECT_MAX_MS);
    forward_one(lo, r1);
    wait_answer_held(lo, r1);
    relay_cut(&relay);
    assert_true(atomic_load(&relay.held) > 0);

    wait_delivered(lo, r1, itnow_ms() + DELIVER_WITHIN_MS);
    assert_arrived_once(lo, r1);
    char *att = outbox_col(lo, r1, "attempts");
    assert_true(atoi(att) >= 2);
    free(att);
    assert_true(atomic_load(&relay.accepted) >= 2);
    assert_answered_again(lo, r1);
    lower_down(lo);
}

static void test_lower_killed(void **state)
{
    (void)state;
    struct lower *lo = &lower;
    char r1[IT_RECEIPT_MAX];

    relay_start(&relay, RELAY_HOLD, 1);
    lower_up(lo, "lower_killed", "330481", relay.port, TIMEOUT_MS, RECONNECT_MAX_MS);
    forward_one(lo, r1);
    /* The row is claimed after this, and its lease runs from the claim. */
    long long decided = itnow_ms();
    wait_answer_held(lo, r1);

    client_close(lo->contact);
    client_close(lo->editor);
    lo->contact = lo->editor = NULL;
    tgw_kill(&lo->gw);
    long long killed = itnow_ms();
    /* A new gateway on the same database (and config): the row is still
     * held by the dead one's claim until its lease runs out. */
    assert_true(tgw_start_again(&lo->gw));
    wait_delivered(lo, r1, itnow_ms() + LEASE_S * 1000 + DELIVER_WITHIN_MS);
    long long delivered = itnow_ms();
    fprintf(stderr, "delivered %lld ms after the kill, %lld ms after the decision (lease %d s)\n",
            delivered - killed, delivered - decided, LEASE_S);
    if (delivered - decided < LEASE_S * 1000 - CLOCK_SLACK_MS)
        fail_msg("resent before the dead gateway's lease ran out");
    assert_arrived_once(lo, r1);
    char *att = outbox_col(lo, r1, "attempts");
    assert_true(atoi(att) >= 2);
    free(att);
    assert_answered_again(lo, r1);
    assert_int_equal(tgw_stop(&lo->gw, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upper_stopped, upper_running, test_cleanup),
        cmocka_unit_test_setup_teardown(test_upper_silent, upper_running, test_cleanup),
        cmocka_unit_test_setup_teardown(test_answer_lost, upper_running, test_cleanup),
        cmocka_unit_test_setup_teardown(test_lower_killed, upper_running, test_cleanup),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
