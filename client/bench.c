/*
 * minyi-bench: a load generator for the minyi gateway.
 *
 *   minyi-bench --profile contact.conf [--connections N] [--inflight K]
 *               [--size 1|4|16] [--corpus DIR] [--count C | --duration S]
 *               [--rate R] [--new-conn-per-report] [--handshake-only]
 *               [--idle N] [--json FILE]
 *
 * One thread drives every connection from one libevent loop, with
 * non-blocking OpenSSL on each socket and the framing of proto/frame.h, so
 * a few thousand connections with many requests in flight each cost the
 * generator little of the machine it shares with the gateway.
 *
 * Modes:
 *  - max rate (default): every connection keeps K submissions in flight.
 *  - fixed rate (--rate R): an open loop; submissions are scheduled at
 *    R per second whatever the answers do, given to the next connection
 *    with a free slot, and latency is measured from the scheduled time,
 *    so a gateway that falls behind shows it in the latency.
 *  - --new-conn-per-report: each of the N slots connects, completes the
 *    mutual TLS handshake, submits one report, waits for its receipt and
 *    closes; latency includes the handshake.
 *  - --handshake-only: as the above, but the request is an empty frame,
 *    which the gateway answers UNSUPPORTED without touching the database:
 *    the rate is that of complete mutual-TLS handshakes.
 *  - --idle N: first opens N connections that each complete one request
 *    and then stay idle, prints "idle connections open" on stderr, and
 *    then runs the chosen mode (a trickle, with --rate) beside them.
 *
 * Every submission carries a new client_report_id (a random per-run prefix
 * and a counter), so no answer is a duplicate.  The report's situation is
 * cut from the corpus files so that the whole report is about --size KB.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "client.h"
#include "hex.h"

#define BENCH_ALPN_WIRE "\x07minyi/1"
#define BENCH_MAX_INCOMING (1u << 20)      /* answers are small; refuse larger */
#define BENCH_DECODE_BUDGET (1u << 20)
#define BENCH_READ_CHUNK 16384
#define BENCH_MAX_CONNECTIONS 100000
#define BENCH_MAX_INFLIGHT 4096
#define BENCH_TICK_US 1000                 /* fixed-rate scheduler period */
#define BENCH_DRAIN_S 60                   /* wait this long for answers after sending stops */
#define BENCH_IDLE_HANDSHAKES_AT_ONCE 64   /* idle connections being opened at once */
#define BENCH_REPORT_OVERHEAD 400          /* bytes of a report besides the situation */
#define BENCH_N_CODES 16
#define BENCH_CORPUS_MAX (16u << 20)

enum conn_role { ROLE_WORK, ROLE_IDLE };
enum conn_state { C_OFF, C_CONNECTING, C_HANDSHAKE, C_READY };

struct pending {
    uint64_t id;
    int64_t t0;             /* ns: when the request was sent or scheduled */
};

struct conn {
    enum conn_role role;
    enum conn_state state;
    int fd;
    SSL *ssl;
    struct event *ev;
    short armed;
    bool want_write;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    uint8_t *in;
    size_t in_len, in_cap;
    struct pending *pend;
    int npend;
    uint64_t next_id;
    int64_t conn_t0;        /* ns: start of this connection (new-conn modes) */
    bool idle_done;
};

struct bench {
    /* options */
    const char *profile_path, *corpus_dir, *json_path;
    int connections, inflight, size_kb, idle;
    long long count;
    double duration_s, rate;
    bool new_conn, handshake_only;

    struct client_profile prof;
    struct addrinfo *addr;
    SSL_CTX *ctx;
    struct event_base *base;
    struct event *tick_ev, *progress_ev, *stop_ev;

    Minyi__V1__Report report;
    Minyi__V1__Reporter reporter;
    char crid[37];
    uint8_t crid_prefix[8];
    uint64_t crid_counter;

    struct conn *conns;     /* connections first, then idle ones */
    int n_conns;
    int rr;                 /* round robin position for the fixed rate */

    int64_t t_start, t_end, t_stop_sending;
    long long scheduled;    /* work items handed out */
    long long acked, errors, conn_errors;
    long long err_by_code[BENCH_N_CODES];
    long long last_progress_acked;
    int64_t *lat;
    size_t n_lat, cap_lat;
    bool sending_stopped, finished;
    int idle_open, idle_opening, idle_next, idle_failed;
    bool main_started;
};

static struct bench B;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("minyi-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (q == NULL)
        die("out of memory");
    return q;
}

/* ---- the report ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus files' text concatenated (sorted by name), NUL-terminated. */
static char *load_corpus(const char *dir, size_t *len)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        die("cannot open the corpus directory %s: %s", dir, strerror(errno));
    char *names[256];
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < 256) {
        if (de->d_name[0] == '.')
            continue;
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(names[0]), cmp_str);
    char *text = NULL;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        free(names[i]);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        char buf[65536];
        size_t got;
        while ((got = fread(buf, 1, sizeof(buf), f)) > 0 && total < BENCH_CORPUS_MAX) {
            text = xrealloc(text, total + got + 1);
            memcpy(text + total, buf, got);
            total += got;
        }
        fclose(f);
    }
    if (total == 0)
        die("the corpus directory %s holds no text", dir);
    text[total] = '\0';
    *len = total;
    return text;
}

/* A situation of `want` bytes of corpus text (repeated when the corpus is
 * shorter), cut back to the end of a UTF-8 character. */
static char *make_situation(size_t want)
{
    size_t clen;
    char *corpus = load_corpus(B.corpus_dir, &clen);
    char *s = xrealloc(NULL, want + 1);
    size_t have = 0;
    while (have < want) {
        size_t take = clen < want - have ? clen : want - have;
        memcpy(s + have, corpus, take);
        have += take;
        if (have < want)
            s[have++] = '\n';
    }
    while (have > 0 && ((unsigned char)s[have] & 0xC0) == 0x80)
        have--;
    s[have] = '\0';
    free(corpus);
    return s;
}

static ProtobufCBinaryData bytes_of(const char *s)
{
    ProtobufCBinaryData d = {strlen(s), (uint8_t *)s};
    return d;
}

static void make_report(void)
{
    size_t want = (size_t)B.size_kb * 1024;
    want = want > BENCH_REPORT_OVERHEAD ? want - BENCH_REPORT_OVERHEAD : want;
    minyi__v1__report__init(&B.report);
    minyi__v1__reporter__init(&B.reporter);
    B.report.reporter = &B.reporter;
    B.report.client_report_id = (ProtobufCBinaryData){36, (uint8_t *)B.crid};
    B.report.title = bytes_of("关于加快老旧小区加装电梯的建议");
    B.report.situation = bytes_of(make_situation(want));
    B.report.analysis = bytes_of("费用分摊机制不明确,低楼层住户顾虑较多。");
    B.report.suggestions = bytes_of("建议出台分摊指导意见,并由街道牵头协调。");
    B.report.category = MINYI__V1__CATEGORY__SOCIETY;
    B.report.urgency = MINYI__V1__URGENCY__NORMAL;
    B.report.region = bytes_of("330402");
    B.report.phone = bytes_of("13800000000");
    B.reporter.kind = MINYI__V1__REPORTER_KIND__MEMBER;
    B.reporter.name = bytes_of("张三");
    B.reporter.unit = bytes_of("南湖区政协");
    B.reporter.sector = bytes_of("经济界");
    if (RAND_bytes(B.crid_prefix, sizeof(B.crid_prefix)) != 1)
        die("RAND_bytes failed");
}

/* The next client_report_id: a version-4 UUID made of the run's random
 * prefix and a counter, so ids never repeat within a run and collide
 * across runs only with the probability of 64 random bits. */
static void next_crid(void)
{
    uint8_t u[16];
    memcpy(u, B.crid_prefix, 8);
    uint64_t c = B.crid_counter++;
    for (int i = 0; i < 8; i++)
        u[8 + i] = (uint8_t)(c >> (56 - 8 * i));
    u[6] = (uint8_t)((u[6] & 0x0F) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3F) | 0x80);
    hex_uuid_format(u, B.crid);
}

/* ---- connections ---------------------------------------------------------- */

static void conn_cb(evutil_socket_t fd, short what, void *arg);
static void conn_start(struct conn *c);
static void pump_all(void);
static void check_finished(void);

static void conn_arm(struct conn *c)
{
    short want = EV_READ | (c->want_write ? EV_WRITE : 0);
    if (c->state == C_CONNECTING)
        want = EV_WRITE;
    if (want == c->armed)
        return;
    event_del(c->ev);
    event_assign(c->ev, B.base, c->fd, want | EV_PERSIST, conn_cb, c);
    event_add(c->ev, NULL);
    c->armed = want;
}

static void conn_reset(struct conn *c)
{
    if (c->ev != NULL) {
        event_del(c->ev);
        c->armed = 0;
    }
    if (c->ssl != NULL) {
        SSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    c->state = C_OFF;
    c->out_len = c->out_off = c->in_len = 0;
    c->npend = 0;
    c->want_write = false;
}

static void count_error(int code)
{
    B.errors++;
    B.err_by_code[code >= 0 && code < BENCH_N_CODES ? code : 0]++;
}

/* A connection failed: its requests in flight count as connection errors,
 * and in the new-connection modes the slot starts over. */
static void conn_fail(struct conn *c, const char *why)
{
    static int reported;
    if (reported++ < 5)
        fprintf(stderr, "minyi-bench: connection failed: %s\n", why);
    /* Each lost request is one error; a connection lost with none in
     * flight is one as well. */
    int lost = c->npend > 0 ? c->npend : 1;
    B.conn_errors += lost;
    B.errors += lost;
    bool was_idle = c->role == ROLE_IDLE && !c->idle_done;
    conn_reset(c);
    if (was_idle) {
        B.idle_failed++;
        B.idle_opening--;
    }
    if (c->role == ROLE_WORK && !B.sending_stopped)
        conn_start(c);
    check_finished();
}

static void out_reserve(struct conn *c, size_t more)
{
    if (c->out_off > 0 && c->out_off == c->out_len)
        c->out_len = c->out_off = 0;
    if (c->out_len + more > c->out_cap) {
        c->out_cap = (c->out_len + more) * 2;
        c->out = xrealloc(c->out, c->out_cap);
    }
}

/* Appends one request to the output: a submission, or in handshake-only
 * mode and for idle connections an empty frame. */
static void conn_queue(struct conn *c, int64_t t0)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__SubmitRequest req = MINYI__V1__SUBMIT_REQUEST__INIT;
    f.id = c->next_id++;
    if (!B.handshake_only && c->role == ROLE_WORK) {
        next_crid();
        req.report = &B.report;
        f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
        f.submit = &req;
    }
    size_t n = frame_encoded_size(&f);
    out_reserve(c, n);
    frame_encode_to(&f, c->out + c->out_len);
    c->out_len += n;
    c->pend[c->npend].id = f.id;
    c->pend[c->npend].t0 = t0;
    c->npend++;
}

/* Takes one unit of work if the mode has one now; *t0 gets the time the
 * latency is measured from. */
static bool take_work(int64_t *t0)
{
    if (B.sending_stopped)
        return false;
    if (B.count > 0 && B.scheduled >= B.count)
        return false;
    int64_t now = clock_mono_ns();
    if (B.rate > 0) {
        double due = (double)(now - B.t_start) * 1e-9 * B.rate;
        if ((double)B.scheduled >= due)
            return false;
        *t0 = B.t_start + (int64_t)((double)B.scheduled * 1e9 / B.rate);
    } else {
        *t0 = now;
    }
    B.scheduled++;
    return true;
}

static bool conn_flush(struct conn *c)
{
    c->want_write = false;
    while (c->out_off < c->out_len) {
        size_t left = c->out_len - c->out_off;
        ERR_clear_error();
        int r = SSL_write(c->ssl, c->out + c->out_off, left > INT_MAX ? INT_MAX : (int)left);
        if (r > 0) {
            c->out_off += (size_t)r;
            continue;
        }
        int e = SSL_get_error(c->ssl, r);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            c->want_write = true;
            return true;
        }
        conn_fail(c, "write failed");
        return false;
    }
    c->out_len = c->out_off = 0;
    return true;
}

/* Fills a ready work connection with as much work as it may take. */
static void conn_fill(struct conn *c)
{
    if (c->state != C_READY || c->role != ROLE_WORK || !B.main_started)
        return;
    int cap = B.new_conn || B.handshake_only ? 1 : B.inflight;
    if (B.new_conn || B.handshake_only) {
        /* One request per connection: only the first. */
        if (c->next_id > 1)
            return;
        if (c->npend == 0)
            conn_queue(c, c->conn_t0);
        return;
    }
    int64_t t0;
    while (c->npend < cap && take_work(&t0))
        conn_queue(c, t0);
}

static void record_latency(int64_t t0)
{
    if (B.n_lat == B.cap_lat) {
        B.cap_lat = B.cap_lat ? B.cap_lat * 2 : 65536;
        B.lat = xrealloc(B.lat, B.cap_lat * sizeof(*B.lat));
    }
    B.lat[B.n_lat++] = clock_mono_ns() - t0;
}

/* Handles one answer; false when the connection was closed because of it. */
static bool conn_answer(struct conn *c, Frame *f)
{
    int i;
    for (i = 0; i < c->npend; i++)
        if (c->pend[i].id == f->id)
            break;
    if (i == c->npend) {
        conn_fail(c, "answer with an unknown id");
        return false;
    }
    int64_t t0 = c->pend[i].t0;
    c->pend[i] = c->pend[--c->npend];

    if (c->role == ROLE_IDLE) {
        if (!c->idle_done) {
            c->idle_done = true;
            B.idle_open++;
            B.idle_opening--;
        }
        return true;
    }
    bool ok = f->body_case == MINYI__V1__FRAME__BODY_SUBMIT_OK;
    if (B.handshake_only)
        ok = f->body_case == MINYI__V1__FRAME__BODY_ERROR && f->error != NULL &&
             f->error->code == MINYI__V1__ERROR_CODE__UNSUPPORTED;
    if (ok) {
        B.acked++;
        record_latency(t0);
        B.t_end = clock_mono_ns();
    } else if (f->body_case == MINYI__V1__FRAME__BODY_ERROR && f->error != NULL) {
        static int shown;
        if (shown++ < 3)
            fprintf(stderr, "minyi-bench: error %s on %.*s: %.*s\n",
                    client_error_code_name(f->error->code), (int)f->error->field.len,
                    (const char *)f->error->field.data, (int)f->error->message.len,
                    (const char *)f->error->message.data);
        count_error(f->error->code);
    } else {
        count_error(0);
    }
    if (B.new_conn || B.handshake_only) {
        conn_reset(c);
        if (!B.sending_stopped)
            conn_start(c);
        check_finished();
        return false;
    }
    return true;
}

/* Reads what is there and handles every whole frame; false when the
 * connection is gone. */
static bool conn_read(struct conn *c)
{
    for (;;) {
        if (c->in_cap - c->in_len < BENCH_READ_CHUNK) {
            c->in_cap = c->in_len + BENCH_READ_CHUNK * 2;
            c->in = xrealloc(c->in, c->in_cap);
        }
        ERR_clear_error();
        int r = SSL_read(c->ssl, c->in + c->in_len, (int)(c->in_cap - c->in_len));
        if (r <= 0) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ)
                break;
            if (e == SSL_ERROR_WANT_WRITE) {
                c->want_write = true;
                break;
            }
            conn_fail(c, e == SSL_ERROR_ZERO_RETURN ? "closed by the gateway" : "read failed");
            return false;
        }
        c->in_len += (size_t)r;
        size_t off = 0;
        while (c->in_len - off >= FRAME_HEADER_LEN) {
            uint32_t len = frame_peek_len(c->in + off);
            if (len > BENCH_MAX_INCOMING) {
                conn_fail(c, "oversized answer");
                return false;
            }
            if (c->in_len - off < FRAME_HEADER_LEN + (size_t)len)
                break;
            struct frame_arena *arena = NULL;
            Frame *f = frame_decode(c->in + off + FRAME_HEADER_LEN, len, BENCH_DECODE_BUDGET, &arena);
            off += FRAME_HEADER_LEN + len;
            if (f == NULL) {
                frame_arena_free(arena);
                conn_fail(c, "malformed answer");
                return false;
            }
            bool alive = conn_answer(c, f);
            frame_arena_free(arena);
            if (!alive)
                return false;
        }
        if (off > 0) {
            memmove(c->in, c->in + off, c->in_len - off);
            c->in_len -= off;
        }
    }
    return true;
}

static void conn_ready(struct conn *c)
{
    const unsigned char *alpn = NULL;
    unsigned alpn_len = 0;
    SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
    if (alpn_len != 7 || memcmp(alpn, "minyi/1", 7) != 0) {
        conn_fail(c, "no ALPN minyi/1");
        return;
    }
    c->state = C_READY;
    if (c->role == ROLE_IDLE)
        conn_queue(c, clock_mono_ns());
    else
        conn_fill(c);
}

static void conn_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    if (c->state == C_CONNECTING) {
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
            conn_fail(c, soerr ? strerror(soerr) : "connect failed");
            return;
        }
        c->state = C_HANDSHAKE;
    }
    if (c->state == C_HANDSHAKE) {
        ERR_clear_error();
        int r = SSL_connect(c->ssl);
        if (r != 1) {
            int e = SSL_get_error(c->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                c->want_write = e == SSL_ERROR_WANT_WRITE;
                conn_arm(c);
                return;
            }
            char why[256];
            ERR_error_string_n(ERR_peek_last_error(), why, sizeof(why));
            conn_fail(c, why);
            return;
        }
        conn_ready(c);
        if (c->state != C_READY)
            return;
    }
    if (c->state != C_READY)
        return;
    if (!conn_read(c))
        return;
    conn_fill(c);
    if (!conn_flush(c))
        return;
    conn_arm(c);
}

/* Starts a TCP connection; the handshake follows in conn_cb. */
static void conn_start(struct conn *c)
{
    conn_reset(c);
    c->next_id = 1;
    c->idle_done = false;
    c->conn_t0 = clock_mono_ns();
    if (B.new_conn || B.handshake_only) {
        int64_t t0;
        if (c->role == ROLE_WORK) {
            if (!take_work(&t0))
                return;
            c->conn_t0 = t0;
        }
    }
    c->fd = socket(B.addr->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        conn_fail(c, strerror(errno));
        return;
    }
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, B.addr->ai_addr, B.addr->ai_addrlen) != 0 && errno != EINPROGRESS) {
        conn_fail(c, strerror(errno));
        return;
    }
    c->ssl = SSL_new(B.ctx);
    const char *name = B.prof.server_name[0] ? B.prof.server_name : B.prof.host;
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
        SSL_set_tlsext_host_name(c->ssl, name) != 1 || SSL_set1_host(c->ssl, name) != 1)
        die("cannot set up a TLS connection");
    c->state = C_CONNECTING;
    if (c->ev == NULL)
        c->ev = event_new(B.base, c->fd, EV_WRITE, conn_cb, c);
    c->armed = 0;
    conn_arm(c);
}

/* ---- scheduling, progress and the end ------------------------------------ */

static long long inflight_total(void)
{
    long long n = 0;
    for (int i = 0; i < B.connections; i++)
        n += B.conns[i].npend;
    return n;
}

static void check_finished(void)
{
    if (B.finished || !B.main_started)
        return;
    if (!B.sending_stopped && B.count > 0 && B.scheduled >= B.count) {
        B.sending_stopped = true;
        B.t_stop_sending = clock_mono_ns();
    }
    if (!B.sending_stopped)
        return;
    if (inflight_total() > 0)
        return;
    if (B.new_conn || B.handshake_only)
        for (int i = 0; i < B.connections; i++)
            if (B.conns[i].state != C_OFF)
                return;
    B.finished = true;
    event_base_loopbreak(B.base);
}

/* Hands out scheduled work round robin (fixed rate) or fills every
 * connection (max rate), then writes. */
static void pump_all(void)
{
    if (B.rate > 0 && !B.new_conn && !B.handshake_only) {
        int64_t t0;
        int tries = 0;
        while (tries < B.connections) {
            struct conn *c = &B.conns[B.rr];
            B.rr = (B.rr + 1) % B.connections;
            if (c->state != C_READY || c->npend >= B.inflight) {
                tries++;
                continue;
            }
            if (!take_work(&t0))
                break;
            tries = 0;
            conn_queue(c, t0);
        }
        for (int i = 0; i < B.connections; i++) {
            struct conn *c = &B.conns[i];
            if (c->state == C_READY && c->out_len > c->out_off && conn_flush(c))
                conn_arm(c);
        }
    } else if (B.new_conn || B.handshake_only) {
        for (int i = 0; i < B.connections; i++)
            if (B.conns[i].state == C_OFF && !B.sending_stopped)
                conn_start(&B.conns[i]);
    }
    check_finished();
}

static void tick_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (!B.main_started)
        return;
    if (B.duration_s > 0 && !B.sending_stopped &&
        clock_mono_ns() - B.t_start >= (int64_t)(B.duration_s * 1e9)) {
        B.sending_stopped = true;
        B.t_stop_sending = clock_mono_ns();
    }
    if (B.sending_stopped && clock_mono_ns() - B.t_stop_sending > (int64_t)BENCH_DRAIN_S * 1000000000LL) {
        fprintf(stderr, "minyi-bench: %lld answers still missing after %d s; giving up\n",
                inflight_total(), BENCH_DRAIN_S);
        B.errors += inflight_total();
        B.conn_errors += inflight_total();
        B.finished = true;
        event_base_loopbreak(B.base);
        return;
    }
    pump_all();
}

static void start_main(void)
{
    B.main_started = true;
    B.t_start = clock_mono_ns();
    B.t_end = B.t_start;
    for (int i = 0; i < B.connections; i++) {
        struct conn *c = &B.conns[i];
        if (B.new_conn || B.handshake_only)
            conn_start(c);
        else if (c->state == C_READY) {
            conn_fill(c);
            if (conn_flush(c))
                conn_arm(c);
        }
    }
    check_finished();
}

/* Opens idle connections a few at a time; when all are open (or failed),
 * says so and starts the measured phase. */
static void idle_progress(void)
{
    while (B.idle_next < B.idle && B.idle_opening < BENCH_IDLE_HANDSHAKES_AT_ONCE) {
        struct conn *c = &B.conns[B.connections + B.idle_next++];
        B.idle_opening++;
        conn_start(c);
    }
}

static void progress_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (!B.main_started) {
        fprintf(stderr, "minyi-bench: idle connections open %d of %d (failed %d)\n", B.idle_open,
                B.idle, B.idle_failed);
        return;
    }
    double t = (double)(clock_mono_ns() - B.t_start) * 1e-9;
    fprintf(stderr, "minyi-bench: t=%.0fs acked=%lld (%lld/s) inflight=%lld errors=%lld\n", t,
            B.acked, B.acked - B.last_progress_acked, inflight_total(), B.errors);
    B.last_progress_acked = B.acked;
}

/* While idle connections open, a fast timer moves that along and checks
 * whether the measured phase may start. */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    if (B.main_started)
        return;
    idle_progress();
    if (B.idle_open + B.idle_failed >= B.idle) {
        fprintf(stderr, "minyi-bench: idle connections open: %d (failed %d)\n", B.idle_open,
                B.idle_failed);
        event_del(B.stop_ev);
        for (int i = 0; i < B.connections; i++)
            if (!B.new_conn && !B.handshake_only)
                conn_start(&B.conns[i]);
        start_main();
    }
}

/* ---- setup and results ----------------------------------------------------- */

static SSL_CTX *make_ctx(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL || !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
        die("cannot make a TLS 1.3 context");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    /* Idle connections should hold as little memory on our side as on the
     * gateway's, so ten thousand of them fit beside it. */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    if (!SSL_CTX_load_verify_file(ctx, B.prof.ca))
        die("cannot load CA %s", B.prof.ca);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)BENCH_ALPN_WIRE, 8) != 0)
        die("cannot set ALPN");
    const char *key = B.prof.key[0] ? B.prof.key : B.prof.cert;
    if (SSL_CTX_use_certificate_chain_file(ctx, B.prof.cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        die("cannot load the client certificate %s and key %s", B.prof.cert, key);
    return ctx;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double pct_ms(double p)
{
    if (B.n_lat == 0)
        return 0;
    size_t i = (size_t)(p * (double)(B.n_lat - 1) + 0.5);
    return (double)B.lat[i] / 1e6;
}

static void report_results(void)
{
    qsort(B.lat, B.n_lat, sizeof(*B.lat), cmp_i64);
    double secs = (double)(B.t_end - B.t_start) * 1e-9;
    if (secs <= 0)
        secs = 1e-9;
    double rate = (double)B.acked / secs;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    const char *mode = B.handshake_only ? "handshake-only" : B.new_conn ? "new-conn-per-report"
                       : B.rate > 0 ? "fixed-rate" : "max-rate";

    printf("mode %s, %d connections x %d in flight, %d KB reports%s\n", mode, B.connections,
           B.new_conn || B.handshake_only ? 1 : B.inflight, B.size_kb,
           B.idle ? " beside idle connections" : "");
    if (B.idle)
        printf("idle connections: %d open, %d failed\n", B.idle_open, B.idle_failed);
    printf("acknowledged: %lld in %.2f s = %.1f reports/s\n", B.acked, secs, rate);
    printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", pct_ms(0.5), pct_ms(0.9),
           pct_ms(0.99), B.n_lat ? (double)B.lat[B.n_lat - 1] / 1e6 : 0.0);
    printf("errors: %lld", B.errors);
    for (int i = 0; i < BENCH_N_CODES; i++)
        if (B.err_by_code[i])
            printf(" %s=%lld", client_error_code_name(i), B.err_by_code[i]);
    if (B.conn_errors)
        printf(" CONNECTION=%lld", B.conn_errors);
    printf("\n");
    printf("generator cpu: %.2f s\n", cpu);
    fflush(stdout);

    if (B.json_path == NULL)
        return;
    json_t *errs = json_object();
    for (int i = 0; i < BENCH_N_CODES; i++)
        if (B.err_by_code[i])
            json_object_set_new(errs, client_error_code_name(i), json_integer(B.err_by_code[i]));
    if (B.conn_errors)
        json_object_set_new(errs, "CONNECTION", json_integer(B.conn_errors));
    json_t *o = json_pack("{s:s,s:i,s:i,s:i,s:f,s:I,s:f,s:f,s:f,s:f,s:f,s:f,s:I,s:o,s:i,s:i,s:f}",
                          "mode", mode, "connections", B.connections, "inflight",
                          B.new_conn || B.handshake_only ? 1 : B.inflight, "size_kb", B.size_kb,
                          "rate_target", B.rate, "acked", (json_int_t)B.acked, "seconds", secs,
                          "rate", rate, "p50_ms", pct_ms(0.5), "p90_ms", pct_ms(0.9), "p99_ms",
                          pct_ms(0.99), "max_ms",
                          B.n_lat ? (double)B.lat[B.n_lat - 1] / 1e6 : 0.0, "errors",
                          (json_int_t)B.errors, "errors_by_code", errs, "idle_open", B.idle_open,
                          "idle_failed", B.idle_failed, "generator_cpu_s", cpu);
    if (o == NULL || json_dump_file(o, B.json_path, JSON_INDENT(2)) != 0)
        die("cannot write %s", B.json_path);
    json_decref(o);
}

static void usage(FILE *to)
{
    fputs("usage: minyi-bench --profile FILE [options]\n"
          "  --connections N         connections (default 1)\n"
          "  --inflight K            submissions in flight per connection (default 1)\n"
          "  --size 1|4|16           KB of report (default 4)\n"
          "  --corpus DIR            text to cut reports from (default the source tree's ../shared/corpus)\n"
          "  --count C               stop after C submissions\n"
          "  --duration S            stop sending after S seconds (default 10 without --count)\n"
          "  --rate R                open loop at R submissions/s (default: as fast as answered)\n"
          "  --new-conn-per-report   a new mutual-TLS connection for every report\n"
          "  --handshake-only        a new connection per empty request (no database work)\n"
          "  --idle N                first open N connections that stay idle\n"
          "  --json FILE             write the results as JSON\n"
          "  --version               the version\n",
          to);
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"profile", required_argument, NULL, 'p'},   {"connections", required_argument, NULL, 'c'},
        {"inflight", required_argument, NULL, 'k'},  {"size", required_argument, NULL, 's'},
        {"corpus", required_argument, NULL, 'C'},    {"count", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},  {"rate", required_argument, NULL, 'r'},
        {"new-conn-per-report", no_argument, NULL, 'N'},
        {"handshake-only", no_argument, NULL, 'H'},  {"idle", required_argument, NULL, 'i'},
        {"json", required_argument, NULL, 'j'},      {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0},
    };
    B.connections = 1;
    B.inflight = 1;
    B.size_kb = 4;
#ifdef MINYI_SOURCE_DIR
    B.corpus_dir = MINYI_SOURCE_DIR "/../shared/corpus";
#else
    B.corpus_dir = "../shared/corpus";
#endif
    int o;
    while ((o = getopt_long(argc, argv, "p:c:k:s:C:n:d:r:NHi:j:h", longopts, NULL)) != -1) {
        switch (o) {
        case 'p': B.profile_path = optarg; break;
        case 'c': B.connections = atoi(optarg); break;
        case 'k': B.inflight = atoi(optarg); break;
        case 's': B.size_kb = atoi(optarg); break;
        case 'C': B.corpus_dir = optarg; break;
        case 'n': B.count = atoll(optarg); break;
        case 'd': B.duration_s = atof(optarg); break;
        case 'r': B.rate = atof(optarg); break;
        case 'N': B.new_conn = true; break;
        case 'H': B.handshake_only = true; break;
        case 'i': B.idle = atoi(optarg); break;
        case 'j': B.json_path = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("minyi-bench %s\n", MINYI_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (B.profile_path == NULL) {
        usage(stderr);
        return 2;
    }
    if (B.connections < 1 || B.connections > BENCH_MAX_CONNECTIONS || B.inflight < 1 ||
        B.inflight > BENCH_MAX_INFLIGHT || B.idle < 0 || B.idle > BENCH_MAX_CONNECTIONS)
        die("--connections, --inflight or --idle out of range");
    if (B.size_kb != 1 && B.size_kb != 4 && B.size_kb != 16)
        die("--size must be 1, 4 or 16");
    if (B.rate > 0 && (B.new_conn || B.handshake_only))
        die("--rate works with persistent connections only");
    if (B.count <= 0 && B.duration_s <= 0)
        B.duration_s = 10;

    char err[512];
    if (!client_profile_load(B.profile_path, &B.prof, err, sizeof(err)))
        die("%s", err);
    struct addrinfo hints = {0};
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(B.prof.host, B.prof.port, &hints, &B.addr);
    if (gai != 0)
        die("cannot resolve %s: %s", B.prof.host, gai_strerror(gai));
    signal(SIGPIPE, SIG_IGN);
    /* Ten thousand idle connections need as many descriptors. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    B.ctx = make_ctx();
    make_report();
    B.base = event_base_new();
    if (B.base == NULL)
        die("event_base_new failed");

    B.n_conns = B.connections + B.idle;
    B.conns = calloc((size_t)B.n_conns, sizeof(*B.conns));
    if (B.conns == NULL)
        die("out of memory");
    for (int i = 0; i < B.n_conns; i++) {
        struct conn *c = &B.conns[i];
        c->fd = -1;
        c->role = i < B.connections ? ROLE_WORK : ROLE_IDLE;
        int slots = c->role == ROLE_WORK ? B.inflight : 1;
        c->pend = calloc((size_t)slots, sizeof(*c->pend));
        if (c->pend == NULL)
            die("out of memory");
    }

    struct timeval tick = {0, BENCH_TICK_US}, sec = {1, 0};
    B.tick_ev = event_new(B.base, -1, EV_PERSIST, tick_cb, NULL);
    B.progress_ev = event_new(B.base, -1, EV_PERSIST, progress_cb, NULL);
    B.stop_ev = event_new(B.base, -1, EV_PERSIST, stop_cb, NULL);
    event_add(B.tick_ev, &tick);
    event_add(B.progress_ev, &sec);

    if (B.idle > 0) {
        event_add(B.stop_ev, &tick);
    } else {
        /* Persistent connections are opened before the clock starts. */
        if (!B.new_conn && !B.handshake_only) {
            B.main_started = false;
            for (int i = 0; i < B.connections; i++)
                conn_start(&B.conns[i]);
            int64_t deadline = clock_mono_ns() + 30 * 1000000000LL;
            for (;;) {
                int ready = 0;
                for (int i = 0; i < B.connections; i++)
                    ready += B.conns[i].state == C_READY;
                if (ready == B.connections)
                    break;
                if (clock_mono_ns() > deadline)
                    die("only %d of %d connections completed their handshake", ready,
                        B.connections);
                event_base_loop(B.base, EVLOOP_ONCE);
            }
        }
        start_main();
    }
    if (!B.finished)
        event_base_dispatch(B.base);
    report_results();
    return B.errors == 0 && B.acked > 0 ? 0 : 1;
}
