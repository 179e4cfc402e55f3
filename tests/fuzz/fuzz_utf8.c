/*
 * libFuzzer target for the UTF-8 validator: its verdict, the offset it
 * reports and its code point count must agree with a slow reference that
 * follows the definition byte by byte.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "utf8.h"

/* Length of the well-formed sequence at s[0], or 0 when there is none. */
static size_t reference_seq(const uint8_t *s, size_t avail)
{
    uint8_t b = s[0];
    size_t n;
    uint32_t cp, min;

    if (b < 0x80)
        return 1;
    if ((b & 0xE0) == 0xC0)
        n = 2, cp = b & 0x1F, min = 0x80;
    else if ((b & 0xF0) == 0xE0)
        n = 3, cp = b & 0x0F, min = 0x800;
    else if ((b & 0xF8) == 0xF0)
        n = 4, cp = b & 0x07, min = 0x10000;
    else
        return 0;
    if (avail < n)
        return 0;
    for (size_t k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t i = 0, count = 0, bad = (size_t)-1;
    bool ref_ok = true;

    while (i < size) {
        size_t n = reference_seq(data + i, size - i);
        if (n == 0) {
            ref_ok = false;
            break;
        }
        i += n;
        count++;
    }
    bool ok = utf8_valid(data, size, &bad);
    if (ok != ref_ok)
        abort();
    if (!ok && bad != i)
        abort();
    if (ok && utf8_count(data, size) != count)
        abort();
    return 0;
}
