/*
 * utf8: our own strict UTF-8 validator (RFC 3629).  Rejects overlong forms,
 * surrogates (U+D800..U+DFFF), code points above U+10FFFF, truncated and
 * stray continuation bytes.  protobuf-c checks none of this for `bytes`.
 */
#ifndef MINYI_UTF8_H
#define MINYI_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The length (2..4) of the well-formed sequence that starts with the
 * non-ASCII byte s[0], or 0 when the bytes from s[0] on are not one; avail
 * (at least 1) is the number of bytes left, so a sequence cut off by the end
 * is refused.  This is Unicode's Table 3-7 of well-formed byte sequences,
 * and the only copy of it: utf8_valid and the validator's one-pass scan of
 * report text (gateway/validate.c) both ask it.  The table refuses overlong
 * forms, surrogates and code points above U+10FFFF by construction, so no
 * decoded value has to be range-checked afterwards.
 */
size_t utf8_sequence_len(const uint8_t *s, size_t avail);

/* True when s[0..len) is valid UTF-8.  On failure *bad_offset (if not NULL)
 * is the offset of the first byte of the offending sequence. */
bool utf8_valid(const uint8_t *s, size_t len, size_t *bad_offset);

/* Number of code points in valid UTF-8. */
size_t utf8_count(const uint8_t *s, size_t len);

#endif
