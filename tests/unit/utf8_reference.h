/*
 * utf8_reference: a UTF-8 decoder written the obvious, slow way from the
 * standard's rules (decode each sequence, then refuse what is below the
 * least value of its length, above U+10FFFF or a surrogate), against which
 * the tests check the gateway's table of well-formed byte ranges.  It
 * shares nothing with that table, so a wrong entry there cannot hide.
 */
#ifndef MINYI_TEST_UTF8_REFERENCE_H
#define MINYI_TEST_UTF8_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Offset of the first ill-formed sequence in s[0..len), or len when the
 * whole of it is well-formed UTF-8. */
static inline size_t utf8_reference_bad_at(const uint8_t *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        uint8_t b = s[i];
        size_t n;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if ((b & 0xE0) == 0xC0) {
            n = 2, cp = b & 0x1F, min = 0x80;
        } else if ((b & 0xF0) == 0xE0) {
            n = 3, cp = b & 0x0F, min = 0x800;
        } else if ((b & 0xF8) == 0xF0) {
            n = 4, cp = b & 0x07, min = 0x10000;
        } else {
            return i;
        }
        if (len - i < n)
            return i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += n;
    }
    return len;
}

/* True when s[0..len) is well-formed UTF-8. */
static inline bool utf8_reference_valid(const uint8_t *s, size_t len)
{
    return utf8_reference_bad_at(s, len) == len;
}

#endif
