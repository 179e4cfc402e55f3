/*
 * wire: a walk over the protobuf wire form of a message, before protobuf-c
 * unpacks it, for the two things protobuf-c does not do as PROTOCOL.md
 * says.
 *
 * - Unknown fields are ignored (section 7), but protobuf-c refuses a field
 *   encoded as a group (wire types 3 and 4, deprecated but legal protobuf)
 *   instead of skipping it.  wire_strip_groups() copies a message without
 *   its unknown group fields, fixing the lengths of the sub-messages that
 *   held them, so protobuf-c sees only what it can skip.
 * - An enum is an int32 on the wire, but protobuf-c keeps the low 32 bits of
 *   whatever varint arrives, so 2^32 + 2 would be read as 2.  The walk
 *   names the first enum field whose varint is not an int32, so the value
 *   can be refused as the unknown number it is (section 4.2).
 */
#ifndef MINYI_WIRE_H
#define MINYI_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Deepest nesting of sub-messages and groups the walk follows; deeper input
 * is left to protobuf-c as it is (minyi.proto nests a few levels only). */
#define WIRE_MAX_DEPTH 32
/* Bytes of the dotted path of a field, e.g. "report.category". */
#define WIRE_PATH_MAX 128

struct wire_scan {
    bool has_unknown_groups;
    /* The first enum field whose value is not an int32, as the dotted path
     * of field names from the top-level message (e.g. "decide.decision"),
     * or "". */
    char bad_enum[WIRE_PATH_MAX];
};

/* Walks the message (desc, buf, len).  False when the bytes are not well
 * formed enough to walk: protobuf-c then judges them as they are. */
bool wire_scan(const ProtobufCMessageDescriptor *desc, const uint8_t *buf, size_t len,
               struct wire_scan *out) __attribute__((warn_unused_result));

/* A malloc'd copy of the message without its unknown group fields, and its
 * length in *out_len (never more than len); NULL when out of memory or the
 * bytes cannot be walked. */
uint8_t *wire_strip_groups(const ProtobufCMessageDescriptor *desc, const uint8_t *buf,
                           size_t len, size_t *out_len) __attribute__((warn_unused_result));

#endif
