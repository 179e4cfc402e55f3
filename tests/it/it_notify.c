/*
 * it_notify: minyid speaks systemd's notify protocol (Type=notify in
 * deploy/systemd/minyid@.service).  The test plays the service manager: it
 * owns a datagram socket, names it in NOTIFY_SOCKET for the gateway it
 * starts, and reads READY=1 once the gateway accepts connections,
 * RELOADING=1 then READY=1 around a SIGHUP, and STOPPING=1 on SIGTERM.
 * PostgreSQL, started by the same test, inherits NOTIFY_SOCKET too and
 * notifies as well: only datagrams whose sender (SO_PASSCRED) is the
 * gateway count.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "itkit.h"

#define NOTE_MAX 4096           /* bytes of one notification */
#define NOTE_WAIT_MS 20000      /* a loaded machine may be slow to answer */

static struct itenv env;
static int sock = -1;
static char sock_path[sizeof(((struct sockaddr_un *)0)->sun_path)];

static int setup(void **state)
{
    (void)state;
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sock_path, sizeof(sock_path), "/tmp/minyi-notify-%ld", (long)getpid());
    unlink(sock_path);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int on = 1;
    if (sock < 0 || bind(sock, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) != 0)
        return -1;
    /* The gateway inherits this from the test, as from systemd. */
    if (setenv("NOTIFY_SOCKET", sock_path, 1) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* The test stops the gateway itself; a gateway still up (the test
     * failed midway) must still exit cleanly. */
    bool gw_was_up = env.gw_up;
    int code = itenv_down(&env);
    int rc = gw_was_up && code != 0 ? -1 : 0;
    if (sock >= 0)
        close(sock);
    unlink(sock_path);
    return rc;
}

/* Receives one datagram into note; its sender's pid into *pid (0 when the
 * kernel attached no credentials). */
static ssize_t recv_note(char *note, size_t len, pid_t *pid)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } ctl;
    struct iovec iov = { .iov_base = note, .iov_len = len - 1 };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                          .msg_controllen = sizeof(ctl.buf) };
    ssize_t n = recvmsg(sock, &msg, 0);
    *pid = 0;
    if (n < 0)
        return n;
    note[n] = '\0';
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
            struct ucred cred;
            memcpy(&cred, CMSG_DATA(c), sizeof(cred));
            *pid = cred.pid;
        }
    return n;
}

/* Reads notifications until one from the gateway contains want (a line
 * such as "READY=1"); fails the test when none comes in time. */
static void expect_note(const char *want)
{
    char note[NOTE_MAX];
    long long deadline = itnow_ms() + NOTE_WAIT_MS;
    for (;;) {
        long long left = deadline - itnow_ms();
        if (left <= 0)
            fail_msg("no notification with %s from minyid within %d ms", want, NOTE_WAIT_MS);
        struct pollfd p = { .fd = sock, .events = POLLIN };
        if (poll(&p, 1, (int)left) <= 0)
            continue;
        pid_t from;
        if (recv_note(note, sizeof(note), &from) <= 0)
            continue;
        fprintf(stderr, "notification from %ld: %s\n", (long)from, note);
        if (from == env.gw.pid && strstr(note, want) != NULL)
            return;
    }
}

static void test_ready_reloading_stopping(void **state)
{
    (void)state;
    assert_true(itenv_up(&env, NULL));
    expect_note("READY=1");

    assert_int_equal(kill(env.gw.pid, SIGHUP), 0);
    expect_note("RELOADING=1");
    expect_note("READY=1");
    /* Still serving after the reload. */
    struct client_conn *c = itconnect(&env, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, NULL);
    assert_non_null(r);
    itsubmit_ok(c, r, NULL);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);

    assert_int_equal(kill(env.gw.pid, SIGTERM), 0);
    expect_note("STOPPING=1");
    assert_int_equal(tgw_stop(&env.gw, 0), 0);
    env.gw_up = false;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ready_reloading_stopping),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
