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
#include "config_dests.h"
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
        assert_non_null(o->doc);
        /* A row standing for many keys shows them in its own way (test_points). */
        if (o->flags & CONFIG_ANY_NAME)
            continue;
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
            o->type == CONFIG_ON_OFF || o->type == CONFIG_KEY_LIST || o->type == CONFIG_POINTS)
            assert_memory_equal(a, b, o->size);
        else
            assert_string_equal(a, b);
    }
    snprintf(err, sizeof(err), "%s/server.crt", dir);
    assert_string_equal(got.tls_cert, err);
    assert_int_equal(got.n_peers, 0);
    assert_false(got.points_replaced);
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
    assert_false(load_text("[gateway]\nmemory_budget_bytes = 1048576\nmax_frame_bytes = 2097152\n",
                           &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "memory_budget_bytes (1048576) is below max_frame_bytes"));
    assert_false(load_text("[gateway]\noutput_high_water_bytes = 10\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad value for [gateway] output_high_water_bytes"));
}

/* A peer's host may list addresses with their own ports, so port is then not
 * needed; an address left without a port is refused, naming host. */
static void test_peer_host_list(void **state)
{
    struct gw_config cfg;
    char err[512];

    (void)state;
    assert_true(load_text("[peer.up]\nhost = a.example:7001, [::1]:7002\nca = /c\ncert = /c\n"
                          "key = /k\n", &cfg, err, sizeof(err)));
    assert_int_equal(cfg.peers[0].port, 0);
    /* With a list, the name checked is the address being tried. */
    assert_string_equal(cfg.peers[0].server_name, "");
    assert_false(load_text("[peer.up]\nhost = a.example:7001, b.example\nca = /c\ncert = /c\n"
                           "key = /k\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad value for [peer.up] host"));
    assert_true(load_text("[peer.up]\nhost = a.example:7001, b.example\nport = 7443\nca = /c\n"
                          "cert = /c\nkey = /k\n", &cfg, err, sizeof(err)));
    assert_false(load_text("[peer.up]\nhost = a.example:70000\nca = /c\ncert = /c\nkey = /k\n",
                           &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad value for [peer.up] host"));
}

/* [points]: any figure key goes to the points table, the first replacing
 * the default table; a key naming no figure is refused with the figures
 * listed; merged_credit takes split or full. */
static void test_points(void **state)
{
    struct gw_config cfg, def;
    char err[512];

    (void)state;
    config_defaults(&def);
    assert_true(def.points.n > 0);
    assert_true(def.points.split);
    assert_true(load_text("[points]\nmerged_credit = full\n", &cfg, err, sizeof(err)));
    assert_false(cfg.points.split);
    assert_int_equal(cfg.points.n, def.points.n);
    assert_true(load_text("[points]\nadopted = 4\nadopted_above.city = 1.5\n", &cfg, err,
                          sizeof(err)));
    assert_true(cfg.points_replaced);
    assert_int_equal(cfg.points.n, 2);
    assert_string_equal(cfg.points.figures[1], "adopted_above:city");
    assert_false(load_text("[points]\nadoptd = 4\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "[points] adoptd names no figure (received, adopted"));
    assert_false(load_text("[points]\nmerged_credit = half\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "merged_credit wants split or full"));
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
    next.memory_budget_bytes = 1u << 30;
    next.output_high_water_bytes = 4096;
    next.output_stall_timeout_ms = 5;
    next.points.split = false;
    assert_int_equal(config_keep_fixed(&next, &cur, changed, sizeof(changed)), 3);
    assert_string_equal(changed, "gateway.port,database.conninfo,admin.port");
    assert_int_equal(next.admin_port, cur.admin_port);
    assert_true(next.log_syslog);
    assert_int_equal(next.port, cur.port);
    assert_string_equal(next.db_conninfo, cur.db_conninfo);
    assert_int_equal(next.rate_per_s, 7);
    /* The memory budget and the points table are applied by a reload. */
    assert_int_equal(next.memory_budget_bytes, 1u << 30);
    assert_int_equal(next.output_high_water_bytes, 4096);
    assert_int_equal(next.output_stall_timeout_ms, 5);
    assert_false(next.points.split);
}

/* External destinations and display names: found by id with their display
 * names, listed for an editor who named an unknown one; an external id
 * that is a gateway destination too, or one without a display name, is
 * refused. */
static void test_external_destinations(void **state)
{
    struct gw_config cfg;
    char err[512], list[1024];
    const char *display = NULL;
    bool external = true;

    (void)state;
    assert_true(load_text("[triage]\ndestinations = province\n"
                          "[peer.province]\nhost = h\nport = 1\nca = /c\ncert = /c\nkey = /k\n"
                          "display_name = 浙江省政协\n"
                          "[external.swb]\ndisplay_name = 市委办公室\n"
                          "[external.jtj]\ndisplay_name = 市交通运输局\n",
                          &cfg, err, sizeof(err)));
    assert_int_equal(cfg.n_externals, 2);
    assert_true(config_dest_find(&cfg, "province", &display, &external));
    assert_string_equal(display, "浙江省政协");
    assert_false(external);
    assert_true(config_dest_find(&cfg, "jtj", &display, &external));
    assert_string_equal(display, "市交通运输局");
    assert_true(external);
    assert_false(config_dest_find(&cfg, "szf", &display, &external));
    config_dests_describe(&cfg, list, sizeof(list));
    assert_string_equal(list, "province (浙江省政协), swb (市委办公室, external), "
                              "jtj (市交通运输局, external)");

    /* A gateway destination without a display name is called by its id. */
    assert_true(load_text("[triage]\ndestinations = city\n", &cfg, err, sizeof(err)));
    assert_true(config_dest_find(&cfg, "city", &display, &external));
    assert_string_equal(display, "city");
    assert_false(external);

    assert_false(load_text("[external.province]\ndisplay_name = 省里\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "[external.province]: the name is a gateway destination too"));
    assert_false(load_text("[external.swb]\naddress = x\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "unknown option [external.swb] address"));
    assert_false(load_text("[external.swb]\ndisplay_name =\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "[external.swb] display_name"));
    assert_false(load_text("[external.s w]\ndisplay_name = x\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad destination name [external.s w]"));
    assert_false(load_text("[peer.a,b]\nhost = x\n", &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "bad peer name [peer.a,b]"));

    /* Each kind of named section has its own bound. */
    char many[4096] = "";
    for (int i = 0; i <= CONFIG_EXTERNALS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many),
                 "[external.d%d]\ndisplay_name = x\n", i);
    assert_false(load_text(many, &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "more than 32 [external.NAME] sections"));
    many[0] = '\0';
    for (int i = 0; i <= CONFIG_PEERS_MAX; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many),
                 "[peer.p%d]\nhost = h%d:7443\n", i, i);
    assert_false(load_text(many, &cfg, err, sizeof(err)));
    assert_non_null(strstr(err, "more than 8 [peer.NAME] sections"));
}

/* The text between the man page's entry for section (".B [section]", or
 * ".BI [peer. NAME ]", ".BI [external. NAME ]") and the next section's entry or the next .SH,
 * malloc'd; NULL when the page has no such entry. */
static char *man_section(const char *page, const char *section)
{
    char head[128];
    const char *start, *end, *p;

    if (strcmp(section, "peer.NAME") == 0)
        snprintf(head, sizeof(head), "\n.BI [peer. NAME ]\n");
    else if (strcmp(section, "external.NAME") == 0)
        snprintf(head, sizeof(head), "\n.BI [external. NAME ]\n");
    else
        snprintf(head, sizeof(head), "\n.B [%s]\n", section);
    start = strstr(page, head);
    if (start == NULL)
        return NULL;
    start += strlen(head);
    end = start + strlen(start);
    if ((p = strstr(start, "\n.B [")) != NULL && p < end)
        end = p;
    if ((p = strstr(start, "\n.BI [")) != NULL && p < end)
        end = p;
    if ((p = strstr(start, "\n.SH")) != NULL && p < end)
        end = p;
    return strndup(start, (size_t)(end - start));
}

/* Whether word is set as a term in text: on a macro line (.B, .BR, .RB,
 * .I ...: prose lines do not count) between characters that cannot be part
 * of an option's name. */
static bool names_term(const char *text, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = strstr(text, word); p != NULL; p = strstr(p + 1, word)) {
        const char *line = p;
        while (line > text && line[-1] != '\n')
            line--;
        bool before = p == text || strchr("abcdefghijklmnopqrstuvwxyz_", p[-1]) == NULL;
        bool after = p[n] == '\0' || strchr("abcdefghijklmnopqrstuvwxyz_", p[n]) == NULL;
        if (line[0] == '.' && before && after)
            return true;
    }
    return false;
}

/* minyid.conf(5) names every option of the table, set as a term, in its
 * section's entry. */
static void test_man_page_names_every_option(void **state)
{
    const struct config_option *tables[] = { config_options, config_peer_options,
                                             config_external_options };
    FILE *f = fopen(MINYI_SOURCE_DIR "/deploy/man/minyid.conf.5", "rb");
    char *page;
    long len;

    (void)state;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len > 0);
    rewind(f);
    page = calloc(1, (size_t)len + 1);
    assert_non_null(page);
    assert_int_equal(fread(page, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
        for (const struct config_option *o = tables[t]; o->name != NULL; o++) {
            char *text = man_section(page, o->section);
            if (text == NULL)
                fail_msg("minyid.conf(5) has no entry for [%s]", o->section);
            if (!names_term(text, o->name))
                fail_msg("minyid.conf(5) does not name [%s] %s", o->section, o->name);
            free(text);
        }
    }
    free(page);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_committed_example_is_generated),
        cmocka_unit_test(test_example_names_every_option),
        cmocka_unit_test(test_example_loads_to_the_defaults),
        cmocka_unit_test(test_bad_options_refused),
        cmocka_unit_test(test_reload_keeps_fixed),
        cmocka_unit_test(test_peer_host_list),
        cmocka_unit_test(test_points),
        cmocka_unit_test(test_man_page_names_every_option),
        cmocka_unit_test(test_external_destinations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
