/*
 * test_public_pow: the public form's proof of work — a solved challenge
 * passes once; a forged, expired, too easy, unsolved or replayed one is
 * refused, and a full memory of spent challenges refuses rather than
 * forgets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "public_pow.h"

static const uint8_t key[PUBLIC_POW_KEY_LEN] = { 7, 7, 7 };
static const uint8_t other[PUBLIC_POW_KEY_LEN] = { 7, 7, 8 };
#define NOW 1764720000
#define AGE 600

/* Whether nonce n gives challenge the zero bits, checked here on its own. */
static bool solves(const char *challenge, unsigned long long n, int difficulty)
{
    char msg[PUBLIC_POW_MAX + 32];
    uint8_t d[32];
    int z = 0;

    snprintf(msg, sizeof msg, "%s:%llu", challenge, n);
    assert_int_equal(EVP_Digest(msg, strlen(msg), d, NULL, EVP_sha256(), NULL), 1);
    while (z < 256 && !(d[z / 8] & (0x80 >> (z % 8))))
        z++;
    return z >= difficulty;
}

/* Finds a nonce as the browser does (solving or not); its text into out. */
static void find(const char *challenge, int difficulty, bool solving, char *out, size_t len)
{
    unsigned long long n = 0;
    while (solves(challenge, n, difficulty) != solving)
        n++;
    snprintf(out, len, "%llu", n);
}

static void solve(const char *challenge, int difficulty, char *out, size_t len)
{
    find(challenge, difficulty, true, out, len);
}

static void test_solved_once(void **state)
{
    char c[PUBLIC_POW_MAX + 1], nonce[32];
    struct public_pow_seen *seen = public_pow_seen_new(64);

    (void)state;
    assert_non_null(seen);
    assert_true(public_pow_issue(key, NOW, 12, c));
    solve(c, 12, nonce, sizeof nonce);
    assert_int_equal(public_pow_check(key, seen, c, nonce, NOW + 5, AGE, 12), PUBLIC_POW_OK);
    assert_int_equal(public_pow_check(key, seen, c, nonce, NOW + 6, AGE, 12),
                     PUBLIC_POW_REPLAYED);
    public_pow_seen_free(seen);
}

/* The module's own solver finds the very nonce the page would (the first
 * from 0 up), and the door takes it. */
static void test_solver_as_the_page(void **state)
{
    char c[PUBLIC_POW_MAX + 1], mine[PUBLIC_POW_NONCE_MAX + 1], page[32];
    struct public_pow_seen *seen = public_pow_seen_new(64);

    (void)state;
    assert_non_null(seen);
    for (int d = 0; d <= 12; d += 4) {
        assert_true(public_pow_issue(key, NOW, d, c));
        assert_true(public_pow_solve(c, d, mine));
        solve(c, d, page, sizeof page);
        assert_string_equal(mine, page);
        assert_true(public_pow_work(c, mine) >= d);
        assert_int_equal(public_pow_check(key, seen, c, mine, NOW, AGE, d), PUBLIC_POW_OK);
    }
    assert_false(public_pow_solve(c, PUBLIC_POW_DIFFICULTY_MAX + 1, mine));
    public_pow_seen_free(seen);
}

static void test_refusals(void **state)
{
    char c[PUBLIC_POW_MAX + 1], f[PUBLIC_POW_MAX + 8], nonce[32];
    struct public_pow_seen *seen = public_pow_seen_new(64);

    (void)state;
    assert_true(public_pow_issue(key, NOW, 10, c));
    solve(c, 10, nonce, sizeof nonce);
    /* Another key, an edited time or difficulty. */
    assert_int_equal(public_pow_check(other, seen, c, nonce, NOW, AGE, 10), PUBLIC_POW_FORGED);
    snprintf(f, sizeof f, "%d%s", NOW + 100, strchr(c, '.'));
    assert_int_equal(public_pow_check(key, seen, f, nonce, NOW + 100, AGE, 10),
                     PUBLIC_POW_FORGED);
    const char *dot = strchr(c, '.');
    snprintf(f, sizeof f, "%.*s.1%s", (int)(dot - c), c, strchr(dot + 1, '.'));
    assert_int_equal(public_pow_check(key, seen, f, nonce, NOW, AGE, 1), PUBLIC_POW_FORGED);
    assert_int_equal(public_pow_check(key, seen, "", nonce, NOW, AGE, 10), PUBLIC_POW_FORGED);
    /* Too old, from the future, too easy for what is asked now. */
    assert_int_equal(public_pow_check(key, seen, c, nonce, NOW + AGE + 1, AGE, 10),
                     PUBLIC_POW_EXPIRED);
    assert_int_equal(public_pow_check(key, seen, c, nonce, NOW - 60, AGE, 10),
                     PUBLIC_POW_EXPIRED);
    assert_int_equal(public_pow_check(key, seen, c, nonce, NOW, AGE, 11), PUBLIC_POW_TOO_EASY);
    /* A nonce that does not give the zero bits, or is not a number. */
    char wrong[32];
    find(c, 10, false, wrong, sizeof wrong);
    assert_int_equal(public_pow_check(key, seen, c, wrong, NOW, AGE, 10), PUBLIC_POW_UNSOLVED);
    assert_int_equal(public_pow_check(key, seen, c, "-1", NOW, AGE, 10), PUBLIC_POW_UNSOLVED);
    assert_int_equal(public_pow_check(key, seen, c, "01", NOW, AGE, 10), PUBLIC_POW_UNSOLVED);
    /* After all those refusals it is still unspent. */
    assert_int_equal(public_pow_check(key, seen, c, nonce, NOW, AGE, 10), PUBLIC_POW_OK);
    public_pow_seen_free(seen);
}

/* Difficulty 0: every nonce solves it; the memory of spent challenges
 * fills and then refuses, and frees up as they expire. */
static void test_memory_full(void **state)
{
    char c[PUBLIC_POW_MAX + 1];
    struct public_pow_seen *seen = public_pow_seen_new(16);
    int ok = 0, busy = 0;

    (void)state;
    for (int i = 0; i < 200; i++) {
        assert_true(public_pow_issue(key, NOW, 0, c));
        enum public_pow_result r = public_pow_check(key, seen, c, "0", NOW, AGE, 0);
        if (r == PUBLIC_POW_OK)
            ok++;
        else if (r == PUBLIC_POW_BUSY)
            busy++;
        else
            fail_msg("unexpected result %d", (int)r);
    }
    assert_true(ok <= 16);
    assert_true(busy >= 184);
    assert_true(public_pow_issue(key, NOW + AGE + 5, 0, c));
    assert_int_equal(public_pow_check(key, seen, c, "0", NOW + AGE + 5, AGE, 0), PUBLIC_POW_OK);
    public_pow_seen_free(seen);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_solved_once),
        cmocka_unit_test(test_solver_as_the_page),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_memory_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
