/*
 * public_pow: issuing and checking the public form's proof of work (see
 * public_pow.h).
 */
#include "public_pow.h"
#include "hex.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

/* Binds the MAC to this purpose: a poster's token (public_token.c) under
 * the same key can never pass as a challenge, nor the other way round. */
#define POW_CONTEXT "minyi-pow-v1:"

/* A spent challenge: its MAC (unique per challenge) and when it expires. */
struct seen_entry {
    uint8_t mac[PUBLIC_POW_MAC_LEN];
    int64_t expires_s;
};

struct public_pow_seen {
    size_t cap;                /* a power of two */
    struct seen_entry *e;      /* expires_s 0: free */
};

struct public_pow_seen *public_pow_seen_new(size_t max)
{
    struct public_pow_seen *s = calloc(1, sizeof *s);
    size_t cap = 16;

    while (cap < max)
        cap *= 2;
    if (s == NULL || (s->e = calloc(cap, sizeof *s->e)) == NULL) {
        free(s);
        return NULL;
    }
    s->cap = cap;
    return s;
}

void public_pow_seen_free(struct public_pow_seen *s)
{
    if (s != NULL)
        free(s->e);
    free(s);
}

/* Spends mac until expires_s: REPLAYED when it is spent already, BUSY
 * when every slot it may take holds an unexpired challenge.  The probe is
 * bounded, so a full table costs a refusal, never a long search. */
#define SEEN_PROBE_MAX 64
static enum public_pow_result seen_spend(struct public_pow_seen *s, const uint8_t *mac,
                                         int64_t now_s, int64_t expires_s)
{
    uint64_t h;
    struct seen_entry *free_slot = NULL;

    memcpy(&h, mac, sizeof h);
    for (size_t i = 0; i < SEEN_PROBE_MAX && i < s->cap; i++) {
        struct seen_entry *e = &s->e[(h + i) & (s->cap - 1)];
        if (e->expires_s > now_s) {
            if (memcmp(e->mac, mac, PUBLIC_POW_MAC_LEN) == 0)
                return PUBLIC_POW_REPLAYED;
        } else if (free_slot == NULL) {
            free_slot = e;
        }
    }
    if (free_slot == NULL)
        return PUBLIC_POW_BUSY;
    memcpy(free_slot->mac, mac, PUBLIC_POW_MAC_LEN);
    free_slot->expires_s = expires_s;
    return PUBLIC_POW_OK;
}

static bool pow_mac(const uint8_t key[PUBLIC_POW_KEY_LEN], const char *body, size_t len,
                    uint8_t mac[PUBLIC_POW_MAC_LEN])
{
    char msg[sizeof POW_CONTEXT + PUBLIC_POW_MAX];
    uint8_t full[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (len > PUBLIC_POW_MAX)
        return false;
    memcpy(msg, POW_CONTEXT, sizeof POW_CONTEXT - 1);
    memcpy(msg + sizeof POW_CONTEXT - 1, body, len);
    if (HMAC(EVP_sha256(), key, PUBLIC_POW_KEY_LEN, (const unsigned char *)msg,
             sizeof POW_CONTEXT - 1 + len, full, &n) == NULL || n < PUBLIC_POW_MAC_LEN)
        return false;
    memcpy(mac, full, PUBLIC_POW_MAC_LEN);
    return true;
}

bool public_pow_issue(const uint8_t key[PUBLIC_POW_KEY_LEN], int64_t now_s, int difficulty,
                      char out[PUBLIC_POW_MAX + 1])
{
    uint8_t rnd[PUBLIC_POW_RAND_LEN], mac[PUBLIC_POW_MAC_LEN];
    char rhex[2 * PUBLIC_POW_RAND_LEN + 1];

    if (difficulty < 0 || difficulty > PUBLIC_POW_DIFFICULTY_MAX || now_s <= 0 ||
        RAND_bytes(rnd, sizeof rnd) != 1)
        return false;
    hex_encode(rnd, sizeof rnd, rhex);
    int n = snprintf(out, PUBLIC_POW_MAX + 1, "%" PRId64 ".%d.%s", now_s, difficulty, rhex);
    if (n < 0 || n + 1 + 2 * PUBLIC_POW_MAC_LEN > PUBLIC_POW_MAX ||
        !pow_mac(key, out, (size_t)n, mac))
        return false;
    out[n] = '.';
    hex_encode(mac, sizeof mac, out + n + 1);
    return true;
}

/* Leading zero bits of d (32 bytes). */
static int zero_bits(const uint8_t *d)
{
    int n = 0;
    for (int i = 0; i < 32; i++) {
        if (d[i] == 0) {
            n += 8;
            continue;
        }
        for (uint8_t b = 0x80; b != 0 && (d[i] & b) == 0; b >>= 1)
            n++;
        break;
    }
    return n;
}

int public_pow_work(const char *challenge, const char *nonce)
{
    char msg[PUBLIC_POW_MAX + 1 + PUBLIC_POW_NONCE_MAX + 1];
    uint8_t d[32];
    int n = snprintf(msg, sizeof msg, "%s:%s", challenge, nonce);

    if (n < 0 || (size_t)n >= sizeof msg ||
        EVP_Digest(msg, (size_t)n, d, NULL, EVP_sha256(), NULL) != 1)
        return -1;
    return zero_bits(d);
}

bool public_pow_solve(const char *challenge, int difficulty, char nonce[PUBLIC_POW_NONCE_MAX + 1])
{
    if (difficulty < 0 || difficulty > PUBLIC_POW_DIFFICULTY_MAX ||
        strnlen(challenge, PUBLIC_POW_MAX + 1) > PUBLIC_POW_MAX)
        return false;
    for (uint64_t v = 0; v < PUBLIC_POW_SOLVE_MAX; v++) {
        snprintf(nonce, PUBLIC_POW_NONCE_MAX + 1, "%" PRIu64, v);
        int bits = public_pow_work(challenge, nonce);
        if (bits < 0)
            return false;
        if (bits >= difficulty)
            return true;
    }
    return false;
}

/* A decimal number of 1 to max digits, no sign, no leading zero (but "0"). */
static bool decimal(const char *s, size_t n, size_t max, uint64_t *v)
{
    if (n == 0 || n > max || (n > 1 && s[0] == '0'))
        return false;
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *v = *v * 10 + (uint64_t)(s[i] - '0');
    }
    return true;
}

enum public_pow_result public_pow_check(const uint8_t key[PUBLIC_POW_KEY_LEN],
                                        struct public_pow_seen *seen, const char *challenge,
                                        const char *nonce, int64_t now_s, int max_age_s,
                                        int min_difficulty)
{
    uint8_t given[PUBLIC_POW_MAC_LEN], want[PUBLIC_POW_MAC_LEN];
    uint64_t ts, diff, nv;
    size_t len = strnlen(challenge, PUBLIC_POW_MAX + 1);

    if (len > PUBLIC_POW_MAX)
        return PUBLIC_POW_FORGED;
    const char *d1 = strchr(challenge, '.');
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    const char *d3 = d2 ? strchr(d2 + 1, '.') : NULL;
    if (d3 == NULL || !decimal(challenge, (size_t)(d1 - challenge), 18, &ts) ||
        !decimal(d1 + 1, (size_t)(d2 - d1 - 1), 2, &diff) ||
        (size_t)(d3 - d2 - 1) != 2 * PUBLIC_POW_RAND_LEN ||
        strlen(d3 + 1) != 2 * PUBLIC_POW_MAC_LEN ||
        strspn(d3 + 1, "0123456789abcdef") != 2 * PUBLIC_POW_MAC_LEN ||
        !hex_decode(d3 + 1, given, sizeof given) ||
        !pow_mac(key, challenge, (size_t)(d3 - challenge), want) ||
        CRYPTO_memcmp(given, want, sizeof want) != 0)
        return PUBLIC_POW_FORGED;
    if ((int64_t)ts > now_s + 1 || now_s - (int64_t)ts > max_age_s)
        return PUBLIC_POW_EXPIRED;
    if ((int)diff < min_difficulty)
        return PUBLIC_POW_TOO_EASY;
    size_t nlen = strnlen(nonce, PUBLIC_POW_NONCE_MAX + 1);
    if (!decimal(nonce, nlen, PUBLIC_POW_NONCE_MAX, &nv) ||
        public_pow_work(challenge, nonce) < (int)diff)
        return PUBLIC_POW_UNSOLVED;
    return seen_spend(seen, given, now_s, (int64_t)ts + max_age_s + 1);
}
