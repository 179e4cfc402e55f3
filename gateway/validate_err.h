/*
 * validate_err: how the validators (validate.c, validate_text.c) record a
 * broken rule in a struct validation_error: the field's protocol path and
 * Chinese label, and a sentence in English and in Chinese that starts with
 * them.  Internal to the validators.
 */
#ifndef MINYI_VALIDATE_ERR_H
#define MINYI_VALIDATE_ERR_H

#include <stdbool.h>

#include "validate.h"

/*
 * A field as named in an error.  path is the dotted protocol path, or for an
 * attachment (index >= 0) the part after "report.attachments[i]".
 */
struct validate_field {
    const char *path;
    const char *zh;
    long index;
};

/*
 * Records a broken rule (INVALID_ARGUMENT) and returns false, so checks can
 * end in `return validate_reject(...)`.  Both formats receive the same
 * arguments in the same order.
 */
bool validate_reject(struct validation_error *err, const struct validate_field *f,
                     const char *en_fmt, const char *zh_fmt, ...)
    __attribute__((format(printf, 3, 5)));
/* For failures that are ours, not the client's (memory, OpenSSL):
 * INTERNAL, and false. */
bool validate_reject_internal(struct validation_error *err, const struct validate_field *f,
                              const char *reason_en, const char *reason_zh);
/* The server ran out of memory on this field: INTERNAL, and false. */
bool validate_reject_nomem(struct validation_error *err, const struct validate_field *f);

#endif
