/*
 * test_quota: the per-address connection counts and the per-principal
 * token bucket, without a network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "clock.h"
#include "quota.h"

static void test_addr_key(void **state)
{
    (void)state;
    char key[QUOTA_ADDR_LEN];
    struct sockaddr_in in = { .sin_family = AF_INET, .sin_port = htons(4242) };
    inet_pton(AF_INET, "192.0.2.7", &in.sin_addr);
    quota_addr_key((struct sockaddr *)&in, key);
    assert_string_equal(key, "192.0.2.7");
    struct sockaddr_in6 in6 = { .sin6_family = AF_INET6 };
    inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
    quota_addr_key((struct sockaddr *)&in6, key);
    assert_string_equal(key, "2001:db8::1");
}

static void test_connections_per_address(void **state)
{
    (void)state;
    struct quota *q = quota_new();
    assert_non_null(q);
    for (int i = 0; i < 3; i++)
        assert_true(quota_conn_acquire(q, "192.0.2.7", 3));
    assert_false(quota_conn_acquire(q, "192.0.2.7", 3));
    assert_true(quota_conn_acquire(q, "192.0.2.8", 3));
    assert_int_equal(quota_conn_count(q, "192.0.2.7"), 3);
    quota_conn_release(q, "192.0.2.7");
    assert_true(quota_conn_acquire(q, "192.0.2.7", 3));
    for (int i = 0; i < 3; i++)
        quota_conn_release(q, "192.0.2.7");
    assert_int_equal(quota_conn_count(q, "192.0.2.7"), 0);
    quota_conn_release(q, "192.0.2.8");
    quota_free(q);
}

static void test_token_bucket(void **state)
{
    (void)state;
    struct quota *q = quota_new();
    uint32_t retry = 0;
    assert_non_null(q);
    for (int i = 0; i < 4; i++)
        assert_true(quota_take_token(q, 1, 10, 4, &retry));
    assert_false(quota_take_token(q, 1, 10, 4, &retry));
    assert_true(retry > 0 && retry <= 101);
    /* Another principal has a bucket of its own. */
    assert_true(quota_take_token(q, 2, 10, 4, &retry));
    /* One token comes back after 1/rate seconds. */
    clock_sleep_ms(120);
    assert_true(quota_take_token(q, 1, 10, 4, &retry));
    assert_false(quota_take_token(q, 1, 10, 4, &retry));
    /* rate 0 is no limit. */
    for (int i = 0; i < 1000; i++)
        assert_true(quota_take_token(q, 3, 0, 1, &retry));
    quota_free(q);
}

/* Buckets idle long enough to be full again are freed, so a stream of
 * principals that come once does not grow the table; a bucket still
 * refilling stays, and keeps refusing.  One token a second, a burst of one:
 * a bucket is full again a second after its last token. */
static void test_idle_buckets_go(void **state)
{
    (void)state;
    struct quota *q = quota_new();
    uint32_t retry = 0;
    assert_non_null(q);
    for (int64_t id = 100; id < 100 + 4 * QUOTA_TABLE_SIZE; id++)
        assert_true(quota_take_token(q, id, 1, 1, &retry));
    assert_true(quota_take_token(q, 1, 1, 1, &retry));
    assert_false(quota_take_token(q, 1, 1, 1, &retry));
    assert_true(quota_bucket_count(q) > QUOTA_TABLE_SIZE);
    clock_sleep_ms(1100);
    /* Principal 3 empties its bucket now; principal 2's takes look the
     * whole table over. */
    assert_true(quota_take_token(q, 3, 1, 1, &retry));
    assert_false(quota_take_token(q, 3, 1, 1, &retry));
    int taken = 0;
    for (int i = 0; i < QUOTA_TABLE_SIZE; i++)
        taken += quota_take_token(q, 2, 1, 1, &retry) ? 1 : 0;
    assert_true(taken >= 1);
    assert_int_equal(quota_bucket_count(q), 2);
    /* Principal 3 still waits; principal 1, long idle, starts full. */
    assert_false(quota_take_token(q, 3, 1, 1, &retry));
    assert_true(quota_take_token(q, 1, 1, 1, &retry));
    assert_int_equal(quota_bucket_count(q), 3);
    quota_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_key),
        cmocka_unit_test(test_connections_per_address),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_idle_buckets_go),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
