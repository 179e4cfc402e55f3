/*
 * test_peer_hosts: a list of addresses of one service (proto/addrlist.h),
 * as a client profile's host and a [peer.NAME] host write it, and the
 * gateway's checks of a peer's list when it reads its config.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "addrlist.h"
#include "config.h"

static void test_addrlist(void **state)
{
    (void)state;
    const char *cur = "a.example, b.example:7444 ,[::1]:7445,[::2], ::3";
    char host[64], port[8];

    assert_true(addrlist_next(&cur, "7443", host, sizeof host, port, sizeof port));
    assert_string_equal(host, "a.example");
    assert_string_equal(port, "7443");
    assert_true(addrlist_next(&cur, "7443", host, sizeof host, port, sizeof port));
    assert_string_equal(host, "b.example");
    assert_string_equal(port, "7444");
    assert_true(addrlist_next(&cur, "7443", host, sizeof host, port, sizeof port));
    assert_string_equal(host, "::1");
    assert_string_equal(port, "7445");
    assert_true(addrlist_next(&cur, "7443", host, sizeof host, port, sizeof port));
    assert_string_equal(host, "::2");
    assert_string_equal(port, "7443");
    /* More than one colon without brackets: an IPv6 address, no port. */
    assert_true(addrlist_next(&cur, "7443", host, sizeof host, port, sizeof port));
    assert_string_equal(host, "::3");
    assert_string_equal(port, "7443");
    assert_false(addrlist_next(&cur, "7443", host, sizeof host, port, sizeof port));

    cur = "[::1";
    assert_false(addrlist_next(&cur, "7443", host, sizeof host, port, sizeof port));
    cur = "a.example";
    assert_false(addrlist_next(&cur, "", host, sizeof host, port, sizeof port));
    cur = "a-host-name-longer-than-the-buffer.example";
    assert_false(addrlist_next(&cur, "7443", host, 8, port, sizeof port));

    assert_false(addrlist_is_list("upper.example"));
    assert_true(addrlist_is_list("upper.example:7443"));
    assert_true(addrlist_is_list("a.example, b.example"));
}

/* Loads a config whose [peer.province] has the given host and port lines
 * (port NULL: none); answers config_load's result, with its error in err. */
static bool load_peer(const char *host, const char *port, struct gw_config *cfg, char *err,
                      size_t errlen)
{
    char path[] = "/tmp/test_peer_hosts-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fprintf(f, "[gateway]\nbody_region = 330400\nbody_name = 嘉兴市政协\n"
               "[triage]\ndestinations = province\n"
               "[peer.province]\nhost = %s\n%s%s%sca = /ca.crt\ncert = /c.crt\nkey = /c.key\n",
            host, port ? "port = " : "", port ? port : "", port ? "\n" : "");
    fclose(f);
    config_defaults(cfg);
    bool ok = config_load(path, cfg, err, errlen);
    unlink(path);
    return ok;
}

static void test_peer_host_list(void **state)
{
    (void)state;
    struct gw_config *cfg = malloc(sizeof *cfg);
    char err[512];

    assert_non_null(cfg);
    /* One host: the certificate must carry that name. */
    assert_true(load_peer("upper.example", "7443", cfg, err, sizeof err));
    assert_string_equal(cfg->peers[0].server_name, "upper.example");
    /* A list: each address's own name, unless server_name says otherwise. */
    assert_true(load_peer("10.0.0.1:7443, 10.0.0.2", "7444", cfg, err, sizeof err));
    assert_string_equal(cfg->peers[0].server_name, "");
    /* Every address with its own port needs no port line. */
    assert_true(load_peer("a.example:7443, b.example:7443", NULL, cfg, err, sizeof err));

    assert_false(load_peer("a.example, b.example:7443", NULL, cfg, err, sizeof err));
    assert_non_null(strstr(err, "[peer.province] host"));
    assert_false(load_peer("a.example:99999", NULL, cfg, err, sizeof err));
    assert_non_null(strstr(err, "[peer.province] host"));
    assert_false(load_peer("a.example, [::1", "7443", cfg, err, sizeof err));
    assert_non_null(strstr(err, "[peer.province] host"));
    assert_false(load_peer("a,b,c,d,e,f,g,h,i", "7443", cfg, err, sizeof err));
    assert_non_null(strstr(err, "one to 8 addresses"));
    free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addrlist),
        cmocka_unit_test(test_peer_host_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
