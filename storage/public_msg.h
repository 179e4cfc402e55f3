/*
 * public_msg: the public door's two calls into storage (码上商) — storing
 * a message a member of the public sent with a poster's token, and reading
 * what its pickup code may see.  Everything else about messages is the
 * contact point's (inbox.h).
 *
 * Calls follow store.h's contract (callback once, on the loop, never from
 * inside the call; reply->msg malloc'd and owned by the receiver).
 */
#ifndef MINYI_PUBLIC_MSG_H
#define MINYI_PUBLIC_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

/* A pickup code: this many characters of PUBLIC_MSG_PICKUP_ALPHABET, 5
 * bits each (50 bits: guessing one among a million stored codes takes
 * about 2^30 tries, and the public door is rate-limited per address). */
#define PUBLIC_MSG_PICKUP_LEN 10
/* Upper-case letters and digits without 0/O and 1/I, which are misread. */
#define PUBLIC_MSG_PICKUP_ALPHABET "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
/* The same text to the same contact point within this long is a duplicate. */
#define PUBLIC_MSG_DUP_WINDOW_S (24 * 3600)
/* Photos one message may carry. */
#define PUBLIC_MSG_PHOTOS_MAX 3

struct public_msg_photo {
    const char *media_type;    /* image/jpeg or image/png (public_photo.h cleaned it) */
    const uint8_t *data;
    size_t len;
};

/* A message as the gateway validated it: texts NUL-terminated UTF-8 in
 * NFC, name and phone "" when not given (they are sealed here). */
struct public_msg {
    int64_t contact_point_id;  /* from the poster's token */
    uint32_t token_gen;
    const char *what;
    const char *place;
    const char *name;
    const char *phone;
    struct public_msg_photo photos[PUBLIC_MSG_PHOTOS_MAX];
    size_t n_photos;
};

/* Stores m (copied; the caller may free it on return).  Reply msg:
 * Minyi__V1__PublicSubmitResponse with the pickup code; NOT_FOUND on token
 * when the token was revoked or its contact point is no longer active;
 * CONFLICT on message.what for the same text within the window. */
void public_msg_submit(struct store *st, const struct public_msg *m, store_reply_cb cb,
                       void *arg);

/* True when code has the form of a pickup code. */
bool public_msg_pickup_plausible(const char *code);

/* What the pickup code may see.  Reply msg: Minyi__V1__PickupResponse;
 * NOT_FOUND on pickup. */
void public_msg_pickup(struct store *st, const char *code, store_reply_cb cb, void *arg);

#endif
