/*
 * it_deadlines: our own deadlines hold however slowly the bytes come.  A
 * ClientHello trickled one byte a second is cut off at the handshake
 * deadline (libevent's timeouts would restart on every byte); a frame
 * header followed by nothing is cut off at the frame deadline; and while
 * such clients hang on, a normal client is served within a second.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "client_err.h"
#include "itkit.h"

#define HANDSHAKE_MS 2000
#define FRAME_MS 1000
#define SLACK_MS 1500            /* scheduling slack after a deadline */
#define SERVED_MS 1000           /* a normal client's answer must come within this */
#define TRICKLE_STEP_MS 1000

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    char extra[160];
    snprintf(extra, sizeof(extra),
             "[gateway]\nhandshake_timeout_ms = %d\nframe_timeout_ms = %d\n"
             "idle_timeout_ms = 60000\n",
             HANDSHAKE_MS, FRAME_MS);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_down(&env) == 0 ? 0 : -1;
}

static int tcp_connect(int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* True when the peer has closed fd (EOF or reset), waiting up to ms. */
static bool peer_closed(int fd, int ms)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, ms) <= 0)
        return false;
    char b[256];
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* A normal client, connecting now, gets its answer within SERVED_MS. */
static void normal_client_served(void)
{
    long long t0 = itnow_ms();
    struct client_conn *c = itconnect(&env, "contact2");
    struct frame_arena *arena = NULL;
    Frame *f = itstatus(c, "330400-2026-000001", &arena);
    long long took = itnow_ms() - t0;
    itexpect_error(f, MINYI__V1__ERROR_CODE__NOT_FOUND, NULL);
    frame_arena_free(arena);
    client_close(c);
    print_message("normal client served in %lld ms\n", took);
    if (took > SERVED_MS)
        fail_msg("a normal client waited %lld ms", took);
}

static void test_clienthello_trickle(void **state)
{
    (void)state;
    /* The start of a TLS record holding a ClientHello of 508 bytes. */
    static const uint8_t hello[] = { 0x16, 0x03, 0x01, 0x01, 0xfc, 0x01, 0x00, 0x01, 0xf8,
                                     0x03, 0x03, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a, 0x5a };
    int fd = tcp_connect(env.gw.port);
    long long t0 = itnow_ms(), closed_at = -1;
    for (size_t i = 0; i < sizeof(hello); i++) {
        if (send(fd, &hello[i], 1, MSG_NOSIGNAL) != 1) {
            closed_at = itnow_ms();
            break;
        }
        if (i == 1)
            normal_client_served();
        if (peer_closed(fd, TRICKLE_STEP_MS)) {
            closed_at = itnow_ms();
            break;
        }
    }
    close(fd);
    if (closed_at < 0)
        fail_msg("a trickled ClientHello was still open after %lld ms", itnow_ms() - t0);
    long long took = closed_at - t0;
    print_message("trickled handshake closed after %lld ms\n", took);
    assert_true(took >= HANDSHAKE_MS - 100);
    assert_true(took <= HANDSHAKE_MS + SLACK_MS);
}

static void test_frame_header_then_nothing(void **state)
{
    (void)state;
    struct client_conn *c = itconnect(&env, "contact1");
    static const uint8_t hdr[4] = { 0, 0, 0, 100 };
    long long t0 = itnow_ms();
    assert_true(client_send_raw(c, hdr, sizeof(hdr)));
    normal_client_served();
    char err[512];
    struct frame_arena *arena = NULL;
    Frame *f = client_recv(c, &arena, err, sizeof(err));
    long long took = itnow_ms() - t0;
    if (f != NULL)
        fail_msg("expected a close, got a frame with id %llu", (unsigned long long)f->id);
    if (client_err_is(err, CLIENT_ERR_TIMEOUT))
        fail_msg("a started frame was not cut off: %s", err);
    print_message("started frame closed after %lld ms\n", took);
    assert_true(took >= FRAME_MS - 100);
    assert_true(took <= FRAME_MS + SLACK_MS);
    client_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clienthello_trickle),
        cmocka_unit_test(test_frame_header_then_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
