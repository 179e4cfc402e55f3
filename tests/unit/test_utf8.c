/*
 * Unit tests for the strict UTF-8 validator: each class of malformed input
 * is refused at the right offset, every well-formed code point is accepted,
 * and the word-at-a-time ASCII path agrees with the byte-at-a-time one.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <cmocka.h>

#include "utf8.h"
#include "utf8_reference.h"

#define U(s) ((const uint8_t *)(s))

static void assert_bad_at(const char *s, size_t len, size_t expect_offset)
{
    size_t off = (size_t)-1;

    assert_false(utf8_valid(U(s), len, &off));
    assert_int_equal(off, expect_offset);
    /* A NULL offset pointer is allowed. */
    assert_false(utf8_valid(U(s), len, NULL));
}

static void test_accepts_well_formed(void **state)
{
    (void)state;
    assert_true(utf8_valid(NULL, 0, NULL));
    assert_true(utf8_valid(U(""), 0, NULL));
    assert_true(utf8_valid(U("hello, world"), 12, NULL));
    /* Boundaries of each sequence length. */
    assert_true(utf8_valid(U("\xC2\x80"), 2, NULL));            /* U+0080 */
    assert_true(utf8_valid(U("\xDF\xBF"), 2, NULL));            /* U+07FF */
    assert_true(utf8_valid(U("\xE0\xA0\x80"), 3, NULL));        /* U+0800 */
    assert_true(utf8_valid(U("\xED\x9F\xBF"), 3, NULL));        /* U+D7FF */
    assert_true(utf8_valid(U("\xEE\x80\x80"), 3, NULL));        /* U+E000 */
    assert_true(utf8_valid(U("\xEF\xBF\xBF"), 3, NULL));        /* U+FFFF */
    assert_true(utf8_valid(U("\xF0\x90\x80\x80"), 4, NULL));    /* U+10000 */
    assert_true(utf8_valid(U("\xF4\x8F\xBF\xBF"), 4, NULL));    /* U+10FFFF */
    const char *zh = "社情民意信息：关于加强基层治理的建议。😀";
    assert_true(utf8_valid(U(zh), strlen(zh), NULL));
}

static void test_rejects_overlong(void **state)
{
    (void)state;
    assert_bad_at("\xC0\x80", 2, 0);                 /* NUL, two bytes */
    assert_bad_at("ab\xC1\xBF", 4, 2);
    assert_bad_at("\xE0\x80\x80", 3, 0);
    assert_bad_at("x\xE0\x9F\xBF", 4, 1);            /* U+07FF in three bytes */
    assert_bad_at("\xF0\x80\x80\x80", 4, 0);
    assert_bad_at("\xF0\x8F\xBF\xBF", 4, 0);         /* U+FFFF in four bytes */
    assert_bad_at("\xF8\x88\x80\x80\x80", 5, 0);     /* five-byte form */
}

static void test_rejects_surrogates(void **state)
{
    (void)state;
    assert_bad_at("\xED\xA0\x80", 3, 0);             /* U+D800 */
    assert_bad_at("ok\xED\xBF\xBF", 5, 2);           /* U+DFFF */
    /* CESU-8 style pair for U+1F600. */
    assert_bad_at("\xED\xA0\xBD\xED\xB8\x80", 6, 0);
}

static void test_rejects_above_max(void **state)
{
    (void)state;
    assert_bad_at("\xF4\x90\x80\x80", 4, 0);         /* U+110000 */
    assert_bad_at("\xF5\x80\x80\x80", 4, 0);
    assert_bad_at("a\xFE", 2, 1);
    assert_bad_at("a\xFF", 2, 1);
}

static void test_rejects_truncated(void **state)
{
    (void)state;
    assert_bad_at("\xE4\xB8", 2, 0);                 /* 中 without its last byte */
    assert_bad_at("abc\xF0\x9F\x98", 6, 3);
    assert_bad_at("\xC3", 1, 0);
    assert_bad_at("\xE4\xB8x", 3, 0);                /* continuation replaced by ASCII */
    assert_bad_at("\xE4\xB8\xAD\xE4\xB8", 5, 3);
    /* A lead byte followed by another lead byte. */
    assert_bad_at("\xC3\xC3\xA9", 3, 0);
    /* Cut off by the end of the text although the bytes after the end, in
     * memory, would complete the sequence: the length must decide. */
    assert_bad_at("\xC3\xA9", 1, 0);
    assert_bad_at("\xE4\xB8\xAD", 2, 0);
    assert_bad_at("ab\xF0\x9F\x98\x80", 5, 2);
}

static void test_rejects_stray_continuation(void **state)
{
    (void)state;
    assert_bad_at("\x80", 1, 0);
    assert_bad_at("abc\xBF", 4, 3);
    assert_bad_at("\xE4\xB8\xAD\xAD", 4, 3);         /* one continuation too many */
}

/* The ASCII fast path reads eight bytes at a time; a bad byte anywhere in or
 * after a run of ASCII must still be found at its exact offset. */
static void test_fast_path_offsets(void **state)
{
    char buf[80];

    (void)state;
    for (size_t len = 1; len < sizeof buf; len++) {
        for (size_t bad = 0; bad < len; bad++) {
            memset(buf, 'a', len);
            buf[bad] = (char)0x80;
            assert_bad_at(buf, len, bad);
        }
        memset(buf, 'a', len);
        assert_true(utf8_valid(U(buf), len, NULL));
    }
    /* A valid multi-byte character straddling a word boundary. */
    memset(buf, 'a', sizeof buf);
    memcpy(buf + 6, "\xE4\xB8\xAD", 3);
    assert_true(utf8_valid(U(buf), sizeof buf, NULL));
}

/* Every one-, two- and three-byte string, and four-byte strings over every
 * lead and second byte, agree with the reference decoder. */
static void test_exhaustive_against_reference(void **state)
{
    uint8_t b[4];

    (void)state;
    for (unsigned x = 0; x < 0x100; x++) {
        b[0] = (uint8_t)x;
        assert_int_equal(utf8_valid(b, 1, NULL), utf8_reference_valid(b, 1));
        for (unsigned y = 0; y < 0x100; y++) {
            b[1] = (uint8_t)y;
            assert_int_equal(utf8_valid(b, 2, NULL), utf8_reference_valid(b, 2));
            for (unsigned z = 0; z < 0x100; z++) {
                b[2] = (uint8_t)z;
                if (utf8_valid(b, 3, NULL) != utf8_reference_valid(b, 3))
                    fail_msg("disagree on %02x %02x %02x", x, y, z);
            }
        }
    }
    static const uint8_t thirds[] = { 0x00, 0x41, 0x7F, 0x80, 0x8F, 0x90, 0xBF, 0xC0, 0xFF };
    for (unsigned x = 0xE0; x < 0x100; x++)
        for (unsigned y = 0; y < 0x100; y++)
            for (size_t z = 0; z < sizeof thirds; z++)
                for (size_t w = 0; w < sizeof thirds; w++) {
                    b[0] = (uint8_t)x, b[1] = (uint8_t)y, b[2] = thirds[z], b[3] = thirds[w];
                    if (utf8_valid(b, 4, NULL) != utf8_reference_valid(b, 4))
                        fail_msg("disagree on %02x %02x %02x %02x", b[0], b[1], b[2], b[3]);
                }
}

static void test_count(void **state)
{
    (void)state;
    assert_int_equal(utf8_count(NULL, 0), 0);
    assert_int_equal(utf8_count(U("abc"), 3), 3);
    const char *mixed = "a中b😀cé";
    assert_int_equal(utf8_count(U(mixed), strlen(mixed)), 6);
    /* Long enough to use the word loop, with characters across word edges. */
    const char *zh = "社情民意信息联系点委员工作室界别群众abc";
    assert_int_equal(utf8_count(U(zh), strlen(zh)), 21);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accepts_well_formed),
        cmocka_unit_test(test_rejects_overlong),
        cmocka_unit_test(test_rejects_surrogates),
        cmocka_unit_test(test_rejects_above_max),
        cmocka_unit_test(test_rejects_truncated),
        cmocka_unit_test(test_rejects_stray_continuation),
        cmocka_unit_test(test_fast_path_offsets),
        cmocka_unit_test(test_exhaustive_against_reference),
        cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
