/*
 * it_attachments: a report's attachments are shown to editors, fetched
 * byte for byte, and travel with every forward — through three real
 * instances, district (330402) → city (330400) → province (330000), with
 * real TLS between them.  The province receives each attachment exactly as
 * the contact point sent it, and an attachment damaged on the way (here:
 * in the city's database) is refused by the province's SHA-256 check, so
 * the city's delivery goes dead with that reason instead of passing it on.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "itkit.h"

#define PROV_REGION "330000"
#define CITY_REGION "330400"
#define DIST_REGION "330402"
#define WITHIN_MS 30000         /* a delivery must arrive (or die) this fast */
#define RESULTS_INTERVAL_MS 300 /* results are not what this test is about */
#define CONTENT_LEN 5000        /* bytes of the test attachment: every byte value, NULs too */
#define CLI_OUT_MAX (64 * 1024)
#define SHA_LEN 32

static struct tpg pg;
static bool pg_up;
static struct itinst prov, city, dist;
static char dir[64];
static uint8_t content[CONTENT_LEN];
static uint8_t content_sha[SHA_LEN];

static int setup(void **state)
{
    (void)state;
    unsigned mdlen = 0;
    for (size_t i = 0; i < CONTENT_LEN; i++)
        content[i] = (uint8_t)(i * 7 + i / 256);
    if (EVP_Digest(content, CONTENT_LEN, content_sha, &mdlen, EVP_sha256(), NULL) != 1)
        return -1;
    if (!tpg_start(&pg))
        return -1;
    pg_up = true;
    if (!itinst_up(&pg, &prov, "province", PROV_REGION, "浙江省政协", NULL, NULL, NULL,
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(prov.conninfo, "peer2", "peer", CITY_REGION, true) <= 0 ||
        !itinst_up(&pg, &city, "city", CITY_REGION, "嘉兴市政协", "province", &prov, "peer2",
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(city.conninfo, "peer1", "peer", DIST_REGION, true) <= 0 ||
        !itinst_up(&pg, &dist, "district", DIST_REGION, "南湖区政协", "city", &city, "peer1",
                   RESULTS_INTERVAL_MS) ||
        tprincipal_add(dist.conninfo, "contact1", "contact", DIST_REGION, true) <= 0)
        return -1;
    snprintf(dir, sizeof dir, "/tmp/it_attachments-XXXXXX");
    return mkdtemp(dir) != NULL ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return itinst_down((struct itinst *[]){&dist, &city, &prov}, 3, &pg, pg_up, dir);
}

/* The district's contact point submits a report carrying the test
 * attachment; its receipt in out. */
static void submit_with_attachment(const char *situation, char *out)
{
    struct client_conn *c = itconnect_gw(&dist.gw, "contact1");
    Minyi__V1__Report *r = tmake_report(NULL, situation);
    assert_non_null(r);
    Minyi__V1__Attachment *a = malloc(sizeof *a);
    r->attachments = malloc(sizeof *r->attachments);
    assert_non_null(a);
    assert_non_null(r->attachments);
    minyi__v1__attachment__init(a);
    itset(&a->name, "现场照片.png");
    itset(&a->media_type, "image/png");
    itset_raw(&a->content, content, CONTENT_LEN);
    itset_raw(&a->sha256, content_sha, SHA_LEN);
    r->attachments[0] = a;
    r->n_attachments = 1;
    itsubmit_ok(c, r, out);
    protobuf_c_message_free_unpacked(&r->base, NULL);
    client_close(c);
}

/* in's editor claims and forwards receipt to dest. */
static void forward(const struct itinst *in, const char *receipt, const char *dest)
{
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    itclaim_ok(ed, receipt);
    itforward_ok(ed, receipt, dest);
    client_close(ed);
}

static const char *const outbox_sql = "SELECT o.state FROM outbox o JOIN reports r"
                                      " ON r.id = o.report_id WHERE r.receipt = $1";

/* Waits until in's delivery of receipt is delivered; the receipt above in up. */
static void expect_delivered(const struct itinst *in, const char *receipt, char *up)
{
    if (!itwait_text(in->conninfo, outbox_sql, receipt, "delivered", WITHIN_MS)) {
        tgw_dump_log(&in->gw);
        fail_msg("%s: %s was not delivered", in->name, receipt);
    }
    char *v = itdb_text(in->conninfo,
                        "SELECT o.upstream_receipt FROM outbox o JOIN reports r"
                        " ON r.id = o.report_id WHERE r.receipt = $1",
                        1, (const char *const[]){receipt});
    assert_non_null(v);
    snprintf(up, IT_RECEIPT_MAX, "%s", v);
    free(v);
}

/* An editor's show of receipt at in lists exactly the test attachment. */
static void expect_listed(const struct itinst *in, const char *receipt)
{
    struct client_conn *ed = itconnect_gw(&in->gw, "editor1");
    struct frame_arena *a = NULL;
    const Minyi__V1__ShowResponse *s = itshow_ok(ed, receipt, &a);
    assert_int_equal(s->n_attachments, 1);
    const Minyi__V1__AttachmentInfo *x = s->attachments[0];
    char name[64];
    itcopy(&x->name, name, sizeof name);
    assert_string_equal(name, "现场照片.png");
    itcopy(&x->media_type, name, sizeof name);
    assert_string_equal(name, "image/png");
    assert_int_equal(x->index, 0);
    assert_int_equal(x->size, CONTENT_LEN);
    assert_int_equal(x->sha256.len, SHA_LEN);
    assert_memory_equal(x->sha256.data, content_sha, SHA_LEN);
    frame_arena_free(a);
    client_close(ed);
}

/* Listed and fetched at every level, byte for byte at the province, also
 * through `minyi attachment`. */
static void test_attachments_travel_up(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX], r_prov[IT_RECEIPT_MAX];
    static char out[CLI_OUT_MAX], err[CLI_OUT_MAX];

    submit_with_attachment("乡镇卫生院缺少影像设备，群众需到县城检查。", r_dist);
    expect_listed(&dist, r_dist);
    forward(&dist, r_dist, "city");
    expect_delivered(&dist, r_dist, r_city);
    expect_listed(&city, r_city);
    forward(&city, r_city, "province");
    expect_delivered(&city, r_city, r_prov);
    expect_listed(&prov, r_prov);

    /* The provincial editor saves it with the CLI; the file is the very
     * bytes the contact point sent. */
    char profile[PATH_MAX], file[PATH_MAX];
    snprintf(profile, sizeof profile, "%s/province-editor.conf", dir);
    snprintf(file, sizeof file, "%s/fetched.png", dir);
    assert_true(tprofile_write(profile, "editor1", &prov.gw));
    int rc = itrun_cli(dir, profile,
                       (const char *const[]){"attachment", r_prov, "--index", "0", "--out", file,
                                             NULL},
                       out, err, sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, "5000 bytes");
    FILE *fp = fopen(file, "rb");
    assert_non_null(fp);
    static uint8_t got[CONTENT_LEN + 1];
    size_t n = fread(got, 1, sizeof got, fp);
    fclose(fp);
    assert_int_equal(n, CONTENT_LEN);
    assert_memory_equal(got, content, CONTENT_LEN);

    /* The same file is never overwritten; an index the report lacks is
     * NOT_FOUND naming the field. */
    rc = itrun_cli(dir, profile, (const char *const[]){"attachment", r_prov, "--out", file, NULL},
                   out, err, sizeof out);
    assert_int_equal(rc, 3);
    rc = itrun_cli(dir, profile, (const char *const[]){"attachment", r_prov, "--index", "1", NULL},
                   out, err, sizeof out);
    assert_int_equal(rc, 6);
    itexpect_contains(err, "attachment.index");
    rc = itrun_cli(dir, profile, (const char *const[]){"show", r_prov, NULL}, out, err, sizeof out);
    assert_int_equal(rc, 0);
    itexpect_contains(out, "现场照片.png\timage/png\t5000 bytes\tsha256=");
}

/* Damaged at the city: the province refuses it, the city's delivery dies
 * with the reason, and nothing reaches the province. */
static void test_corrupted_attachment_refused(void **state)
{
    (void)state;
    char r_dist[IT_RECEIPT_MAX], r_city[IT_RECEIPT_MAX];

    submit_with_attachment("村道路灯损坏多时，夜间出行存在安全隐患。", r_dist);
    forward(&dist, r_dist, "city");
    expect_delivered(&dist, r_dist, r_city);
    assert_true(tdb_exec(city.conninfo,
                         "UPDATE attachments a SET content = set_byte(a.content, 100,"
                         " get_byte(a.content, 100) # 1) FROM reports r"
                         " WHERE r.id = a.report_id AND r.receipt = $1",
                         1, (const char *const[]){r_city}));
    forward(&city, r_city, "province");
    if (!itwait_text(city.conninfo, outbox_sql, r_city, "dead", WITHIN_MS)) {
        tgw_dump_log(&city.gw);
        fail_msg("the damaged attachment's delivery did not die");
    }
    char *why = itdb_text(city.conninfo,
                          "SELECT o.last_error FROM outbox o JOIN reports r"
                          " ON r.id = o.report_id WHERE r.receipt = $1",
                          1, (const char *const[]){r_city});
    assert_non_null(why);
    itexpect_contains(why, "report.attachments[0].sha256");
    free(why);
    assert_int_equal(tdb_scalar(prov.conninfo, "SELECT count(*) FROM reports WHERE origin_receipt = $1",
                                1, (const char *const[]){r_dist}),
                     0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attachments_travel_up),
        cmocka_unit_test(test_corrupted_attachment_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
