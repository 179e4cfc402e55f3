/*
 * test_public_token: a poster's token verifies under the key that signed
 * it and names its contact point and generation; a forged one — another
 * key, a changed contact point, generation or MAC digit, a token cut short
 * or padded, or anything not of its form — does not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "public_token.h"

static const uint8_t key[PUBLIC_TOKEN_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
static const uint8_t other[PUBLIC_TOKEN_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 10 };

static void test_round_trip(void **state)
{
    char t[PUBLIC_TOKEN_MAX + 1];
    int64_t cp = 0;
    uint32_t gen = 0;

    (void)state;
    assert_true(public_token_sign(key, 42, 7, t));
    assert_memory_equal(t, "42.7.", 5);
    assert_int_equal(strlen(t), 5 + 2 * PUBLIC_TOKEN_MAC_LEN);
    assert_true(public_token_verify(key, t, &cp, &gen));
    assert_int_equal(cp, 42);
    assert_int_equal(gen, 7);
    /* The largest ids still fit. */
    assert_true(public_token_sign(key, 999999999999999999LL, 999999999u, t));
    assert_true(strlen(t) <= PUBLIC_TOKEN_MAX);
    assert_true(public_token_verify(key, t, &cp, &gen));
    assert_int_equal(cp, 999999999999999999LL);
}

static void test_forgeries_refused(void **state)
{
    char t[PUBLIC_TOKEN_MAX + 1], f[PUBLIC_TOKEN_MAX + 16];
    int64_t cp = -1;
    uint32_t gen = 0;

    (void)state;
    assert_true(public_token_sign(key, 42, 7, t));
    /* Another instance's key. */
    assert_false(public_token_verify(other, t, &cp, &gen));
    /* Another contact point or generation with the same MAC. */
    snprintf(f, sizeof f, "43%s", t + 2);
    assert_false(public_token_verify(key, f, &cp, &gen));
    snprintf(f, sizeof f, "42.8%s", t + 4);
    assert_false(public_token_verify(key, f, &cp, &gen));
    /* Each digit of the MAC matters. */
    for (size_t i = 5; t[i] != '\0'; i++) {
        snprintf(f, sizeof f, "%s", t);
        f[i] = f[i] == '0' ? '1' : '0';
        assert_false(public_token_verify(key, f, &cp, &gen));
    }
    /* Cut short, padded, upper case, leading zeros, signs, empty parts. */
    snprintf(f, sizeof f, "%.*s", (int)strlen(t) - 1, t);
    assert_false(public_token_verify(key, f, &cp, &gen));
    snprintf(f, sizeof f, "%s0", t);
    assert_false(public_token_verify(key, f, &cp, &gen));
    snprintf(f, sizeof f, "042%s", t + 2);
    assert_false(public_token_verify(key, f, &cp, &gen));
    snprintf(f, sizeof f, "+42%s", t + 2);
    assert_false(public_token_verify(key, f, &cp, &gen));
    snprintf(f, sizeof f, "%s", t);
    for (char *p = f; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    if (strcmp(f, t) != 0)
        assert_false(public_token_verify(key, f, &cp, &gen));
    const char *junk[] = { "", ".", "..", "42..", "42.7.", "x.y.z", "42.7",
                           "0.7.00000000000000000000000000000000",
                           "42.0.00000000000000000000000000000000" };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++)
        assert_false(public_token_verify(key, junk[i], &cp, &gen));
    /* Nothing was filled in by any refusal. */
    assert_int_equal(cp, -1);
    assert_int_equal(gen, 0);
    /* Signing refuses what cannot be a token. */
    assert_false(public_token_sign(key, 0, 1, t));
    assert_false(public_token_sign(key, 1, 0, t));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_forgeries_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
