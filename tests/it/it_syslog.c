/*
 * it_syslog: with [log] syslog = on, every line the gateway logs goes to
 * syslog as well — facility daemon, ident minyid with its pid, the level as
 * the priority, without the ts= field syslog stamps itself — and a reload
 * that turns the option off stops it.
 *
 * glibc's syslog(3) writes to the fixed path /dev/log.  So that the test
 * neither needs nor disturbs a system logger, it moves into a mount
 * namespace of its own, where /dev is a small tmpfs holding the device
 * nodes the gateway and the harness use (bound from the real /dev) and a
 * datagram socket of the test's at /dev/log.  The database and the first
 * gateway are started before, in the ordinary namespace.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "itkit.h"

#define SYSLOG_WAIT_MS 10000     /* a line must reach the socket within this */
#define SYSLOG_QUIET_MS 2000     /* after syslog is turned off, nothing for this long */
#define SYSLOG_MSG_MAX 8192      /* bytes of one datagram read */
#define PRI_DAEMON_INFO "<30>"   /* LOG_DAEMON (3 << 3) | LOG_INFO (6) */

static struct itenv env;
static char realdev[PATH_MAX]; /* the real /dev, bound here before /dev is covered */

static int setup(void **state)
{
    (void)state;
    return itenv_up(&env, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_teardown(&env);
}

/* Binds the real /dev's entry name onto the same name in the new /dev. */
static void bind_dev(const char *name, bool dir)
{
    char from[PATH_MAX + 64], to[PATH_MAX];

    snprintf(from, sizeof(from), "%s/%s", realdev, name);
    snprintf(to, sizeof(to), "/dev/%s", name);
    if (dir)
        assert_int_equal(mkdir(to, 0755), 0);
    else {
        FILE *f = fopen(to, "w");
        assert_non_null(f);
        fclose(f);
    }
    if (mount(from, to, NULL, MS_BIND | MS_REC, NULL) != 0)
        fail_msg("bind %s on %s: %s", from, to, strerror(errno));
}

/* Moves this process into a mount namespace whose /dev/log is a datagram
 * socket it reads; returns the socket, or -1 (the test is skipped) where
 * the process may not make a mount namespace. */
static int private_dev_log(void)
{
    char dir[] = "/tmp/minyi-syslog-XXXXXX";
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd;

    if (unshare(CLONE_NEWNS) != 0)
        return -1;
    /* Nothing mounted here may reach the ordinary namespace. */
    assert_int_equal(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
    assert_non_null(mkdtemp(dir));
    snprintf(realdev, sizeof(realdev), "%s", dir);
    assert_int_equal(mount("/dev", realdev, NULL, MS_BIND | MS_REC, NULL), 0);
    assert_int_equal(mount("tmpfs", "/dev", "tmpfs", 0, "mode=0755"), 0);
    bind_dev("null", false);
    bind_dev("zero", false);
    bind_dev("random", false);
    bind_dev("urandom", false);
    bind_dev("shm", true);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "/dev/log");
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

/* Reads datagrams for up to ms milliseconds until one contains needle;
 * copies it into out and returns true, or returns false. */
static bool recv_containing(int fd, const char *needle, int ms, char *out, size_t len)
{
    long long until = itnow_ms() + ms;

    while (itnow_ms() < until) {
        struct timeval tv = { 0, 100 * 1000 };
        char buf[SYSLOG_MSG_MAX];
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        if (strstr(buf, needle) != NULL) {
            snprintf(out, len, "%s", buf);
            return true;
        }
    }
    return false;
}

/* Reads and drops whatever datagrams wait on fd. */
static void drain(int fd)
{
    char buf[SYSLOG_MSG_MAX];

    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
        ;
}

/* Waits until gw's stderr log has needle (the line was logged). */
static void wait_logged(const struct tgw *gw, const char *needle)
{
    long long until = itnow_ms() + SYSLOG_WAIT_MS;

    while (!tgw_log_contains(gw, needle))
        if (itnow_ms() > until)
            fail_msg("minyid did not log %s", needle);
        else
            usleep(50 * 1000);
}

/* Rewrites gw's config with its "syslog = on" line set to off. */
static void turn_syslog_off(const struct tgw *gw)
{
    char *conf = tfile_text(gw->conf, 1u << 20);
    char *on;
    FILE *f;

    assert_non_null(conf);
    on = strstr(conf, "syslog = on\n");
    assert_non_null(on);
    *on = '\0';
    f = fopen(gw->conf, "w");
    assert_non_null(f);
    fprintf(f, "%ssyslog = off\n%s", conf, on + strlen("syslog = on\n"));
    assert_int_equal(fclose(f), 0);
    free(conf);
}

static void test_lines_go_to_syslog_until_reloaded_off(void **state)
{
    (void)state;
    struct tgw gw;
    char msg[SYSLOG_MSG_MAX], ident[64];
    int fd = private_dev_log();

    if (fd < 0) {
        print_message("no mount namespace here (%s): skipped\n", strerror(errno));
        skip();
    }
    assert_true(tgw_start(&gw, env.conninfo, "[log]\nsyslog = on\n"));
    /* A session's lines, as the gateway logs them at info. */
    client_close(itconnect_gw(&gw, "contact1"));
    snprintf(ident, sizeof(ident), "minyid[%d]: level=info event=auth ", (int)gw.pid);
    if (!recv_containing(fd, ident, SYSLOG_WAIT_MS, msg, sizeof(msg)))
        fail_msg("no line \"%s\" reached /dev/log", ident);
    assert_memory_equal(msg, PRI_DAEMON_INFO, strlen(PRI_DAEMON_INFO));
    if (strstr(msg, "ts=") != NULL)
        fail_msg("the syslog line carries our time stamp: %s", msg);

    /* SIGHUP applies syslog = off (the option is reloadable): neither the
     * reload's own closing line nor a later session's reaches syslog. */
    wait_logged(&gw, "event=close sid=1 ");
    drain(fd);
    turn_syslog_off(&gw);
    assert_int_equal(kill(gw.pid, SIGHUP), 0);
    wait_logged(&gw, "event=reloaded");
    client_close(itconnect_gw(&gw, "contact1"));
    wait_logged(&gw, "event=close sid=2 ");
    snprintf(ident, sizeof(ident), "minyid[%d]: ", (int)gw.pid);
    if (recv_containing(fd, ident, SYSLOG_QUIET_MS, msg, sizeof(msg)))
        fail_msg("a line reached syslog after it was turned off: %s", msg);
    assert_int_equal(tgw_stop(&gw, SIGTERM), 0);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lines_go_to_syslog_until_reloaded_off),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
