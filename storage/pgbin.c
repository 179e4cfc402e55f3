/*
 * pgbin: parameters in PostgreSQL's binary format.
 *
 * A batch is sent as parallel one-dimensional arrays.  In binary form an
 * array is a fixed header followed by each element as a 4-byte length and
 * its bytes, so text and bytea travel as they are: no quoting, no escaping
 * and no hex doubling, and the buffers are reused from one batch to the next.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

/* ndim, flags, element type, then size and lower bound of the one dimension. */
#define PGARR_HEADER_LEN 20
#define PGARR_EMPTY_HEADER_LEN 12
#define PGBUF_MIN_CAP 256

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

bool pgbuf_reserve(struct pgbuf *b, size_t more)
{
    size_t cap;
    uint8_t *p;

    if (b->cap - b->len >= more)
        return true;
    if (more > SIZE_MAX / 2 - b->len)
        return false;
    cap = b->cap ? b->cap : PGBUF_MIN_CAP;
    while (cap - b->len < more)
        cap *= 2;
    p = realloc(b->data, cap);
    if (!p)
        return false;
    b->data = p;
    b->cap = cap;
    return true;
}

void pgbuf_free(struct pgbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void pgarr_reset(struct pgarr *a, uint32_t elem_oid)
{
    a->elem_oid = elem_oid;
    a->n = 0;
    a->has_null = false;
    /* The header is written by pgarr_finish once the count is known; a
     * failed reserve here shows up as a failed add. */
    a->b.len = 0;
    if (pgbuf_reserve(&a->b, PGARR_HEADER_LEN))
        a->b.len = PGARR_HEADER_LEN;
}

uint8_t *pgarr_add_space(struct pgarr *a, size_t len)
{
    uint8_t *p;

    if (a->b.len < PGARR_HEADER_LEN || len > INT32_MAX || a->n >= INT32_MAX)
        return NULL;
    if (!pgbuf_reserve(&a->b, 4 + len))
        return NULL;
    p = a->b.data + a->b.len;
    put_be32(p, (uint32_t)len);
    a->b.len += 4 + len;
    a->n++;
    return p + 4;
}

bool pgarr_add(struct pgarr *a, const void *data, size_t len)
{
    uint8_t *p = pgarr_add_space(a, len);

    if (!p)
        return false;
    if (len)
        memcpy(p, data, len);
    return true;
}

bool pgarr_add_null(struct pgarr *a)
{
    if (a->b.len < PGARR_HEADER_LEN || a->n >= INT32_MAX || !pgbuf_reserve(&a->b, 4))
        return false;
    put_be32(a->b.data + a->b.len, UINT32_MAX);   /* length -1 */
    a->b.len += 4;
    a->n++;
    a->has_null = true;
    return true;
}

bool pgarr_add_i16(struct pgarr *a, int16_t v)
{
    uint8_t *p = pgarr_add_space(a, 2);

    if (!p)
        return false;
    p[0] = (uint8_t)((uint16_t)v >> 8);
    p[1] = (uint8_t)v;
    return true;
}

bool pgarr_add_i32(struct pgarr *a, int32_t v)
{
    uint8_t *p = pgarr_add_space(a, 4);

    if (!p)
        return false;
    put_be32(p, (uint32_t)v);
    return true;
}

bool pgarr_add_i64(struct pgarr *a, int64_t v)
{
    uint8_t *p = pgarr_add_space(a, 8);

    if (!p)
        return false;
    put_be32(p, (uint32_t)((uint64_t)v >> 32));
    put_be32(p + 4, (uint32_t)v);
    return true;
}

void pgarr_finish(struct pgarr *a)
{
    uint8_t *p = a->b.data;

    if (a->b.len < PGARR_HEADER_LEN)
        return;
    if (a->n == 0) {
        /* An empty array has no dimensions at all. */
        put_be32(p, 0);
        put_be32(p + 4, 0);
        put_be32(p + 8, a->elem_oid);
        a->b.len = PGARR_EMPTY_HEADER_LEN;
        return;
    }
    put_be32(p, 1);
    put_be32(p + 4, a->has_null ? 1 : 0);
    put_be32(p + 8, a->elem_oid);
    put_be32(p + 12, a->n);
    put_be32(p + 16, 1);
}

void pgarr_free(struct pgarr *a)
{
    pgbuf_free(&a->b);
}
