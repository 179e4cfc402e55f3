/*
 * validate: checks a submitted Report and produces an intake_report.
 * It rejects, never repairs: the only change made to accepted text is
 * Unicode NFC normalisation (utf8proc), which is lossless.
 */
#ifndef MINYI_VALIDATE_H
#define MINYI_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "minyi.pb-c.h"
#include "intake.h"

/* Limits in Unicode code points unless said otherwise (defaults; config may lower or raise). */
#define VALIDATE_TITLE_MAX        100
#define VALIDATE_SITUATION_MAX    20000
#define VALIDATE_ANALYSIS_MAX     10000
#define VALIDATE_SUGGESTIONS_MAX  10000
#define VALIDATE_NAME_MAX         50
#define VALIDATE_UNIT_MAX         100
#define VALIDATE_SECTOR_MAX       50
#define VALIDATE_PHONE_MAX        20     /* bytes: digits, '+', '-', ' ' */
#define VALIDATE_PHONE_MIN        5
#define VALIDATE_ATTACHMENTS_MAX  4
#define VALIDATE_ATTACHMENT_BYTES (256u * 1024u)
#define VALIDATE_ATTACHMENT_NAME_MAX 100
#define VALIDATE_MEDIA_TYPE_MAX   100    /* bytes */
#define VALIDATE_NOTE_MAX         2000   /* an editor's note or reason */
#define VALIDATE_INSTRUCTION_MAX  1000   /* 批示 text recorded with an adoption */
#define VALIDATE_LEVEL_MAX        32     /* the level of the leader who gave a 批示, one line */
#define VALIDATE_SERIES_MAX       32     /* the series of a 专报 issue (社情民意专报), one line */
#define VALIDATE_REGION_LEN       6      /* digits of a GB/T 2260 region code */

struct validate_limits {
    size_t title_max, situation_max, analysis_max, suggestions_max;
    size_t name_max, unit_max, sector_max;
    size_t attachments_max, attachment_bytes;
};

/* Fills limits with the defaults above. */
void validate_limits_default(struct validate_limits *lim);

struct validation_error {
    int code;               /* MINYI__V1__ERROR_CODE__* (INVALID_ARGUMENT for all rules) */
    const char *field;      /* static string, e.g. "report.title", "report.attachments[1].sha256" */
    char field_buf[64];     /* backing store when the field has an index; field points here then */
    char message[256];      /* English */
    char message_zh[256];   /* Chinese */
};

/*
 * Validates r.  On success fills *out (caller frees with intake_report_free;
 * principal_id is left 0) and returns true.  On failure returns false, fills
 * *err with the first rule broken, and leaves *out empty.
 */
bool validate_report(const Minyi__V1__Report *r, const struct validate_limits *lim,
                     struct intake_report *out, struct validation_error *err)
    __attribute__((warn_unused_result));

/*
 * Validates r as a contact point's revision of a returned report
 * (ResubmitRequest): only what a revision replaces — client_report_id,
 * title, situation, analysis, suggestions, category, urgency — by the
 * rules of validate_report, except that an empty text or a zero category
 * or urgency is allowed and means "keep the current one" (the storage
 * merges them, and checks the merged report's required parts).  The
 * reporter, region, phone and attachments are not read.  Fills *out like
 * validate_report (its hash and the fields not read are left empty).
 */
bool validate_revision(const Minyi__V1__Report *r, const struct validate_limits *lim,
                       struct intake_report *out, struct validation_error *err)
    __attribute__((warn_unused_result));

/* Which rules validate_text() applies: the limit and whether line breaks
 * are allowed are those of the report field of that name. */
enum validate_text_kind {
    VALIDATE_TEXT_TITLE,
    VALIDATE_TEXT_SITUATION,
    VALIDATE_TEXT_ANALYSIS,
    VALIDATE_TEXT_SUGGESTIONS,
    VALIDATE_TEXT_NOTE,
    VALIDATE_TEXT_INSTRUCTION,
    VALIDATE_TEXT_LEVEL,
    VALIDATE_TEXT_SERIES,
    VALIDATE_TEXT_ISSUE_ITEM,  /* an issue item's edited text: a whole report's body */
};

/*
 * Validates one free-text field outside a report (an edit, a reason) with
 * the same rules as intake: strict UTF-8, no control or bidi characters,
 * NFC, the length limit, no classification marks.  field names it in the
 * error (a static string, e.g. "edit.title"; field_zh its Chinese label).
 * On success *out is the malloc'd NFC text ("" when empty and not required).
 */
bool validate_text(const ProtobufCBinaryData *in, enum validate_text_kind kind,
                   const char *field, const char *field_zh, bool required,
                   const struct validate_limits *lim, char **out, struct validation_error *err)
    __attribute__((warn_unused_result));

/* True when NFC leaves the code point unchanged whatever surrounds it, so
 * text made only of such code points is in NFC already. */
bool validate_nfc_inert(uint32_t cp);

/* Whether s[0..len) is a region code in form: exactly six ASCII digits
 * (a report's region also may not be 000000; see validate_report). */
bool validate_region_code(const uint8_t *s, size_t len);

/* Whether s[0..len) is a receipt in form: 1 to max bytes of digits,
 * letters and dashes, as every receipt minyi hands out. */
bool validate_receipt_chars(const uint8_t *s, size_t len, size_t max);

#endif
