/*
 * public_photo: the photos a member of the public attaches on the 码上商
 * form.  A photo is taken only when its content is a JPEG or a PNG (the
 * name and the declared type are not believed), only up to a size checked
 * before anything is allocated, and only without its metadata: a phone
 * writes the place it was taken (EXIF GPS), the device and often the
 * owner's name into the file, and the sender never meant to give those to
 * anyone.  The cleaned copy keeps what a viewer needs to draw the picture
 * and nothing else.
 */
#ifndef MINYI_PUBLIC_PHOTO_H
#define MINYI_PUBLIC_PHOTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "validate.h"

/* The default largest photo, in bytes: the size of a report's attachment,
 * so a photo goes with the report it becomes part of unchanged. */
#define PUBLIC_PHOTO_MAX_DEFAULT VALIDATE_ATTACHMENT_BYTES

enum public_photo_type {
    PUBLIC_PHOTO_JPEG = 1,
    PUBLIC_PHOTO_PNG,
};

/* A cleaned photo: data is malloc'd (at most as long as the input). */
struct public_photo {
    enum public_photo_type type;
    uint8_t *data;
    size_t len;
};

/* The media type of a photo type, e.g. "image/jpeg". */
const char *public_photo_media_type(enum public_photo_type type);

/* The type of in[0..len) by its first bytes; 0 when it is neither a JPEG
 * nor a PNG. */
enum public_photo_type public_photo_sniff(const uint8_t *in, size_t len);

/*
 * Cleans the photo in[0..len) into *out (free with public_photo_free).
 * Refused with INVALID_ARGUMENT on field: more than max bytes (checked
 * first), content that is neither JPEG nor PNG, and a JPEG or PNG whose
 * structure is broken (a segment or chunk running past the end, no end
 * marker).  A JPEG keeps its image segments, the JFIF header and Adobe's
 * colour transform flag, and loses every other APPn segment (EXIF with
 * GPS, XMP, ICC profiles, makers' notes) and every comment.  A PNG keeps
 * its critical chunks and the ancillary chunks that change how it is
 * drawn (transparency, gamma, chromaticities, sRGB, significant bits,
 * background, pixel size), and loses the rest (text, eXIf, time).
 */
bool public_photo_clean(const uint8_t *in, size_t len, size_t max, const char *field,
                        struct public_photo *out, struct validation_error *err)
    __attribute__((warn_unused_result));

void public_photo_free(struct public_photo *p);

#endif
