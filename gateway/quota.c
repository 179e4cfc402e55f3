/*
 * quota: per-address connection counts and per-principal token buckets,
 * each in a small chained hash table.  Address entries go when their count
 * returns to zero.  A bucket goes once it has been idle long enough to be
 * full again: it is then no different from the new bucket a principal's
 * next request would make, so nothing anyone sees changes, and the table
 * holds only the principals active within one refill time.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "quota.h"
#include "clock.h"
#include "log.h"
#include "session.h"

struct addr_entry {
    char addr[QUOTA_ADDR_LEN];
    int count;
    struct addr_entry *next;
};

struct bucket {
    int64_t principal_id;
    double tokens;
    long long last_ms;
    struct bucket *next;
};

struct quota {
    struct addr_entry *addrs[QUOTA_TABLE_SIZE];
    struct bucket *buckets[QUOTA_TABLE_SIZE];
    size_t n_buckets;
    size_t sweep;               /* the bucket chain the next take looks over */
};

/* FNV-1a: the table's keys come from peers, but the only cost of a skewed
 * table is a longer chain, bounded by the connection limits. */
static size_t hash_str(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s != '\0'; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h & (QUOTA_TABLE_SIZE - 1);
}

static size_t hash_id(int64_t id)
{
    uint64_t x = (uint64_t)id * 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 54) & (QUOTA_TABLE_SIZE - 1);
}

struct quota *quota_new(void)
{
    return calloc(1, sizeof(struct quota));
}

void quota_free(struct quota *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < QUOTA_TABLE_SIZE; i++) {
        while (l->addrs[i] != NULL) {
            struct addr_entry *e = l->addrs[i];
            l->addrs[i] = e->next;
            free(e);
        }
        while (l->buckets[i] != NULL) {
            struct bucket *b = l->buckets[i];
            l->buckets[i] = b->next;
            free(b);
        }
    }
    free(l);
}

void quota_addr_key(const struct sockaddr *sa, char out[QUOTA_ADDR_LEN])
{
    out[0] = '\0';
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, QUOTA_ADDR_LEN);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
                  QUOTA_ADDR_LEN);
}

static struct addr_entry **find_addr(struct quota *l, const char *addr)
{
    struct addr_entry **p = &l->addrs[hash_str(addr)];
    while (*p != NULL && strcmp((*p)->addr, addr) != 0)
        p = &(*p)->next;
    return p;
}

bool quota_conn_acquire(struct quota *l, const char *addr, int max)
{
    struct addr_entry **p = find_addr(l, addr);
    if (*p == NULL) {
        if (max < 1)
            return false;
        struct addr_entry *e = calloc(1, sizeof(*e));
        if (e == NULL)
            return false;
        snprintf(e->addr, sizeof(e->addr), "%s", addr);
        *p = e;
    }
    if ((*p)->count >= max)
        return false;
    (*p)->count++;
    return true;
}

void quota_conn_release(struct quota *l, const char *addr)
{
    struct addr_entry **p = find_addr(l, addr);
    if (*p == NULL)
        fatal("quota: release of address %s that holds no connection", addr);
    if (--(*p)->count == 0) {
        struct addr_entry *e = *p;
        *p = e->next;
        free(e);
    }
}

int quota_conn_count(const struct quota *l, const char *addr)
{
    struct addr_entry **p = find_addr((struct quota *)l, addr);
    return *p != NULL ? (*p)->count : 0;
}

/* Frees the buckets of chain i that have been idle for full_ms or more:
 * whatever tokens they held, they are full again. */
static void evict_idle(struct quota *l, size_t i, long long now, long long full_ms)
{
    struct bucket **p = &l->buckets[i];
    while (*p != NULL) {
        struct bucket *b = *p;
        if (now - b->last_ms >= full_ms) {
            *p = b->next;
            free(b);
            l->n_buckets--;
        } else {
            p = &b->next;
        }
    }
}

bool quota_take_token(struct quota *l, int64_t principal_id, int rate_per_s, int burst,
                       uint32_t *retry_after_ms)
{
    if (rate_per_s <= 0)
        return true;
    if (burst < 1)
        burst = 1;
    long long now = clock_mono_ms();
    /* Every principal's bucket refills at the same rate, so one that has
     * waited burst / rate seconds is full.  Each take looks over one more
     * chain, so the whole table is swept every QUOTA_TABLE_SIZE takes. */
    long long full_ms = ((long long)burst * 1000 + rate_per_s - 1) / rate_per_s;
    evict_idle(l, l->sweep, now, full_ms);
    l->sweep = (l->sweep + 1) & (QUOTA_TABLE_SIZE - 1);
    struct bucket **p = &l->buckets[hash_id(principal_id)];
    while (*p != NULL && (*p)->principal_id != principal_id)
        p = &(*p)->next;
    if (*p == NULL) {
        struct bucket *b = calloc(1, sizeof(*b));
        if (b == NULL)
            return true;
        b->principal_id = principal_id;
        b->tokens = burst;
        b->last_ms = now;
        *p = b;
        l->n_buckets++;
    }
    struct bucket *b = *p;
    b->tokens += (double)(now - b->last_ms) * rate_per_s / 1000.0;
    if (b->tokens > burst)
        b->tokens = burst;
    b->last_ms = now;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    double wait = (1.0 - b->tokens) * 1000.0 / rate_per_s;
    *retry_after_ms = (uint32_t)wait + 1;
    return false;
}

size_t quota_bucket_count(const struct quota *l)
{
    return l->n_buckets;
}

void quota_send_rate_error(struct session *s, uint64_t id, uint32_t retry_after_ms)
{
    Minyi__V1__Error e = MINYI__V1__ERROR__INIT;
    Frame f = MINYI__V1__FRAME__INIT;
    e.code = MINYI__V1__ERROR_CODE__RESOURCE_EXHAUSTED;
    e.field = frame_bytes("rate");
    e.message = frame_bytes("too many requests from this principal; retry after retry_after_ms");
    e.message_zh = frame_bytes("请求过于频繁，请稍后重试");
    e.retry_after_ms = retry_after_ms;
    f.id = id;
    f.body_case = MINYI__V1__FRAME__BODY_ERROR;
    f.error = &e;
    session_send(s, &f);
}
