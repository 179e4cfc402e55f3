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

/* True when s[0..len) is valid UTF-8.  On failure *bad_offset (if not NULL)
 * is the offset of the first byte of the offending sequence. */
bool utf8_valid(const uint8_t *s, size_t len, size_t *bad_offset);

/* Number of code points in valid UTF-8. */
size_t utf8_count(const uint8_t *s, size_t len);

#endif
