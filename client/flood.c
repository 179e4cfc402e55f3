/*
 * minyi-flood: a flood of messages at the public 码上商 form, as many
 * phones behind many addresses would send them.
 *
 *   minyi-flood --port P --ca FILE --token T [--host 127.0.0.1]
 *               [--server-name localhost] [--count N] [--connections C]
 *               [--per-address M] [--json FILE] [--pickups FILE]
 *
 * Each of C connections to the console's HTTPS port (TLS 1.3, HTTP/1.1 kept
 * alive) sends messages one after another, each as the form's page does:
 * GET a challenge for the poster's token, solve its proof of work with
 * the gateway's own solver (public_pow.h), POST the message.  After M
 * messages a connection is closed and the next one is bound to the next
 * loopback source address 127.100.x.y, so the gateway's per-address limits
 * see one sender per M messages, as a flood from many machines looks.
 * Every message's text carries this run's random tag and its number, so
 * no two are the same and none is refused as a duplicate.
 *
 * Every answer is read whole and counted: accepted (its pickup code is
 * written to --pickups, one a line) or refused, by the step, the HTTP
 * status, and the stable code and field of the answer's body ("-" when it
 * has none);
 * a request without an answer (the connection closed or timed out) is
 * counted as unanswered.  The totals go to standard output and, with
 * --json, to a file.
 */
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "clock.h"
#include "hex.h"
#include "public_pow.h"

#define FLOOD_MAX_CONNECTIONS 1000
#define FLOOD_MAX_COUNT 10000000
#define FLOOD_TIMEOUT_S 30             /* an answer must come within this */
#define FLOOD_ADDR_SECOND_OCTET 100    /* source addresses 127.100.0.1 onwards */
#define FLOOD_HOSTS_PER_NET 254        /* .1 to .254 in each 127.100.x */
#define FLOOD_PROGRESS_S 2             /* a progress line on stderr this often */
#define FLOOD_TAG_BYTES 6
#define FLOOD_ANSWER_MAX (64u << 10)   /* a longer answer body is not parsed */
#define FLOOD_KINDS_MAX 64             /* distinct refusals counted */
#define FLOOD_KIND_LEN 128
#define FLOOD_HOST_MAX 256
#define FLOOD_ALPN_WIRE "\x08http/1.1"

enum step { STEP_CHALLENGE, STEP_SUBMIT };

struct slot {
    struct evhttp_connection *conn;   /* NULL: the next message opens one */
    struct evhttp_connection *stale;  /* freed on the next turn, outside its callback */
    struct event *turn;               /* runs the slot's next step from the loop */
    int on_conn;                      /* messages sent on this connection */
    long long msg;                    /* the message under way, -1: none */
    char challenge[PUBLIC_POW_MAX + 1];
};

struct kind {
    char name[FLOOD_KIND_LEN];        /* "submit 503 UNAVAILABLE -": step, status, code, field */
    long long n;
};

static struct {
    /* options */
    const char *host, *port, *ca, *server_name, *token, *json_path, *pickups_path;
    long long count;
    int connections, per_address;

    SSL_CTX *ctx;
    struct event_base *base;
    struct event *progress;
    struct slot *slots;
    char hostport[FLOOD_HOST_MAX + 8], origin[FLOOD_HOST_MAX + 16], tag[2 * FLOOD_TAG_BYTES + 1];

    long long next_msg, finished, accepted, unanswered, without_code, connects;
    int next_addr, active;
    struct kind kinds[FLOOD_KINDS_MAX];
    int n_kinds;
    FILE *pickups;
    int64_t t0;
} F;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("minyi-flood: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- counting ------------------------------------------------------------ */

static void count_refusal(enum step step, int status, const char *code, const char *field)
{
    char name[FLOOD_KIND_LEN];
    snprintf(name, sizeof name, "%s %d %s %s", step == STEP_CHALLENGE ? "challenge" : "submit",
             status, code != NULL && code[0] != '\0' ? code : "-",
             field != NULL && field[0] != '\0' ? field : "-");
    if (code == NULL || code[0] == '\0')
        F.without_code++;
    for (int i = 0; i < F.n_kinds; i++)
        if (strcmp(F.kinds[i].name, name) == 0) {
            F.kinds[i].n++;
            return;
        }
    if (F.n_kinds == FLOOD_KINDS_MAX)
        die("more than %d kinds of refusal", FLOOD_KINDS_MAX);
    snprintf(F.kinds[F.n_kinds].name, FLOOD_KIND_LEN, "%s", name);
    F.kinds[F.n_kinds++].n = 1;
}

/* The answer's body as JSON, or NULL when it is not (or is too long). */
static json_t *answer_json(struct evhttp_request *req)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    json_error_t err;
    if (len == 0 || len > FLOOD_ANSWER_MAX)
        return NULL;
    return json_loadb((const char *)evbuffer_pullup(in, -1), len, 0, &err);
}

/* ---- connections ----------------------------------------------------------- */

/* The idx-th source address: 127.100.0.1, ... 127.100.0.254, 127.100.1.1, ... */
static void source_address(int idx, char *out, size_t len)
{
    int net = idx / FLOOD_HOSTS_PER_NET;
    snprintf(out, len, "127.%d.%d.%d", FLOOD_ADDR_SECOND_OCTET + net / 256, net % 256,
             1 + idx % FLOOD_HOSTS_PER_NET);
}

static struct evhttp_connection *open_conn(void)
{
    char addr[32];
    SSL *ssl = SSL_new(F.ctx);
    if (ssl == NULL || SSL_set_tlsext_host_name(ssl, F.server_name) != 1 ||
        SSL_set1_host(ssl, F.server_name) != 1)
        die("SSL_new failed");
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        F.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        die("bufferevent_openssl_socket_new failed");
    bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    struct evhttp_connection *c =
        evhttp_connection_base_bufferevent_new(F.base, NULL, bev, F.host, (ev_uint16_t)atoi(F.port));
    if (c == NULL)
        die("evhttp_connection_base_bufferevent_new failed");
    source_address(F.next_addr++, addr, sizeof addr);
    evhttp_connection_set_local_address(c, addr);
    evhttp_connection_set_timeout(c, FLOOD_TIMEOUT_S);
    evhttp_connection_set_retries(c, 0);
    F.connects++;
    return c;
}

/* The slot's connection is not to be used again: it is freed on the slot's
 * next turn, because evhttp must not lose it inside its own callback. */
static void drop_conn(struct slot *s)
{
    if (s->conn != NULL) {
        s->stale = s->conn;
        s->conn = NULL;
    }
}

static void next_turn(struct slot *s)
{
    event_active(s->turn, EV_TIMEOUT, 0);
}

/* ---- the two calls --------------------------------------------------------- */

static void on_answer(struct evhttp_request *req, void *arg);

static void send_req(struct slot *s, enum evhttp_cmd_type cmd, const char *uri, const char *body)
{
    struct evhttp_request *req = evhttp_request_new(on_answer, s);
    if (req == NULL)
        die("evhttp_request_new failed");
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", F.hostport);
    if (body != NULL) {
        evhttp_add_header(h, "Origin", F.origin);
        evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_add(evhttp_request_get_output_buffer(req), body, strlen(body));
    }
    if (evhttp_make_request(s->conn, req, cmd, uri) != 0) {
        /* evhttp freed the request; the message goes unanswered. */
        F.unanswered++;
        F.finished++;
        s->msg = -1;
        drop_conn(s);
        next_turn(s);
    }
}

static void ask_challenge(struct slot *s)
{
    char uri[64 + 512];
    snprintf(uri, sizeof uri, "/public/api/challenge?t=%s", F.token);
    send_req(s, EVHTTP_REQ_GET, uri, NULL);
}

/* The message's text: this run's tag and its number make it unique. */
static void submit(struct slot *s, int difficulty)
{
    char nonce[PUBLIC_POW_NONCE_MAX + 1], what[256], place[64];
    if (!public_pow_solve(s->challenge, difficulty, nonce))
        die("cannot solve the challenge %s at difficulty %d", s->challenge, difficulty);
    snprintf(what, sizeof what, "压力测试 %s 第 %lld 条：小区门口路灯坏了一周，晚上行人看不清路。",
             F.tag, s->msg);
    snprintf(place, sizeof place, "测试路 %lld 号", s->msg);
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:s}", "t", F.token, "challenge", s->challenge,
                          "nonce", nonce, "what", what, "place", place);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    if (body == NULL)
        die("out of memory");
    json_decref(o);
    send_req(s, EVHTTP_REQ_POST, "/public/api/submit", body);
    free(body);
}

/* A message is finished: accepted, refused or unanswered. */
static void message_done(struct slot *s)
{
    s->msg = -1;
    F.finished++;
    next_turn(s);
}

static void on_answer(struct evhttp_request *req, void *arg)
{
    struct slot *s = arg;
    int status = req != NULL ? evhttp_request_get_response_code(req) : 0;
    enum step step = s->challenge[0] == '\0' ? STEP_CHALLENGE : STEP_SUBMIT;

    if (status == 0) {
        F.unanswered++;
        drop_conn(s);
        message_done(s);
        return;
    }
    const char *conn_hdr = evhttp_find_header(evhttp_request_get_input_headers(req), "Connection");
    if (conn_hdr != NULL && evutil_ascii_strcasecmp(conn_hdr, "close") == 0)
        drop_conn(s);
    json_t *j = answer_json(req);
    if (status != 200) {
        count_refusal(step, status, json_string_value(json_object_get(j, "code")),
                      json_string_value(json_object_get(j, "field")));
        json_decref(j);
        message_done(s);
        return;
    }
    if (step == STEP_CHALLENGE) {
        const char *c = json_string_value(json_object_get(j, "challenge"));
        json_t *d = json_object_get(j, "difficulty");
        if (c == NULL || strlen(c) > PUBLIC_POW_MAX || !json_is_integer(d))
            die("a challenge answer without challenge and difficulty");
        snprintf(s->challenge, sizeof s->challenge, "%s", c);
        int difficulty = (int)json_integer_value(d);
        json_decref(j);
        if (s->conn == NULL) {
            /* The gateway closed after the challenge: the message goes on
             * from a new connection (of a new address). */
            s->conn = open_conn();
            s->on_conn = 0;
        }
        submit(s, difficulty);
        return;
    }
    const char *pickup = json_string_value(json_object_get(j, "pickup"));
    if (pickup == NULL)
        die("an accepted message without a pickup code");
    fprintf(F.pickups, "%s\n", pickup);
    F.accepted++;
    json_decref(j);
    message_done(s);
}

static void finish(void);

/* The slot's turn: frees a dropped connection, then starts its next message. */
static void on_turn(evutil_socket_t fd, short what, void *arg)
{
    struct slot *s = arg;
    (void)fd;
    (void)what;
    if (s->stale != NULL) {
        evhttp_connection_free(s->stale);
        s->stale = NULL;
    }
    if (F.next_msg >= F.count) {
        if (s->conn != NULL) {
            evhttp_connection_free(s->conn);
            s->conn = NULL;
        }
        if (--F.active == 0)
            finish();
        return;
    }
    if (s->conn != NULL && s->on_conn >= F.per_address) {
        evhttp_connection_free(s->conn);
        s->conn = NULL;
    }
    if (s->conn == NULL) {
        s->conn = open_conn();
        s->on_conn = 0;
    }
    s->msg = F.next_msg++;
    s->on_conn++;
    s->challenge[0] = '\0';
    ask_challenge(s);
}

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    fprintf(stderr, "minyi-flood: %lld of %lld done, %lld accepted, %.1f s\n", F.finished,
            F.count, F.accepted, (double)(clock_mono_ns() - F.t0) / 1e9);
}

/* ---- results ------------------------------------------------------------- */

static void finish(void)
{
    double secs = (double)(clock_mono_ns() - F.t0) / 1e9;
    long long refused = 0;
    json_t *by = json_object();

    for (int i = 0; i < F.n_kinds; i++) {
        refused += F.kinds[i].n;
        json_object_set_new(by, F.kinds[i].name, json_integer(F.kinds[i].n));
    }
    printf("flood: %lld messages in %.2f s from %d addresses over %lld connections\n", F.count,
           secs, F.next_addr, F.connects);
    printf("accepted: %lld (%.1f/s)  refused: %lld  unanswered: %lld  without code: %lld\n",
           F.accepted, secs > 0 ? (double)F.accepted / secs : 0.0, refused, F.unanswered,
           F.without_code);
    for (int i = 0; i < F.n_kinds; i++)
        printf("  %s: %lld\n", F.kinds[i].name, F.kinds[i].n);
    fflush(stdout);
    if (F.json_path != NULL) {
        json_t *o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:o,s:i,s:I,s:f}", "count",
                              (json_int_t)F.count, "accepted", (json_int_t)F.accepted, "refused",
                              (json_int_t)refused, "unanswered", (json_int_t)F.unanswered,
                              "without_code", (json_int_t)F.without_code, "refused_by", by,
                              "addresses", F.next_addr, "connections", (json_int_t)F.connects,
                              "seconds", secs);
        if (o == NULL || json_dump_file(o, F.json_path, JSON_INDENT(2)) != 0)
            die("cannot write %s", F.json_path);
        json_decref(o);
    } else {
        json_decref(by);
    }
    event_base_loopbreak(F.base);
}

/* ---- setup ----------------------------------------------------------------- */

static void usage(FILE *to)
{
    fputs("usage: minyi-flood --port P --ca FILE --token T [options]\n"
          "  --host ADDR             the console's address (default 127.0.0.1)\n"
          "  --server-name NAME      the name its certificate carries (default localhost)\n"
          "  --count N               messages to send (default 10000)\n"
          "  --connections C         connections at once (default 32)\n"
          "  --per-address M         messages from one source address (default 5)\n"
          "  --json FILE             the totals as JSON\n"
          "  --pickups FILE          the accepted messages' pickup codes, one a line\n",
          to);
}

static long long number(const char *s, long long min, long long max, const char *what)
{
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < min || v > max)
        die("%s must be a whole number from %lld to %lld", what, min, max);
    return v;
}

static void parse_args(int argc, char **argv)
{
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'h'},   {"port", required_argument, NULL, 'p'},
        {"ca", required_argument, NULL, 'a'},     {"server-name", required_argument, NULL, 's'},
        {"token", required_argument, NULL, 't'},  {"count", required_argument, NULL, 'n'},
        {"connections", required_argument, NULL, 'c'},
        {"per-address", required_argument, NULL, 'm'},
        {"json", required_argument, NULL, 'j'},   {"pickups", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'H'},         {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int o;
    F.host = "127.0.0.1";
    F.server_name = "localhost";
    F.count = 10000;
    F.connections = 32;
    F.per_address = 5;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'h': F.host = optarg; break;
        case 'p': F.port = optarg; break;
        case 'a': F.ca = optarg; break;
        case 's': F.server_name = optarg; break;
        case 't': F.token = optarg; break;
        case 'n': F.count = number(optarg, 1, FLOOD_MAX_COUNT, "--count"); break;
        case 'c':
            F.connections = (int)number(optarg, 1, FLOOD_MAX_CONNECTIONS, "--connections");
            break;
        case 'm': F.per_address = (int)number(optarg, 1, INT_MAX, "--per-address"); break;
        case 'j': F.json_path = optarg; break;
        case 'k': F.pickups_path = optarg; break;
        case 'H': usage(stdout); exit(0);
        case 'V': printf("minyi-flood %s\n", MINYI_VERSION); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (F.port == NULL || F.ca == NULL || F.token == NULL) {
        usage(stderr);
        exit(2);
    }
    number(F.port, 1, 65535, "--port");
    if (strlen(F.host) > FLOOD_HOST_MAX || strlen(F.token) > 400 ||
        strspn(F.token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~") !=
            strlen(F.token))
        die("--host or --token is too long, or the token is not URL-safe");
}

static void make_ctx(void)
{
    F.ctx = SSL_CTX_new(TLS_client_method());
    if (F.ctx == NULL || !SSL_CTX_set_min_proto_version(F.ctx, TLS1_3_VERSION) ||
        SSL_CTX_load_verify_locations(F.ctx, F.ca, NULL) != 1 ||
        SSL_CTX_set_alpn_protos(F.ctx, (const unsigned char *)FLOOD_ALPN_WIRE,
                                sizeof FLOOD_ALPN_WIRE - 1) != 0)
        die("TLS setup with the CA %s failed: %s", F.ca, ERR_reason_error_string(ERR_get_error()));
    SSL_CTX_set_verify(F.ctx, SSL_VERIFY_PEER, NULL);
}

int main(int argc, char **argv)
{
    uint8_t tag[FLOOD_TAG_BYTES];
    struct rlimit rl;

    parse_args(argc, argv);
    /* Connections closed on our side wait in TIME_WAIT with their
     * descriptors gone; the open ones need C descriptors and a few more. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    make_ctx();
    if (RAND_bytes(tag, sizeof tag) != 1)
        die("RAND_bytes failed");
    hex_encode(tag, sizeof tag, F.tag);
    snprintf(F.hostport, sizeof F.hostport, "%s:%s", F.host, F.port);
    snprintf(F.origin, sizeof F.origin, "https://%s", F.hostport);
    F.pickups = fopen(F.pickups_path != NULL ? F.pickups_path : "/dev/null", "w");
    if (F.pickups == NULL)
        die("cannot write %s", F.pickups_path);
    F.base = event_base_new();
    if (F.base == NULL)
        die("event_base_new failed");
    struct timeval every = {FLOOD_PROGRESS_S, 0};
    F.progress = event_new(F.base, -1, EV_PERSIST, on_progress, NULL);
    if (F.progress == NULL || event_add(F.progress, &every) != 0)
        die("event_new failed");
    F.slots = calloc((size_t)F.connections, sizeof *F.slots);
    if (F.slots == NULL)
        die("out of memory");
    F.t0 = clock_mono_ns();
    F.active = F.connections;
    for (int i = 0; i < F.connections; i++) {
        F.slots[i].msg = -1;
        F.slots[i].turn = event_new(F.base, -1, 0, on_turn, &F.slots[i]);
        if (F.slots[i].turn == NULL)
            die("event_new failed");
        next_turn(&F.slots[i]);
    }
    event_base_dispatch(F.base);
    for (int i = 0; i < F.connections; i++)
        event_free(F.slots[i].turn);
    free(F.slots);
    event_free(F.progress);
    event_base_free(F.base);
    SSL_CTX_free(F.ctx);
    if (fclose(F.pickups) != 0)
        die("cannot write %s", F.pickups_path);
    return 0;
}
