/*
 * it_sslscan: an outside scanner's view of the gateway's TLS policy.
 * sslscan (Debian package sslscan) must find nothing older than TLS 1.3
 * enabled, and no TLS 1.3 either: it offers no ALPN, and PROTOCOL.md §1
 * says such a handshake fails.  What a client that does offer minyi/1
 * gets is probed with openssl s_client: exactly the three cipher suites
 * TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384 and
 * TLS_CHACHA20_POLY1305_SHA256, and exactly the groups X25519, P-256 and
 * P-384.  The test is skipped when sslscan is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "itkit.h"

#define SCAN_OUTPUT_MAX (256 * 1024)

static struct itenv env;

static int setup(void **state)
{
    (void)state;
    return itenv_up(&env, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itenv_down(&env) == 0 ? 0 : -1;
}

/* Lines of sslscan's output, colour codes removed. */
static char *scan(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "sslscan --no-colour --no-heartbleed 127.0.0.1:%d 2>&1",
             env.gw.port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char *out = calloc(1, SCAN_OUTPUT_MAX);
    assert_non_null(out);
    size_t n = fread(out, 1, SCAN_OUTPUT_MAX - 1, p);
    out[n] = '\0';
    pclose(p);
    return out;
}

/* Counts the lines of out that contain a and (when not NULL) b. */
static int lines_with(const char *out, const char *a, const char *b)
{
    int n = 0;
    const char *line = out;
    while (*line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t)(end - line) : strlen(line);
        char buf[512];
        snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1), line);
        if (strstr(buf, a) != NULL && (b == NULL || strstr(buf, b) != NULL))
            n++;
        line = end != NULL ? end + 1 : line + len;
    }
    return n;
}

/* The lines of the section titled title, up to the next blank line. */
static char *section(const char *out, const char *title)
{
    const char *start = strstr(out, title);
    if (start == NULL)
        fail_msg("sslscan printed no \"%s\" section:\n%s", title, out);
    start = strchr(start, '\n');
    assert_non_null(start);
    start++;
    const char *end = strstr(start, "\n\n");
    size_t len = end != NULL ? (size_t)(end - start) : strlen(start);
    char *sec = strndup(start, len);
    assert_non_null(sec);
    return sec;
}

/* Whether a TLS 1.3 handshake offering ALPN minyi/1, the given suites
 * and groups, and contact1's certificate reaches an agreed cipher suite. */
static bool handshake_with(const char *suites, const char *groups)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "openssl s_client -connect 127.0.0.1:%d -tls1_3 -alpn minyi/1 -ciphersuites %s"
             " -groups %s -cert %s/tests/certs/contact1.crt -key %s/tests/certs/contact1.key"
             " -brief </dev/null 2>&1",
             env.gw.port, suites, groups, MINYI_BINARY_DIR, MINYI_BINARY_DIR);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    pclose(p);
    print_message("%s -> %s\n", cmd, out);
    return strstr(out, "Ciphersuite:") != NULL;
}

static void test_policy_as_scanned(void **state)
{
    (void)state;
    if (system("command -v sslscan >/dev/null 2>&1") != 0)
        itskip("sslscan is not installed");
    char *out = scan();
    print_message("%s\n", out);

    char *protocols = section(out, "SSL/TLS Protocols:");
    static const char *const all[] = { "SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2",
                                       "TLSv1.3" };
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        assert_int_equal(lines_with(protocols, all[i], "disabled"), 1);
    assert_int_equal(lines_with(protocols, "enabled", NULL), 0);
    free(protocols);
    free(out);
}

static void test_suites_and_groups_with_alpn(void **state)
{
    (void)state;
    static const char *const suites_ok[] = { "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                             "TLS_CHACHA20_POLY1305_SHA256" };
    for (size_t i = 0; i < sizeof(suites_ok) / sizeof(suites_ok[0]); i++)
        assert_true(handshake_with(suites_ok[i], "X25519"));
    assert_false(handshake_with("TLS_AES_128_CCM_SHA256", "X25519"));
    assert_false(handshake_with("TLS_AES_128_CCM_8_SHA256", "X25519"));

    static const char *const groups_ok[] = { "X25519", "P-256", "P-384" };
    for (size_t i = 0; i < sizeof(groups_ok) / sizeof(groups_ok[0]); i++)
        assert_true(handshake_with("TLS_AES_128_GCM_SHA256", groups_ok[i]));
    assert_false(handshake_with("TLS_AES_128_GCM_SHA256", "P-521"));
    assert_false(handshake_with("TLS_AES_128_GCM_SHA256", "X448"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_as_scanned),
        cmocka_unit_test(test_suites_and_groups_with_alpn),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
