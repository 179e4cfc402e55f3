/*
 * Unit tests for the NFC fast path of the validator: validate_nfc_inert()
 * may call a code point inert only when NFC leaves it unchanged whatever
 * surrounds it.  Checked against utf8proc itself over every code point:
 * alone, after every character that begins a canonical composition, and
 * before a combining mark; and no code point that can be absorbed by a
 * preceding one (the second and later parts of every canonical
 * decomposition) is called inert.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <utf8proc.h>

#include "validate.h"

#define MAX_CP 0x10FFFF
/* Longest canonical decomposition of one code point, with room to spare. */
#define DECOMP_MAX 8
/* Room for the NFC of a few code points. */
#define NORM_MAX 32

static bool is_surrogate(uint32_t cp)
{
    return cp >= 0xD800 && cp <= 0xDFFF;
}

/* NFC of a short code point sequence, the way the validator asks utf8proc
 * for it (UTF8PROC_STABLE | UTF8PROC_COMPOSE), without allocating.
 * Returns its length. */
static size_t nfc(const uint32_t *in, size_t n, utf8proc_int32_t *out)
{
    utf8proc_ssize_t len = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        int last_boundclass = 0;
        utf8proc_ssize_t r = utf8proc_decompose_char(
            (utf8proc_int32_t)in[i], out + len, NORM_MAX - len,
            (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE), &last_boundclass);
        assert_true(r >= 0 && len + r <= NORM_MAX);
        len += r;
    }
    len = utf8proc_normalize_utf32(out, len,
                                   (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    assert_true(len >= 0);
    return (size_t)len;
}

static bool nfc_unchanged(const uint32_t *in, size_t n)
{
    utf8proc_int32_t out[NORM_MAX];
    size_t len = nfc(in, n, out), i;

    if (len != n)
        return false;
    for (i = 0; i < n; i++)
        if ((uint32_t)out[i] != in[i])
            return false;
    return true;
}

/* An inert code point alone is in NFC and has combining class 0. */
static void test_alone(void **state)
{
    uint32_t cp;
    size_t inert = 0;

    (void)state;
    for (cp = 0; cp <= MAX_CP; cp++) {
        if (is_surrogate(cp) || !validate_nfc_inert(cp))
            continue;
        inert++;
        if (utf8proc_get_property((utf8proc_int32_t)cp)->combining_class != 0 ||
            !nfc_unchanged(&cp, 1))
            fail_msg("U+%04X is called inert but NFC changes it", (unsigned)cp);
    }
    /* The fast path must actually cover the common scripts. */
    assert_true(validate_nfc_inert(0x4E2D));   /* 中 */
    assert_true(validate_nfc_inert(0x3002));   /* 。 */
    assert_true(validate_nfc_inert(0x00B7));   /* · */
    assert_true(validate_nfc_inert(0x2014));   /* — */
    assert_true(validate_nfc_inert(0x0436));   /* ж */
    assert_true(inert > 100000);
}

/* Every code point that the canonical decomposition of a primary composite
 * (one NFC composes again, not a composition exclusion) has after its first
 * part can be absorbed by what precedes it, so it is never inert. */
static void test_composition_parts(void **state)
{
    uint32_t cp;

    (void)state;
    for (cp = 0; cp <= MAX_CP; cp++) {
        utf8proc_int32_t d[DECOMP_MAX];
        int last_boundclass = 0;
        utf8proc_ssize_t n, i;

        if (is_surrogate(cp))
            continue;
        n = utf8proc_decompose_char((utf8proc_int32_t)cp, d, DECOMP_MAX,
                                    (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE),
                                    &last_boundclass);
        assert_true(n >= 1 && n <= DECOMP_MAX);
        if (n == 1 && (uint32_t)d[0] == cp)
            continue;
        if (validate_nfc_inert(cp))
            fail_msg("U+%04X decomposes canonically but is called inert", (unsigned)cp);
        if (utf8proc_get_property((utf8proc_int32_t)cp)->comp_exclusion)
            continue;
        for (i = 1; i < n; i++)
            if (validate_nfc_inert((uint32_t)d[i]))
                fail_msg("U+%04X, part of U+%04X, is called inert", (unsigned)d[i],
                         (unsigned)cp);
    }
}

/* After any character that begins a canonical composition, an inert code
 * point stays as it is; and an inert character followed by a combining mark
 * is normalised by utf8proc, never by the fast path (the mark is not
 * inert). */
static void test_pairs(void **state)
{
    static uint32_t firsts[0x10000];
    size_t n_firsts = 0, i;
    uint32_t cp;

    (void)state;
    /* The distinct first parts of the BMP's canonical decompositions. */
    for (cp = 0; cp <= 0xFFFF; cp++) {
        utf8proc_int32_t d[DECOMP_MAX];
        int last_boundclass = 0;
        utf8proc_ssize_t n;
        bool seen = false;

        if (is_surrogate(cp))
            continue;
        n = utf8proc_decompose_char((utf8proc_int32_t)cp, d, DECOMP_MAX,
                                    (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE),
                                    &last_boundclass);
        if (n <= 1)
            continue;
        for (i = 0; i < n_firsts && !seen; i++)
            seen = firsts[i] == (uint32_t)d[0];
        if (!seen)
            firsts[n_firsts++] = (uint32_t)d[0];
    }
    assert_true(n_firsts > 100);
    for (cp = 0; cp <= 0xFFFF; cp++) {
        uint32_t pair[2];

        if (is_surrogate(cp) || !validate_nfc_inert(cp))
            continue;
        for (i = 0; i < n_firsts; i++) {
            pair[0] = firsts[i];
            pair[1] = cp;
            if (!nfc_unchanged(pair, 2))
                fail_msg("U+%04X U+%04X: NFC changes the inert U+%04X", (unsigned)pair[0],
                         (unsigned)cp, (unsigned)cp);
        }
        pair[0] = cp;
        pair[1] = 0x0301;
        assert_false(validate_nfc_inert(pair[1]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alone),
        cmocka_unit_test(test_composition_parts),
        cmocka_unit_test(test_pairs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
