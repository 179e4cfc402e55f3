/*
 * public_limit: rate limits of the public door (码上商) that keep a fixed
 * size whoever knocks.  The protocol port's limits (quota.h) keep one
 * bucket per principal ever seen, which is bounded by the principals
 * table; the public door's callers are any address on the internet, so
 * here each key (an address, a contact point's token) is hashed into a
 * fixed table of token buckets allocated once.  Keys that share a slot
 * share a bucket: that only ever limits more, never less.
 */
#ifndef MINYI_PUBLIC_LIMIT_H
#define MINYI_PUBLIC_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct public_limit;

/* slots buckets (rounded up to a power of two), each refilling per_min
 * tokens a minute up to burst. */
struct public_limit *public_limit_new(size_t slots, int per_min, int burst)
    __attribute__((warn_unused_result));
void public_limit_free(struct public_limit *l);

/* Takes a token of key's bucket at now_ms (a monotonic clock).  True when
 * there was one; else false with the milliseconds until there is. */
bool public_limit_take(struct public_limit *l, const void *key, size_t len, int64_t now_ms,
                       uint32_t *retry_after_ms) __attribute__((warn_unused_result));

/* New rates for every bucket (a reload); tokens held stay. */
void public_limit_set(struct public_limit *l, int per_min, int burst);

#endif
