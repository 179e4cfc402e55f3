/*
 * validate_text: the rules for one free-text field, in a report or
 * outside it (an editor's note, a 批示, an issue's series): strict UTF-8,
 * no control, bidirectional or noncharacter code points, Unicode NFC (the
 * one change made to accepted text, and a lossless one), the length in
 * code points of the stored form, and no classification marks (涉密不上网).
 *
 * The steps go in that order, and the first rule broken decides the
 * error, so a client always learns of problems in a stable order.  A
 * field is looked at in one pass (scan_text) that answers all the checks
 * at once; only text that is not NFC already, or may hide a mark, gets a
 * second look.
 */
#include "validate_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "utf8.h"

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

char *validate_memdup_z(const uint8_t *s, size_t len)
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
        *out = validate_memdup_z(s, len);
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
                          const struct validate_field *f, struct validation_error *err)
{
    if (mark == NULL && split) {
        char *stripped;
        size_t stripped_len;
        long rc = normalise((const uint8_t *)s, len, UTF8PROC_IGNORE, &stripped, &stripped_len);
        if (rc == UTF8PROC_ERROR_NOMEM)
            return validate_reject_nomem(err, f);
        if (rc == 0) {
            mark = scan_marks(stripped, stripped_len, NULL);
            free(stripped);
        }
    }
    if (mark != NULL)
        return validate_reject(err, f,
                               "contains the classification mark \"%s\"; classified information "
                               "must not be sent over the network",
                               "含有密级标志“%s”，涉密信息不得上网报送", mark);
    return true;
}

static bool check_marks(const char *s, size_t len, const struct validate_field *f,
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

/* Checks one free-text field (see validate_text.h). */
bool validate_take_text(const ProtobufCBinaryData *in, const struct validate_field *f, size_t max,
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
            return validate_reject(err, f, "is required", "不能为空");
        *out = validate_memdup_z((const uint8_t *)"", 0);
        return *out != NULL ? true : validate_reject_nomem(err, f);
    }
    scan_text(s, len, multiline, &scan);
    if (!scan.valid)
        return validate_reject(err, f, "is not valid UTF-8 (at byte offset %zu)",
                               "不是有效的 UTF-8 编码（字节偏移 %zu）", scan.bad);
    cp = scan.forbid_cp;
    bad = scan.forbid_at;
    switch (scan.forbid) {
    case FORBID_NONE:
        break;
    case FORBID_CONTROL:
        return validate_reject(err, f, "contains the control character U+%04X (at byte offset %zu)",
                               "含有控制字符 U+%04X（字节偏移 %zu）", (unsigned)cp, bad);
    case FORBID_BIDI:
        return validate_reject(err, f,
                               "contains the bidirectional control U+%04X (at byte offset %zu)",
                               "含有双向文本控制字符 U+%04X（字节偏移 %zu）", (unsigned)cp, bad);
    case FORBID_NONCHAR:
        return validate_reject(err, f, "contains the noncharacter U+%04X (at byte offset %zu)",
                               "含有非字符码位 U+%04X（字节偏移 %zu）", (unsigned)cp, bad);
    }

    long rc = 0;
    if (scan.inert) {
        /* Already NFC: normalise() would only copy it. */
        text = validate_memdup_z(s, len);
        text_len = len;
        if (text == NULL)
            rc = UTF8PROC_ERROR_NOMEM;
    } else {
        rc = normalise(s, len, 0, &text, &text_len);
    }
    if (rc == UTF8PROC_ERROR_NOMEM)
        return validate_reject_nomem(err, f);
    if (rc != 0)
        return validate_reject(err, f, "cannot be normalised to NFC (%s)",
                               "无法进行 NFC 规范化（%s）", utf8proc_errmsg((utf8proc_ssize_t)rc));

    if (required && is_blank(text, text_len)) {
        validate_reject(err, f, "is required (only white space was sent)",
                        "不能为空（仅含空白字符）");
        goto fail;
    }
    /* The stored form is the text itself when it was inert. */
    size_t count = scan.inert ? scan.count : utf8_count((const uint8_t *)text, text_len);
    if (count > max) {
        validate_reject(err, f, "is too long: %zu characters, at most %zu allowed",
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

bool validate_text(const ProtobufCBinaryData *in, enum validate_text_kind kind,
                   const char *field, const char *field_zh, bool required,
                   const struct validate_limits *lim, char **out, struct validation_error *err)
{
    struct validate_limits defaults;
    const struct validate_field f = { field, field_zh, -1 };
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
    return validate_take_text(in, &f, max, required, multiline, out, err);
}
