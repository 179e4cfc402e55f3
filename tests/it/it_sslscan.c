/*
 * it_sslscan: an outside scanner's view of the gateway's TLS policy.
 * sslscan (Debian package sslscan) must find TLS 1.3 and nothing older,
 * exactly the three cipher suites TLS_AES_128_GCM_SHA256,
 * TLS_AES_256_GCM_SHA384 and TLS_CHACHA20_POLY1305_SHA256, and exactly
 * the groups X25519, P-256 (secp256r1) and P-384 (secp384r1).  The scanner
 * has no client certificate; the handshakes it needs to enumerate
 * protocols, suites and groups end before the certificate is asked for.
 * The test is skipped when sslscan is not installed.
 */
#include <setjmp.h>
#include <stdarg.h>
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

static void test_policy_as_scanned(void **state)
{
    (void)state;
    if (system("command -v sslscan >/dev/null 2>&1") != 0)
        itskip("sslscan is not installed");
    char *out = scan();
    print_message("%s\n", out);

    char *protocols = section(out, "SSL/TLS Protocols:");
    static const char *const old[] = { "SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2" };
    for (size_t i = 0; i < sizeof(old) / sizeof(old[0]); i++)
        assert_int_equal(lines_with(protocols, old[i], "disabled"), 1);
    assert_int_equal(lines_with(protocols, "enabled", NULL), 1);
    assert_int_equal(lines_with(protocols, "TLSv1.3", "enabled"), 1);
    free(protocols);

    char *ciphers = section(out, "Supported Server Cipher(s):");
    int accepted = lines_with(ciphers, "Accepted", NULL) + lines_with(ciphers, "Preferred", NULL);
    assert_int_equal(accepted, 3);
    assert_int_equal(lines_with(ciphers, "TLSv1.3", "TLS_AES_128_GCM_SHA256"), 1);
    assert_int_equal(lines_with(ciphers, "TLSv1.3", "TLS_AES_256_GCM_SHA384"), 1);
    assert_int_equal(lines_with(ciphers, "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256"), 1);
    free(ciphers);

    char *groups = section(out, "Server Key Exchange Group(s):");
    assert_int_equal(lines_with(groups, "TLSv1.3", NULL), 3);
    assert_int_equal(lines_with(groups, "x25519", NULL), 1);
    assert_int_equal(lines_with(groups, "secp256r1", NULL), 1);
    assert_int_equal(lines_with(groups, "secp384r1", NULL), 1);
    free(groups);

    assert_int_equal(lines_with(out, "renegotiation not supported", NULL), 1);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_as_scanned),
    };
    return itexit(cmocka_run_group_tests(tests, setup, teardown));
}
