/*
 * wire: the walk over a message's wire form before protobuf-c unpacks it.
 * See wire.h for why.
 *
 * The walk follows the descriptors: a known field of message type is
 * walked into, a known enum field has its varints checked, an unknown field
 * encoded as a group is skipped to its matching end tag, and everything else
 * is stepped over by its wire type.  Bytes that do not walk (a truncated
 * varint, a stray end tag, wire types 6 and 7) make the walk give up and
 * leave the judgement to protobuf-c, which refuses them as before.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

enum {
    WT_VARINT = 0,
    WT_FIXED64 = 1,
    WT_LEN = 2,
    WT_GROUP_START = 3,
    WT_GROUP_END = 4,
    WT_FIXED32 = 5,
};

/* A protobuf varint is at most ten bytes (64 bits, seven per byte). */
#define WIRE_VARINT_MAX 10

static bool get_varint(const uint8_t *p, size_t n, size_t *off, uint64_t *v)
{
    uint64_t r = 0;
    for (unsigned i = 0; i < WIRE_VARINT_MAX; i++) {
        if (*off >= n)
            return false;
        uint8_t b = p[(*off)++];
        r |= (uint64_t)(b & 0x7f) << (7 * i);
        if ((b & 0x80) == 0) {
            *v = r;
            return true;
        }
    }
    return false;
}

static size_t put_varint(uint8_t *out, uint64_t v)
{
    size_t i = 0;
    while (v >= 0x80) {
        out[i++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    out[i++] = (uint8_t)v;
    return i;
}

static size_t varint_size(uint64_t v)
{
    size_t i = 1;
    while (v >= 0x80) {
        v >>= 7;
        i++;
    }
    return i;
}

/* Steps over the value of a field of wire type 0, 1, 2 or 5. */
static bool skip_value(const uint8_t *p, size_t n, size_t *off, unsigned wt)
{
    uint64_t v;
    switch (wt) {
    case WT_VARINT:
        return get_varint(p, n, off, &v);
    case WT_FIXED64:
        if (n - *off < 8)
            return false;
        *off += 8;
        return true;
    case WT_FIXED32:
        if (n - *off < 4)
            return false;
        *off += 4;
        return true;
    case WT_LEN:
        if (!get_varint(p, n, off, &v) || v > n - *off)
            return false;
        *off += (size_t)v;
        return true;
    default:
        return false;
    }
}

/* Steps over a group's contents, after its start tag, up to and including
 * the end tag of the same field number. */
static bool skip_group(const uint8_t *p, size_t n, size_t *off, uint64_t field, int depth)
{
    if (depth > WIRE_MAX_DEPTH)
        return false;
    for (;;) {
        uint64_t tag;
        if (!get_varint(p, n, off, &tag) || (tag >> 3) == 0)
            return false;
        unsigned wt = (unsigned)(tag & 7);
        if (wt == WT_GROUP_END)
            return (tag >> 3) == field;
        if (wt == WT_GROUP_START) {
            if (!skip_group(p, n, off, tag >> 3, depth + 1))
                return false;
        } else if (!skip_value(p, n, off, wt)) {
            return false;
        }
    }
}

/* An int32 on the wire: a non-negative value below 2^31, or a negative
 * one sign-extended to 64 bits. */
static bool enum_in_range(uint64_t v)
{
    return v <= (uint64_t)INT32_MAX || v >= (uint64_t)0xffffffff80000000ull;
}

static void note_bad_enum(struct wire_scan *scan, const char *path, const char *name)
{
    if (scan->bad_enum[0] != '\0')
        return;
    if (path[0] != '\0')
        (void)snprintf(scan->bad_enum, sizeof(scan->bad_enum), "%s.%s", path, name);
    else
        (void)snprintf(scan->bad_enum, sizeof(scan->bad_enum), "%s", name);
}

/* Checks an enum field's value: one varint, or a packed run of them. */
static bool check_enum(const uint8_t *p, size_t n, size_t *off, unsigned wt,
                       struct wire_scan *scan, const char *path, const char *name)
{
    uint64_t v;
    if (wt == WT_VARINT) {
        if (!get_varint(p, n, off, &v))
            return false;
        if (!enum_in_range(v))
            note_bad_enum(scan, path, name);
        return true;
    }
    if (wt != WT_LEN)
        return skip_value(p, n, off, wt);
    uint64_t len;
    if (!get_varint(p, n, off, &len) || len > n - *off)
        return false;
    size_t end = *off + (size_t)len;
    while (*off < end) {
        if (!get_varint(p, end, off, &v))
            return false;
        if (!enum_in_range(v))
            note_bad_enum(scan, path, name);
    }
    return true;
}

/*
 * Walks one message of type desc.  path names the message by the fields
 * that lead to it from the top level (dotted, "" for the top level).  With out NULL it only
 * scans and counts; with out it also writes the copy without unknown
 * groups, whose length is *out_len either way.
 */
static bool walk(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n, int depth,
                 const char *path, struct wire_scan *scan, uint8_t *out, size_t *out_len)
{
    size_t off = 0, w = 0;

    if (depth > WIRE_MAX_DEPTH)
        return false;
    while (off < n) {
        size_t start = off;
        uint64_t tag;
        if (!get_varint(p, n, &off, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
            return false;
        unsigned wt = (unsigned)(tag & 7);
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(desc, (unsigned)(tag >> 3));
        if (wt == WT_GROUP_START && fd == NULL) {
            if (!skip_group(p, n, &off, tag >> 3, depth + 1))
                return false;
            scan->has_unknown_groups = true;
            continue;
        }
        if (fd != NULL && fd->type == PROTOBUF_C_TYPE_MESSAGE && wt == WT_LEN) {
            char sub_path[WIRE_PATH_MAX];
            size_t tag_len = off - start, sub_len;
            uint64_t len;
            if (!get_varint(p, n, &off, &len) || len > n - off)
                return false;
            if (path[0] != '\0')
                (void)snprintf(sub_path, sizeof(sub_path), "%s.%s", path, fd->name);
            else
                (void)snprintf(sub_path, sizeof(sub_path), "%s", fd->name);
            const ProtobufCMessageDescriptor *sub = fd->descriptor;
            if (!walk(sub, p + off, (size_t)len, depth + 1, sub_path, scan, NULL, &sub_len))
                return false;
            if (out != NULL) {
                memcpy(out + w, p + start, tag_len);
                size_t at = w + tag_len;
                at += put_varint(out + at, sub_len);
                if (!walk(sub, p + off, (size_t)len, depth + 1, sub_path, scan, out + at,
                          &sub_len))
                    return false;
                w = at + sub_len;
            } else {
                w += tag_len + varint_size(sub_len) + sub_len;
            }
            off += (size_t)len;
            continue;
        }
        if (fd != NULL && fd->type == PROTOBUF_C_TYPE_ENUM) {
            if (!check_enum(p, n, &off, wt, scan, path, fd->name))
                return false;
        } else if (!skip_value(p, n, &off, wt)) {
            /* A known field sent as a group, a stray end tag, wire types
             * 6 and 7: protobuf-c refuses them. */
            return false;
        }
        if (out != NULL)
            memcpy(out + w, p + start, off - start);
        w += off - start;
    }
    *out_len = w;
    return true;
}

bool wire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
               struct wire_scan *out)
{
    size_t ignored;
    memset(out, 0, sizeof(*out));
    return walk(desc, buf, len, 0, "", out, NULL, &ignored);
}

uint8_t *wire_strip_groups(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                           size_t len, size_t *out_len)
{
    struct wire_scan scan;
    size_t n;
    memset(&scan, 0, sizeof(scan));
    if (!walk(desc, buf, len, 0, "", &scan, NULL, &n))
        return NULL;
    /* One byte more than needed, so an empty message is not malloc(0). */
    uint8_t *out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    if (!walk(desc, buf, len, 0, "", &scan, out, &n)) {
        free(out);
        return NULL;
    }
    *out_len = n;
    return out;
}
