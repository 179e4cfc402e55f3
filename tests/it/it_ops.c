/*
 * it_ops: the operator's host commands against a real database.  Every
 * binary answers --version; `minyid migrate` says what it applied, with
 * checksums, and `migrate status` lists applied and pending migrations;
 * an applied migration whose file was edited is refused by name, by
 * `migrate` and by the gateway's start; `principal list --json` is JSON.
 *
 * The gateway runs on a copy of the migrations directory, so the tests can
 * add and edit files without touching the source tree.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <regex.h>
#include <unistd.h>

#include "hex.h"
#include "itkit.h"

#define OUT_MAX 65536
#define NEW_MIGRATION "9001_ops_probe.sql"
#define NEW_MIGRATION_SQL "CREATE TABLE ops_probe (x int);\n"
#define EDITED_MIGRATION "0001_init.sql"

static struct itenv env;
static char migrations[] = "/tmp/minyi-ops-XXXXXX";
static char out[OUT_MAX], err[OUT_MAX];

static int setup(void **state)
{
    (void)state;
    char cmd[PATH_MAX * 2], extra[PATH_MAX + 64];
    if (mkdtemp(migrations) == NULL)
        return -1;
    snprintf(cmd, sizeof(cmd), "cp %s/storage/migrations/*.sql %s/", MINYI_SOURCE_DIR,
             migrations);
    if (system(cmd) != 0)
        return -1;
    snprintf(extra, sizeof(extra), "[database]\nmigrations_dir = %s\n", migrations);
    return itenv_up(&env, extra) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[PATH_MAX + 16];
    int rc = itenv_teardown(&env);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", migrations);
    if (system(cmd) != 0)
        rc = -1;
    return rc;
}

/* Runs `minyid -c CONF args...` and answers its exit status. */
static int minyid(const char *a, const char *b, const char *c)
{
    const char *argv[] = { MINYID_PATH, "-c", env.gw.conf, a, b, c, NULL };
    return itrun(env.gw.dir, argv, out, err, OUT_MAX);
}

static void expect_match(const char *text, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
    int rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0)
        fail_msg("/%s/ not found in:\n%s", pattern, text);
}

/* The number of NNNN_*.sql files in the copy. */
static int count_migrations(void)
{
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof(cmd), "ls %s | grep -c '^[0-9][0-9][0-9][0-9]_.*\\.sql$'", migrations);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    int n = 0;
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void write_file(const char *name, const char *text, const char *mode)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", migrations, name);
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void sha256_hex(const char *text, char hex[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(text, strlen(text), md, &n, EVP_sha256(), NULL), 1);
    hex_encode(md, n, hex);
}

/* The row of name in `migrate status --json`; fails when absent. */
static json_t *status_row(json_t *doc, const char *name)
{
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(doc, "migrations"), i, row)
        if (strcmp(json_string_value(json_object_get(row, "name")), name) == 0)
            return row;
    fail_msg("%s is not in migrate status", name);
    return NULL;
}

static json_t *status_json(void)
{
    assert_int_equal(minyid("migrate", "status", "--json"), 0);
    json_error_t jerr;
    json_t *doc = json_loads(out, 0, &jerr);
    if (doc == NULL)
        fail_msg("migrate status --json is not JSON: %s", jerr.text);
    return doc;
}

static void test_versions(void **state)
{
    (void)state;
    const char *const bins[][2] = {
        { MINYID_PATH, "^minyid [0-9]+\\.[0-9]+\\.[0-9]+$" },
        { MINYI_CLI_PATH, "^minyi [0-9]+\\.[0-9]+\\.[0-9]+$" },
        { MINYI_BENCH_PATH, "^minyi-bench [0-9]+\\.[0-9]+\\.[0-9]+$" },
    };
    for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
        const char *argv[] = { bins[i][0], "--version", NULL };
        assert_int_equal(itrun(env.gw.dir, argv, out, err, OUT_MAX), 0);
        expect_match(out, bins[i][1]);
    }
}

/* The gateway applied everything at its start: migrate has nothing to do
 * and says so; a new file is listed as pending with its checksum, then
 * applied and reported by name with the same checksum. */
static void test_migrate_reports_and_status(void **state)
{
    (void)state;
    char line[128], sum[65];
    int n = count_migrations();

    assert_int_equal(minyid("migrate", NULL, NULL), 0);
    snprintf(line, sizeof(line), "^0 migrations applied now, %d applied before$", n);
    expect_match(out, line);

    assert_int_equal(minyid("migrate", "status", NULL), 0);
    expect_match(out, "^0001_init\\.sql +applied +[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} "
                      "sha256=[0-9a-f]{64}$");
    expect_match(out, "^\\(times in Asia/Shanghai\\)$");

    write_file(NEW_MIGRATION, NEW_MIGRATION_SQL, "w");
    sha256_hex(NEW_MIGRATION_SQL, sum);
    json_t *doc = status_json();
    json_t *row = status_row(doc, NEW_MIGRATION);
    assert_string_equal(json_string_value(json_object_get(row, "state")), "pending");
    assert_string_equal(json_string_value(json_object_get(row, "checksum")), sum);
    assert_string_equal(json_string_value(json_object_get(status_row(doc, EDITED_MIGRATION),
                                                          "state")),
                        "applied");
    json_decref(doc);

    assert_int_equal(minyid("migrate", "--json", NULL), 0);
    json_error_t jerr;
    doc = json_loads(out, 0, &jerr);
    assert_non_null(doc);
    json_t *applied = json_object_get(doc, "applied");
    assert_int_equal(json_array_size(applied), 1);
    row = json_array_get(applied, 0);
    assert_string_equal(json_string_value(json_object_get(row, "name")), NEW_MIGRATION);
    assert_string_equal(json_string_value(json_object_get(row, "checksum")), sum);
    assert_int_equal(json_integer_value(json_object_get(doc, "already_applied")), n);
    json_decref(doc);
    assert_int_equal(tdb_scalar(env.conninfo, "SELECT count(*) FROM ops_probe", 0, NULL), 0);

    doc = status_json();
    assert_string_equal(json_string_value(json_object_get(status_row(doc, NEW_MIGRATION),
                                                          "state")),
                        "applied");
    json_decref(doc);
}

/* An applied migration edited afterwards: migrate refuses and names the
 * file, status shows it edited, and the gateway does not start on it.
 * Restoring the text makes everything work again. */
static void test_edited_migration_refused(void **state)
{
    (void)state;
    char path[PATH_MAX], *saved;
    snprintf(path, sizeof(path), "%s/" EDITED_MIGRATION, migrations);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    saved = calloc(1, 1 << 20);
    assert_non_null(saved);
    assert_true(fread(saved, 1, (1 << 20) - 1, f) > 0);
    fclose(f);

    write_file(EDITED_MIGRATION, "-- an edit after the fact\n", "a");
    assert_int_equal(minyid("migrate", NULL, NULL), 1);
    expect_match(err, EDITED_MIGRATION " was edited after it was applied");

    json_t *doc = status_json();
    assert_string_equal(json_string_value(json_object_get(status_row(doc, EDITED_MIGRATION),
                                                          "state")),
                        "edited");
    json_decref(doc);

    assert_int_equal(tgw_stop(&env.gw, SIGTERM), 0);
    env.gw_up = false;
    assert_false(tgw_start_again(&env.gw));
    assert_true(tgw_log_contains(&env.gw, EDITED_MIGRATION " was edited after it was applied"));

    write_file(EDITED_MIGRATION, saved, "w");
    free(saved);
    assert_int_equal(minyid("migrate", NULL, NULL), 0);
    assert_true(tgw_start_again(&env.gw));
    env.gw_up = true;
}

/* principal list --json: one array, each principal with its fields. */
static void test_principal_list_json(void **state)
{
    (void)state;
    uint8_t fp[32];
    char hex[65];
    assert_true(tcert_fingerprint("contact1", fp));
    hex_encode(fp, sizeof fp, hex);

    assert_int_equal(minyid("principal", "list", "--json"), 0);
    json_error_t jerr;
    json_t *list = json_loads(out, 0, &jerr);
    if (list == NULL || !json_is_array(list))
        fail_msg("principal list --json is not a JSON array: %s", out);
    size_t i;
    json_t *p;
    bool found = false;
    json_array_foreach(list, i, p) {
        if (json_integer_value(json_object_get(p, "id")) != env.contact1)
            continue;
        found = true;
        assert_string_equal(json_string_value(json_object_get(p, "kind")), "contact");
        assert_true(json_is_true(json_object_get(p, "active")));
        assert_string_equal(json_string_value(json_object_get(p, "fingerprint")), hex);
        assert_string_equal(json_string_value(json_object_get(p, "region")), IT_REGION);
    }
    assert_true(found);
    assert_int_equal(json_array_size(list), 3);
    json_decref(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_versions),
        cmocka_unit_test(test_migrate_reports_and_status),
        cmocka_unit_test(test_edited_migration_refused),
        cmocka_unit_test(test_principal_list_json),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
