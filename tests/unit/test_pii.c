/*
 * test_pii: sealing of personal fields, and the names of principal kinds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "pii.h"
#include "principal.h"

static const uint8_t key[PII_KEY_LEN] = {
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

#define PHONE "13800000000"

static void test_seal_open_round_trip(void **state)
{
    uint8_t sealed[64], again[64], plain[64];
    size_t n = strlen(PHONE);

    (void)state;
    assert_true(pii_seal(key, 1, "col", (const uint8_t *)PHONE, n, sealed));
    assert_true(pii_open(key, 1, "col", sealed, pii_sealed_len(n), plain));
    assert_memory_equal(plain, PHONE, n);
    /* A fresh nonce each time: the same phone never looks the same twice. */
    assert_true(pii_seal(key, 1, "col", (const uint8_t *)PHONE, n, again));
    assert_memory_not_equal(sealed, again, pii_sealed_len(n));
    /* The plaintext does not appear in the sealed form. */
    assert_null(memmem(sealed, pii_sealed_len(n), PHONE, n));
}

/* One sealer, many seals: each opens with the key and its own aad, whatever
 * was sealed before it (GCM's state starts over with every nonce), and the
 * sealer's output is what pii_seal's would be to pii_open. */
static void test_sealer_many(void **state)
{
    static const char *const values[] = { "13800000000", "张三", "", "0571-87654321" };
    static const char *const aads[] = { "reports.phone", "reports.reporter_name", "col", NULL };
    uint8_t sealed[4][64], plain[64];
    struct pii_sealer *s = pii_sealer_new(key, 1);

    (void)state;
    assert_non_null(s);
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 4; i++) {
            size_t n = strlen(values[i]);
            assert_true(pii_sealer_seal(s, aads[i], (const uint8_t *)values[i], n, sealed[i]));
        }
        for (int i = 0; i < 4; i++) {
            size_t n = strlen(values[i]);
            assert_true(pii_open(key, 1, aads[i], sealed[i], pii_sealed_len(n), plain));
            assert_memory_equal(plain, values[i], n);
            /* Bound to its aad: not openable as another column's. */
            if (n > 0)
                assert_false(pii_open(key, 1, "other", sealed[i], pii_sealed_len(n), plain));
        }
    }
    /* Two seals of one value differ (a fresh nonce each). */
    uint8_t a[64], b[64];
    assert_true(pii_sealer_seal(s, "col", (const uint8_t *)PHONE, strlen(PHONE), a));
    assert_true(pii_sealer_seal(s, "col", (const uint8_t *)PHONE, strlen(PHONE), b));
    assert_memory_not_equal(a, b, pii_sealed_len(strlen(PHONE)));
    pii_sealer_free(s);
    pii_sealer_free(NULL);
}

/* A nonce the caller drew (the intake batch draws all of its random bytes
 * at once): it is the value's nonce, the value opens with the key and aad
 * alone, and a data key's sealer, whose nonces are its own count, refuses
 * one. */
static void test_seal_with_drawn_nonce(void **state)
{
    uint8_t nonce[PII_NONCE_LEN], sealed[64], plain[64];
    size_t n = strlen(PHONE), len = pii_sealed_len(n);
    struct pii_sealer *s = pii_sealer_new(key, 3);
    struct pii_sealer *d = pii_dek_sealer_new();

    (void)state;
    assert_non_null(s);
    assert_non_null(d);
    memset(nonce, 0x5a, sizeof nonce);
    assert_true(pii_sealer_seal_nonce(s, nonce, "col", (const uint8_t *)PHONE, n, sealed));
    assert_memory_equal(sealed + PII_HEADER_LEN, nonce, PII_NONCE_LEN);
    assert_int_equal(pii_sealed_version(sealed, len), 3);
    assert_true(pii_open(key, 3, "col", sealed, len, plain));
    assert_memory_equal(plain, PHONE, n);
    assert_false(pii_open(key, 3, "other", sealed, len, plain));
    assert_true(pii_sealer_rekey(d, key));
    assert_false(pii_sealer_seal_nonce(d, nonce, "col", (const uint8_t *)PHONE, n, sealed));
    pii_sealer_free(s);
    pii_sealer_free(d);
}

static void test_open_refuses_tampering(void **state)
{
    uint8_t sealed[64], plain[64], other[PII_KEY_LEN];
    size_t n = strlen(PHONE), len = pii_sealed_len(n);

    (void)state;
    assert_true(pii_seal(key, 1, "col", (const uint8_t *)PHONE, n, sealed));
    assert_false(pii_open(key, 1, "other column", sealed, len, plain));
    memcpy(other, key, sizeof other);
    other[0] ^= 1;
    assert_false(pii_open(other, 1, "col", sealed, len, plain));
    for (size_t i = 0; i < len; i++) {
        sealed[i] ^= 0x80;
        assert_false(pii_open(key, 1, "col", sealed, len, plain));
        sealed[i] ^= 0x80;
    }
    assert_false(pii_open(key, 1, "col", sealed, len - 1, plain));
    assert_false(pii_open(key, 1, "col", sealed, PII_OVERHEAD - 1, plain));
}

static void test_empty_plaintext(void **state)
{
    uint8_t sealed[PII_OVERHEAD], plain[1];

    (void)state;
    assert_true(pii_seal(key, 1, NULL, (const uint8_t *)"", 0, sealed));
    assert_true(pii_open(key, 1, NULL, sealed, sizeof sealed, plain));
}

/* A value names its key version, bound to the tag: opened with the key
 * ring by that version, never under another version (even with the same
 * key bytes), and rotation keeps old versions readable. */
static void test_key_versions(void **state)
{
    uint8_t sealed[64], plain[64], newer[PII_KEY_LEN];
    size_t n = strlen(PHONE), len = pii_sealed_len(n), got = 0;
    struct pii_keyring old = { 0 }, ring;

    (void)state;
    memcpy(newer, key, sizeof newer);
    newer[31] ^= 0x55;
    assert_true(pii_seal(key, 7, "col", (const uint8_t *)PHONE, n, sealed));
    assert_int_equal(pii_sealed_version(sealed, len), 7);
    assert_true(pii_open(key, 7, "col", sealed, len, plain));
    /* The wrong version fails, with the right key too. */
    assert_false(pii_open(key, 8, "col", sealed, len, plain));
    sealed[4] = 8;
    assert_false(pii_open(key, 8, "col", sealed, len, plain));
    sealed[4] = 7;

    /* After rotation to version 8 the ring opens both, seals with 8. */
    old.n = 1;
    old.keys[0].version = 7;
    memcpy(old.keys[0].key, key, PII_KEY_LEN);
    assert_true(pii_keyring_build(&ring, newer, 8, &old));
    assert_int_equal(ring.current, 8);
    assert_true(pii_keyring_open(&ring, "col", sealed, len, plain, &got));
    assert_int_equal(got, n);
    assert_memory_equal(plain, PHONE, n);
    uint8_t fresh[64];
    assert_true(pii_seal(pii_keyring_key(&ring, ring.current), ring.current, "col",
                         (const uint8_t *)PHONE, n, fresh));
    assert_int_equal(pii_sealed_version(fresh, len), 8);
    assert_false(pii_open(key, 7, "col", fresh, len, plain));
    assert_true(pii_keyring_open(&ring, "col", fresh, len, plain, &got));
    /* Without version 7 the old value opens no more; a relabelled one neither. */
    assert_true(pii_keyring_build(&ring, newer, 8, NULL));
    assert_false(pii_keyring_open(&ring, "col", sealed, len, plain, &got));
    sealed[4] = 8;
    assert_false(pii_keyring_open(&ring, "col", sealed, len, plain, &got));
}

/* Values under a report's data key: one sealer takes each report's key in
 * turn; a value opens with its own report's key only, a value under a data
 * key does not open as one under the master key, and the wrapped data key
 * unwraps with the ring by the version it names, never when changed or
 * when that version is gone. */
static void test_data_keys(void **state)
{
    uint8_t dek1[PII_KEY_LEN], dek2[PII_KEY_LEN], got_key[PII_KEY_LEN];
    uint8_t a[64], b[64], plain[64], wrapped[PII_WRAPPED_LEN];
    size_t n = strlen(PHONE), len = pii_sealed_len(n), got = 0;
    struct pii_keyring ring;
    struct pii_sealer *s = pii_dek_sealer_new();

    (void)state;
    assert_non_null(s);
    /* No key yet: nothing is sealed. */
    assert_false(pii_sealer_seal(s, "col", (const uint8_t *)PHONE, n, a));
    memset(dek1, 0x11, sizeof dek1);
    memset(dek2, 0x22, sizeof dek2);
    assert_true(pii_sealer_rekey(s, dek1));
    assert_true(pii_sealer_seal(s, "col", (const uint8_t *)PHONE, n, a));
    /* Two values under one data key never share a nonce. */
    assert_true(pii_sealer_seal(s, "col", (const uint8_t *)PHONE, n, b));
    assert_memory_not_equal(a + PII_HEADER_LEN, b + PII_HEADER_LEN, PII_NONCE_LEN);
    assert_true(pii_dek_open(dek1, "col", b, len, plain));
    assert_true(pii_sealer_rekey(s, dek2));
    assert_true(pii_sealer_seal(s, "col", (const uint8_t *)PHONE, n, b));
    pii_sealer_free(s);
    assert_true(pii_sealed_with_dek(a, len));
    assert_int_equal(a[0], PII_FORMAT_DEK);
    assert_true(pii_dek_open(dek1, "col", a, len, plain));
    assert_memory_equal(plain, PHONE, n);
    assert_true(pii_dek_open(dek2, "col", b, len, plain));
    assert_false(pii_dek_open(dek2, "col", a, len, plain));
    assert_false(pii_dek_open(dek1, "other", a, len, plain));
    a[len - 1] ^= 1;
    assert_false(pii_dek_open(dek1, "col", a, len, plain));
    a[len - 1] ^= 1;

    /* The master key ring never opens a value under a data key. */
    assert_true(pii_keyring_build(&ring, dek1, 3, NULL));
    assert_false(pii_keyring_open(&ring, "col", a, len, plain, &got));

    /* The data key wrapped under version 3 of the master key. */
    assert_true(pii_keyring_build(&ring, key, 3, NULL));
    assert_true(pii_seal(key, 3, PII_AAD_DEK, dek1, sizeof dek1, wrapped));
    assert_true(pii_keyring_unwrap(&ring, wrapped, sizeof wrapped, got_key));
    assert_memory_equal(got_key, dek1, sizeof dek1);
    wrapped[PII_HEADER_LEN + 1] ^= 1;
    assert_false(pii_keyring_unwrap(&ring, wrapped, sizeof wrapped, got_key));
    wrapped[PII_HEADER_LEN + 1] ^= 1;
    /* Sealed under another purpose it is no wrapped key. */
    assert_true(pii_seal(key, 3, "col", dek1, sizeof dek1, wrapped));
    assert_false(pii_keyring_unwrap(&ring, wrapped, sizeof wrapped, got_key));
    assert_true(pii_seal(key, 3, PII_AAD_DEK, dek1, sizeof dek1, wrapped));
    assert_true(pii_keyring_build(&ring, dek2, 4, NULL));
    assert_false(pii_keyring_unwrap(&ring, wrapped, sizeof wrapped, got_key));
}

static void test_key_parse_hex(void **state)
{
    uint8_t k[PII_KEY_LEN];

    (void)state;
    assert_true(pii_key_parse_hex("000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F\n", k));
    assert_memory_equal(k, key, sizeof k);
    assert_false(pii_key_parse_hex("00010203", k));
    assert_false(pii_key_parse_hex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00", k));
    assert_false(pii_key_parse_hex("g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", k));
}

static void test_principal_kind_names(void **state)
{
    (void)state;
    assert_int_equal(principal_kind_parse("contact"), PRINCIPAL_CONTACT);
    assert_int_equal(principal_kind_parse("editor"), PRINCIPAL_EDITOR);
    assert_int_equal(principal_kind_parse("peer"), PRINCIPAL_PEER);
    assert_int_equal(principal_kind_parse("admin"), PRINCIPAL_ADMIN);
    assert_int_equal(principal_kind_parse("office"), PRINCIPAL_OFFICE);
    assert_int_equal(principal_kind_parse("Admin"), PRINCIPAL_NONE);
    assert_int_equal(principal_kind_parse(""), PRINCIPAL_NONE);
    assert_int_equal(principal_kind_parse(NULL), PRINCIPAL_NONE);
    assert_string_equal(principal_kind_name(PRINCIPAL_EDITOR), "editor");
    assert_null(principal_kind_name(PRINCIPAL_NONE));
    assert_string_equal(principal_kind_name(PRINCIPAL_OFFICE), "office");
    assert_null(principal_kind_name((enum principal_kind)6));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_open_round_trip),
        cmocka_unit_test(test_sealer_many),
        cmocka_unit_test(test_seal_with_drawn_nonce),
        cmocka_unit_test(test_open_refuses_tampering),
        cmocka_unit_test(test_empty_plaintext),
        cmocka_unit_test(test_key_versions),
        cmocka_unit_test(test_data_keys),
        cmocka_unit_test(test_key_parse_hex),
        cmocka_unit_test(test_principal_kind_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
