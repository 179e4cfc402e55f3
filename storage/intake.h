/*
 * intake: a validated report, as handed from the gateway's validator to the
 * storage batcher.  Every text field is NFC-normalised, NUL-terminated,
 * malloc'd and owned by the struct; free it with intake_report_free().
 * Empty optional fields are "" (never NULL).
 */
#ifndef MINYI_INTAKE_H
#define MINYI_INTAKE_H

#include <stddef.h>
#include <stdint.h>

struct intake_attachment {
    char *name;
    char *media_type;
    uint8_t *content;
    size_t content_len;
    uint8_t sha256[32];
};

struct intake_report {
    int64_t principal_id;          /* filled by the gateway after validation */
    char client_report_id[37];     /* canonical lower-case UUID text */
    char *title;
    char *situation;
    char *analysis;
    char *suggestions;
    int category;                  /* MINYI__V1__CATEGORY__* */
    int urgency;                   /* MINYI__V1__URGENCY__* */
    char *reporter_name;
    char *reporter_unit;
    int reporter_kind;             /* MINYI__V1__REPORTER_KIND__* */
    char *reporter_sector;
    char region[7];
    char *phone;
    struct intake_attachment *attachments;
    size_t n_attachments;
    /* SHA-256 over the canonical form of every field above except
     * principal_id: a retry with the same client_report_id must carry the
     * same payload, otherwise it is a CONFLICT, not a retry. */
    uint8_t payload_sha256[32];
};

/* Frees every field and leaves *r empty (all zero); r itself is not freed,
 * so this is also right for a struct filled only in part. */
void intake_report_free(struct intake_report *r);

#endif
