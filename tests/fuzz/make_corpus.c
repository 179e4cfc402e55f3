/*
 * make_corpus: writes the seed corpus of the fuzz targets.
 *
 *   fuzz_make_corpus tests/fuzz/corpus
 *
 * fuzz_validate/ gets frame bodies (no length prefix): valid submissions
 * (normal, urgent, with an attachment), the other requests, and invalid
 * ones the decoder and validator must refuse (bad UTF-8, a truncated frame,
 * a repeated-field bomb, an overlong varint, unknown fields).  fuzz_utf8/
 * gets valid and invalid UTF-8 of every sequence length.  The output is
 * kept in the source tree; run this again after a protocol change.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/sha.h>

#include "frame.h"

/* Attachments in the repeated-field bomb: many tiny elements in one frame. */
#define BOMB_ELEMENTS 20000

static const char *out_dir;

static void put(const char *target, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", out_dir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", out_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static ProtobufCBinaryData b(const char *s)
{
    return frame_bytes(s);
}

/* Packs f without its length prefix; the caller frees the result. */
static uint8_t *pack(const Frame *f, size_t *n)
{
    *n = minyi__v1__frame__get_packed_size(f);
    uint8_t *p = malloc(*n + 1);
    if (p == NULL)
        exit(1);
    minyi__v1__frame__pack(f, p);
    return p;
}

static void put_frame(const char *name, const Frame *f)
{
    size_t n;
    uint8_t *p = pack(f, &n);
    put("fuzz_validate", name, p, n);
    free(p);
}

static void fill_report(Minyi__V1__Report *r, Minyi__V1__Reporter *who)
{
    minyi__v1__report__init(r);
    minyi__v1__reporter__init(who);
    r->client_report_id = b("6f1c2d3e-4a5b-4c6d-8e7f-0123456789ab");
    r->title = b("关于加快老旧小区加装电梯的建议");
    r->situation = b("城区部分老旧小区加装电梯推进缓慢,居民意见较多。");
    r->analysis = b("费用分摊机制不明确。");
    r->suggestions = b("建议出台分摊指导意见。");
    r->category = MINYI__V1__CATEGORY__SOCIETY;
    r->urgency = MINYI__V1__URGENCY__NORMAL;
    r->region = b("330402");
    r->phone = b("13800000000");
    who->name = b("张三");
    who->unit = b("南湖区政协");
    who->kind = MINYI__V1__REPORTER_KIND__MEMBER;
    who->sector = b("经济界");
    r->reporter = who;
}

static void submit_frames(void)
{
    Minyi__V1__Report r;
    Minyi__V1__Reporter who;
    Minyi__V1__SubmitRequest req = MINYI__V1__SUBMIT_REQUEST__INIT;
    Frame f = MINYI__V1__FRAME__INIT;
    size_t n;

    fill_report(&r, &who);
    req.report = &r;
    f.id = 1;
    f.body_case = MINYI__V1__FRAME__BODY_SUBMIT;
    f.submit = &req;
    put_frame("submit-valid", &f);

    /* Truncated copies of the valid frame: the decoder must refuse them. */
    uint8_t *p = pack(&f, &n);
    put("fuzz_validate", "submit-truncated-half", p, n / 2);
    put("fuzz_validate", "submit-truncated-last", p, n - 1);
    /* An unknown field appended: protobuf keeps it aside; still valid. */
    uint8_t *q = realloc(p, n + 3);
    if (q == NULL)
        exit(1);
    q[n] = 0xF8, q[n + 1] = 0x07, q[n + 2] = 0x07; /* field 127, varint 7 */
    put("fuzz_validate", "submit-unknown-field", q, n + 3);
    free(q);

    r.urgency = MINYI__V1__URGENCY__URGENT;
    r.analysis = b("");
    r.suggestions = b("");
    put_frame("submit-urgent", &f);

    fill_report(&r, &who);
    static const char content[] = "%PDF-1.4 minimal";
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)content, sizeof(content) - 1, digest);
    Minyi__V1__Attachment att = MINYI__V1__ATTACHMENT__INIT;
    Minyi__V1__Attachment *atts[1] = { &att };
    att.name = b("材料.pdf");
    att.media_type = b("application/pdf");
    att.content = b(content);
    att.sha256.data = digest;
    att.sha256.len = sizeof(digest);
    r.attachments = atts;
    r.n_attachments = 1;
    put_frame("submit-attachment", &f);
    r.attachments = NULL;
    r.n_attachments = 0;

    fill_report(&r, &who);
    r.title = b("bad \xC3\x28 utf-8");
    put_frame("submit-bad-utf8", &f);
    fill_report(&r, &who);
    r.region = b("33040X");
    put_frame("submit-bad-region", &f);
    fill_report(&r, &who);
    r.situation = b("");
    put_frame("submit-empty-situation", &f);
    fill_report(&r, &who);
    r.reporter = NULL;
    put_frame("submit-no-reporter", &f);
    fill_report(&r, &who);
    r.client_report_id = b("not-a-uuid");
    put_frame("submit-bad-uuid", &f);

    /* A repeated-field bomb: thousands of empty attachments, a few bytes
     * each on the wire but a struct each once unpacked. */
    Minyi__V1__Attachment empty = MINYI__V1__ATTACHMENT__INIT;
    Minyi__V1__Attachment **many = malloc(BOMB_ELEMENTS * sizeof(*many));
    if (many == NULL)
        exit(1);
    for (size_t i = 0; i < BOMB_ELEMENTS; i++)
        many[i] = &empty;
    fill_report(&r, &who);
    r.attachments = many;
    r.n_attachments = BOMB_ELEMENTS;
    put_frame("submit-repeated-bomb", &f);
    free(many);
}

static void other_frames(void)
{
    Frame f = MINYI__V1__FRAME__INIT;
    Minyi__V1__StatusRequest st = MINYI__V1__STATUS_REQUEST__INIT;
    Minyi__V1__ListMineRequest lm = MINYI__V1__LIST_MINE_REQUEST__INIT;

    f.id = 2;
    f.body_case = MINYI__V1__FRAME__BODY_STATUS;
    st.receipt = b("330400-2026-000017");
    f.status = &st;
    put_frame("status", &f);

    f.id = 3;
    f.body_case = MINYI__V1__FRAME__BODY_LIST_MINE;
    f.status = NULL;
    lm.limit = 20;
    f.list_mine = &lm;
    put_frame("list-mine", &f);

    Frame empty = MINYI__V1__FRAME__INIT;
    empty.id = 4;
    put_frame("no-body", &empty);

    put("fuzz_validate", "empty", "", 0);
    /* Field 1 (id) as a varint of eleven bytes: longer than any varint. */
    static const uint8_t overlong[] = { 0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                        0xFF, 0xFF, 0xFF, 0xFF, 0x01 };
    put("fuzz_validate", "overlong-varint", overlong, sizeof(overlong));
    /* A length-delimited field claiming far more bytes than follow. */
    static const uint8_t short_len[] = { 0x12, 0xFF, 0xFF, 0xFF, 0x7F, 0x0A };
    put("fuzz_validate", "length-past-end", short_len, sizeof(short_len));
    static const uint8_t garbage[] = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
    put("fuzz_validate", "tls-clienthello-bytes", garbage, sizeof(garbage) - 1);
}

static void utf8_seeds(void)
{
    static const struct {
        const char *name, *text;
    } seeds[] = {
        { "ascii", "plain ascii text\n" },
        { "chinese", "社情民意信息反映" },
        { "four-byte", "emoji \xF0\x9F\x98\x80 and \xF4\x8F\xBF\xBF" },
        { "overlong-2", "\xC0\xAF" },
        { "overlong-3", "\xE0\x80\xAF" },
        { "overlong-4", "\xF0\x80\x80\xAF" },
        { "surrogate", "\xED\xA0\x80" },
        { "above-max", "\xF4\x90\x80\x80" },
        { "truncated", "ok \xE4\xB8" },
        { "lone-continuation", "\x80" },
        { "ff", "\xFF\xFE" },
        { "nul-inside", "a\0b" },
    };
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        size_t n = strlen(seeds[i].text);
        if (strcmp(seeds[i].name, "nul-inside") == 0)
            n = 3;
        put("fuzz_utf8", seeds[i].name, seeds[i].text, n);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    out_dir = argv[1];
    submit_frames();
    other_frames();
    utf8_seeds();
    return 0;
}
