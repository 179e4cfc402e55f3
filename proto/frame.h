/*
 * frame: the wire framing shared by the gateway and the client library.
 *
 * A frame is a 4-byte big-endian length followed by that many bytes of one
 * packed minyi.v1.Frame message.  The length is checked against the maximum
 * before any buffer is allocated for the body.  Decoding uses an arena with a
 * byte budget, so a small frame cannot make protobuf-c allocate without bound
 * (repeated-field and sub-message bombs), and the whole decoded frame is freed
 * in one call.
 */
#ifndef MINYI_FRAME_H
#define MINYI_FRAME_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#include "minyi.pb-c.h"

#define FRAME_HEADER_LEN 4
#define FRAME_DEFAULT_MAX (1u << 20)        /* bytes of body, default limit */
#define FRAME_DEFAULT_DECODE_BUDGET (8u << 20) /* bytes protobuf-c may allocate */

typedef Minyi__V1__Frame Frame;

struct frame_arena;

/* Reads the body length from a 4-byte header. */
uint32_t frame_peek_len(const uint8_t hdr[FRAME_HEADER_LEN]);

/*
 * Decodes one frame body (without its header).  Returns NULL when the bytes
 * are not a valid Frame or decoding would exceed `budget` bytes of memory.
 * On success *arena owns every byte of the result; release it with
 * frame_arena_free().
 */
Frame *frame_decode(const uint8_t *body, size_t len, size_t budget,
                    struct frame_arena **arena) __attribute__((warn_unused_result));
void frame_arena_free(struct frame_arena *arena);

/* The dotted path of the first enum field of the decoded frame whose value
 * on the wire was not an int32 (protobuf-c kept only its low 32 bits), or
 * NULL.  A receiver refuses such a frame as an unknown enum number. */
const char *frame_bad_enum(const struct frame_arena *arena);

/* Size of header plus packed body. */
size_t frame_encoded_size(const Frame *f);
/* Writes header and body into out, which holds frame_encoded_size(f) bytes. */
void frame_encode_to(const Frame *f, uint8_t *out);
/* Convenience: malloc'd header+body; NULL on allocation failure. */
uint8_t *frame_encode(const Frame *f, size_t *len) __attribute__((warn_unused_result));

/* Wraps bytes of a NUL-terminated string as ProtobufCBinaryData (no copy). */
ProtobufCBinaryData frame_bytes(const char *s);

#endif
