/*
 * test_metrics: the Prometheus text rendering — label values escaped as the
 * format requires, histogram buckets cumulative with inclusive bounds, and
 * counters by code naming the protocol's codes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "metrics.h"

/* The buffer's text, NUL-terminated (malloc'd); the buffer is freed. */
static char *text_of(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    assert_int_equal(evbuffer_remove(b, s, n), (int)n);
    s[n] = '\0';
    evbuffer_free(b);
    return s;
}

static void test_label_values_escaped(void **state)
{
    (void)state;
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    metrics_family(b, "t_gauge", "gauge", "Help with a \\ backslash\nand a \"quote\".");
    metrics_sample(b, "t_gauge", (const char *const[]){ "dest", "a\"b\\c\nd", "k", "省", NULL },
                   2.5);
    char *s = text_of(b);
    assert_string_equal(s, "# HELP t_gauge Help with a \\\\ backslash\\nand a \"quote\".\n"
                           "# TYPE t_gauge gauge\n"
                           "t_gauge{dest=\"a\\\"b\\\\c\\nd\",k=\"省\"} 2.5\n");
    free(s);
}

static void test_histogram_cumulative_inclusive(void **state)
{
    (void)state;
    static const double le[] = { 1, 10 };
    struct metrics_hist h = { le, 2 };
    metrics_observe(&h, 1);      /* on a bound: counts in that bucket */
    metrics_observe(&h, 0.5);
    metrics_observe(&h, 7);
    metrics_observe(&h, 11);     /* above every bound: only +Inf */
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    metrics_write_hist(b, "t_h", "A histogram.", &h);
    char *s = text_of(b);
    assert_string_equal(s, "# HELP t_h A histogram.\n"
                           "# TYPE t_h histogram\n"
                           "t_h_bucket{le=\"1\"} 2\n"
                           "t_h_bucket{le=\"10\"} 3\n"
                           "t_h_bucket{le=\"+Inf\"} 4\n"
                           "t_h_sum 19.5\n"
                           "t_h_count 4\n");
    free(s);
}

static void test_registry_names_codes_and_types(void **state)
{
    (void)state;
    metrics.errors[metrics_code_slot(1)] += 3;          /* INVALID_ARGUMENT */
    metrics.requests[metrics_body_slot(10)] += 2;       /* submit */
    metrics.requests[metrics_body_slot(1000)] += 1;     /* no such body: unknown */
    struct evbuffer *b = evbuffer_new();
    assert_non_null(b);
    metrics_write_registry(b);
    char *s = text_of(b);
    assert_non_null(strstr(s, "\nminyi_errors_total{code=\"INVALID_ARGUMENT\"} 3\n"));
    assert_non_null(strstr(s, "\nminyi_requests_total{type=\"submit\"} 2\n"));
    assert_non_null(strstr(s, "\nminyi_requests_total{type=\"unknown\"} 1\n"));
    assert_non_null(strstr(s, "\n# TYPE minyi_ack_seconds histogram\n"));
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_label_values_escaped),
        cmocka_unit_test(test_histogram_cumulative_inclusive),
        cmocka_unit_test(test_registry_names_codes_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
