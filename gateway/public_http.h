/*
 * public_http: the 码上商 public form's door on the console's listener —
 * the one path (/public/) served without a client certificate.
 *
 *   GET  /public/                 the form (public.html, .js, .css of [console] dir)
 *   GET  /public/api/challenge?t=TOKEN   a proof-of-work challenge (public_pow.h)
 *   POST /public/api/submit       {t, challenge, nonce, what, place, name, phone,
 *                                  photos: [base64]} -> {pickup}
 *   GET  /public/api/pickup?code=CODE    what the pickup code may see
 *
 * A token whose signature does not verify is refused before anything else
 * (404 NOT_FOUND on token); storage refuses a revoked one.  Every call takes
 * a token from its source address's bucket, a submission also from its
 * contact point's; submissions waiting for the database are held to
 * [public] inflight_max, beyond which they are refused 503 at once, so a
 * flood of them never queues in front of the protocol port's work.
 */
#ifndef MINYI_PUBLIC_HTTP_H
#define MINYI_PUBLIC_HTTP_H

#include "console.h"

/* Buckets of each fixed table of rate limits (public_limit.h). */
#define PUBLIC_HTTP_LIMIT_SLOTS 65536
/* Challenges are good this long after they were issued. */
#define PUBLIC_HTTP_POW_AGE_S 600
/* Spent challenges remembered at once (public_pow.h); more are refused. */
#define PUBLIC_HTTP_POW_SEEN_MAX 65536
/* The longest text of a message ("what"), where and a name, in bytes. */
#define PUBLIC_HTTP_WHAT_MAX 8000
#define PUBLIC_HTTP_PLACE_MAX 300

/* The door's state, owned by struct gw (gw->pub): its rate limits, the
 * challenges spent, and the submissions waiting for the database. */
struct public_door;

/* Makes the door's state at start, with cfg's rates (every request takes
 * the rates of the config as reloaded since); NULL when out of memory. */
struct public_door *public_http_new(const struct gw_config *cfg)
    __attribute__((warn_unused_result));
/* Frees it at exit, after the store, whose last answers it counts. */
void public_http_free(struct public_door *d);

/* The route handler of /public/: 404 when gw->pub is NULL ([public] off). */
void public_http_handle(struct console_req *r);

#endif
