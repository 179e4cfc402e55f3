/*
 * quota: the gateway's per-source and per-principal limits — how many
 * connections one source address may hold open, and a token bucket per
 * principal that bounds its request rate across all of its connections.
 * (The total connection limit, the requests in flight per connection, the
 * frame size, the decode budget and the work per event are enforced where
 * the bytes are: server.c and session.c.)
 */
#ifndef MINYI_QUOTA_H
#define MINYI_QUOTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Room for the text form of any IPv4 or IPv6 address. */
#define QUOTA_ADDR_LEN 48
/* Chains of each hash table; a power of two.  quota_take_token looks one
 * chain of buckets over for idle ones per call, so all of them in this
 * many calls. */
#define QUOTA_TABLE_SIZE 1024

struct quota;
struct session;

struct quota *quota_new(void) __attribute__((warn_unused_result));
void quota_free(struct quota *l);

/* The text form of sa's address without the port ("" for other families). */
void quota_addr_key(const struct sockaddr *sa, char out[QUOTA_ADDR_LEN]);

/* Counts one more connection from addr; false (nothing counted) when addr
 * already holds max connections or memory runs out. */
bool quota_conn_acquire(struct quota *l, const char *addr, int max)
    __attribute__((warn_unused_result));
/* Counts one connection from addr less. */
void quota_conn_release(struct quota *l, const char *addr);
/* Connections open from addr now. */
int quota_conn_count(const struct quota *l, const char *addr);

/*
 * Takes one token from the principal's bucket, which refills at rate_per_s
 * tokens a second up to burst.  True when a token was there; otherwise
 * false with the milliseconds until the next one in *retry_after_ms.
 * rate_per_s 0 means no limit.  A principal whose bucket cannot be
 * allocated is let through: running out of memory must not lock anyone out.
 */
bool quota_take_token(struct quota *l, int64_t principal_id, int rate_per_s, int burst,
                       uint32_t *retry_after_ms) __attribute__((warn_unused_result));
/* Token buckets held now: those of principals that took a token within
 * one refill time (burst / rate), and idle ones not yet looked over. */
size_t quota_bucket_count(const struct quota *l);

/* Answers request id with RESOURCE_EXHAUSTED and retry_after_ms. */
void quota_send_rate_error(struct session *s, uint64_t id, uint32_t retry_after_ms);

#endif
