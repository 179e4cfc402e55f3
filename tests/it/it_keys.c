/*
 * it_keys: the gateway's trust and secrets are checked before they are used.
 * `minyid principal add` registers only a certificate the handshake would
 * accept now (issued by the client CA, within its validity period), and the
 * gateway refuses to start when its personal-data key file is readable by
 * others, saying which file and which mode.
 *
 * The certificates with unusual validity periods are made here with
 * OpenSSL and signed by the test CA.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "itkit.h"

#define DAY_S (24L * 60 * 60)
#define OUT_MAX 4096

static struct itenv env;
static char dir[64];

static int setup(void **state)
{
    (void)state;
    if (!itmkdtemp(dir, sizeof dir, "keys"))
        return -1;
    return itenv_up(&env, NULL) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    itrmtree(dir);
    return itenv_teardown(&env);
}

static EVP_PKEY *read_key(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

/* Writes dir/name.crt: a client certificate signed by the test CA, valid
 * from now + from_s to now + to_s (seconds, negative for the past). */
static const char *make_cert(const char *name, long from_s, long to_s)
{
    static char path[128];
    EVP_PKEY *ca_key = read_key(tcert("ca", "key"));
    X509 *ca = read_cert(tcert("ca", "crt"));
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    assert_non_null(key);
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), (long)getpid() + from_s), 1);
    X509_NAME *subject = X509_get_subject_name(x);
    assert_int_equal(X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)name, -1, -1, 0), 1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(ca)), 1);
    assert_non_null(X509_time_adj_ex(X509_getm_notBefore(x), 0, from_s, NULL));
    assert_non_null(X509_time_adj_ex(X509_getm_notAfter(x), 0, to_s, NULL));
    assert_int_equal(X509_set_pubkey(x, key), 1);
    assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
    snprintf(path, sizeof path, "%s/%s.crt", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, x), 1);
    assert_int_equal(fclose(f), 0);
    X509_free(x);
    X509_free(ca);
    EVP_PKEY_free(key);
    EVP_PKEY_free(ca_key);
    return path;
}

/* Runs `minyid principal add --cert CERT ...`; answers the exit status. */
static int principal_add(const char *cert, char *out, char *err)
{
    const char *args[] = { "principal", "add", "--cert", cert, "--kind", "contact",
                           "--name", "某联系点", "--region", IT_REGION, NULL };
    return itrun_minyid(dir, &env.gw, args, out, err, OUT_MAX);
}

static long long principals(void)
{
    return tdb_scalar(env.conninfo, "SELECT count(*) FROM principals", 0, NULL);
}

/* A certificate valid now is registered; the same command refuses an
 * expired one, one not valid yet and one from another CA, and registers
 * nothing for them. */
static void test_principal_add_checks_certificate(void **state)
{
    (void)state;
    char out[OUT_MAX], err[OUT_MAX];
    long long before = principals();

    assert_int_equal(principal_add(make_cert("current", -DAY_S, DAY_S), out, err), 0);
    assert_int_equal(principals(), before + 1);

    assert_int_equal(principal_add(make_cert("expired", -10 * DAY_S, -DAY_S), out, err), 1);
    assert_non_null(strstr(err, "expired.crt expired on "));
    assert_int_equal(principal_add(make_cert("future", DAY_S, 10 * DAY_S), out, err), 1);
    assert_non_null(strstr(err, "future.crt is not valid before "));
    assert_int_equal(principal_add(tcert("stranger", "crt"), out, err), 1);
    assert_non_null(strstr(err, "was not issued by the client CA"));
    assert_int_equal(principals(), before + 1);
}

/* A personal-data key file that group and others may read stops the start
 * with the file's name and mode; made private again, the gateway starts. */
static void test_public_key_file_stops_start(void **state)
{
    (void)state;
    char key[PATH_MAX + 16], needle[PATH_MAX + 64];
    snprintf(key, sizeof key, "%s/pii.key", env.gw.dir);
    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    env.gw_up = false;
    assert_int_equal(chmod(key, 0644), 0);
    assert_false(tgw_start_again(&env.gw));
    snprintf(needle, sizeof needle, "key file %s has mode 0644", key);
    assert_true(tgw_log_contains(&env.gw, needle));
    assert_int_equal(chmod(key, 0600), 0);
    assert_true(tgw_start_again(&env.gw));
    env.gw_up = true;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_principal_add_checks_certificate),
        cmocka_unit_test(test_public_key_file_stops_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
