/*
 * public_limit: fixed tables of token buckets (see public_limit.h).
 */
#include "public_limit.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* Tokens are counted in thousandths, so a slow rate refills smoothly. */
#define MILLI 1000

struct slot {
    int64_t tokens;            /* thousandths of a token */
    int64_t at_ms;             /* when tokens was last brought up to date; 0: never */
};

struct public_limit {
    size_t mask;
    int per_min, burst;
    struct slot *s;
    uint8_t salt[16];          /* so no one can aim many keys at one slot */
};

struct public_limit *public_limit_new(size_t slots, int per_min, int burst)
{
    struct public_limit *l = calloc(1, sizeof *l);
    size_t n = 16;

    while (n < slots)
        n *= 2;
    if (l == NULL || (l->s = calloc(n, sizeof *l->s)) == NULL) {
        free(l);
        return NULL;
    }
    l->mask = n - 1;
    public_limit_set(l, per_min, burst);
    /* Unpredictable per process, so the slot of a key cannot be worked out
     * from outside and many keys aimed at one bucket. */
    if (RAND_bytes(l->salt, sizeof l->salt) != 1) {
        public_limit_free(l);
        return NULL;
    }
    return l;
}

void public_limit_free(struct public_limit *l)
{
    if (l != NULL)
        free(l->s);
    free(l);
}

void public_limit_set(struct public_limit *l, int per_min, int burst)
{
    l->per_min = per_min > 0 ? per_min : 1;
    l->burst = burst > 0 ? burst : 1;
}

static size_t slot_of(const struct public_limit *l, const void *key, size_t len)
{
    uint8_t d[EVP_MAX_MD_SIZE];
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint64_t h = 0;

    if (c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
        EVP_DigestUpdate(c, l->salt, sizeof l->salt) == 1 &&
        EVP_DigestUpdate(c, key, len) == 1 && EVP_DigestFinal_ex(c, d, NULL) == 1)
        memcpy(&h, d, sizeof h);
    EVP_MD_CTX_free(c);
    return (size_t)h & l->mask;
}

bool public_limit_take(struct public_limit *l, const void *key, size_t len, int64_t now_ms,
                       uint32_t *retry_after_ms)
{
    struct slot *s = &l->s[slot_of(l, key, len)];
    const int64_t full = (int64_t)l->burst * MILLI;

    if (s->at_ms == 0) {
        s->tokens = full;
    } else if (now_ms > s->at_ms) {
        /* per_min tokens a minute: per_min * MILLI thousandths per 60,000 ms. */
        s->tokens += (now_ms - s->at_ms) * l->per_min * MILLI / 60000;
        if (s->tokens > full)
            s->tokens = full;
    }
    s->at_ms = now_ms;
    if (s->tokens >= MILLI) {
        s->tokens -= MILLI;
        return true;
    }
    *retry_after_ms = (uint32_t)((MILLI - s->tokens) * 60000 / ((int64_t)l->per_min * MILLI) + 1);
    return false;
}
