/*
 * frame: length-prefixed protobuf framing and budgeted decoding.
 *
 * protobuf-c allocates as it decodes, and a few bytes of input can ask for a
 * great deal of memory (a packed repeated field, many tiny sub-messages).  We
 * therefore decode into an arena that refuses to grow past a byte budget; the
 * arena also lets the whole decoded frame be released with one free.
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "wire.h"

#define ARENA_CHUNK_MIN 4096
#define ARENA_ALIGN 16

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    size_t used;
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct frame_arena {
    ProtobufCAllocator pb;      /* handed to protobuf-c; allocator_data points back here */
    size_t budget;
    size_t spent;               /* bytes handed out, including alignment padding */
    int over_budget;
    struct arena_chunk *head;
    char bad_enum[WIRE_PATH_MAX]; /* see frame_bad_enum() */
};

uint32_t frame_peek_len(const uint8_t hdr[FRAME_HEADER_LEN])
{
    return ((uint32_t)hdr[0] << 24) | ((uint32_t)hdr[1] << 16) |
           ((uint32_t)hdr[2] << 8) | (uint32_t)hdr[3];
}

static void *arena_alloc(void *data, size_t size)
{
    struct frame_arena *a = data;
    size_t need = (size + (ARENA_ALIGN - 1)) & ~(size_t)(ARENA_ALIGN - 1);

    if (need < size || need > a->budget - a->spent) {
        a->over_budget = 1;
        return NULL;
    }
    if (a->head == NULL || a->head->size - a->head->used < need) {
        size_t csize = need > ARENA_CHUNK_MIN ? need : ARENA_CHUNK_MIN;
        struct arena_chunk *c = malloc(sizeof(*c) + csize);
        if (c == NULL)
            return NULL;
        c->next = a->head;
        c->size = csize;
        c->used = 0;
        a->head = c;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += need;
    a->spent += need;
    return p;
}

/* Memory goes back with the arena as a whole. */
static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr;
}

void frame_arena_free(struct frame_arena *a)
{
    if (a == NULL)
        return;
    struct arena_chunk *c = a->head;
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    free(a);
}

Frame *frame_decode(const uint8_t *body, size_t len, size_t budget,
                    struct frame_arena **arena)
{
    struct wire_scan scan;
    uint8_t *stripped = NULL;
    struct frame_arena *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->pb.alloc = arena_alloc;
    a->pb.free = arena_free;
    a->pb.allocator_data = a;
    a->budget = budget;

    /* protobuf-c cannot skip unknown groups, and reads an enum's varint
     * modulo 2^32: wire.h explains.  Bytes the walk cannot follow go to
     * protobuf-c unchanged, to be refused there. */
    if (wire_scan(&minyi__v1__frame__descriptor, body, len, &scan)) {
        memcpy(a->bad_enum, scan.bad_enum, sizeof(a->bad_enum));
        if (scan.has_unknown_groups) {
            stripped = wire_strip_groups(&minyi__v1__frame__descriptor, body, len, &len);
            if (stripped == NULL)
                goto fail;
            body = stripped;
        }
    }
    Frame *f = minyi__v1__frame__unpack(&a->pb, len, body);
    free(stripped);
    if (f == NULL)
        goto fail;
    *arena = a;
    return f;
fail:
    frame_arena_free(a);
    return NULL;
}

const char *frame_bad_enum(const struct frame_arena *arena)
{
    return arena->bad_enum[0] != '\0' ? arena->bad_enum : NULL;
}

size_t frame_encoded_size(const Frame *f)
{
    return FRAME_HEADER_LEN + minyi__v1__frame__get_packed_size(f);
}

void frame_encode_to(const Frame *f, uint8_t *out)
{
    size_t n = minyi__v1__frame__pack(f, out + FRAME_HEADER_LEN);
    out[0] = (uint8_t)(n >> 24);
    out[1] = (uint8_t)(n >> 16);
    out[2] = (uint8_t)(n >> 8);
    out[3] = (uint8_t)n;
}

uint8_t *frame_encode(const Frame *f, size_t *len)
{
    size_t n = frame_encoded_size(f);
    uint8_t *buf = malloc(n);
    if (buf == NULL)
        return NULL;
    frame_encode_to(f, buf);
    *len = n;
    return buf;
}

ProtobufCBinaryData frame_bytes(const char *s)
{
    ProtobufCBinaryData b;
    b.data = (uint8_t *)s;
    b.len = s != NULL ? strlen(s) : 0;
    return b;
}
