/*
 * validate: the gate between a decoded Report and storage.
 *
 * Every rule rejects; none repairs (OpenSMTPD's CVE-2020-7247 came from a
 * validator that tried to fix its input).  The single change made to
 * accepted text is Unicode NFC normalisation, which is lossless: the text
 * means and displays the same, and equal texts get equal bytes, so the
 * payload hash of two identical submissions is equal too.
 *
 * Each text field goes through the same steps in the same order: presence,
 * strict UTF-8, forbidden code points, NFC, length in code points (of the
 * stored, normalised form), classification marks.  The first rule broken
 * decides the error, so a client always learns of problems in a stable order.
 */
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <utf8proc.h>

#include "hex.h"
#include "utf8.h"

#define SHA256_LEN 32
#define UUID_TEXT_LEN HEX_UUID_TEXT_LEN
#define REGION_LEN VALIDATE_REGION_LEN
/* "000000" is a placeholder, never a GB/T 2260 code. */
#define REGION_NONE "000000"
/* Domain tag of the canonical encoding hashed into payload_sha256.  A new
 * encoding must change the tag, so old and new hashes can never collide. */
#define PAYLOAD_TAG "minyi.v1.report.payload\0"
#define PAYLOAD_TAG_LEN (sizeof PAYLOAD_TAG - 1)

/*
 * A field as named in an error.  path is the dotted protocol path, or for an
 * attachment (index >= 0) the part after "report.attachments[i]".
 */
struct field {
    const char *path;
    const char *zh;
    long index;
};

static const struct field F_REPORT = { "report", "报告", -1 };
static const struct field F_ID = { "report.client_report_id", "客户端报告编号", -1 };
static const struct field F_TITLE = { "report.title", "标题", -1 };
static const struct field F_SITUATION = { "report.situation", "情况/问题", -1 };
static const struct field F_ANALYSIS = { "report.analysis", "原因分析", -1 };
static const struct field F_SUGGESTIONS = { "report.suggestions", "意见建议", -1 };
static const struct field F_CATEGORY = { "report.category", "类别", -1 };
static const struct field F_URGENCY = { "report.urgency", "紧急程度", -1 };
static const struct field F_REPORTER = { "report.reporter", "反映人", -1 };
static const struct field F_REP_NAME = { "report.reporter.name", "反映人姓名", -1 };
static const struct field F_REP_UNIT = { "report.reporter.unit", "反映人单位", -1 };
static const struct field F_REP_KIND = { "report.reporter.kind", "反映人类型", -1 };
static const struct field F_REP_SECTOR = { "report.reporter.sector", "反映人界别", -1 };
static const struct field F_REGION = { "report.region", "地区代码", -1 };
static const struct field F_PHONE = { "report.phone", "联系电话", -1 };
static const struct field F_ATTACHMENTS = { "report.attachments", "附件", -1 };

/* The words that mark classified material (GB/T 7156 levels, simplified and
 * traditional, plus the variant 祕).  ★ or ☆ usually follows, but the word
 * alone is enough to refuse: such text must never be sent over a network. */
static const char *const classification_marks[] = {
    "绝密", "机密", "秘密", "絕密", "機密", "祕密",
};
/* First characters of the marks: only text containing one of them needs the
 * slower second look with default-ignorable characters removed. */
static const char *const classification_leads[] = {
    "绝", "机", "秘", "絕", "機", "祕",
};
#define N_MARKS (sizeof classification_marks / sizeof classification_marks[0])
#define N_LEADS (sizeof classification_leads / sizeof classification_leads[0])

void validate_limits_default(struct validate_limits *lim)
{
    lim->title_max = VALIDATE_TITLE_MAX;
    lim->situation_max = VALIDATE_SITUATION_MAX;
    lim->analysis_max = VALIDATE_ANALYSIS_MAX;
    lim->suggestions_max = VALIDATE_SUGGESTIONS_MAX;
    lim->name_max = VALIDATE_NAME_MAX;
    lim->unit_max = VALIDATE_UNIT_MAX;
    lim->sector_max = VALIDATE_SECTOR_MAX;
    lim->attachments_max = VALIDATE_ATTACHMENTS_MAX;
    lim->attachment_bytes = VALIDATE_ATTACHMENT_BYTES;
}

/*
 * snprintf may cut a message inside a multi-byte character; the message goes
 * out in an Error frame whose text must itself be valid UTF-8, so drop the
 * incomplete tail.
 */
static void trim_utf8(char *buf)
{
    size_t bad;

    if (!utf8_valid((const uint8_t *)buf, strlen(buf), &bad))
        buf[bad] = '\0';
}

/*
 * Fills err with the code, the field and both messages, each a sentence
 * that starts with the field's name (English) or label (Chinese).
 */
static void set_error(struct validation_error *err, int code, const struct field *f,
                      const char *reason_en, const char *reason_zh)
{
    char zh_label[64];

    err->code = code;
    if (f->index >= 0) {
        snprintf(err->field_buf, sizeof err->field_buf, "report.attachments[%ld]%s",
                 f->index, f->path);
        snprintf(zh_label, sizeof zh_label, "附件[%ld]%s", f->index, f->zh);
        err->field = err->field_buf;
    } else {
        snprintf(zh_label, sizeof zh_label, "%s", f->zh);
        err->field = f->path;
    }
    snprintf(err->message, sizeof err->message, "%s %s", err->field, reason_en);
    snprintf(err->message_zh, sizeof err->message_zh, "%s%s", zh_label, reason_zh);
    trim_utf8(err->message);
    trim_utf8(err->message_zh);
}

/*
 * Records a broken rule (INVALID_ARGUMENT) and returns false, so checks can
 * end in `return reject(...)`.  Both formats receive the same arguments in
 * the same order.
 */
__attribute__((format(printf, 3, 5)))
static bool reject(struct validation_error *err, const struct field *f,
                   const char *en_fmt, const char *zh_fmt, ...)
{
    char en[160], zh[160];
    va_list ap, ap2;

    va_start(ap, zh_fmt);
    va_copy(ap2, ap);
    vsnprintf(en, sizeof en, en_fmt, ap);
    vsnprintf(zh, sizeof zh, zh_fmt, ap2);
    va_end(ap2);
    va_end(ap);
    trim_utf8(en);
    trim_utf8(zh);
    set_error(err, MINYI__V1__ERROR_CODE__INVALID_ARGUMENT, f, en, zh);
    return false;
}

/* For failures that are ours, not the client's (memory, OpenSSL). */
static bool reject_internal(struct validation_error *err, const struct field *f,
                            const char *reason_en, const char *reason_zh)
{
    set_error(err, MINYI__V1__ERROR_CODE__INTERNAL, f, reason_en, reason_zh);
    return false;
}

static bool reject_nomem(struct validation_error *err, const struct field *f)
{
    return reject_internal(err, f, "could not be processed: server out of memory",
                           "无法处理：服务器内存不足");
}

/* Decodes the code point at s[*i] and advances *i.  s must be valid UTF-8. */
static uint32_t decode_next(const uint8_t *s, size_t *i)
{
    uint8_t b = s[*i];

    if (b < 0x80) {
        *i += 1;
        return b;
    }
    if (b < 0xE0) {
        uint32_t cp = ((uint32_t)(b & 0x1F) << 6) | (s[*i + 1] & 0x3F);
        *i += 2;
        return cp;
    }
    if (b < 0xF0) {
        uint32_t cp = ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[*i + 1] & 0x3F) << 6) |
                      (s[*i + 2] & 0x3F);
        *i += 3;
        return cp;
    }
    uint32_t cp = ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[*i + 1] & 0x3F) << 12) |
                  ((uint32_t)(s[*i + 2] & 0x3F) << 6) | (s[*i + 3] & 0x3F);
    *i += 4;
    return cp;
}

enum forbidden {
    FORBID_NONE,
    FORBID_CONTROL,   /* C0, DEL, C1 (NUL included) */
    FORBID_BIDI,      /* embedding/override/isolate controls: they can make
                       * displayed text differ from stored text (Trojan Source) */
    FORBID_NONCHAR,   /* noncharacters are for internal use, never interchange */
};

static enum forbidden classify(uint32_t cp, bool multiline)
{
    if (cp < 0x20)
        return (multiline && (cp == '\n' || cp == '\r' || cp == '\t')) ? FORBID_NONE
                                                                         : FORBID_CONTROL;
    if (cp >= 0x7F && cp <= 0x9F)
        return FORBID_CONTROL;
    if ((cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069))
        return FORBID_BIDI;
    if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
        return FORBID_NONCHAR;
    return FORBID_NONE;
}

/*
 * True for code points that NFC leaves alone in any context: combining
 * class 0 (nothing is reordered around them), no canonical decomposition
 * (a compatibility one does not count: NFC ignores it), and never the
 * second part of a canonical composition (so no preceding character can
 * absorb them).  Text made only of these is already in NFC, which spares
 * utf8proc's two passes and allocation for nearly every report, whatever
 * its script.  The usual ranges of Chinese text are answered without a
 * table lookup; the rest from utf8proc's own character properties, so the
 * answer follows the Unicode version of the library that normalises.
 * Hangul jamo and syllables compose algorithmically, outside those
 * properties, and always take the full path.  tests/unit/test_nfc_inert.c
 * checks this against utf8proc_map over every code point.
 */
bool validate_nfc_inert(uint32_t cp)
{
    const utf8proc_property_t *p;

    if (cp < 0x80 ||
        (cp >= 0x3400 && cp <= 0x4DBF) ||   /* CJK Extension A */
        (cp >= 0x4E00 && cp <= 0x9FFF) ||   /* CJK Unified Ideographs */
        (cp >= 0xFF01 && cp <= 0xFF5E))     /* full-width ASCII forms */
        return true;
    if ((cp >= 0x1100 && cp <= 0x11FF) ||   /* Hangul Jamo */
        (cp >= 0xA960 && cp <= 0xA97F) ||   /* Hangul Jamo Extended-A */
        (cp >= 0xAC00 && cp <= 0xD7FF) ||   /* Hangul syllables, Jamo Extended-B */
        (cp >= 0x3130 && cp <= 0x318F) ||   /* Hangul compatibility jamo */
        cp > 0x10FFFF)
        return false;
    p = utf8proc_get_property((utf8proc_int32_t)cp);
    if (p->combining_class != 0)
        return false;
    if (p->decomp_seqindex != UINT16_MAX && p->decomp_type == 0)
        return false;
    /* Whether the code point can be the second of a composition pair:
     * before utf8proc 2.9 a comb_index at or above 0x8000 (UINT16_MAX
     * meaning none), since then a flag of its own. */
#if UTF8PROC_VERSION_MAJOR == 2 && UTF8PROC_VERSION_MINOR < 9
    return p->comb_index == UINT16_MAX || p->comb_index < 0x8000;
#else
    return !p->comb_issecond;
#endif
}

static bool all_nfc_inert(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        if (!validate_nfc_inert(decode_next(s, &i)))
            return false;
    }
    return true;
}

static char *memdup_z(const uint8_t *s, size_t len)
{
    char *p = malloc(len + 1);

    if (p == NULL)
        return NULL;
    if (len > 0)
        memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/*
 * NFC-normalises valid UTF-8 into a malloc'd NUL-terminated string.
 * Returns 0 or a negative UTF8PROC_ERROR_* code.
 */
static long normalise(const uint8_t *s, size_t len, unsigned extra_options,
                      char **out, size_t *out_len)
{
    *out = NULL;
    if (extra_options == 0 && all_nfc_inert(s, len)) {
        *out = memdup_z(s, len);
        *out_len = len;
        return *out != NULL ? 0 : UTF8PROC_ERROR_NOMEM;
    }
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t n = utf8proc_map(s, (utf8proc_ssize_t)len, &dst,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE |
                                                          extra_options));
    if (n < 0)
        return (long)n;
    *out = (char *)dst;
    *out_len = (size_t)n;
    return 0;
}

/* True for the first character of a classification mark: the code points
 * of classification_leads[], which test_classification_marks checks one by
 * one. */
static bool is_mark_lead(uint32_t cp)
{
    /* 机 U+673A, 機 U+6A5F, 祕 U+7955, 秘 U+79D8, 絕 U+7D55, 绝 U+7EDD: the
     * leads of classification_leads[], in code point order. */
    if (cp < 0x673A || cp > 0x7EDD)
        return false;
    return cp == 0x673A || cp == 0x6A5F || cp == 0x7955 || cp == 0x79D8 || cp == 0x7D55 ||
           cp == 0x7EDD;
}

/*
 * Looks at the position i of text that holds a mark's first character
 * (is_mark_lead): returns the mark that starts there, or NULL.  Otherwise,
 * when split is not NULL and not yet set, sets it when the lead is directly
 * followed by a default-ignorable code point, which may hide a mark (see
 * check_marks).  Only s[i..] needs to be valid UTF-8 up to the next
 * character, so the one-pass scan can ask before it has seen the rest.
 */
static const char *mark_at(const uint8_t *u, size_t len, size_t i, bool *split)
{
    for (size_t k = 0; k < N_LEADS; k++) {
        size_t lead_len = strlen(classification_leads[k]);
        if (lead_len > len - i || memcmp(u + i, classification_leads[k], lead_len) != 0)
            continue;
        for (size_t m = 0; m < N_MARKS; m++) {
            size_t mark_len = strlen(classification_marks[m]);
            if (mark_len <= len - i && memcmp(u + i, classification_marks[m], mark_len) == 0)
                return classification_marks[m];
        }
        if (split != NULL && !*split && i + lead_len < len) {
            size_t next = i + lead_len;
            /* Default-ignorable code points are never ASCII. */
            if (u[next] >= 0x80 && utf8_sequence_len(u + next, len - next) > 0) {
                uint32_t cp = decode_next(u, &next);
                *split = utf8proc_get_property((utf8proc_int32_t)cp)->ignorable;
            }
        }
        break;
    }
    return NULL;
}

/*
 * Scans text once for classification marks: returns the first one found,
 * or NULL.  When split is not NULL it is set when a mark's first character
 * is directly followed by a default-ignorable code point (see mark_at).
 * Every mark begins with one of the leads, so only positions holding a lead
 * are compared.
 */
static const char *scan_marks(const char *s, size_t len, bool *split)
{
    const uint8_t *u = (const uint8_t *)s;

    if (split != NULL)
        *split = false;
    for (size_t i = 0; i < len; i++) {
        const char *mark;
        /* Leads are three-byte characters: skip everything else, and a
         * three-byte character that is no lead as a whole (the text is
         * valid UTF-8). */
        if (u[i] < 0xE0 || u[i] > 0xEF || len - i < 3)
            continue;
        if (!is_mark_lead(((uint32_t)(u[i] & 0x0F) << 12) | ((uint32_t)(u[i + 1] & 0x3F) << 6) |
                          (u[i + 2] & 0x3F))) {
            i += 2;
            continue;
        }
        mark = mark_at(u, len, i, split);
        if (mark != NULL)
            return mark;
        i += 2;
    }
    return NULL;
}

/*
 * Looks for classification marks in NFC text.  A mark split by characters
 * that are invisible by definition (zero-width space, joiners, soft hyphen,
 * variation selectors) still reads as the mark, so when a mark's first
 * character is directly followed by such a character, the text is looked at
 * again with those removed.  Removing them cannot make a mark anywhere else:
 * a lead followed by a visible character that is not the mark's second one
 * stays so (the text is NFC already, and the marks' characters neither
 * compose nor decompose).
 */
static bool marks_verdict(const char *s, size_t len, const char *mark, bool split,
                          const struct field *f, struct validation_error *err)
{
    if (mark == NULL && split) {
        char *stripped;
        size_t stripped_len;
        long rc = normalise((const uint8_t *)s, len, UTF8PROC_IGNORE, &stripped, &stripped_len);
        if (rc == UTF8PROC_ERROR_NOMEM)
            return reject_nomem(err, f);
        if (rc == 0) {
            mark = scan_marks(stripped, stripped_len, NULL);
            free(stripped);
        }
    }
    if (mark != NULL)
        return reject(err, f,
                      "contains the classification mark \"%s\"; classified information "
                      "must not be sent over the network",
                      "含有密级标志“%s”，涉密信息不得上网报送", mark);
    return true;
}

static bool check_marks(const char *s, size_t len, const struct field *f,
                        struct validation_error *err)
{
    bool split;
    const char *mark = scan_marks(s, len, &split);

    return marks_verdict(s, len, mark, split, f, err);
}

/* True when the text holds nothing but white space and invisible characters. */
static bool is_blank(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;

    while (i < len) {
        uint32_t cp = decode_next(u, &i);
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r')
            continue;
        utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)cp);
        if (cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL ||
            cat == UTF8PROC_CATEGORY_ZP)
            continue;
        if (utf8proc_get_property((utf8proc_int32_t)cp)->ignorable)
            continue;
        return false;
    }
    return true;
}

/* Bytes handled per step by the ASCII fast path of scan_text. */
#define SCAN_WORD_BYTES 8
#define SCAN_ONES UINT64_C(0x0101010101010101)
#define SCAN_HIGH UINT64_C(0x8080808080808080)

/* What one pass over a field's bytes tells take_text (see scan_text). */
struct text_scan {
    bool valid;               /* well-formed UTF-8 */
    size_t bad;               /* if not: offset of the first bad sequence */
    enum forbidden forbid;    /* the first forbidden code point, if any */
    uint32_t forbid_cp;
    size_t forbid_at;
    bool inert;               /* only NFC-inert code points: already NFC */
    size_t count;             /* code points */
    const char *mark;         /* the first classification mark (see scan_marks) */
    bool split;               /* a lead followed by an invisible character */
};

/* True for a word of eight printable ASCII bytes (0x20..0x7E), which need
 * no check at all. */
static bool word_printable(uint64_t w)
{
    /* A byte below 0x20 borrows into its top bit when 0x20 is taken from
     * it; a byte that is 0x7F has a top bit once 0x01 is added; bytes with
     * the top bit set are not ASCII. */
    return ((w | (w - 0x20 * SCAN_ONES) | (w + 0x01 * SCAN_ONES)) & SCAN_HIGH) == 0;
}

/* True when s starts with a well-formed three-byte CJK ideograph
 * (U+3400..U+4DBF, U+4E00..U+9FFF); *cp gets it.  Their lead bytes are
 * E3..E9, which have no special second-byte range in Table 3-7. */
static bool cjk_at(const uint8_t *s, size_t avail, uint32_t *cp)
{
    uint32_t c;

    if (avail < 3 || s[0] < 0xE3 || s[0] > 0xE9 || (s[1] & 0xC0) != 0x80 ||
        (s[2] & 0xC0) != 0x80)
        return false;
    c = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
    if (!((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)))
        return false;
    *cp = c;
    return true;
}

/*
 * Looks at every byte of a field once and finds what utf8_valid, a scan
 * for forbidden code points, the NFC fast path, utf8_count and a look for
 * the marks' first characters would find, in that order of precedence: a
 * field arrives as about four thousand bytes of mostly three-byte CJK, and
 * five passes over it, each decoding every character again, were most of
 * the gateway's work per report.  Marks are looked for at each of their
 * first characters as the scan meets them (mark_at).  Well-formedness is
 * utf8_sequence_len's table (Unicode Table 3-7), the one utf8_valid asks
 * too, except for the CJK shortcut (cjk_at), whose lead bytes that table
 * treats like any other; test_one_pass_agrees checks that the answers are
 * those of the separate checks, and test_intake_utf8_exhaustive checks the
 * verdicts against a decoder written from the standard's rules.
 */
static void scan_text(const uint8_t *s, size_t len, bool multiline, struct text_scan *out)
{
    size_t i = 0, count = 0;
    bool inert = true, split = false;
    const char *mark = NULL;

    out->forbid = FORBID_NONE;
    out->forbid_cp = 0;
    out->forbid_at = 0;
    while (i < len) {
        size_t at = i;
        uint8_t b0 = s[i];
        uint32_t cp;

        if (b0 < 0x80) {
            if (len - i >= SCAN_WORD_BYTES) {
                uint64_t w;
                memcpy(&w, s + i, sizeof w);
                if (word_printable(w)) {
                    i += SCAN_WORD_BYTES;
                    count += SCAN_WORD_BYTES;
                    continue;
                }
            }
            cp = b0;
            i++;
        } else if (cjk_at(s + i, len - i, &cp)) {
            /* The bulk of every report: never forbidden, always inert,
             * maybe a mark's first character. */
            if (mark == NULL && is_mark_lead(cp))
                mark = mark_at(s, len, i, &split);
            i += 3;
            count++;
            continue;
        } else {
            if (utf8_sequence_len(s + i, len - i) == 0)
                goto bad;
            cp = decode_next(s, &i);
            if (inert && !validate_nfc_inert(cp))
                inert = false;
        }
        count++;
        if (out->forbid == FORBID_NONE && !(cp >= 0x20 && cp < 0x7F)) {
            enum forbidden kind = classify(cp, multiline);
            if (kind != FORBID_NONE) {
                out->forbid = kind;
                out->forbid_cp = cp;
                out->forbid_at = at;
            }
        }
    }
    out->valid = true;
    out->bad = 0;
    out->inert = inert;
    out->count = count;
    out->mark = mark;
    out->split = split;
    return;
bad:
    out->valid = false;
    out->bad = i;
    out->inert = false;
    out->count = 0;
    out->mark = NULL;
    out->split = false;
}

/*
 * Checks one free-text field and stores its NFC form in *out.  max is in
 * code points of the stored form.  An empty optional field is stored as "".
 */
static bool take_text(const ProtobufCBinaryData *in, const struct field *f, size_t max,
                      bool required, bool multiline, char **out, struct validation_error *err)
{
    const uint8_t *s = in->data;
    size_t len = in->data != NULL ? in->len : 0;
    size_t bad;
    uint32_t cp;
    char *text = NULL;
    size_t text_len = 0;
    struct text_scan scan;

    if (len == 0) {
        if (required)
            return reject(err, f, "is required", "不能为空");
        *out = memdup_z((const uint8_t *)"", 0);
        return *out != NULL ? true : reject_nomem(err, f);
    }
    scan_text(s, len, multiline, &scan);
    if (!scan.valid)
        return reject(err, f, "is not valid UTF-8 (at byte offset %zu)",
                      "不是有效的 UTF-8 编码（字节偏移 %zu）", scan.bad);
    cp = scan.forbid_cp;
    bad = scan.forbid_at;
    switch (scan.forbid) {
    case FORBID_NONE:
        break;
    case FORBID_CONTROL:
        return reject(err, f, "contains the control character U+%04X (at byte offset %zu)",
                      "含有控制字符 U+%04X（字节偏移 %zu）", (unsigned)cp, bad);
    case FORBID_BIDI:
        return reject(err, f, "contains the bidirectional control U+%04X (at byte offset %zu)",
                      "含有双向文本控制字符 U+%04X（字节偏移 %zu）", (unsigned)cp, bad);
    case FORBID_NONCHAR:
        return reject(err, f, "contains the noncharacter U+%04X (at byte offset %zu)",
                      "含有非字符码位 U+%04X（字节偏移 %zu）", (unsigned)cp, bad);
    }

    long rc = 0;
    if (scan.inert) {
        /* Already NFC: normalise() would only copy it. */
        text = memdup_z(s, len);
        text_len = len;
        if (text == NULL)
            rc = UTF8PROC_ERROR_NOMEM;
    } else {
        rc = normalise(s, len, 0, &text, &text_len);
    }
    if (rc == UTF8PROC_ERROR_NOMEM)
        return reject_nomem(err, f);
    if (rc != 0)
        return reject(err, f, "cannot be normalised to NFC (%s)", "无法进行 NFC 规范化（%s）",
                      utf8proc_errmsg((utf8proc_ssize_t)rc));

    if (required && is_blank(text, text_len)) {
        reject(err, f, "is required (only white space was sent)", "不能为空（仅含空白字符）");
        goto fail;
    }
    /* The stored form is the text itself when it was inert. */
    size_t count = scan.inert ? scan.count : utf8_count((const uint8_t *)text, text_len);
    if (count > max) {
        reject(err, f, "is too long: %zu characters, at most %zu allowed",
               "过长：%zu 个字符，最多 %zu 个", count, max);
        goto fail;
    }
    /* Inert text is its own NFC form, so the scan has looked for marks in
     * the stored text already; other text takes the full look. */
    if (scan.inert ? !marks_verdict(text, text_len, scan.mark, scan.split, f, err)
                   : !check_marks(text, text_len, f, err))
        goto fail;
    *out = text;
    return true;

fail:
    free(text);
    return false;
}

/* The canonical 8-4-4-4-12 form only: no braces, no "urn:uuid:", no
 * missing dashes.  Either case is accepted; lower case is stored. */
static bool take_uuid(const ProtobufCBinaryData *in, char out[UUID_TEXT_LEN + 1],
                      struct validation_error *err)
{
    uint8_t u[HEX_UUID_LEN];

    if (in->len == 0 || in->data == NULL)
        return reject(err, &F_ID, "is required", "不能为空");
    if (!hex_uuid_parse((const char *)in->data, in->len, u))
        return reject(err, &F_ID,
                      "must be a UUID in the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx",
                      "须为 xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx 形式的 UUID");
    hex_uuid_format(u, out);
    return true;
}

/* An enum value is known when the descriptor lists it and it is not the
 * proto3 zero ("unspecified"), which is what an omitted field decodes to. */
static bool take_enum(int value, const ProtobufCEnumDescriptor *desc, const struct field *f,
                      int *out, struct validation_error *err)
{
    if (value == 0)
        return reject(err, f, "is required", "不能为空");
    if (protobuf_c_enum_descriptor_get_value(desc, value) == NULL)
        return reject(err, f, "has the unknown code %d", "代码 %d 未定义", value);
    *out = value;
    return true;
}

bool validate_region_code(const uint8_t *s, size_t len)
{
    if (len != REGION_LEN)
        return false;
    for (size_t i = 0; i < REGION_LEN; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

bool validate_receipt_chars(const uint8_t *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              c == '-'))
            return false;
    }
    return true;
}

static bool take_region(const ProtobufCBinaryData *in, char out[REGION_LEN + 1],
                        struct validation_error *err)
{
    if (in->len == 0 || in->data == NULL)
        return reject(err, &F_REGION, "is required", "不能为空");
    if (!validate_region_code(in->data, in->len) ||
        memcmp(in->data, REGION_NONE, REGION_LEN) == 0)
        return reject(err, &F_REGION, "must be a six-digit GB/T 2260 code",
                      "须为六位数字的 GB/T 2260 行政区划代码");
    memcpy(out, in->data, REGION_LEN);
    out[REGION_LEN] = '\0';
    return true;
}

static bool take_phone(const ProtobufCBinaryData *in, char **out, struct validation_error *err)
{
    size_t digits = 0;

    if (in->len == 0 || in->data == NULL)
        return reject(err, &F_PHONE, "is required", "不能为空");
    bool ok = in->len >= VALIDATE_PHONE_MIN && in->len <= VALIDATE_PHONE_MAX;
    for (size_t i = 0; ok && i < in->len; i++) {
        uint8_t c = in->data[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if (c != '+' && c != '-' && c != ' ')
            ok = false;
    }
    if (!ok || digits < VALIDATE_PHONE_MIN)
        return reject(err, &F_PHONE,
                      "must be %d to %d characters of digits, '+', '-' or space, "
                      "with at least %d digits",
                      "须为 %d 至 %d 个字符（数字、“+”、“-”或空格），至少 %d 位数字",
                      VALIDATE_PHONE_MIN, VALIDATE_PHONE_MAX, VALIDATE_PHONE_MIN);
    *out = memdup_z(in->data, in->len);
    return *out != NULL ? true : reject_nomem(err, &F_PHONE);
}

/* RFC 6838 restricted-name characters after the first (alphanumeric) one. */
static bool media_name_char(uint8_t c, bool first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return !first && c != '\0' && strchr("!#$&-^_.+", c) != NULL;
}

/* type "/" subtype, each an RFC 6838 restricted-name; no parameters. */
static bool media_type_ok(const uint8_t *s, size_t len)
{
    size_t i = 0, part_len = 0;
    int parts = 1;

    if (len == 0 || len > VALIDATE_MEDIA_TYPE_MAX)
        return false;
    for (; i < len; i++) {
        if (s[i] == '/') {
            if (part_len == 0 || parts == 2)
                return false;
            parts = 2;
            part_len = 0;
            continue;
        }
        if (!media_name_char(s[i], part_len == 0))
            return false;
        part_len++;
    }
    return parts == 2 && part_len > 0;
}

static bool take_attachment(const Minyi__V1__Attachment *a, long index,
                            const struct validate_limits *lim, struct intake_attachment *out,
                            struct validation_error *err)
{
    const struct field f_item = { "", "", index };
    const struct field f_name = { ".name", "名称", index };
    const struct field f_type = { ".media_type", "类型", index };
    const struct field f_content = { ".content", "内容", index };
    const struct field f_sha = { ".sha256", "SHA-256 校验值", index };
    uint8_t digest[SHA256_LEN];
    unsigned digest_len = 0;

    if (a == NULL)
        return reject(err, &f_item, "is missing", "缺失");
    if (!take_text(&a->name, &f_name, VALIDATE_ATTACHMENT_NAME_MAX, true, false, &out->name, err))
        return false;
    /* A name is shown and may be saved as a file: it must not be a path. */
    if (strchr(out->name, '/') != NULL || strchr(out->name, '\\') != NULL ||
        strcmp(out->name, ".") == 0 || strcmp(out->name, "..") == 0)
        return reject(err, &f_name, "must be a file name without '/' or '\\'",
                      "须为文件名，不得含有“/”或“\\”");

    if (a->media_type.len == 0 || a->media_type.data == NULL)
        return reject(err, &f_type, "is required", "不能为空");
    if (!media_type_ok(a->media_type.data, a->media_type.len))
        return reject(err, &f_type, "must be a media type such as application/pdf (at most %d bytes)",
                      "须为媒体类型，如 application/pdf（最多 %d 字节）", VALIDATE_MEDIA_TYPE_MAX);
    out->media_type = memdup_z(a->media_type.data, a->media_type.len);
    if (out->media_type == NULL)
        return reject_nomem(err, &f_type);

    if (a->content.len == 0 || a->content.data == NULL)
        return reject(err, &f_content, "is required", "不能为空");
    if (a->content.len > lim->attachment_bytes)
        return reject(err, &f_content, "is too large: %zu bytes, at most %zu allowed",
                      "过大：%zu 字节，最多 %zu 字节", a->content.len, lim->attachment_bytes);

    if (a->sha256.len != SHA256_LEN || a->sha256.data == NULL)
        return reject(err, &f_sha, "must be the %d-byte SHA-256 of the content",
                      "须为内容的 %d 字节 SHA-256 值", SHA256_LEN);
    if (EVP_Digest(a->content.data, a->content.len, digest, &digest_len, EVP_sha256(), NULL) != 1 ||
        digest_len != SHA256_LEN)
        return reject_internal(err, &f_sha, "could not be computed", "无法计算");
    if (memcmp(digest, a->sha256.data, SHA256_LEN) != 0)
        return reject(err, &f_sha, "does not match the content", "与附件内容不符");

    out->content = malloc(a->content.len);
    if (out->content == NULL)
        return reject_nomem(err, &f_content);
    memcpy(out->content, a->content.data, a->content.len);
    out->content_len = a->content.len;
    memcpy(out->sha256, digest, SHA256_LEN);
    return true;
}

/* Canonical encoding for payload_sha256: every item carries its length (or
 * has a fixed width), so no two different reports encode alike. */
static bool hash_u64(EVP_MD_CTX *ctx, uint64_t v)
{
    uint8_t b[8];

    for (int i = 7; i >= 0; i--) {
        b[i] = (uint8_t)(v & 0xFF);
        v >>= 8;
    }
    return EVP_DigestUpdate(ctx, b, sizeof b) == 1;
}

static bool hash_bytes(EVP_MD_CTX *ctx, const void *p, size_t len)
{
    return hash_u64(ctx, len) && (len == 0 || EVP_DigestUpdate(ctx, p, len) == 1);
}

static bool hash_str(EVP_MD_CTX *ctx, const char *s)
{
    return hash_bytes(ctx, s, strlen(s));
}

static bool hash_enum(EVP_MD_CTX *ctx, int v)
{
    return hash_u64(ctx, (uint64_t)(uint32_t)v);
}

static bool payload_hash(struct intake_report *r)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned len = 0;
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
              EVP_DigestUpdate(ctx, PAYLOAD_TAG, PAYLOAD_TAG_LEN) == 1 &&
              hash_str(ctx, r->client_report_id) && hash_str(ctx, r->title) &&
              hash_str(ctx, r->situation) && hash_str(ctx, r->analysis) &&
              hash_str(ctx, r->suggestions) && hash_enum(ctx, r->category) &&
              hash_enum(ctx, r->urgency) && hash_str(ctx, r->reporter_name) &&
              hash_str(ctx, r->reporter_unit) && hash_enum(ctx, r->reporter_kind) &&
              hash_str(ctx, r->reporter_sector) && hash_str(ctx, r->region) &&
              hash_str(ctx, r->phone) && hash_u64(ctx, r->n_attachments);

    for (size_t i = 0; ok && i < r->n_attachments; i++) {
        const struct intake_attachment *a = &r->attachments[i];
        ok = hash_str(ctx, a->name) && hash_str(ctx, a->media_type) &&
             hash_bytes(ctx, a->content, a->content_len) && hash_bytes(ctx, a->sha256, SHA256_LEN);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, r->payload_sha256, &len) == 1 && len == SHA256_LEN;
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* The part of a report a revision replaces: its id, category, urgency and
 * texts.  With all, every rule of a submission (urgency comes first,
 * because it decides whether analysis and suggestions are required);
 * without, an empty text or a zero code is allowed: it keeps the current
 * one (see validate_revision). */
static bool take_body(const Minyi__V1__Report *r, const struct validate_limits *lim, bool all,
                      struct intake_report *out, struct validation_error *err)
{
    if (!take_uuid(&r->client_report_id, out->client_report_id, err) ||
        ((all || r->category != 0) &&
         !take_enum((int)r->category, &minyi__v1__category__descriptor, &F_CATEGORY,
                    &out->category, err)) ||
        ((all || r->urgency != 0) &&
         !take_enum((int)r->urgency, &minyi__v1__urgency__descriptor, &F_URGENCY,
                    &out->urgency, err)))
        return false;
    bool rest = all && out->urgency != MINYI__V1__URGENCY__URGENT;
    return take_text(&r->title, &F_TITLE, lim->title_max, all, false, &out->title, err) &&
           take_text(&r->situation, &F_SITUATION, lim->situation_max, all, true,
                     &out->situation, err) &&
           take_text(&r->analysis, &F_ANALYSIS, lim->analysis_max, rest, true, &out->analysis,
                     err) &&
           take_text(&r->suggestions, &F_SUGGESTIONS, lim->suggestions_max, rest, true,
                     &out->suggestions, err);
}

/* What validating a report or a revision begins with: empty results, the
 * default limits when none are given (in *defaults), and a report at all. */
static bool validate_begin(const Minyi__V1__Report *r, const struct validate_limits **lim,
                           struct validate_limits *defaults, struct intake_report *out,
                           struct validation_error *err)
{
    memset(out, 0, sizeof *out);
    memset(err, 0, sizeof *err);
    if (*lim == NULL) {
        validate_limits_default(defaults);
        *lim = defaults;
    }
    if (r == NULL)
        return reject(err, &F_REPORT, "is required", "不能为空");
    return true;
}

bool validate_revision(const Minyi__V1__Report *r, const struct validate_limits *lim,
                       struct intake_report *out, struct validation_error *err)
{
    struct validate_limits defaults;

    if (!validate_begin(r, &lim, &defaults, out, err) || !take_body(r, lim, false, out, err))
        goto fail;
    return true;

fail:
    intake_report_free(out);
    return false;
}

bool validate_report(const Minyi__V1__Report *r, const struct validate_limits *lim,
                     struct intake_report *out, struct validation_error *err)
{
    struct validate_limits defaults;
    const Minyi__V1__Reporter *rep;

    if (!validate_begin(r, &lim, &defaults, out, err) || !take_body(r, lim, true, out, err))
        goto fail;

    rep = r->reporter;
    if (rep == NULL) {
        reject(err, &F_REPORTER, "is required", "不能为空");
        goto fail;
    }
    if (!take_text(&rep->name, &F_REP_NAME, lim->name_max, true, false, &out->reporter_name,
                   err) ||
        !take_text(&rep->unit, &F_REP_UNIT, lim->unit_max, true, false, &out->reporter_unit,
                   err) ||
        !take_enum((int)rep->kind, &minyi__v1__reporter_kind__descriptor, &F_REP_KIND,
                   &out->reporter_kind, err) ||
        !take_text(&rep->sector, &F_REP_SECTOR, lim->sector_max, false, false,
                   &out->reporter_sector, err) ||
        !take_region(&r->region, out->region, err) ||
        !take_phone(&r->phone, &out->phone, err))
        goto fail;

    if (r->n_attachments > lim->attachments_max) {
        reject(err, &F_ATTACHMENTS, "has %zu files, at most %zu allowed",
               "共 %zu 个，最多 %zu 个", r->n_attachments, lim->attachments_max);
        goto fail;
    }
    if (r->n_attachments > 0) {
        out->attachments = calloc(r->n_attachments, sizeof *out->attachments);
        if (out->attachments == NULL) {
            reject_nomem(err, &F_ATTACHMENTS);
            goto fail;
        }
        /* Counted as we go, so intake_report_free sees every filled slot
         * (calloc left the rest NULL, which free() accepts). */
        out->n_attachments = r->n_attachments;
        for (size_t i = 0; i < r->n_attachments; i++)
            if (!take_attachment(r->attachments[i], (long)i, lim, &out->attachments[i], err))
                goto fail;
    }

    if (!payload_hash(out)) {
        reject_internal(err, &F_REPORT, "payload hash could not be computed",
                        "无法计算报告摘要");
        goto fail;
    }
    return true;

fail:
    intake_report_free(out);
    return false;
}

bool validate_text(const ProtobufCBinaryData *in, enum validate_text_kind kind,
                   const char *field, const char *field_zh, bool required,
                   const struct validate_limits *lim, char **out, struct validation_error *err)
{
    struct validate_limits defaults;
    const struct field f = { field, field_zh, -1 };
    size_t max;
    bool multiline = true;

    memset(err, 0, sizeof *err);
    *out = NULL;
    if (lim == NULL) {
        validate_limits_default(&defaults);
        lim = &defaults;
    }
    switch (kind) {
    case VALIDATE_TEXT_TITLE:
        max = lim->title_max;
        multiline = false;
        break;
    case VALIDATE_TEXT_SITUATION:
        max = lim->situation_max;
        break;
    case VALIDATE_TEXT_ANALYSIS:
        max = lim->analysis_max;
        break;
    case VALIDATE_TEXT_SUGGESTIONS:
        max = lim->suggestions_max;
        break;
    case VALIDATE_TEXT_INSTRUCTION:
        max = VALIDATE_INSTRUCTION_MAX;
        break;
    case VALIDATE_TEXT_LEVEL:
        max = VALIDATE_LEVEL_MAX;
        multiline = false;
        break;
    case VALIDATE_TEXT_SERIES:
        max = VALIDATE_SERIES_MAX;
        multiline = false;
        break;
    case VALIDATE_TEXT_ISSUE_ITEM:
        /* The three parts of a report and the blank lines between them. */
        max = lim->situation_max + lim->analysis_max + lim->suggestions_max + 4;
        break;
    case VALIDATE_TEXT_NOTE:
    default:
        max = VALIDATE_NOTE_MAX;
        break;
    }
    return take_text(in, &f, max, required, multiline, out, err);
}
