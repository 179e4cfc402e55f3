/*
 * Unit tests for the [points] section: which keys name figures, that the
 * file's first figure replaces the default table, and what is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "config_points.h"

#define ERRLEN 512

static double rule(const struct office_rules *r, const char *figure)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->figures[i], figure) == 0)
            return r->points[i];
    return -9999;
}

static void test_defaults(void **state)
{
    (void)state;
    struct office_rules r;
    config_points_defaults(&r);
    assert_true(r.split);
    assert_true(rule(&r, "adopted") == 2);
    assert_true(rule(&r, "adopted_above:provincial") == 5);
    assert_true(rule(&r, "adopted_above:national") == 10);
    assert_true(rule(&r, "instruction:省领导") == 8);
    assert_true(rule(&r, "instruction:市领导") == 3);
}

static void test_file_table_replaces_the_defaults(void **state)
{
    (void)state;
    struct office_rules r;
    bool replaced = false;
    char err[ERRLEN];
    config_points_defaults(&r);
    assert_true(config_points_option(&r, &replaced, "merged_credit", "full", err, sizeof err));
    assert_false(replaced);   /* merged_credit alone keeps the default table */
    assert_int_equal(r.n, 8);
    assert_true(rule(&r, "issued") == 3);   /* an item of a published issue (编发) */
    assert_false(r.split);
    assert_true(config_points_option(&r, &replaced, "adopted_above.city", "4.5", err, sizeof err));
    assert_true(config_points_option(&r, &replaced, "instruction.部门", "1", err, sizeof err));
    assert_true(config_points_option(&r, &replaced, "received", "0.5", err, sizeof err));
    assert_true(config_points_option(&r, &replaced, "received", "-1", err, sizeof err));
    assert_true(replaced);
    assert_int_equal(r.n, 3);
    assert_true(rule(&r, "adopted_above:city") == 4.5);
    assert_true(rule(&r, "instruction:部门") == 1);
    assert_true(rule(&r, "received") == -1);   /* the last value of a key holds */
    assert_true(rule(&r, "adopted") == -9999);
}

static void refused(const char *key, const char *value, const char *needle)
{
    struct office_rules r;
    bool replaced = false;
    char err[ERRLEN] = "";
    config_points_defaults(&r);
    if (config_points_option(&r, &replaced, key, value, err, sizeof err))
        fail_msg("[points] %s = %s was accepted", key, value);
    if (strstr(err, needle) == NULL)
        fail_msg("reason \"%s\" does not mention \"%s\"", err, needle);
}

static void test_refusals(void **state)
{
    (void)state;
    refused("adopt", "2", "names no figure");
    refused("adopted_above.town", "2", "names no figure");
    refused("adopted_above", "2", "names no figure");
    refused("instruction.省长", "2", "names no figure");
    refused("instruction.2", "2", "names no figure");  /* the label, not the number */
    refused("adopted", "two", "wants a number");
    refused("adopted", "2x", "wants a number");
    refused("adopted", "1e9", "wants a number");
    refused("adopted", "nan", "wants a number");
    refused("merged_credit", "half", "split or full");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_file_table_replaces_the_defaults),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
