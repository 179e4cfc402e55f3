/*
 * utf8: strict UTF-8 validation (RFC 3629, Unicode Table 3-7).
 *
 * Every byte of free text a peer sends passes through here, and most of it is
 * either ASCII or three-byte CJK, so the validator skips eight ASCII bytes at
 * a time and checks multi-byte sequences against the table of well-formed
 * byte ranges, which gateway/validate.c asks too.  The table rejects overlong
 * forms, surrogates and code points above U+10FFFF by construction, so no
 * decoded value has to be range-checked afterwards.
 */
#include "utf8.h"

#include <string.h>

/* Bytes handled per step by the ASCII fast path. */
#define UTF8_WORD_BYTES 8
/* The top bit of each byte in a word: set in any byte that is not ASCII. */
#define UTF8_HIGH_BITS UINT64_C(0x8080808080808080)

static uint64_t load_word(const uint8_t *p)
{
    uint64_t w;

    /* memcpy keeps the load free of alignment and aliasing trouble; the
     * compiler turns it into one unaligned load. */
    memcpy(&w, p, sizeof w);
    return w;
}

static bool in_range(uint8_t b, uint8_t lo, uint8_t hi)
{
    return b >= lo && b <= hi;
}

/* The one copy of Table 3-7 (see utf8.h).  It stays out of line, as the
 * validator's own copy was: inlined into the validator's one-pass scan it
 * made that loop about one per cent slower, as measured in instructions. */
size_t utf8_sequence_len(const uint8_t *s, size_t avail)
{
    uint8_t b0 = s[0];
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t need;

    if (in_range(b0, 0xC2, 0xDF)) {
        need = 2;
    } else if (in_range(b0, 0xE0, 0xEF)) {
        need = 3;
        if (b0 == 0xE0)
            lo = 0xA0;          /* below is an overlong two-byte form */
        else if (b0 == 0xED)
            hi = 0x9F;          /* above are the surrogates D800..DFFF */
    } else if (in_range(b0, 0xF0, 0xF4)) {
        need = 4;
        if (b0 == 0xF0)
            lo = 0x90;          /* below is an overlong three-byte form */
        else if (b0 == 0xF4)
            hi = 0x8F;          /* above is beyond U+10FFFF */
    } else {
        /* 80..BF: a continuation byte with no lead; C0, C1: always overlong;
         * F5..FF: would encode beyond U+10FFFF or are not UTF-8 at all. */
        return 0;
    }
    if (avail < need)
        return 0;
    if (!in_range(s[1], lo, hi))
        return 0;
    for (size_t i = 2; i < need; i++)
        if (!in_range(s[i], 0x80, 0xBF))
            return 0;
    return need;
}

bool utf8_valid(const uint8_t *s, size_t len, size_t *bad_offset)
{
    size_t i = 0;

    while (i < len) {
        /* ASCII fast path: whole words without a high bit. */
        while (len - i >= UTF8_WORD_BYTES && (load_word(s + i) & UTF8_HIGH_BITS) == 0)
            i += UTF8_WORD_BYTES;
        if (i >= len)
            break;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_sequence_len(s + i, len - i);
        if (n == 0) {
            if (bad_offset != NULL)
                *bad_offset = i;
            return false;
        }
        i += n;
    }
    return true;
}

/*
 * In valid UTF-8 every code point has exactly one byte that is not a
 * continuation byte (10xxxxxx), so counting code points is counting the
 * other bytes.  A continuation byte has bit 7 set and bit 6 clear; shifting
 * the word left by one moves each byte's bit 6 under its own bit 7.
 */
size_t utf8_count(const uint8_t *s, size_t len)
{
    size_t cont = 0;
    size_t i = 0;

    for (; len - i >= UTF8_WORD_BYTES; i += UTF8_WORD_BYTES) {
        uint64_t w = load_word(s + i);
        uint64_t c = w & ~(w << 1) & UTF8_HIGH_BITS;
        cont += (size_t)__builtin_popcountll(c);
    }
    for (; i < len; i++)
        if ((s[i] & 0xC0) == 0x80)
            cont++;
    return len - cont;
}
