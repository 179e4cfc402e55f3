/*
 * test_hex: the one hexadecimal and UUID text conversion (proto/hex.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/err.h>

#include "hex.h"

static void test_decode_either_case(void **state)
{
    uint8_t out[4];

    (void)state;
    assert_true(hex_decode("00a1FfB2", out, sizeof out));
    assert_memory_equal(out, "\x00\xa1\xff\xb2", 4);
    assert_true(hex_decode("", out, 0));
}

static void test_decode_refuses_anything_else(void **state)
{
    uint8_t out[4];

    (void)state;
    assert_false(hex_decode("00a1ffb", out, sizeof out));     /* odd, short */
    assert_false(hex_decode("00a1ffb2c3", out, sizeof out));  /* too long */
    assert_false(hex_decode("00a1ffbg", out, sizeof out));    /* not a digit */
    assert_false(hex_decode("00a1ff b", out, sizeof out));    /* white space */
    assert_false(hex_decode("00:a1:ff", out, 3));             /* separators */
    assert_false(hex_decode("", out, sizeof out));
}

/* A refusal must not leave an error behind in OpenSSL's queue, where the
 * TLS code would find it and take it for its own; one already there stays. */
static void test_decode_keeps_error_queue(void **state)
{
    uint8_t out[2];

    (void)state;
    ERR_clear_error();
    assert_false(hex_decode("zz00", out, sizeof out));
    assert_int_equal(ERR_peek_error(), 0);
    ERR_raise(ERR_LIB_SSL, ERR_R_INTERNAL_ERROR);
    unsigned long before = ERR_peek_last_error();
    assert_false(hex_decode("zz00", out, sizeof out));
    assert_int_equal(ERR_peek_last_error(), before);
    ERR_clear_error();
}

static void test_encode_lower_case(void **state)
{
    const uint8_t in[] = { 0x00, 0xa1, 0xff, 0x0b };
    char out[2 * sizeof in + 1];
    uint8_t back[sizeof in];

    (void)state;
    memset(out, 'x', sizeof out);
    hex_encode(in, sizeof in, out);
    assert_string_equal(out, "00a1ff0b");
    assert_true(hex_decode(out, back, sizeof back));
    assert_memory_equal(back, in, sizeof in);
    hex_encode(in, 0, out);
    assert_string_equal(out, "");
}

static void test_uuid(void **state)
{
    const char *text = "0123ABCD-4567-89ab-cdef-0123456789AB";
    uint8_t u[HEX_UUID_LEN];
    char out[HEX_UUID_TEXT_LEN + 1];

    (void)state;
    assert_true(hex_uuid_parse(text, strlen(text), u));
    hex_uuid_format(u, out);
    assert_string_equal(out, "0123abcd-4567-89ab-cdef-0123456789ab");
    /* Only the canonical form. */
    assert_false(hex_uuid_parse(text, strlen(text) - 1, u));
    assert_false(hex_uuid_parse("0123ABCD4567-89ab-cdef-0123456789AB-", 36, u));
    assert_false(hex_uuid_parse("{123ABCD-4567-89ab-cdef-0123456789A}", 36, u));
    assert_false(hex_uuid_parse("0123ABCD-4567-89ab-cdef-0123456789A\0", 36, u));
    assert_false(hex_uuid_parse("0123ABCD-4567-89ab-cdef-0123456789AG", 36, u));
    assert_false(hex_uuid_parse("0123ABCD-4567-89ab-cdef--123456789AB", 36, u));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_either_case),
        cmocka_unit_test(test_decode_refuses_anything_else),
        cmocka_unit_test(test_decode_keeps_error_queue),
        cmocka_unit_test(test_encode_lower_case),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
