/*
 * public_pow: the proof of work the public form asks before it takes a
 * message (码上商), so that sending many costs the sender's CPU rather than
 * ours and needs no third-party service.  The gateway hands out a
 * challenge it signed (no state kept); the browser finds a nonce such that
 * SHA-256(challenge ":" nonce) starts with `difficulty` zero bits (about
 * 2^difficulty hashes; the gateway checks it with one); a challenge is
 * good for a limited time and once only.
 *
 * Challenge form: "TS.DIFF.RAND.MAC" — TS the issue time in Unix seconds,
 * DIFF the difficulty, RAND 16 random bytes and MAC the first 16 bytes of
 * HMAC-SHA256 under the instance's key, both in lower-case hex.
 */
#ifndef MINYI_PUBLIC_POW_H
#define MINYI_PUBLIC_POW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PUBLIC_POW_KEY_LEN 32
#define PUBLIC_POW_RAND_LEN 16
#define PUBLIC_POW_MAC_LEN 16
/* The longest challenge: a 20-digit time, a 2-digit difficulty, the hex. */
#define PUBLIC_POW_MAX (20 + 1 + 2 + 1 + 2 * PUBLIC_POW_RAND_LEN + 1 + 2 * PUBLIC_POW_MAC_LEN)
/* The longest nonce accepted, in decimal digits. */
#define PUBLIC_POW_NONCE_MAX 20
/* Difficulty bounds: 0 turns the work off (tests), 32 is hours in a browser. */
#define PUBLIC_POW_DIFFICULTY_MAX 32

/* A challenge issued at now_s with difficulty into out (PUBLIC_POW_MAX + 1). */
bool public_pow_issue(const uint8_t key[PUBLIC_POW_KEY_LEN], int64_t now_s, int difficulty,
                      char out[PUBLIC_POW_MAX + 1]) __attribute__((warn_unused_result));

enum public_pow_result {
    PUBLIC_POW_OK = 0,
    PUBLIC_POW_FORGED,     /* not of the form, or its MAC does not verify */
    PUBLIC_POW_EXPIRED,    /* older than max_age_s, or from the future */
    PUBLIC_POW_TOO_EASY,   /* issued with less than the difficulty asked now */
    PUBLIC_POW_UNSOLVED,   /* the nonce does not give the zero bits */
    PUBLIC_POW_REPLAYED,   /* solved and spent before */
    PUBLIC_POW_BUSY,       /* too many unexpired challenges spent to remember another */
};

/* Checks challenge and nonce at now_s; the difficulty asked is at least
 * min_difficulty.  On PUBLIC_POW_OK the challenge is spent in seen (a
 * second use is PUBLIC_POW_REPLAYED until it expires). */
struct public_pow_seen;
enum public_pow_result public_pow_check(const uint8_t key[PUBLIC_POW_KEY_LEN],
                                        struct public_pow_seen *seen, const char *challenge,
                                        const char *nonce, int64_t now_s, int max_age_s,
                                        int min_difficulty);

/* The zero bits nonce earns challenge: the leading zero bits of
 * SHA-256(challenge ":" nonce), as the browser's page (console/public.js)
 * counts them; -1 when the text is too long or the hash fails. */
int public_pow_work(const char *challenge, const char *nonce);

/* Finds the first nonce from 0 up that earns challenge difficulty zero
 * bits, as the page does, into nonce; false when none below
 * PUBLIC_POW_SOLVE_MAX does (not to be expected below difficulty 30) or the
 * challenge is too long.  For programs that speak to the door as a browser
 * does: the flood test's client (client/flood.c). */
#define PUBLIC_POW_SOLVE_MAX (UINT64_C(1) << 40)
bool public_pow_solve(const char *challenge, int difficulty, char nonce[PUBLIC_POW_NONCE_MAX + 1])
    __attribute__((warn_unused_result));

/* Remembers up to max spent challenges (a fixed table, allocated once). */
struct public_pow_seen *public_pow_seen_new(size_t max) __attribute__((warn_unused_result));
void public_pow_seen_free(struct public_pow_seen *s);

#endif
