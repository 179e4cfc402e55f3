/*
 * test_config: the table of options and what is derived from it — the
 * defaults, the parser, the reload's keep-fixed check and the example
 * file, which must be the committed deploy/minyid.conf.example.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"

/* The whole of a stream written by config_example_write, malloc'd. */
static char *example_text(size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);

    assert_non_null(f);
    assert_true(config_example_write(f));
    assert_int_equal(fclose(f), 0);
    return buf;
}

/* The committed example is what the table writes: run
 * `minyid config example > deploy/minyid.conf.example` after changing it. */
static void test_committed_example_is_generated(void **state)
{
    size_t len, at = 0;
    char *gen = example_text(&len);
    FILE *f = fopen(MINYI_SOURCE_DIR "/deploy/minyid.conf.example", "rb");
    int ch;

    (void)state;
    assert_non_null(f);
    while ((ch = fgetc(f)) != EOF && at < len && (char)ch == gen[at])
        at++;
    if (ch != EOF || at != len)
        fail_msg("deploy/minyid.conf.example differs from `minyid config example` at byte %zu; "
                 "regenerate it", at);
    fclose(f);
    free(gen);
}

/* Every option appears in the example, set to its default (or, when
 * required, to an example value). */
static void test_example_names_every_option(void **state)
{
    size_t len;
    char *gen = example_text(&len), line[1024];

    (void)state;
    for (const struct config_option *o = config_options; o->name != NULL; o++) {
        const char *v = o->example != NULL ? o->example : o->def;
        snprintf(line, sizeof(line), "\n%s%s =%s%s\n",
                 o->flags & CONFIG_EXAMPLE_COMMENTED ? "; " : "", o->name, v[0] ? " " : "", v);
        if (strstr(gen, line) == NULL)
            fail_msg("[%s] %s missing from the example", o->section, o->name);
        assert_non_null(o->doc);
        assert_true(o->def != NULL || o->def_fn != NULL || (o->flags & CONFIG_REQUIRED));
    }
    free(gen);
}

/* The example, read back as a config file, gives every default: the table's
 * defaults, the parser and the file agree. */
static void test_example_loads_to_the_defaults(void **state)
{
    char dir[] = "/tmp/minyi-config-XXXXXX", path[256], err[512];
    size_t len;
    char *gen = example_text(&len);
    struct gw_config def, got;
    FILE *f;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/minyid.conf", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(gen, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    config_defaults(&def);
    config_defaults(&got);
    if (!config_load(path, &got, err, sizeof(err)))
        fail_msg("%s", err);
    for (const struct config_option *o = config_options; o->name != NULL; o++) {
        const char *a = (const char *)&def + o->offset, *b = (const char *)&got + o->offset;
        if (o->example != NULL && !(o->flags & CONFIG_EXAMPLE_COMMENTED))
            continue;
        if (o->type == CONFIG_INT || o->type == CONFIG_BYTES || o->type == CONFIG_LOG_LEVEL ||
            o->type == CONFIG_ON_OFF || o->type == CONFIG_KEY_LIST)
            assert_memory_equal(a, b, o->size);
        else
            assert_string_equal(a, b);
    }
    snprintf(err, sizeof(err), "%s/server.crt", dir);
    assert_string_equal(got.tls_cert, err);
    assert_int_equal(got.n_peers, 0);
    unlink(path);
    rmdir(dir);
    free(gen);
}

static bool load_text(const char *text, struct gw_config *cfg, char *err, size_t errlen)
{
    char dir[] = "/tmp/minyi-config-XXXXXX", path[256];
    FILE *f;
    bool ok;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/minyid.conf", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    config_defaults(cfg);
    ok = config_load(path, cfg, err, errlen);
    unlink(path);
    rmdir(dir);
    return ok;
}

/* A typo or a bad value is an error naming the option, never a default
 * silently left in force. */
static void test_bad_options_refused(void **state)
{
    struct gw_config cfg;
    char err[512];

    (void)state;
    assert_false(load_text("[gateway]\nprot = 1\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown option [gateway] prot"));
    assert_false(load_text("[gateway]\nport = 70000\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad value for [gateway] port"));
    assert_false(load_text("[gateway]\nbody_region = 33040a\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad value for [gateway] body_region"));
    assert_false(load_text("[log]\nlevel = loud\n", &cfg, err, sizeof(err)));
    assert_false(load_text("[log]\nsyslog = yes\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad value for [log] syslog"));
    assert_false(load_text("[privacy]\nold_key_files = old.key\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad value for [privacy] old_key_files"));
    assert_true(load_text("[privacy]\nold_key_files = 1:/k/one.key 2:two.key\n", &cfg, err,
                          sizeof(err)));
    assert_int_equal(cfg.n_pii_old, 2);
    assert_int_equal(cfg.pii_old_versions[1], 2);
    assert_string_equal(cfg.pii_old_files[0], "/k/one.key");
    assert_non_null(strstr(cfg.pii_old_files[1], "/two.key"));
    assert_true(cfg.pii_old_files[1][0] == '/');
    assert_false(load_text("[triage]\ndestinations = a;b\n", &cfg, err, sizeof(err)));
    assert_false(load_text("[peer.up]\nhost = h\nport = 1\nca = c\ncert = c\n", &cfg, err,
                           sizeof(err)));
    assert_non_null(strstr(err, "[peer.up] needs key"));
    assert_false(load_text("[peer.up]\nhots = h\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown option [peer.up] hots"));
    assert_true(load_text("[gateway]\nport = 7500\nmax_frame_bytes = 2048\n[log]\nlevel = warn\n"
                          "syslog = on\n"
                          "[peer.up]\nhost = h\nport = 1\nca = /c\ncert = /c\nkey = /k\n",
                          &cfg, err, sizeof(err)));
    assert_int_equal(cfg.port, 7500);
    assert_int_equal(cfg.max_frame_bytes, 2048);
    assert_int_equal(cfg.log_level, LOG_WARN);
    assert_true(cfg.log_syslog);
    assert_int_equal(cfg.n_peers, 1);
    assert_string_equal(cfg.peers[0].server_name, "h");
}

/* A reload keeps every fixed option's running value and names those the
 * file changed; it takes the others. */
static void test_reload_keeps_fixed(void **state)
{
    struct gw_config cur, next;
    char changed[256];

    (void)state;
    config_defaults(&cur);
    config_defaults(&next);
    assert_int_equal(config_keep_fixed(&next, &cur, changed, sizeof(changed)), 0);
    assert_string_equal(changed, "");
    next.port = 9999;
    snprintf(next.db_conninfo, sizeof(next.db_conninfo), "dbname=other");
    next.admin_port = 9100;
    next.rate_per_s = 7;
    next.log_syslog = true;
    assert_int_equal(config_keep_fixed(&next, &cur, changed, sizeof(changed)), 3);
    assert_string_equal(changed, "gateway.port,database.conninfo,admin.port");
    assert_int_equal(next.admin_port, cur.admin_port);
    assert_true(next.log_syslog);
    assert_int_equal(next.port, cur.port);
    assert_string_equal(next.db_conninfo, cur.db_conninfo);
    assert_int_equal(next.rate_per_s, 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_committed_example_is_generated),
        cmocka_unit_test(test_example_names_every_option),
        cmocka_unit_test(test_example_loads_to_the_defaults),
        cmocka_unit_test(test_bad_options_refused),
        cmocka_unit_test(test_reload_keeps_fixed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
