/*
 * validate_text: the rules for one free-text field (see validate_text.c),
 * for the report's fields in validate.c; validate_text() in validate.h is
 * the same for a text outside a report.  Internal to the validators.
 */
#ifndef MINYI_VALIDATE_TEXT_H
#define MINYI_VALIDATE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "validate_err.h"

/*
 * Checks one free-text field and stores its NFC form in *out.  max is in
 * code points of the stored form; multiline allows line breaks and tabs.
 * An empty optional field is stored as "".
 */
bool validate_take_text(const ProtobufCBinaryData *in, const struct validate_field *f,
                        size_t max, bool required, bool multiline, char **out,
                        struct validation_error *err) __attribute__((warn_unused_result));

/* A malloc'd copy of s[0..len) with a NUL after it; NULL when out of memory. */
char *validate_memdup_z(const uint8_t *s, size_t len);

#endif
